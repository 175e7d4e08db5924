//! The gate in front of s3s: reads **once** how a request to the S3 port is authenticated, in the
//! order s3s will verify it, and applies kura's rules to that one reading before s3s sees the request.
//!
//! Why a gate: s3s verifies signatures, but kura's promises need more than a valid signature, and every
//! second parse of the same request (kura's and s3s's) is a place where the two can disagree — the
//! attacker's favourite gap. So the gate:
//! - classifies the request exactly once ([`Envelope`]) and refuses requests that carry two
//!   authentication mechanisms at once (SigV4 query + `Authorization`, SigV2 + SigV4, two
//!   `Authorization` headers), which s3s and kura could read differently;
//! - SigV4: refuses `x-amz-*` headers the signature does not cover (a presigned PUT must not become a
//!   copy), credential scopes for another service, request times more than [`MAX_SKEW`] away (header
//!   form) or in the future (presigned form), and presigned lifetimes over 7 days (kura-sigv4 decodes
//!   parameter names before checking, so `X-Amz-%45xpires` is the same parameter s3s reads);
//! - SigV2: the same clock rules (`x-amz-date`, else `Date`, within [`MAX_SKEW`]; presigned `Expires` at
//!   most 7 days ahead), the host rule (SigV2 signs no host: with configured names, the request must be
//!   sent to one of them), the query rule (s3s routes by query names its SigV2 signature does not
//!   cover: only signed sub-resources, each once, a presigned URL's own parameters and listing
//!   parameters pass), or refuses SigV2 altogether when `server.sigv2: false`.
//!
//! The access hook later reads the [`Envelope`]'s verdict from the request's extensions instead of
//! guessing the authentication type again, and checks that s3s verified the key the gate saw.

use super::sigv4::HostAliases;
use crate::base::caller::AuthType;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Uri};
use kura_sigv4::{ParsedAuth, SigV4Error, SignatureForm};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most a signed request's time may differ from the server's clock (as AWS: 15 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The longest a presigned URL (SigV4 or SigV2) may stay valid: 7 days, as SigV4 allows.
pub const MAX_PRESIGNED_LIFETIME: Duration = Duration::from_secs(kura_sigv4::MAX_EXPIRES_SECS);

/// How a request says who signed it, read once, as s3s will verify it.
#[derive(Debug)]
pub enum Envelope {
    /// No signature at all: the caller is anonymous.
    Anonymous,
    /// A browser POST upload (`multipart/form-data`): any signature is in the form, verified by s3s
    /// against the form's policy.
    PostForm,
    /// SigV2 (`Authorization: AWS KEY:SIG`, or `AWSAccessKeyId`/`Expires`/`Signature` in the query).
    SigV2 {
        /// The access key that signed.
        access_key: String,
        /// Presigned URL (query) rather than header.
        presigned: bool,
    },
    /// SigV4, header or presigned, parsed by kura-sigv4.
    SigV4(Box<ParsedAuth>),
}

impl Envelope {
    /// The access key the request claims to be signed with (none for anonymous requests and POST
    /// forms, whose key is in the body).
    pub fn access_key(&self) -> Option<&str> {
        match self {
            Envelope::Anonymous | Envelope::PostForm => None,
            Envelope::SigV2 { access_key, .. } => Some(access_key),
            Envelope::SigV4(parsed) => Some(&parsed.access_key),
        }
    }

    /// The SigV4 authentication data, for host aliases.
    pub fn sigv4(&self) -> Option<&ParsedAuth> {
        match self {
            Envelope::SigV4(parsed) => Some(parsed),
            _ => None,
        }
    }

    /// What the access hook and the audit log call this, given whether s3s found a signature.
    pub fn verdict(&self) -> Verdict {
        let auth_type = match self {
            Envelope::Anonymous => AuthType::Anonymous,
            Envelope::PostForm => AuthType::Post,
            Envelope::SigV2 { presigned: true, .. } => AuthType::Presigned,
            Envelope::SigV2 { presigned: false, .. } => AuthType::Header,
            Envelope::SigV4(p) if p.form == SignatureForm::Query => AuthType::Presigned,
            Envelope::SigV4(_) => AuthType::Header,
        };
        Verdict { auth_type, access_key: self.access_key().map(str::to_owned) }
    }
}

/// The gate's reading, left in the request's extensions for the access hook: one classification
/// for the whole request.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// How the request is authenticated (a POST form without a signature is anonymous: the access
    /// hook knows from s3s whether one was found).
    pub auth_type: AuthType,
    /// The access key the gate saw (none for anonymous requests and POST forms).
    pub access_key: Option<String>,
}

