//! `kura bench`: a load generator for any S3-compatible endpoint.
//!
//! [`run`] creates its data (a `kura-bench-<random>` bucket unless `--bucket` is given, and a
//! working set of `--objects` objects under a per-run prefix), runs one workload with `--concurrency`
//! requests in flight, cleans up, and returns a [`Report`] (ops/s, MiB/s, latency percentiles,
//! errors). See [`workload`] for what each workload does, including the mixed ratios.
//!
//! The client is built to stay out of the way: hyper 1 with a keep-alive pool and `TCP_NODELAY`,
//! path-style URLs, SigV4 header signing with `UNSIGNED-PAYLOAD` (or a once-computed body hash with
//! `--payload signed`), request bodies made of one shared random chunk, responses drained without
//! being collected, and latencies recorded into per-worker histograms merged at the end.

#![forbid(unsafe_code)]

pub mod client;
pub mod progress;
pub mod signer;
pub mod size;
pub mod stats;
pub mod workload;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use rand::Rng;

pub use client::{OpError, PayloadMode};
pub use signer::Credentials;
pub use size::Size;
pub use stats::{LatencyMs, OpKind, OpReport, Report};
pub use workload::Workload;

use client::{Endpoint, Payload, S3Client};
use progress::Progress;
use signer::Signer;
use stats::ReportMeta;
use workload::{Plan, Shared};

/// Region used when neither `--region` nor the AWS configuration names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Command-line arguments of `kura bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint to measure, e.g. http://127.0.0.1:9000 (path-style requests are sent to it).
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: String,

    /// Bucket to use (created if missing). Default: a new `kura-bench-<random>` bucket, deleted
    /// afterwards.
    #[arg(long)]
    pub bucket: Option<String>,

    /// What to measure: put, get, mixed (45% GET, 30% PUT, 15% HEAD, 10% DELETE+re-PUT), stat
    /// (HEAD), list (full ListObjectsV2 listings, 1,000 keys per page) or delete.
    #[arg(long, value_enum, default_value = "put")]
    pub workload: Workload,

    /// Object size, e.g. 4KiB, 1MiB, 64MiB, 1GiB, 4096 or 4KB (decimal).
    #[arg(long, default_value = "4KiB")]
    pub size: Size,

    /// Number of objects in the working set (uploaded first for get, stat, list, delete and mixed).
    #[arg(long, default_value_t = 1000)]
    pub objects: u64,

    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,

    /// How long to run, e.g. 30s, 2m, 500ms (ignored by delete, which deletes every object once).
    #[arg(long, default_value = "30s", value_parser = size::parse_duration)]
    pub duration: Duration,

    /// Print exactly one JSON object on stdout instead of the human-readable report; no progress bar.
    #[arg(long)]
    pub json: bool,

    /// Region to sign for. Default: from the AWS configuration, else us-east-1.
    #[arg(long)]
    pub region: Option<String>,

    /// unsigned: `x-amz-content-sha256: UNSIGNED-PAYLOAD`; signed: send the body's SHA-256 so the
    /// server verifies every PUT body.
    #[arg(long, value_enum, default_value = "unsigned")]
    pub payload: PayloadMode,

    /// Leave the objects (and the bucket) in place instead of deleting them afterwards.
    #[arg(long)]
    pub keep: bool,

    /// Role to assume (web-identity workload).
    #[arg(long, env = "AWS_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Option<String>,

    /// File holding the OIDC token to exchange (web-identity workload), e.g. from `kura oidc token`.
    #[arg(long, env = "AWS_WEB_IDENTITY_TOKEN_FILE", value_name = "FILE")]
    pub web_identity_token_file: Option<std::path::PathBuf>,
}

