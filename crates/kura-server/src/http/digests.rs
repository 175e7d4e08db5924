//! Bodies read whole (a bucket setting's XML or JSON, DeleteObjects, CompleteMultipartUpload…),
//! checked against the digests their requests declare (`Content-MD5`, `x-amz-checksum-*`; on
//! CompleteMultipartUpload the checksum headers are the object's, checked by the upload itself) before
//! s3s parses them: s3s verifies neither, and AWS does. A browser POST form streams like an upload and
//! is left alone too.
//!
//! The attack: a body changed in transit under an unsigned payload (`UNSIGNED-PAYLOAD` over plain
//! HTTP), whose signed `Content-MD5` says otherwise; without the check kura would delete the keys of
//! the changed DeleteObjects. And the cost of the check as an attack: a body is read here only for a
//! request whose SigV4 signature already verifies, only when it declares a digest and a length of at
//! most [`MAX_WHOLE_BODY`] (what s3s would read anyway), and never for an object upload, whose body
//! streams and is checked as it is stored (`s3::body`). aws-chunked bodies carry their checksums in
//! trailers, which s3s decodes: they are left to it.
//!
//! Whoever changes the body in transit cannot make the request skip the check and still run: the
//! method, query and `x-amz-*` headers are signed (the gate refuses unsigned `x-amz-*`); a removed or
//! raised `Content-Length` leaves s3s a body it refuses (`MissingContentLength`,
//! `MaxMessageLengthExceeded`); a form `Content-Type` makes a signed request a POST form with a second
//! signature, which the gate refuses.

use crate::base::limits::MAX_WHOLE_BODY;
use crate::errors;
use crate::s3::body::{ChecksumAlgo, check_declared_digests};
use http::Request;
use s3s::S3Result;

/// What [`checked`] checks of a request's body: its declared length, and whether its
/// `x-amz-checksum-*` headers are digests of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyCheck {
    len: u64,
    checksums_are_the_bodys: bool,
}

/// Whether a request is CompleteMultipartUpload (a POST naming an `uploadId`, the name decoded as s3s
/// routes by it), whose `x-amz-checksum-*` headers declare the object's checksum, not its XML body's.
fn completes_an_upload(method: &http::Method, uri: &http::Uri) -> bool {
    method == http::Method::POST && crate::authn::gate::Query::of(uri).has("uploadId")
}

/// What to check of the request's body here, if anything (see the module doc); the signature is the
/// caller's to verify first.
pub fn to_check(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> Option<BodyCheck> {
    let has_checksum = ChecksumAlgo::ALL.iter().any(|a| headers.contains_key(a.header()));
    if !headers.contains_key("content-md5") && !has_checksum {
        return None;
    }
    let len = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())?;
    let chunked =
        headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).is_some_and(|p| p.starts_with("STREAMING-"));
    if len > MAX_WHOLE_BODY as u64
        || chunked
        || super::spool::is_object_upload(method, uri, headers)
        || crate::authn::gate::is_post_form(method, headers)
    {
        return None;
    }
    let checksums_are_the_bodys = !completes_an_upload(method, uri);
    (headers.contains_key("content-md5") || checksums_are_the_bodys)
        .then_some(BodyCheck { len, checksums_are_the_bodys })
}

/// Reads the request's body whole and checks it against the digests its headers declare; the
/// request goes on with the body it came with.
///
/// # Errors
/// `InvalidDigest`, `BadDigest`, `InvalidRequest` for a digest header sent twice (see
/// [`check_declared_digests`]); `IncompleteBody` for a body shorter than its `Content-Length` or cut
/// off.
pub async fn checked(mut req: Request<s3s::Body>, check: BodyCheck) -> S3Result<Request<s3s::Body>> {
    let body = req.body_mut().store_all_limited(MAX_WHOLE_BODY).await.map_err(|_| {
        errors::incomplete_body("The body ended before the number of bytes its Content-Length declares.")
    })?;
    if body.len() as u64 != check.len {
        return Err(errors::incomplete_body(
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        ));
    }
    check_declared_digests(req.headers(), &body, check.checksums_are_the_bodys)?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wants(method: &str, target: &str, pairs: &[(&str, &str)]) -> bool {
        let mut headers = http::HeaderMap::new();
        for (name, value) in pairs {
            headers.append(http::HeaderName::from_bytes(name.as_bytes()).expect("name"), value.parse().expect("value"));
        }
        let method = http::Method::from_bytes(method.as_bytes()).expect("method");
        to_check(&method, &target.parse().expect("uri"), &headers).is_some()
    }

    #[test]
    fn only_whole_bodies_that_declare_a_digest_are_read_here() {
        let md5 = ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==");
        let crc = ("x-amz-checksum-crc32", "AAAAAA==");
        let len = ("content-length", "100");
        // Bodies s3s reads whole, with a digest of the body.
        assert!(wants("POST", "/b?delete", &[md5, len]));
        assert!(wants("POST", "/b?delete", &[crc, len]));
        assert!(wants("PUT", "/b?tagging", &[crc, len]));
        assert!(wants("PUT", "/b/k?tagging", &[md5, len]));
        assert!(wants("POST", "/b/k?uploadId=u", &[md5, len]));
        // CompleteMultipartUpload's checksum headers are the object's.
        assert!(!wants("POST", "/b/k?uploadId=u", &[crc, len]));
        // No digest, no length, too long, or aws-chunked.
        assert!(!wants("POST", "/b?delete", &[len]));
        assert!(!wants("POST", "/b?delete", &[md5]));
        assert!(!wants("POST", "/b?delete", &[md5, ("content-length", "20971521")]));
        assert!(!wants(
            "POST",
            "/b?delete",
            &[md5, len, ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")]
        ));
        // Object uploads and POST forms stream; s3::body checks them as they are stored.
        assert!(!wants("PUT", "/b/k", &[md5, len]));
        assert!(!wants("PUT", "/b/k?partNumber=1&uploadId=u", &[crc, len]));
        assert!(!wants("POST", "/b", &[md5, len, ("content-type", "multipart/form-data; boundary=x")]));
        // Parameter names are read as s3s routes by them: percent-encoded names are the same names.
        assert!(!wants("POST", "/b/k?upload%49d=u", &[crc, len]), "CompleteMultipartUpload, encoded");
        assert!(wants("PUT", "/b/k?%74agging", &[md5, len]), "PutObjectTagging, encoded");
        assert!(!wants("PUT", "/b/k?part%4Eumber=1&uploadId=u", &[crc, len]), "UploadPart, encoded");
    }
}