impl Verdict {
    /// The gate's reading of the request, checked against the access key s3s `verified` (none for
    /// both, or the same one). A disagreement means the two read the request differently, so it is
    /// refused rather than guessed at; so is a request that did not pass the gate.
    ///
    /// # Errors
    /// [`GateError::Disagreement`].
    pub fn confirm(extensions: &http::Extensions, verified: Option<&str>) -> Result<AuthType, GateError> {
        let verdict = extensions.get::<Verdict>().ok_or(GateError::Disagreement)?;
        match (verdict.auth_type, verdict.access_key.as_deref(), verified) {
            (AuthType::Post, None, Some(_)) => Ok(AuthType::Post),
            (AuthType::Post | AuthType::Anonymous, None, None) => Ok(AuthType::Anonymous),
            (t, Some(seen), Some(checked)) if seen == checked && t != AuthType::Post => Ok(t),
            _ => {
                tracing::warn!(gate = ?verdict, verified = ?verified, "the gate and s3s read the request differently");
                Err(GateError::Disagreement)
            }
        }
    }
}

/// The rules the gate applies.
pub struct Rules<'a> {
    /// The server's clock now.
    pub now: SystemTime,
    /// kura's own names (empty: none configured).
    pub aliases: &'a HostAliases,
    /// Whether SigV2 is accepted (`server.sigv2`).
    pub sigv2: bool,
}

/// Why the gate refused a request; mapped to an S3 error in [`crate::errors::gate_error`].
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Two authentication mechanisms in one request.
    #[error("only one authentication mechanism is allowed: {0}")]
    Ambiguous(&'static str),
    /// The `Authorization` header is not text or names a scheme kura does not know.
    #[error("{0}")]
    MalformedAuthorization(&'static str),
    /// The SigV4 data is malformed (header form).
    #[error("{0}")]
    SigV4Header(SigV4Error),
    /// The SigV4 data is malformed (presigned form).
    #[error("{0}")]
    SigV4Query(SigV4Error),
    /// The credential scope names a service other than `s3`.
    #[error("the credential scope names service {0:?}: S3 requests must be signed for service 's3'")]
    WrongService(String),
    /// An `x-amz-*` header the signature does not cover.
    #[error("there were headers present in the request which were not signed: {0}")]
    UnsignedHeader(String),
    /// The request time is too far from the server's.
    #[error(transparent)]
    TimeTooSkewed(#[from] TimeTooSkewed),
    /// A SigV2 header request without a usable `Date` / `x-amz-date`.
    #[error("AWS authentication requires a valid Date or x-amz-date header (one, as an HTTP date)")]
    SigV2MissingDate,
    /// A SigV2 presigned URL whose `Expires` is missing, not a number, or too far ahead.
    #[error("{0}")]
    SigV2Expires(&'static str),
    /// A SigV2 request's query parameter that its signature does not cover.
    #[error(
        "the SigV2 signature does not cover the query parameter {0}: SigV2 signs only S3's sub-resources \
         (each once, with no '&' in a value) and kura takes beside them only the presigned URL's own \
         parameters and those that shape a listing; sign with SigV4, which covers the whole query"
    )]
    SigV2UnsignedQuery(String),
    /// SigV2 is turned off.
    #[error("Signature Version 2 is turned off on this server (server.sigv2: false): sign with SigV4")]
    SigV2Disabled,
    /// s3s verified another signer than the gate saw (or the request bypassed the gate).
    #[error("the request's authentication is ambiguous: send one signature, in one place")]
    Disagreement,
    /// Sent to, or signed for, a host name that is not kura's.
    #[error(
        "the request was signed for, or sent to, a host name that is not one of this server's names \
         (server.public_urls, server.internal_urls, the listen address): use one of those"
    )]
    UnknownHost,
}

/// A request time too far from the server's clock, as the request spelled it.
#[derive(Debug, thiserror::Error)]
#[error("the difference between the request time ({0}) and the server's time is more than 15 minutes")]
pub struct TimeTooSkewed(pub String);

