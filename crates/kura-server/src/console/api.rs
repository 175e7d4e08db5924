//! The console's own JSON endpoints (the session ones are in [`super`]): presigned links made with
//! the signed-in principal's secret, "may I?" answers about oneself for the front end to disable a
//! button and say why (neither grants anything: a link is checked when used, and an answer is what the
//! policies say now), the identity configuration (`kura:ListRoles`) and the latest audit records
//! (`kura:ReadAudit`), each decided by the policy engine like any admin call.

use crate::authz::{Access, Authorizer};
use crate::iam::IamState;
use http::{HeaderMap, StatusCode};
use kura_store::MetaStore;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

use super::session::Session;
use super::{ConsoleError, Peer, json_response};

/// Checks one `api/can` call may ask at most.
pub const MAX_CHECKS: usize = 50;
/// The longest action name and resource ARN a check may name.
const MAX_ACTION_LEN: usize = 128;
const MAX_RESOURCE_LEN: usize = 2048;

/// The body of `POST api/presign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresignBody {
    method: String,
    bucket: String,
    key: String,
    expires_seconds: u64,
    /// A GET of this version (a presigned GetObjectVersion: authorised as `s3:GetObjectVersion`).
    #[serde(default)]
    version_id: Option<String>,
}

/// The longest version id a link may name (kura's are 32 characters; AWS's up to 1,024 bytes).
const MAX_VERSION_ID_LEN: usize = 1024;

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ConsoleError> {
    serde_json::from_slice(body)
        .map_err(|e| ConsoleError::InvalidArgument(format!("the request body is not the expected JSON: {e}")))
}

/// `POST api/presign`: a presigned URL for `method` on the object, made with the session's secret for
/// the name the browser used (`host`), as `kura presign` or `aws s3 presign` would make it.
pub fn presign(
    session: &Session,
    body: &[u8],
    host: &str,
    https: bool,
    region: &str,
) -> Result<http::Response<s3s::Body>, ConsoleError> {
    let input: PresignBody = parse(body)?;
    if !matches!(input.method.as_str(), "GET" | "PUT") {
        return Err(ConsoleError::InvalidArgument(format!("method {:?}: use GET or PUT", input.method)));
    }
    crate::base::names::validate_bucket_name(&input.bucket).map_err(ConsoleError::InvalidArgument)?;
    if input.key.is_empty() || input.key.len() > 1024 {
        return Err(ConsoleError::InvalidArgument("the key must be 1 to 1024 bytes long".to_owned()));
    }
    if !(1..=kura_sigv4::MAX_EXPIRES_SECS).contains(&input.expires_seconds) {
        return Err(ConsoleError::InvalidArgument(format!(
            "expires_seconds must be 1 to {} (7 days)",
            kura_sigv4::MAX_EXPIRES_SECS
        )));
    }
    let version = match input.version_id.as_deref() {
        Some(_) if input.method != "GET" => {
            return Err(ConsoleError::InvalidArgument("version_id is for GET links only".to_owned()));
        }
        Some(v) if v.is_empty() || v.len() > MAX_VERSION_ID_LEN => {
            return Err(ConsoleError::InvalidArgument(format!(
                "version_id must be 1 to {MAX_VERSION_ID_LEN} bytes long"
            )));
        }
        other => other,
    };
    let scheme = if https { "https" } else { "http" };
    let endpoint = format!("{scheme}://{host}");
    let path = kura_sigv4::encode_object_path(&input.bucket, &input.key);
    let mut request = kura_sigv4::PresignRequest::new(
        &input.method,
        &endpoint,
        &path,
        region,
        &session.record.access_key,
        session.secret.expose(),
        std::time::SystemTime::now(),
    );
    request.expires_secs = input.expires_seconds;
    let query: Vec<(&str, &str)> = version.map(|v| ("versionId", v)).into_iter().collect();
    request.query = &query;
    let url = kura_sigv4::presign_url(&request)
        .map_err(|e| ConsoleError::InvalidArgument(format!("the URL cannot be made: {e}")))?;
    Ok(json_response(StatusCode::OK, &json!({ "url": url })))
}

/// One question of `api/can`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    action: String,
    resource: String,
}

/// The body of `POST api/can`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CanBody {
    checks: Vec<Check>,
}

