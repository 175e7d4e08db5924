//! `kura presign`: presigned URLs and POST forms, computed locally (no network) with credentials from the
//! AWS chain, for kura's public URL. Any identity works (user, web-identity session, pod credentials); a
//! URL made with session credentials lives no longer than the session.

use super::client::EndpointArgs;
use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::time::{Duration, SystemTime};

/// `kura presign`.
#[derive(Debug, Args)]
pub struct PresignArgs {
    /// What the URL allows.
    pub method: PresignMethod,
    /// `s3://BUCKET/KEY` (for `post`: `s3://BUCKET/PREFIX`; the form's key is PREFIX${filename}).
    pub target: String,
    /// Lifetime, e.g. 15m, 1h, 7d (at most 7 days).
    #[arg(long, default_value = "15m")]
    pub expires: String,
    /// Content-Type the upload must declare (`put`: signed header; `post`: policy condition).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Largest upload a `post` form (or a `--ticket` upload) accepts, e.g. 10MiB, 1GiB.
    #[arg(long, default_value = "5GiB")]
    pub max_size: kura_bench::Size,
    /// Ask the server for an upload ticket instead of signing locally: the URL is signed with the
    /// ticket's own key, outlives a short session, appears in the audit log and can be revoked
    /// (`kura admin presign revoke ID`). Prints the server's JSON (`id`, `url`, `fields`, `expires_at`).
    #[arg(long)]
    pub ticket: bool,
    /// Server and signing settings.
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

/// The request a presigned URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresignMethod {
    /// GetObject.
    Get,
    /// PutObject.
    Put,
    /// DeleteObject.
    Delete,
    /// A browser form upload (POST policy): prints `{"url", "fields"}`.
    Post,
}

/// Runs `kura presign`.
pub async fn run(args: PresignArgs) -> anyhow::Result<()> {
    if args.ticket {
        return ticket(&args).await;
    }
    let resolved = args.endpoint.resolve().await?;
    let expires = super::parse_seconds(&args.expires, "--expires")?;
    if !(1..=kura_sigv4::MAX_EXPIRES_SECS).contains(&expires) {
        bail!("--expires must be between 1 second and 7 days");
    }
    let (bucket, key) = parse_target(&args.target)?;
    let creds = &resolved.credentials;
    let now = SystemTime::now();
    if args.method == PresignMethod::Post {
        let form = kura_server::presign::PostForm {
            endpoint: &resolved.endpoint,
            region: &resolved.region,
            access_key: creds.access_key_id(),
            secret: creds.secret_access_key(),
            session_token: creds.session_token(),
            bucket,
            prefix: key,
            exact_key: false,
            max_size: args.max_size.bytes(),
            content_type: args.content_type.as_deref(),
            expires: Duration::from_secs(expires),
        };
        println!("{:#}", form.build(now).map_err(anyhow::Error::msg)?);
        return Ok(());
    }
    if key.is_empty() {
        bail!("{} needs s3://BUCKET/KEY with a key", args.target);
    }
    let method = match args.method {
        PresignMethod::Get => "GET",
        PresignMethod::Put => "PUT",
        PresignMethod::Delete | PresignMethod::Post => "DELETE",
    };
    let path = kura_sigv4::encode_object_path(bucket, key);
    let content_type = args.content_type.as_deref().filter(|_| args.method == PresignMethod::Put);
    let headers: Vec<(&str, &str)> = content_type.map(|t| ("content-type", t)).into_iter().collect();
    let mut req = kura_sigv4::PresignRequest::new(
        method,
        &resolved.endpoint,
        &path,
        &resolved.region,
        creds.access_key_id(),
        creds.secret_access_key(),
        now,
    );
    req.headers = &headers;
    req.session_token = creds.session_token();
    req.expires_secs = expires;
    println!("{}", kura_sigv4::presign_url(&req).context("presigning")?);
    Ok(())
}

/// `kura presign --ticket`: asks the server for an upload ticket.
async fn ticket(args: &PresignArgs) -> anyhow::Result<()> {
    let (bucket, key) = parse_target(&args.target)?;
    let expires = super::parse_seconds(&args.expires, "--expires")?;
    let method = match args.method {
        PresignMethod::Get => "GET",
        PresignMethod::Put => "PUT",
        PresignMethod::Post => "POST",
        PresignMethod::Delete => bail!("tickets are for GET, PUT and POST"),
    };
    let mut body = serde_json::json!({ "method": method, "bucket": bucket, "expires_seconds": expires });
    if args.method == PresignMethod::Post {
        body["key_prefix"] = key.into();
    } else {
        body["key"] = key.into();
    }
    if args.method != PresignMethod::Get {
        body["max_size"] = args.max_size.bytes().into();
        if let Some(t) = &args.content_type {
            body["content_type"] = t.clone().into();
        }
    }
    let client = super::client::SignedClient::connect(&args.endpoint).await?;
    let text = client.send("POST", kura_server::tickets::PATH, body.to_string().into_bytes()).await?.ok()?;
    println!("{}", text.trim_end());
    Ok(())
}

/// `s3://BUCKET/KEY` → (bucket, key); the key may be empty.
fn parse_target(target: &str) -> anyhow::Result<(&str, &str)> {
    let rest = target.strip_prefix("s3://").with_context(|| format!("{target:?} must look like s3://BUCKET/KEY"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{target:?} has no bucket");
    }
    Ok((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("s3://b/k/x.txt").ok(), Some(("b", "k/x.txt")));
        assert_eq!(parse_target("s3://b").ok(), Some(("b", "")));
        assert!(parse_target("b/k").is_err());
        assert!(parse_target("s3:///k").is_err());
    }
}
