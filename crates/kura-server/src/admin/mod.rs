//! The admin API under `/kura/admin/v1/`: users, named policies, bucket policies, anonymous modes,
//! public access blocks and policy simulation, as JSON over HTTP; backups (`backup.rs`), a tar
//! archive streamed to root; and the built-in key service's keys (`kms.rs`, root only).
//!
//! It is an s3s custom route, so every request has already passed the same SigV4 verification as S3
//! requests; each call is then authorised by the policy engine with a `kura:` action (root always may).
//! Failures are S3 errors (XML), mapped in [`crate::errors`].

pub mod backup;
mod kms;
mod simulate;
mod tickets;

use crate::authn::gate::Verdict;
use crate::authz::{Access, Authorizer, caller_of, session_token};
use crate::base::account::ACCOUNT;
use crate::base::caller::{AuthType, Caller};
use crate::buckets;
use crate::errors::{self, StoreResultExt, bucket_settings_error, iam_error};
use crate::iam::{Iam, IamState, Origin};
use crate::kms::BuiltinKms;
use bytes::Bytes;
use http::{Method, StatusCode};
use kura_policy::Context;
use kura_policy::canned::AnonymousMode;
use kura_store::{BlobStore, MetaStore, PublicAccessBlock};
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// The path prefix of the admin API.
pub const PREFIX: &str = "/kura/admin/v1/";

/// Largest request body the admin API reads.
const MAX_BODY: usize = 1024 * 1024;

/// The admin API as an s3s route.
pub struct AdminApi {
    iam: Arc<Iam>,
    authz: Arc<Authorizer>,
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    kms: Arc<BuiltinKms>,
    data_dir: PathBuf,
}

impl AdminApi {
    /// The API over the live IAM state, the stores and the key service; `data_dir` holds the secret
    /// files a backup may include.
    pub fn new(
        iam: Arc<Iam>,
        authz: Arc<Authorizer>,
        (meta, blobs): (Arc<dyn MetaStore>, Arc<dyn BlobStore>),
        kms: Arc<BuiltinKms>,
        data_dir: PathBuf,
    ) -> Self {
        Self { iam, authz, meta, blobs, kms, data_dir }
    }
}

