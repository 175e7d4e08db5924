//! The web console's server side, end to end over HTTP: sign-in and sessions (sealed cookie, CSRF,
//! Origin), the proxy that re-signs the browser's calls to S3 and the admin API as the signed-in
//! principal, and the attacks on each input (forged cookies, smuggled credentials, path tricks).

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name};
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};

pub(crate) const READER_SECRET: &str = "reader-secret-0123456789";
pub(crate) const WRITER_SECRET: &str = "writer-secret-0123456789";

/// A server with a read-only user and a read-write user.
pub(crate) const CONFIG: &str = "users:
  - access_key: reader
    secret_key: reader-secret-0123456789
    policies: [readonly]
  - access_key: writer
    secret_key: writer-secret-0123456789
    policies: [readwrite]
";

/// A browser's view of the console: the cookie and CSRF token of its session (sent by hand, so a
/// test can leave them out or change them), and its origin.
pub(crate) struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub origin: String,
    pub cookie: String,
    pub csrf: String,
    pub session: Value,
    pub set_cookie: String,
}

/// The answer: status, headers, body.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `code` of a JSON error, or the `<Code>` of an S3 error.
    pub fn code(&self) -> String {
        let text = self.text();
        if let Some(start) = text.find("<Code>") {
            let rest = &text[start + 6..];
            return rest[..rest.find("</Code>").unwrap_or(0)].to_owned();
        }
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A PUT of one byte to `url` with `cookie` and each of `csrf` as an `x-kura-csrf` header.
async fn put_with(url: &str, cookie: &str, csrf: &[&str]) -> Reply {
    let mut put = client().put(url).header("cookie", cookie).body("x");
    for token in csrf {
        put = put.header("x-kura-csrf", *token);
    }
    reply(put.send().await.expect("put")).await
}

/// Sends a sign-in; returns the reply.
pub(crate) async fn sign_in_reply(server: &TestServer, access: &str, secret: &str) -> Reply {
    let resp = client()
        .post(format!("{}/kura/console/api/session", server.endpoint()))
        .header("origin", server.endpoint())
        .header("content-type", "application/json")
        .body(json!({ "access_key_id": access, "secret_access_key": secret }).to_string())
        .send()
        .await
        .expect("sign-in");
    reply(resp).await
}

pub(crate) async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    Reply { status, headers, body }
}

/// Signs in and returns the browser's session.
pub(crate) async fn sign_in(server: &TestServer, access: &str, secret: &str) -> Browser {
    let r = sign_in_reply(server, access, secret).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let set_cookie = r.headers["set-cookie"].to_str().expect("ascii").to_owned();
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();
    let session = r.json();
    Browser {
        http: client(),
        base: format!("{}/kura/console", server.endpoint()),
        origin: server.endpoint(),
        csrf: session["csrf"].as_str().expect("csrf").to_owned(),
        cookie,
        session,
        set_cookie,
    }
}

impl Browser {
    /// A request to `path` (below /kura/console) with the cookie, the CSRF header and the Origin.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-kura-csrf", &self.csrf)
            .header("origin", &self.origin)
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> Reply {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.body(b);
        }
        reply(req.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        let req = self.request(reqwest::Method::POST, path).header("content-type", "application/json");
        reply(req.body(body.to_string()).send().await.expect("send")).await
    }
}

/// Sends raw bytes on a fresh connection (paths a URL library would normalise) and returns the status
/// line's code and the whole answer.
pub(crate) fn raw(server: &TestServer, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let code = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, answer)
}

async fn object_exists(server: &TestServer, bucket: &str, key: &str) -> bool {
    server.client().head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn root_and_a_user_sign_in_and_use_s3_through_the_console() {
    let server = TestServer::start_with_config(CONFIG);
    let root = sign_in(&server, ACCESS_KEY, SECRET_KEY).await;
    assert_eq!(root.session["access_key_id"], ACCESS_KEY);
    assert_eq!(root.session["principal_arn"], "arn:aws:iam::000000000000:root");
    assert!(root.session["expires"].as_str().is_some_and(|e| e.ends_with('Z')), "{}", root.session);
    for attribute in ["Path=/kura/console", "HttpOnly", "SameSite=Strict", "Max-Age=3600"] {
        assert!(root.set_cookie.contains(attribute), "{}", root.set_cookie);
    }
    assert!(!root.set_cookie.contains("Secure"), "plain HTTP: {}", root.set_cookie);
    assert!(!root.set_cookie.contains(SECRET_KEY) && !root.session.to_string().contains(SECRET_KEY));

    // A reload reads the session back (with the CSRF token), with the cookie alone.
    let again = reply(
        root.http.get(format!("{}/api/session", root.base)).header("cookie", &root.cookie).send().await.expect("get"),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["csrf"], root.session["csrf"]);

    let bucket = bucket_name("console");
    let made = root.send(reqwest::Method::PUT, &format!("/s3/{bucket}"), None).await;
    assert_eq!(made.status, 200, "{}", made.text());
    let listed = root.get("/s3/?").await;
    assert_eq!(listed.status, 200);
    assert!(listed.text().contains(&format!("<Name>{bucket}</Name>")), "{}", listed.text());
    let put = root
        .request(reqwest::Method::PUT, &format!("/s3/{bucket}/dir/hello%20world.txt"))
        .header("content-type", "text/plain")
        .header("x-amz-meta-colour", "blue")
        .body("hello from the console")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status().as_u16(), 200);
    let got = root.get(&format!("/s3/{bucket}/dir/hello%20world.txt")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.text(), "hello from the console");
    assert_eq!(got.headers["x-amz-meta-colour"], "blue");
    assert_eq!(got.headers["content-security-policy"], "sandbox", "an object is never a page of the console");
    // Nor when a presigned link asks for another type; a passive type runs nothing and needs no sandbox.
    let plain =
        server.client().put_object().bucket(&bucket).key("page.bin").body(b"<script>1</script>".to_vec().into());
    plain.content_type("application/octet-stream").send().await.expect("put");
    let object = |content_type: Option<&'static str>| {
        let client = server.client();
        let bucket = bucket.clone();
        async move {
            let get = client.get_object().bucket(&bucket).key("page.bin");
            let get = match content_type {
                Some(t) => get.response_content_type(t),
                None => get,
            };
            let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60));
            let url = get.presigned(config.expect("config")).await.expect("presign").uri().to_owned();
            let got = self::client().get(url).send().await.expect("get");
            assert_eq!(got.status().as_u16(), 200);
            got.headers().get("content-security-policy").map(|v| v.to_str().expect("ascii").to_owned())
        }
    };
    assert_eq!(object(None).await, None, "an octet-stream is only downloaded");
    assert_eq!(object(Some("text/html")).await.as_deref(), Some("sandbox"), "asked to be a page: sandboxed");
    assert_eq!(object(Some("image/svg+xml")).await.as_deref(), Some("sandbox"), "SVG runs script");
    // The object is really there, as S3 clients see it.
    let head = server.client().head_object().bucket(&bucket).key("dir/hello world.txt").send().await.expect("head");
    assert_eq!(head.content_type(), Some("text/plain"));

    // A user sees the same objects through the console, as itself.
    let reader = sign_in(&server, "reader", READER_SECRET).await;
    assert_eq!(reader.session["principal_arn"], "arn:aws:iam::000000000000:user/reader");
    let read = reader.get(&format!("/s3/{bucket}/dir/hello%20world.txt")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.text(), "hello from the console");
    let listing = reader.get(&format!("/s3/{bucket}?list-type=2&prefix=dir%2F")).await;
    assert_eq!(listing.status, 200);
    assert!(listing.text().contains("<Key>dir/hello world.txt</Key>"), "{}", listing.text());
}

