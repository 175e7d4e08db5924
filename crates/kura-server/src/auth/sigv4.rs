//! kura's own SigV4 check, in front of s3s, for host aliases: a request is valid when it was signed for
//! **any** of kura's configured names, whatever `Host` it arrives with, and never for a name outside
//! that set.
//!
//! s3s verifies a signature against the received `Host` only. So, for SigV4 requests (header or
//! presigned query), [`HostAliases::admit`] finds the name the client signed for and rewrites `Host` to
//! it; s3s then verifies the request as usual. SigV4 does not sign the scheme, so a URL made for
//! `https://s3.example.com` works through a TLS-terminating ingress that forwards plain HTTP.

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Characters SigV4 leaves unescaped in query keys and values.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// At most this many query parameters or signed headers are considered (bounded work per request).
const MAX_ITEMS: usize = 256;

/// The host names kura answers to (`host` or `host:port`, lower-case), from `server.public_urls`,
/// `server.internal_urls` and the listen address.
#[derive(Debug, Clone, Default)]
pub struct HostAliases {
    names: Vec<String>,
}

/// What [`HostAliases::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Not a SigV4 request, or signed for the received host, or sent to one of kura's names but valid
    /// for none of them: s3s decides (and answers SignatureDoesNotMatch in that last case).
    PassThrough,
    /// Signed for this other name of kura's: `Host` was rewritten to it.
    Rewritten(String),
    /// Signed for no name of kura's.
    Refused,
}

/// The parts of a SigV4 signature that the check needs.
#[derive(Debug)]
struct Signed {
    access_key: String,
    date: String,
    region: String,
    service: String,
    amz_date: String,
    signed_headers: Vec<String>,
    signature: String,
    query_form: bool,
}

impl HostAliases {
    /// Builds the set from URLs (`https://s3.example.com`, `http://kura.ns.svc:9000`) and extra
    /// `host:port` names. Default ports (80 for http, 443 for https) are dropped, as clients sign.
    pub fn new(urls: &[String], extra: &[String]) -> Result<Self, String> {
        let mut names = Vec::new();
        for url in urls {
            let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not a URL"))?;
            let authority = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
            if authority.is_empty() || authority.contains('@') {
                return Err(format!("{url:?} has no host"));
            }
            let default_port = if scheme == "https" { ":443" } else { ":80" };
            names.push(authority.strip_suffix(default_port).map(str::to_owned).unwrap_or(authority));
        }
        names.extend(extra.iter().map(|n| n.to_ascii_lowercase()));
        names.dedup();
        Ok(Self { names })
    }

    /// Whether any alias is configured (else every request passes through).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The configured names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Decides a request: finds the name it was signed for with `secret` (looked up for its access
    /// key) and rewrites `Host` when that name differs from the received one.
    pub fn admit(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        secret: impl FnOnce(&str) -> Option<String>,
    ) -> Admission {
        if self.names.is_empty() {
            return Admission::PassThrough;
        }
        let received = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
        let Some(signed) = parse(uri, headers) else { return Admission::PassThrough };
        if !signed.signed_headers.iter().any(|h| h == "host") {
            return Admission::PassThrough;
        }
        let Some(secret) = secret(&signed.access_key) else { return Admission::PassThrough };
        let key = signing_key(&secret, &signed.date, &signed.region, &signed.service);
        let verifies = |name: &str| {
            let expected = signature(&key, &signed, method, uri, headers, name);
            constant_time_eq(expected.as_bytes(), signed.signature.as_bytes())
        };
        let known = received.as_ref().is_some_and(|r| self.names.contains(r));
        if known && received.as_deref().is_some_and(verifies) {
            return Admission::PassThrough;
        }
        let found = self.names.iter().find(|name| Some(name.as_str()) != received.as_deref() && verifies(name));
        match found.and_then(|name| HeaderValue::from_str(name).ok().map(|v| (name, v))) {
            Some((name, value)) => {
                headers.insert(http::header::HOST, value);
                Admission::Rewritten(name.clone())
            }
            // Sent to one of kura's names but signed wrongly: s3s reports SignatureDoesNotMatch.
            None if known => Admission::PassThrough,
            None => Admission::Refused,
        }
    }
}

