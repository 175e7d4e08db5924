//! STS on the S3 port (`AWS_ENDPOINT_URL_STS` = the S3 URL): `AssumeRoleWithWebIdentity` (unsigned),
//! `AssumeRole` and `GetCallerIdentity` (SigV4-signed for service `sts`), in the AWS Query protocol
//! (form POST or GET query in, XML out).
//!
//! Signed requests are verified here with kura-sigv4 (s3s knows only S3), against the received host
//! and kura's other names, and temporary credentials are checked against their session token exactly
//! as S3 requests are ([`crate::authz::caller_of`]).

pub mod error;
pub mod xml;

use crate::audit::{Attribution, AuditSlot};
use crate::authz::{Access, Authorizer, caller_of, session_token};
use crate::base::caller::Caller;
use crate::iam::{Iam, IamState};
use crate::identity::tags::SessionTags;
use crate::identity::{IdentityError, SessionRequest};
use bytes::Bytes;
use error::StsError;
use http::{HeaderMap, Method, StatusCode, Uri};
use kura_policy::Context;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

/// The largest STS request body read (a form with a 2 KiB policy and a 16 KiB token fits).
pub const MAX_BODY: usize = 64 * 1024;

/// Whether a request is for STS: `POST /` with a form body, or `GET /?Action=…`.
pub fn is_sts(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    if uri.path() != "/" {
        return false;
    }
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let action_in_query = uri.query().is_some_and(|q| q.split('&').any(|p| p.starts_with("Action=")));
    (method == Method::POST && form) || (method == Method::GET && action_in_query)
}

/// The STS API.
pub struct Sts {
    iam: Arc<Iam>,
    authz: Arc<Authorizer>,
    /// kura's own names (host aliases): when set, the only names a signature may be made for.
    hosts: Vec<String>,
}

/// An STS request, read whole.
pub struct StsRequest<'a> {
    /// Method.
    pub method: &'a Method,
    /// URI (the query may carry parameters and a presigned signature).
    pub uri: &'a Uri,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// The form body.
    pub body: &'a Bytes,
}

/// The managed session policies a request may name (`PolicyArns.member.N.arn`), which kura refuses.
const POLICY_ARNS: &str = "PolicyArns";

/// Parameters of AssumeRole that kura does not implement, refused rather than ignored (ignored, a
/// session would be issued without what its caller asked to be bound by): a source identity, an MFA
/// device and code, the context assertions of trusted context providers.
const UNSUPPORTED: &[&str] = &["SourceIdentity", "SerialNumber", "TokenCode", "ProvidedContexts"];

/// The STS actions kura serves (any other is refused with `InvalidAction`).
pub const ACTIONS: &[&str] = &["AssumeRoleWithWebIdentity", "AssumeRole", "GetCallerIdentity"];

impl Sts {
    /// STS over the live IAM state; `hosts` are kura's configured names.
    pub fn new(iam: Arc<Iam>, authz: Arc<Authorizer>, hosts: Vec<String>) -> Self {
        Self { iam, authz, hosts }
    }

    /// Serves one request: `(status, XML body)`.
    pub async fn handle(&self, req: StsRequest<'_>, request_id: &str, slot: &AuditSlot) -> (StatusCode, String) {
        match self.dispatch(&req, request_id, slot).await {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => {
                tracing::info!(target: "kura::sts", code = e.code, message = %e.message, "STS request refused");
                (e.status, e.to_xml(request_id))
            }
        }
    }

