//! What an operator reads: the request log line (plain text in a file, the S3 operation, the bytes
//! actually sent, the time to the last byte), error documents that say what to fix, and `/kura/metrics`.

use crate::harness::{TestServer, blob_files, bucket_name};

/// The request line of the response with this request id.
async fn request_line(server: &TestServer, request_id: &str) -> String {
    server.wait_for_log(&["kura::request", &format!("request_id={request_id}")]).await
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line.find(&format!(" {name}=")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 2;
    line[start..].split(' ').next().unwrap_or_default()
}

#[tokio::test]
async fn the_request_line_names_the_operation_and_what_was_really_sent() {
    let server = TestServer::start_with_default_log("");
    let s3 = server.client();
    let bucket = bucket_name("oplog");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let body = vec![7u8; 300_000];
    s3.put_object().bucket(&bucket).key("k").body(body.clone().into()).send().await.expect("put");
    use aws_sdk_s3::operation::RequestId as _;

    // HEAD: the object's size is its Content-Length, but no body byte is sent.
    let head = s3.head_object().bucket(&bucket).key("k").send().await.expect("head");
    assert_eq!(head.content_length(), Some(300_000));
    let line = request_line(&server, head.request_id().expect("id")).await;
    assert_eq!(field(&line, "operation"), "HeadObject", "{line}");
    assert_eq!(field(&line, "bytes_out"), "0", "{line}");
    assert_eq!(field(&line, "complete"), "true", "{line}");

    // GET: every byte, and the line is written once the last one left.
    let get = s3.get_object().bucket(&bucket).key("k").send().await.expect("get");
    let id = get.request_id().expect("id").to_owned();
    assert_eq!(get.body.collect().await.expect("body").into_bytes().len(), body.len());
    let line = request_line(&server, &id).await;
    assert_eq!(field(&line, "operation"), "GetObject", "{line}");
    assert_eq!(field(&line, "bytes_out"), "300000", "{line}");

    // An error sends its error document: its length is logged, with its code.
    let missing = s3.get_object().bucket(&bucket).key("missing").send().await.expect_err("404");
    let line = request_line(&server, missing.request_id().expect("id")).await;
    assert_eq!(field(&line, "status"), "404", "{line}");
    assert_eq!(field(&line, "error_code"), "NoSuchKey", "{line}");
    assert_ne!(field(&line, "bytes_out"), "0", "{line}");

    // A subresource is its own operation, not a GET of the bucket.
    s3.get_bucket_versioning().bucket(&bucket).send().await.expect("versioning");
    server.wait_for_log(&["kura::request", "operation=GetBucketVersioning", "status=200"]).await;

    // Logged to a pipe: no colour codes anywhere, so `grep status=404` finds the line.
    let text = server.wait_for_log(&["status=404"]).await;
    assert!(!text.contains('\u{1b}'), "ANSI escape in {text:?}");
}

#[tokio::test]
async fn an_unimplemented_operation_is_one_info_line_and_a_bad_bucket_name_says_what_to_fix() {
    let server = TestServer::start_with_default_log("");
    let s3 = server.client();
    let bucket = bucket_name("opunimpl");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let err =
        s3.get_bucket_inventory_configuration().bucket(&bucket).id("inv").send().await.expect_err("not implemented");
    assert_eq!(crate::harness::code(&err), "NotImplemented");
    let line = server.wait_for_log(&["kura::request", "operation=GetBucketInventoryConfiguration"]).await;
    assert_eq!(field(&line, "status"), "501", "{line}");

    // s3s refuses the name while parsing the path, with no message of its own.
    let resp = reqwest::Client::new().put(format!("{}/ab", server.endpoint())).send().await.expect("put");
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.expect("body");
    assert_eq!(crate::harness::xml_code(&text), "InvalidBucketName", "{text}");
    assert!(text.contains("<Message>The bucket name is not valid: use 3 to 63"), "{text}");
    assert!(text.contains("<RequestId>"), "{text}");
    server.wait_for_log(&["kura::request", "error_code=InvalidBucketName"]).await;

    let log = server.wait_for_log(&["error_code=InvalidBucketName"]).await;
    assert!(log.contains(" INFO "), "{log}");
    let all = server.log_lines();
    assert!(!all.iter().any(|l| l.contains("ERROR")), "no ERROR line for client errors:\n{}", all.join("\n"));
}

#[tokio::test]
async fn metrics_are_served_to_loopback_and_count_requests() {
    let server = TestServer::start_with_config("");
    let s3 = server.client();
    let bucket = bucket_name("opmetrics");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let url = format!("{}/kura/metrics", server.endpoint());
    let count = |text: &str| -> u64 {
        let series = r#"kura_http_requests_total{api="s3",operation="PutObject",status_class="2xx"} "#;
        text.lines().find_map(|l| l.strip_prefix(series)).map_or(0, |v| v.trim().parse().expect("count"))
    };
    let before = reqwest::get(&url).await.expect("scrape").text().await.expect("text");
    for n in 0..5 {
        s3.put_object().bucket(&bucket).key(format!("k{n}")).body(b"x".to_vec().into()).send().await.expect("put");
    }
    let resp = reqwest::get(&url).await.expect("scrape");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().expect("type").starts_with("application/openmetrics-text"));
    let after = resp.text().await.expect("text");
    assert_eq!(count(&after) - count(&before), 5, "{after}");
    assert!(!after.contains(&bucket), "a bucket name in the metrics");
    assert!(after.ends_with("# EOF\n"));
}

