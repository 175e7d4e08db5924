//! A minimal S3 client on hyper 1: path-style URLs, SigV4 header signing, keep-alive pool with
//! `TCP_NODELAY`, bodies that are one shared random chunk repeated, responses drained without being
//! collected. Only the calls the benchmark needs.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::signer::{EMPTY_SHA256, Signer, UNSIGNED_PAYLOAD, canonical_query, encode_path};

/// Size of the shared random chunk object bodies are made of.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Most bytes of an error or listing response body read into memory.
const MAX_SMALL_BODY: usize = 16 << 20;

/// How request bodies are covered by the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadMode {
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the default; the client does not hash bodies).
    #[default]
    Unsigned,
    /// Send the body's SHA-256 (computed once: every object has the same content), so the server
    /// must hash and verify each PUT body.
    Signed,
}

/// An object body: `size` bytes made of one shared random chunk, repeated. Built once, cloned per
/// request without copying.
#[derive(Debug, Clone)]
pub struct Payload {
    chunk: Bytes,
    size: u64,
    sha256_hex: Option<Arc<str>>,
}

impl Payload {
    /// A `size`-byte payload from a random chunk of at most [`CHUNK_SIZE`] bytes. With
    /// [`PayloadMode::Signed`] it hashes the whole object once (a few seconds for 1 GiB).
    pub fn new(size: u64, mode: PayloadMode) -> Self {
        let len = usize::try_from(size.min(CHUNK_SIZE as u64)).unwrap_or(CHUNK_SIZE);
        let mut buf = vec![0u8; len];
        rand::rng().fill_bytes(&mut buf);
        let chunk = Bytes::from(buf);
        let sha256_hex = (mode == PayloadMode::Signed).then(|| {
            let mut h = Sha256::new();
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                h.update(&chunk[..n]);
                left -= n as u64;
            }
            Arc::from(hex::encode(h.finalize()))
        });
        Self { chunk, size, sha256_hex }
    }

    /// Object size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn hash(&self) -> &str {
        self.sha256_hex.as_deref().unwrap_or(UNSIGNED_PAYLOAD)
    }

    fn body(&self) -> ReqBody {
        ReqBody { chunk: self.chunk.clone(), remaining: self.size }
    }
}

/// Request body: `remaining` bytes served as clones/slices of `chunk`.
#[derive(Debug)]
pub struct ReqBody {
    chunk: Bytes,
    remaining: u64,
}

impl ReqBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self { chunk: Bytes::new(), remaining: 0 }
    }

    /// A body of exactly these bytes.
    pub fn bytes(b: Bytes) -> Self {
        let remaining = b.len() as u64;
        Self { chunk: b, remaining }
    }
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 || self.chunk.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.chunk.len() as u64) as usize;
        let data = if n == self.chunk.len() { self.chunk.clone() } else { self.chunk.slice(..n) };
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Why one S3 call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The server answered with a non-2xx status.
    #[error("HTTP {status} {code}{}{message}", if message.is_empty() { "" } else { ": " })]
    Status {
        /// HTTP status code.
        status: u16,
        /// S3 error `Code` from the body; without one (e.g. HEAD), `NotFound`, `Forbidden`,
        /// `BadRequest` or `HTTP <status>`.
        code: String,
        /// S3 error `Message`, possibly empty.
        message: String,
    },
    /// The request did not complete (connect, reset, protocol error).
    #[error("{label}: {detail}")]
    Transport {
        /// Short stable label: `connection refused`, `connection reset`, `timeout`, `transport error`.
        label: &'static str,
        /// Full error chain.
        detail: String,
    },
    /// The response was not what S3 sends (e.g. unparsable listing).
    #[error("bad response: {0}")]
    BadResponse(String),
}

impl OpError {
    /// The label errors are counted under in the report.
    pub fn code(&self) -> &str {
        match self {
            OpError::Status { code, .. } => code,
            OpError::Transport { label, .. } => label,
            OpError::BadResponse(_) => "bad response",
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            OpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn transport(e: &(dyn std::error::Error + 'static)) -> Self {
        let mut detail = e.to_string();
        let mut label = "transport error";
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = src {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                label = match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused",
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => "connection reset",
                    std::io::ErrorKind::TimedOut => "timeout",
                    _ => label,
                };
            }
            if !std::ptr::addr_eq(err, e) {
                detail.push_str(": ");
                detail.push_str(&err.to_string());
            }
            src = err.source();
        }
        OpError::Transport { label, detail }
    }
}

/// One page of a ListObjectsV2 response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Object keys on this page (XML entities decoded).
    pub keys: Vec<String>,
    /// Whether more pages follow.
    pub is_truncated: bool,
    /// Token for the next page.
    pub next_token: Option<String>,
}