/// THE clock rule of a SigV4 request, for every SigV4 endpoint (S3, admin, tickets, STS): its time is at
/// most [`MAX_SKEW`] ahead of `now`, and, signed in a header, at most [`MAX_SKEW`] behind. A presigned
/// request may be old (its `X-Amz-Expires` bounds it) but never from the future: its lifetime counts from
/// its date, so one dated ahead would be valid now and until long after any expiry kura allows.
///
/// # Errors
/// [`TimeTooSkewed`] with the request's `X-Amz-Date`.
pub fn check_sigv4_time(parsed: &ParsedAuth, now: SystemTime) -> Result<(), TimeTooSkewed> {
    let presigned = parsed.form == SignatureForm::Query;
    let late = now.duration_since(parsed.signed_at).unwrap_or_default();
    let early = parsed.signed_at.duration_since(now).unwrap_or_default();
    if early > MAX_SKEW || (!presigned && late > MAX_SKEW) {
        return Err(TimeTooSkewed(parsed.amz_date.clone()));
    }
    Ok(())
}

/// Reads how `method uri headers` is authenticated and applies kura's rules to it.
///
/// # Errors
/// A [`GateError`] for every request kura refuses before s3s sees it.
pub fn inspect(method: &Method, uri: &Uri, headers: &HeaderMap, rules: &Rules<'_>) -> Result<Envelope, GateError> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let authorization = match (all.next(), all.next()) {
        (None, _) => None,
        (Some(v), None) => {
            Some(v.to_str().map_err(|_| GateError::MalformedAuthorization("the Authorization header is not text"))?)
        }
        (Some(_), Some(_)) => return Err(GateError::Ambiguous("more than one Authorization header")),
    };
    // Decoded once, as s3s decodes it; every rule below reads this one decoding.
    let qs = uri.query().map(Query::parse);
    if is_post_form(method, headers) {
        // s3s reads a POST form's signature from the body and ignores the rest: refuse a second one.
        if authorization.is_some() || query_signature(qs.as_ref())?.is_some() {
            return Err(GateError::Ambiguous("a POST form upload carries its signature in the form only"));
        }
        return Ok(Envelope::PostForm);
    }
    let query = query_signature(qs.as_ref())?;
    if authorization.is_some() && query.is_some() {
        return Err(GateError::Ambiguous(
            "use the Authorization header or a presigned query string (X-Amz-Algorithm or Signature), not both",
        ));
    }
    let sigv2 = match (query, authorization) {
        (Some(QuerySignature::V2), _) => true,
        (_, Some(a)) if a.starts_with("AWS ") => true,
        (Some(QuerySignature::V4), _) => false,
        (_, Some(a)) if a.starts_with("AWS4-") => false,
        (_, Some(_)) => {
            return Err(GateError::MalformedAuthorization(
                "unsupported Authorization type: sign with AWS4-HMAC-SHA256 (SigV4)",
            ));
        }
        (None, None) => return Ok(Envelope::Anonymous),
    };
    if sigv2 { check_sigv2(qs.as_ref(), headers, authorization, rules) } else { check_sigv4(uri, headers, rules) }
}

/// The access key a refused request claims, best effort, for the audit log only (never trusted).
pub fn claimed_access_key(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(rest) = auth.strip_prefix("AWS ") {
            return rest.split_once(':').map(|(key, _)| key.to_owned());
        }
        let credential = auth.split_once("Credential=")?.1;
        return credential.split_once('/').map(|(key, _)| key.to_owned());
    }
    let qs = Query::parse(uri.query()?);
    if let Some(key) = qs.first("AWSAccessKeyId") {
        return Some(key.to_owned());
    }
    qs.first("X-Amz-Credential")?.split_once('/').map(|(key, _)| key.to_owned())
}

/// A POST with a `multipart/form-data` body: s3s checks a form signature and nothing else.
pub fn is_post_form(method: &Method, headers: &HeaderMap) -> bool {
    // s3s's own reading: the Content-Type parsed as a media type.
    method == Method::POST
        && headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA)
}