/// Who asks, and from where.
pub struct Who<'a> {
    /// The IAM snapshot the call started with.
    pub state: &'a IamState,
    /// The session.
    pub session: &'a Session,
    /// The connection.
    pub peer: Peer,
    /// The request's headers (the condition keys read some).
    pub headers: &'a HeaderMap,
}

/// The bucket an S3 ARN names (`arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`).
fn bucket_of(resource: &str) -> Option<&str> {
    let rest = resource.strip_prefix("arn:aws:s3:::")?;
    let bucket = rest.split('/').next()?;
    (!bucket.is_empty() && !bucket.contains(['*', '?'])).then_some(bucket)
}

/// `POST api/can`: whether the caller may do each action on each resource (identity policies, the
/// bucket's policy and public access block, with the request's condition keys as a presigned request
/// through the console would have them), and the statement that decided.
pub async fn can(
    authz: &Authorizer,
    meta: &dyn MetaStore,
    who: &Who<'_>,
    body: &[u8],
) -> Result<http::Response<s3s::Body>, ConsoleError> {
    let input: CanBody = parse(body)?;
    if input.checks.len() > MAX_CHECKS {
        return Err(ConsoleError::InvalidArgument(format!("ask at most {MAX_CHECKS} checks at once")));
    }
    for check in &input.checks {
        let (service, name) = check.action.split_once(':').unwrap_or_default();
        if check.action.len() > MAX_ACTION_LEN
            || service.is_empty()
            || name.is_empty()
            || !check.action.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'-' || b == b'*')
        {
            return Err(ConsoleError::InvalidArgument(format!(
                "action {:?}: name one action as service:Action",
                check.action.chars().take(MAX_ACTION_LEN).collect::<String>()
            )));
        }
        if check.resource.is_empty() || check.resource.len() > MAX_RESOURCE_LEN {
            return Err(ConsoleError::InvalidArgument(format!(
                "a resource must be an ARN or * of at most {MAX_RESOURCE_LEN} bytes"
            )));
        }
    }
    let context = context_of(who);
    let mut buckets: HashMap<String, Option<kura_store::BucketInfo>> = HashMap::new();
    let mut results = Vec::with_capacity(input.checks.len());
    for check in &input.checks {
        if let Some(name) = bucket_of(&check.resource)
            && !buckets.contains_key(name)
        {
            buckets.insert(name.to_owned(), meta.get_bucket(name).await?);
        }
        let bucket = bucket_of(&check.resource)
            .and_then(|name| buckets.get(name))
            .and_then(Option::as_ref)
            .map(|info| (info.name.as_str(), &info.settings));
        let access = Access { action: &check.action, resource: &check.resource, bucket, context: &context };
        let decision = authz.evaluate(who.state, &who.session.caller, &access);
        // A bucket policy's statements (their index and Sid) are shown only to whom may read the
        // policy; anyone else learns what S3's own AccessDenied says: which kind of policy decided.
        let in_bucket_policy = decision.statement.as_ref().is_some_and(|s| s.policy.starts_with("bucket policy"));
        let may_read_policy = || {
            bucket.is_some_and(|(name, _)| {
                let resource = kura_policy::s3::bucket_arn(name);
                let read = Access { action: "s3:GetBucketPolicy", resource: &resource, bucket, context: &context };
                authz.evaluate(who.state, &who.session.caller, &read).is_allowed()
            })
        };
        let reason = if in_bucket_policy && !may_read_policy() {
            if decision.is_allowed() {
                "allowed by the bucket's policy".to_owned()
            } else {
                "denied: an explicit deny in the bucket's policy (a resource-based policy)".to_owned()
            }
        } else {
            decision.explain()
        };
        results.push(json!({ "allowed": decision.is_allowed(), "reason": reason }));
    }
    Ok(json_response(StatusCode::OK, &json!({ "results": results })))
}

/// The condition keys of a console call, as a presigned request through the console has them.
fn context_of(who: &Who<'_>) -> kura_policy::Context {
    let uri = http::Uri::from_static("/");
    let facts = crate::authz::context::RequestFacts {
        op: "",
        uri: &uri,
        headers: who.headers,
        peer: Some(who.peer.addr),
        trusted_proxies: &who.state.trusted_proxies,
        auth_type: crate::base::caller::AuthType::Presigned,
    };
    crate::authz::context::build(&facts, &who.session.caller)
}

