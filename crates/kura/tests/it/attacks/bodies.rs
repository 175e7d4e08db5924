//! Oversized request bodies (issue 12, item 12a): XML and policy bodies s3s reads whole are bounded, and
//! past the bound the client gets a 400 naming the limit, not a 500; nothing changes.

use crate::harness::{TestServer, bucket_name, code, status};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The server answers an oversized body from its headers alone and closes the connection without
/// reading the rest (the raw-socket test below pins that answer). A client still sending then either
/// reads the 400 or, depending on timing, sees the connection reset under it: both are the refusal.
fn refused_early<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match err {
        SdkError::DispatchFailure(f) => f.is_io(),
        _ => (status(err), code(err).as_str()) == (400, "MaxMessageLengthExceeded"),
    }
}

/// One byte more than kura reads whole (20 MiB).
const OVER: usize = 20 * 1024 * 1024 + 1;

#[tokio::test]
async fn an_oversized_delete_objects_body_is_refused_and_deletes_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("big-delete");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    s3.put_object().bucket(&bucket).key("keep").body(b"x".to_vec().into()).send().await.expect("put");
    // 21 000 identifiers of 1000-byte keys: more than 20 MiB of XML, "keep" among them.
    let long = "k".repeat(1000);
    let mut objects = vec![ObjectIdentifier::builder().key("keep").build().expect("id")];
    objects.extend((0..21_000).map(|i| ObjectIdentifier::builder().key(format!("{long}{i}")).build().expect("id")));
    let delete = Delete::builder().set_objects(Some(objects)).build().expect("delete");
    let err = s3.delete_objects().bucket(&bucket).delete(delete).send().await.expect_err("too big");
    assert!(refused_early(&err), "{err:?}");
    s3.head_object().bucket(&bucket).key("keep").send().await.expect("nothing was deleted");
}

#[tokio::test]
async fn an_oversized_bucket_policy_is_refused_and_changes_nothing() {
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("big-policy");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let policy = format!("{{\"Version\":\"2012-10-17\",\"Statement\":[],\"Pad\":\"{}\"}}", " ".repeat(OVER));
    let err = s3.put_bucket_policy().bucket(&bucket).policy(policy).send().await.expect_err("too big");
    assert!(refused_early(&err), "{err:?}");
    let err = s3.get_bucket_policy().bucket(&bucket).send().await.expect_err("no policy");
    assert_eq!(code(&err), "NoSuchBucketPolicy");
}

#[tokio::test]
async fn an_oversized_declared_length_is_refused_before_the_body_is_read() {
    let server = TestServer::start();
    let bucket = bucket_name("declared");
    server.client().create_bucket().bucket(&bucket).send().await.expect("create bucket");
    // Headers only: the answer must come without the server waiting for 20 MiB.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let head = format!("POST /{bucket}?delete HTTP/1.1\r\nHost: kura\r\nContent-Length: {OVER}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !got.windows(8).any(|w| w == b"</Error>") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read).await.expect("an answer within 10 s");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("<Code>MaxMessageLengthExceeded</Code>") && text.contains("20971520 bytes"), "{text}");
}

/// Over HTTP/2 a body needs no Content-Length (DATA frames follow the headers), so the declared length
/// cannot bound it: a whole-read body sent that way is refused before it is read (411
/// MissingContentLength, as for HTTP/1 chunked), never read to the limit and failed with a 500.
#[tokio::test]
async fn an_http2_body_without_a_length_is_refused_before_it_is_read() {
    use http_body_util::BodyExt;
    use hyper::body::Frame;
    let server = TestServer::start();
    let s3 = server.client();
    let bucket = bucket_name("h2-unsized");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let endpoint = server.endpoint();
    let path = format!("/{bucket}");
    let mut presign = kura_sigv4::PresignRequest::new(
        "PUT",
        &endpoint,
        &path,
        "us-east-1",
        crate::harness::ACCESS_KEY,
        crate::harness::SECRET_KEY,
        std::time::SystemTime::now(),
    );
    presign.query = &[("policy", "")];
    let url = kura_sigv4::presign_url(&presign).expect("presign PutBucketPolicy");
    let stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("HTTP/2 handshake (prior knowledge)");
    tokio::spawn(connection);
    // 21 MiB in 1 MiB DATA frames, with no Content-Length.
    let (frames, body) = http_body_util::channel::Channel::<bytes::Bytes>::new(2);
    let request = http::Request::builder().method("PUT").uri(url).body(body).expect("request");
    let feeding = tokio::spawn(async move {
        let mut frames = frames;
        for _ in 0..21 {
            if frames.send(Frame::data(bytes::Bytes::from(vec![b' '; 1 << 20]))).await.is_err() {
                return; // The server refused and reset the stream: the rest is never read.
            }
        }
    });
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status().as_u16(), 411);
    let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    assert_eq!(crate::harness::xml_code(&text), "MissingContentLength", "{text}");
    let err = s3.get_bucket_policy().bucket(&bucket).send().await.expect_err("no policy");
    assert_eq!(code(&err), "NoSuchBucketPolicy");
    feeding.abort();
}
