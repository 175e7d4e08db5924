//! `kura presign`: URLs and POST forms computed locally, used by plain HTTP clients.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, multipart};

pub fn presign(server: &TestServer, args: &[&str]) -> String {
    let (ok, out, err) = server.cli(ACCESS_KEY, SECRET_KEY, &[&["presign"], args].concat());
    assert!(ok, "kura presign {args:?}: {err}");
    out.trim().to_owned()
}

#[tokio::test]
async fn presigned_get_put_delete_and_post_work_with_plain_http() {
    let server = TestServer::start();
    let bucket = bucket_name("presign");
    server.client().create_bucket().bucket(&bucket).send().await.expect("bucket");
    let http = reqwest::Client::new();
    let target = format!("s3://{bucket}/docs/hello.txt");

    let put = presign(&server, &["put", &target, "--content-type", "text/plain", "--expires", "5m"]);
    assert!(put.starts_with(&server.endpoint()), "{put}");
    let resp = http.put(&put).header("content-type", "text/plain").body("hello").send().await.expect("put");
    assert_eq!(resp.status().as_u16(), 200);
    let wrong_type = http.put(&put).header("content-type", "image/png").body("x").send().await.expect("put");
    assert_eq!(wrong_type.status().as_u16(), 403, "the content type is signed");

    let get = presign(&server, &["get", &target]);
    let resp = http.get(&get).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("body"), "hello");

    let form: serde_json::Value =
        serde_json::from_str(&presign(&server, &["post", &format!("s3://{bucket}/uploads/"), "--max-size", "1KiB"]))
            .expect("json");
    let mut fields = form["fields"].as_object().expect("fields").clone();
    let url = form["url"].as_str().expect("url");
    assert_eq!(fields["key"], "uploads/${filename}");
    let (content_type, body) = multipart(&fields, "note.txt", b"posted");
    let resp = http.post(url).header("content-type", content_type).body(body).send().await.expect("post");
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap_or_default());
    let got = server.client().get_object().bucket(&bucket).key("uploads/note.txt").send().await.expect("posted");
    assert_eq!(got.body.collect().await.expect("body").into_bytes().as_ref(), b"posted");
    let (content_type, body) = multipart(&fields, "big.txt", &[b'x'; 2048]);
    let resp = http.post(url).header("content-type", content_type).body(body).send().await.expect("post");
    assert_eq!(resp.status().as_u16(), 400, "larger than --max-size");
    fields.insert("key".into(), "elsewhere/note.txt".into());
    let (content_type, body) = multipart(&fields, "note.txt", b"posted");
    let resp = http.post(url).header("content-type", content_type).body(body).send().await.expect("post");
    // A failed condition is AWS's answer: 403 AccessDenied, "Invalid according to Policy", nothing lands.
    assert_eq!(resp.status().as_u16(), 403, "outside the prefix");
    let text = resp.text().await.expect("body");
    assert!(text.contains("<Code>AccessDenied</Code>") && text.contains("Invalid according to Policy"), "{text}");
    let missing = server.client().head_object().bucket(&bucket).key("elsewhere/note.txt").send().await;
    assert!(missing.is_err(), "a refused POST wrote nothing");
    // A policy without its signature is refused before the policy is read (never taken as anonymous).
    fields.insert("key".into(), "uploads/unsigned.txt".into());
    fields.remove("x-amz-signature").expect("a SigV4 form");
    let (content_type, body) = multipart(&fields, "note.txt", b"posted");
    let resp = http.post(url).header("content-type", content_type).body(body).send().await.expect("post");
    assert_eq!(resp.status().as_u16(), 400, "no signature");
    let text = resp.text().await.expect("body");
    assert!(text.contains("<Code>InvalidArgument</Code>") && text.contains("X-Amz-Signature"), "{text}");
    let missing = server.client().head_object().bucket(&bucket).key("uploads/unsigned.txt").send().await;
    assert!(missing.is_err(), "an unsigned POST wrote nothing");

    let delete = presign(&server, &["delete", &target]);
    assert_eq!(http.delete(&delete).send().await.expect("delete").status().as_u16(), 204);
    assert_eq!(http.get(&get).send().await.expect("get").status().as_u16(), 404);

    let (ok, _, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["presign", "get", &target, "--expires", "8d"]);
    assert!(!ok && err.contains("7 days"), "{err}");
}

const TICKETS_CONFIG: &str = r#"
users:
  - access_key: uploader
    secret_key: uploader-secret-0123456789
    policies: [inbox-rw]
  - access_key: reader
    secret_key: reader-secret-0123456789
    policies: [readonly]
policies:
  inbox-rw:
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject", "s3:PutObject"]
        Resource: ["arn:aws:s3:::inbox/*"]
buckets:
  - name: inbox
"#;

