//! A SigV4-signing HTTP client for the CLI's calls to a kura server (`kura admin`, tickets), with credentials and
//! region from the standard AWS chain (environment, profile, web identity, container credentials).

use anyhow::{Context as _, bail};
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials as _;
use clap::Args;
use std::time::SystemTime;

/// Where the server is and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// The kura URL [default: $AWS_ENDPOINT_URL, else the first server.public_urls of the config file,
    /// else http://127.0.0.1:9000].
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Region for signing [default: from the AWS config chain, else us-east-1].
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// kura's config file, read only for server.public_urls.
    #[arg(long, global = true, env = "KURA_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

/// The endpoint, region and credentials a command signs with.
pub struct Resolved {
    /// `http(s)://host[:port]`, no trailing `/`.
    pub endpoint: String,
    /// Signing region.
    pub region: String,
    /// Credentials from the AWS chain.
    pub credentials: aws_credential_types::Credentials,
}

impl EndpointArgs {
    /// Resolves the endpoint (flag, `AWS_ENDPOINT_URL`, the config's first public URL, default) and loads
    /// credentials and region from the AWS chain (environment, profile, web identity, container
    /// credentials).
    pub async fn resolve(&self) -> anyhow::Result<Resolved> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let config = loader.load().await;
        let region = config.region().map_or_else(|| "us-east-1".to_owned(), |r| r.as_ref().to_owned());
        let provider = config
            .credentials_provider()
            .context("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile")?;
        let credentials = provider
            .provide_credentials()
            .await
            .context("loading AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …)")?;
        let endpoint = match &self.endpoint_url {
            Some(e) => e.clone(),
            None => match std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty()) {
                Some(e) => e,
                None => self.first_public_url()?.unwrap_or_else(|| "http://127.0.0.1:9000".to_owned()),
            },
        };
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            bail!("--endpoint-url {endpoint:?} must start with http:// or https://");
        }
        Ok(Resolved { endpoint, region, credentials })
    }

    /// `server.public_urls[0]` of the config file, if one is given.
    fn first_public_url(&self) -> anyhow::Result<Option<String>> {
        let Some(path) = &self.config else { return Ok(None) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))?;
        Ok(doc
            .get("server")
            .and_then(|s| s.get("public_urls"))
            .and_then(|u| u.get(0))
            .and_then(|u| u.as_str())
            .map(str::to_owned))
    }
}

/// A signed-request client.
pub struct SignedClient {
    endpoint: String,
    region: String,
    credentials: aws_credential_types::Credentials,
    http: reqwest::Client,
}

/// A response: status and body text.
pub struct Reply {
    /// HTTP status.
    pub status: reqwest::StatusCode,
    /// Body as text.
    pub body: String,
}

impl SignedClient {
    /// Resolves the endpoint and loads credentials and region from the AWS chain.
    pub async fn connect(args: &EndpointArgs) -> anyhow::Result<Self> {
        let Resolved { endpoint, region, credentials } = args.resolve().await?;
        Ok(Self { endpoint, region, credentials, http: reqwest::Client::new() })
    }

    /// Sends a signed request to `path` (starting with `/`) with an optional body, and reads the whole
    /// answer.
    pub async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> anyhow::Result<Reply> {
        let response = self.request(method, path, "", body).await?;
        Reply::read(response).await
    }

    /// Sends a signed request to `path` with the query `query` (already canonical: names and values
    /// URI-encoded, sorted; empty for none) and returns the response as it starts to arrive, for bodies
    /// too large to hold in memory.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = if query.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query}", self.endpoint)
        };
        let parsed = reqwest::Url::parse(&url).with_context(|| format!("bad URL {url}"))?;
        let host = parsed.host_str().map(str::to_owned).context("the endpoint URL has no host")?;
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        // Signed by kura-bench's signer over kura-sigv4: the one SigV4 implementation in kura.
        let c = &self.credentials;
        let signer = kura_bench::signer::Signer::s3(
            self.region.clone(),
            kura_bench::Credentials {
                access_key_id: c.access_key_id().to_owned(),
                secret_access_key: c.secret_access_key().to_owned(),
                session_token: c.session_token().map(str::to_owned),
            },
        );
        let payload_hash = {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(&body))
        };
        let canonical_path = kura_sigv4::canonical_path(path);
        let sig = signer.sign(method, &host, &canonical_path, query, &payload_hash, SystemTime::now());
        let method = reqwest::Method::from_bytes(method.as_bytes()).context("HTTP method")?;
        let mut request = self
            .http
            .request(method, &url)
            .header("x-amz-date", sig.amz_date)
            .header("x-amz-content-sha256", payload_hash)
            .header("authorization", sig.authorization)
            .body(body);
        if let Some(token) = sig.security_token {
            request = request.header("x-amz-security-token", token);
        }
        request.send().await.with_context(|| format!("cannot reach {}", self.endpoint))
    }
}

impl Reply {
    /// Reads a whole response.
    pub async fn read(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status();
        let body = response.text().await.context("reading the response")?;
        Ok(Self { status, body })
    }

    /// The body if the call succeeded; otherwise an error with the server's code and message.
    pub fn ok(self) -> anyhow::Result<String> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        let code = xml_field(&self.body, "Code").unwrap_or_else(|| self.status.to_string());
        let message = xml_field(&self.body, "Message").unwrap_or_default();
        bail!("{code}: {message}")
    }
}

/// The text of the first `<name>…</name>` element (S3 error bodies).
fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read() {
        let xml = "<Error><Code>AccessDenied</Code><Message>User: x is &quot;not&quot; allowed</Message></Error>";
        assert_eq!(xml_field(xml, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(xml_field(xml, "Message").as_deref(), Some("User: x is \"not\" allowed"));
        assert_eq!(xml_field(xml, "Missing"), None);
    }
}
