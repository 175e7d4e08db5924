//! `GET /kura/metrics`: the metrics in the OpenMetrics text format, for Prometheus. Who may read them
//! is `server.metrics` ([`crate::config::metrics`]): listed networks (loopback by default), or a bearer
//! token. The peer is the TCP peer, never `X-Forwarded-For`: a header cannot make a scraper local.

use crate::config::metrics::{MetricsSection, network_allows};
use crate::metrics::Metrics;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// The endpoint's path.
pub const PATH: &str = "/kura/metrics";

/// Who may scrape: the section as configured, its networks parsed once.
#[derive(Debug, Clone)]
pub struct ScrapeAccess {
    section: MetricsSection,
    networks: Vec<ipnet::IpNet>,
}

impl ScrapeAccess {
    /// The access `server.metrics` describes.
    pub fn new(section: &MetricsSection) -> Self {
        Self { networks: section.networks(), section: section.clone() }
    }
}

/// Answers one scrape.
pub fn respond(
    metrics: &Metrics,
    access: &ScrapeAccess,
    method: &Method,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Response<s3s::Body> {
    if method != Method::GET && method != Method::HEAD {
        return super::text_response(StatusCode::METHOD_NOT_ALLOWED, "use GET to read the metrics\n");
    }
    if !network_allows(&access.networks, peer) {
        let token = match access.section.token() {
            Ok(token) => token,
            Err(problem) => {
                tracing::error!(%problem, "the metrics token cannot be read; scrapes with a token are refused");
                return super::text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the metrics token file cannot be read; see the server log\n",
                );
            }
        };
        let Some(token) = token else {
            return super::text_response(
                StatusCode::FORBIDDEN,
                "metrics are readable from the networks in server.metrics.allow_networks (loopback by default) \
                 or with the token of server.metrics.bearer_token_file\n",
            );
        };
        if !bearer_matches(headers, &token) {
            let mut resp = super::text_response(
                StatusCode::UNAUTHORIZED,
                "send Authorization: Bearer with the token of server.metrics.bearer_token_file\n",
            );
            resp.headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"kura-metrics\""));
            return resp;
        }
    }
    let mut resp = Response::new(s3s::Body::from(Bytes::from(metrics.encode())));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    resp
}

/// Whether the request's one `Authorization` header is `Bearer TOKEN`. Two headers are refused (which
/// one a proxy forwards is not ours to guess); digests are compared, so timing says nothing of the token.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return false };
    let Some(sent) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else { return false };
    Sha256::digest(sent.trim().as_bytes()) == Sha256::digest(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(access: &ScrapeAccess, peer: &str, authorization: &[&str]) -> StatusCode {
        let mut headers = HeaderMap::new();
        for value in authorization {
            headers.append(http::header::AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        }
        respond(&Metrics::new(), access, &Method::GET, peer.parse().expect("ip"), &headers).status()
    }

    #[test]
    fn loopback_by_default_a_token_elsewhere_and_never_two_authorizations() {
        let default = ScrapeAccess::new(&MetricsSection::default());
        assert_eq!(scrape(&default, "127.0.0.1", &[]), StatusCode::OK);
        assert_eq!(scrape(&default, "10.0.0.9", &[]), StatusCode::FORBIDDEN);
        assert_eq!(scrape(&default, "10.0.0.9", &["Bearer guess"]), StatusCode::FORBIDDEN);

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "t0ken\n").expect("write");
        let section = MetricsSection { allow_networks: Some(vec![]), bearer_token_file: Some(file.clone()) };
        let with_token = ScrapeAccess::new(&section);
        assert_eq!(scrape(&with_token, "127.0.0.1", &[]), StatusCode::UNAUTHORIZED);
        assert_eq!(scrape(&with_token, "10.0.0.9", &["Bearer t0ken"]), StatusCode::OK);
        assert_eq!(scrape(&with_token, "10.0.0.9", &["Bearer t0ke"]), StatusCode::UNAUTHORIZED);
        assert_eq!(scrape(&with_token, "10.0.0.9", &["t0ken"]), StatusCode::UNAUTHORIZED);
        assert_eq!(scrape(&with_token, "10.0.0.9", &["Bearer t0ken", "Bearer x"]), StatusCode::UNAUTHORIZED);
        assert_eq!(scrape(&with_token, "10.0.0.9", &["Bearer x", "Bearer t0ken"]), StatusCode::UNAUTHORIZED);
        // Rotated without a restart: the file is read at each scrape.
        std::fs::write(&file, "n3w\n").expect("write");
        assert_eq!(scrape(&with_token, "10.0.0.9", &["Bearer t0ken"]), StatusCode::UNAUTHORIZED);
        assert_eq!(scrape(&with_token, "10.0.0.9", &["Bearer n3w"]), StatusCode::OK);
        std::fs::remove_file(&file).expect("rm");
        assert_eq!(scrape(&with_token, "10.0.0.9", &["Bearer n3w"]), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