/// The S3 endpoint: scheme and authority, validated.
#[derive(Debug, Clone)]
pub struct Endpoint {
    base: String,
    host: String,
}

impl Endpoint {
    /// Parses `http://host[:port]` (a trailing `/` is allowed). Errors say what to fix.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("invalid --endpoint-url {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "--endpoint-url {url}: https is not supported by kura bench; use an http:// endpoint"
                ));
            }
            _ => return Err(format!("--endpoint-url {url:?} must start with http://, e.g. http://127.0.0.1:9000")),
        }
        let Some(auth) = uri.authority() else {
            return Err(format!("--endpoint-url {url:?} has no host, e.g. http://127.0.0.1:9000"));
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "--endpoint-url {url:?} must not have a path or query (path-style requests are built from it)"
            ));
        }
        Ok(Self { base: format!("http://{auth}"), host: auth.as_str().to_owned() })
    }

    /// `http://host[:port]`.
    pub fn url(&self) -> &str {
        &self.base
    }
}

/// S3 client for one endpoint. Cheap to clone (shares the connection pool and signer).
#[derive(Clone, Debug)]
pub struct S3Client {
    http: Client<HttpConnector, ReqBody>,
    endpoint: Arc<Endpoint>,
    host_header: HeaderValue,
    signer: Arc<Signer>,
}

impl S3Client {
    /// A client with a keep-alive pool of up to `pool_size` idle connections and `TCP_NODELAY`.
    pub fn new(endpoint: Endpoint, signer: Arc<Signer>, pool_size: usize) -> Result<Self, String> {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(Duration::from_secs(10)));
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool_size.max(1))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(TokioTimer::new())
            .build(conn);
        let host_header =
            HeaderValue::from_str(&endpoint.host).map_err(|e| format!("endpoint host {:?}: {e}", endpoint.host))?;
        Ok(Self { http, endpoint: Arc::new(endpoint), host_header, signer })
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The signer (to swap credentials after a refresh).
    pub fn signer(&self) -> &Arc<Signer> {
        &self.signer
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: ReqBody,
        payload_hash: &str,
    ) -> Result<Response<Incoming>, OpError> {
        let len = body.remaining;
        let mut url = String::with_capacity(self.endpoint.base.len() + path.len() + 1 + query.len());
        url.push_str(&self.endpoint.base);
        url.push_str(path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let uri = Uri::try_from(url).map_err(|e| OpError::BadResponse(format!("cannot build request URI: {e}")))?;
        let sig = self.signer.sign(method.as_str(), &self.endpoint.host, path, query, payload_hash, SystemTime::now());
        let hv = |s: String| HeaderValue::try_from(s).map_err(|e| OpError::BadResponse(format!("bad header: {e}")));
        let mut req = Request::new(body);
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        h.insert(HOST, self.host_header.clone());
        h.insert("x-amz-date", hv(sig.amz_date)?);
        h.insert(
            "x-amz-content-sha256",
            HeaderValue::from_str(payload_hash).map_err(|e| OpError::BadResponse(e.to_string()))?,
        );
        if let Some(tok) = sig.security_token {
            h.insert("x-amz-security-token", hv(tok)?);
        }
        h.insert(AUTHORIZATION, hv(sig.authorization)?);
        if method == Method::PUT || len > 0 {
            h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        let resp = self.http.request(req).await.map_err(|e| OpError::transport(&e))?;
        if resp.status().is_success() { Ok(resp) } else { Err(error_from_response(resp).await) }
    }

    /// STS `AssumeRoleWithWebIdentity` (an unsigned form POST to `/`); drains the reply.
    pub async fn assume_role_with_web_identity(&self, form: &Bytes) -> Result<u64, OpError> {
        let uri = Uri::try_from(format!("{}/", self.endpoint.base))
            .map_err(|e| OpError::BadResponse(format!("cannot build request URI: {e}")))?;
        let mut req = Request::new(ReqBody::bytes(form.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        h.insert(HOST, self.host_header.clone());
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        h.insert(CONTENT_LENGTH, HeaderValue::from(form.len()));
        let resp = self.http.request(req).await.map_err(|e| OpError::transport(&e))?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp).await);
        }
        drain(resp.into_body()).await
    }

    /// PutObject with `payload` as the body.
    pub async fn put_object(&self, bucket: &str, key: &str, payload: &Payload) -> Result<(), OpError> {
        let path = encode_path(bucket, key);
        let resp = self.send(Method::PUT, &path, "", payload.body(), payload.hash()).await?;
        drain(resp.into_body()).await.map(drop)
    }

    /// GetObject; drains the body and returns its length.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<u64, OpError> {
        let path = encode_path(bucket, key);
        let resp = self.send(Method::GET, &path, "", ReqBody::empty(), EMPTY_SHA256).await?;
        drain(resp.into_body()).await
    }

    /// HeadObject.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<(), OpError> {
        let path = encode_path(bucket, key);
        let resp = self.send(Method::HEAD, &path, "", ReqBody::empty(), EMPTY_SHA256).await?;
        drain(resp.into_body()).await.map(drop)
    }

    /// DeleteObject.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), OpError> {
        let path = encode_path(bucket, key);
        let resp = self.send(Method::DELETE, &path, "", ReqBody::empty(), EMPTY_SHA256).await?;
        drain(resp.into_body()).await.map(drop)
    }

    /// One ListObjectsV2 page of up to `max_keys` keys under `prefix`.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<&str>,
        max_keys: u32,
    ) -> Result<ListPage, OpError> {
        let max = max_keys.to_string();
        let mut params = vec![("list-type", "2"), ("max-keys", max.as_str()), ("prefix", prefix)];
        if let Some(t) = token {
            params.push(("continuation-token", t));
        }
        let query = canonical_query(&params);
        let path = encode_path(bucket, "");
        let resp = self.send(Method::GET, &path, &query, ReqBody::empty(), EMPTY_SHA256).await?;
        let body = read_small(resp.into_body()).await?;
        let text = std::str::from_utf8(&body).map_err(|_| OpError::BadResponse("listing is not UTF-8".into()))?;
        parse_list_page(text).map_err(OpError::BadResponse)
    }

    /// HeadBucket: `Ok(true)` if it exists, `Ok(false)` on 404.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, OpError> {
        let path = encode_path(bucket, "");
        match self.send(Method::HEAD, &path, "", ReqBody::empty(), EMPTY_SHA256).await {
            Ok(resp) => drain(resp.into_body()).await.map(|_| true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// CreateBucket (with a `LocationConstraint` outside us-east-1).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), OpError> {
        let path = encode_path(bucket, "");
        let region = self.signer.region();
        let body = if region == "us-east-1" || region.is_empty() {
            ReqBody::empty()
        } else {
            ReqBody::bytes(Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            )))
        };
        let resp = self.send(Method::PUT, &path, "", body, UNSIGNED_PAYLOAD).await?;
        drain(resp.into_body()).await.map(drop)
    }

    /// DeleteBucket.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), OpError> {
        let path = encode_path(bucket, "");
        let resp = self.send(Method::DELETE, &path, "", ReqBody::empty(), EMPTY_SHA256).await?;
        drain(resp.into_body()).await.map(drop)
    }
}

