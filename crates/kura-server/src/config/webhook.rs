//! The `webhook:` section: what the mutating admission webhook (`POST /kura/v1/webhook/pods`) writes
//! into the pods it mutates besides the identity variables (the S3 and STS endpoint, a CA bundle, the
//! lifetime of the projected tokens). Which pods it mutates is decided by `identity:` (associations and
//! trust policies), not here.

use super::ServerSection;
use serde::Deserialize;

/// The lifetime of the projected service-account tokens when not configured (seconds; EKS's value).
pub const DEFAULT_TOKEN_EXPIRATION_SECS: u64 = 86_400;
/// The shortest lifetime Kubernetes accepts for a projected token (seconds).
pub const MIN_TOKEN_EXPIRATION_SECS: u64 = 600;
/// The longest lifetime kura asks for (seconds; one year — kube-apiserver may shorten it).
pub const MAX_TOKEN_EXPIRATION_SECS: u64 = 31_536_000;
/// Where EKS Pod Identity's agent answers (the value EKS injects as `AWS_CONTAINER_CREDENTIALS_FULL_URI`).
pub const EKS_CREDENTIALS_FULL_URI: &str = "http://169.254.170.23/v1/credentials";

/// The `webhook:` section as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL pods reach kura at (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_STS`); default: the first
    /// `server.internal_urls` entry, else the first `server.public_urls` entry.
    pub endpoint_url: Option<String>,
    /// A CA bundle's path inside the pod (`AWS_CA_BUNDLE`), for a kura served over TLS by a private CA.
    pub ca_bundle: Option<String>,
    /// `expirationSeconds` of the projected service-account tokens (600 to 31536000; default 86400).
    pub token_expiration_seconds: Option<u64>,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` for pod-identity pods (default EKS's
    /// `http://169.254.170.23/v1/credentials`; e.g. `https://kura.storage.svc:9000/kura/v1/credentials`).
    pub credentials_full_uri: Option<String>,
}

/// The section resolved against `server:`: what the webhook injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL_STS`; `None` when neither `webhook.endpoint_url` nor a
    /// server URL is configured (the webhook then injects nothing and says why).
    pub endpoint_url: Option<String>,
    /// `AWS_CA_BUNDLE`, when configured.
    pub ca_bundle: Option<String>,
    /// `expirationSeconds` of the projected tokens.
    pub token_expiration_secs: u64,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub credentials_full_uri: String,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookConfig::default().resolve(&ServerSection::default())
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace))
}

impl WebhookConfig {
    /// Checks each key; the error names the field.
    pub(super) fn validate(&self) -> Result<(), String> {
        for (field, url) in [("endpoint_url", &self.endpoint_url), ("credentials_full_uri", &self.credentials_full_uri)]
        {
            if let Some(url) = url
                && !is_http_url(url)
            {
                return Err(format!("webhook.{field}: {url:?} must be an http:// or https:// URL"));
            }
        }
        if let Some(path) = &self.ca_bundle
            && (!path.starts_with('/') || path.chars().any(|c| c.is_control()))
        {
            return Err(format!("webhook.ca_bundle: {path:?} must be an absolute path inside the pod"));
        }
        if let Some(secs) = self.token_expiration_seconds
            && !(MIN_TOKEN_EXPIRATION_SECS..=MAX_TOKEN_EXPIRATION_SECS).contains(&secs)
        {
            return Err(format!(
                "webhook.token_expiration_seconds: {secs} is not between {MIN_TOKEN_EXPIRATION_SECS} and \
                 {MAX_TOKEN_EXPIRATION_SECS}"
            ));
        }
        Ok(())
    }

    /// The settings in force: defaults filled in, the endpoint taken from `server` when not given (an
    /// in-cluster name first: pods are in the cluster).
    pub fn resolve(&self, server: &ServerSection) -> WebhookSettings {
        let endpoint_url = self
            .endpoint_url
            .clone()
            .or_else(|| server.internal_urls.first().cloned())
            .or_else(|| server.public_urls.first().cloned())
            .map(|u| u.trim_end_matches('/').to_owned());
        WebhookSettings {
            endpoint_url,
            ca_bundle: self.ca_bundle.clone(),
            token_expiration_secs: self.token_expiration_seconds.unwrap_or(DEFAULT_TOKEN_EXPIRATION_SECS),
            credentials_full_uri: self
                .credentials_full_uri
                .clone()
                .unwrap_or_else(|| EKS_CREDENTIALS_FULL_URI.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_endpoint_defaults_to_the_internal_then_the_public_url() {
        let c = Config::parse(
            "server:\n  public_urls: [https://s3.example.com]\n  internal_urls: [http://kura.storage.svc:9000/]\n",
        )
        .expect("valid");
        let s = c.webhook.resolve(&c.server);
        assert_eq!(s.endpoint_url.as_deref(), Some("http://kura.storage.svc:9000"));
        assert_eq!(s.token_expiration_secs, 86_400);
        assert_eq!(s.credentials_full_uri, "http://169.254.170.23/v1/credentials");
        assert_eq!(s.ca_bundle, None);
        let c = Config::parse("server:\n  public_urls: [https://s3.example.com]\n").expect("valid");
        assert_eq!(c.webhook.resolve(&c.server).endpoint_url.as_deref(), Some("https://s3.example.com"));
        let c = Config::parse(
            "server:\n  public_urls: [https://s3.example.com]\nwebhook:\n  endpoint_url: https://kura.internal\n  \
             ca_bundle: /etc/kura/ca.crt\n  token_expiration_seconds: 3600\n",
        )
        .expect("valid");
        let s = c.webhook.resolve(&c.server);
        assert_eq!(s.endpoint_url.as_deref(), Some("https://kura.internal"));
        assert_eq!(s.ca_bundle.as_deref(), Some("/etc/kura/ca.crt"));
        assert_eq!(s.token_expiration_secs, 3600);
        assert_eq!(Config::parse("").expect("empty").webhook.resolve(&Default::default()).endpoint_url, None);
    }

    #[test]
    fn mistakes_name_the_field() {
        for (yaml, expect) in [
            ("webhook:\n  endpoint_url: kura.svc:9000\n", "webhook.endpoint_url: \"kura.svc:9000\" must be an http"),
            ("webhook:\n  credentials_full_uri: ftp://x\n", "webhook.credentials_full_uri: \"ftp://x\" must be"),
            ("webhook:\n  ca_bundle: ca.crt\n", "webhook.ca_bundle: \"ca.crt\" must be an absolute path"),
            ("webhook:\n  token_expiration_seconds: 60\n", "webhook.token_expiration_seconds: 60 is not between"),
            ("webhook:\n  endpoint: http://x\n", "unknown field `endpoint`"),
        ] {
            let err = Config::parse(yaml).expect_err(expect);
            assert!(err.contains(expect), "{expect}: {err}");
        }
    }
}
