//! Upload tickets stay within what their issuer may do now (issue 12, item 7): an explicit Deny, a
//! disabled issuer or a policy change ends them at once, and one principal cannot mint them without
//! bound.

use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, post_form, wait_until};

const UPLOADER: (&str, &str) = ("uploader", "uploader-secret-0123456789");

fn config(uploader_enabled: bool) -> String {
    format!(
        r#"
server:
  max_tickets_per_principal: 3
users:
  - access_key: uploader
    secret_key: uploader-secret-0123456789
    enabled: {uploader_enabled}
    policies: [inbox-rw, no-secrets]
policies:
  inbox-rw:
    Statement:
      - Effect: Allow
        Action: ["s3:GetObject", "s3:PutObject"]
        Resource: ["arn:aws:s3:::inbox/*"]
  no-secrets:
    Statement:
      - Effect: Deny
        Action: "s3:PutObject"
        Resource: "arn:aws:s3:::inbox/up/secret*"
buckets:
  - name: inbox
"#
    )
}

fn ticket(server: &TestServer, args: &[&str]) -> Result<serde_json::Value, String> {
    let (ok, out, err) = server.cli(UPLOADER.0, UPLOADER.1, &[&["presign"], args, &["--ticket"]].concat());
    if !ok {
        return Err(err);
    }
    Ok(serde_json::from_str(&out).expect("ticket JSON"))
}

async fn exists(server: &TestServer, key: &str) -> bool {
    server.client().head_object().bucket("inbox").key(key).send().await.is_ok()
}

#[tokio::test]
async fn a_prefix_ticket_cannot_write_what_its_issuer_is_denied() {
    let server = TestServer::start_with_config(&config(true));
    let form = ticket(&server, &["post", "s3://inbox/up/"]).expect("post ticket");
    let (status, body) = post_form(&form, "up/secret.txt", b"data").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>") && body.contains("issuer"), "{body}");
    assert!(!exists(&server, "up/secret.txt").await, "nothing was written");
    let (status, body) = post_form(&form, "up/fine.txt", b"data").await;
    assert!((200..300).contains(&status), "{status}: {body}");
    assert!(exists(&server, "up/fine.txt").await);
}

#[tokio::test]
async fn a_disabled_issuer_ends_its_tickets() {
    let server = TestServer::start_with_config(&config(true));
    let put = ticket(&server, &["put", "s3://inbox/later.txt"]).expect("put ticket");
    let url = put["url"].as_str().expect("url").to_owned();
    let http = reqwest::Client::new();
    assert_eq!(http.put(&url).body("one").send().await.expect("put").status().as_u16(), 200);
    std::fs::write(server.config(), config(false)).expect("write config");
    server.hangup();
    let uploader = server.client_with(UPLOADER.0, UPLOADER.1);
    // The reload has happened when the uploader's own key is refused as unknown (a disabled user's is).
    wait_until(|| async {
        uploader.list_buckets().send().await.err().is_some_and(|e| crate::harness::code(&e) == "InvalidAccessKeyId")
    })
    .await;
    let resp = http.put(&url).body("two").send().await.expect("put");
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().await.expect("body");
    assert!(body.contains("<Code>AccessDenied</Code>") && body.contains("disabled"), "{body}");
    let got = server.client().get_object().bucket("inbox").key("later.txt").send().await.expect("get");
    assert_eq!(
        got.body.collect().await.expect("body").into_bytes().as_ref(),
        b"one",
        "the refused PUT changed nothing"
    );
}

/// Asked for all at once, tickets still stop at the cap: each request counts again once its ticket is
/// stored (counted only before, twelve concurrent requests for a cap of 3 got up to 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_asked_for_at_once_stop_at_the_cap() {
    let server = TestServer::start_with_config(&config(true));
    let server = &server;
    let issued: usize = std::thread::scope(|scope| {
        let askers: Vec<_> = (0..12)
            .map(|i| scope.spawn(move || ticket(server, &["put", &format!("s3://inbox/c{i}")]).is_ok()))
            .collect();
        askers.into_iter().map(|a| usize::from(a.join().expect("asker"))).sum()
    });
    assert_eq!(issued, 3, "tickets issued for a cap of 3");
    let (ok, out, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "presign", "list"]);
    assert!(ok, "{err}");
    let live = out.matches("\"KURT").count();
    assert_eq!(live, issued, "the tickets held are those answered: {out}");
}

#[tokio::test]
async fn tickets_per_principal_are_bounded() {
    let server = TestServer::start_with_config(&config(true));
    let mut ids = Vec::new();
    for i in 0..3 {
        let t = ticket(&server, &["put", &format!("s3://inbox/t{i}")]).expect("ticket");
        ids.push(t["id"].as_str().expect("id").to_owned());
    }
    let refused = ticket(&server, &["put", "s3://inbox/t3"]).expect_err("over the limit");
    assert!(refused.contains("XKuraTooManyTickets"), "{refused}");
    let (ok, _, err) = server.cli(ACCESS_KEY, SECRET_KEY, &["admin", "presign", "revoke", &ids[0]]);
    assert!(ok, "{err}");
    ticket(&server, &["put", "s3://inbox/t3"]).expect("room again after a revocation");
}

/// An upload ticket's size limit is checked against the declared length before a byte is stored: a
/// ticket upload without a length (`Transfer-Encoding: chunked`) is refused at once, before any of its
/// body is sent, never spooled to the disk first (up to 5 GiB) and refused afterwards.
#[tokio::test]
async fn a_ticket_upload_without_a_length_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = TestServer::start_with_config(&config(true));
    let put = ticket(&server, &["put", "s3://inbox/up/big.bin", "--max-size", "10"]).expect("put ticket");
    let url = put["url"].as_str().expect("url");
    let target = &url[url.find("/inbox/").expect("path")..];
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let head = format!("PUT {target} HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n", server.addr);
    // The head of a chunked upload whose body never comes: the answer must come without it.
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !String::from_utf8_lossy(&answer).contains("</Error>") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), read).await.expect("answered before the body ended");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(text.contains("<Code>AccessDenied</Code>") && text.contains("send Content-Length"), "{text}");
    assert!(!exists(&server, "up/big.bin").await, "nothing was written");
}