    async fn dispatch(&self, req: &StsRequest<'_>, request_id: &str, slot: &AuditSlot) -> Result<String, StsError> {
        let params = parameters(req.uri, req.body)?;
        let action = params.get("Action").map(String::as_str).unwrap_or_default();
        slot.fill(|f| f.operation = Some(action.to_owned()));
        let state = self.iam.snapshot();
        let now = crate::base::clock::unix_now();
        let result = match action {
            "AssumeRoleWithWebIdentity" => {
                let token = required(&params, "WebIdentityToken")?;
                let session = session_request(&params)?;
                let (issued, token) = state.identity.assume_role_with_web_identity(&session, token, now).await?;
                slot.fill(|f| f.caller = issued_attribution(&issued, "web-identity"));
                crate::identity::log_issued(action, &issued, &token);
                format!(
                    "{}<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken><Audience>{}</Audience>\
                     <Provider>{}</Provider>",
                    xml::session(&issued),
                    xml::escape(&token.subject),
                    xml::escape(token.audiences.first().map_or("", String::as_str)),
                    xml::escape(&token.issuer_key),
                )
            }
            "AssumeRole" => {
                let caller = self.authenticate(req, &state, slot)?;
                let session = session_request(&params)?;
                // `context`: the caller's keys, the session name, and the tags asked for.
                let identity_allows = |action: &str, role_arn: &str, context: &Context| {
                    let access = Access { action, resource: role_arn, bucket: None, context };
                    self.authz.evaluate(&state, &caller, &access).is_allowed()
                };
                let issued = state.identity.assume_role(&caller, &session, identity_allows, now)?;
                slot.fill(|f| f.caller.role = Some(issued.role.name.clone()));
                tracing::info!(
                    target: "kura::audit",
                    action,
                    role = %issued.role.name,
                    session = %issued.claims.session,
                    principal = %caller.arn(),
                    access_key = %issued.credentials.access_key,
                    "session issued"
                );
                xml::session(&issued)
            }
            "GetCallerIdentity" => {
                let caller = self.authenticate(req, &state, slot)?;
                let principal = caller.principal();
                format!(
                    "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
                    xml::escape(&caller.arn()),
                    xml::escape(principal.userid.as_deref().unwrap_or_default()),
                    crate::base::account::ACCOUNT
                )
            }
            "" => {
                return Err(StsError::new("MissingAction", StatusCode::BAD_REQUEST, "the Action parameter is missing"));
            }
            other => {
                return Err(StsError::new(
                    "InvalidAction",
                    StatusCode::BAD_REQUEST,
                    format!(
                        "kura's STS does not implement {other:?}: it serves AssumeRoleWithWebIdentity, AssumeRole and \
                         GetCallerIdentity"
                    ),
                ));
            }
        };
        Ok(xml::response(action, &result, request_id))
    }

    /// Verifies the request's SigV4 signature (service `sts`) and its session token, and says who
    /// signed it.
    fn authenticate(&self, req: &StsRequest<'_>, state: &IamState, slot: &AuditSlot) -> Result<Caller, StsError> {
        let sig = |m: String| StsError::new("SignatureDoesNotMatch", StatusCode::FORBIDDEN, m);
        let parsed = match kura_sigv4::parse_auth(req.uri, req.headers) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(StsError::new(
                    "MissingAuthenticationToken",
                    StatusCode::FORBIDDEN,
                    "this action must be signed (SigV4, service sts)",
                ));
            }
            Err(e) => return Err(StsError::new("IncompleteSignature", StatusCode::BAD_REQUEST, e.to_string())),
        };
        if parsed.scope.service != "sts" {
            return Err(sig(format!(
                "Credential should be scoped to correct service: 'sts', not {:?}",
                parsed.scope.service
            )));
        }
        if let Some(name) = crate::authn::gate::unsigned_amz_header(&parsed, req.headers) {
            return Err(StsError::new(
                "AccessDenied",
                StatusCode::FORBIDDEN,
                format!("the header {name} is not signed: sign every x-amz-* header the request sends"),
            ));
        }
        // The S3 gate's own rule: a header-signed time within 15 minutes, a presigned one never ahead.
        let now = SystemTime::now();
        crate::authn::gate::check_sigv4_time(&parsed, now)?;
        if parsed.expires_at().is_some_and(|end| now > end) {
            return Err(sig("the presigned request has expired".to_owned()));
        }
        let secret = state.secret_for(&parsed.access_key).ok_or_else(|| {
            StsError::new(
                "InvalidClientTokenId",
                StatusCode::FORBIDDEN,
                "The security token included in the request is invalid: unknown access key",
            )
        })?;
        let scope = &parsed.scope;
        let key = kura_sigv4::derive_key(secret.expose(), &scope.date, &scope.region, &scope.service);
        // Non-S3 services sign the body's hash (presigned ones: the empty body's).
        let payload_hash = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(req.body))
        };
        // With names configured, only they count (as for S3); else the received Host is the name.
        let received = req.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let hosts: Vec<&str> =
            if self.hosts.is_empty() { vec![received] } else { self.hosts.iter().map(String::as_str).collect() };
        if kura_sigv4::verify_for_hosts_with_payload(
            &parsed,
            req.method,
            req.uri,
            req.headers,
            &payload_hash,
            &key,
            &hosts,
        )
        .is_none()
        {
            return Err(sig(
                "The request signature we calculated does not match the signature you provided. Check your AWS \
                 Secret Access Key and signing method."
                    .to_owned(),
            ));
        }
        let token = session_token(req.uri, req.headers);
        let caller = caller_of(state, Some(&parsed.access_key), token.as_deref())?;
        let how = if parsed.form == kura_sigv4::SignatureForm::Query { "presigned" } else { "header" };
        slot.fill(|f| f.caller = Attribution::of(&caller, how));
        Ok(caller)
    }
}