/// A presigned GET of `key` in `bucket` by plain HTTP, with `response-content-type` when given: the
/// status, the Content-Type and Content-Security-Policy answered, and the body.
async fn presigned_get(
    server: &TestServer,
    bucket: &str,
    key: &str,
    content_type: Option<&str>,
) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let get =
        server.client().get_object().bucket(bucket).key(key).set_response_content_type(content_type.map(str::to_owned));
    let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60));
    let url = get.presigned(config.expect("config")).await.expect("presign").uri().to_owned();
    let got = client().get(url).send().await.expect("get");
    let header = |name: &str| got.headers().get(name).map(|v| v.to_str().expect("ascii").to_owned());
    let (content_type, csp) = (header("content-type"), header("content-security-policy"));
    (got.status().as_u16(), content_type, csp, got.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn a_comma_list_content_type_never_passes_for_a_passive_one() {
    // A browser renders `image/png,text/html` as HTML (the last type of the list): without the
    // sandbox, the page would run on kura's origin and drive the console as whoever opens it.
    let server = TestServer::start();
    let bucket = bucket_name("comma-type");
    let s3 = server.client();
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    let page = b"<script>fetch('/kura/console/api/session')</script>".to_vec();
    for stored in ["image/png,text/html", "image/png, text/html"] {
        s3.put_object()
            .bucket(&bucket)
            .key(stored)
            .content_type(stored)
            .body(page.clone().into())
            .send()
            .await
            .expect("put");
        let (status, content_type, csp, body) = presigned_get(&server, &bucket, stored, None).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some(stored), "served as stored");
        assert_eq!(csp.as_deref(), Some("sandbox"), "{stored}: a page, sandboxed");
        assert_eq!(body, page);
    }
    // A passive object asked, by a presigned link, to be such a list: the final type counts.
    s3.put_object()
        .bucket(&bucket)
        .key("cat.png")
        .content_type("image/png")
        .body(page.clone().into())
        .send()
        .await
        .expect("put");
    assert_eq!(presigned_get(&server, &bucket, "cat.png", None).await.2, None, "a plain image/png runs nothing");
    for asked in ["image/png,text/html", "image/png, text/html", "video/mp4,text/html"] {
        let (status, content_type, csp, body) = presigned_get(&server, &bucket, "cat.png", Some(asked)).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some(asked), "the type the link asked for");
        assert_eq!(csp.as_deref(), Some("sandbox"), "{asked}: a page, sandboxed");
        assert_eq!(body, page);
    }
    // Nothing changed: the objects keep their stored types.
    let head = s3.head_object().bucket(&bucket).key("cat.png").send().await.expect("head");
    assert_eq!(head.content_type(), Some("image/png"));
    let head = s3.head_object().bucket(&bucket).key("image/png,text/html").send().await.expect("head");
    assert_eq!(head.content_type(), Some("image/png,text/html"));
}

#[tokio::test]
async fn a_read_only_user_cannot_write_through_the_console() {
    let server = TestServer::start_with_config(CONFIG);
    let bucket = bucket_name("console-ro");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let reader = sign_in(&server, "reader", READER_SECRET).await;
    let put = reader.send(reqwest::Method::PUT, &format!("/s3/{bucket}/k"), Some(b"x".to_vec())).await;
    assert_eq!(put.status, 403, "{}", put.text());
    assert_eq!(put.code(), "AccessDenied");
    assert!(put.text().contains("user/reader"), "refused as the reader: {}", put.text());
    assert!(!object_exists(&server, &bucket, "k").await);
    let deleted = reader.send(reqwest::Method::DELETE, &format!("/s3/{bucket}"), None).await;
    assert_eq!(deleted.code(), "AccessDenied");
    server.client().head_bucket().bucket(&bucket).send().await.expect("the bucket is still there");
    // Nor the admin API: the reader may not list users.
    let users = reader.get("/admin/users").await;
    assert_eq!(users.status, 403);
    assert_eq!(users.code(), "AccessDenied");
}

