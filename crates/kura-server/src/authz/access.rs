//! The authorisation hook s3s calls after the signature check, before the operation runs.

use super::context::{self, RemoteAddr, RequestFacts};
use super::decide::{Access, Authorizer};
use crate::audit::{Attribution, AuditSlot};
use crate::authn::gate::Verdict;
use crate::base::caller::{AuthType, Caller};
use crate::base::limits::{UnsizedBody, check_whole_body};
use crate::errors::{self, StoreResultExt};
use crate::iam::{Iam, IamState};
use crate::identity::session::{Keyring, SessionError};
use kura_policy::Context;
use kura_policy::s3::{ResourceKind, authz_for as s3_authz};
use kura_store::{BucketInfo, MetaStore};
use s3s::S3Result;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use std::sync::Arc;

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

impl Authenticated {
    /// This caller with the condition keys of a POST form upload: the request's, plus the form's
    /// fields that AWS reads as keys ([`context::insert_post_form`]), which s3s parsed into `input`.
    pub fn with_post_form(&self, input: &s3s::dto::PutObjectInput) -> Self {
        let mut context = (*self.context).clone();
        context::insert_post_form(&mut context, input, time::OffsetDateTime::now_utc());
        Self { caller: self.caller.clone(), context: Arc::new(context) }
    }
}

/// The bucket the access hook read to decide a request, left in its extensions so that the operation
/// need not read it again (what it says is as current as the decision it was read for).
#[derive(Clone, Debug)]
pub struct LoadedBucket(pub Arc<BucketInfo>);

impl KuraAccess {
    /// Authorisation over the live IAM state.
    pub fn new(iam: Arc<Iam>, authz: Arc<Authorizer>, meta: Arc<dyn MetaStore>) -> Self {
        Self { iam, authz, meta }
    }

    /// Decides `actions` (each must be allowed, in order) on a resource in `bucket` (loading the
    /// bucket's policy once), or in no bucket; answers the bucket it read.
    pub async fn decide(
        &self,
        state: &IamState,
        caller: &Caller,
        actions: &[&str],
        target: (Option<&str>, Option<&str>, Option<&str>),
        resource: &str,
        context: &Context,
    ) -> S3Result<Option<Arc<BucketInfo>>> {
        let (bucket, key, version) = target;
        let info = match bucket {
            Some(b) => self.meta.get_bucket(b).await.or_s3()?,
            None => None,
        };
        self.decide_in(state, caller, actions, (info.as_ref(), key, version), resource, context).await?;
        Ok(info.map(Arc::new))
    }

    /// Decides `actions` (each must be allowed, in order) on a resource of the bucket `info` already
    /// read (or of no bucket). For an object (`key`), its tags are loaded once when a policy reads
    /// `s3:ExistingObjectTag/…`.
    async fn decide_in(
        &self,
        state: &IamState,
        caller: &Caller,
        actions: &[&str],
        (info, key, version): (Option<&BucketInfo>, Option<&str>, Option<&str>),
        resource: &str,
        context: &Context,
    ) -> S3Result<()> {
        let bucket = info.map(|i| (i.name.as_str(), &i.settings));
        let mut tagged;
        let mut context = context;
        if let (Some((b, _)), Some(k)) = (bucket, key)
            && self.authz.needs_existing_tags(state, caller, bucket)
            && let Some(object) = self.existing(b, k, version).await?
        {
            tagged = context.clone();
            for (tag, value) in &object.tags {
                tagged.insert(&format!("s3:ExistingObjectTag/{tag}"), value.as_str());
            }
            context = &tagged;
        }
        for &action in actions {
            if let Err(denied) = self.authz.decide(state, caller, &Access { action, resource, bucket, context }) {
                return Err(self.absent_or(denied, state, caller, action, (bucket, key, version), context).await);
            }
            crate::trace::allowed(action, resource);
        }
        Ok(())
    }