/// Refuses the call unless the caller may do `action` on `resource` (root always may: no bucket is
/// involved, so no bucket policy can deny it).
fn authorize(authz: &Authorizer, who: &Who<'_>, action: &str, resource: &str) -> Result<(), ConsoleError> {
    let context = context_of(who);
    let access = Access { action, resource, bucket: None, context: &context };
    authz.decide(who.state, &who.session.caller, &access).map_err(ConsoleError::from)
}

/// The action `api/identity` needs.
pub const LIST_ROLES: &str = "kura:ListRoles";
/// The action `api/audit` needs.
pub const READ_AUDIT: &str = "kura:ReadAudit";

/// `GET api/identity`: roles, OIDC providers and the pod- and web-identity associations as the
/// configuration file declares them (names, ARNs, trust policies; no secret is in any of them).
/// Needs `kura:ListRoles` on `arn:aws:iam::ACCOUNT:role/*`.
pub fn identity(authz: &Authorizer, who: &Who<'_>) -> Result<http::Response<s3s::Body>, ConsoleError> {
    let all_roles = format!("arn:aws:iam::{}:role/*", crate::base::account::ACCOUNT);
    authorize(authz, who, LIST_ROLES, &all_roles)?;
    let identity = &who.state.identity;
    let roles: Vec<_> = identity
        .roles()
        .map(|r| {
            let trust: serde_json::Value = serde_json::from_str(&r.trust.to_json()).unwrap_or(serde_json::Value::Null);
            json!({
                "name": r.name,
                "arn": r.arn,
                "id": r.id,
                "trust_policy": trust,
                "policies": r.policies,
                "max_session_seconds": r.max_session_secs,
                "source": "config",
            })
        })
        .collect();
    let providers: Vec<_> = identity
        .providers
        .configs()
        .map(|p| {
            json!({
                "issuer": p.issuer,
                "audiences": p.audiences,
                "jwks_url": p.jwks_url,
                "jwks_file": p.jwks_file,
                "ca_file": p.ca_file,
                "source": "config",
            })
        })
        .collect();
    let associations = |list: &[crate::config::identity::Association], pod: bool| -> Vec<serde_json::Value> {
        list.iter()
            .map(|a| {
                let mut entry = json!({
                    "namespace": a.namespace,
                    "service_account": a.service_account,
                    "role": a.role,
                    "role_arn": identity.role(&a.role).map(|r| r.arn.clone()),
                    "source": "config",
                });
                // Pod identity only: the issuer whose tokens the association is for (web identity has none).
                if pod {
                    entry["issuer"] = json!(a.issuer);
                }
                entry
            })
            .collect()
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "roles": roles,
            "oidc_providers": providers,
            "pod_identity_audience": identity.pod_identity_audience(),
            "pod_identity_associations": associations(identity.pod_identity_associations(), true),
            "web_identity_associations": associations(identity.web_identity_associations(), false),
        }),
    ))
}

/// Records `api/audit` returns when the call names no `limit`, and the most it may name.
pub const DEFAULT_AUDIT_LIMIT: usize = 200;

/// The filters of `api/audit`.
#[derive(Debug, Default, PartialEq, Eq)]
struct AuditQuery {
    principal: Option<String>,
    bucket: Option<String>,
    operation: Option<String>,
    /// An exact status, or a class (`4` for `4xx`).
    status: Option<StatusFilter>,
    auth: Option<String>,
    after: u64,
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    Exact(u16),
    Class(u16),
}