/// Reads a SigV4 signature from the `Authorization` header or the presigned query.
fn parse(uri: &Uri, headers: &HeaderMap) -> Option<Signed> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',').take(MAX_ITEMS) {
            let (k, v) = part.trim().split_once('=')?;
            match k {
                "Credential" => credential = Some(v.to_owned()),
                "SignedHeaders" => signed_headers = Some(v.to_owned()),
                "Signature" => signature = Some(v.to_owned()),
                _ => {}
            }
        }
        let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok())?.to_owned();
        return build(&credential?, &signed_headers?, signature?, amz_date, false);
    }
    let pairs = query_pairs(uri.query()?)?;
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    build(&get("X-Amz-Credential")?, &get("X-Amz-SignedHeaders")?, get("X-Amz-Signature")?, get("X-Amz-Date")?, true)
}

fn build(
    credential: &str,
    signed_headers: &str,
    signature: String,
    amz_date: String,
    query_form: bool,
) -> Option<Signed> {
    let mut parts = credential.splitn(5, '/');
    let (access_key, date, region, service, terminal) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if terminal != "aws4_request" {
        return None;
    }
    let signed_headers: Vec<String> = signed_headers.split(';').take(MAX_ITEMS).map(str::to_owned).collect();
    Some(Signed {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        amz_date,
        signed_headers,
        signature,
        query_form,
    })
}

