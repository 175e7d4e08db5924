//! Browser POST uploads: AWS replaces `${filename}` in the form's `key` with the uploaded file's name,
//! before the policy is checked (so `["starts-with", "$key", "uploads/"]` sees the real key). s3s parses
//! the form but keeps the file name to itself, so the dispatcher reads the start of the body here (the
//! form's fields, then the file part's headers, come before any file data), rewrites the `key` field,
//! and hands the body on with its `Content-Length` adjusted.

use super::RequestBody;
use bytes::Bytes;
use futures::StreamExt as _;
use http_body::Frame;
use http_body_util::BodyExt as _;

/// How far into the body the file part's headers are looked for: the most a form's fields before its
/// file may take (AWS allows 20 KB; kura is more generous, and refuses more with AWS's
/// `MaxPostPreDataLengthExceededError`, since s3s reads the fields by parsing its whole buffer again
/// for each frame that arrives: a quadratic cost a client sending small frames controls).
const PEEK_LIMIT: usize = 64 * 1024;

/// Whether a request is a browser POST upload (`POST /BUCKET` with a multipart form).
pub fn is_post_upload(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    // The same reading of Content-Type as the gate's (and s3s's): one answer to "is this a form".
    let path = uri.path().trim_start_matches('/');
    !path.is_empty() && !path.trim_end_matches('/').contains('/') && crate::authn::gate::is_post_form(method, headers)
}

/// A form's body after [`substitute_file_name`], and what its fields showed.
pub struct Form {
    /// The body: what was read, changed, then the rest.
    pub body: s3s::Body,
    /// The change in length.
    pub delta: i64,
    /// What the fields before the file part say of the form's signature; `None` when the file part's
    /// headers were not reached (a body that ended, or broke, before them).
    pub signature: Option<FormSignature>,
    /// The fields before the file part took more than [`PEEK_LIMIT`] bytes, and the body goes on.
    pub fields_too_long: bool,
    /// An encryption field the form's policy does not cover ([`uncovered_sse_field`]).
    pub uncovered_sse: Option<String>,
}

/// Whether a form's fields (those before its file, the only ones AWS reads) carry a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormSignature {
    /// A `signature` (SigV2) or `x-amz-signature` (SigV4) field: s3s verifies it.
    Signed,
    /// A `policy` but no signature: AWS refuses such a form (400) before it reads its policy; s3s
    /// would take it as anonymous.
    PolicyUnsigned,
    /// Neither: an anonymous upload, which a bucket policy must allow.
    Anonymous,
}

/// Reads the start of the body until the `file` part's headers are complete (or [`PEEK_LIMIT`]
/// bytes), puts the file's name in place of `${filename}` in the `key` field, and returns the body (what
/// was read, then the rest) with the change in length it brought and what the fields showed.
pub async fn substitute_file_name(mut body: RequestBody) -> Form {
    let mut buffer = Vec::new();
    let mut failed = None;
    let mut ended = false;
    let mut seen = false;
    let mut scan = FilePartScan::default();
    while buffer.len() < PEEK_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                    if scan.found(&buffer) {
                        seen = true;
                        break;
                    }
                }
            }
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    // Too long: the file part starts past the limit (a large frame carried it in), or it had not
    // started by then and the body goes on.
    let file_starts_late = file_part(&buffer).is_some_and(|d| d.end > PEEK_LIMIT);
    let fields_too_long = file_starts_late || (!seen && !ended && failed.is_none());
    let signature = seen.then(|| {
        let fields = field_names(&buffer);
        let has = |wanted: &[&str]| fields.iter().any(|f| wanted.contains(&f.as_str()));
        match (has(&["signature", "x-amz-signature"]), has(&["policy"])) {
            (true, _) => FormSignature::Signed,
            (false, true) => FormSignature::PolicyUnsigned,
            (false, false) => FormSignature::Anonymous,
        }
    });
    let uncovered_sse = if seen { uncovered_sse_field(&buffer) } else { None };
    let before = buffer.len();
    if let Some(name) = file_name(&buffer) {
        buffer = with_key_substituted(buffer, &name);
    }
    let delta = i64::try_from(buffer.len()).unwrap_or(0) - i64::try_from(before).unwrap_or(0);
    let replay = futures::stream::once(async move { Ok::<_, hyper::Error>(Frame::data(Bytes::from(buffer))) });
    let body = match failed {
        // The client's body broke: pass the error on so s3s answers it.
        Some(e) => s3s::Body::http_body_unsync(http_body_util::StreamBody::new(
            replay.chain(futures::stream::once(async move { Err(e) })),
        )),
        None => s3s::Body::http_body_unsync(http_body_util::StreamBody::new(
            replay.chain(http_body_util::BodyStream::new(body)),
        )),
    };
    Form { body, delta, signature, fields_too_long, uncovered_sse }
}