fn audit_query(raw: Option<&str>) -> Result<AuditQuery, ConsoleError> {
    let mut q = AuditQuery { limit: DEFAULT_AUDIT_LIMIT, ..AuditQuery::default() };
    for (name, value) in super::proxy::unique_params(raw, |_| None)? {
        let text = || (!value.is_empty()).then(|| value.clone());
        match name.as_str() {
            "principal" => q.principal = text(),
            "bucket" => q.bucket = text(),
            "operation" => q.operation = text(),
            "auth" => q.auth = text(),
            "status" if value.is_empty() => {}
            "status" => {
                let v = value.to_ascii_lowercase();
                q.status = Some(match v.strip_suffix("xx") {
                    Some(class) => {
                        StatusFilter::Class(class.parse().ok().filter(|c| (1..=5).contains(c)).ok_or_else(|| {
                            ConsoleError::InvalidArgument(format!(
                                "status {value:?}: use a code (403) or a class (4xx)"
                            ))
                        })?)
                    }
                    None => {
                        StatusFilter::Exact(v.parse().ok().filter(|c| (100..=599).contains(c)).ok_or_else(|| {
                            ConsoleError::InvalidArgument(format!(
                                "status {value:?}: use a code (403) or a class (4xx)"
                            ))
                        })?)
                    }
                });
            }
            "after" if value.is_empty() => {}
            "after" => {
                q.after = value.parse().map_err(|_| {
                    ConsoleError::InvalidArgument(format!("after {value:?}: use the last sequence number you have"))
                })?;
            }
            "limit" if value.is_empty() => {}
            "limit" => {
                q.limit =
                    value.parse().ok().filter(|l| (1..=crate::audit::RING_CAPACITY).contains(l)).ok_or_else(|| {
                        ConsoleError::InvalidArgument(format!("limit must be 1 to {}", crate::audit::RING_CAPACITY))
                    })?;
            }
            other => {
                return Err(ConsoleError::InvalidArgument(format!(
                    "unknown parameter {other}: filter by principal, bucket, operation, status, auth, after and limit"
                )));
            }
        }
    }
    Ok(q)
}

impl AuditQuery {
    fn keeps(&self, r: &crate::audit::Record) -> bool {
        let caller = &r.caller;
        let is = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
        let principal = self
            .principal
            .as_deref()
            .is_none_or(|p| caller.principal.as_deref() == Some(p) || caller.access_key.as_deref() == Some(p));
        let status = match self.status {
            None => true,
            Some(StatusFilter::Exact(code)) => r.status == code,
            Some(StatusFilter::Class(class)) => r.status / 100 == class,
        };
        principal
            && status
            && is(&self.bucket, r.bucket.as_deref())
            && is(&self.operation, r.operation.as_deref())
            && is(&self.auth, caller.auth_type)
    }
}

/// `GET api/audit`: the latest audit records of this process (the ring), newest first, filtered, newer
/// than `after`; the sequence number of the latest record, for the next call's `after`; and whether the
/// audit log is on (`log`; off, the ring records only while a viewer watches, and this call is a look).
/// Needs `kura:ReadAudit` on `*`.
pub fn audit(
    authz: &Authorizer,
    who: &Who<'_>,
    audit: &crate::audit::Audit,
    query: Option<&str>,
) -> Result<http::Response<s3s::Body>, ConsoleError> {
    authorize(authz, who, READ_AUDIT, "*")?;
    let q = audit_query(query)?;
    let ring = audit.ring();
    ring.watch();
    let (found, last) = ring.read(q.after, q.limit, |r| q.keeps(r));
    let records: Vec<serde_json::Value> = found
        .iter()
        .map(|(seq, record)| {
            let mut v = serde_json::to_value(record.as_ref()).unwrap_or(serde_json::Value::Null);
            if let Some(map) = v.as_object_mut() {
                map.insert("seq".to_owned(), json!(seq));
            }
            v
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "records": records, "last": last, "log": audit.enabled() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_of_an_arn() {
        assert_eq!(bucket_of("arn:aws:s3:::b"), Some("b"));
        assert_eq!(bucket_of("arn:aws:s3:::b/k/*"), Some("b"));
        assert_eq!(bucket_of("arn:aws:s3:::*"), None);
        assert_eq!(bucket_of("arn:aws:iam::000000000000:user/x"), None);
        assert_eq!(bucket_of("*"), None);
    }

    #[test]
    fn audit_filters_are_read_strictly() {
        let q =
            audit_query(Some("principal=alice&status=4xx&after=7&limit=5&bucket=&operation=PutObject")).expect("query");
        assert_eq!(q.principal.as_deref(), Some("alice"));
        assert_eq!(q.status, Some(StatusFilter::Class(4)));
        assert_eq!((q.after, q.limit), (7, 5));
        assert_eq!(q.bucket, None);
        assert_eq!(audit_query(Some("status=403")).expect("exact").status, Some(StatusFilter::Exact(403)));
        assert_eq!(audit_query(None).expect("none").limit, DEFAULT_AUDIT_LIMIT);
        for bad in [
            "status=abc",
            "status=9xx",
            "status=42",
            "after=-1",
            "limit=0",
            "limit=2001",
            "nope=1",
            "bucket=a&bucket=b",
            // The same name percent-encoded is the same parameter.
            "bucket=a&buck%65t=b",
        ] {
            assert!(audit_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
