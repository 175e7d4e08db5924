//! The authorisation hook s3s calls after the signature check, before the operation runs.

use super::context::{self, AuthType, RemoteAddr, RequestFacts};
use crate::audit::{Attribution, AuditSlot};
use crate::authz::{Access, Authorizer, Caller};
use crate::errors::StoreResultExt;
use crate::iam::{Iam, IamState};
use crate::identity::session::{Keyring, SessionError};
use kura_policy::Context;
use kura_policy::s3::{ResourceKind, authz_for as s3_authz};
use kura_store::MetaStore;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};
use std::sync::Arc;

/// SigV4's longest presigned URL lifetime: 7 days.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// Deny-by-default authorisation through the IAM policy engine: s3s calls [`KuraAccess::check`] for
/// every S3 request after its signature is verified and before its input is parsed.
#[derive(Clone)]
pub struct KuraAccess {
    iam: Arc<Iam>,
    authz: Arc<Authorizer>,
    meta: Arc<dyn MetaStore>,
}

/// The verified caller and its condition keys, left in the request's extensions for operations that
/// authorise item by item (DeleteObjects).
#[derive(Clone)]
pub struct Authenticated {
    /// Who signed the request.
    pub caller: Caller,
    /// The request's condition keys.
    pub context: Arc<Context>,
}

impl KuraAccess {
    /// Authorisation over the live IAM state.
    pub fn new(iam: Arc<Iam>, authz: Arc<Authorizer>, meta: Arc<dyn MetaStore>) -> Self {
        Self { iam, authz, meta }
    }

    /// Decides one access to a resource in `bucket` (loading the bucket's policy), or to no bucket.
    /// For an object (`key`), the object's tags are loaded when a policy reads `s3:ExistingObjectTag/…`.
    pub async fn decide(
        &self,
        state: &IamState,
        caller: &Caller,
        action: &str,
        target: (Option<&str>, Option<&str>),
        resource: &str,
        context: &Context,
    ) -> S3Result<()> {
        let (bucket, key) = target;
        let info = match bucket {
            Some(b) => self.meta.get_bucket(b).await.or_s3()?,
            None => None,
        };
        let bucket = info.as_ref().map(|i| (i.name.as_str(), &i.settings));
        let mut tagged;
        let mut context = context;
        if let (Some((b, _)), Some(k)) = (bucket, key)
            && self.authz.needs_existing_tags(state, caller, bucket)
            && let Some(object) = self.meta.get_object_record(b, k).await.or_s3()?
        {
            tagged = context.clone();
            for (tag, value) in &object.tags {
                tagged.insert(&format!("s3:ExistingObjectTag/{tag}"), value.as_str());
            }
            context = &tagged;
        }
        self.authz.decide(state, caller, &Access { action, resource, bucket, context })
    }

    /// Authorises one object whose key the access hook could not see (the keys of DeleteObjects, the
    /// form-given key of a POST upload) for the caller the hook left in the request's extensions; root
    /// and requests without one pass.
    pub fn decide_object(
        &self,
        who: Option<&Authenticated>,
        action: &str,
        bucket: &kura_store::BucketInfo,
        key: &str,
    ) -> S3Result<()> {
        let Some(who) = who.filter(|w| !matches!(w.caller, Caller::Root { .. })) else {
            return Ok(());
        };
        if let Caller::Ticket { ticket } = &who.caller {
            // A ticket allows exactly its bucket and key (or prefix); policies do not apply.
            return ticket.check_key(key).map_err(|e| S3Error::with_message(S3ErrorCode::AccessDenied, e.to_string()));
        }
        let resource = kura_policy::s3::object_arn(&bucket.name, key);
        let access = Access {
            action,
            resource: &resource,
            bucket: Some((&bucket.name, &bucket.settings)),
            context: &who.context,
        };
        self.authz.decide(&self.iam.snapshot(), &who.caller, &access)
    }
}

