//! Issuing, listing and revoking upload tickets (see [`crate::tickets`]).

use super::{json_response, parse_json};
use crate::authz::{Access, Authorizer};
use crate::base::caller::Caller;
use crate::base::ticket::{Ticket, TicketMethod};
use crate::errors::{self, StoreResultExt};
use crate::iam::{Iam, IamState};
use crate::presign::PostForm;
use crate::tickets::TicketRequest;
use http::StatusCode;
use kura_policy::Context;
use kura_store::MetaStore;
use s3s::{Body, S3Response, S3Result};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, SystemTime};

/// `POST tickets/revoke` body: one ticket, or all of one principal's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeBody {
    id: Option<String>,
    principal: Option<String>,
}

/// Issues a ticket for `caller`: checks the request, that the caller may do it now, stores the ticket
/// and signs its URL (or POST form) for kura's public name (`host` when none is configured).
/// Serialises the count and the store of ticket requests in this process ([`create`]).
static ISSUING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(super) async fn create(
    iam: &Iam,
    authz: &Authorizer,
    meta: &dyn MetaStore,
    (state, caller, context): (&IamState, &Caller, &Context),
    host: &str,
    body: &[u8],
) -> S3Result<S3Response<Body>> {
    if !crate::tickets::may_request(caller) {
        return Err(errors::access_denied("sign the request: anonymous callers get no tickets"));
    }
    let input: TicketRequest = parse_json(body, false)?;
    let config = iam.config();
    let max = config.server.max_ticket_seconds.unwrap_or(crate::tickets::DEFAULT_MAX_SECS);
    let secs = input.validate(max).map_err(|e| errors::invalid_argument(e.to_string()))?;
    let info = meta.get_bucket(&input.bucket).await.or_s3()?.ok_or_else(|| errors::no_such_bucket(&input.bucket))?;
    let resource = input.resource();
    let access = Access {
        action: input.method.action(),
        resource: &resource,
        bucket: Some((&info.name, &info.settings)),
        context,
    };
    authz.decide(state, caller, &access)?;
    let issuer =
        caller.issuer().ok_or_else(|| errors::access_denied("only users, roles and root may ask for tickets"))?;
    let principal = caller.arn();
    let limit = config.server.max_tickets_per_principal.unwrap_or(crate::tickets::DEFAULT_MAX_PER_PRINCIPAL);
    // Count and store one request at a time: counted concurrently, twelve requests for a cap of 3 all
    // passed the count (the review saw 6 tickets). Ticket requests are rare; one lock serves them all.
    // (Replicas on one database each hold their own lock: across them the cap is approximate.)
    let _one_at_a_time = ISSUING.lock().await;
    let held = crate::tickets::held_by(meta, &principal, crate::base::clock::unix_now()).await.or_s3()?;
    if held >= limit {
        return Err(errors::too_many_tickets(format!(
            "{principal} holds {held} live upload tickets, the most allowed (server.max_tickets_per_principal): \
                 revoke some (kura admin presign revoke) or wait for them to expire"
        )));
    }

    let now = SystemTime::now();
    let (access_key, secret) = state.identity.keyring.mint_ticket_key();
    let ticket = Ticket {
        id: access_key.clone(),
        principal,
        method: input.method,
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        key_prefix: input.key_prefix.clone(),
        max_size: input.max_size,
        content_type: input.content_type.clone(),
        created: crate::base::clock::unix_secs(now),
        expires: crate::base::clock::unix_secs(now) + secs,
        issuer: Some(issuer),
    };
    let record =
        serde_json::to_vec(&ticket).map_err(|e| errors::internal_error(format!("cannot encode the ticket: {e}")))?;
    crate::tickets::store(meta, &ticket, record).await.or_s3()?;
    // A DeleteUser of the issuer sweeps its tickets after the user is gone from the snapshot; one
    // stored after that sweep listed them would outlive the user (and serve a later user of the same
    // name). So look again now that this one is stored: an issuer gone by now takes it back.
    if let Some(issuer) = &ticket.issuer
        && crate::tickets::issuer_caller(issuer, &iam.snapshot(), &ticket.id).is_err()
    {
        crate::tickets::forget(meta, &ticket.id).await.or_s3()?;
        return Err(errors::access_denied(format!(
            "{} was deleted while the ticket was being made: no ticket was issued",
            ticket.principal
        )));
    }

    let endpoint = config.server.public_urls.first().map_or_else(|| format!("http://{host}"), |u| u.clone());
    let endpoint = endpoint.trim_end_matches('/');
    let region = iam.region();
    let mut reply = json!({
        "id": ticket.id,
        "expires_at": crate::base::clock::iso8601(ticket.expires),
    });
    match input.method {
        TicketMethod::Get | TicketMethod::Put => {
            let key = input.key.as_deref().unwrap_or_default();
            let path = kura_sigv4::encode_object_path(&input.bucket, key);
            let method = if input.method == TicketMethod::Get { "GET" } else { "PUT" };
            let content_type = input.content_type.as_deref().filter(|_| input.method == TicketMethod::Put);
            let headers: Vec<(&str, &str)> = content_type.map(|t| ("content-type", t)).into_iter().collect();
            let mut req =
                kura_sigv4::PresignRequest::new(method, endpoint, &path, region, &access_key, secret.expose(), now);
            req.headers = &headers;
            req.expires_secs = secs;
            let url =
                kura_sigv4::presign_url(&req).map_err(|e| errors::internal_error(format!("cannot presign: {e}")))?;
            reply["url"] = url.into();
        }
        TicketMethod::Post => {
            let form = PostForm {
                endpoint,
                region,
                access_key: &access_key,
                secret: secret.expose(),
                session_token: None,
                bucket: &input.bucket,
                prefix: input.key.as_deref().or(input.key_prefix.as_deref()).unwrap_or_default(),
                exact_key: input.key.is_some(),
                max_size: input.max_size.unwrap_or(crate::presign::MAX_POST_SIZE),
                content_type: input.content_type.as_deref(),
                expires: Duration::from_secs(secs),
            }
            .build(now)
            .map_err(|e| errors::internal_error(format!("cannot build the form: {e}")))?;
            reply["url"] = form["url"].clone();
            reply["fields"] = form["fields"].clone();
        }
    }
    tracing::info!(
        target: "kura::audit",
        ticket = %ticket.id,
        principal = %ticket.principal,
        method = ?ticket.method,
        bucket = %ticket.bucket,
        "upload ticket issued"
    );
    json_response(StatusCode::OK, &reply)
}

/// Every live ticket (expired ones are dropped as they are seen).
pub(super) async fn list(meta: &dyn MetaStore) -> S3Result<S3Response<Body>> {
    let tickets = crate::tickets::sweep_expired(meta, crate::base::clock::unix_now()).await.or_s3()?.live;
    json_response(StatusCode::OK, &json!({ "tickets": tickets }))
}

/// Revokes one ticket, or all of one principal's; answers how many.
pub(super) async fn revoke(meta: &dyn MetaStore, body: &[u8]) -> S3Result<S3Response<Body>> {
    let input: RevokeBody = parse_json(body, false)?;
    let revoked = match (input.id, input.principal) {
        (Some(id), None) => {
            if !crate::tickets::forget(meta, &id).await.or_s3()? {
                return Err(errors::no_such_ticket(&id));
            }
            vec![id]
        }
        (None, Some(principal)) => crate::tickets::forget_all_of(meta, &principal).await.or_s3()?,
        _ => return Err(errors::invalid_argument("give id or principal, not both")),
    };
    tracing::info!(target: "kura::audit", tickets = ?revoked, "upload tickets revoked");
    json_response(StatusCode::OK, &json!({ "revoked": revoked }))
}