impl BenchArgs {
    /// Arguments with the defaults above for `endpoint_url`.
    pub fn new(endpoint_url: impl Into<String>) -> Self {
        Self {
            endpoint_url: endpoint_url.into(),
            bucket: None,
            workload: Workload::Put,
            size: Size(4096),
            objects: 1000,
            concurrency: 16,
            duration: Duration::from_secs(30),
            json: false,
            region: None,
            payload: PayloadMode::Unsigned,
            keep: false,
            role_arn: None,
            web_identity_token_file: None,
        }
    }

    /// Checks the arguments for combinations that cannot work.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |m: String| Err(BenchError::InvalidArgs(m));
        if self.concurrency == 0 {
            return bad("--concurrency must be at least 1".into());
        }
        if self.objects == 0 {
            return bad("--objects must be at least 1".into());
        }
        if self.size.bytes() > size::MAX_SIZE {
            return bad(format!("--size {} is larger than the 5GiB a single S3 PUT allows", self.size));
        }
        if self.workload == Workload::WebIdentity && (self.role_arn.is_none() || self.web_identity_token_file.is_none())
        {
            return bad("--workload web-identity needs --role-arn and --web-identity-token-file".into());
        }
        if self.workload != Workload::Delete && self.duration.is_zero() {
            return bad("--duration must be longer than 0s".into());
        }
        if self.workload == Workload::Mixed && self.objects < self.concurrency as u64 {
            return bad(format!(
                "--workload mixed needs --objects ({}) >= --concurrency ({}): each worker owns its own keys",
                self.objects, self.concurrency
            ));
        }
        if let Some(b) = &self.bucket
            && !valid_bucket_name(b)
        {
            return bad(format!("--bucket {b:?} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')"));
        }
        Ok(())
    }
}

fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The command-line arguments do not work together.
    #[error("{0}")]
    InvalidArgs(String),
    /// The endpoint could not be reached at all.
    #[error("cannot reach {endpoint}: {detail} — is the server running?")]
    Unreachable {
        /// Endpoint URL.
        endpoint: String,
        /// What went wrong (e.g. `connection refused`).
        detail: String,
    },
    /// No credentials in the AWS default chain.
    #[error("no AWS credentials found ({0}): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile (AWS_PROFILE)")]
    NoCredentials(String),
    /// The server rejected the credentials or the signature.
    #[error("{what} was refused by {endpoint}: {error} — check the credentials, --region and the server's clock")]
    Denied {
        /// What was being done.
        what: String,
        /// Endpoint URL.
        endpoint: String,
        /// The server's answer.
        error: OpError,
    },
    /// A setup step (bucket creation, upload of the working set) failed.
    #[error("{what} failed: {error}")]
    Setup {
        /// What was being done.
        what: String,
        /// The failure.
        error: OpError,
    },
    /// The run was interrupted (Ctrl-C) before the workload started.
    #[error("interrupted")]
    Interrupted,
}

impl BenchError {
    fn from_op(endpoint: &str, what: impl Into<String>, error: OpError) -> Self {
        let what = what.into();
        match &error {
            OpError::Transport { label: label @ ("connection refused" | "timeout"), .. } => {
                BenchError::Unreachable { endpoint: endpoint.to_owned(), detail: (*label).to_owned() }
            }
            OpError::Transport { detail, .. } if detail.contains("dns") || detail.contains("lookup") => {
                BenchError::Unreachable { endpoint: endpoint.to_owned(), detail: detail.clone() }
            }
            OpError::Status { status: 403, .. } => BenchError::Denied { what, endpoint: endpoint.to_owned(), error },
            OpError::Status { code, .. }
                if matches!(code.as_str(), "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "AccessDenied") =>
            {
                BenchError::Denied { what, endpoint: endpoint.to_owned(), error }
            }
            _ => BenchError::Setup { what, error },
        }
    }
}

/// Loads credentials (and the region, unless given) from the AWS default chain. Returns the
/// credentials, the region, and the provider if the credentials expire and must be refreshed.
async fn load_credentials(
    region: Option<&str>,
) -> Result<
    (Credentials, String, Option<(aws_credential_types::provider::SharedCredentialsProvider, SystemTime)>),
    BenchError,
> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    let config = loader.load().await;
    let region = config.region().map(|r| r.as_ref().to_owned()).unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let provider = config.credentials_provider().ok_or_else(|| BenchError::NoCredentials("no provider".into()))?;
    let creds = provider.provide_credentials().await.map_err(|e| BenchError::NoCredentials(e.to_string()))?;
    let expiry = creds.expiry();
    let ours = Credentials {
        access_key_id: creds.access_key_id().to_owned(),
        secret_access_key: creds.secret_access_key().to_owned(),
        session_token: creds.session_token().map(str::to_owned),
    };
    Ok((ours, region, expiry.map(|e| (provider, e))))
}