/// Looks for the `file` part's `Content-Disposition` line as a body arrives, frame by frame, reading
/// each byte a bounded number of times: a form sent a byte per frame must not cost a scan of the whole
/// buffer per byte (quadratic in what the client sends). It reads the lines as [`dispositions`] does.
#[derive(Default)]
struct FilePartScan {
    /// Where to look for the next `Content-Disposition:`.
    from: usize,
    /// The start of a disposition line whose end has not arrived, and where to look for that end.
    open: Option<(usize, usize)>,
}

impl FilePartScan {
    /// Whether the bytes of `buffer` (the previous call's, then more) hold the whole disposition line
    /// of the part named `file`.
    fn found(&mut self, buffer: &[u8]) -> bool {
        loop {
            let (start, eol_from) = match self.open {
                Some(open) => open,
                None => {
                    let Some(start) = find_header(buffer, self.from) else {
                        // The header's start may be at the end, cut: look again from there.
                        self.from = buffer.len().saturating_sub(DISPOSITION.len() - 1).max(self.from);
                        return false;
                    };
                    (start, start)
                }
            };
            let Some(end) = find(buffer, b"\r\n", eol_from) else {
                self.open = Some((start, buffer.len().saturating_sub(1).max(eol_from)));
                return false;
            };
            self.open = None;
            self.from = end;
            if disposition(buffer, start, end).param("name").is_some_and(|n| n.eq_ignore_ascii_case(b"file")) {
                return true;
            }
        }
    }
}

/// The name of the header that carries a part's name (compared without case).
const DISPOSITION: &[u8] = b"content-disposition:";

/// Where the next `Content-Disposition:` starts in `buffer`, from `from`.
fn find_header(buffer: &[u8], from: usize) -> Option<usize> {
    Some(from + buffer.get(from..)?.windows(DISPOSITION.len()).position(|w| w.eq_ignore_ascii_case(DISPOSITION))?)
}

/// The disposition line that starts at `start` (its header name) and ends at `end` (its `\r\n`).
fn disposition(buffer: &[u8], start: usize, end: usize) -> Disposition<'_> {
    let value = &buffer[start + DISPOSITION.len()..end];
    // The disposition type (`form-data`) comes first; the parameters follow its `;`.
    let params = value.iter().position(|&c| c == b';').map_or(&value[value.len()..], |at| &value[at + 1..]);
    Disposition { params, end }
}

/// The names (lower case) of the form's parts before its `file` part, as far as the text goes.
fn field_names(buffer: &[u8]) -> Vec<String> {
    dispositions(buffer)
        .map(|d| d.param("name").map(|n| String::from_utf8_lossy(n).to_ascii_lowercase()).unwrap_or_default())
        .take_while(|name| name != "file")
        .filter(|name| !name.is_empty())
        .collect()
}

/// One part's `Content-Disposition` header line: where it ends in the buffer, and its parameters.
struct Disposition<'a> {
    /// The parameters after `form-data` (the header's value up to the line's end).
    params: &'a [u8],
    /// Where the line ends (its `\r\n`) in the buffer.
    end: usize,
}

impl<'a> Disposition<'a> {
    /// The value of parameter `wanted` (`name`, `filename`; compared without case, whole names only, so
    /// `filename` is never read as `name`), unquoted. A `;` inside quotes belongs to the value. The first
    /// of repeated parameters counts.
    fn param(&self, wanted: &str) -> Option<&'a [u8]> {
        let mut rest = self.params;
        while !rest.is_empty() {
            // One parameter: up to the next `;` outside quotes.
            let mut quoted = false;
            let end = rest
                .iter()
                .position(|&c| {
                    if c == b'"' {
                        quoted = !quoted;
                    }
                    c == b';' && !quoted
                })
                .unwrap_or(rest.len());
            let (param, next) = (&rest[..end], rest.get(end + 1..).unwrap_or_default());
            rest = next;
            let Some(eq) = param.iter().position(|&c| c == b'=') else { continue };
            if !param[..eq].trim_ascii().eq_ignore_ascii_case(wanted.as_bytes()) {
                continue;
            }
            let value = param[eq + 1..].trim_ascii();
            return match value.strip_prefix(b"\"") {
                // A quoted value ends at its closing quote (none: the line is not whole, no value).
                Some(inner) => inner.iter().position(|&c| c == b'"').map(|q| &inner[..q]),
                None => Some(value),
            };
        }
        None
    }
}

