//! The console's own JSON endpoints (the session ones are in [`super`]): presigned links made with
//! the signed-in principal's secret, and "may I?" answers about oneself for the front end to disable a
//! button and say why. Neither grants anything: a link is checked when used, and an answer is what the
//! policies say now.

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
}

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
    let uri = http::Uri::from_static("/");
    let facts = crate::authz::context::RequestFacts {
        op: "",
        uri: &uri,
        headers: who.headers,
        peer: Some(who.peer.addr),
        trusted_proxies: &who.state.trusted_proxies,
        auth_type: crate::base::caller::AuthType::Presigned,
    };
    let context = crate::authz::context::build(&facts, &who.session.caller);
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
        results.push(json!({ "allowed": decision.is_allowed(), "reason": decision.explain() }));
    }
    Ok(json_response(StatusCode::OK, &json!({ "results": results })))
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
}