/// Re-fetches credentials shortly before they expire, for as long as the task lives.
fn spawn_refresh(
    signer: Arc<Signer>,
    provider: aws_credential_types::provider::SharedCredentialsProvider,
    mut expiry: SystemTime,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let left = expiry.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(left.saturating_sub(Duration::from_secs(300)).max(Duration::from_secs(5))).await;
            match provider.provide_credentials().await {
                Ok(c) => {
                    signer.set_credentials(Credentials {
                        access_key_id: c.access_key_id().to_owned(),
                        secret_access_key: c.secret_access_key().to_owned(),
                        session_token: c.session_token().map(str::to_owned),
                    });
                    match c.expiry() {
                        Some(e) => expiry = e,
                        None => return,
                    }
                }
                Err(_) => expiry = SystemTime::now() + Duration::from_secs(60),
            }
        }
    })
}

/// Stops the loops on the first Ctrl-C; exits the process (status 130) on the second.
fn spawn_ctrl_c(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        shared.stop.store(true, Ordering::Relaxed);
        eprintln!("\nkura bench: stopping and cleaning up (Ctrl-C again to quit now)");
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    })
}

/// Runs a benchmark against `args.endpoint_url` with credentials from the AWS default chain.
pub async fn run(args: BenchArgs) -> Result<Report, BenchError> {
    args.validate()?;
    let endpoint = Endpoint::parse(&args.endpoint_url).map_err(BenchError::InvalidArgs)?;
    let (creds, region, refresh) = load_credentials(args.region.as_deref()).await?;
    run_with_credentials(args, endpoint, creds, region, refresh).await
}

/// Like [`run`], but with explicit credentials and region instead of the AWS default chain (for tests
/// and embedding).
pub async fn run_with(args: BenchArgs, creds: Credentials, region: &str) -> Result<Report, BenchError> {
    args.validate()?;
    let endpoint = Endpoint::parse(&args.endpoint_url).map_err(BenchError::InvalidArgs)?;
    run_with_credentials(args, endpoint, creds, region.to_owned(), None).await
}

async fn run_with_credentials(
    args: BenchArgs,
    endpoint: Endpoint,
    creds: Credentials,
    region: String,
    refresh: Option<(aws_credential_types::provider::SharedCredentialsProvider, SystemTime)>,
) -> Result<Report, BenchError> {
    let url = endpoint.url().to_owned();
    let signer = Arc::new(Signer::s3(region, creds));
    let client = S3Client::new(endpoint, Arc::clone(&signer), args.concurrency).map_err(BenchError::InvalidArgs)?;
    let refresher = refresh.map(|(provider, expiry)| spawn_refresh(Arc::clone(&signer), provider, expiry));
    let shared = Arc::new(Shared::default());
    let ctrl_c = spawn_ctrl_c(Arc::clone(&shared));
    let mut progress = Progress::new(!args.json);

    let result = bench(&args, &url, client, &shared, &mut progress).await;

    progress.finish();
    ctrl_c.abort();
    if let Some(r) = refresher {
        r.abort();
    }
    result
}