/// The audit attribution of a session kura just issued: the session itself, with the token's subject
/// and Kubernetes identity, as its later requests will be attributed.
pub fn issued_attribution(issued: &crate::identity::Issued, how: &'static str) -> Attribution {
    let caller = Caller::Session {
        access_key: issued.credentials.access_key.clone(),
        claims: std::sync::Arc::new(issued.claims.clone()),
    };
    Attribution::of(&caller, how)
}

/// Query and form parameters (form wins), decoded.
fn parameters(uri: &Uri, body: &Bytes) -> Result<BTreeMap<String, String>, StsError> {
    let mut params = BTreeMap::new();
    let body = std::str::from_utf8(body)
        .map_err(|_| StsError::new("InvalidParameterValue", StatusCode::BAD_REQUEST, "the form body is not UTF-8"))?;
    for text in [uri.query().unwrap_or_default(), body] {
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| {
                        StsError::new("InvalidParameterValue", StatusCode::BAD_REQUEST, "a parameter is not UTF-8")
                    })
            };
            params.insert(decode(k)?, decode(v)?);
        }
    }
    Ok(params)
}

fn required<'p>(params: &'p BTreeMap<String, String>, name: &str) -> Result<&'p str, StsError> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
        StsError::new("MissingParameter", StatusCode::BAD_REQUEST, format!("the parameter {name} is required"))
    })
}

/// The session a request asks for (AssumeRole, AssumeRoleWithWebIdentity). kura has no managed
/// session policies, so `PolicyArns` with any member is refused rather than dropped: dropped, the
/// session would get the role's whole permissions where the caller asked for fewer. An empty list
/// (`PolicyArns=` alone, as the SDKs send `[]`) asks for nothing and is accepted.
fn session_request(params: &BTreeMap<String, String>) -> Result<SessionRequest, StsError> {
    let policy_arns = |(name, value): (&String, &String)| {
        let list = name.get(..POLICY_ARNS.len()).is_some_and(|n| n.eq_ignore_ascii_case(POLICY_ARNS));
        list && !(name == POLICY_ARNS && value.is_empty())
    };
    if let Some((name, _)) = params.iter().find(|p| policy_arns(*p)) {
        return Err(StsError::new(
            "InvalidParameterValue",
            StatusCode::BAD_REQUEST,
            format!(
                "kura has no managed session policies: {name} is not supported (nothing was issued). Pass the \
                 session policy inline, as a JSON document in the Policy parameter"
            ),
        ));
    }
    let unsupported = |name: &String| {
        UNSUPPORTED.iter().any(|u| {
            name.get(..u.len()).is_some_and(|n| n.eq_ignore_ascii_case(u))
                && (name.len() == u.len() || name.as_bytes()[u.len()] == b'.')
        })
    };
    if let Some(name) = params.keys().find(|n| unsupported(n)) {
        return Err(StsError::new(
            "InvalidParameterValue",
            StatusCode::BAD_REQUEST,
            format!("kura's STS does not support {name} (nothing was issued): send the request without it"),
        ));
    }
    let tags = session_tags(params)?;
    let duration = match params.get("DurationSeconds") {
        None => None,
        Some(d) => Some(d.parse::<u64>().map_err(|_| {
            StsError::from(IdentityError::Validation(format!("DurationSeconds {d:?} is not a number of seconds")))
        })?),
    };
    let external_id = params.get("ExternalId").cloned();
    if let Some(id) = &external_id
        && !valid_external_id(id)
    {
        return Err(StsError::from(IdentityError::Validation(format!(
            "ExternalId {id:?}: use 2 to 1224 characters of A-Z, a-z, 0-9 and +=,.@:/-_"
        ))));
    }
    Ok(SessionRequest {
        role_arn: required(params, "RoleArn")?.to_owned(),
        session_name: required(params, "RoleSessionName")?.to_owned(),
        duration,
        policy: params.get("Policy").cloned(),
        external_id,
        tags,
    })
}