    /// A refused read of an object that does not exist is answered as AWS does: 404 `NoSuchKey` when
    /// the caller may list the bucket with the key as `s3:prefix` (the listing would tell it anyway),
    /// else the refusal. Only a GET or HEAD of the current object (no version id) asks.
    async fn absent_or(
        &self,
        denied: s3s::S3Error,
        state: &IamState,
        caller: &Caller,
        action: &str,
        (bucket, key, version): (Option<(&str, &kura_store::BucketSettings)>, Option<&str>, Option<&str>),
        context: &Context,
    ) -> s3s::S3Error {
        let (Some((name, settings)), Some(key), None) = (bucket, key, version) else { return denied };
        if action != "s3:GetObject" {
            return denied;
        }
        let mut listing = context.clone();
        listing.insert("s3:prefix", key);
        let bucket_arn = kura_policy::s3::bucket_arn(name);
        let list = Access {
            action: "s3:ListBucket",
            resource: &bucket_arn,
            bucket: Some((name, settings)),
            context: &listing,
        };
        if !self.authz.evaluate(state, caller, &list).is_allowed() {
            return denied;
        }
        match self.meta.get_object_record(name, key).await {
            Ok(None) => errors::no_such_key(),
            _ => denied,
        }
    }

    /// The object whose tags `s3:ExistingObjectTag/…` reads: the version the request names, else the
    /// current object (none: no tags to match).
    async fn existing(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<Option<kura_store::ObjectMeta>> {
        match version {
            None => self.meta.get_object_record(bucket, key).await.or_s3(),
            Some(v) => match self.meta.get_version(bucket, key, Some(v), false).await {
                Ok(found) => Ok(found.map(|f| f.object)),
                // A malformed id names no version; the operation answers for it.
                Err(kura_store::StoreError::NoSuchVersion { .. } | kura_store::StoreError::NoSuchKey { .. }) => {
                    Ok(None)
                }
                Err(e) => Err(errors::store_error(e)),
            },
        }
    }

    /// Refuses, from its headers, an anonymous request whose body would be read before it is decided
    /// (DeleteObjects, a POST form, an operation whose condition keys are in its body) when nothing
    /// could allow it: its bucket does not exist, or the bucket's policy allows anonymous callers
    /// nothing ([`Authorizer::may_allow_anonymous`]). The answer is the one deciding `action` gives
    /// (NoSuchBucket, AccessDenied), without reading up to 20 MiB of body (a POST form's file: up to
    /// 5 GiB, which s3s holds in memory) for a caller who signed nothing.
    pub async fn refuse_hopeless_anonymous(
        &self,
        bucket: Option<&str>,
        action: &str,
        context: &Context,
    ) -> S3Result<()> {
        let info = match bucket {
            Some(b) => self.meta.get_bucket(b).await.or_s3()?,
            None => None,
        };
        if info.as_ref().is_some_and(|i| self.authz.may_allow_anonymous(&i.name, &i.settings)) {
            return Ok(());
        }
        let resource = bucket.map_or_else(|| kura_policy::s3::ACCOUNT_RESOURCE.to_owned(), kura_policy::s3::bucket_arn);
        let state = self.iam.snapshot();
        self.decide_in(&state, &Caller::Anonymous, &[action], (info.as_ref(), None, None), &resource, context).await
    }

    /// Decides, before kura spools an object upload that came without a length (`http::spool`),
    /// whether its signer may write the object at all: `s3:PutObject` on `bucket`/`key`, with the
    /// request's condition keys, for the caller its key and session token name. The access hook
    /// decides again once the body has its length; this keeps a key that may write nothing there from
    /// making kura fill its disk first (up to 5 GiB a request).
    pub async fn decide_before_spool(
        &self,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        peer: std::net::SocketAddr,
        (access_key, auth_type): (&str, AuthType),
        (bucket, key): (&str, &str),
    ) -> S3Result<()> {
        let state = self.iam.snapshot();
        let token = session_token(uri, headers);
        let caller = caller_of(&state, Some(access_key), token.as_deref()).map_err(crate::errors::session_error)?;
        let facts = RequestFacts {
            op: "PutObject",
            uri,
            headers,
            peer: Some(peer),
            trusted_proxies: &state.trusted_proxies,
            auth_type,
        };
        let context = context::build(&facts, &caller);
        let resource = kura_policy::s3::object_arn(bucket, key);
        self.decide(&state, &caller, &["s3:PutObject"], (Some(bucket), Some(key), None), &resource, &context).await?;
        Ok(())
    }

    /// Authorises one object whose key the access hook could not see (the keys of DeleteObjects, the
    /// form-given key of a POST upload) for the caller the hook left in the request's extensions
    /// (root included: a bucket policy's Deny binds it), on the version the request names, with the
    /// object's tags when a policy reads them; requests without one pass.
    pub async fn decide_object(
        &self,
        who: Option<&Authenticated>,
        action: &str,
        bucket: &kura_store::BucketInfo,
        (key, version): (&str, Option<&str>),
    ) -> S3Result<()> {
        let Some(who) = who else {
            return Ok(());
        };
        if let Caller::Ticket { ticket } = &who.caller {
            // A ticket allows exactly its bucket and key (or prefix), within what its issuer may do now.
            ticket.check_key(key).map_err(|e| errors::access_denied(e.to_string()))?;
            let state = self.iam.snapshot();
            let issuer = ticket_issuer(&state, ticket)?;
            return self.decide_ticket(&state, (ticket, issuer.as_ref()), (&bucket.name, key), &who.context).await;
        }
        let resource = kura_policy::s3::object_arn(&bucket.name, key);
        let state = self.iam.snapshot();
        let target = (Some(bucket), Some(key), version);
        self.decide_in(&state, &who.caller, &[action], target, &resource, &who.context).await
    }

    /// Decides, once the operation has parsed its input, an operation whose condition keys are partly
    /// in its body ([`kura_policy::s3::S3Authz::keys_in_body`]: PutObjectTagging's tag set,
    /// PutObjectRetention's retention…): its action (the version action when `version` is named) on
    /// `bucket` (and `key`), with the request's keys plus `body_keys`. Requests the access hook left
    /// no caller for pass, as in [`Self::decide_object`].
    pub async fn decide_parsed(
        &self,
        who: Option<&Authenticated>,
        operation: &str,
        (bucket, key, version): (&str, Option<&str>, Option<&str>),
        body_keys: &Context,
    ) -> S3Result<()> {
        let Some(who) = who else {
            return Ok(());
        };
        let authz = s3_authz(operation)
            .ok_or_else(|| errors::access_denied(format!("Access Denied: {operation} has no IAM mapping.")))?;
        let mut context = (*who.context).clone();
        for (name, values) in body_keys.iter() {
            context.remove(name);
            context.insert_many(name, values.iter().cloned());
        }
        let state = self.iam.snapshot();
        let actions = authz.actions_for(version.is_some());
        let resource = target_arn(bucket, key);
        self.decide(&state, &who.caller, &actions, (Some(bucket), key, version), &resource, &context).await?;
        Ok(())
    }

    /// Authorises what a write sets besides its body ([`kura_policy::s3::write_extras`],
    /// [`kura_policy::s3::create_bucket_extras`]): each of `actions` on `bucket` (and `key`), for the
    /// caller in `who` with its condition keys. An upload ticket allows the upload alone.
    pub async fn decide_extras(
        &self,
        who: Option<&Authenticated>,
        (bucket, key): (&str, Option<&str>),
        actions: &[&str],
    ) -> S3Result<()> {
        let Some(who) = who.filter(|_| !actions.is_empty()) else {
            return Ok(());
        };
        if let Caller::Ticket { ticket } = &who.caller {
            return Err(errors::access_denied(format!(
                "the upload ticket {} allows the upload alone, not {}",
                ticket.id,
                actions.join(", ")
            )));
        }
        let state = self.iam.snapshot();
        let resource = target_arn(bucket, key);
        self.decide(&state, &who.caller, actions, (Some(bucket), key, None), &resource, &who.context).await?;
        Ok(())
    }
}

impl KuraAccess {
    /// Authorises S3's use of the KMS key `key` (`kms:GenerateDataKey` to write, `kms:Decrypt` to read)
    /// for the caller the access hook left in the request's extensions, on the data key's encryption
    /// context (see [`super::kms`]).
    pub fn authorize_kms(
        &self,
        who: &Authenticated,
        action: &str,
        key: &crate::kms::KmsKey,
        context: &crate::kms::EncryptionContext,
        region: &str,
    ) -> S3Result<()> {
        let state = self.iam.snapshot();
        let use_ = super::kms::KmsUse { action, key, context, request: &who.context, region };
        super::kms::authorize_kms(&state, &who.caller, &use_)
    }