/// A query string decoded as s3s decodes it (`application/x-www-form-urlencoded`: `+` is a space,
/// `%XX` escapes, names and values alike), so a parameter kura reads is the parameter s3s reads
/// (`upload%49d` is `uploadId`). Every reading of a query before s3s goes through it.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Self {
        Query(form_urlencoded::parse(raw.as_bytes()).into_owned().collect())
    }

    /// The query of `uri`, decoded (empty without one).
    pub(crate) fn of(uri: &Uri) -> Self {
        Self::parse(uri.query().unwrap_or(""))
    }

    /// Whether a parameter of that name is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// The parameters' names, in order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// The value of a parameter that appears exactly once.
    fn unique(&self, name: &str) -> Option<&str> {
        let mut values = self.0.iter().filter(|(n, _)| n == name);
        match (values.next(), values.next()) {
            (Some((_, v)), None) => Some(v),
            _ => None,
        }
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

enum QuerySignature {
    V2,
    V4,
}

/// Which signature the query string carries, with s3s's own decoding of parameter names.
fn query_signature(qs: Option<&Query>) -> Result<Option<QuerySignature>, GateError> {
    let Some(qs) = qs else { return Ok(None) };
    let v2 = qs.has("Signature") || qs.has("AWSAccessKeyId");
    let v4 = ["X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm"].iter().any(|n| qs.has(n));
    match (v2, v4) {
        (true, true) => Err(GateError::Ambiguous("a query string carries a SigV2 and a SigV4 signature")),
        (true, false) => Ok(Some(QuerySignature::V2)),
        (false, true) => Ok(Some(QuerySignature::V4)),
        (false, false) => Ok(None),
    }
}

fn check_sigv4(uri: &Uri, headers: &HeaderMap, rules: &Rules<'_>) -> Result<Envelope, GateError> {
    let parsed = match kura_sigv4::parse_auth(uri, headers) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Err(GateError::MalformedAuthorization("the SigV4 authentication data is incomplete")),
        Err(e) if uri.query().is_some_and(|q| q.contains("X-Amz-")) => return Err(GateError::SigV4Query(e)),
        Err(e) => return Err(GateError::SigV4Header(e)),
    };
    if parsed.scope.service != "s3" {
        return Err(GateError::WrongService(parsed.scope.service.clone()));
    }
    check_sigv4_time(&parsed, rules.now)?;
    if let Some(name) = unsigned_amz_header(&parsed, headers) {
        return Err(GateError::UnsignedHeader(name.to_owned()));
    }
    Ok(Envelope::SigV4(Box::new(parsed)))
}

/// The first `x-amz-*` header that the SigV4 signature does not cover, if any. AWS refuses such a
/// request: an unsigned `x-amz-copy-source` or `x-amz-security-token` added to a captured or presigned
/// request would otherwise change what it does. A presigned request may send its body's hash unsigned
/// (the body is checked against it). Every SigV4 endpoint applies this rule (S3, admin, tickets, STS).
pub fn unsigned_amz_header<'h>(parsed: &ParsedAuth, headers: &'h HeaderMap) -> Option<&'h str> {
    let presigned = parsed.form == SignatureForm::Query;
    headers.keys().map(http::HeaderName::as_str).find(|name| {
        name.starts_with("x-amz-")
            && !(presigned && *name == "x-amz-content-sha256")
            && parsed.signed_headers.binary_search_by(|h| h.as_str().cmp(name)).is_err()
    })
}