#[tokio::test]
async fn calls_without_a_valid_session_cookie_csrf_or_origin_are_refused_and_change_nothing() {
    let server = TestServer::start_with_config(CONFIG);
    let bucket = bucket_name("console-csrf");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let writer = sign_in(&server, "writer", WRITER_SECRET).await;
    let path = format!("/s3/{bucket}/k");
    let url = format!("{}{path}", writer.base);

    // No cookie.
    let none = reply(client().put(&url).header("x-kura-csrf", &writer.csrf).body("x").send().await.expect("put")).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.code(), "NotSignedIn");
    let no_session = reply(client().get(format!("{}/api/session", writer.base)).send().await.expect("get")).await;
    assert_eq!((no_session.status, no_session.code().as_str()), (401, "NotSignedIn"));

    // A forged or edited cookie: another id, the tag changed, a cookie of another server.
    let value = writer.cookie.strip_prefix("kura-console=").expect("cookie");
    let (id, tag) = value.split_once('.').expect("sealed");
    let other_id: String = id.chars().rev().collect();
    let mut edited_tag = tag.to_owned();
    let last = edited_tag.pop().expect("tag");
    edited_tag.push(if last == 'A' { 'B' } else { 'A' });
    let other = TestServer::start_with_config(CONFIG);
    let foreign = sign_in(&other, "writer", WRITER_SECRET).await;
    for forged in [
        format!("kura-console={other_id}.{tag}"),
        format!("kura-console={id}.{edited_tag}"),
        format!("kura-console={id}"),
        foreign.cookie.clone(),
        format!("kura-console={id}.{tag}; kura-console={id}.{tag}"),
    ] {
        let r = put_with(&url, &forged, &[&writer.csrf]).await;
        assert_eq!((r.status, r.code().as_str()), (401, "NotSignedIn"), "{forged}");
    }

    // The cookie without the CSRF header, or with another session's token.
    let no_csrf = put_with(&url, &writer.cookie, &[]).await;
    assert_eq!((no_csrf.status, no_csrf.code().as_str()), (403, "InvalidCsrfToken"));
    let wrong = put_with(&url, &writer.cookie, &[&foreign.csrf]).await;
    assert_eq!((wrong.status, wrong.code().as_str()), (403, "InvalidCsrfToken"));
    // The right token sent twice is not one token: refused, never the first or the last picked.
    let doubled = put_with(&url, &writer.cookie, &[&writer.csrf, &writer.csrf]).await;
    assert_eq!((doubled.status, doubled.code().as_str()), (403, "InvalidCsrfToken"));

    // A page of another origin (with everything else right), or of the opaque origin.
    for origin in ["http://evil.example", "null", &format!("http://localhost:{}", server.addr.port())] {
        let r = reply(
            writer.request(reqwest::Method::PUT, &path).header("origin", origin).body("x").send().await.expect("put"),
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (403, "InvalidOrigin"), "{origin}");
    }
    // Signing in from another origin is refused too (login CSRF), and so is a form post.
    let cross = reply(
        client()
            .post(format!("{}/api/session", writer.base))
            .header("origin", "http://evil.example")
            .header("content-type", "application/json")
            .body(json!({"access_key_id": "writer", "secret_access_key": WRITER_SECRET}).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((cross.status, cross.code().as_str()), (403, "InvalidOrigin"));
    let form = reply(
        client()
            .post(format!("{}/api/session", writer.base))
            .header("content-type", "text/plain")
            .body(json!({"access_key_id": "writer", "secret_access_key": WRITER_SECRET}).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((form.status, form.code().as_str()), (400, "InvalidRequest"));
    assert!(form.headers.get("set-cookie").is_none());

    assert!(!object_exists(&server, &bucket, "k").await, "no refused call wrote anything");
    // The same call, done right, works.
    let ok = writer.send(reqwest::Method::PUT, &path, Some(b"x".to_vec())).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(object_exists(&server, &bucket, "k").await);
}

#[tokio::test]
async fn sign_out_ends_the_session_everywhere_and_deleted_users_lose_theirs() {
    let server = TestServer::start_with_config(CONFIG);
    let root = sign_in(&server, ACCESS_KEY, SECRET_KEY).await;
    // Root makes a user through the console's admin proxy.
    let made = root
        .request(reqwest::Method::PUT, "/admin/users/temp")
        .header("content-type", "application/json")
        .body(json!({"secret_key": "temp-secret-0123456789", "policies": ["readwrite"]}).to_string())
        .send()
        .await
        .expect("put user");
    assert_eq!(made.status().as_u16(), 200);
    let temp = sign_in(&server, "temp", "temp-secret-0123456789").await;
    assert_eq!(temp.get("/s3/?").await.status, 200);
    let temp2 = sign_in(&server, "temp", "temp-secret-0123456789").await;
    // A key changed: the sessions opened with the old one end.
    let changed = root
        .request(reqwest::Method::PUT, "/admin/users/temp")
        .header("content-type", "application/json")
        .body(json!({"secret_key": "temp-secret-changed-0123"}).to_string())
        .send()
        .await
        .expect("put user");
    assert_eq!(changed.status().as_u16(), 200);
    let r = temp.get("/s3/?").await;
    assert_eq!((r.status, r.code().as_str()), (401, "NotSignedIn"));
    let fresh = sign_in(&server, "temp", "temp-secret-changed-0123").await;
    assert_eq!(fresh.get("/s3/?").await.status, 200);
    // Deleted: the next call is refused, and stays so.
    let deleted = root.send(reqwest::Method::DELETE, "/admin/users/temp", None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    for b in [&fresh, &temp2] {
        let r = b.get("/s3/?").await;
        assert_eq!((r.status, r.code().as_str()), (401, "NotSignedIn"));
    }

    // Sign-out: 204, the cookie cleared, and the old cookie is refused from then on.
    let out = root.send(reqwest::Method::DELETE, "/api/session", None).await;
    assert_eq!(out.status, 204);
    let cleared = out.headers["set-cookie"].to_str().expect("ascii");
    assert!(cleared.starts_with("kura-console=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let after = root.get("/s3/?").await;
    assert_eq!((after.status, after.code().as_str()), (401, "NotSignedIn"));
    let read = reply(
        root.http.get(format!("{}/api/session", root.base)).header("cookie", &root.cookie).send().await.expect("get"),
    )
    .await;
    assert_eq!(read.status, 401);
    // Sign-out itself needs the CSRF token (no cross-site sign-out).
    let other = sign_in(&server, ACCESS_KEY, SECRET_KEY).await;
    let no_csrf = reply(
        client()
            .delete(format!("{}/api/session", other.base))
            .header("cookie", &other.cookie)
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!((no_csrf.status, no_csrf.code().as_str()), (403, "InvalidCsrfToken"));
    assert_eq!(other.get("/s3/?").await.status, 200, "still signed in");
}

#[tokio::test]
async fn a_wrong_secret_and_an_unknown_key_are_the_same_refusal() {
    let server = TestServer::start_with_config(CONFIG);
    let wrong = sign_in_reply(&server, "reader", "not-the-secret-000000").await;
    let unknown = sign_in_reply(&server, "nobody", "not-the-secret-000000").await;
    let root_wrong = sign_in_reply(&server, ACCESS_KEY, "not-the-secret-000000").await;
    for r in [&wrong, &unknown, &root_wrong] {
        assert_eq!(r.status, 403);
        assert_eq!(r.json(), json!({"code": "AccessDenied", "message": "the access key or the secret key is wrong"}));
        assert!(r.headers.get("set-cookie").is_none());
    }
    // Temporary keys and tickets are not for signing in.
    for key in ["ASIAABCDEFGHIJKLMNOP", "KURTABCDEFGHIJKLMNOP"] {
        let r = sign_in_reply(&server, key, "whatever-secret-0000").await;
        assert_eq!(r.status, 403);
        assert_eq!(r.json()["message"], "sign in with a user's or root's access key");
    }
}

#[tokio::test]
async fn the_browser_cannot_smuggle_credentials_paths_or_signatures() {
    let server = TestServer::start_with_config(CONFIG);
    let bucket = bucket_name("console-smuggle");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let reader = sign_in(&server, "reader", READER_SECRET).await;

    // Root's (or anyone's) Authorization, a session token, a date or a payload hash from the browser
    // are dropped: the request is still the reader's, and refused as the reader's.
    let put = reader
        .request(reqwest::Method::PUT, &format!("/s3/{bucket}/smuggled"))
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20990101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"),
        )
        .header("x-amz-security-token", "not-a-token")
        .header("x-amz-date", "20990101T000000Z")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .body("x")
        .send()
        .await
        .expect("put");
    let put = reply(put).await;
    assert_eq!((put.status, put.code().as_str()), (403, "AccessDenied"), "{}", put.text());
    assert!(put.text().contains("user/reader"), "{}", put.text());

    // Authentication in the query is refused (not stripped), in any spelling.
    for query in [
        format!("X-Amz-Credential={ACCESS_KEY}%2F20990101%2Fus-east-1%2Fs3%2Faws4_request"),
        "X-Amz-Signature=00".to_owned(),
        "x-amz-%53ignature=00".to_owned(),
        "X-Amz-Security-Token=t".to_owned(),
        format!("AWSAccessKeyId={ACCESS_KEY}&Signature=x&Expires=9999999999"),
    ] {
        let r = reader.send(reqwest::Method::PUT, &format!("/s3/{bucket}/q?{query}"), Some(b"x".to_vec())).await;
        assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"), "{query}: {}", r.text());
    }
    assert!(!object_exists(&server, &bucket, "smuggled").await);
    assert!(!object_exists(&server, &bucket, "q").await);

    // Path tricks, sent raw (a URL library would normalise them): `..` out of the S3 proxy into the
    // admin API, or naming /kura/ paths through it.
    let raw_get = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-Kura-Csrf: {}\r\nConnection: close\r\n\r\n",
            server.addr, reader.cookie, reader.csrf
        )
    };
    for path in [
        "/kura/console/s3/../admin/v1/users",
        "/kura/console/s3/%2e%2e/admin/v1/users",
        "/kura/console/s3/kura/admin/v1/users",
        "/kura/console/s3/%6Bura/admin/v1/users",
        "/kura/console/admin/../../../kura/console/api/session",
    ] {
        let (status, answer) = raw(&server, &raw_get(path));
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains("InvalidArgument"), "{path}: {answer}");
    }
    // The admin API through its own proxy is the reader's, and the reader may not list users.
    let (status, answer) = raw(&server, &raw_get("/kura/console/admin/users"));
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("AccessDenied"), "{answer}");

    // Two names for one request: the proxy would have to choose which to sign; it refuses.
    let (status, answer) = raw(
        &server,
        &format!(
            "GET /kura/console/s3/{bucket}?list-type=2 HTTP/1.1\r\nHost: {}\r\nHost: evil.example\r\nCookie: {}\r\nX-Kura-Csrf: {}\r\nConnection: close\r\n\r\n",
            server.addr, reader.cookie, reader.csrf
        ),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("InvalidRequest"), "{answer}");
}

#[tokio::test]
async fn presigned_links_tickets_and_permission_checks() {
    let server = TestServer::start_with_config(CONFIG);
    let bucket = bucket_name("console-share");
    let s3 = server.client();
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");
    s3.put_object()
        .bucket(&bucket)
        .key("docs/a b.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"shared body"))
        .send()
        .await
        .expect("put");
    let reader = sign_in(&server, "reader", READER_SECRET).await;

    // A presigned GET made by the console with the reader's secret: fetched without any session.
    let made = reader
        .post_json(
            "/api/presign",
            &json!({"method": "GET", "bucket": bucket, "key": "docs/a b.txt", "expires_seconds": 300}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text());
    let url = made.json()["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&server.endpoint()) && url.contains("X-Amz-Credential=reader%2F"), "{url}");
    let fetched = reqwest::get(&url).await.expect("fetch");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await.expect("body").as_ref(), b"shared body");
    // A PUT link is made (a link is checked when used), and using it is refused as the reader.
    let put_link = reader
        .post_json("/api/presign", &json!({"method": "PUT", "bucket": bucket, "key": "new", "expires_seconds": 60}))
        .await;
    let put_url = put_link.json()["url"].as_str().expect("url").to_owned();
    let used = client().put(&put_url).body("x").send().await.expect("put");
    assert_eq!(used.status().as_u16(), 403);
    assert!(s3.head_object().bucket(&bucket).key("new").send().await.is_err());
    // A link to an older version (a presigned GetObjectVersion) reads that version's bytes.
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let mut versions = Vec::new();
    for body in ["first version", "second version"] {
        let put = s3
            .put_object()
            .bucket(&bucket)
            .key("versioned.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .expect("put version");
        versions.push(put.version_id().expect("version id").to_owned());
    }
    for (version, body) in [(Some(&versions[0]), "first version"), (None, "second version")] {
        let mut ask = json!({"method": "GET", "bucket": bucket, "key": "versioned.txt", "expires_seconds": 60});
        if let Some(v) = version {
            ask["version_id"] = json!(v);
        }
        let made = reader.post_json("/api/presign", &ask).await;
        assert_eq!(made.status, 200, "{}", made.text());
        let url = made.json()["url"].as_str().expect("url").to_owned();
        assert_eq!(url.contains("versionId="), version.is_some(), "{url}");
        let fetched = reqwest::get(&url).await.expect("fetch");
        assert_eq!(fetched.status().as_u16(), 200);
        assert_eq!(fetched.bytes().await.expect("body").as_ref(), body.as_bytes());
    }
    for bad in [
        json!({"method": "PUT", "bucket": bucket, "key": "k", "expires_seconds": 60, "version_id": versions[0]}),
        json!({"method": "GET", "bucket": bucket, "key": "k", "expires_seconds": 60, "version_id": ""}),
        json!({"method": "GET", "bucket": bucket, "key": "k", "expires_seconds": 60, "version_id": "v".repeat(1025)}),
        json!({"method": "DELETE", "bucket": bucket, "key": "k", "expires_seconds": 60}),
        json!({"method": "GET", "bucket": bucket, "key": "k", "expires_seconds": 0}),
        json!({"method": "GET", "bucket": bucket, "key": "k", "expires_seconds": 604_801}),
        json!({"method": "GET", "bucket": "Not_A_Bucket", "key": "k", "expires_seconds": 60}),
        json!({"method": "GET", "bucket": bucket, "key": "", "expires_seconds": 60}),
        json!({"method": "GET", "bucket": bucket, "key": "k", "expires_seconds": 60, "extra": 1}),
    ] {
        let r = reader.post_json("/api/presign", &bad).await;
        assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"), "{bad}: {}", r.text());
    }

    // Tickets through the console are issued as the signed-in user (and refused when it may not).
    let writer = sign_in(&server, "writer", WRITER_SECRET).await;
    let ticket = writer
        .post_json("/tickets", &json!({"method": "PUT", "bucket": bucket, "key": "ticketed", "expires_seconds": 300}))
        .await;
    assert_eq!(ticket.status, 200, "{}", ticket.text());
    let ticket_url = ticket.json()["url"].as_str().expect("url").to_owned();
    let uploaded = client().put(&ticket_url).body("by ticket").send().await.expect("put");
    assert_eq!(uploaded.status().as_u16(), 200);
    assert!(s3.head_object().bucket(&bucket).key("ticketed").send().await.is_ok());
    let refused = reader
        .post_json("/tickets", &json!({"method": "PUT", "bucket": bucket, "key": "nope", "expires_seconds": 300}))
        .await;
    assert_eq!((refused.status, refused.code().as_str()), (403, "AccessDenied"), "{}", refused.text());
    let listed = writer.get("/admin/tickets").await;
    assert_eq!(listed.status, 403, "the writer may not list every ticket: {}", listed.text());

    // "May I?" about oneself: the reader reads, does not write; the reasons say why.
    let object = format!("arn:aws:s3:::{bucket}/docs/*");
    let can = reader
        .post_json(
            "/api/can",
            &json!({"checks": [
                {"action": "s3:GetObject", "resource": object},
                {"action": "s3:PutObject", "resource": object},
                {"action": "kura:ListUsers", "resource": "arn:aws:iam::000000000000:user/*"},
            ]}),
        )
        .await;
    assert_eq!(can.status, 200, "{}", can.text());
    let results = can.json()["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["allowed"], true);
    assert!(results[0]["reason"].as_str().is_some_and(|r| r.contains("readonly")), "{results:?}");
    assert_eq!(results[1]["allowed"], false);
    assert!(results[1]["reason"].as_str().is_some_and(|r| r.contains("no statement allows")), "{results:?}");
    assert_eq!(results[2]["allowed"], false);
    // A bucket policy's Deny counts.
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"DenyDocsToBreakGlass","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/docs/*"}}]}}"#
        ))
        .send()
        .await
        .expect("policy");
    let denied =
        reader.post_json("/api/can", &json!({"checks": [{"action": "s3:GetObject", "resource": object}]})).await;
    let result = &denied.json()["results"][0];
    assert_eq!(result["allowed"], false);
    // The reader may not read the bucket's policy: told which kind of policy denies, not its statement.
    assert_eq!(result["reason"], "denied: an explicit deny in the bucket's policy (a resource-based policy)");
    // Root may read it, and is shown the statement; it may do anything no Deny names.
    let root = sign_in(&server, ACCESS_KEY, SECRET_KEY).await;
    let root_denied =
        root.post_json("/api/can", &json!({"checks": [{"action": "s3:GetObject", "resource": object}]})).await;
    let reason = root_denied.json()["results"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("DenyDocsToBreakGlass") && reason.contains("bucket policy"), "{reason}");
    let root_can =
        root.post_json("/api/can", &json!({"checks": [{"action": "kura:ReadAudit", "resource": "*"}]})).await;
    assert_eq!(root_can.json()["results"][0]["allowed"], true);
    // At most 50 checks; each one an action and a resource.
    let many: Vec<Value> = (0..51).map(|_| json!({"action": "s3:GetObject", "resource": object})).collect();
    let r = reader.post_json("/api/can", &json!({ "checks": many })).await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    for bad in [json!({"action": "GetObject", "resource": object}), json!({"action": "s3:GetObject", "resource": ""})] {
        let r = reader.post_json("/api/can", &json!({ "checks": [bad] })).await;
        assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"), "{}", r.text());
    }
    // Without the CSRF token, nothing is answered.
    let no_csrf = reply(
        client()
            .post(format!("{}/api/presign", reader.base))
            .header("cookie", &reader.cookie)
            .body(json!({"method": "GET", "bucket": bucket, "key": "k", "expires_seconds": 60}).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((no_csrf.status, no_csrf.code().as_str()), (403, "InvalidCsrfToken"));
}

#[tokio::test]
async fn the_front_end_is_served_with_protective_headers() {
    let server = TestServer::start();
    let http = client();
    let redirect = http.get(format!("{}/kura/console", server.endpoint())).send().await.expect("get");
    assert_eq!(redirect.status().as_u16(), 301);
    assert_eq!(redirect.headers()["location"], "/kura/console/");
    let index = http.get(format!("{}/kura/console/", server.endpoint())).send().await.expect("get");
    assert_eq!(index.status().as_u16(), 200);
    let h = index.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["content-security-policy"], "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-cache");
    assert!(index.text().await.expect("body").contains("kura console"));
    let js = http.get(format!("{}/kura/console/app.js", server.endpoint())).send().await.expect("get");
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    let missing = http.get(format!("{}/kura/console/nope.js", server.endpoint())).send().await.expect("get");
    assert_eq!(missing.status().as_u16(), 404);
    let api = http.get(format!("{}/kura/console/api/nope", server.endpoint())).send().await.expect("get");
    assert_eq!(api.status().as_u16(), 404);
}

