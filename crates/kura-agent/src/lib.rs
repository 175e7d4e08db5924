//! kura-agent: the node-local credentials agent, at EKS Pod Identity Agent's address and with its
//! protocol, in front of kura.
//!
//! The AWS SDKs fetch container credentials over plain HTTP only from loopback or from EKS's link-local
//! agent addresses (169.254.170.23, fd00:ec2::23), so a pod cannot reach kura's own
//! `/kura/v1/credentials` directly. The agent runs once per node (hostNetwork), puts those addresses on
//! a local interface ([`address`]), answers `GET /v1/credentials` there (`Authorization` = the pod's
//! projected service-account token) by asking kura over HTTPS ([`Upstream`], trusting kura's CA from a
//! file), and keeps each token's answer until shortly before its credentials expire ([`TokenCache`]).
//! A pod sets exactly what it sets on EKS: `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://169.254.170.23/v1/credentials`
//! and `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
//!
//! **Invariant**: a token or a secret is never logged, and the cache keys on a hash of the token, never
//! the token itself. kura decides every answer; the agent only relays and caches kura's.

pub mod address;
mod cache;
mod upstream;

pub use cache::{TokenCache, TokenKey};
pub use upstream::{Upstream, UpstreamError};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::net::TcpListener;

/// The path the SDKs call (EKS Pod Identity Agent's).
pub const PATH: &str = "/v1/credentials";

/// The agent: kura behind it, and the answers it keeps.
#[derive(Debug)]
pub struct Agent {
    upstream: Upstream,
    cache: TokenCache,
}

/// What the agent answers a request with: a status and a JSON body (kura's, or the agent's own error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Bytes,
}

impl Answer {
    fn error(status: StatusCode, code: &str, message: &str) -> Self {
        let body = serde_json::json!({ "code": code, "message": message }).to_string();
        Self { status, body: Bytes::from(body) }
    }
}

impl Agent {
    /// An agent asking `upstream`, with an empty cache.
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream, cache: TokenCache::default() }
    }

    /// Answers one request: `GET /v1/credentials` with a token is served from the cache or from kura;
    /// anything else gets the error an SDK can show.
    pub async fn answer(&self, method: &Method, path: &str, authorization: Option<&str>) -> Answer {
        if path != PATH {
            return Answer::error(StatusCode::NOT_FOUND, "NotFound", "the agent serves GET /v1/credentials only");
        }
        if method != Method::GET {
            return Answer::error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "use GET");
        }
        let Some(token) = authorization.map(str::trim).filter(|t| !t.is_empty()) else {
            return Answer::error(
                StatusCode::UNAUTHORIZED,
                "MissingAuthenticationToken",
                "send the pod's projected service-account token in the Authorization header \
                 (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)",
            );
        };
        let now = SystemTime::now();
        let key = TokenKey::of(token);
        if let Some(body) = self.cache.get(&key, now) {
            return Answer { status: StatusCode::OK, body };
        }
        match self.upstream.credentials(token).await {
            Ok((status, body)) => {
                if status == StatusCode::OK {
                    self.cache.put(key, body.clone(), now);
                }
                Answer { status, body }
            }
            Err(e) => {
                tracing::warn!(error = %e, "kura did not answer a credentials request");
                Answer::error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", &format!("kura: {e}"))
            }
        }
    }

    async fn serve_one(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let mut authorizations = req.headers().get_all(http::header::AUTHORIZATION).iter();
        let authorization = authorizations.next().and_then(|v| v.to_str().ok());
        let answer = if authorizations.next().is_some() {
            // kura refuses two tokens the same way; refusing here keeps one token's answer from ever
            // being cached under the other's.
            Answer::error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "send exactly one Authorization header: the pod's token",
            )
        } else {
            self.answer(req.method(), req.uri().path(), authorization).await
        };
        let mut resp = Response::new(Full::new(answer.body));
        *resp.status_mut() = answer.status;
        resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        resp
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves.
pub async fn serve(agent: Arc<Agent>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let agent = agent.clone();
        let service = hyper::service::service_fn(move |req| {
            let agent = agent.clone();
            async move { Ok::<_, std::convert::Infallible>(agent.serve_one(req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
}