    /// Authorises reading a copy source (CopyObject, UploadPartCopy) for the caller the access hook
    /// left in the request's extensions, on the bucket, key and version the operation will read:
    /// `s3:GetObject`, or `s3:GetObjectVersion` when a version is named. Requests without a caller
    /// pass (root is decided too: a bucket policy's Deny binds it); an upload ticket never copies.
    pub async fn decide_copy_source(
        &self,
        who: Option<&Authenticated>,
        source: (&str, &str, Option<&str>),
    ) -> S3Result<()> {
        self.decide_source_read(who, source, ("s3:GetObject", "s3:GetObjectVersion")).await
    }

    /// Authorises a CopyObject's taking of its source's tags (the `COPY` tagging directive, on a
    /// source that has tags): `s3:GetObjectTagging`, or `s3:GetObjectVersionTagging` when a version
    /// is named, on the source, as AWS asks, so that a copy does not read tags the caller may not read.
    pub async fn decide_copied_tags(
        &self,
        who: Option<&Authenticated>,
        source: (&str, &str, Option<&str>),
    ) -> S3Result<()> {
        self.decide_source_read(who, source, ("s3:GetObjectTagging", "s3:GetObjectVersionTagging")).await
    }

    /// Decides one read of a copy source: `current` on the current object, `versioned` when a version
    /// is named.
    async fn decide_source_read(
        &self,
        who: Option<&Authenticated>,
        (bucket, key, version): (&str, &str, Option<&str>),
        (current, versioned): (&str, &str),
    ) -> S3Result<()> {
        let Some(who) = who else {
            return Ok(());
        };
        if let Caller::Ticket { ticket } = &who.caller {
            return Err(errors::access_denied(format!(
                "the upload ticket {} allows uploads only, not copies",
                ticket.id
            )));
        }
        let action = if version.is_some() { versioned } else { current };
        let resource = kura_policy::s3::object_arn(bucket, key);
        let state = self.iam.snapshot();
        self.decide(&state, &who.caller, &[action], (Some(bucket), Some(key), version), &resource, &who.context)
            .await?;
        Ok(())
    }