fn check_sigv2(
    qs: Option<&Query>,
    headers: &HeaderMap,
    authorization: Option<&str>,
    rules: &Rules<'_>,
) -> Result<Envelope, GateError> {
    if !rules.sigv2 {
        return Err(GateError::SigV2Disabled);
    }
    // SigV2 signs no host name: with names configured, the request must be sent to one of them.
    if !rules.aliases.is_empty() {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
        if !host.is_some_and(|h| rules.aliases.names().contains(&h)) {
            return Err(GateError::UnknownHost);
        }
    }
    if let Some(authorization) = authorization {
        let access_key = authorization
            .strip_prefix("AWS ")
            .and_then(|rest| rest.split_once(':'))
            .map(|(key, _)| key.to_owned())
            .ok_or(GateError::MalformedAuthorization("a SigV2 Authorization header is `AWS ACCESS_KEY:SIGNATURE`"))?;
        // With x-amz-date present, SigV2 signs it and leaves Date unsigned: judge the signed one.
        let name = if headers.contains_key("x-amz-date") { "x-amz-date" } else { "date" };
        let mut values = headers.get_all(name).iter();
        let date = match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok().and_then(parse_http_date).ok_or(GateError::SigV2MissingDate)?,
            _ => return Err(GateError::SigV2MissingDate),
        };
        let skew = rules.now.duration_since(date).unwrap_or_else(|e| e.duration());
        if skew > MAX_SKEW {
            let shown = headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
            return Err(TimeTooSkewed(shown.chars().take(64).collect()).into());
        }
        unsigned_sigv2_query(qs, false)?;
        return Ok(Envelope::SigV2 { access_key, presigned: false });
    }
    let access_key = qs.and_then(|qs| qs.unique("AWSAccessKeyId")).ok_or(GateError::SigV2Expires(
        "a SigV2 presigned URL needs exactly one AWSAccessKeyId, Expires and Signature",
    ))?;
    let expires = qs
        .and_then(|qs| qs.unique("Expires"))
        .and_then(|e| e.parse::<u64>().ok())
        .ok_or(GateError::SigV2Expires("Expires must be one whole number of seconds since 1970"))?;
    let expires = UNIX_EPOCH + Duration::from_secs(expires.min(u64::from(u32::MAX) * 16));
    if expires.duration_since(rules.now).unwrap_or_default() > MAX_PRESIGNED_LIFETIME {
        return Err(GateError::SigV2Expires(
            "a SigV2 presigned URL may expire at most 7 days (604800 seconds) from now",
        ));
    }
    unsigned_sigv2_query(qs, true)?;
    Ok(Envelope::SigV2 { access_key: access_key.to_owned(), presigned: true })
}

/// The query names s3s's SigV2 string to sign covers (`INCLUDED_QUERY` in s3s 0.14.1's
/// `sig_v2/methods.rs`), with their values, each only when it appears once (`get_unique`).
const SIGV2_SIGNED: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A presigned SigV2 URL's own parameters: its credentials, and the copies of the signed
/// `Content-Type` / `Content-MD5` headers botocore adds to the query (s3s signs the headers and
/// reads neither parameter: they select and change nothing).
const SIGV2_PRESIGNED: &[&str] = &["AWSAccessKeyId", "Expires", "Signature", "content-md5", "content-type"];

/// Unsigned parameters that only shape a listing (its page, prefix, encoding) and select no
/// operation: s3s 0.14.1's router (`resolve_route`) reads none of them, but `list-type=2`, which
/// chooses ListObjectsV2 over ListObjects, the same listing under the same action (`s3:ListBucket`).
const SIGV2_LISTING: &[&str] = &[
    "continuation-token",
    "delimiter",
    "encoding-type",
    "fetch-owner",
    "key-marker",
    "list-type",
    "marker",
    "max-keys",
    "max-parts",
    "max-uploads",
    "part-number-marker",
    "prefix",
    "start-after",
    "upload-id-marker",
    "version-id-marker",
];

/// Refuses a SigV2 request whose query holds a parameter its signature does not cover. s3s routes by
/// the mere presence of a name (`?retention`, `?tagging&tagging`) but signs only [`SIGV2_SIGNED`],
/// each when it appears once: any other name, or a signed one repeated, would turn a captured or
/// presigned request into another operation under the same signature. A signed value holding `&`
/// is refused too: the signed text `?partNumber=1&uploadId=u` would read as two parameters. Every
/// name may appear once; names are decoded as s3s decodes them.
fn unsigned_sigv2_query(qs: Option<&Query>, presigned: bool) -> Result<(), GateError> {
    let Some(qs) = qs else { return Ok(()) };
    let refuse = |name: &str, why: &str| {
        let shown: String = name.chars().take(64).collect();
        GateError::SigV2UnsignedQuery(format!("{shown:?}{why}"))
    };
    let mut seen = std::collections::HashSet::new();
    for (name, value) in &qs.0 {
        let name = name.as_str();
        let allowed = (SIGV2_SIGNED.contains(&name) && !value.contains('&'))
            || SIGV2_LISTING.contains(&name)
            || (presigned && SIGV2_PRESIGNED.contains(&name));
        if !allowed {
            return Err(refuse(name, ""));
        }
        if !seen.insert(name) {
            return Err(refuse(name, " (sent more than once)"));
        }
    }
    Ok(())
}