#[tokio::test]
async fn a_secret_typed_as_the_access_key_never_reaches_the_audit_log() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&format!("{CONFIG}audit:\n  path: {}\n", log.display()));
    // Fields swapped: the secret stands as the key, which no user has.
    let r = sign_in_reply(&server, READER_SECRET, "reader").await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    crate::harness::wait_until(|| async { read().contains("ConsoleSignIn") }).await;
    let text = read();
    assert!(!text.contains(READER_SECRET), "the secret typed as a key is in the audit log: {text}");
    let line: Value =
        serde_json::from_str(text.lines().find(|l| l.contains("ConsoleSignIn")).expect("line")).expect("json");
    assert_eq!(line["caller"]["access_key"], "HIDDEN_DUE_TO_SECURITY_REASONS");
}

#[tokio::test]
async fn sign_in_failures_slow_the_source_down_and_every_attempt_is_audited_without_its_secret() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&format!("{CONFIG}audit:\n  path: {}\n", log.display()));
    let page = client().get(format!("{}/kura/console/", server.endpoint())).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let root = sign_in(&server, ACCESS_KEY, SECRET_KEY).await;
    let out = root.send(reqwest::Method::DELETE, "/api/session", None).await;
    assert_eq!(out.status, 204);

    // A sign-in from another origin and a call with a forged cookie are refused, and audited.
    let cross = reply(
        client()
            .post(format!("{}/kura/console/api/session", server.endpoint()))
            .header("origin", "http://evil.example")
            .header("content-type", "application/json")
            .body(json!({"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(cross.status, 403);
    let forged = reply(
        client()
            .get(format!("{}/kura/console/s3/?", server.endpoint()))
            .header("cookie", "kura-console=AAAAAAAAAAAAAAAAAAAAAAAAAA.ABCD.AAAA")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(forged.status, 401);

    const GUESS: &str = "guessed-secret-4242424242";
    for attempt in 0..5 {
        let r = sign_in_reply(&server, "reader", GUESS).await;
        assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"), "attempt {attempt}");
    }
    // The sixth attempt comes before the one-second wait is over: 429 with Retry-After, even with the
    // right secret, and even claiming another address (X-Forwarded-For counts only from trusted proxies).
    let slowed = sign_in_reply(&server, "reader", READER_SECRET).await;
    assert_eq!((slowed.status, slowed.code().as_str()), (429, "SlowDown"), "{}", slowed.text());
    assert_eq!(slowed.headers["retry-after"], "1");
    assert!(slowed.headers.get("set-cookie").is_none());
    let spoofed = reply(
        client()
            .post(format!("{}/kura/console/api/session", server.endpoint()))
            .header("content-type", "application/json")
            .header("x-forwarded-for", "203.0.113.7")
            .body(json!({"access_key_id": "reader", "secret_access_key": READER_SECRET}).to_string())
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(spoofed.status, 429);

    // Every attempt and the sign-out are in the audit log, with the access key and the status; no
    // secret anywhere in the file.
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    crate::harness::wait_until(|| async { read().lines().filter(|l| l.contains("ConsoleSignIn")).count() >= 9 }).await;
    crate::harness::wait_until(|| async { read().contains("ConsoleSignOut") }).await;
    let text = read();
    for secret in [SECRET_KEY, READER_SECRET, GUESS] {
        assert!(!text.contains(secret), "a secret in the audit log");
    }
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let of = |op: &str, status: u64| {
        lines.iter().filter(|l| l["operation"] == op && l["status"] == status).cloned().collect::<Vec<_>>()
    };
    let ok = of("ConsoleSignIn", 200);
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["caller"]["access_key"], ACCESS_KEY);
    assert_eq!(ok[0]["caller"]["principal"], "arn:aws:iam::000000000000:root");
    assert_eq!(ok[0]["api"], "console");
    let refused: Vec<Value> =
        of("ConsoleSignIn", 403).into_iter().filter(|l| l["error_code"] != "InvalidOrigin").collect();
    assert_eq!(refused.len(), 5);
    let cross_site = of("ConsoleSignIn", 403).into_iter().filter(|l| l["error_code"] == "InvalidOrigin").count();
    assert_eq!(cross_site, 1);
    crate::harness::wait_until(|| async { read().contains("ConsoleProxy") }).await;
    let text = read();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(
        lines
            .iter()
            .any(|l| l["operation"] == "ConsoleProxy" && l["status"] == 401 && l["error_code"] == "NotSignedIn"),
        "the forged cookie's call is audited"
    );
    assert!(refused.iter().all(|l| l["caller"]["access_key"] == "reader" && l["error_code"] == "AccessDenied"));
    assert_eq!(of("ConsoleSignIn", 429).len(), 2);
    let signed_out = of("ConsoleSignOut", 204);
    assert_eq!(signed_out.len(), 1);
    assert_eq!(signed_out[0]["caller"]["access_key"], ACCESS_KEY);
    assert!(
        lines.iter().all(|l| l["api"] != "console" || l["operation"].is_string()),
        "the console's files are not audited"
    );
}

/// A server with an OIDC provider, a role and its associations, a read-only user and an auditor who
/// may read the audit records and the identity configuration.
fn identity_config(issuer: &crate::issuer::FakeIssuer, audit_log: &std::path::Path) -> String {
    let hp = issuer.host_path();
    format!(
        r#"
users:
  - access_key: reader
    secret_key: {READER_SECRET}
    policies: [readonly]
  - access_key: auditor
    secret_key: auditor-secret-0123456789
    policies: [auditing]
policies:
  auditing:
    Statement:
      - Effect: Allow
        Action: ["kura:ReadAudit", "kura:ListRoles"]
        Resource: "*"
identity:
  oidc_providers:
    - issuer: {url}
      audiences: [sts.amazonaws.com]
  roles:
    - name: app
      trust_policy:
        Statement:
          - Effect: Allow
            Principal: {{Federated: "arn:aws:iam::000000000000:oidc-provider/{hp}"}}
            Action: sts:AssumeRoleWithWebIdentity
            Condition:
              StringLike: {{"{hp}:sub": "system:serviceaccount:*:app"}}
      policies: [readonly]
  pod_identity:
    associations:
      - {{namespace: alpha, service_account: app, role: app}}
  web_identity:
    associations:
      - {{namespace: beta, service_account: app, role: app}}
audit:
  path: {log}
"#,
        url = issuer.url,
        log = audit_log.display()
    )
}

#[tokio::test]
async fn the_audit_viewer_and_the_identity_page_need_their_permissions() {
    let issuer = crate::issuer::FakeIssuer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::start_with_config(&identity_config(&issuer, &dir.path().join("audit.log")));
    let bucket = bucket_name("console-audit");
    let s3 = server.client();
    s3.create_bucket().bucket(&bucket).send().await.expect("bucket");

    let reader = sign_in(&server, "reader", READER_SECRET).await;
    for path in ["/api/audit", "/api/identity"] {
        let r = reader.get(path).await;
        assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"), "{path}: {}", r.text());
        let action = if path == "/api/audit" { "kura:ReadAudit" } else { "kura:ListRoles" };
        assert!(r.json()["message"].as_str().is_some_and(|m| m.contains(action) && m.contains("user/reader")));
    }
    // The reader's refused write through the console, and a direct one, become records.
    let refused = reader.send(reqwest::Method::PUT, &format!("/s3/{bucket}/k"), Some(b"x".to_vec())).await;
    assert_eq!(refused.status, 403);
    s3.put_object()
        .bucket(&bucket)
        .key("direct")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"d"))
        .send()
        .await
        .expect("put");

    let auditor = sign_in(&server, "auditor", "auditor-secret-0123456789").await;
    // A record enters the ring when its answer's last byte has gone: wait for the latest ones.
    crate::harness::wait_until(|| async {
        let page = auditor.get("/api/audit?operation=ConsoleSignIn&principal=auditor").await;
        page.json()["records"].as_array().is_some_and(|r| r.len() == 1)
    })
    .await;
    let all = auditor.get("/api/audit").await;
    assert_eq!(all.status, 200, "{}", all.text());
    let page = all.json();
    assert_eq!(page["log"], true, "the audit log is on: every record is in the ring");
    let records = page["records"].as_array().expect("records").clone();
    let last = page["last"].as_u64().expect("last");
    assert!(records[0]["seq"].as_u64().is_some_and(|s| s <= last), "{last}: {:?}", records[0]);
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let through_console = records
        .iter()
        .find(|r| r["operation"] == "PutObject" && r["caller"]["access_key"] == "reader")
        .expect("the reader's console PutObject");
    assert_eq!(through_console["status"], 403);
    assert_eq!(through_console["caller"]["auth_type"], "console");
    assert_eq!(through_console["bucket"].as_str(), Some(bucket.as_str()));
    assert!(records.iter().any(|r| r["operation"] == "ConsoleSignIn" && r["caller"]["access_key"] == "auditor"));
    let text = all.text();
    for secret in [SECRET_KEY, READER_SECRET, "auditor-secret-0123456789"] {
        assert!(!text.contains(secret), "a secret in the audit records");
    }

    // Filters: principal (ARN or access key), bucket, operation, status (code or class), auth type.
    let filtered = auditor.get(&format!("/api/audit?principal=reader&bucket={bucket}&status=4xx&auth=console")).await;
    let got = filtered.json()["records"].as_array().expect("records").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["operation"], "PutObject");
    let by_arn = auditor
        .get("/api/audit?principal=arn%3Aaws%3Aiam%3A%3A000000000000%3Aroot&operation=PutObject&status=200")
        .await;
    let got = by_arn.json()["records"].as_array().expect("records").clone();
    assert!(
        !got.is_empty() && got.iter().all(|r| r["caller"]["auth_type"] == "header" && r["key"] == "direct"),
        "{got:?}"
    );
    // `after`: only what is newer; an idle poll gets nothing new but its own read.
    let before = auditor.get("/api/audit").await.json()["last"].as_u64().expect("last");
    s3.put_object()
        .bucket(&bucket)
        .key("later")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"l"))
        .send()
        .await
        .expect("put");
    crate::harness::wait_until(|| async {
        let page = auditor.get(&format!("/api/audit?after={before}&operation=PutObject")).await.json();
        page["records"].as_array().is_some_and(|r| r.len() == 1 && r[0]["key"] == "later")
    })
    .await;
    let newer = auditor.get(&format!("/api/audit?after={before}")).await.json();
    assert!(newer["records"].as_array().expect("records").iter().all(|r| r["seq"].as_u64() > Some(before)));
    let limited = auditor.get("/api/audit?limit=2").await.json();
    assert_eq!(limited["records"].as_array().expect("records").len(), 2);
    for bad in ["status=abc", "limit=0", "after=x", "colour=red"] {
        let r = auditor.get(&format!("/api/audit?{bad}")).await;
        assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"), "{bad}");
    }

    // Identity, as configured: the role with its trust policy, the provider, both associations.
    let identity = auditor.get("/api/identity").await;
    assert_eq!(identity.status, 200, "{}", identity.text());
    let id = identity.json();
    assert_eq!(id["roles"][0]["name"], "app");
    assert_eq!(id["roles"][0]["arn"], "arn:aws:iam::000000000000:role/app");
    assert_eq!(id["roles"][0]["source"], "config");
    assert_eq!(id["roles"][0]["trust_policy"]["Statement"][0]["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(id["oidc_providers"][0]["issuer"].as_str(), Some(issuer.url.as_str()));
    assert_eq!(id["pod_identity_associations"][0]["namespace"], "alpha");
    assert_eq!(id["pod_identity_associations"][0]["role_arn"], "arn:aws:iam::000000000000:role/app");
    // Left out with one provider, the association is that provider's.
    assert_eq!(id["pod_identity_associations"][0]["issuer"].as_str(), Some(issuer.url.as_str()));
    assert_eq!(id["web_identity_associations"][0]["namespace"], "beta");
    assert!(id["web_identity_associations"][0].get("issuer").is_none(), "web identity has no issuer");
    // Root may always.
    let root = sign_in(&server, ACCESS_KEY, SECRET_KEY).await;
    assert_eq!(root.get("/api/identity").await.status, 200);
    assert_eq!(root.get("/api/audit?limit=1").await.status, 200);
}

#[tokio::test]
async fn without_an_audit_log_the_ring_records_while_a_viewer_watches() {
    let server = TestServer::start_with_config(CONFIG);
    let bucket = bucket_name("console-watch");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    // A look refused (no kura:ReadAudit) starts no recording.
    let reader = sign_in(&server, "reader", READER_SECRET).await;
    let refused = reader.get("/api/audit").await;
    assert_eq!((refused.status, refused.code().as_str()), (403, "AccessDenied"));
    let root = sign_in(&server, ACCESS_KEY, SECRET_KEY).await;
    // Before the first look nobody wanted a record: neither the bucket's creation, the sign-ins nor the
    // refused look.
    let first = root.get("/api/audit").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    assert_eq!(first["log"], false, "the viewer is told the audit log is off");
    assert_eq!(first["records"], serde_json::json!([]), "nothing recorded before a viewer looked");
    // From the look on, every request is recorded.
    server.client().put_object().bucket(&bucket).key("watched").body(b"x".to_vec().into()).send().await.expect("put");
    crate::harness::wait_until(|| async {
        let page = root.get("/api/audit?operation=PutObject").await.json();
        page["records"].as_array().is_some_and(|r| r.len() == 1 && r[0]["key"] == "watched")
    })
    .await;
    let created = root.get("/api/audit?operation=CreateBucket").await.json();
    assert_eq!(created["records"], serde_json::json!([]), "still nothing from before the look");
}

#[tokio::test]
async fn a_multipart_upload_streams_through_the_console() {
    let server = TestServer::start_with_config(CONFIG);
    let bucket = bucket_name("console-mpu");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let writer = sign_in(&server, "writer", WRITER_SECRET).await;
    let created = writer.send(reqwest::Method::POST, &format!("/s3/{bucket}/big.bin?uploads"), None).await;
    assert_eq!(created.status, 200, "{}", created.text());
    let text = created.text();
    let start = text.find("<UploadId>").expect("upload id") + "<UploadId>".len();
    let upload_id = text[start..start + text[start..].find("</UploadId>").expect("end")].to_owned();
    let parts = [crate::harness::data(6 * 1024 * 1024, 1), crate::harness::data(1000, 2)];
    let mut etags = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        let r = writer
            .send(
                reqwest::Method::PUT,
                &format!("/s3/{bucket}/big.bin?partNumber={}&uploadId={upload_id}", n + 1),
                Some(part.clone()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        etags.push(r.headers["etag"].to_str().expect("etag").to_owned());
    }
    let complete = format!(
        "<CompleteMultipartUpload>{}</CompleteMultipartUpload>",
        etags
            .iter()
            .enumerate()
            .map(|(n, e)| format!("<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>", n + 1))
            .collect::<String>()
    );
    let done = writer
        .send(reqwest::Method::POST, &format!("/s3/{bucket}/big.bin?uploadId={upload_id}"), Some(complete.into_bytes()))
        .await;
    assert_eq!(done.status, 200, "{}", done.text());
    let got = server.client().get_object().bucket(&bucket).key("big.bin").send().await.expect("get");
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(body.len(), parts[0].len() + parts[1].len());
    assert!(body[..parts[0].len()] == parts[0][..] && body[parts[0].len()..] == parts[1][..]);
    // A ranged read through the console.
    let ranged = writer
        .request(reqwest::Method::GET, &format!("/s3/{bucket}/big.bin"))
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("get");
    assert_eq!(ranged.status().as_u16(), 206);
    assert_eq!(ranged.bytes().await.expect("body").as_ref(), &parts[0][10..20]);
}

#[tokio::test]
async fn under_tls_the_cookie_is_secure() {
    let pki = crate::tls::Pki::new();
    let dir = tempfile::tempdir().expect("dir");
    crate::tls::install(dir.path(), &pki.issue("server", 1));
    let yaml = format!(
        "server:\n  tls:\n    cert_file: {}\n    key_file: {}\n",
        dir.path().join("tls.crt").display(),
        dir.path().join("tls.key").display()
    );
    let server = TestServer::start_with_config(&yaml);
    assert_eq!(server.scheme, "https");
    let ca = std::fs::read(pki.path("ca.crt")).expect("ca");
    let certs = reqwest::Certificate::from_pem_bundle(&ca).expect("ca pem");
    let https = reqwest::Client::builder().tls_certs_only(certs).build().expect("client");
    let r = https
        .post(format!("{}/kura/console/api/session", server.endpoint()))
        .header("origin", server.endpoint())
        .header("content-type", "application/json")
        .body(json!({"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}).to_string())
        .send()
        .await
        .expect("sign-in");
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().expect("ascii").to_owned();
    assert!(cookie.ends_with("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
}
