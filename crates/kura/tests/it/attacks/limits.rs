//! Denial of service through bodies (the DoS review): a body dribbled slowly enough to dodge the idle
//! timeout must not hold its connection (and a slot of `max_connections`) for ever, and an aws-chunked
//! chunk must not make kura hold gigabytes before it is checked. Raw sockets (and, for the chunks the
//! SDKs send, aws-sdk-rust).

use super::absent;
use super::connections::probe;
use crate::harness::{ACCESS_KEY, SECRET_KEY, TestServer, bucket_name, xml_code};
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

/// The head of a PutObject of `bucket/key` with an aws-chunked body (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`,
/// as the SDKs send over TLS), header-signed by root; `encoded` is its Content-Length, `decoded` the
/// object's.
fn chunked_put_head(server: &TestServer, bucket: &str, key: &str, encoded: u64, decoded: u64) -> String {
    use kura_sigv4::{CanonicalRequest, Scope, canonical_request, derive_key, format_amz_date, signature};
    const PAYLOAD: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
    let host = server.endpoint().trim_start_matches("http://").to_owned();
    let amz_date = format_amz_date(std::time::SystemTime::now());
    let scope = Scope::new(&amz_date[..8], "us-east-1", "s3");
    let decoded = decoded.to_string();
    let headers: Vec<(&str, &str)> = vec![
        ("content-encoding", "aws-chunked"),
        ("host", &host),
        ("x-amz-content-sha256", PAYLOAD),
        ("x-amz-date", &amz_date),
        ("x-amz-decoded-content-length", &decoded),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ];
    let path = format!("/{bucket}/{key}");
    let creq = CanonicalRequest { method: "PUT", path: &path, query: "", headers: &headers, payload_hash: PAYLOAD };
    let signing_key = derive_key(SECRET_KEY, &scope.date, &scope.region, &scope.service);
    let sig = signature(&signing_key, &kura_sigv4::string_to_sign(&amz_date, &scope, &canonical_request(&creq)));
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={}, \
         Signature={sig}\r\nContent-Length: {encoded}\r\n",
        creq.signed_headers()
    );
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Reads one HTTP answer with an XML body from `stream` (or what came before it closed); panics if
/// none comes within 10 s.
async fn answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let ended = |end: &[u8]| got.windows(end.len()).any(|w| w == end);
            if ended(b"</Error>") || (got.starts_with(b"HTTP/1.1 200") && ended(b"\r\n\r\n")) {
                break;
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("an answer within 10 s");
    String::from_utf8_lossy(&got).into_owned()
}

/// s3s holds an aws-chunked chunk whole before it checks and yields it, and took any size up to 4 GiB:
/// a PutObject whose one chunk declared 512 MiB raised the server's RSS by 512 MiB. Now the chunk's
/// header alone is answered: 400 InvalidRequest naming the size, nothing stored, before the chunk's
/// data is sent (before the fix the server waited for all 512 MiB and never answered).
#[tokio::test]
async fn an_oversized_aws_chunk_is_refused_from_its_header() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("big-chunk");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    const DECLARED: u64 = 512 << 20;
    let chunk_header = format!("{DECLARED:x}\r\n");
    let encoded = chunk_header.len() as u64 + DECLARED + 2 + 3 + 40;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(chunked_put_head(&server, &bucket, "big", encoded, DECLARED).as_bytes()).await.expect("head");
    stream.write_all(chunk_header.as_bytes()).await.expect("chunk header");
    stream.write_all(&[b'x'; 4096]).await.expect("the chunk's first bytes");
    let text = answer(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(xml_code(&text), "InvalidRequest", "{text}");
    assert!(text.contains("536870912 bytes"), "{text}");
    absent(&server, &bucket, "big").await;

    // The framing the SDKs send still goes through, to the byte: a raw one-chunk body with a trailer,
    // and aws-sdk-rust's own (64 KiB chunks, uppercase hex) from a file.
    let body = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let head = chunked_put_head(&server, &bucket, "small", body.len() as u64, 5);
    stream.write_all(format!("{head}{body}").as_bytes()).await.expect("request");
    let text = answer(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let got = s3.get_object().bucket(&bucket).key("small").send().await.expect("stored");
    assert_eq!(&got.body.collect().await.expect("body").into_bytes()[..], b"hello");
    let data = crate::harness::data(1 << 20, 7);
    let file = server.scratch("upload");
    std::fs::write(&file, &data).expect("write");
    let stream_body = aws_sdk_s3::primitives::ByteStream::from_path(&file).await.expect("file");
    s3.put_object().bucket(&bucket).key("sdk").body(stream_body).send().await.expect("aws-sdk-rust streaming put");
    let got = s3.get_object().bucket(&bucket).key("sdk").send().await.expect("stored");
    assert!(got.body.collect().await.expect("body").into_bytes()[..] == data[..], "the same bytes");
}