/// Reads a body to the end without keeping it; returns the number of bytes.
async fn drain(mut body: Incoming) -> Result<u64, OpError> {
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| OpError::transport(&e))?;
        if let Some(d) = frame.data_ref() {
            n += d.len() as u64;
        }
    }
    Ok(n)
}

/// Reads a small body (error document, listing page) into memory.
async fn read_small(body: Incoming) -> Result<Bytes, OpError> {
    let limited = http_body_util::Limited::new(body, MAX_SMALL_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(OpError::BadResponse(format!("cannot read response body: {e}"))),
    }
}

async fn error_from_response(resp: Response<Incoming>) -> OpError {
    let status = resp.status();
    let body = read_small(resp.into_body()).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let code = xml_text(&text, "Code").map(|c| unescape(c.trim()));
    let message = xml_text(&text, "Message").map(|m| unescape(m.trim())).unwrap_or_default();
    OpError::Status {
        status: status.as_u16(),
        code: code.filter(|c| !c.is_empty()).unwrap_or_else(|| status_label(status)),
        message,
    }
}

fn status_label(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "NotFound".into(),
        StatusCode::FORBIDDEN => "Forbidden".into(),
        StatusCode::BAD_REQUEST => "BadRequest".into(),
        s => format!("HTTP {}", s.as_u16()),
    }
}

/// Text between the first `<tag>` and the following `</tag>`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