async fn bench(
    args: &BenchArgs,
    url: &str,
    client: S3Client,
    shared: &Arc<Shared>,
    progress: &mut Progress,
) -> Result<Report, BenchError> {
    let run_id = format!("{:08x}", rand::rng().random::<u32>());
    let bucket = match args.workload.uses_objects() {
        true => args.bucket.clone().unwrap_or_else(|| format!("kura-bench-{run_id}")),
        false => String::new(),
    };
    let prefix = format!("kura-bench-{run_id}/");

    let sts_form = sts_form(args)?;
    let objects = args.workload.uses_objects();
    if objects {
        progress.spinner(&format!("preparing bucket {bucket}"));
    }
    let exists =
        !objects || client.bucket_exists(&bucket).await.map_err(|e| BenchError::from_op(url, "HeadBucket", e))?;
    let created = if exists {
        false
    } else {
        client
            .create_bucket(&bucket)
            .await
            .map_err(|e| BenchError::from_op(url, format!("creating bucket {bucket}"), e))?;
        true
    };

    let plan = Arc::new(Plan {
        keys: Plan::make_keys(&prefix, args.objects),
        payload: Payload::new(args.size.bytes(), args.payload),
        client,
        bucket,
        prefix,
        concurrency: args.concurrency,
        shared: Arc::clone(shared),
        sts_form,
    });

    let outcome = measure(args, &plan, progress).await;
    progress.finish();

    let mut warnings = Vec::new();
    if !objects {
    } else if args.keep {
        warnings.push(format!("--keep: objects left under s3://{}/{}", plan.bucket, plan.prefix));
    } else {
        progress.spinner("cleaning up");
        match workload::cleanup(&plan.client, &plan.bucket, &plan.prefix, plan.concurrency).await {
            Ok(_) => {
                if created && let Err(e) = plan.client.delete_bucket(&plan.bucket).await {
                    warnings.push(format!("could not delete bucket {}: {e}", plan.bucket));
                }
            }
            Err(e) => warnings.push(format!("cleanup of s3://{}/{} failed: {e}", plan.bucket, plan.prefix)),
        }
        progress.finish();
    }

    let mut report = outcome?;
    report.warnings.extend(warnings);
    Ok(report)
}

/// The `AssumeRoleWithWebIdentity` form of the web-identity workload (`None` for other workloads).
fn sts_form(args: &BenchArgs) -> Result<Option<bytes::Bytes>, BenchError> {
    let (Workload::WebIdentity, Some(role), Some(file)) =
        (args.workload, &args.role_arn, &args.web_identity_token_file)
    else {
        return Ok(None);
    };
    let token = std::fs::read_to_string(file)
        .map_err(|e| BenchError::InvalidArgs(format!("--web-identity-token-file {}: {e}", file.display())))?;
    let enc = kura_sigv4::encode_query_component;
    let form = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=kura-bench&RoleArn={}&WebIdentityToken={}",
        enc(role),
        enc(token.trim())
    );
    Ok(Some(bytes::Bytes::from(form)))
}