/// One admin endpoint, decided once from method and path.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint<'a> {
    ListUsers,
    GetUser(&'a str),
    PutUser(&'a str),
    DeleteUser(&'a str),
    AttachPolicy(&'a str, &'a str),
    DetachPolicy(&'a str, &'a str),
    ListPolicies,
    GetPolicy(&'a str),
    PutPolicy(&'a str),
    DeletePolicy(&'a str),
    GetBucketPolicy(&'a str),
    PutBucketPolicy(&'a str),
    DeleteBucketPolicy(&'a str),
    GetAnonymous(&'a str),
    PutAnonymous(&'a str),
    GetPublicAccessBlock(&'a str),
    PutPublicAccessBlock(&'a str),
    DeletePublicAccessBlock(&'a str),
    Simulate,
    ListTickets,
    RevokeTickets,
    Backup,
    Kms(kms::KmsCall),
}

fn route<'a>(method: &Method, rest: &'a str) -> Option<Endpoint<'a>> {
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let m = method.as_str();
    Some(match (m, parts.as_slice()) {
        ("GET", ["users"]) => Endpoint::ListUsers,
        ("GET", ["users", u]) => Endpoint::GetUser(u),
        ("PUT", ["users", u]) => Endpoint::PutUser(u),
        ("DELETE", ["users", u]) => Endpoint::DeleteUser(u),
        ("PUT", ["users", u, "policies", p]) => Endpoint::AttachPolicy(u, p),
        ("DELETE", ["users", u, "policies", p]) => Endpoint::DetachPolicy(u, p),
        ("GET", ["policies"]) => Endpoint::ListPolicies,
        ("GET", ["policies", p]) => Endpoint::GetPolicy(p),
        ("PUT", ["policies", p]) => Endpoint::PutPolicy(p),
        ("DELETE", ["policies", p]) => Endpoint::DeletePolicy(p),
        ("GET", ["buckets", b, "policy"]) => Endpoint::GetBucketPolicy(b),
        ("PUT", ["buckets", b, "policy"]) => Endpoint::PutBucketPolicy(b),
        ("DELETE", ["buckets", b, "policy"]) => Endpoint::DeleteBucketPolicy(b),
        ("GET", ["buckets", b, "anonymous"]) => Endpoint::GetAnonymous(b),
        ("PUT", ["buckets", b, "anonymous"]) => Endpoint::PutAnonymous(b),
        ("GET", ["buckets", b, "public-access-block"]) => Endpoint::GetPublicAccessBlock(b),
        ("PUT", ["buckets", b, "public-access-block"]) => Endpoint::PutPublicAccessBlock(b),
        ("DELETE", ["buckets", b, "public-access-block"]) => Endpoint::DeletePublicAccessBlock(b),
        ("POST", ["simulate"]) => Endpoint::Simulate,
        ("GET", ["tickets"]) => Endpoint::ListTickets,
        ("POST", ["tickets", "revoke"]) => Endpoint::RevokeTickets,
        ("GET", ["backup"]) => Endpoint::Backup,
        (m, ["kms", call]) => Endpoint::Kms(kms::KmsCall::route(m, call)?),
        _ => return None,
    })
}

/// The IAM action and resource ARN that authorise an endpoint.
fn authz_of(endpoint: &Endpoint<'_>) -> (&'static str, String) {
    let user = user_arn;
    let policy = policy_arn;
    let bucket = |b: &str| kura_policy::s3::bucket_arn(b);
    match endpoint {
        Endpoint::ListUsers => ("kura:ListUsers", user("*")),
        Endpoint::GetUser(u) => ("kura:GetUser", user(u)),
        Endpoint::PutUser(u) => ("kura:CreateUser", user(u)),
        Endpoint::DeleteUser(u) => ("kura:DeleteUser", user(u)),
        Endpoint::AttachPolicy(u, _) => ("kura:AttachUserPolicy", user(u)),
        Endpoint::DetachPolicy(u, _) => ("kura:DetachUserPolicy", user(u)),
        Endpoint::ListPolicies => ("kura:ListPolicies", policy("*")),
        Endpoint::GetPolicy(p) => ("kura:GetPolicy", policy(p)),
        Endpoint::PutPolicy(p) => ("kura:CreatePolicy", policy(p)),
        Endpoint::DeletePolicy(p) => ("kura:DeletePolicy", policy(p)),
        Endpoint::GetBucketPolicy(b) | Endpoint::GetAnonymous(b) => ("s3:GetBucketPolicy", bucket(b)),
        Endpoint::PutBucketPolicy(b) | Endpoint::PutAnonymous(b) => ("s3:PutBucketPolicy", bucket(b)),
        Endpoint::DeleteBucketPolicy(b) => ("s3:DeleteBucketPolicy", bucket(b)),
        Endpoint::GetPublicAccessBlock(b) => ("s3:GetBucketPublicAccessBlock", bucket(b)),
        Endpoint::PutPublicAccessBlock(b) | Endpoint::DeletePublicAccessBlock(b) => {
            ("s3:PutBucketPublicAccessBlock", bucket(b))
        }
        Endpoint::Simulate => ("kura:SimulatePolicy", "*".to_owned()),
        Endpoint::ListTickets => ("kura:ListTickets", "*".to_owned()),
        Endpoint::RevokeTickets => ("kura:RevokeTickets", "*".to_owned()),
        // For the audit log: only root may take a backup, whatever the policies say.
        Endpoint::Backup => ("kura:Backup", "*".to_owned()),
        // Root only, whatever the policies say.
        Endpoint::Kms(call) => (call.action(), "*".to_owned()),
    }
}

/// `PUT users/NAME` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutUserBody {
    secret_key: Option<String>,
    enabled: Option<bool>,
    policies: Option<Vec<String>>,
}

/// `PUT buckets/B/anonymous` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnonymousBody {
    mode: String,
}

/// A user as the API shows it (never its secret).
#[derive(Debug, Serialize)]
struct UserView<'a> {
    access_key: &'a str,
    enabled: bool,
    policies: &'a [String],
    origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
}

/// Who signed an admin or ticket request, and how, as the gate and s3s agree.
fn signer(state: &IamState, req: &S3Request<Body>) -> S3Result<(Caller, AuthType)> {
    let verified = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let how = Verdict::confirm(&req.extensions, verified).map_err(|e| crate::errors::gate_error(&e))?;
    let token = session_token(&req.uri, &req.headers);
    let caller = caller_of(state, verified, token.as_deref()).map_err(crate::errors::session_error)?;
    Ok((caller, how))
}

/// The condition keys of an admin or ticket request, as of any request: the client's address and
/// transport (`aws:SourceIp`, `aws:SecureTransport`, after trusted proxies), the time, the user agent,
/// how it was signed, and the caller's own keys. A Deny on them binds the admin API as it binds S3.
fn request_context(state: &IamState, req: &S3Request<Body>, caller: &Caller, how: AuthType) -> Context {
    let facts = crate::authz::context::RequestFacts {
        op: "",
        uri: &req.uri,
        headers: &req.headers,
        peer: req.extensions.get::<crate::authz::context::RemoteAddr>().map(|r| r.0),
        trusted_proxies: &state.trusted_proxies,
        auth_type: how,
    };
    crate::authz::context::build(&facts, caller)
}

/// `arn:aws:iam::ACCOUNT:policy/NAME`, the resource of a named policy and the value of `iam:PolicyARN`.
fn policy_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

/// `arn:aws:iam::ACCOUNT:user/NAME`, the resource of a user (and the principal of its tickets).
fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

#[async_trait::async_trait]
impl S3Route for AdminApi {
    fn is_match(&self, _: &Method, uri: &http::Uri, _: &http::HeaderMap, _: &mut http::Extensions) -> bool {
        uri.path().starts_with(PREFIX) || uri.path() == crate::tickets::PATH
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let path = req.uri.path().to_owned();
        if path == crate::tickets::PATH {
            return self.create_ticket(req).await;
        }
        // Names arrive percent-encoded (`kura admin` encodes them); none may contain `/`.
        let rest = percent_encoding::percent_decode_str(path.strip_prefix(PREFIX).unwrap_or_default())
            .decode_utf8()
            .map_err(|_| errors::invalid_argument("the admin path is not UTF-8"))?
            .into_owned();
        let rest = rest.as_str();
        let endpoint = route(&req.method, rest)
            .ok_or_else(|| errors::method_not_allowed(format!("the admin API has no {} {path}", req.method)))?;
        let state = self.iam.snapshot();
        let (caller, how) = signer(&state, &req)?;
        let (action, resource) = authz_of(&endpoint);
        if let Some(slot) = req.extensions.get::<crate::audit::AuditSlot>() {
            slot.fill(|f| {
                f.operation = Some(action.to_owned());
                f.caller = crate::audit::Attribution::of(&caller, how.audit_name());
            });
        }
        if endpoint == Endpoint::Backup {
            backup::authorize(&caller)?;
            tracing::info!(target: "kura::admin", principal = %caller.arn(), action, "admin call");
            let query = req.uri.query().map(str::to_owned);
            return backup::serve(self.meta.as_ref(), &self.blobs, &self.data_dir, query.as_deref()).await;
        }
        if matches!(endpoint, Endpoint::Kms(_)) {
            kms::authorize(&caller)?;
        }
        let mut context = request_context(&state, &req, &caller, how);
        if let Endpoint::AttachPolicy(_, p) | Endpoint::DetachPolicy(_, p) = endpoint {
            context.insert("iam:PolicyARN", policy_arn(p));
        }
        self.authorize(&state, &caller, action, &resource, &context, &endpoint).await?;
        let body = req
            .input
            .store_all_limited(MAX_BODY)
            .await
            .map_err(|_| errors::entity_too_large("admin request bodies are limited to 1 MiB"))?;
        tracing::info!(target: "kura::admin", principal = %caller.arn(), action, resource = %resource, "admin call");
        self.serve(&state, endpoint, &body, (&caller, &context)).await
    }
}

impl AdminApi {
    /// `POST /kura/v1/presign`: an upload ticket for the signed caller.
    async fn create_ticket(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        if req.method != Method::POST {
            return Err(errors::method_not_allowed("use POST with a JSON body to ask for a ticket"));
        }
        let state = self.iam.snapshot();
        let (caller, how) = signer(&state, &req)?;
        if let Some(slot) = req.extensions.get::<crate::audit::AuditSlot>() {
            slot.fill(|f| {
                f.operation = Some("CreateUploadTicket".to_owned());
                f.caller = crate::audit::Attribution::of(&caller, how.audit_name());
            });
        }
        let context = request_context(&state, &req, &caller, how);
        let body = req
            .input
            .store_all_limited(64 * 1024)
            .await
            .map_err(|_| errors::entity_too_large("ticket requests are limited to 64 KiB"))?;
        let host = req.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:9000");
        let who = (state.as_ref(), &caller, &context);
        tickets::create(&self.iam, &self.authz, self.meta.as_ref(), who, host, &body).await
    }

    async fn authorize(
        &self,
        state: &IamState,
        caller: &Caller,
        action: &str,
        resource: &str,
        context: &Context,
        endpoint: &Endpoint<'_>,
    ) -> S3Result<()> {
        // The admin API is the operator's way back in: root is never refused here, not even by a
        // bucket policy's Deny (which binds root on the S3 API).
        if matches!(caller, Caller::Root { .. }) {
            return Ok(());
        }
        let bucket_name = match endpoint {
            Endpoint::GetBucketPolicy(b)
            | Endpoint::PutBucketPolicy(b)
            | Endpoint::DeleteBucketPolicy(b)
            | Endpoint::GetAnonymous(b)
            | Endpoint::PutAnonymous(b)
            | Endpoint::GetPublicAccessBlock(b)
            | Endpoint::PutPublicAccessBlock(b)
            | Endpoint::DeletePublicAccessBlock(b) => Some(*b),
            _ => None,
        };
        let info = match bucket_name {
            Some(b) => self.meta.get_bucket(b).await.or_s3()?,
            None => None,
        };
        let bucket = info.as_ref().map(|i| (i.name.as_str(), &i.settings));
        self.authz.decide(state, caller, &Access { action, resource, bucket, context })
    }

    /// Authorises what a `PUT users/NAME` or `PUT policies/NAME` changes beyond what its endpoint's
    /// action covers, as AWS splits it: changing an existing user needs `kura:UpdateUser`; each policy
    /// it attaches `kura:AttachUserPolicy`, each it detaches `kura:DetachUserPolicy` (with that
    /// policy's `iam:PolicyARN`); replacing an existing policy needs `kura:UpdatePolicy`. Else a
    /// `kura:CreateUser` grant would take over existing users or make one an admin, and a
    /// `kura:CreatePolicy` grant would rewrite policies others hold.
    async fn authorize_changes(
        &self,
        state: &IamState,
        (caller, context): (&Caller, &Context),
        endpoint: &Endpoint<'_>,
        user_policies: Option<&[String]>,
    ) -> S3Result<()> {
        let mut checks: Vec<(&str, String, Option<String>)> = Vec::new();
        match endpoint {
            Endpoint::PutUser(u) => {
                let existing = state.user(u);
                if existing.is_some() {
                    checks.push(("kura:UpdateUser", user_arn(u), None));
                }
                let held: &[String] = existing.map_or(&[], |e| e.policies.as_slice());
                if let Some(wanted) = user_policies {
                    for p in wanted.iter().filter(|p| !held.contains(p)) {
                        checks.push(("kura:AttachUserPolicy", user_arn(u), Some(policy_arn(p))));
                    }
                    for p in held.iter().filter(|p| !wanted.contains(p)) {
                        checks.push(("kura:DetachUserPolicy", user_arn(u), Some(policy_arn(p))));
                    }
                }
            }
            Endpoint::PutPolicy(p) if state.policy(p).is_some() => {
                checks.push(("kura:UpdatePolicy", policy_arn(p), None));
            }
            _ => {}
        }
        for (action, resource, policy) in checks {
            let mut context = context.clone();
            if let Some(policy) = policy {
                context.set("iam:PolicyARN", policy);
            }
            self.authorize(state, caller, action, &resource, &context, endpoint).await?;
        }
        Ok(())
    }

    async fn serve(
        &self,
        state: &IamState,
        endpoint: Endpoint<'_>,
        body: &[u8],
        who: (&Caller, &Context),
    ) -> S3Result<S3Response<Body>> {
        let meta = self.meta.as_ref();
        match endpoint {
            Endpoint::ListUsers => {
                let users: Vec<_> = state.users().into_iter().map(|u| view(u, None)).collect();
                json_response(StatusCode::OK, &json!({ "users": users }))
            }
            Endpoint::GetUser(u) => {
                let user = state.user(u).ok_or_else(|| iam_error(crate::iam::IamError::NoSuchUser(u.into())))?;
                json_response(StatusCode::OK, &view(user, None))
            }
            Endpoint::PutUser(u) => {
                let input: PutUserBody = parse_json(body, true)?;
                self.authorize_changes(state, who, &endpoint, input.policies.as_deref()).await?;
                let generated =
                    self.iam.put_user(u, input.secret_key, input.enabled, input.policies).await.map_err(iam_error)?;
                let state = self.iam.snapshot();
                let user = state.user(u).ok_or_else(|| iam_error(crate::iam::IamError::NoSuchUser(u.into())))?;
                json_response(StatusCode::OK, &view(user, generated))
            }
            Endpoint::DeleteUser(u) => {
                self.iam.delete_user(u).await.map_err(iam_error)?;
                // Its tickets end with it: a user created later under the same name is someone else.
                let revoked = crate::tickets::forget_all_of(meta, &user_arn(u)).await.or_s3()?;
                if !revoked.is_empty() {
                    tracing::info!(target: "kura::admin", user = %u, tickets = revoked.len(), "revoked the deleted user's tickets");
                }
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::AttachPolicy(u, p) | Endpoint::DetachPolicy(u, p) => {
                let attach = matches!(endpoint, Endpoint::AttachPolicy(..));
                if attach && state.policy(p).is_none() {
                    return Err(iam_error(crate::iam::IamError::NoSuchPolicy(p.into())));
                }
                self.iam.attach(u, p, attach).await.map_err(iam_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::ListPolicies => {
                let list: Vec<_> =
                    state.policies().map(|(name, p)| json!({ "name": name, "origin": p.origin })).collect();
                json_response(StatusCode::OK, &json!({ "policies": list }))
            }
            Endpoint::GetPolicy(p) => {
                let named = state.policy(p).ok_or_else(|| iam_error(crate::iam::IamError::NoSuchPolicy(p.into())))?;
                let document: serde_json::Value =
                    serde_json::from_str(&named.policy.to_json()).unwrap_or(serde_json::Value::Null);
                json_response(StatusCode::OK, &json!({ "name": p, "origin": named.origin, "policy": document }))
            }
            Endpoint::PutPolicy(p) => {
                self.authorize_changes(state, who, &endpoint, None).await?;
                let text =
                    std::str::from_utf8(body).map_err(|_| errors::malformed_policy("the policy must be UTF-8 JSON"))?;
                let policy = kura_policy::Policy::parse(text)
                    .map_err(|e| errors::malformed_policy(format!("policy {p}: {e}")))?;
                self.iam.put_policy(p, &policy).await.map_err(iam_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::DeletePolicy(p) => {
                self.iam.delete_policy(p).await.map_err(iam_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::GetBucketPolicy(b) => {
                let settings = buckets::get(meta, b).await.map_err(bucket_settings_error)?;
                let text = settings
                    .policy
                    .ok_or_else(|| errors::no_such_bucket_policy(format!("bucket {b} has no bucket policy")))?;
                text_response(StatusCode::OK, text)
            }
            Endpoint::PutBucketPolicy(b) => {
                let text =
                    std::str::from_utf8(body).map_err(|_| errors::malformed_policy("the policy must be UTF-8 JSON"))?;
                buckets::set_policy(meta, b, Some(text)).await.map_err(bucket_settings_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::DeleteBucketPolicy(b) => {
                buckets::set_policy(meta, b, None).await.map_err(bucket_settings_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::GetAnonymous(b) => {
                let mode = buckets::anonymous_mode(meta, b).await.map_err(bucket_settings_error)?;
                let mode = mode.map_or_else(|| "custom".to_owned(), |m| m.to_string());
                json_response(StatusCode::OK, &json!({ "bucket": b, "mode": mode }))
            }
            Endpoint::PutAnonymous(b) => {
                let input: AnonymousBody = parse_json(body, false)?;
                let mode: AnonymousMode = input.mode.parse().map_err(|_| {
                    errors::invalid_argument(format!(
                        "anonymous mode {:?}: use none, download, upload or public",
                        input.mode
                    ))
                })?;
                buckets::set_anonymous_mode(meta, b, mode).await.map_err(bucket_settings_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::GetPublicAccessBlock(b) => {
                let block = buckets::get(meta, b).await.map_err(bucket_settings_error)?.public_access_block;
                json_response(StatusCode::OK, &json!({ "bucket": b, "public_access_block": block }))
            }
            Endpoint::PutPublicAccessBlock(b) => {
                let block: PublicAccessBlock = parse_json(body, false)?;
                buckets::set_public_access_block(meta, b, Some(block)).await.map_err(bucket_settings_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::DeletePublicAccessBlock(b) => {
                buckets::set_public_access_block(meta, b, None).await.map_err(bucket_settings_error)?;
                empty(StatusCode::NO_CONTENT)
            }
            Endpoint::Backup => Err(errors::internal_error("a backup is served before the body is read")),
            Endpoint::Kms(call) => kms::serve(&self.kms, call, body).await,
            Endpoint::ListTickets => tickets::list(meta).await,
            Endpoint::RevokeTickets => tickets::revoke(meta, body).await,
            Endpoint::Simulate => {
                let input: simulate::SimulateBody = parse_json(body, false)?;
                let answer = simulate::run(&self.authz, state, self.meta.as_ref(), input).await?;
                json_response(StatusCode::OK, &answer)
            }
        }
    }
}

fn view(user: &crate::iam::User, secret_key: Option<String>) -> UserView<'_> {
    UserView {
        access_key: &user.access_key,
        enabled: user.enabled,
        policies: &user.policies,
        origin: user.origin,
        secret_key,
    }
}

/// Parses a JSON body; an empty body is `{}` when `empty_ok`.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], empty_ok: bool) -> S3Result<T> {
    let body = if body.is_empty() && empty_ok { b"{}".as_slice() } else { body };
    serde_json::from_slice(body)
        .map_err(|e| errors::invalid_argument(format!("the request body is not the expected JSON: {e}")))
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> S3Result<S3Response<Body>> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| errors::internal_error(format!("cannot encode the response: {e}")))?;
    let mut resp = text_response(status, text)?;
    resp.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(resp)
}

fn text_response(status: StatusCode, text: String) -> S3Result<S3Response<Body>> {
    let mut resp = S3Response::with_status(Body::from(Bytes::from(text)), status);
    resp.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(resp)
}

fn empty(status: StatusCode) -> S3Result<S3Response<Body>> {
    Ok(S3Response::with_status(Body::empty(), status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_decided_once() {
        assert_eq!(route(&Method::GET, "users"), Some(Endpoint::ListUsers));
        assert_eq!(
            route(&Method::PUT, "users/alice/policies/readonly"),
            Some(Endpoint::AttachPolicy("alice", "readonly"))
        );
        assert_eq!(route(&Method::POST, "simulate"), Some(Endpoint::Simulate));
        assert_eq!(route(&Method::PUT, "buckets/b/anonymous"), Some(Endpoint::PutAnonymous("b")));
        assert_eq!(route(&Method::GET, "backup"), Some(Endpoint::Backup));
        assert_eq!(route(&Method::POST, "backup"), None);
        assert_eq!(route(&Method::POST, "users"), None);
        assert_eq!(route(&Method::GET, "kms/keys"), Some(Endpoint::Kms(kms::KmsCall::List)));
        assert_eq!(route(&Method::POST, "kms/disable"), Some(Endpoint::Kms(kms::KmsCall::Disable)));
        assert_eq!(route(&Method::GET, "kms/disable"), None);
        assert_eq!(route(&Method::POST, "kms/keys/alias"), None);
        assert_eq!(route(&Method::GET, "users/a/b/c/d"), None);
        let (action, resource) = authz_of(&Endpoint::PutUser("bob"));
        assert_eq!((action, resource.as_str()), ("kura:CreateUser", "arn:aws:iam::000000000000:user/bob"));
    }
}
