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
    assert_eq!(fields["key"], "uploads/");
    fields.insert("key".into(), "uploads/note.txt".into());
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
    // s3s answers InvalidPolicyDocument (400) where AWS says AccessDenied (403); either way, nothing lands.
    assert!(matches!(resp.status().as_u16(), 400 | 403), "outside the prefix: {}", resp.status());
    let missing = server.client().head_object().bucket(&bucket).key("elsewhere/note.txt").send().await;
    assert!(missing.is_err(), "a refused POST wrote nothing");

    let delete = presign(&server, &["delete", &target]);
    assert_eq!(http.delete(&delete).send().await.expect("delete").status().as_u16(), 204);
    assert_eq!(http.get(&get).send().await.expect("get").status().as_u16(), 404);

    let (ok, _, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["presign", "get", &target, "--expires", "8d"]);
    assert!(!ok && err.contains("7 days"), "{err}");
}