async fn measure(args: &BenchArgs, plan: &Arc<Plan>, progress: &mut Progress) -> Result<Report, BenchError> {
    let url = plan.client.endpoint().url().to_owned();
    if args.workload.needs_preload() {
        progress.count_phase("upload", args.objects, &plan.shared);
        workload::preload(plan).await.map_err(|e| {
            BenchError::from_op(&url, format!("uploading {} objects of {}", args.objects, args.size), e)
        })?;
        progress.finish();
        if plan.shared.stopped() {
            return Err(BenchError::Interrupted);
        }
    }
    let label = args.workload.name();
    if args.workload == Workload::Delete {
        progress.count_phase(label, args.objects, &plan.shared);
    } else {
        progress.timed_phase(label, args.duration, &plan.shared);
    }
    let (stats, elapsed) = workload::run(plan, args.workload, args.duration).await;
    progress.finish();
    let meta = ReportMeta {
        workload: label.to_owned(),
        endpoint: url,
        bucket: plan.bucket.clone(),
        size: args.size.bytes(),
        objects: args.objects,
        concurrency: args.concurrency,
        report_pages: args.workload == Workload::List,
    };
    Ok(Report::new(meta, &stats, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn parses_the_documented_command_line() {
        let cli = Cli::try_parse_from([
            "kura",
            "--endpoint-url",
            "http://127.0.0.1:9000",
            "--workload",
            "mixed",
            "--size",
            "64MiB",
            "--objects",
            "100",
            "--concurrency",
            "8",
            "--duration",
            "10s",
            "--json",
            "--payload",
            "signed",
            "--keep",
            "--region",
            "eu-west-1",
            "--bucket",
            "my-bucket",
        ])
        .unwrap();
        let a = cli.bench;
        assert_eq!(a.workload, Workload::Mixed);
        assert_eq!(a.size, Size(64 << 20));
        assert_eq!((a.objects, a.concurrency), (100, 8));
        assert_eq!(a.duration, Duration::from_secs(10));
        assert!(a.json && a.keep);
        assert_eq!(a.payload, PayloadMode::Signed);
        assert_eq!(a.region.as_deref(), Some("eu-west-1"));
        assert_eq!(a.bucket.as_deref(), Some("my-bucket"));
        a.validate().unwrap();
    }

    #[test]
    fn defaults_match_new() {
        let cli = Cli::try_parse_from(["kura", "--endpoint-url", "http://127.0.0.1:9000"]).unwrap();
        let d = BenchArgs::new("http://127.0.0.1:9000");
        assert_eq!(format!("{:?}", cli.bench), format!("{d:?}"));
        assert!(Cli::try_parse_from(["kura", "--endpoint-url", "x", "--size", "lots"]).is_err());
    }

    #[test]
    fn validation_explains_what_to_fix() {
        let base = BenchArgs::new("http://127.0.0.1:9000");
        let err = |a: BenchArgs| a.validate().unwrap_err().to_string();
        assert!(err(BenchArgs { concurrency: 0, ..base.clone() }).contains("--concurrency"));
        assert!(err(BenchArgs { objects: 0, ..base.clone() }).contains("--objects"));
        assert!(err(BenchArgs { size: Size(6 << 30), ..base.clone() }).contains("5GiB"));
        assert!(
            err(BenchArgs { workload: Workload::Mixed, objects: 4, concurrency: 8, ..base.clone() }).contains("mixed")
        );
        assert!(err(BenchArgs { bucket: Some("Bad_Bucket".into()), ..base.clone() }).contains("bucket"));
        BenchArgs { workload: Workload::Delete, duration: Duration::ZERO, ..base }.validate().unwrap();
    }

    #[test]
    fn error_messages_say_what_to_fix() {
        let refused = OpError::Transport { label: "connection refused", detail: "tcp connect error".into() };
        let e = BenchError::from_op("http://127.0.0.1:9000", "HeadBucket", refused);
        assert_eq!(e.to_string(), "cannot reach http://127.0.0.1:9000: connection refused — is the server running?");
        let denied = OpError::Status { status: 403, code: "SignatureDoesNotMatch".into(), message: "no".into() };
        let e = BenchError::from_op("http://127.0.0.1:9000", "HeadBucket", denied);
        assert!(e.to_string().contains("check the credentials"));
        assert!(BenchError::NoCredentials("x".into()).to_string().contains("AWS_ACCESS_KEY_ID"));
    }

    /// Nothing listens on this port (it is bound and immediately released), so the run must fail
    /// with the "is the server running?" error rather than hang or panic.
    #[tokio::test]
    async fn unreachable_endpoint_is_reported() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut args = BenchArgs::new(format!("http://127.0.0.1:{port}"));
        args.json = true;
        let creds = Credentials { access_key_id: "a".into(), secret_access_key: "b".into(), session_token: None };
        let err = run_with(args, creds, "us-east-1").await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, BenchError::Unreachable { .. }), "{msg}");
        assert!(msg.contains("is the server running?"), "{msg}");
    }
}
