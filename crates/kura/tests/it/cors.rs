//! CORS: Put/Get/DeleteBucketCors with the AWS SDK, the unauthenticated preflight and the CORS headers of
//! actual responses with plain HTTP, and the attacks on them (origins that only look allowed, a
//! preflight that tries to run or probe something, header injection).

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, code, status, xml_code};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const APP: &str = "https://app.example";

fn rule(origins: &[&str], methods: &[&str]) -> aws_sdk_s3::types::builders::CorsRuleBuilder {
    CorsRule::builder()
        .set_allowed_origins(Some(origins.iter().map(|s| s.to_string()).collect()))
        .set_allowed_methods(Some(methods.iter().map(|s| s.to_string()).collect()))
}

fn config(rules: Vec<CorsRule>) -> CorsConfiguration {
    CorsConfiguration::builder().set_cors_rules(Some(rules)).build().expect("cors configuration")
}

/// The rules most tests use: the app may GET, PUT, POST and HEAD with any header, and read ETag.
fn app_rules() -> CorsConfiguration {
    config(vec![
        rule(&[APP], &["GET", "PUT", "POST", "HEAD"])
            .id("app")
            .allowed_headers("*")
            .expose_headers("ETag")
            .expose_headers("x-amz-request-id")
            .max_age_seconds(600)
            .build()
            .expect("rule"),
        rule(&["http://*.example.com"], &["GET"]).build().expect("rule"),
    ])
}

async fn bucket_with(server: &TestServer, tag: &str, cors: Option<CorsConfiguration>) -> String {
    let s3 = server.client();
    let bucket = bucket_name(tag);
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    if let Some(cors) = cors {
        s3.put_bucket_cors().bucket(&bucket).cors_configuration(cors).send().await.expect("put cors");
    }
    bucket
}

async fn stored_rules(server: &TestServer, bucket: &str) -> Vec<CorsRule> {
    server.client().get_bucket_cors().bucket(bucket).send().await.expect("get cors").cors_rules().to_vec()
}

fn header<'r>(resp: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    resp.headers().get(name).map(|v| v.to_str().expect("ascii header"))
}

fn has_cors_headers(resp: &reqwest::Response) -> bool {
    resp.headers().keys().any(|k| k.as_str().starts_with("access-control-"))
}

