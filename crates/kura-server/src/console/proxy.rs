//! Console calls to the S3 and admin APIs: the browser's request is re-signed as a presigned request
//! with the signed-in principal's current secret (kura-sigv4), and the dispatch then serves it like
//! any other (the gate, s3s's signature check, authorisation, the operation, the audit line). So a
//! console call is allowed exactly when the same presigned request made with the user's own keys
//! would be.
//!
//! What the browser controls is the method, the path below the proxy's prefix, the query, the body and
//! the headers kura forwards ([`FORWARDED`] and `x-amz-*`); the server decides the rest:
//! - the query may not carry authentication of its own (`X-Amz-*`, SigV2's `AWSAccessKeyId`,
//!   `Signature`, `Expires`): refused with 400, never stripped, so what runs is what was asked;
//! - `Authorization`, `Cookie`, `X-Amz-Security-Token`, `X-Amz-Date`, `X-Amz-Content-Sha256` and every
//!   header not listed are dropped; every forwarded `x-amz-*` header is signed;
//! - `Host` is the name the browser used, normalised, and is what is signed (a request to a name kura
//!   does not answer to is refused by host aliases, as a direct one would be);
//! - the path may not hold `.`/`..` segments, and the S3 proxy may not reach `/kura/…` (the admin API,
//!   tickets, the console itself): each proxy reaches its own API only.

use http::{HeaderMap, HeaderValue, Method, Request};

use super::ConsoleError;

/// Request headers forwarded besides `x-amz-*` (`If-*` are all forwarded). `X-Forwarded-For` and
/// `-Proto` are read, as for any request, only when the peer is a trusted proxy.
pub const FORWARDED: &[&str] = &[
    "content-type",
    "content-length",
    "content-md5",
    "content-language",
    "range",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "expires",
    "x-forwarded-for",
    "x-forwarded-proto",
];

/// `x-amz-*` headers never forwarded: the console authenticates the request itself, and a presigned
/// request's payload is unsigned.
const DROPPED_AMZ: &[&str] =
    &["x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-amz-decoded-content-length", "x-amz-trailer"];

/// The admin API's prefix (`admin::PREFIX`, a module of the console's own layer; the black-box tests
/// reach the admin API through the console).
const ADMIN_PREFIX: &str = "/kura/admin/v1/";

/// How long the re-signed request is valid (it is served at once).
const EXPIRES_SECS: u64 = 60;

/// Which API a console call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `/kura/console/s3/<rest>` → `/<rest>`.
    S3,
    /// `/kura/console/admin/<rest>` → `/kura/admin/v1/<rest>`.
    Admin,
    /// `/kura/console/tickets` → `/kura/v1/presign`.
    Tickets,
}

/// Who signs: the principal's access key and current secret, and the region.
pub struct Signer<'a> {
    /// The access key.
    pub access_key: &'a str,
    /// Its current secret.
    pub secret: &'a str,
    /// The signing region.
    pub region: &'a str,
}

/// Whether a query parameter's (decoded) name is authentication of its own.
fn is_auth_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("x-amz-") || matches!(lower.as_str(), "awsaccesskeyid" | "signature" | "expires")
}

/// Whether a path segment is `.` or `..`, also percent-encoded.
fn is_dot_segment(segment: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    decoded == "." || decoded == ".."
}

/// The path of the target API for the path below the proxy's prefix (`rest` starts with `/` or is
/// empty).
pub fn target_path(target: Target, rest: &str) -> Result<String, ConsoleError> {
    // Segments as sent, and as they are once `%2F` is decoded (the path is re-signed decoded).
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8_lossy();
    if rest.split('/').any(is_dot_segment) || decoded.split('/').any(is_dot_segment) {
        return Err(ConsoleError::InvalidArgument(
            "a path segment . or .. is not sent on by the console: name the object or resource itself".to_owned(),
        ));
    }
    match target {
        Target::S3 => {
            let path = if rest.is_empty() { "/".to_owned() } else { rest.to_owned() };
            // Decoded whole before it is split, as the path is re-signed and routed: `kura%2Fadmin/…`
            // is `/kura/admin/…`, the admin API.
            let decoded = percent_encoding::percent_decode_str(&path).decode_utf8_lossy();
            let first = decoded.trim_start_matches('/').split('/').next().unwrap_or_default();
            if first.eq_ignore_ascii_case(crate::base::names::RESERVED_BUCKET) {
                return Err(ConsoleError::InvalidArgument(
                    "the console's S3 proxy reaches S3 only: use /kura/console/admin/ for the admin API".to_owned(),
                ));
            }
            Ok(path)
        }
        Target::Admin => Ok(format!("{}{}", ADMIN_PREFIX, rest.trim_start_matches('/'))),
        Target::Tickets => Ok(crate::tickets::PATH.to_owned()),
    }
}