impl KuraAccess {
    /// Authorises a request signed with an upload ticket's key: the ticket must still exist (not
    /// revoked), be current, and allow exactly this operation, bucket, key and size.
    async fn check_ticket(&self, cx: &mut S3AccessContext<'_>, access_key: &str) -> S3Result<()> {
        let denied = |m: String| S3Error::with_message(S3ErrorCode::AccessDenied, m);
        let op = cx.s3_op().name().to_owned();
        let (bucket, key) = bucket_and_key(cx.s3_path());
        if let Some(slot) = cx.extensions_mut().get::<AuditSlot>() {
            slot.fill(|f| {
                f.operation = Some(op.clone());
                f.bucket.clone_from(&bucket);
                f.key.clone_from(&key);
                f.caller = Attribution::ticket_key(access_key);
            });
        }
        let stored = self.meta.get_record(crate::tickets::RECORD, access_key).await.or_s3()?;
        let ticket: crate::tickets::Ticket = stored
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| denied(crate::tickets::TicketDenied::Unknown(access_key.to_owned()).to_string()))?;
        let ticket = Arc::new(ticket);
        let caller = Caller::Ticket { ticket: ticket.clone() };
        if let Some(slot) = cx.extensions_mut().get::<AuditSlot>() {
            slot.fill(|f| f.caller = Attribution::of(&caller, "ticket"));
        }
        let length = cx
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let now = crate::identity::unix_now();
        ticket.check(&op, bucket.as_deref(), key.as_deref(), length, now).map_err(|e| denied(e.to_string()))?;
        if let Some(required) = ticket.content_type.as_deref().filter(|_| op == "PutObject") {
            let sent = cx.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if sent != Some(required) {
                return Err(denied(format!("the upload ticket {} requires Content-Type: {required}", ticket.id)));
            }
        }
        cx.extensions_mut().insert(Authenticated { caller, context: Arc::new(Context::new()) });
        Ok(())
    }
}

/// Who signed (s3s or kura-sigv4 verified the signature for `access_key`): root, an IAM user, a
/// role session (whose `session_token` must open with our keys, belong to that key and be current),
/// or nobody.
pub fn caller_of(
    state: &IamState,
    access_key: Option<&str>,
    session_token: Option<&str>,
) -> Result<Caller, SessionError> {
    let token = session_token.filter(|t| !t.is_empty());
    let Some(k) = access_key else { return Ok(Caller::Anonymous) };
    if k == state.root.access_key || state.user(k).is_some() {
        if token.is_some() {
            return Err(SessionError::LongTermKey);
        }
        let access_key = k.to_owned();
        return Ok(if k == state.root.access_key { Caller::Root { access_key } } else { Caller::User { access_key } });
    }
    if Keyring::is_temporary(k) {
        let token = token.ok_or(SessionError::Missing)?;
        let now = crate::identity::unix_now();
        let claims = state.identity.keyring.open(k, token, now)?;
        return Ok(Caller::Session { access_key: k.to_owned(), claims: Arc::new(claims) });
    }
    // The signature was verified with a secret we resolved, so this does not happen; refuse anyway.
    Err(SessionError::Invalid)
}

/// The session token a request carries: the `x-amz-security-token` header, or the
/// `X-Amz-Security-Token` query parameter of a presigned URL.
pub fn session_token(uri: &http::Uri, headers: &http::HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-amz-security-token") {
        return v.to_str().ok().map(str::to_owned);
    }
    uri.query()?.split('&').find_map(|pair| {
        let value = pair.strip_prefix("X-Amz-Security-Token=")?;
        percent_encoding::percent_decode_str(value).decode_utf8().ok().map(|v| v.into_owned())
    })
}

/// The bucket and key a request's path names.
fn bucket_and_key(path: &S3Path) -> (Option<String>, Option<String>) {
    match path {
        S3Path::Root => (None, None),
        S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
        S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
    }
}

/// The bucket and key named by `x-amz-copy-source` (`bucket/key` or `/bucket/key`, URL-encoded,
/// optionally with `?versionId=`).
fn copy_source(headers: &http::HeaderMap) -> Option<(String, String)> {
    let raw = headers.get("x-amz-copy-source")?.to_str().ok()?;
    let raw = raw.split_once('?').map_or(raw, |(path, _)| path);
    let decoded = percent_encoding::percent_decode_str(raw.trim_start_matches('/')).decode_utf8().ok()?;
    let (bucket, key) = decoded.split_once('/')?;
    Some((bucket.to_owned(), key.to_owned()))
}