async fn options(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(reqwest::Method::OPTIONS, format!("{}{path}", server.endpoint()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("OPTIONS")
}

/// A URL presigned for `method` on `path` with `query`.
fn presigned(server: &TestServer, method: &str, path: &str, query: &[(&str, &str)]) -> String {
    let endpoint = server.endpoint();
    let mut req = kura_sigv4::PresignRequest::new(
        method,
        &endpoint,
        path,
        "us-east-1",
        ACCESS_KEY,
        SECRET_KEY,
        std::time::SystemTime::now(),
    );
    req.query = query;
    kura_sigv4::presign_url(&req).expect("presign")
}

#[tokio::test]
async fn a_configuration_is_put_read_back_and_deleted() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_with(&server, "cors-crud", None).await;
    let err = s3.get_bucket_cors().bucket(&bucket).send().await.expect_err("none yet");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchCORSConfiguration", 404));

    s3.put_bucket_cors().bucket(&bucket).cors_configuration(app_rules()).send().await.expect("put");
    assert_eq!(stored_rules(&server, &bucket).await, app_rules().cors_rules().to_vec());

    // A second put replaces the whole configuration.
    let replacement = config(vec![rule(&["*"], &["DELETE"]).build().expect("rule")]);
    s3.put_bucket_cors().bucket(&bucket).cors_configuration(replacement.clone()).send().await.expect("replace");
    assert_eq!(stored_rules(&server, &bucket).await, replacement.cors_rules().to_vec());

    s3.delete_bucket_cors().bucket(&bucket).send().await.expect("delete");
    let err = s3.get_bucket_cors().bucket(&bucket).send().await.expect_err("deleted");
    assert_eq!((code(&err).as_str(), status(&err)), ("NoSuchCORSConfiguration", 404));

    let err = s3.get_bucket_cors().bucket("no-such-bucket-cors").send().await.expect_err("no bucket");
    assert_eq!(code(&err), "NoSuchBucket");
    let err = s3
        .put_bucket_cors()
        .bucket("no-such-bucket-cors")
        .cors_configuration(app_rules())
        .send()
        .await
        .expect_err("no bucket");
    assert_eq!(code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn a_configuration_breaking_aws_rules_is_refused_and_changes_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_with(&server, "cors-bad", Some(app_rules())).await;
    let one = |r: aws_sdk_s3::types::builders::CorsRuleBuilder| config(vec![r.build().expect("rule")]);
    let cases: Vec<(&str, CorsConfiguration, &str)> = vec![
        ("PATCH", one(rule(&["*"], &["PATCH"])), "Unsupported method is PATCH"),
        ("lower-case get", one(rule(&["*"], &["get"])), "Unsupported method is get"),
        ("two origin wildcards", one(rule(&["http://*.*.example"], &["GET"])), "can not have more than one wildcard"),
        ("two header wildcards", one(rule(&["*"], &["GET"]).allowed_headers("x-*-*")), "can not have more than one"),
        ("a 256-character ID", one(rule(&["*"], &["GET"]).id("i".repeat(256))), "255 characters"),
        ("101 rules", config(vec![rule(&["*"], &["GET"]).build().expect("rule"); 101]), "at most 100 rules"),
        ("a CR/LF in an origin", one(rule(&["https://a\r\nSet-Cookie: x"], &["GET"])), "response header"),
    ];
    for (what, bad, message) in cases {
        let err = s3.put_bucket_cors().bucket(&bucket).cors_configuration(bad).send().await.expect_err(what);
        assert_eq!((code(&err).as_str(), status(&err)), ("InvalidRequest", 400), "{what}");
        let text = format!("{err:?}");
        assert!(text.contains(message), "{what}: {text}");
        assert_eq!(stored_rules(&server, &bucket).await, app_rules().cors_rules().to_vec(), "{what} changed nothing");
    }
    // A 255-character ID and 100 rules are within the limits.
    s3.put_bucket_cors()
        .bucket(&bucket)
        .cors_configuration(config(vec![rule(&["*"], &["GET"]).id("i".repeat(255)).build().expect("rule"); 100]))
        .send()
        .await
        .expect("at the limits");
    assert_eq!(stored_rules(&server, &bucket).await.len(), 100);
}

#[tokio::test]
async fn malformed_xml_is_refused_and_changes_nothing() {
    let server = TestServer::start();
    let bucket = bucket_with(&server, "cors-xml", Some(app_rules())).await;
    let http = reqwest::Client::new();
    for body in [
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>",
        "<CORSConfiguration></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
        "not xml at all",
    ] {
        let url = presigned(&server, "PUT", &format!("/{bucket}"), &[("cors", "")]);
        let resp = http.put(url).body(body).send().await.expect("put");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert_eq!((status, xml_code(&text)), (400, "MalformedXML"), "{body}: {text}");
        assert_eq!(stored_rules(&server, &bucket).await, app_rules().cors_rules().to_vec(), "{body}");
    }
}

#[tokio::test]
async fn a_preflight_is_answered_from_the_rules() {
    let server = TestServer::start();
    let bucket = bucket_with(&server, "cors-pre", Some(app_rules())).await;
    let object = format!("/{bucket}/photos/cat.jpg");

    let resp = options(
        &server,
        &object,
        &[
            ("origin", APP),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "Content-Type, x-amz-meta-colour"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP));
    assert_eq!(header(&resp, "access-control-allow-methods"), Some("GET, PUT, POST, HEAD"));
    assert_eq!(header(&resp, "access-control-allow-headers"), Some("Content-Type, x-amz-meta-colour"));
    assert_eq!(header(&resp, "access-control-expose-headers"), Some("ETag, x-amz-request-id"));
    assert_eq!(header(&resp, "access-control-max-age"), Some("600"));
    assert_eq!(header(&resp, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&resp, "vary"), Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method"));

    // The bucket's own URL, and a presigned URL's query, are answered the same way.
    let bucket_path = format!("/{bucket}");
    let presigned_put = presigned(&server, "PUT", &object, &[]);
    let presigned_path = presigned_put.strip_prefix(&server.endpoint()).expect("same endpoint").to_owned();
    for path in [bucket_path.as_str(), presigned_path.as_str()] {
        let resp = options(&server, path, &[("origin", APP), ("access-control-request-method", "POST")]).await;
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(header(&resp, "access-control-allow-origin"), Some(APP), "{path}");
    }
    // The wildcard rule.
    let resp =
        options(&server, &object, &[("origin", "http://cdn.example.com"), ("access-control-request-method", "GET")])
            .await;
    assert_eq!(
        (resp.status().as_u16(), header(&resp, "access-control-allow-origin")),
        (200, Some("http://cdn.example.com"))
    );
    assert_eq!(header(&resp, "access-control-allow-methods"), Some("GET"));
    assert_eq!(header(&resp, "access-control-allow-headers"), None, "no headers were asked for");

    async fn refused(resp: reqwest::Response, status: u16, code: &str) {
        assert_eq!(resp.status().as_u16(), status);
        assert!(!has_cors_headers(&resp), "{:?}", resp.headers());
        let text = resp.text().await.expect("body");
        assert_eq!(xml_code(&text), code, "{text}");
        if code == "AccessForbidden" {
            assert!(text.contains("CORSResponse: This CORS request is not allowed."), "{text}");
        }
    }
    // Missing headers: 400 BadRequest.
    refused(options(&server, &object, &[]).await, 400, "BadRequest").await;
    refused(options(&server, &object, &[("origin", APP)]).await, 400, "BadRequest").await;
    refused(options(&server, &object, &[("access-control-request-method", "PUT")]).await, 400, "BadRequest").await;
    // Nothing allows it: 403 AccessForbidden.
    for (origin, method, headers) in [
        ("https://other.example", "PUT", ""),
        (APP, "DELETE", ""),
        (APP, "put", ""),
        ("http://cdn.example.com", "PUT", ""),
        ("http://cdn.example.com", "GET", "x-amz-meta-colour"),
    ] {
        let mut h = vec![("origin", origin), ("access-control-request-method", method)];
        if !headers.is_empty() {
            h.push(("access-control-request-headers", headers));
        }
        refused(options(&server, &object, &h).await, 403, "AccessForbidden").await;
    }
    // No configuration, no bucket, no bucket named: 403 as well.
    let bare = bucket_with(&server, "cors-none", None).await;
    let ask = [("origin", APP), ("access-control-request-method", "GET")];
    refused(options(&server, &format!("/{bare}/k"), &ask).await, 403, "AccessForbidden").await;
    refused(options(&server, "/no-such-bucket-cors/k", &ask).await, 403, "AccessForbidden").await;
    refused(options(&server, "/", &ask).await, 403, "AccessForbidden").await;
}

#[tokio::test]
async fn a_preflight_runs_nothing_and_reveals_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_with(&server, "cors-probe", Some(app_rules())).await;
    s3.put_object().bucket(&bucket).key("kept").body(ByteStream::from_static(b"kept")).send().await.expect("put");
    let ask = [("origin", APP), ("access-control-request-method", "PUT")];

    // A preflight to a URL presigned for DELETE, and one carrying a (valid-looking) Authorization
    // header: answered from the rules, and the object is still there.
    let delete_url = presigned(&server, "DELETE", &format!("/{bucket}/kept"), &[]);
    let path = delete_url.strip_prefix(&server.endpoint()).expect("same endpoint").to_owned();
    let resp = options(&server, &path, &ask).await;
    assert_eq!(resp.status().as_u16(), 200);
    let auth = "AWS4-HMAC-SHA256 Credential=kuratestadmin/20260101/us-east-1/s3/aws4_request, \
                SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let with_auth = [ask[0], ask[1], ("authorization", auth), ("x-amz-date", "20260101T000000Z")];
    let resp = options(&server, &format!("/{bucket}/kept?delete"), &with_auth).await;
    assert_eq!(resp.status().as_u16(), 200, "an Authorization header is ignored, not judged");
    let got = s3.get_object().bucket(&bucket).key("kept").send().await.expect("still there");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"kept");
    assert_eq!(s3.list_objects_v2().bucket(&bucket).send().await.expect("list").key_count(), Some(1));

    // The answer for an object that exists and one that does not is the same.
    let strip = |resp: &reqwest::Response| {
        let mut h: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "x-amz-request-id" | "date"))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        h.sort();
        (resp.status().as_u16(), h)
    };
    let existing = options(&server, &format!("/{bucket}/kept"), &ask).await;
    let missing = options(&server, &format!("/{bucket}/never-written"), &ask).await;
    assert_eq!(strip(&existing), strip(&missing));
    let denied = [("origin", "https://other.example"), ("access-control-request-method", "PUT")];
    let existing = options(&server, &format!("/{bucket}/kept"), &denied).await;
    let missing = options(&server, &format!("/{bucket}/never-written"), &denied).await;
    assert_eq!(existing.status().as_u16(), 403);
    assert_eq!(strip(&existing).0, strip(&missing).0);
    assert_eq!(existing.text().await.ok().map(|t| xml_code(&t).to_owned()), Some("AccessForbidden".into()));
}

