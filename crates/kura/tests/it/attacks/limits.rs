//! Denial of service through bodies (the DoS review): a body dribbled slowly enough to dodge the idle
//! timeout must not hold its connection (and a slot of `max_connections`) for ever. Raw sockets.

use super::absent;
use super::connections::probe;
use crate::harness::{TestServer, bucket_name};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The reviewer's reproduction, scaled down: with header 2 s / idle 5 s, anonymous POST forms whose
/// body comes one byte every 3 s (never idle 5 s) took every slot and were never closed. Now each is
/// closed after a window of 5 s of waiting with fewer than 5 × 500 bytes, without an answer, and a
/// legitimate client is served again; nothing is stored.
#[tokio::test]
async fn a_body_dribbled_slowly_is_closed_and_its_slot_freed() {
    const SLOTS: usize = 3;
    let server = TestServer::start_with_config(&format!(
        "server:\n  limits:\n    header_read_timeout_secs: 2\n    idle_timeout_secs: 5\n    max_connections: {SLOTS}\n"
    ));
    let bucket = bucket_name("dribble");
    server.client().create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let form = "--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\ndribbled\r\n--b\r\n\
                Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n";
    let head = format!(
        "POST /{bucket} HTTP/1.1\r\nHost: kura\r\nContent-Type: multipart/form-data; boundary=b\r\n\
         Content-Length: 1000000\r\n\r\n"
    );
    let started = Instant::now();
    let mut dribblers = Vec::new();
    for _ in 0..SLOTS {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("headers");
        dribblers.push(tokio::spawn(dribble(stream, form.as_bytes().to_vec())));
    }
    // Every slot is taken: a legitimate client is refused.
    let mut legit = TcpStream::connect(server.addr).await.expect("the kernel accepts the handshake");
    assert_eq!(probe(&mut legit).await, None, "a connection over the cap was served");
    // Each dribbler is closed, without an answer, after one window of waiting (5 s, seen within the
    // watchdog's nap of 2 s): not at the header timeout (its headers were complete), and not never
    // (before the fix each was still open when `dribble` gave up at 30 s).
    for dribbler in dribblers {
        let held = dribbler.await.expect("dribbler");
        assert!(held >= Duration::from_millis(4500) && held <= Duration::from_secs(12), "closed after {held:?}");
    }
    // The slots are free again: a legitimate client is served.
    let mut fresh = TcpStream::connect(server.addr).await.expect("connect");
    assert!(probe(&mut fresh).await.expect("served").starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(20));
    absent(&server, &bucket, "dribbled").await;
}

/// Sends `body` on `stream` one byte every 3 s (the attacker's pace, under the idle timeout) until the
/// server closes the connection; answers how long it stayed open. Panics if the server answers
/// anything, or keeps the connection open for 30 s.
async fn dribble(mut stream: TcpStream, body: Vec<u8>) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 512];
    for byte in body.iter().cycle() {
        if stream.write_all(&[*byte]).await.is_err() {
            return started.elapsed();
        }
        match tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(n)) => panic!("unexpected answer: {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(_) => assert!(started.elapsed() < Duration::from_secs(30), "still open after 30 s"),
        }
    }
    unreachable!("the body cycles for ever")
}