    /// Authorises a request signed with an upload ticket's key: the ticket must still exist (not
    /// revoked), be current, and allow exactly this operation, bucket, key and size.
    async fn check_ticket(&self, cx: &mut S3AccessContext<'_>, access_key: &str, auth_type: AuthType) -> S3Result<()> {
        let denied = |m: String| errors::access_denied(m);
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
        let ticket: crate::base::ticket::Ticket = stored
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| denied(crate::base::ticket::TicketDenied::Unknown(access_key.to_owned()).to_string()))?;
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
        let now = crate::base::clock::unix_now();
        ticket.check(&op, bucket.as_deref(), key.as_deref(), length, now).map_err(|e| denied(e.to_string()))?;
        // A ticket is for the current object: an older version is not what its issuer handed out.
        if context::named_version(cx.uri()).is_some() {
            return Err(denied(format!(
                "the upload ticket {} allows the current object only, not a version",
                ticket.id
            )));
        }
        if let Some(required) = ticket.content_type.as_deref().filter(|_| op == "PutObject") {
            let sent = cx.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if sent != Some(required) {
                return Err(denied(format!("the upload ticket {} requires Content-Type: {required}", ticket.id)));
            }
        }
        // The ticket is also within what its issuer may do now, judged on this request's condition keys.
        let state = self.iam.snapshot();
        let issuer = ticket_issuer(&state, &ticket)?;
        let context = match &issuer {
            Some(issuer) => Arc::new(request_context(cx, &state, issuer, auth_type)),
            None => Arc::new(Context::new()),
        };
        if let (Some(bucket), Some(key)) = (bucket.as_deref(), key.as_deref()) {
            self.decide_ticket(&state, (&ticket, issuer.as_ref()), (bucket, key), &context).await?;
        }
        cx.extensions_mut().insert(Authenticated { caller, context });
        Ok(())
    }

