//! Reading the SigV4 authentication data of a received request (header or presigned query form).

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;
use http::{HeaderMap, Uri};

use crate::encode::decode_query_component;
use crate::{ALGORITHM, MAX_EXPIRES_SECS, MAX_QUERY_PARAMS, MAX_SIGNED_HEADERS, Scope, SigV4Error, UNSIGNED_PAYLOAD};

/// Where a request carries its SigV4 signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureForm {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    Header,
    /// Presigned URL: `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
    /// `X-Amz-SignedHeaders`, `X-Amz-Signature` in the query string.
    Query,
}

/// The SigV4 authentication data of one request, checked for shape but not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedAuth {
    /// Header or presigned query form.
    pub form: SignatureForm,
    /// Access key id from the credential.
    pub access_key: String,
    /// Credential scope (its date equals the date part of [`amz_date`](Self::amz_date)).
    pub scope: Scope,
    /// Signed header names: lowercase, sorted, distinct, always including `host`; at most
    /// [`MAX_SIGNED_HEADERS`].
    pub signed_headers: Vec<String>,
    /// The request's signature: 64 lowercase hex characters.
    pub signature: String,
    /// The request time, `YYYYMMDDTHHMMSSZ`: the `x-amz-date` header or `X-Amz-Date` parameter as
    /// sent, or the `Date` header rewritten so when a header-signed request has no `x-amz-date`.
    pub amz_date: String,
    /// [`amz_date`](Self::amz_date) as a time.
    pub signed_at: SystemTime,
    /// Presigned lifetime in seconds (`X-Amz-Expires`, 1..=604800); `None` in the header form.
    pub expires: Option<u64>,
    /// Session token of temporary credentials (`x-amz-security-token` header / `X-Amz-Security-Token`).
    pub security_token: Option<String>,
    /// The payload hash the signature covers: the `x-amz-content-sha256` header in the header form
    /// (a hex SHA-256, `UNSIGNED-PAYLOAD` or a `STREAMING-…` marker; `None` when absent, as for STS
    /// requests that sign the body's hash without sending it), `UNSIGNED-PAYLOAD` in the query form.
    pub payload_hash: Option<String>,
}

impl fmt::Debug for ParsedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedAuth")
            .field("form", &self.form)
            .field("access_key", &self.access_key)
            .field("scope", &self.scope)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field("amz_date", &self.amz_date)
            .field("expires", &self.expires)
            .field("security_token", &self.security_token.as_ref().map(|_| "** redacted **"))
            .field("payload_hash", &self.payload_hash)
            .finish_non_exhaustive()
    }
}

impl ParsedAuth {
    /// When a presigned request stops being valid (`signed_at + expires`); `None` in the header form.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires.and_then(|secs| self.signed_at.checked_add(Duration::from_secs(secs)))
    }
}

/// Reads the SigV4 authentication data of a request.
///
/// `Ok(None)` means the request is not SigV4-signed: anonymous, SigV2 (`Authorization: AWS …` or
/// `Signature=` in the query), a POST form upload (its signature is in the body), or another
/// `Authorization` scheme. `Err` means it tries to be SigV4 and is malformed; answer it with an error
/// rather than treating it as anonymous.
///
/// Work is bounded: at most [`MAX_QUERY_PARAMS`] query pieces and [`MAX_SIGNED_HEADERS`] signed
/// headers are accepted.
///
/// # Errors
/// See [`SigV4Error`]: malformed `Authorization`, credential, date, expiry, signed headers or
/// signature; a missing presigned parameter; both forms at once; an algorithm other than
/// `AWS4-HMAC-SHA256`.
pub fn parse_auth(uri: &Uri, headers: &HeaderMap) -> Result<Option<ParsedAuth>, SigV4Error> {
    let query = QueryAuth::scan(uri.query().unwrap_or(""))?;
    let mut authorizations = headers.get_all(AUTHORIZATION).iter();
    let authorization = match (authorizations.next(), authorizations.next()) {
        (None, _) => None,
        (Some(value), None) => {
            let value = value.to_str().map_err(|_| SigV4Error::NotText("Authorization"))?;
            if value.starts_with("AWS4-") { Some(value) } else { None }
        }
        (Some(_), Some(_)) => {
            return Err(SigV4Error::MalformedAuthorization("only one Authorization header is allowed"));
        }
    };
    match (authorization, query.is_sigv4()) {
        (Some(_), true) => Err(SigV4Error::AmbiguousSignature),
        (Some(value), false) => parse_header_form(value, headers).map(Some),
        (None, true) => query.into_parsed(headers).map(Some),
        (None, false) => Ok(None),
    }
}