/// The form's parts' `Content-Disposition` header lines, in order, as far as they are complete in
/// `buffer` (a line without its `\r\n` yet is not one).
fn dispositions(buffer: &[u8]) -> impl Iterator<Item = Disposition<'_>> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = find_header(buffer, from)?;
        let end = find(buffer, b"\r\n", start)?;
        from = end;
        Some(disposition(buffer, start, end))
    })
}

/// The multipart text with `${filename}` in the `key` field's value replaced by `name` (unchanged
/// when there is no `key` field or no `${filename}` in it). Public for the fuzz targets.
pub fn with_key_substituted(buffer: Vec<u8>, name: &str) -> Vec<u8> {
    const VAR: &[u8] = b"${filename}";
    let Some(value) = field_value(&buffer, "key") else { return buffer };
    let Some(at) = find(&buffer[..value.end], VAR, value.start) else { return buffer };
    let mut out = Vec::with_capacity(buffer.len() + name.len());
    out.extend_from_slice(&buffer[..at]);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&buffer[at + VAR.len()..]);
    out
}

/// Where the value of the first part named `name` (compared without case) lies in `buffer`, once it
/// has arrived whole.
fn field_value(buffer: &[u8], name: &str) -> Option<std::ops::Range<usize>> {
    let field =
        dispositions(buffer).find(|d| d.param("name").is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes())))?;
    let start = find(buffer, b"\r\n\r\n", field.end)? + 4;
    let end = find(buffer, b"\r\n--", start)?;
    Some(start..end)
}

/// The first `x-amz-server-side-encryption*` field of a signed form (before its file) that no condition of
/// its policy names. s3s lets such fields through uncovered (a MinIO habit), so whoever holds a form
/// would choose the object's encryption (an SSE-C key of their own over the bucket's SSE-KMS default, a
/// KMS key and context of their choosing); AWS refuses every field the policy does not cover. A form
/// without a policy field is left to s3s (anonymous, or refused there).
pub fn uncovered_sse_field(buffer: &[u8]) -> Option<String> {
    let sse: Vec<String> =
        field_names(buffer).into_iter().filter(|f| f.starts_with("x-amz-server-side-encryption")).collect();
    if sse.is_empty() {
        return None;
    }
    let policy = field_value(buffer, "policy")?;
    let covered = policy_fields(&buffer[policy]);
    sse.into_iter().find(|f| !covered.contains(f))
}

