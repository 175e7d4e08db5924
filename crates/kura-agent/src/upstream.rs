//! kura behind the agent: `GET {kura}/kura/v1/credentials` with the pod's token, over HTTPS trusting
//! kura's CA from a file (plain HTTP only to a loopback kura, for tests and single-node setups).

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// kura's endpoint, under the URL the agent is given.
const KURA_PATH: &str = "/kura/v1/credentials";

/// Longest wait for kura's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer read from kura (a credentials document is well under 8 KiB).
const MAX_ANSWER: usize = 64 * 1024;

/// Why kura could not be asked, or its answer not read.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The URL is not `https://HOST[:PORT]` (or `http://` to a loopback address).
    #[error("kura URL {0:?}: use https://HOST[:PORT] (plain http:// only to 127.0.0.1, ::1 or localhost)")]
    Url(String),
    /// `https://` without a CA file.
    #[error("an https:// kura URL needs --ca-file (the CA that signed kura's certificate)")]
    NoCa,
    /// The CA file could not be read or holds no certificate.
    #[error("CA file {path}: {why}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The request failed (connection, TLS, protocol).
    #[error("request failed: {0}")]
    Request(String),
    /// kura did not answer within the timeout.
    #[error("no answer within {} s", TIMEOUT.as_secs())]
    Timeout,
}

/// The client that asks kura.
#[derive(Debug)]
pub struct Upstream {
    endpoint: Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn roots(ca_file: &Path) -> Result<rustls::RootCertStore, UpstreamError> {
    let ca = |why: String| UpstreamError::Ca { path: ca_file.to_owned(), why };
    let pem = std::fs::read(ca_file).map_err(|e| ca(e.to_string()))?;
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| ca(format!("not PEM: {e}")))?;
        store.add(cert).map_err(|e| ca(format!("not a usable CA certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(ca("no certificate in it".to_owned()));
    }
    Ok(store)
}

impl Upstream {
    /// A client for the kura at `url` (`https://kura.kura.svc:9000`), trusting the CA in `ca_file`.
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<Self, UpstreamError> {
        let bad = || UpstreamError::Url(url.chars().take(200).collect());
        let base: Uri = url.trim_end_matches('/').parse().map_err(|_| bad())?;
        let authority = base.authority().ok_or_else(bad)?.clone();
        let https = match base.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback(authority.host()) => false,
            _ => return Err(bad()),
        };
        if authority.as_str().contains('@') || base.path().len() > 1 || base.query().is_some() {
            return Err(bad());
        }
        let endpoint = Uri::builder()
            .scheme(if https { "https" } else { "http" })
            .authority(authority)
            .path_and_query(KURA_PATH)
            .build()
            .map_err(|_| bad())?;
        let tls = match (https, ca_file) {
            (true, None) => return Err(UpstreamError::NoCa),
            (_, Some(file)) => roots(file)?,
            (false, None) => rustls::RootCertStore::empty(),
        };
        let config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| UpstreamError::Request(e.to_string()))?
                .with_root_certificates(tls)
                .with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { endpoint, client })
    }

    /// Asks kura for the credentials of `token`: kura's status and body, whatever they are.
    pub async fn credentials(&self, token: &str) -> Result<(StatusCode, Bytes), UpstreamError> {
        let request = Request::get(self.endpoint.clone())
            .header(http::header::AUTHORIZATION, token)
            .body(Empty::new())
            .map_err(|_| UpstreamError::Request("the token is not a valid header value".to_owned()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| UpstreamError::Request(e.to_string()))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| UpstreamError::Request(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(TIMEOUT, exchange).await.map_err(|_| UpstreamError::Timeout)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kura_urls_are_https_or_loopback_http() {
        assert!(matches!(Upstream::new("https://kura.kura.svc:9000", None), Err(UpstreamError::NoCa)));
        for bad in [
            "http://kura.kura.svc:9000",
            "ftp://127.0.0.1",
            "https://user@kura:9000",
            "https://kura:9000/other/path",
            "kura:9000",
        ] {
            assert!(matches!(Upstream::new(bad, None), Err(UpstreamError::Url(_))), "{bad}");
        }
        for good in ["http://127.0.0.1:9000", "http://[::1]:9000/", "http://localhost:9000"] {
            let upstream = Upstream::new(good, None).expect(good);
            assert!(upstream.endpoint.to_string().ends_with("/kura/v1/credentials"), "{good}");
        }
        let missing = Upstream::new("https://kura:9000", Some(Path::new("/nonexistent/ca.pem")));
        assert!(matches!(missing, Err(UpstreamError::Ca { .. })));
    }
}