    /// Whether `issuer` (the ticket's, as [`ticket_issuer`] resolved it; `None` for root) may still do
    /// what `ticket` allows on `bucket`/`key`.
    async fn decide_ticket(
        &self,
        state: &IamState,
        (ticket, issuer): (&crate::base::ticket::Ticket, Option<&Caller>),
        (bucket, key): (&str, &str),
        context: &Context,
    ) -> S3Result<()> {
        // A root-issued ticket is decided as root: bound by an explicit Deny in the bucket policy.
        let root;
        let issuer = match issuer {
            Some(issuer) => issuer,
            None => {
                root = Caller::Root { access_key: state.root.access_key.clone() };
                &root
            }
        };
        let resource = kura_policy::s3::object_arn(bucket, key);
        let action = ticket.method.action();
        self.decide(state, issuer, &[action], (Some(bucket), Some(key), None), &resource, context).await.map_err(
            |_| {
                errors::access_denied(format!(
                    "the upload ticket {} is beyond what its issuer {} may do now ({action} on {resource})",
                    ticket.id, ticket.principal
                ))
            },
        )?;
        Ok(())
    }
}

/// The caller a ticket's use is authorised as (`None`: root), or why the ticket is dead.
fn ticket_issuer(state: &IamState, ticket: &crate::base::ticket::Ticket) -> S3Result<Option<Caller>> {
    use crate::base::ticket::TicketDenied;
    let issuer = ticket.issuer.as_ref().ok_or_else(|| TicketDenied::IssuerGone {
        id: ticket.id.clone(),
        why: "it was issued before kura recorded issuers: ask for a new one".into(),
    });
    issuer
        .and_then(|i| crate::tickets::issuer_caller(i, state, &ticket.id))
        .map_err(|e| errors::access_denied(e.to_string()))
}

/// The condition keys of the request in `cx` for `caller`.
fn request_context(cx: &mut S3AccessContext<'_>, state: &IamState, caller: &Caller, auth_type: AuthType) -> Context {
    let peer = cx.extensions_mut().get::<RemoteAddr>().map(|r| r.0);
    let facts = RequestFacts {
        op: cx.s3_op().name(),
        uri: cx.uri(),
        headers: cx.headers(),
        peer,
        trusted_proxies: &state.trusted_proxies,
        auth_type,
    };
    context::build(&facts, caller)
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
        let now = crate::base::clock::unix_now();
        let claims = state.identity.keyring.open(k, token, now)?;
        return Ok(Caller::Session { access_key: k.to_owned(), claims: Arc::new(claims) });
    }
    // The signature was verified with a secret resolved from an earlier snapshot: a reload removed
    // the user since. Answer as if the key had never been known.
    Err(SessionError::UnknownKey)
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

/// The ARN of `key` in `bucket`, or of `bucket` itself.
fn target_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => kura_policy::s3::object_arn(bucket, k),
        None => kura_policy::s3::bucket_arn(bucket),
    }
}

/// The bucket and key a request's path names.
fn bucket_and_key(path: &S3Path) -> (Option<String>, Option<String>) {
    match path {
        S3Path::Root => (None, None),
        S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
        S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
    }
}