fn single_header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, SigV4Error> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v.to_str().map(Some).map_err(|_| SigV4Error::NotText(name)),
        (Some(_), Some(_)) => Err(SigV4Error::MissingHeader(name)),
    }
}

fn parse_header_form(value: &str, headers: &HeaderMap) -> Result<ParsedAuth, SigV4Error> {
    let algorithm_end = value.find(' ').unwrap_or(value.len());
    let (algorithm, rest) = value.split_at(algorithm_end);
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm.chars().take(64).collect()));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim_matches(' ');
        let Some((key, val)) = part.split_once('=') else {
            return Err(SigV4Error::MalformedAuthorization("each part must be NAME=VALUE"));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => {
                return Err(SigV4Error::MalformedAuthorization(
                    "unknown part (expected Credential, SignedHeaders, Signature)",
                ));
            }
        };
        if slot.replace(val).is_some() {
            return Err(SigV4Error::MalformedAuthorization("a part appears twice"));
        }
    }
    let credential = credential.ok_or(SigV4Error::MalformedAuthorization("Credential is missing"))?;
    let signed = signed.ok_or(SigV4Error::MalformedAuthorization("SignedHeaders is missing"))?;
    let signature = signature.ok_or(SigV4Error::MalformedAuthorization("Signature is missing"))?;

    let (access_key, scope) = Scope::parse_credential(credential, "Credential")?;
    let (amz_date, signed_at) = request_time(headers, &scope)?;
    Ok(ParsedAuth {
        form: SignatureForm::Header,
        access_key,
        scope,
        signed_headers: parse_signed_headers(signed)?,
        signature: check_signature(signature)?,
        amz_date,
        signed_at,
        expires: None,
        security_token: single_header(headers, "x-amz-security-token")?.map(str::to_owned),
        payload_hash: single_header(headers, "x-amz-content-sha256")?.map(str::to_owned),
    })
}

/// The time a header-signed request was signed, as `YYYYMMDDTHHMMSSZ` and as a time: `x-amz-date`, or,
/// when that is absent, `Date` (an HTTP date), as SigV4 allows and as botocore signs when its caller
/// sets `Date`. `x-amz-date` wins when both are sent, as on AWS. Either header, sent twice, is refused:
/// the signer and the server could read different copies.
fn request_time(headers: &HeaderMap, scope: &Scope) -> Result<(String, SystemTime), SigV4Error> {
    if let Some(amz_date) = single_header(headers, "x-amz-date")? {
        return Ok((amz_date.to_owned(), check_date(amz_date, scope, "x-amz-date")?));
    }
    let date = single_header(headers, "date")?.ok_or(SigV4Error::MissingHeader("x-amz-date (or Date)"))?;
    let signed_at = crate::parse_http_date(date).ok_or(SigV4Error::InvalidHttpDate)?;
    let amz_date = crate::format_amz_date(signed_at);
    check_scope_date(&amz_date, scope)?;
    Ok((amz_date, signed_at))
}

fn check_date(amz_date: &str, scope: &Scope, field: &'static str) -> Result<SystemTime, SigV4Error> {
    let signed_at = crate::parse_amz_date(amz_date).ok_or(SigV4Error::InvalidAmzDate(field))?;
    check_scope_date(amz_date, scope)?;
    Ok(signed_at)
}

/// The credential scope's date must be the day of the request time (`YYYYMMDDTHHMMSSZ`).
fn check_scope_date(amz_date: &str, scope: &Scope) -> Result<(), SigV4Error> {
    if amz_date.get(..8) != Some(scope.date.as_str()) {
        return Err(SigV4Error::ScopeDateMismatch { scope_date: scope.date.clone(), amz_date: amz_date.to_owned() });
    }
    Ok(())
}

fn check_signature(signature: &str) -> Result<String, SigV4Error> {
    if signature.len() != 64 || !signature.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(SigV4Error::InvalidSignature);
    }
    Ok(signature.to_owned())
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, SigV4Error> {
    let mut names = Vec::new();
    for name in list.split(';') {
        if names.len() >= MAX_SIGNED_HEADERS {
            return Err(SigV4Error::TooManySignedHeaders { max: MAX_SIGNED_HEADERS });
        }
        if name.is_empty() {
            return Err(SigV4Error::InvalidSignedHeaders("empty name"));
        }
        let token = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b);
        if !name.bytes().all(token) {
            return Err(SigV4Error::InvalidSignedHeaders("names must be lowercase HTTP header names"));
        }
        names.push(name.to_owned());
    }
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    if names.len() != before {
        return Err(SigV4Error::InvalidSignedHeaders("a name is listed twice"));
    }
    if names.binary_search_by(|n| n.as_str().cmp("host")).is_err() {
        return Err(SigV4Error::InvalidSignedHeaders("host is not signed"));
    }
    Ok(names)
}