/// Decodes the five predefined XML entities and numeric character references.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';') else { break };
        let ent = &rest[1..semi];
        let decoded = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .or_else(|| ent.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses the parts of a ListObjectsV2 result the benchmark needs.
pub fn parse_list_page(xml: &str) -> Result<ListPage, String> {
    if !xml.contains("<ListBucketResult") {
        return Err(format!("expected <ListBucketResult>, got {:?}", xml.chars().take(120).collect::<String>()));
    }
    let mut page = ListPage {
        is_truncated: xml_text(xml, "IsTruncated").is_some_and(|t| t.trim() == "true"),
        next_token: xml_text(xml, "NextContinuationToken").map(|t| unescape(t.trim())).filter(|t| !t.is_empty()),
        keys: Vec::new(),
    };
    let mut rest = xml;
    while let Some(i) = rest.find("<Key>") {
        rest = &rest[i + 5..];
        let end = rest.find("</Key>").ok_or("unterminated <Key>")?;
        page.keys.push(unescape(&rest[..end]));
        rest = &rest[end + 6..];
    }
    if page.is_truncated && page.next_token.is_none() {
        return Err("IsTruncated is true but there is no NextContinuationToken".into());
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn parses_truncated_page() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>kb/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>kb/a&amp;b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>4</Size></Contents>
<Contents><Key>kb/c&#x20;d&#33;</Key><Size>4</Size></Contents>
<NextContinuationToken>tok&lt;1&gt;</NextContinuationToken></ListBucketResult>"#;
        let page = parse_list_page(xml).unwrap();
        assert_eq!(page.keys, vec!["kb/a&b", "kb/c d!"]);
        assert!(page.is_truncated);
        assert_eq!(page.next_token.as_deref(), Some("tok<1>"));
    }

    #[test]
    fn parses_last_and_empty_pages() {
        let last = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents>\
                    </ListBucketResult>";
        let page = parse_list_page(last).unwrap();
        assert_eq!(page, ListPage { keys: vec!["k".into()], is_truncated: false, next_token: None });
        let empty = "<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(parse_list_page(empty).unwrap(), ListPage::default());
    }

    #[test]
    fn rejects_bad_listings() {
        assert!(parse_list_page("<Error><Code>AccessDenied</Code></Error>").is_err());
        assert!(parse_list_page("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").is_err());
        assert!(parse_list_page("<ListBucketResult><Key>open").is_err());
    }

    #[test]
    fn unescapes_entities() {
        assert_eq!(unescape("a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;"), "a&b<>\"'AB");
        assert_eq!(unescape("no entities"), "no entities");
        assert_eq!(unescape("dangling & and &bogus; &"), "dangling & and &bogus; &");
    }

    #[test]
    fn error_code_extraction() {
        let xml = "<Error><Code>NoSuchBucket</Code><Message>The bucket &apos;x&apos; does not exist</Message></Error>";
        assert_eq!(xml_text(xml, "Code"), Some("NoSuchBucket"));
        assert_eq!(unescape(xml_text(xml, "Message").unwrap()), "The bucket 'x' does not exist");
    }

    #[test]
    fn endpoint_validation() {
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(e.url(), "http://127.0.0.1:9000");
        assert_eq!(e.host, "127.0.0.1:9000");
        assert!(Endpoint::parse("https://127.0.0.1:9000").unwrap_err().contains("http://"));
        assert!(Endpoint::parse("127.0.0.1:9000").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:9000/bucket").is_err());
    }

    #[tokio::test]
    async fn payload_body_repeats_shared_chunk() {
        let size = (CHUNK_SIZE as u64) * 2 + 123;
        let p = Payload::new(size, PayloadMode::Unsigned);
        assert_eq!(p.hash(), UNSIGNED_PAYLOAD);
        let body = p.body();
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(size));
        let mut body = body;
        let mut frames = Vec::new();
        while let Some(f) = body.frame().await {
            frames.push(f.unwrap().into_data().unwrap());
        }
        assert_eq!(frames.iter().map(|f| f.len() as u64).sum::<u64>(), size);
        assert_eq!(frames.len(), 3);
        // No copies: every frame points into the same allocation.
        assert!(frames.iter().all(|f| f.as_ptr() == frames[0].as_ptr()));
        assert!(http_body::Body::is_end_stream(&ReqBody::empty()));
    }

    #[test]
    fn signed_payload_hash_covers_whole_object() {
        let p = Payload::new(3000, PayloadMode::Signed);
        assert_eq!(p.hash(), hex::encode(Sha256::digest(&p.chunk[..])));
        let big = Payload::new(CHUNK_SIZE as u64 + 10, PayloadMode::Signed);
        let mut whole = big.chunk.to_vec();
        whole.extend_from_slice(&big.chunk[..10]);
        assert_eq!(big.hash(), hex::encode(Sha256::digest(&whole)));
        assert_eq!(Payload::new(0, PayloadMode::Signed).hash(), EMPTY_SHA256);
    }
}
