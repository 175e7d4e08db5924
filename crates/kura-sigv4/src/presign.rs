//! Building presigned URLs locally (`kura presign`, upload tickets).

use std::fmt;
use std::time::SystemTime;

use http::{HeaderName, HeaderValue, Method, Uri};

use crate::key::validate_scope_part;
use crate::{
    ALGORITHM, CanonicalRequest, MAX_EXPIRES_SECS, MAX_QUERY_PARAMS, MAX_SIGNED_HEADERS, Scope, SigV4Error,
    UNSIGNED_PAYLOAD, canonical_path, canonical_query, canonical_request, derive_key, format_amz_date, signature,
    string_to_sign,
};

/// What to presign. Build with [`PresignRequest::new`] and set the optional fields directly.
#[derive(Clone, Copy)]
pub struct PresignRequest<'a> {
    /// HTTP method the URL is for (`GET`, `PUT`, `DELETE`, `HEAD`, …).
    pub method: &'a str,
    /// Where clients will send the request: `http(s)://host[:port]`, no path. Its host (lowercased,
    /// default port dropped) is the signed `host`; use one of the server's configured names.
    pub endpoint: &'a str,
    /// Request path, URI-encoded (e.g. [`encode_object_path`](crate::encode_object_path)). It is
    /// brought to canonical form, and that form is both signed and put in the URL.
    pub path: &'a str,
    /// Extra query parameters, unencoded (`versionId`, `response-content-type`, `partNumber`, …).
    pub query: &'a [(&'a str, &'a str)],
    /// Extra headers to sign, `(name, value)` (e.g. `("content-type", "image/png")`). The client
    /// must send exactly these values. `host` is always signed and cannot be listed.
    pub headers: &'a [(&'a str, &'a str)],
    /// Signing region (`us-east-1`).
    pub region: &'a str,
    /// Signing service; `s3` unless presigning for another service.
    pub service: &'a str,
    /// Access key id.
    pub access_key: &'a str,
    /// Secret access key (redacted in `Debug`).
    pub secret: &'a str,
    /// Session token of temporary credentials, signed as `X-Amz-Security-Token` (redacted in `Debug`).
    pub session_token: Option<&'a str>,
    /// Lifetime in seconds, 1..=604800 (7 days).
    pub expires_secs: u64,
    /// Signing time.
    pub now: SystemTime,
}

impl<'a> PresignRequest<'a> {
    /// A request for `method endpoint path` valid for one hour from `now`, for service `s3`, with no
    /// session token, extra query parameters or extra signed headers.
    pub fn new(
        method: &'a str,
        endpoint: &'a str,
        path: &'a str,
        region: &'a str,
        access_key: &'a str,
        secret: &'a str,
        now: SystemTime,
    ) -> Self {
        Self {
            method,
            endpoint,
            path,
            query: &[],
            headers: &[],
            region,
            service: "s3",
            access_key,
            secret,
            session_token: None,
            expires_secs: 3600,
            now,
        }
    }
}

impl fmt::Debug for PresignRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignRequest")
            .field("method", &self.method)
            .field("endpoint", &self.endpoint)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("access_key", &self.access_key)
            .field("secret", &"** redacted **")
            .field("session_token", &self.session_token.map(|_| "** redacted **"))
            .field("expires_secs", &self.expires_secs)
            .field("now", &self.now)
            .finish()
    }
}

/// `scheme` and signed `host` of an endpoint URL.
fn endpoint_parts(endpoint: &str) -> Result<(&'static str, String), SigV4Error> {
    let bad = || SigV4Error::InvalidEndpoint(endpoint.chars().take(200).collect());
    let uri: Uri = endpoint.parse().map_err(|_| bad())?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        Some(s) if s.eq_ignore_ascii_case("http") => "http",
        _ => return Err(bad()),
    };
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@')
        || authority.host().is_empty()
        || !matches!(uri.path(), "" | "/")
        || uri.query().is_some()
    {
        return Err(bad());
    }
    let host = authority.host().to_ascii_lowercase();
    let host = match authority.port_u16() {
        Some(80) if scheme == "http" => host,
        Some(443) if scheme == "https" => host,
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    Ok((scheme, host))
}