/// The authentication parameters of a presigned URL, decoded.
#[derive(Default)]
struct QueryAuth {
    algorithm: Option<String>,
    credential: Option<String>,
    date: Option<String>,
    expires: Option<String>,
    signed_headers: Option<String>,
    signature: Option<String>,
    security_token: Option<String>,
}

impl QueryAuth {
    fn scan(raw: &str) -> Result<Self, SigV4Error> {
        let mut found = QueryAuth::default();
        for (count, piece) in raw.split('&').filter(|p| !p.is_empty()).enumerate() {
            if count >= MAX_QUERY_PARAMS {
                return Err(SigV4Error::TooManyQueryParameters { max: MAX_QUERY_PARAMS });
            }
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            // Authentication parameter names are plain ASCII; only decode when a name could be one.
            if !(name.starts_with("X-Amz-") || name.contains('%')) {
                continue;
            }
            let name = decode_query_component(name);
            let (slot, label) = match name.as_slice() {
                b"X-Amz-Algorithm" => (&mut found.algorithm, "X-Amz-Algorithm"),
                b"X-Amz-Credential" => (&mut found.credential, "X-Amz-Credential"),
                b"X-Amz-Date" => (&mut found.date, "X-Amz-Date"),
                b"X-Amz-Expires" => (&mut found.expires, "X-Amz-Expires"),
                b"X-Amz-SignedHeaders" => (&mut found.signed_headers, "X-Amz-SignedHeaders"),
                b"X-Amz-Signature" => (&mut found.signature, "X-Amz-Signature"),
                b"X-Amz-Security-Token" => (&mut found.security_token, "X-Amz-Security-Token"),
                _ => continue,
            };
            let value = String::from_utf8(decode_query_component(value)).map_err(|_| SigV4Error::NotText(label))?;
            if slot.replace(value).is_some() {
                return Err(SigV4Error::DuplicateParameter(label));
            }
        }
        Ok(found)
    }

    fn is_sigv4(&self) -> bool {
        self.algorithm.is_some() || self.signature.is_some() || self.credential.is_some()
    }

    fn into_parsed(self, headers: &HeaderMap) -> Result<ParsedAuth, SigV4Error> {
        let algorithm = self.algorithm.ok_or(SigV4Error::MissingParameter("X-Amz-Algorithm"))?;
        if algorithm != ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm(algorithm.chars().take(64).collect()));
        }
        let credential = self.credential.ok_or(SigV4Error::MissingParameter("X-Amz-Credential"))?;
        let amz_date = self.date.ok_or(SigV4Error::MissingParameter("X-Amz-Date"))?;
        let expires = self.expires.ok_or(SigV4Error::MissingParameter("X-Amz-Expires"))?;
        let signed = self.signed_headers.ok_or(SigV4Error::MissingParameter("X-Amz-SignedHeaders"))?;
        let signature = self.signature.ok_or(SigV4Error::MissingParameter("X-Amz-Signature"))?;

        let (access_key, scope) = Scope::parse_credential(&credential, "X-Amz-Credential")?;
        let signed_at = check_date(&amz_date, &scope, "X-Amz-Date")?;
        let expires = parse_expires(&expires)?;
        // The header form of the token is accepted too, but the two must not disagree.
        let token_header = single_header(headers, "x-amz-security-token")?;
        if let (Some(q), Some(h)) = (&self.security_token, token_header)
            && q != h
        {
            return Err(SigV4Error::DuplicateParameter("X-Amz-Security-Token"));
        }
        Ok(ParsedAuth {
            form: SignatureForm::Query,
            access_key,
            scope,
            signed_headers: parse_signed_headers(&signed)?,
            signature: check_signature(&signature)?,
            amz_date,
            signed_at,
            expires: Some(expires),
            security_token: self.security_token.or_else(|| token_header.map(str::to_owned)),
            payload_hash: Some(UNSIGNED_PAYLOAD.to_owned()),
        })
    }
}

fn parse_expires(s: &str) -> Result<u64, SigV4Error> {
    if s.is_empty() || s.len() > 7 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::InvalidExpires);
    }
    match s.parse::<u64>() {
        Ok(n) if (1..=MAX_EXPIRES_SECS).contains(&n) => Ok(n),
        _ => Err(SigV4Error::InvalidExpires),
    }
}