/// The session tags a request asks for: `Tags.member.N.Key` / `Tags.member.N.Value` and
/// `TransitiveTagKeys.member.N`, N counting from 1 in plain decimal (`01` is refused: two spellings
/// of one member could otherwise give one key two values). `Tags=` or `TransitiveTagKeys=` alone is
/// the empty list the SDKs send. Any other name under them is refused, never skipped.
fn session_tags(params: &BTreeMap<String, String>) -> Result<SessionTags, StsError> {
    let invalid = |m: String| StsError::new("InvalidParameterValue", StatusCode::BAD_REQUEST, m);
    let member = |rest: &str| -> Option<(usize, String)> {
        let (n, field) = rest.split_once('.').map_or((rest, ""), |(n, f)| (n, f));
        let index = n.parse::<usize>().ok().filter(|i| *i >= 1 && i.to_string() == n)?;
        Some((index, field.to_owned()))
    };
    let mut keys: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut transitive = Vec::new();
    for (name, value) in params {
        let lower = name.to_ascii_lowercase();
        if lower == "tags" || lower == "transitivetagkeys" {
            if value.is_empty() {
                continue;
            }
            return Err(invalid(format!("{name} is a list: pass its members as {name}.member.N")));
        }
        if let Some(rest) = name.strip_prefix("Tags.member.") {
            match member(rest) {
                Some((n, field)) if field == "Key" => keys.entry(n).or_default().0 = Some(value.clone()),
                Some((n, field)) if field == "Value" => keys.entry(n).or_default().1 = Some(value.clone()),
                _ => {
                    return Err(invalid(format!(
                        "{name} is not a session tag parameter: use Tags.member.N.Key / .Value"
                    )));
                }
            }
        } else if let Some(rest) = name.strip_prefix("TransitiveTagKeys.member.") {
            match member(rest) {
                Some((_, field)) if field.is_empty() => transitive.push(value.clone()),
                _ => {
                    return Err(invalid(format!("{name} is not a transitive tag key: use TransitiveTagKeys.member.N")));
                }
            }
        } else if lower.starts_with("tags.") || lower.starts_with("transitivetagkeys.") {
            return Err(invalid(format!("{name} is not a session tag parameter")));
        }
    }
    let mut pairs = Vec::with_capacity(keys.len());
    for (n, pair) in keys {
        match pair {
            (Some(key), Some(value)) => pairs.push((key, value)),
            _ => {
                return Err(StsError::from(IdentityError::Validation(format!(
                    "session tag {n} needs both Tags.member.{n}.Key and Tags.member.{n}.Value"
                ))));
            }
        }
    }
    SessionTags::new(pairs, transitive).map_err(StsError::from)
}