/// The URI s3s must verify a SigV2 request against, when it differs from the received one: a
/// request naming only a bucket (`/bucket`, path-style, as kura serves it) is signed over the
/// CanonicalizedResource `/bucket/` (AWS's rule; botocore signs it so), while s3s would sign its path
/// as received. `/bucket` and `/bucket/` name the same bucket to s3s, so the operation is unchanged.
/// The path is judged decoded, as s3s reads it: `/b%2Fk` names the key `k` of bucket `b` and is
/// left alone (rewritten to `/b%2Fk/`, it would name the key `k/`).
pub fn sigv2_uri(envelope: &Envelope, uri: &Uri) -> Option<Uri> {
    if !matches!(envelope, Envelope::SigV2 { .. }) {
        return None;
    }
    let bucket = uri.path().strip_prefix('/')?;
    let decoded = percent_encoding::percent_decode_str(bucket).decode_utf8().ok()?;
    if decoded.is_empty() || decoded.contains('/') {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("/{bucket}/?{q}"),
        None => format!("/{bucket}/"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// An HTTP date (`Sat, 01 Jan 2000 00:00:00 GMT`), or a SigV4-style `YYYYMMDDTHHMMSSZ` (some SigV2
/// clients send `x-amz-date` so).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    kura_sigv4::parse_http_date(value).or_else(|| kura_sigv4::parse_amz_date(value))
}

/// The `x-amz-date` header to add for s3s to a header-signed SigV4 request that carries its time in
/// `Date` alone (kura-sigv4 reads that; s3s reads only `x-amz-date`). The value is the gate's own
/// reading of `Date`, the time it checked and the one in the string to sign, so s3s verifies the same
/// request. `x-amz-date` is then not a signed header, so adding it leaves the canonical request as
/// the client computed it.
pub fn amz_date_for_s3s(envelope: &Envelope, headers: &HeaderMap) -> Option<http::HeaderValue> {
    let parsed = envelope.sigv4().filter(|p| p.form == SignatureForm::Header)?;
    if headers.contains_key("x-amz-date") {
        return None;
    }
    http::HeaderValue::from_str(&parsed.amz_date).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(aliases: &HostAliases) -> Rules<'_> {
        Rules { now: SystemTime::now(), aliases, sigv2: true }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(http::HeaderName::from_bytes(n.as_bytes()).expect("name"), v.parse().expect("value"));
        }
        h
    }

    fn http_date(t: SystemTime) -> String {
        let t: time::OffsetDateTime = t.into();
        let ts = s3s::dto::Timestamp::from(t);
        let mut out = Vec::new();
        ts.format(s3s::dto::TimestampFormat::HttpDate, &mut out).expect("format");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn sigv2_header_needs_a_fresh_date() {
        let none = HostAliases::default();
        let uri: Uri = "/b/k".parse().expect("uri");
        let auth = ("authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl");
        let inspect = |h: &HeaderMap| inspect(&Method::DELETE, &uri, h, &rules(&none));
        let old = headers(&[auth, ("date", "Sat, 01 Jan 2000 00:00:00 GMT")]);
        assert!(matches!(inspect(&old), Err(GateError::TimeTooSkewed(_))));
        let garbage = headers(&[auth, ("date", "garbage")]);
        assert!(matches!(inspect(&garbage), Err(GateError::SigV2MissingDate)));
        assert!(matches!(inspect(&headers(&[auth])), Err(GateError::SigV2MissingDate)));
        let now = http_date(SystemTime::now());
        let fresh = headers(&[auth, ("date", now.as_str())]);
        assert!(matches!(inspect(&fresh), Ok(Envelope::SigV2 { presigned: false, .. })));
        // x-amz-date is the signed one when present: a fresh Date does not hide a stale x-amz-date.
        let hidden = headers(&[auth, ("date", now.as_str()), ("x-amz-date", "Sat, 01 Jan 2000 00:00:00 GMT")]);
        assert!(matches!(inspect(&hidden), Err(GateError::TimeTooSkewed(_))));
        let mut off = rules(&none);
        off.sigv2 = false;
        assert!(matches!(super::inspect(&Method::GET, &uri, &fresh, &off), Err(GateError::SigV2Disabled)));
    }

    #[test]
    fn repeated_sigv2_dates_and_expires_are_refused() {
        let none = HostAliases::default();
        let plain: Uri = "/b/k".parse().expect("uri");
        let now = http_date(SystemTime::now());
        let auth = ("authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl");
        let twice = headers(&[auth, ("date", now.as_str()), ("date", now.as_str())]);
        assert!(matches!(inspect(&Method::GET, &plain, &twice, &rules(&none)), Err(GateError::SigV2MissingDate)));
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 60;
        let repeated: Uri =
            format!("/b/k?AWSAccessKeyId=AKID&Expires={secs}&Expires={secs}&Signature=abc").parse().expect("uri");
        let h = HeaderMap::new();
        assert!(matches!(inspect(&Method::GET, &repeated, &h, &rules(&none)), Err(GateError::SigV2Expires(_))));
        let encoded: Uri =
            format!("/b/k?AWSAccessKeyId=AKID&%45xpires={secs}&Expires=9999999999&Signature=abc").parse().expect("uri");
        assert!(matches!(inspect(&Method::GET, &encoded, &h, &rules(&none)), Err(GateError::SigV2Expires(_))));
    }

    #[test]
    fn sigv2_presigned_lifetime_is_capped() {
        let none = HostAliases::default();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
        let url = |expires: u64| -> Uri {
            format!("/b/k?AWSAccessKeyId=AKID&Expires={expires}&Signature=abc").parse().expect("uri")
        };
        let h = HeaderMap::new();
        assert!(inspect(&Method::GET, &url(now + 3600), &h, &rules(&none)).is_ok());
        let ten_years = url(now + 10 * 365 * 86400);
        assert!(matches!(inspect(&Method::GET, &ten_years, &h, &rules(&none)), Err(GateError::SigV2Expires(_))));
        let junk: Uri = "/b/k?AWSAccessKeyId=AKID&Expires=-1&Signature=abc".parse().expect("uri");
        assert!(matches!(inspect(&Method::GET, &junk, &h, &rules(&none)), Err(GateError::SigV2Expires(_))));
    }

    #[test]
    fn sigv2_query_names_must_be_covered_by_the_signature() {
        let none = HostAliases::default();
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 60;
        let presigned = |extra: &str| -> Result<Envelope, GateError> {
            let uri: Uri =
                format!("/b/k?AWSAccessKeyId=AKID&Expires={secs}&Signature=abc{extra}").parse().expect("uri");
            inspect(&Method::PUT, &uri, &HeaderMap::new(), &rules(&none))
        };
        let now = http_date(SystemTime::now());
        let signed = headers(&[("authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl"), ("date", now.as_str())]);
        let header = |query: &str| -> Result<Envelope, GateError> {
            let uri: Uri = format!("/b/?{query}").parse().expect("uri");
            inspect(&Method::PUT, &uri, &signed, &rules(&none))
        };
        let refused = |r: Result<Envelope, GateError>| matches!(r, Err(GateError::SigV2UnsignedQuery(_)));
        // Sub-resources s3s routes by but does not sign, however their names are spelled.
        for extra in ["&retention", "&legal-hold", "&attributes", "&x-id=ListDirectoryBuckets", "&ret%65ntion", "&id=1"]
        {
            assert!(refused(presigned(extra)), "{extra}");
        }
        // Signed names sent twice are signed by none; a '&' in a signed value reads as two names.
        for extra in
            ["&tagging&tagging", "&acl&acl", "&policy&%70olicy", "&partNumber=1%26uploadId%3Du", "&prefix=a&prefix=b"]
        {
            assert!(refused(presigned(extra)), "{extra}");
        }
        assert!(refused(header("tagging&policy&policy")));
        assert!(refused(header("tagging&publicAccessBlock")));
        // A header-signed request carries no presigned parameters.
        assert!(refused(header("tagging&Expires=1")));
        assert!(refused(header("tagging&content-type=text%2Fplain")));
        let err = header("tagging&encryption").expect_err("refused");
        assert!(err.to_string().contains("\"encryption\"") && err.to_string().contains("SigV4"), "{err}");
        // Signed sub-resources once, and listing parameters, pass.
        let boto = ["&content-type=text%2Fplain&content-md5=x", "&versionId=v&response-content-type=a%2Fb"];
        for extra in ["", "&tagging", "&partNumber=2&uploadId=u", boto[0], boto[1]] {
            assert!(presigned(extra).is_ok(), "{extra}");
        }
        assert!(header("tagging").is_ok());
        assert!(header("prefix=a&marker=b&max-keys=3&delimiter=%2F&encoding-type=url").is_ok());
        assert!(header("list-type=2&continuation-token=t&start-after=s&fetch-owner=true").is_ok());
        assert!(header("uploads&key-marker=k&upload-id-marker=u&max-uploads=2").is_ok());
        assert!(header("versions&key-marker=k&version-id-marker=v").is_ok());
        assert!(header("uploadId=u&max-parts=2&part-number-marker=1").is_ok());
    }

    #[test]
    fn sigv2_must_be_sent_to_one_of_the_names() {
        let aliases = HostAliases::new(&["https://s3.example.com".into()], &[]).expect("aliases");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
        let uri: Uri = format!("/b/k?AWSAccessKeyId=AKID&Expires={}&Signature=abc", now + 60).parse().expect("uri");
        let evil = headers(&[("host", "attacker.example.net")]);
        assert!(matches!(inspect(&Method::GET, &uri, &evil, &rules(&aliases)), Err(GateError::UnknownHost)));
        let ours = headers(&[("host", "S3.example.com")]);
        assert!(inspect(&Method::GET, &uri, &ours, &rules(&aliases)).is_ok());
    }

    #[test]
    fn two_mechanisms_at_once_are_refused() {
        let none = HostAliases::default();
        let h = headers(&[("authorization", "Bearer x")]);
        let presigned: Uri = "/b/k?X-Amz-Signature=00".parse().expect("uri");
        assert!(matches!(inspect(&Method::GET, &presigned, &h, &rules(&none)), Err(GateError::Ambiguous(_))));
        let both: Uri = "/b/k?Signature=a&X-Amz-Credential=b".parse().expect("uri");
        assert!(matches!(inspect(&Method::GET, &both, &HeaderMap::new(), &rules(&none)), Err(GateError::Ambiguous(_))));
        let two = headers(&[("authorization", "AWS a:b"), ("authorization", "AWS c:d")]);
        let plain: Uri = "/b/k".parse().expect("uri");
        assert!(matches!(inspect(&Method::GET, &plain, &two, &rules(&none)), Err(GateError::Ambiguous(_))));
        // An encoded parameter name is the same parameter: s3s decodes names too.
        let encoded: Uri = "/b/k?X-Amz-%53ignature=00".parse().expect("uri");
        assert!(matches!(inspect(&Method::GET, &encoded, &h, &rules(&none)), Err(GateError::Ambiguous(_))));
    }

    #[test]
    fn unknown_schemes_are_refused_and_unsigned_requests_are_anonymous() {
        let none = HostAliases::default();
        let plain: Uri = "/b/k".parse().expect("uri");
        let bearer = headers(&[("authorization", "Bearer x")]);
        assert!(matches!(
            inspect(&Method::GET, &plain, &bearer, &rules(&none)),
            Err(GateError::MalformedAuthorization(_))
        ));
        assert!(matches!(inspect(&Method::GET, &plain, &HeaderMap::new(), &rules(&none)), Ok(Envelope::Anonymous)));
    }

    #[test]
    fn sigv2_bucket_requests_are_verified_over_bucket_slash() {
        let v2 = Envelope::SigV2 { access_key: "k".into(), presigned: false };
        let at = |u: &str| sigv2_uri(&v2, &u.parse::<Uri>().expect("uri")).map(|u| u.to_string());
        assert_eq!(at("/b").as_deref(), Some("/b/"));
        assert_eq!(at("/b?acl").as_deref(), Some("/b/?acl"));
        assert_eq!(at("http://h:1/b?uploads&prefix=x").as_deref(), Some("http://h:1/b/?uploads&prefix=x"));
        for unchanged in ["/", "/b/", "/b/k", "/b/k/", "/b//k", "/b%2Fk", "/b%2fk", "/%2Fb"] {
            assert_eq!(at(unchanged), None, "{unchanged}");
        }
        let anonymous = sigv2_uri(&Envelope::Anonymous, &"/b".parse::<Uri>().expect("uri"));
        assert!(anonymous.is_none(), "only SigV2 signs a bucket as /bucket/");
    }
}