#[tokio::test]
async fn actual_responses_carry_the_headers_of_the_matching_rule_errors_included() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_with(&server, "cors-actual", Some(app_rules())).await;
    s3.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"body")).send().await.expect("put");
    let http = reqwest::Client::new();
    let allowed = |resp: &reqwest::Response, what: &str| {
        assert_eq!(header(resp, "access-control-allow-origin"), Some(APP), "{what}");
        assert_eq!(header(resp, "access-control-allow-methods"), Some("GET, PUT, POST, HEAD"), "{what}");
        assert_eq!(header(resp, "access-control-expose-headers"), Some("ETag, x-amz-request-id"), "{what}");
        assert_eq!(header(resp, "access-control-allow-credentials"), Some("true"), "{what}");
        assert_eq!(
            header(resp, "vary"),
            Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
            "{what}"
        );
    };
    // A success.
    let get = presigned(&server, "GET", &format!("/{bucket}/k"), &[]);
    let resp = http.get(&get).header("origin", APP).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    allowed(&resp, "GET");
    // NoSuchKey.
    let missing = presigned(&server, "GET", &format!("/{bucket}/missing"), &[]);
    let resp = http.get(&missing).header("origin", APP).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 404);
    allowed(&resp, "NoSuchKey");
    // AccessDenied (anonymous) and a refused signature.
    let resp = http.get(format!("{}/{bucket}/k", server.endpoint())).header("origin", APP).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 403);
    allowed(&resp, "AccessDenied");
    let (head, tail) = get.split_once("X-Amz-Signature=").expect("a signature");
    let rest = tail.find('&').map_or("", |i| &tail[i..]);
    let forged = format!("{head}X-Amz-Signature={}{rest}", "0".repeat(64));
    let resp = http.get(&forged).header("origin", APP).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 403);
    allowed(&resp, "a bad signature");
    // A presigned PUT.
    let put = presigned(&server, "PUT", &format!("/{bucket}/uploaded"), &[]);
    let resp = http.put(&put).header("origin", APP).body("new").send().await.expect("put");
    assert_eq!(resp.status().as_u16(), 200);
    allowed(&resp, "PUT");

    // No header for: no Origin, an origin no rule allows, a method the rule does not allow, a bucket
    // without CORS.
    let resp = http.get(&get).send().await.expect("get");
    assert!(!has_cors_headers(&resp) && header(&resp, "vary").is_none(), "{:?}", resp.headers());
    for origin in ["https://other.example", "https://app.example.evil.test", "https://app.example@evil", "null"] {
        let resp = http.get(&get).header("origin", origin).send().await.expect("get");
        assert_eq!(resp.status().as_u16(), 200);
        assert!(!has_cors_headers(&resp), "{origin}: {:?}", resp.headers());
    }
    let delete = presigned(&server, "DELETE", &format!("/{bucket}/uploaded"), &[]);
    let resp = http.delete(&delete).header("origin", APP).send().await.expect("delete");
    assert_eq!(resp.status().as_u16(), 204);
    assert!(!has_cors_headers(&resp), "DELETE is not allowed to the app: {:?}", resp.headers());
    // The wildcard rule: only where the `*` stands.
    let resp = http.get(&get).header("origin", "http://cdn.example.com").send().await.expect("get");
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("http://cdn.example.com"));
    assert_eq!(header(&resp, "access-control-allow-methods"), Some("GET"));
    for origin in ["http://example.com.evil.test", "http://example.com", "https://cdn.example.com"] {
        let resp = http.get(&get).header("origin", origin).send().await.expect("get");
        assert!(!has_cors_headers(&resp), "{origin}: {:?}", resp.headers());
    }
    let bare = bucket_with(&server, "cors-plain", None).await;
    let url = presigned(&server, "GET", &format!("/{bare}"), &[]);
    let resp = http.get(&url).header("origin", APP).send().await.expect("list");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(!has_cors_headers(&resp), "{:?}", resp.headers());
}