/// A SIGHUP sent the moment kura says it listens (a ConfigMap edit racing a start) is kura's to handle;
/// it never meets the default action, which ends the process. Five starts, each hung up at once.
#[tokio::test]
async fn a_hangup_right_after_start_never_kills() {
    for _ in 0..5 {
        let mut server = TestServer::start_with_config("server:\n  region: us-east-1\n");
        server.hangup();
        server.client().list_buckets().send().await.expect("still serving after SIGHUP");
        assert!(server.terminate(), "exits cleanly on SIGTERM, so it was alive");
    }
}

/// Who may scrape is judged on the TCP peer: with loopback not among `allow_networks`, a request from
/// loopback that claims an allowed address in `X-Forwarded-For` (or `Forwarded`) is still refused.
#[tokio::test]
async fn a_forwarded_for_header_cannot_make_a_scraper_allowed() {
    let server = TestServer::start_with_config(
        "server:\n  trusted_proxies: [127.0.0.1]\n  metrics:\n    allow_networks: [10.0.0.0/8]\n",
    );
    let url = format!("{}/kura/metrics", server.endpoint());
    let client = reqwest::Client::new();
    for (name, value) in [("x-forwarded-for", "10.1.2.3"), ("forwarded", "for=10.1.2.3"), ("x-real-ip", "10.1.2.3")] {
        let resp = client.get(&url).header(name, value).send().await.expect("scrape");
        assert_eq!(resp.status(), 403, "{name}: {value}");
        let text = resp.text().await.expect("text");
        assert!(text.contains("server.metrics.allow_networks"), "{text}");
        assert!(!text.contains("kura_http_requests"), "{text}");
    }
}

/// `server.blob_grace_seconds` is checked at start (0 is refused, naming the field), and on the embedded
/// metadata (one process alone on its blob directory) it changes nothing: an overwritten body's file is
/// gone when the overwrite is answered, and a restart removes an unreferenced blob however young it is.
#[tokio::test]
async fn blob_grace_is_checked_and_the_embedded_store_still_reclaims_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("kura.yaml");
    std::fs::write(&bad, "server:\n  blob_grace_seconds: 0\n").expect("write");
    let out = crate::harness::run_to_exit(&dir.path().join("data"), &bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.blob_grace_seconds: 0 is not between 1 and 2592000"), "{stderr}");
    assert!(!dir.path().join("data").join("blobs").exists(), "nothing was opened");

    let mut server = TestServer::start_with_config("server:\n  blob_grace_seconds: 3600\n");
    let s3 = server.client();
    let bucket = bucket_name("grace");
    s3.create_bucket().bucket(&bucket).send().await.expect("create");
    let put = |body: Vec<u8>| s3.put_object().bucket(&bucket).key("k").body(body.into()).send();
    put(crate::harness::data(100_000, 1)).await.expect("put");
    let first = blob_files(&server.data);
    assert_eq!(first.len(), 1, "{first:?}");
    put(crate::harness::data(100_000, 2)).await.expect("overwrite");
    let second = blob_files(&server.data);
    assert_eq!(second.len(), 1, "the replaced body's file is gone once the overwrite is answered: {second:?}");
    assert_ne!(first, second);

    // A young unreferenced blob (as an interrupted write leaves) goes at the next start.
    server.kill();
    let stray = server.data.join("blobs").join("ab").join(format!("ab{}", "0".repeat(30)));
    std::fs::write(&stray, b"orphan").expect("write stray blob");
    let restarted = TestServer::restart(&server.data, &server.config());
    let got = restarted.client().get_object().bucket(&bucket).key("k").send().await.expect("get");
    let body = got.body.collect().await.expect("body").into_bytes();
    assert!(body.as_ref() == crate::harness::data(100_000, 2).as_slice(), "the current body reads back");
    assert!(!stray.exists(), "swept at start");
    assert_eq!(blob_files(&restarted.data), second);
}