#[async_trait::async_trait]
impl S3Access for KuraAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let verified = cx.credentials().map(|c| c.access_key.clone());
        let auth_type =
            Verdict::confirm(cx.extensions_mut(), verified.as_deref()).map_err(|e| crate::errors::gate_error(&e))?;
        // s3s reads these bodies whole right after this hook; refuse an oversized one before it does.
        let no_length = cx.extensions_mut().get::<UnsizedBody>().is_some();
        check_whole_body(cx.s3_op().name(), cx.headers(), no_length).map_err(crate::errors::body_limit_error)?;
        if let Some(key) = cx.credentials().map(|c| c.access_key.clone()).filter(|k| Keyring::is_ticket(k)) {
            return self.check_ticket(cx, &key, auth_type).await;
        }
        let state = self.iam.snapshot();
        let token = session_token(cx.uri(), cx.headers());
        let caller = caller_of(&state, cx.credentials().map(|c| c.access_key.as_str()), token.as_deref())
            .map_err(crate::errors::session_error)?;
        let op = cx.s3_op().name().to_owned();
        let op = op.as_str();
        let context = Arc::new(request_context(cx, &state, &caller, auth_type));
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
        cx.extensions_mut().insert(Authenticated { caller: caller.clone(), context: context.clone() });
        let Some(authz) = s3_authz(op) else {
            if matches!(caller, Caller::Root { .. }) {
                return Ok(());
            }
            tracing::info!(principal = %caller.arn(), operation = op, "denied: kura has no IAM mapping for this operation");
            return Err(errors::access_denied(format!("Access Denied: {op} is available to the root user only.")));
        };
        if authz.per_key || authz.keys_in_body || op == "PostObject" {
            // DeleteObjects (key by key), POST uploads (the key and the condition keys are form
            // fields) and operations whose condition keys are in their body are authorised by the
            // operation once its input is parsed, which reads the body first: an anonymous caller
            // nothing could allow is refused before that.
            if matches!(caller, Caller::Anonymous) {
                self.refuse_hopeless_anonymous(bucket.as_deref(), authz.action, &context).await?;
            }
            return Ok(());
        }
        let resource = match (authz.resource, &bucket, &key) {
            (ResourceKind::Object, Some(b), Some(k)) => kura_policy::s3::object_arn(b, k),
            (ResourceKind::Bucket | ResourceKind::Object, Some(b), _) => kura_policy::s3::bucket_arn(b),
            _ => kura_policy::s3::ACCOUNT_RESOURCE.to_owned(),
        };
        let target_key = if matches!(authz.resource, ResourceKind::Object) { key.as_deref() } else { None };
        // `?versionId=` turns GetObject into s3:GetObjectVersion, DeleteObject into
        // s3:DeleteObjectVersion…: a Deny on the version action must not be walked around.
        let version = context::named_version(cx.uri());
        let actions = authz.actions_for(version.is_some());
        // A copy's source is authorised by the operation, on the very CopySource it reads.
        let target = (bucket.as_deref(), target_key, version.as_deref().filter(|_| target_key.is_some()));
        let loaded = self.decide(&state, &caller, &actions, target, &resource, &context).await?;
        if let Some(info) = loaded {
            cx.extensions_mut().insert(LoadedBucket(info));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::credentials::{Credentials, Secret};
    use crate::config::Config;
    use crate::identity::Identity;

    fn state(config: &str) -> IamState {
        let config = Config::parse(config).expect("config");
        let ring = Arc::new(Keyring::parse(&Keyring::new_key_line()).expect("ring"));
        let identity = Identity::build(&config.identity, ring, None).expect("identity");
        let root = Credentials { access_key: "root".into(), secret_key: Secret::new("root-secret-0123") };
        IamState::build(root, &config, Vec::new(), Vec::new(), Arc::new(identity))
    }

    /// A user removed by a reload between the signature check (older snapshot) and the access check
    /// is an unknown key to the client, as AWS says for a deleted key, not a bad session token.
    #[test]
    fn a_key_removed_after_its_signature_was_checked_is_unknown() {
        let state = state("allow_empty: true\n");
        assert_eq!(caller_of(&state, Some("keeper"), None).unwrap_err(), SessionError::UnknownKey);
        assert_eq!(errors::session_error(SessionError::UnknownKey).code(), &s3s::S3ErrorCode::InvalidAccessKeyId);
        assert_eq!(errors::session_error(SessionError::UnknownKey).status_code(), Some(http::StatusCode::FORBIDDEN));
    }

    #[test]
    fn long_term_keys_with_a_token_and_temporary_keys_without_one_are_refused() {
        let state = state("users:\n  - access_key: keeper\n    secret_key: keeper-secret-0123\n");
        assert!(matches!(caller_of(&state, Some("keeper"), None), Ok(Caller::User { .. })));
        assert!(matches!(caller_of(&state, Some("root"), Some("")), Ok(Caller::Root { .. })));
        assert_eq!(caller_of(&state, Some("keeper"), Some("t")).unwrap_err(), SessionError::LongTermKey);
        assert_eq!(caller_of(&state, Some("ASIAEXAMPLEEXAMPLE01"), None).unwrap_err(), SessionError::Missing);
        assert!(matches!(caller_of(&state, None, None), Ok(Caller::Anonymous)));
    }
}