#[tokio::test]
async fn a_star_origin_is_answered_star_without_credentials() {
    let server = TestServer::start();
    let cors = config(vec![rule(&["*"], &["GET"]).build().expect("rule")]);
    let bucket = bucket_with(&server, "cors-star", Some(cors)).await;
    let resp =
        options(&server, &format!("/{bucket}/k"), &[("origin", APP), ("access-control-request-method", "GET")]).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&resp, "access-control-allow-credentials"), None);
    let url = presigned(&server, "GET", &format!("/{bucket}/k"), &[]);
    let resp = reqwest::Client::new().get(&url).header("origin", APP).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&resp, "access-control-allow-credentials"), None);
}

/// Sends raw bytes and reads the whole answer (the request asks the server to close).
async fn raw(server: &TestServer, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_cr_or_lf_in_origin_never_reaches_a_response_header() {
    let server = TestServer::start();
    let cors = config(vec![rule(&["*"], &["GET"]).build().expect("rule")]);
    let bucket = bucket_with(&server, "cors-crlf", Some(cors)).await;
    let host = server.addr;
    // A bare CR inside the value: hyper refuses the request before kura sees it.
    let cr = format!(
        "OPTIONS /{bucket}/k HTTP/1.1\r\nHost: {host}\r\nOrigin: https://a\rSet-Cookie: evil=1\r\n\
         Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
    );
    let answer = raw(&server, cr.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(!answer.to_ascii_lowercase().contains("set-cookie") && !answer.contains("access-control"), "{answer}");
    // A bare LF ends the header line (HTTP/1.1 parsers accept it): the rest is another request
    // header, never part of the origin kura echoes.
    let lf = format!(
        "OPTIONS /{bucket}/k HTTP/1.1\r\nHost: {host}\r\nOrigin: https://a\nSet-Cookie: evil=1\r\n\
         Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n"
    );
    let answer = raw(&server, lf.as_bytes()).await;
    assert!(!answer.to_ascii_lowercase().contains("set-cookie"), "{answer}");
    if answer.starts_with("HTTP/1.1 200") {
        assert!(answer.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{answer}");
    } else {
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
}

/// A user who may only read CORS rules, and one who may only write them.
const IAM: &str = r#"
users:
  - access_key: corsreader
    secret_key: corsreader-secret-0123456789
    policies: [cors-read]
  - access_key: corswriter
    secret_key: corswriter-secret-0123456789
    policies: [cors-write]
policies:
  cors-read:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:GetBucketCORS"]
        Resource: ["arn:aws:s3:::*"]
  cors-write:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Action: ["s3:PutBucketCORS"]
        Resource: ["arn:aws:s3:::*"]
"#;

#[tokio::test]
async fn the_cors_operations_are_authorised_as_aws_names_them() {
    let server = TestServer::start_with_config(IAM);
    let bucket = bucket_with(&server, "cors-iam", Some(app_rules())).await;
    let reader = server.client_with("corsreader", "corsreader-secret-0123456789");
    let writer = server.client_with("corswriter", "corswriter-secret-0123456789");

    // s3:GetBucketCORS reads, and neither puts nor deletes.
    let got = reader.get_bucket_cors().bucket(&bucket).send().await.expect("reader reads");
    assert_eq!(got.cors_rules().to_vec(), app_rules().cors_rules().to_vec());
    let other = config(vec![rule(&["*"], &["GET"]).build().expect("rule")]);
    let err = reader.put_bucket_cors().bucket(&bucket).cors_configuration(other.clone()).send().await.expect_err("put");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    let err = reader.delete_bucket_cors().bucket(&bucket).send().await.expect_err("delete");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    assert_eq!(stored_rules(&server, &bucket).await, app_rules().cors_rules().to_vec(), "nothing changed");

    // s3:PutBucketCORS puts and deletes (AWS has no DeleteBucketCORS action), and does not read.
    let err = writer.get_bucket_cors().bucket(&bucket).send().await.expect_err("get");
    assert_eq!((code(&err).as_str(), status(&err)), ("AccessDenied", 403));
    writer.put_bucket_cors().bucket(&bucket).cors_configuration(other.clone()).send().await.expect("writer puts");
    assert_eq!(stored_rules(&server, &bucket).await, other.cors_rules().to_vec());
    writer.delete_bucket_cors().bucket(&bucket).send().await.expect("writer deletes");
    let err = server.client().get_bucket_cors().bucket(&bucket).send().await.expect_err("deleted");
    assert_eq!(code(&err), "NoSuchCORSConfiguration");
}

/// A preflight is unauthenticated: its `Access-Control-Request-Headers` is bounded (100 names, 8 KiB)
/// before any rule is evaluated, whatever the rules allow.
#[tokio::test]
async fn an_oversized_list_of_requested_headers_is_refused_unevaluated() {
    let server = TestServer::start();
    let bucket = bucket_with(&server, "cors-many", Some(app_rules())).await;
    let path = format!("/{bucket}/k");
    let ask = |headers: String| {
        let server = &server;
        let path = path.clone();
        async move {
            let h = [
                ("origin", APP),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", headers.as_str()),
            ];
            options(server, &path, &h).await
        }
    };
    let names = |n: usize| (0..n).map(|i| format!("x-amz-meta-h{i}")).collect::<Vec<_>>().join(",");
    let resp = ask(names(100)).await;
    assert_eq!(resp.status().as_u16(), 200, "100 names are evaluated (the rule allows any header)");
    assert_eq!(header(&resp, "access-control-allow-headers").map(|h| h.split(", ").count()), Some(100));
    for (what, value) in [("101 names", names(101)), ("more than 8 KiB", format!("x-{}", "a".repeat(8 * 1024)))] {
        let resp = ask(value).await;
        assert_eq!(resp.status().as_u16(), 403, "{what}");
        assert!(!has_cors_headers(&resp), "{what}: {:?}", resp.headers());
        assert_eq!(xml_code(&resp.text().await.expect("body")), "AccessForbidden", "{what}");
    }
}