fn ticket(server: &TestServer, user: (&str, &str), args: &[&str]) -> Result<serde_json::Value, String> {
    let (ok, out, err) = server.cli(user.0, user.1, &[&["presign"], args, &["--ticket"]].concat());
    if !ok {
        return Err(err);
    }
    Ok(serde_json::from_str(&out).expect("ticket JSON"))
}

#[tokio::test]
async fn upload_tickets_are_limited_audited_and_revocable() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("audit.log");
    let server = TestServer::start_with_config(&format!("{TICKETS_CONFIG}audit:\n  path: {}\n", log.display()));
    let uploader = ("uploader", "uploader-secret-0123456789");
    let http = reqwest::Client::new();

    let put =
        ticket(&server, uploader, &["put", "s3://inbox/a.txt", "--max-size", "10", "--content-type", "text/plain"])
            .expect("put ticket");
    let id = put["id"].as_str().expect("id").to_owned();
    let url = put["url"].as_str().expect("url");
    assert!(id.starts_with("KURT") && url.contains(&id), "{put}");
    assert!(!url.contains("X-Amz-Security-Token"));
    let send = |body: &'static str, content_type: &'static str| {
        http.put(url).header("content-type", content_type).body(body).send()
    };
    assert_eq!(send("hello", "text/plain").await.expect("put").status().as_u16(), 200);
    assert_eq!(send("far more than ten bytes", "text/plain").await.expect("put").status().as_u16(), 403);
    assert_eq!(send("hello", "image/png").await.expect("put").status().as_u16(), 403, "content type is signed");

    let get = ticket(&server, uploader, &["get", "s3://inbox/a.txt"]).expect("get ticket");
    let get_url = get["url"].as_str().expect("url").to_owned();
    let resp = http.get(&get_url).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("body"), "hello");
    // A ticket for one method and key allows nothing else.
    let delete_with_get_key = get_url.replacen("inbox/a.txt", "inbox/b.txt", 1);
    assert_eq!(http.get(&delete_with_get_key).send().await.expect("get").status().as_u16(), 403);

    let post = ticket(&server, uploader, &["post", "s3://inbox/forms/", "--max-size", "1KiB"]).expect("post ticket");
    let mut fields = post["fields"].as_object().expect("fields").clone();
    fields.insert("key".into(), "forms/note.txt".into());
    let (content_type, body) = multipart(&fields, "note.txt", b"posted");
    let resp = http.post(post["url"].as_str().expect("url")).header("content-type", content_type).body(body).send();
    assert!(resp.await.expect("post").status().is_success());
    fields.insert("key".into(), "other/note.txt".into());
    let (content_type, body) = multipart(&fields, "note.txt", b"posted");
    let resp = http.post(post["url"].as_str().expect("url")).header("content-type", content_type).body(body).send();
    assert!(resp.await.expect("post").status().is_client_error(), "outside the ticket's prefix");

    // The issuer must be allowed now: a reader gets no upload ticket, nobody gets one for another bucket.
    let refused =
        ticket(&server, ("reader", "reader-secret-0123456789"), &["put", "s3://inbox/x"]).expect_err("denied");
    assert!(refused.contains("AccessDenied"), "{refused}");
    let refused = ticket(&server, uploader, &["get", "s3://elsewhere/x"]).expect_err("no such bucket");
    assert!(refused.contains("NoSuchBucket"), "{refused}");

    // Revocation: one ticket, then all of a principal's.
    let (ok, out, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "presign", "list"]);
    assert!(ok && out.contains(&id), "{out}{err}");
    let (ok, _, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "presign", "revoke", &id]);
    assert!(ok, "{err}");
    assert_eq!(send("hello", "text/plain").await.expect("put").status().as_u16(), 403, "revoked");
    let (ok, out, err) = server.cli(
        ACCESS_KEY,
        SECRET_KEY,
        &["admin", "presign", "revoke", "--principal", "arn:aws:iam::000000000000:user/uploader"],
    );
    assert!(ok && out.contains(get["id"].as_str().expect("id")), "{out}{err}");
    assert_eq!(http.get(&get_url).send().await.expect("get").status().as_u16(), 403, "revoked by principal");

    // Every use is in the audit log with the ticket's id and its issuer.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.matches(&id).count() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let used: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|r| r["caller"]["ticket"] == id.as_str())
        .collect();
    assert!(used.len() >= 4, "{text}");
    assert!(used.iter().all(|r| r["caller"]["auth_type"] == "ticket"), "{text}");
    // Uses of a live ticket name its issuer; the refused use after revocation still names the ticket.
    assert!(
        used.iter()
            .filter(|r| r["status"] == 200)
            .all(|r| r["caller"]["principal"] == "arn:aws:iam::000000000000:user/uploader")
    );
    assert!(used.iter().any(|r| r["status"] == 403 && r["error_code"] == "AccessDenied"));
    assert!(text.contains("CreateUploadTicket"));
}
