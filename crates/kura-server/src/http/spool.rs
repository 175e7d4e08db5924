//! Object uploads that come without a length: a PUT sent with HTTP/1.1 `Transfer-Encoding: chunked`
//! (or HTTP/2 without `Content-Length`) and signed `UNSIGNED-PAYLOAD` or with one SHA-256 of the body
//! (what `curl -T -`, Go's and Java's streaming clients send). s3s checks such a body only against a
//! known length, so the dispatch first writes it to an unnamed temporary file beside the blobs and
//! hands s3s the file with its now-known length (and a `Content-Length` header saying it).
//!
//! The attack: a client that streams an endless body to fill the disk. So a body is spooled only
//! for a request whose SigV4 signature already verifies (the caller holds a key; the body's own
//! hash is still checked by s3s) and whose signer may write the object (`s3:PutObject`, decided
//! before the first byte is read: a read-only key must not fill the disk), only for the object uploads (PutObject, UploadPart: a PUT to
//! `/bucket/key` with no subresource in the query), never for an upload ticket (its size limit is
//! checked against the declared length before a byte is stored), and never past [`MAX_SPOOL`], the
//! largest object a single PUT may create on S3. Anything else keeps s3s's answer:
//! `MissingContentLength` (411).

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use std::io::SeekFrom;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

pub use crate::base::limits::{MAX_SPOOL, SpoolError};

/// Whether a request is an object upload (PutObject, UploadPart), whose body streams into the store
/// rather than being read whole: a PUT to an object's path (`/bucket/key`; a PUT to `/bucket` is
/// CreateBucket, whose body is read whole) without `x-amz-copy-source` and with no subresource query
/// (a `partNumber` + `uploadId` part, the presigned URL's own parameters and an SDK's `x-id`
/// excepted). Path and parameter names are read decoded, as s3s routes by them.
pub fn is_object_upload(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    if method != http::Method::PUT || headers.contains_key("x-amz-copy-source") || !names_an_object(uri) {
        return false;
    }
    let upload_parameter =
        |name: &str| matches!(name, "partNumber" | "uploadId" | "x-id") || name.starts_with("X-Amz-");
    crate::authn::gate::Query::of(uri).names().all(upload_parameter)
}

/// Whether the path names an object, `/bucket/key` with a non-empty key, read as s3s reads a
/// path-style request: percent-decoded first (`/b%2Fk` is `/b/k`), then split at the first `/`.
fn names_an_object(uri: &http::Uri) -> bool {
    object_of(uri).is_some()
}

/// The bucket and key a path-style object path names, read as s3s reads it (percent-decoded first,
/// then split at the first `/`); `None` for any other path.
pub fn object_of(uri: &http::Uri) -> Option<(String, String)> {
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8().ok()?;
    let (bucket, key) = path.strip_prefix('/')?.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// Whether a request is an object upload whose body s3s can only take with a length: an
/// [object upload](is_object_upload) whose payload is `UNSIGNED-PAYLOAD` or a SHA-256 (not
/// aws-chunked, which declares its decoded length).
pub fn is_unsized_upload(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    let payload = headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok());
    let payload_ok =
        payload.is_none_or(|p| p == "UNSIGNED-PAYLOAD" || (p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit())));
    is_object_upload(method, uri, headers) && payload_ok
}

/// Writes `body` to an unnamed temporary file in `dir` (removed when the returned body drops) and
/// returns it as a body of known length.
pub async fn spool<B>(body: B, dir: &Path) -> Result<(Spooled, u64), SpoolError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut body = body;
    let file = tempfile::tempfile_in(dir)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| SpoolError::Client(e.to_string()))?;
        // Trailers of a chunked body carry nothing an unsigned or single-hash payload uses.
        let Ok(data) = frame.into_data() else { continue };
        len = len.saturating_add(data.len() as u64);
        if len > MAX_SPOOL {
            return Err(SpoolError::TooLarge { max: MAX_SPOOL });
        }
        file.write_all(&data).await?;
    }
    file.flush().await?;
    file.seek(SeekFrom::Start(0)).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    Ok((Spooled { stream, remaining: len }, len))
}

/// A spooled body: the temporary file read back, with its exact length as the size hint.
pub struct Spooled {
    stream: tokio_util::io::ReaderStream<tokio::fs::File>,
    remaining: u64,
}

impl http_body::Body for Spooled {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        use futures::Stream as _;
        match Pin::new(&mut self.stream).poll_next(cx) {
            Poll::Ready(Some(Ok(data))) => {
                self.remaining = self.remaining.saturating_sub(data.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(payload: Option<&'static str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Some(p) = payload {
            h.insert("x-amz-content-sha256", http::HeaderValue::from_static(p));
        }
        h
    }

    #[test]
    fn only_object_uploads_with_a_plain_payload_are_spooled() {
        let put = http::Method::PUT;
        let unsigned = headers(Some("UNSIGNED-PAYLOAD"));
        let uri = |u: &str| u.parse::<http::Uri>().expect("uri");
        assert!(is_unsized_upload(&put, &uri("/b/k"), &unsigned));
        assert!(is_unsized_upload(&put, &uri("/b/k?x-id=PutObject"), &unsigned));
        assert!(is_unsized_upload(&put, &uri("/b/k?partNumber=2&uploadId=u"), &unsigned));
        assert!(is_unsized_upload(&put, &uri("/b/k?X-Amz-Signature=s&X-Amz-Date=d"), &headers(None)));
        let sha = headers(Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        assert!(is_unsized_upload(&put, &uri("/b/k"), &sha));
        // Not a body s3s needs a length for, or not an object upload.
        assert!(!is_unsized_upload(&put, &uri("/b/k"), &headers(Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"))));
        assert!(!is_unsized_upload(&put, &uri("/b?policy"), &unsigned));
        // A PUT to a bucket is CreateBucket, however the path is spelled; an encoded `/` still names an object.
        for bucket in ["/b", "/b/", "/", "//k", "/b?x-id=CreateBucket", "/%62/"] {
            assert!(!is_object_upload(&put, &uri(bucket), &unsigned), "{bucket}");
        }
        assert!(is_object_upload(&put, &uri("/b%2Fk"), &unsigned));
        assert!(is_object_upload(&put, &uri("/b/k/"), &unsigned));
        assert!(is_object_upload(&put, &uri("/b//"), &unsigned), "s3s reads the key `/`");
        assert!(!is_unsized_upload(&put, &uri("/b/k?tagging"), &unsigned));
        assert!(!is_unsized_upload(&http::Method::POST, &uri("/b/k"), &unsigned));
        let mut copy = unsigned.clone();
        copy.insert("x-amz-copy-source", http::HeaderValue::from_static("/b/o"));
        assert!(!is_unsized_upload(&put, &uri("/b/k"), &copy));
    }

    #[tokio::test]
    async fn a_spooled_body_reads_back_whole_with_its_length() {
        let dir = tempfile::tempdir().expect("dir");
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> =
            (0..5u8).map(|i| Ok(Frame::data(Bytes::from(vec![i; 100_000])))).collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
        let (spooled, len) = spool(body, dir.path()).await.expect("spool");
        assert_eq!(len, 500_000);
        assert_eq!(http_body::Body::size_hint(&spooled).exact(), Some(500_000));
        let bytes = spooled.collect().await.expect("read back").to_bytes();
        let expected: Vec<u8> = (0..5u8).flat_map(|i| vec![i; 100_000]).collect();
        assert_eq!(bytes.as_ref(), expected.as_slice());
        // Nothing is left in the directory: the file has no name.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