/// Builds a presigned URL: `scheme://host/path?…&X-Amz-Signature=…`, purely locally.
///
/// The query carries `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders`, the optional `X-Amz-Security-Token` and the extra parameters, in canonical
/// order, then `X-Amz-Signature`. The payload is `UNSIGNED-PAYLOAD`, as for every S3 presigned URL.
///
/// # Errors
/// An endpoint that is not `http(s)://host[:port]`, a path not starting with `/` or carrying `?`/`#`,
/// an invalid method, header, region, service or access key, an `X-Amz-*` authentication parameter
/// among the extra query parameters, an expiry outside 1..=604800, or more than
/// [`MAX_SIGNED_HEADERS`] headers / [`MAX_QUERY_PARAMS`] parameters.
pub fn presign_url(req: &PresignRequest<'_>) -> Result<String, SigV4Error> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| SigV4Error::InvalidMethod(req.method.chars().take(32).collect()))?;
    let (scheme, host) = endpoint_parts(req.endpoint)?;
    if !req.path.starts_with('/') || req.path.contains(['?', '#']) {
        return Err(SigV4Error::InvalidPath(req.path.chars().take(200).collect()));
    }
    let path = canonical_path(req.path);
    validate_scope_part(req.region, "region")?;
    validate_scope_part(req.service, "service")?;
    validate_scope_part(req.access_key, "access key id")?;
    if !(1..=MAX_EXPIRES_SECS).contains(&req.expires_secs) {
        return Err(SigV4Error::InvalidExpires);
    }
    if req.headers.len() >= MAX_SIGNED_HEADERS {
        return Err(SigV4Error::TooManySignedHeaders { max: MAX_SIGNED_HEADERS });
    }
    if req.query.len() + 6 > MAX_QUERY_PARAMS {
        return Err(SigV4Error::TooManyQueryParameters { max: MAX_QUERY_PARAMS });
    }

    let mut headers: Vec<(HeaderName, &str)> = Vec::with_capacity(req.headers.len() + 1);
    for (name, value) in req.headers {
        let invalid = || SigV4Error::InvalidHeader(name.chars().take(64).collect());
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        HeaderValue::from_str(value).map_err(|_| invalid())?;
        if parsed == http::header::HOST || headers.iter().any(|(n, _)| *n == parsed) {
            return Err(invalid());
        }
        headers.push((parsed, value));
    }
    let mut signed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    signed.push(("host", &host));

    let amz_date = format_amz_date(req.now);
    let scope = Scope::new(amz_date.get(..8).unwrap_or_default(), req.region, req.service);
    let credential = format!("{}/{scope}", req.access_key);
    let expires = req.expires_secs.to_string();
    let probe = CanonicalRequest { method: "", path: "", query: "", headers: &signed, payload_hash: "" };
    let signed_headers = probe.signed_headers();

    let mut params: Vec<(&str, &str)> = Vec::with_capacity(req.query.len() + 6);
    for (name, value) in req.query {
        if is_auth_param(name) {
            return Err(SigV4Error::ReservedParameter((*name).to_owned()));
        }
        params.push((name, value));
    }
    params.push(("X-Amz-Algorithm", ALGORITHM));
    params.push(("X-Amz-Credential", &credential));
    params.push(("X-Amz-Date", &amz_date));
    params.push(("X-Amz-Expires", &expires));
    params.push(("X-Amz-SignedHeaders", &signed_headers));
    if let Some(token) = req.session_token {
        params.push(("X-Amz-Security-Token", token));
    }
    let query = canonical_query(&params);

    let canonical = canonical_request(&CanonicalRequest {
        method: method.as_str(),
        path: &path,
        query: &query,
        headers: &signed,
        payload_hash: UNSIGNED_PAYLOAD,
    });
    let key = derive_key(req.secret, &scope.date, &scope.region, &scope.service);
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &canonical));
    Ok(format!("{scheme}://{host}{path}?{query}&X-Amz-Signature={sig}"))
}

fn is_auth_param(name: &str) -> bool {
    [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    ]
    .iter()
    .any(|p| p.eq_ignore_ascii_case(name))
}