/// Decoded query pairs, or `None` when there are too many.
fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    let decode = |s: &str| percent_decode_str(&s.replace('+', "%20")).decode_utf8_lossy().into_owned();
    let pairs: Vec<_> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect();
    (pairs.len() <= MAX_ITEMS).then_some(pairs)
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 signing key for a day, region and service.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The hex signature the request would carry had it been signed for `host`.
fn signature(key: &[u8], signed: &Signed, method: &Method, uri: &Uri, headers: &HeaderMap, host: &str) -> String {
    let canonical = canonical_request(signed, method, uri, headers, host);
    let scope = format!("{}/{}/{}/aws4_request", signed.date, signed.region, signed.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        signed.amz_date,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    hex::encode(hmac(key, to_sign.as_bytes()))
}

/// The canonical request (AWS SigV4, S3 flavour: the path as sent, not normalised or re-encoded).
fn canonical_request(signed: &Signed, method: &Method, uri: &Uri, headers: &HeaderMap, host: &str) -> String {
    let enc = |s: &str| utf8_percent_encode(s, UNRESERVED).to_string();
    let mut query: Vec<(String, String)> = uri
        .query()
        .and_then(query_pairs)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !(signed.query_form && k == "X-Amz-Signature"))
        .map(|(k, v)| (enc(&k), enc(&v)))
        .collect();
    query.sort();
    let query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut canonical_headers = String::new();
    for name in &signed.signed_headers {
        let value = if name == "host" {
            host.to_owned()
        } else {
            let values: Vec<&str> =
                headers.get_all(name.as_str()).iter().filter_map(|v| v.to_str().ok()).map(str::trim).collect();
            values.join(",").split_whitespace().collect::<Vec<_>>().join(" ")
        };
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    // Presigned URLs sign UNSIGNED-PAYLOAD; header-signed S3 requests name their payload hash.
    let payload = headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()).unwrap_or("UNSIGNED-PAYLOAD");
    let path = if uri.path().is_empty() { "/" } else { uri.path() };
    format!("{method}\n{path}\n{query}\n{canonical_headers}\n{}\n{payload}", signed.signed_headers.join(";"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
    use std::time::{Duration, SystemTime};

    const SECRET: &str = "alias-secret-0123456789";

    /// Signs like the AWS SDKs do, for `host`; `presign` puts the signature in the query.
    fn signed_request(host: &str, path_and_query: &str, presign: bool) -> (Method, Uri, HeaderMap) {
        let creds = aws_credential_types::Credentials::new("aliasuser", SECRET, None, None, "test");
        let identity = creds.into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
        if presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(300));
        } else {
            settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .expect("params")
            .into();
        let url = format!("https://{host}{path_and_query}");
        let signable =
            SignableRequest::new("GET", url.clone(), [("host", host)].into_iter(), SignableBody::UnsignedPayload)
                .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut request = http::Request::builder().method("GET").uri(path_and_query).body(()).expect("request");
        request.headers_mut().insert(http::header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        instructions.apply_to_request_http1x(&mut request);
        request.headers_mut().insert(http::header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        let (parts, ()) = request.into_parts();
        (parts.method, parts.uri, parts.headers)
    }

    fn aliases() -> HostAliases {
        HostAliases::new(
            &["https://s3.example.com".into(), "http://kura.storage.svc.cluster.local:9000".into()],
            &["127.0.0.1:9000".into()],
        )
        .expect("aliases")
    }

    fn lookup(key: &str) -> Option<String> {
        (key == "aliasuser").then(|| SECRET.to_owned())
    }

    #[test]
    fn names_drop_default_ports() {
        let a = HostAliases::new(&["https://S3.example.com:443/".into(), "http://x:80".into()], &[]).expect("ok");
        assert_eq!(a.names(), ["s3.example.com", "x"]);
        assert!(HostAliases::new(&["s3.example.com".into()], &[]).is_err());
    }

    #[test]
    fn a_presigned_url_for_an_alias_is_admitted_and_host_rewritten() {
        for host in ["s3.example.com", "kura.storage.svc.cluster.local:9000"] {
            for presign in [true, false] {
                let (method, uri, mut headers) = signed_request(host, "/bucket/dir/a%20b.txt?x-id=GetObject", presign);
                let admitted = aliases().admit(&method, &uri, &mut headers, lookup);
                assert_eq!(admitted, Admission::Rewritten(host.to_owned()), "{host} presign={presign}");
                assert_eq!(headers.get("host").and_then(|h| h.to_str().ok()), Some(host));
            }
        }
    }

    #[test]
    fn an_unknown_name_or_a_tampered_signature_is_refused() {
        let (method, uri, mut headers) = signed_request("evil.example.net", "/bucket/k", true);
        headers.insert(http::header::HOST, HeaderValue::from_static("evil.example.net"));
        assert_eq!(aliases().admit(&method, &uri, &mut headers, lookup), Admission::Refused);
        let (method, uri, mut headers) = signed_request("s3.example.com", "/bucket/k", true);
        headers.insert(http::header::HOST, HeaderValue::from_static("proxy.example.net"));
        let tampered: Uri = uri.to_string().replace("/bucket/k", "/bucket/other").parse().expect("uri");
        assert_eq!(aliases().admit(&method, &tampered, &mut headers, lookup), Admission::Refused);
        // Sent to a known name with a bad signature: s3s answers SignatureDoesNotMatch.
        headers.insert(http::header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        assert_eq!(aliases().admit(&method, &tampered, &mut headers, lookup), Admission::PassThrough);
    }

    #[test]
    fn requests_to_a_known_name_and_unsigned_requests_pass_through() {
        let (method, uri, mut headers) = signed_request("127.0.0.1:9000", "/bucket/k", false);
        assert_eq!(aliases().admit(&method, &uri, &mut headers, lookup), Admission::PassThrough);
        let mut plain = HeaderMap::new();
        plain.insert(http::header::HOST, HeaderValue::from_static("anything"));
        let uri: Uri = "/bucket/k".parse().expect("uri");
        assert_eq!(aliases().admit(&Method::GET, &uri, &mut plain, lookup), Admission::PassThrough);
        assert_eq!(HostAliases::default().admit(&method, &uri, &mut headers, lookup), Admission::PassThrough);
    }
}
