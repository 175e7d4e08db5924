//! `kura presign`: presigned URLs and POST forms, computed locally (no network) with credentials from the
//! AWS chain, for kura's public URL. Any identity works (user, web-identity session, pod credentials); a
//! URL made with session credentials lives no longer than the session.

use super::client::EndpointArgs;
use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Args, ValueEnum};
use std::time::{Duration, SystemTime};

/// `kura presign`.
#[derive(Debug, Args)]
pub struct PresignArgs {
    /// What the URL allows.
    pub method: PresignMethod,
    /// `s3://BUCKET/KEY` (for `post`: `s3://BUCKET/PREFIX`; the form's `key` must start with PREFIX).
    pub target: String,
    /// Lifetime, e.g. 15m, 1h, 7d (at most 7 days).
    #[arg(long, default_value = "15m")]
    pub expires: String,
    /// Content-Type the upload must declare (`put`: signed header; `post`: policy condition).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Largest upload a `post` form accepts, e.g. 10MiB, 1GiB.
    #[arg(long, default_value = "5GiB")]
    pub max_size: kura_bench::Size,
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
    let resolved = args.endpoint.resolve().await?;
    let expires = super::parse_seconds(&args.expires, "--expires")?;
    if !(1..=kura_sigv4::MAX_EXPIRES_SECS).contains(&expires) {
        bail!("--expires must be between 1 second and 7 days");
    }
    let (bucket, key) = parse_target(&args.target)?;
    let creds = &resolved.credentials;
    let now = SystemTime::now();
    if args.method == PresignMethod::Post {
        let form = PostForm {
            endpoint: &resolved.endpoint,
            region: &resolved.region,
            access_key: creds.access_key_id(),
            secret: creds.secret_access_key(),
            session_token: creds.session_token(),
            bucket,
            prefix: key,
            max_size: args.max_size.bytes(),
            content_type: args.content_type.as_deref(),
            expires: Duration::from_secs(expires),
        };
        println!("{:#}", form.build(now)?);
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

/// `s3://BUCKET/KEY` → (bucket, key); the key may be empty.
fn parse_target(target: &str) -> anyhow::Result<(&str, &str)> {
    let rest = target.strip_prefix("s3://").with_context(|| format!("{target:?} must look like s3://BUCKET/KEY"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{target:?} has no bucket");
    }
    Ok((bucket, key))
}

/// A presigned POST (browser upload) form.
struct PostForm<'a> {
    endpoint: &'a str,
    region: &'a str,
    access_key: &'a str,
    secret: &'a str,
    session_token: Option<&'a str>,
    bucket: &'a str,
    prefix: &'a str,
    max_size: u64,
    content_type: Option<&'a str>,
    expires: Duration,
}

impl PostForm<'_> {
    /// `{"url", "fields"}`: post the fields, then the `file` field, to `url` as multipart/form-data.
    fn build(&self, now: SystemTime) -> anyhow::Result<serde_json::Value> {
        let amz_date = kura_sigv4::format_amz_date(now);
        let date = amz_date.get(..8).unwrap_or_default();
        let credential = format!("{}/{date}/{}/s3/aws4_request", self.access_key, self.region);
        let expiration = time::OffsetDateTime::from(now + self.expires)
            .format(&time::format_description::well_known::Rfc3339)
            .context("formatting the expiration")?;
        let mut conditions = vec![
            serde_json::json!({ "bucket": self.bucket }),
            serde_json::json!(["starts-with", "$key", self.prefix]),
            serde_json::json!(["content-length-range", 0, self.max_size]),
            serde_json::json!({ "x-amz-algorithm": kura_sigv4::ALGORITHM }),
            serde_json::json!({ "x-amz-credential": credential }),
            serde_json::json!({ "x-amz-date": amz_date }),
        ];
        let mut fields = serde_json::Map::new();
        // The form sets the full key; the policy only lets it start with the prefix.
        fields.insert("key".into(), self.prefix.into());
        if let Some(t) = self.content_type {
            conditions.push(serde_json::json!({ "Content-Type": t }));
            fields.insert("Content-Type".into(), t.into());
        }
        if let Some(token) = self.session_token {
            conditions.push(serde_json::json!({ "x-amz-security-token": token }));
            fields.insert("x-amz-security-token".into(), token.into());
        }
        let policy = serde_json::json!({ "expiration": expiration, "conditions": conditions });
        let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let key = kura_sigv4::derive_key(self.secret, date, self.region, "s3");
        fields.insert("x-amz-algorithm".into(), kura_sigv4::ALGORITHM.into());
        fields.insert("x-amz-credential".into(), credential.into());
        fields.insert("x-amz-date".into(), amz_date.into());
        fields.insert("x-amz-signature".into(), kura_sigv4::sign_post_policy(&key, &policy_b64).into());
        fields.insert("policy".into(), policy_b64.into());
        let url = format!("{}/{}", self.endpoint, kura_sigv4::encode_query_component(self.bucket));
        Ok(serde_json::json!({ "url": url, "fields": fields }))
    }
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

    #[test]
    fn post_forms_carry_a_signed_policy_with_the_limits() {
        let form = PostForm {
            endpoint: "https://s3.example.com",
            region: "us-east-1",
            access_key: "AKID",
            secret: "secret-0123456789",
            session_token: Some("tok"),
            bucket: "uploads",
            prefix: "user-1/",
            max_size: 1024,
            content_type: Some("image/png"),
            expires: Duration::from_secs(3600),
        };
        let v = form.build(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000)).expect("form");
        assert_eq!(v["url"], "https://s3.example.com/uploads");
        let fields = &v["fields"];
        assert_eq!(fields["key"], "user-1/");
        assert_eq!(fields["x-amz-security-token"], "tok");
        let policy =
            base64::engine::general_purpose::STANDARD.decode(fields["policy"].as_str().expect("p")).expect("b64");
        let policy: serde_json::Value = serde_json::from_slice(&policy).expect("json");
        assert_eq!(policy["expiration"], "2023-11-14T23:13:20Z");
        let conditions = policy["conditions"].to_string();
        assert!(conditions.contains(r#"["content-length-range",0,1024]"#), "{conditions}");
        assert!(conditions.contains(r#"["starts-with","$key","user-1/"]"#), "{conditions}");
        let key = kura_sigv4::derive_key("secret-0123456789", "20231114", "us-east-1", "s3");
        assert_eq!(
            fields["x-amz-signature"],
            kura_sigv4::sign_post_policy(&key, fields["policy"].as_str().expect("p"))
        );
    }
}