/// The decoded query parameters of a console request, in order: the one reading of a console query.
/// `refuse` judges each name (decoded) first; then a name that appears twice is refused, so that no
/// parameter means one thing to a check and another to what runs.
pub fn unique_params(
    raw: Option<&str>,
    refuse: impl Fn(&str) -> Option<ConsoleError>,
) -> Result<Vec<(String, String)>, ConsoleError> {
    let mut params: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if let Some(refused) = refuse(&name) {
            return Err(refused);
        }
        if params.iter().any(|(n, _)| *n == name) {
            return Err(ConsoleError::InvalidArgument(format!("the query parameter {name} is given twice")));
        }
        params.push((name.into_owned(), value.into_owned()));
    }
    Ok(params)
}

/// The query parameters of a proxied call ([`unique_params`]), refused when one is authentication of
/// its own.
pub fn query_params(raw: Option<&str>) -> Result<Vec<(String, String)>, ConsoleError> {
    unique_params(raw, |name| {
        is_auth_param(name).then(|| {
            ConsoleError::InvalidArgument(format!(
                "the query parameter {name} is authentication of its own: the console signs requests itself, \
                 remove it"
            ))
        })
    })
}

/// The headers forwarded (`x-amz-*` ones separately: they are signed), refused when one that is
/// forwarded is repeated or an `x-amz-*` value is not text.
fn forwarded_headers(headers: &HeaderMap) -> Result<(HeaderMap, Vec<(String, String)>), ConsoleError> {
    let mut plain = HeaderMap::new();
    let mut amz: Vec<(String, String)> = Vec::new();
    for name in headers.keys() {
        let n = name.as_str();
        let keep_plain = FORWARDED.contains(&n) || n.starts_with("if-");
        let keep_amz = n.starts_with("x-amz-") && !DROPPED_AMZ.contains(&n);
        if !keep_plain && !keep_amz {
            continue;
        }
        let mut values = headers.get_all(name).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(ConsoleError::InvalidArgument(format!("the header {n} is sent more than once")));
        };
        if keep_plain {
            plain.insert(name.clone(), value.clone());
        } else {
            let text = value.to_str().map_err(|_| {
                ConsoleError::InvalidArgument(format!("the header {n} must be ASCII text (encode it as S3 asks)"))
            })?;
            amz.push((n.to_owned(), text.to_owned()));
        }
    }
    Ok((plain, amz))
}