/// The field names (lower case, without `$`) a POST policy's conditions name: `{"field": "value"}` and
/// `["eq" | "starts-with", "$field", "value"]`; nothing for a policy that does not decode.
fn policy_fields(encoded: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    let Ok(text) = base64::engine::general_purpose::STANDARD.decode(encoded.trim_ascii()) else { return Vec::new() };
    let Ok(policy) = serde_json::from_slice::<serde_json::Value>(&text) else { return Vec::new() };
    let conditions = policy.get("conditions").and_then(serde_json::Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut names = Vec::new();
    for condition in conditions {
        match condition {
            serde_json::Value::Object(fields) => names.extend(fields.keys().map(|k| k.to_ascii_lowercase())),
            serde_json::Value::Array(parts) => {
                let op = parts.first().and_then(serde_json::Value::as_str).map(str::to_ascii_lowercase);
                let field = parts.get(1).and_then(serde_json::Value::as_str);
                if let (Some("eq" | "starts-with"), Some(field)) = (op.as_deref(), field) {
                    names.push(field.trim_start_matches('$').to_ascii_lowercase());
                }
            }
            _ => {}
        }
    }
    names
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// The `Content-Disposition` line of the part named `file`, once it is complete in `buffer`.
fn file_part(buffer: &[u8]) -> Option<Disposition<'_>> {
    dispositions(buffer).find(|d| d.param("name").is_some_and(|n| n.eq_ignore_ascii_case(b"file")))
}

/// The `filename` of the part named `file` in the multipart text seen so far, without directories
/// (`None` while its `Content-Disposition` line is incomplete). Public for the fuzz targets.
pub fn file_name(buffer: &[u8]) -> Option<String> {
    let file = file_part(buffer)?;
    let value = String::from_utf8_lossy(file.param("filename")?).into_owned();
    let base = value.rsplit(['/', '\\']).next().unwrap_or(&value);
    (!base.is_empty() && base.len() <= 1024).then(|| base.to_owned())
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
    fn a_policy_without_a_signature_is_seen_before_the_file() {
        let form = |fields: &[&str]| {
            let mut text = String::new();
            for f in fields {
                text.push_str(&format!("--b\r\nContent-Disposition: form-data; name=\"{f}\"\r\n\r\nv\r\n"));
            }
            text.push_str("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n");
            text.push_str("--b\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n");
            field_names(text.as_bytes())
        };
        assert_eq!(form(&["key", "Policy", "X-Amz-Signature"]), ["key", "policy", "x-amz-signature"]);
        assert_eq!(form(&["key", "policy"]), ["key", "policy"], "a field after the file does not count");
        // Clients that send every field as a file part (Python's requests with `files=`) name them too.
        let as_files = b"--b\r\nContent-Disposition: form-data; name=\"policy\"; filename=\"policy\"\r\n\r\np\r\n\
            --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\r\nDATA";
        assert_eq!(field_names(as_files), ["policy"]);
    }

    /// Parameters are read whole and in any order: `filename` is never taken for `name`, a `;` in quotes
    /// belongs to the value, the first of repeated parameters counts.
    #[test]
    fn hostile_dispositions_are_read_as_their_parameters_say() {
        // A field whose file name is "file", before the real file part: not the file part.
        let decoy = b"--b\r\nContent-Disposition: form-data; filename=\"file\"; name=\"key\"\r\n\r\nup/${filename}\r\n\
            --b\r\nContent-Disposition: form-data; NAME=\"file\"; FileName=\"real;name.txt\"\r\n\r\nDATA";
        assert_eq!(file_name(decoy).as_deref(), Some("real;name.txt"));
        assert_eq!(field_names(decoy), ["key"]);
        let out = with_key_substituted(decoy.to_vec(), "real;name.txt");
        assert!(String::from_utf8_lossy(&out).contains("\r\n\r\nup/real;name.txt\r\n--b"));
        // `filename="policy"` on the signature's part: the part is the signature, not a policy.
        let reordered =
            b"--b\r\nContent-Disposition: form-data; filename=\"policy\"; name=\"x-amz-signature\"\r\n\r\ns\r\n\
            --b\r\nContent-Disposition: form-data; name=\"policy\"; name=\"key\"\r\n\r\np\r\n\
            --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nDATA";
        assert_eq!(field_names(reordered), ["x-amz-signature", "policy"], "the first `name` counts");
        // A value whose closing quote has not arrived is no value yet.
        assert_eq!(file_name(b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.t\r\n"), None);
    }

    /// Fed a byte at a time, the scan finds the file part exactly where reading the whole text does,
    /// and not before its line is whole.
    #[test]
    fn the_file_part_is_found_frame_by_frame_as_in_the_whole_text() {
        let form = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--b\r\n\
            CONTENT-DISPOSITION: form-data; filename=\"file\"; name=\"x\"\r\n\r\nv\r\n--b\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nDATA";
        let whole_at = (1..=form.len()).find(|&n| file_part(&form[..n]).is_some()).expect("found whole");
        let mut scan = FilePartScan::default();
        let frame_at = (1..=form.len()).find(|&n| scan.found(&form[..n])).expect("found frame by frame");
        assert_eq!(frame_at, whole_at);
        let mut scan = FilePartScan::default();
        assert!(!scan.found(b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n"));
    }

    #[test]
    fn encryption_fields_must_be_named_by_the_policy() {
        use base64::Engine as _;
        let form = |policy: &str, sse: &str| {
            let policy = base64::engine::general_purpose::STANDARD.encode(policy);
            format!(
                "--b\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\n{policy}\r\n\
                 --b\r\nContent-Disposition: form-data; name=\"{sse}\"\r\n\r\nAES256\r\n\
                 --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nDATA"
            )
        };
        let named = r#"{"conditions": [["eq", "$X-Amz-Server-Side-Encryption", "AES256"], {"bucket": "b"}]}"#;
        assert_eq!(uncovered_sse_field(form(named, "x-amz-server-side-encryption").as_bytes()), None);
        let as_object = r#"{"conditions": [{"x-amz-server-side-encryption": "AES256"}]}"#;
        assert_eq!(uncovered_sse_field(form(as_object, "X-Amz-Server-Side-Encryption").as_bytes()), None);
        let silent = r#"{"conditions": [{"bucket": "b"}, ["starts-with", "$key", ""]]}"#;
        let sse_c = "x-amz-server-side-encryption-customer-key";
        assert_eq!(uncovered_sse_field(form(silent, sse_c).as_bytes()).as_deref(), Some(sse_c));
        assert_eq!(uncovered_sse_field(form("not json", sse_c).as_bytes()).as_deref(), Some(sse_c));
    }

    #[test]
    fn the_key_field_gets_the_file_name() {
        let form = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n--b\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nDATA";
        let out = with_key_substituted(form.to_vec(), "a.txt");
        assert!(String::from_utf8_lossy(&out).contains("\r\n\r\nup/a.txt\r\n--b"));
        let fixed = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nfixed\r\n--b\r\n".to_vec();
        assert_eq!(with_key_substituted(fixed.clone(), "a.txt"), fixed);
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
