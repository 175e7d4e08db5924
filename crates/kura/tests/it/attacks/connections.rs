//! Connection exhaustion (issue 12, item 9): connections that never finish their headers, that sit idle,
//! or that are simply too many must not keep the server's descriptors. Raw sockets, no client library.

use crate::harness::TestServer;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROBE: &[u8] = b"GET /kura/health/live HTTP/1.1\r\nHost: kura\r\n\r\n";

/// Sends a liveness probe on `stream` (keep-alive) and returns the response, or `None` when the server
/// closed the connection instead of answering.
pub(super) async fn probe(stream: &mut TcpStream) -> Option<String> {
    stream.write_all(PROBE).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.ends_with(b"live\n") {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("an answer or a close within 10 s")
}

/// Waits (at most `limit`) for the server to close `stream`; answers how long that took. Panics if the
/// server sends anything or keeps the connection open past `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => started.elapsed(),
        Ok(Ok(n)) => panic!("unexpected data: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => panic!("the server kept the connection open for {limit:?}"),
    }
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let server = TestServer::start_with_config("server:\n  limits:\n    header_read_timeout_secs: 2\n");
    // Half a header line, then nothing.
    let mut half = TcpStream::connect(server.addr).await.expect("connect");
    half.write_all(b"GET /kura/health/live HTTP/1.1\r\nHo").await.expect("write");
    // Nothing at all.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let waited = closed_within(&mut half, Duration::from_secs(10)).await;
    assert!(waited >= Duration::from_millis(1800), "closed after {waited:?}, before the timeout");
    closed_within(&mut silent, Duration::from_secs(10)).await;
    // A second request on a kept-alive connection has the same deadline from its first byte.
    let mut kept = TcpStream::connect(server.addr).await.expect("connect");
    assert!(probe(&mut kept).await.is_some());
    kept.write_all(b"GET /kura/health/live HTTP/1.1\r\n").await.expect("write");
    closed_within(&mut kept, Duration::from_secs(10)).await;
    // The server still serves.
    let mut fresh = TcpStream::connect(server.addr).await.expect("connect");
    assert!(probe(&mut fresh).await.expect("answer").starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    // The header timeout stays at its default (30 s): the close below is the idle timeout's.
    let server = TestServer::start_with_config("server:\n  limits:\n    idle_timeout_secs: 1\n");
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    assert!(probe(&mut stream).await.expect("answer").starts_with("HTTP/1.1 200"));
    let waited = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(waited >= Duration::from_millis(800), "closed after {waited:?}, before the timeout");
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_until_others_close() {
    let server = TestServer::start_with_config("server:\n  limits:\n    max_connections: 3\n");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        assert!(probe(&mut stream).await.expect("answer").starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let mut over = TcpStream::connect(server.addr).await.expect("the kernel accepts the handshake");
    assert_eq!(probe(&mut over).await, None, "a fourth connection was served");
    // The held connections still work.
    for stream in &mut held {
        assert!(probe(stream).await.is_some());
    }
    drop(held);
    // Once the server has seen them close, a new connection is served.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        if let Some(answer) = probe(&mut stream).await {
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "no connection served 10 s after the others closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