/// The re-signed request for a console call to `target`: `rest` is the path below the proxy's
/// prefix, `host` the name the browser used.
pub fn resign(
    req: Request<s3s::Body>,
    target: Target,
    rest: &str,
    host: &str,
    signer: &Signer<'_>,
) -> Result<Request<s3s::Body>, ConsoleError> {
    let (parts, body) = req.into_parts();
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::PUT | Method::POST | Method::DELETE) {
        return Err(ConsoleError::MethodNotAllowed(format!("the console does not send {} requests", parts.method)));
    }
    let path = target_path(target, rest)?;
    let query = query_params(parts.uri.query())?;
    let (mut headers, amz) = forwarded_headers(&parts.headers)?;
    let query_refs: Vec<(&str, &str)> = query.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let amz_refs: Vec<(&str, &str)> = amz.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let endpoint = format!("http://{host}");
    let mut presign = kura_sigv4::PresignRequest::new(
        parts.method.as_str(),
        &endpoint,
        &path,
        signer.region,
        signer.access_key,
        signer.secret,
        std::time::SystemTime::now(),
    );
    presign.query = &query_refs;
    presign.headers = &amz_refs;
    presign.expires_secs = EXPIRES_SECS;
    let url = kura_sigv4::presign_url(&presign)
        .map_err(|e| ConsoleError::InvalidArgument(format!("the request cannot be signed: {e}")))?;
    let url: http::Uri =
        url.parse().map_err(|_| ConsoleError::InvalidArgument("the request cannot be signed".to_owned()))?;
    let signed_host = url.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
    let path_and_query = url.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".to_owned());
    for (name, value) in &amz {
        if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(n, v);
        }
    }
    let host = HeaderValue::from_str(&signed_host)
        .map_err(|_| ConsoleError::InvalidArgument("the Host header is not a host name".to_owned()))?;
    headers.insert(http::header::HOST, host);
    let mut out = Request::builder()
        .method(parts.method)
        .uri(path_and_query)
        .version(parts.version)
        .body(body)
        .map_err(|e| ConsoleError::InvalidArgument(format!("the request cannot be sent on: {e}")))?;
    *out.headers_mut() = headers;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<s3s::Body> {
        let mut b = Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(s3s::Body::empty()).expect("request")
    }

    const SIGNER: Signer<'static> =
        Signer { access_key: "alice", secret: "alice-secret-0123456789", region: "us-east-1" };

    #[test]
    fn paths_reach_their_own_api_only() {
        assert_eq!(target_path(Target::S3, "").expect("root"), "/");
        assert_eq!(target_path(Target::S3, "/b/k/x.txt").expect("key"), "/b/k/x.txt");
        assert_eq!(target_path(Target::Admin, "/users/bob").expect("admin"), "/kura/admin/v1/users/bob");
        assert_eq!(target_path(Target::Tickets, "").expect("tickets"), "/kura/v1/presign");
        for bad in [
            "/../admin/v1/users",
            "/b/./k",
            "/b/%2e%2E/k",
            "/%2E",
            "/kura/admin/v1/users",
            "/%6Bura/v1/presign",
            "/KURA/x",
            "/kura%2Fadmin/v1/users",
            "/kura%2fv1%2Fpresign",
            "/b%2F..%2Fkura/admin/v1/users",
        ] {
            assert!(matches!(target_path(Target::S3, bad), Err(ConsoleError::InvalidArgument(_))), "{bad}");
        }
        assert!(target_path(Target::Admin, "/../../b/k").is_err());
        // A bucket whose name only starts with kura is a bucket.
        assert_eq!(target_path(Target::S3, "/kurabucket/k").expect("bucket"), "/kurabucket/k");
    }

    #[test]
    fn authentication_in_the_query_is_refused_in_any_spelling() {
        for q in [
            "X-Amz-Signature=00",
            "x-amz-credential=a",
            "X-Amz-%53ignature=00",
            "X-Amz-Security-Token=t",
            "AWSAccessKeyId=a",
            "Signature=s",
            "expires=1",
            "prefix=a&prefix=b",
        ] {
            assert!(matches!(query_params(Some(q)), Err(ConsoleError::InvalidArgument(_))), "{q}");
        }
        let ok = query_params(Some("list-type=2&prefix=a%2Fb&uploads")).expect("ok");
        assert_eq!(ok[1], ("prefix".to_owned(), "a/b".to_owned()));
        assert_eq!(ok[2], ("uploads".to_owned(), String::new()));
    }

    #[test]
    fn the_browser_cannot_smuggle_credentials_and_what_is_sent_is_signed() {
        let req = request(
            "PUT",
            "/kura/console/s3/b/k?partNumber=1&uploadId=U",
            &[
                ("authorization", "AWS4-HMAC-SHA256 Credential=root/..."),
                ("x-amz-security-token", "stolen"),
                ("x-amz-date", "20990101T000000Z"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("x-amz-meta-colour", "blue"),
                ("cookie", "kura-console=x"),
                ("x-kura-csrf", "c"),
                ("content-type", "text/plain"),
                ("content-length", "0"),
                ("if-match", "\"e\""),
                ("origin", "http://127.0.0.1:9000"),
                ("host", "EVIL.example"),
            ],
        );
        let out = resign(req, Target::S3, "/b/k", "127.0.0.1:9000", &SIGNER).expect("resigned");
        let h = out.headers();
        for gone in [
            "authorization",
            "x-amz-security-token",
            "x-amz-date",
            "x-amz-content-sha256",
            "cookie",
            "x-kura-csrf",
            "origin",
        ] {
            assert!(!h.contains_key(gone), "{gone} forwarded");
        }
        assert_eq!(h["host"], "127.0.0.1:9000");
        assert_eq!(h["x-amz-meta-colour"], "blue");
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["if-match"], "\"e\"");
        assert_eq!(out.uri().path(), "/b/k");
        let query = out.uri().query().expect("query");
        assert!(query.contains("X-Amz-Credential=alice%2F"), "{query}");
        assert!(query.contains("X-Amz-SignedHeaders=host%3Bx-amz-meta-colour"), "{query}");
        assert!(query.contains("partNumber=1") && query.contains("uploadId=U"), "{query}");
        // The gate reads the request as the dispatch will and accepts it: one mechanism, every
        // x-amz-* header signed.
        let rules = crate::authn::gate::Rules {
            now: std::time::SystemTime::now(),
            aliases: &crate::authn::sigv4::HostAliases::default(),
            sigv2: true,
        };
        let envelope = crate::authn::gate::inspect(out.method(), out.uri(), out.headers(), &rules).expect("gate");
        assert_eq!(envelope.access_key(), Some("alice"));
        // And the signature verifies for the host it carries.
        let parsed = envelope.sigv4().expect("sigv4");
        let key =
            kura_sigv4::derive_key(SIGNER.secret, &parsed.scope.date, &parsed.scope.region, &parsed.scope.service);
        assert!(
            kura_sigv4::verify_for_hosts(parsed, out.method(), out.uri(), out.headers(), &key, &["127.0.0.1:9000"])
                .is_some()
        );
    }

    #[test]
    fn repeated_or_binary_headers_and_odd_methods_are_refused() {
        let mut req = request("PUT", "/kura/console/s3/b/k", &[("x-amz-meta-a", "1")]);
        req.headers_mut().append("x-amz-meta-a", HeaderValue::from_static("2"));
        assert!(resign(req, Target::S3, "/b/k", "h:1", &SIGNER).is_err());
        let mut req = request("PUT", "/kura/console/s3/b/k", &[]);
        req.headers_mut().insert("x-amz-meta-a", HeaderValue::from_bytes(b"caf\xc3\xa9").expect("value"));
        assert!(resign(req, Target::S3, "/b/k", "h:1", &SIGNER).is_err());
        let req = request("PATCH", "/kura/console/s3/b/k", &[]);
        assert!(matches!(resign(req, Target::S3, "/b/k", "h:1", &SIGNER), Err(ConsoleError::MethodNotAllowed(_))));
    }
}