/// Rejects presigned URLs that ask for more than SigV4 allows.
fn check_presigned_expiry(uri: &http::Uri) -> S3Result<()> {
    let Some(query) = uri.query() else { return Ok(()) };
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("X-Amz-Expires=") {
            let ok = v.parse::<u64>().is_ok_and(|secs| secs <= MAX_PRESIGNED_EXPIRES_SECS);
            if !ok {
                return Err(S3Error::with_message(
                    S3ErrorCode::AuthorizationQueryParametersError,
                    "X-Amz-Expires must be a number of seconds no greater than 604800 (7 days).",
                ));
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3Access for KuraAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        check_presigned_expiry(cx.uri())?;
        // s3s reads these bodies whole right after this hook; refuse an oversized one before it does.
        crate::s3::body::check_whole_body(cx.s3_op().name(), cx.headers())?;
        if let Some(key) = cx.credentials().map(|c| c.access_key.clone()).filter(|k| Keyring::is_ticket(k)) {
            return self.check_ticket(cx, &key).await;
        }
        let state = self.iam.snapshot();
        let token = session_token(cx.uri(), cx.headers());
        let caller = caller_of(&state, cx.credentials().map(|c| c.access_key.as_str()), token.as_deref())
            .map_err(crate::errors::session_error)?;
        let op = cx.s3_op().name().to_owned();
        let op = op.as_str();
        let peer = cx.extensions_mut().get::<RemoteAddr>().map(|r| r.0);
        let facts = RequestFacts {
            op,
            uri: cx.uri(),
            headers: cx.headers(),
            peer,
            trusted_proxies: &state.trusted_proxies,
            auth_type: AuthType::of(op, cx.uri(), cx.headers(), cx.credentials().is_some()),
        };
        let auth_type = facts.auth_type;
        let context = Arc::new(context::build(&facts, &caller));
        let (bucket, key) = bucket_and_key(cx.s3_path());
        if let Some(slot) = cx.extensions_mut().get::<AuditSlot>() {
            slot.fill(|f| {
                f.operation = Some(op.to_owned());
                f.bucket.clone_from(&bucket);
                f.key.clone_from(&key);
                f.caller = Attribution::of(&caller, auth_type.audit_name());
                f.source_ip = context.get("aws:SourceIp").and_then(|v| v.first()).cloned();
            });
        }
        let copy = copy_source(cx.headers());
        cx.extensions_mut().insert(Authenticated { caller: caller.clone(), context: context.clone() });
        let Some(authz) = s3_authz(op) else {
            if matches!(caller, Caller::Root { .. }) {
                return Ok(());
            }
            tracing::info!(principal = %caller.arn(), operation = op, "denied: kura has no IAM mapping for this operation");
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                format!("Access Denied: {op} is available to the root user only."),
            ));
        };
        if matches!(caller, Caller::Root { .. }) || authz.per_key || op == "PostObject" {
            // Root may do everything; DeleteObjects (key by key) and POST uploads (the key is a form
            // field) are authorised by the operation once their input is parsed.
            return Ok(());
        }
        let resource = match (authz.resource, &bucket, &key) {
            (ResourceKind::Object, Some(b), Some(k)) => kura_policy::s3::object_arn(b, k),
            (ResourceKind::Bucket | ResourceKind::Object, Some(b), _) => kura_policy::s3::bucket_arn(b),
            _ => kura_policy::s3::ACCOUNT_RESOURCE.to_owned(),
        };
        let target_key = if matches!(authz.resource, ResourceKind::Object) { key.as_deref() } else { None };
        self.decide(&state, &caller, authz.action, (bucket.as_deref(), target_key), &resource, &context).await?;
        if authz.copy_source
            && let Some((src_bucket, src_key)) = copy
        {
            let source = kura_policy::s3::object_arn(&src_bucket, &src_key);
            self.decide(&state, &caller, "s3:GetObject", (Some(&src_bucket), Some(&src_key)), &source, &context)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_expiry_is_capped_at_seven_days() {
        let ok: http::Uri = "/b/k?X-Amz-Expires=604800&X-Amz-Signature=x".parse().expect("uri");
        let long: http::Uri = "/b/k?X-Amz-Expires=604801".parse().expect("uri");
        let junk: http::Uri = "/b/k?X-Amz-Expires=-1".parse().expect("uri");
        assert!(check_presigned_expiry(&ok).is_ok());
        assert_eq!(check_presigned_expiry(&long).unwrap_err().code(), &S3ErrorCode::AuthorizationQueryParametersError);
        assert!(check_presigned_expiry(&junk).is_err());
    }
}
