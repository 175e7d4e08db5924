//! Browser POST uploads: AWS replaces `${filename}` in the form's `key` with the uploaded file's name.
//! s3s parses the form but keeps the file name to itself, so the dispatcher reads it here from the start
//! of the body (the form's fields, then the file part's headers, come before any file data), hands the
//! body on unchanged, and leaves the name in the request's extensions for PutObject.

use bytes::Bytes;
use futures::StreamExt as _;
use http_body::Frame;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

/// How far into the body the file part's headers are looked for.
const PEEK_LIMIT: usize = 64 * 1024;

/// The uploaded file's name (without any directory part), for `${filename}` in the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFileName(pub String);

/// Whether a request is a browser POST upload (`POST /BUCKET` with a multipart form).
pub fn is_post_upload(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    let path = uri.path().trim_start_matches('/');
    method == http::Method::POST
        && !path.is_empty()
        && !path.trim_end_matches('/').contains('/')
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Reads the start of the body until the `file` part's name is known (or [`PEEK_LIMIT`] bytes), and
/// returns the name and a body that replays what was read, then the rest.
pub async fn peek_file_name(mut body: Incoming) -> (Option<UploadFileName>, s3s::Body) {
    let mut seen: Vec<Bytes> = Vec::new();
    let mut buffer = Vec::new();
    let mut name = None;
    let mut failed = None;
    while buffer.len() < PEEK_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                    seen.push(data);
                    if let Some(found) = file_name(&buffer) {
                        name = Some(UploadFileName(found));
                        break;
                    }
                }
            }
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => break,
        }
    }
    let replay = futures::stream::iter(seen.into_iter().map(|b| Ok::<_, hyper::Error>(Frame::data(b))));
    let body = match failed {
        // The client's body broke: pass the error on so s3s answers it.
        Some(e) => s3s::Body::http_body_unsync(http_body_util::StreamBody::new(
            replay.chain(futures::stream::once(async move { Err(e) })),
        )),
        None => s3s::Body::http_body_unsync(http_body_util::StreamBody::new(
            replay.chain(http_body_util::BodyStream::new(body)),
        )),
    };
    (name, body)
}

/// The `filename` of the part named `file` in the multipart text seen so far.
fn file_name(buffer: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(buffer);
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("content-disposition:") {
        let start = from + at;
        let line_end = lower[start..].find("\r\n").map(|e| start + e)?;
        let line = &text[start..line_end];
        let line_lower = &lower[start..line_end];
        if line_lower.contains("name=\"file\"") {
            let at = line_lower.find("filename=\"")? + "filename=\"".len();
            let value = &line[at..];
            let value = &value[..value.find('"')?];
            let base = value.rsplit(['/', '\\']).next().unwrap_or(value);
            return (!base.is_empty() && base.len() <= 1024).then(|| base.to_owned());
        }
        from = line_end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_part_name_is_found_and_stripped_of_directories() {
        let form = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/${filename}\r\n--b\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"C:\\\\Users\\\\me\\\\photo.png\"\r\n\
            Content-Type: image/png\r\n\r\nDATA";
        assert_eq!(file_name(form).as_deref(), Some("photo.png"));
        let unfinished = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt";
        assert_eq!(file_name(unfinished), None);
        let no_file = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n";
        assert_eq!(file_name(no_file), None);
    }

    #[test]
    fn only_bucket_posts_with_forms_are_uploads() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, "multipart/form-data; boundary=x".parse().expect("hv"));
        let post = http::Method::POST;
        assert!(is_post_upload(&post, &"/bucket".parse().expect("uri"), &h));
        assert!(!is_post_upload(&post, &"/bucket/key".parse().expect("uri"), &h));
        assert!(!is_post_upload(&http::Method::PUT, &"/bucket".parse().expect("uri"), &h));
        assert!(!is_post_upload(&post, &"/bucket".parse().expect("uri"), &http::HeaderMap::new()));
    }
}