/// Whether `id` is an `ExternalId` as AWS takes one: 2 to 1224 characters of `[\w+=,.@:/-]`.
fn valid_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_sts_requests_only() {
        let form = {
            let mut h = HeaderMap::new();
            h.insert(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8".parse().expect("hv"),
            );
            h
        };
        let root: Uri = "/".parse().expect("uri");
        assert!(is_sts(&Method::POST, &root, &form));
        assert!(!is_sts(&Method::POST, &"/bucket".parse().expect("uri"), &form));
        assert!(!is_sts(&Method::POST, &root, &HeaderMap::new()));
        assert!(is_sts(
            &Method::GET,
            &"/?Action=GetCallerIdentity&Version=2011-06-15".parse().expect("uri"),
            &HeaderMap::new()
        ));
        assert!(!is_sts(&Method::GET, &root, &HeaderMap::new()), "ListBuckets stays S3");
    }

    #[test]
    fn parameters_decode_form_and_query() {
        let uri: Uri = "/?Version=2011-06-15".parse().expect("uri");
        let body = Bytes::from_static(
            b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fr&RoleSessionName=a+b",
        );
        let p = parameters(&uri, &body).expect("params");
        assert_eq!(p["Action"], "AssumeRole");
        assert_eq!(p["RoleArn"], "arn:aws:iam::000000000000:role/r");
        assert_eq!(p["RoleSessionName"], "a b");
        assert_eq!(p["Version"], "2011-06-15");
        assert!(parameters(&uri, &Bytes::from_static(b"A=%FF")).is_err());
        let missing = session_request(&BTreeMap::new()).expect_err("missing");
        assert_eq!(missing.code, "MissingParameter");
    }

    #[test]
    fn external_ids_are_read_and_checked() {
        let with = |id: &str| {
            let p: BTreeMap<String, String> =
                [("RoleArn", "arn:aws:iam::000000000000:role/r"), ("RoleSessionName", "s"), ("ExternalId", id)]
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
            session_request(&p)
        };
        assert_eq!(with("partner-42:x/y").expect("valid").external_id.as_deref(), Some("partner-42:x/y"));
        for bad in ["x", "has space", "semi;colon"] {
            assert_eq!(with(bad).expect_err(bad).code, "ValidationError", "{bad}");
        }
    }

    /// The parameters of a session request: a role, a session name and `extra`.
    fn request_with(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        [("RoleArn", "arn:aws:iam::000000000000:role/r"), ("RoleSessionName", "s")]
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn session_tags_are_read_from_their_list_members_only() {
        let ok = session_request(&request_with(&[
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "payroll"),
            ("Tags.member.2.Key", "stage"),
            ("Tags.member.2.Value", ""),
            ("TransitiveTagKeys.member.1", "team"),
            ("Tags", ""),
        ]))
        .expect("tags");
        assert_eq!(ok.tags.tags.get("team").map(String::as_str), Some("payroll"));
        assert_eq!(ok.tags.tags.get("stage").map(String::as_str), Some(""));
        assert!(ok.tags.transitive.contains("team"));
        // Names are read decoded, once: a percent-encoded member is the same member, and an encoded
        // `SourceIdentity` is still refused.
        let uri: Uri = "/?Action=AssumeRole".parse().expect("uri");
        let encoded = Bytes::from_static(
            b"RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fr&RoleSessionName=s\
              &Tags%2Emember%2E1%2EKey=team&Tags.member.1.%56alue=payroll",
        );
        let read = session_request(&parameters(&uri, &encoded).expect("params")).expect("encoded tags");
        assert_eq!(read.tags.tags.get("team").map(String::as_str), Some("payroll"));
        let hidden = Bytes::from_static(b"RoleArn=r&RoleSessionName=s&Source%49dentity=alice");
        let err =
            session_request(&parameters(&uri, &hidden).expect("params")).err().unwrap_or_else(|| panic!("refused"));
        assert_eq!(err.code, "InvalidParameterValue");
        for (extra, code) in [
            (&[("Tags.member.1.Key", "team")][..], "ValidationError"),
            (&[("Tags.member.01.Key", "team"), ("Tags.member.01.Value", "x")], "InvalidParameterValue"),
            (&[("Tags.member.0.Key", "team"), ("Tags.member.0.Value", "x")], "InvalidParameterValue"),
            (&[("Tags.member.1.Name", "team")], "InvalidParameterValue"),
            (&[("tags.member.1.key", "team")], "InvalidParameterValue"),
            (&[("Tags", "team=payroll")], "InvalidParameterValue"),
            (&[("TransitiveTagKeys.member.1", "team")], "InvalidParameterValue"),
            (&[("SourceIdentity", "alice")], "InvalidParameterValue"),
            (
                &[("ProvidedContexts.member.1.ProviderArn", "arn:aws:iam::aws:contextProvider/x")],
                "InvalidParameterValue",
            ),
            (&[("tokencode", "123456")], "InvalidParameterValue"),
        ] {
            let err = session_request(&request_with(extra)).err().unwrap_or_else(|| panic!("{extra:?} is refused"));
            assert_eq!(err.code, code, "{extra:?}");
        }
        assert!(session_request(&request_with(&[("SourceIdentityX", "a")])).is_ok(), "another name, ignored as before");
    }

    #[test]
    fn policy_arns_are_refused_unless_the_list_is_empty() {
        let with = |extra: &[(&str, &str)]| {
            let mut p: BTreeMap<String, String> =
                [("RoleArn", "arn:aws:iam::000000000000:role/r"), ("RoleSessionName", "s")]
                    .iter()
                    .chain(extra)
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
            p.insert("Policy".into(), "{}".into());
            session_request(&p)
        };
        for extra in [
            &[("PolicyArns.member.1.arn", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")][..],
            &[("PolicyArns.member.1.arn", "")],
            &[("PolicyArns.member.2.arn", "arn:aws:iam::000000000000:policy/p"), ("PolicyArns", "")],
            &[("policyarns.member.1.arn", "arn:aws:iam::000000000000:policy/p")],
            &[("PolicyArns", "arn:aws:iam::000000000000:policy/p")],
        ] {
            let refused = with(extra).expect_err("refused");
            assert_eq!((refused.code, refused.status), ("InvalidParameterValue", StatusCode::BAD_REQUEST), "{extra:?}");
            assert!(refused.message.contains("Policy parameter"), "{}", refused.message);
        }
        let empty = with(&[("PolicyArns", "")]).expect("an empty list asks for nothing");
        assert_eq!(empty.policy.as_deref(), Some("{}"));
        with(&[]).expect("no list");
    }
}
