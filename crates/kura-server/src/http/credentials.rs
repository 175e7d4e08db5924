//! The container-credentials endpoint (`GET /kura/v1/credentials`, the EKS Pod Identity protocol):
//! the AWS SDKs call it by themselves when `AWS_CONTAINER_CREDENTIALS_FULL_URI` and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` are set, sending the pod's projected service-account token
//! as `Authorization`.

use crate::audit::AuditSlot;
use crate::iam::Iam;
use crate::sts::error::StsError;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

/// The endpoint's path.
pub const PATH: &str = "/kura/v1/credentials";

/// Answers one request: the credentials JSON the SDKs expect, or a JSON error.
pub async fn respond(iam: &Iam, method: &Method, headers: &HeaderMap, slot: &AuditSlot) -> Response<s3s::Body> {
    slot.fill(|f| f.operation = Some("GetPodCredentials".to_owned()));
    if method != Method::GET {
        return json(StatusCode::METHOD_NOT_ALLOWED, error_body("MethodNotAllowed", "use GET"));
    }
    // Two tokens are two answers to "who is asking": refuse rather than pick one (a proxy or the agent
    // in between might have picked the other).
    if headers.get_all(http::header::AUTHORIZATION).iter().nth(1).is_some() {
        return json(
            StatusCode::BAD_REQUEST,
            error_body("InvalidRequest", "send exactly one Authorization header: the pod's token"),
        );
    }
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .filter(|v| !v.is_empty());
    let Some(token) = token else {
        return json(
            StatusCode::UNAUTHORIZED,
            error_body(
                "MissingAuthenticationToken",
                "send the pod's projected service-account token in the Authorization header \
                 (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)",
            ),
        );
    };
    let now = crate::base::clock::unix_now();
    match iam.snapshot().identity.pod_credentials(token, now).await {
        Ok((issued, token)) => {
            slot.fill(|f| f.caller = crate::sts::issued_attribution(&issued, "pod-identity"));
            crate::identity::log_issued("PodIdentity", &issued, &token);
            let c = &issued.credentials;
            let body = serde_json::json!({
                "AccessKeyId": c.access_key,
                "SecretAccessKey": c.secret_key.expose(),
                "Token": c.session_token,
                "Expiration": crate::base::clock::iso8601(c.expires),
                "AccountId": crate::base::account::ACCOUNT,
            });
            json(StatusCode::OK, body.to_string())
        }
        Err(e) => {
            let e = StsError::from(e);
            tracing::info!(target: "kura::sts", code = e.code, message = %e.message, "container credentials refused");
            json(e.status, error_body(e.code, &e.message))
        }
    }
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "code": code, "message": message }).to_string()
}

fn json(status: StatusCode, body: String) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::from(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
