//! `kura admin`: manage users, policies, bucket access and the built-in key service's KMS keys of a
//! running kura through its admin API (`/kura/admin/v1/`), signed with credentials from the standard
//! AWS chain; and take backups.

use super::client::{EndpointArgs, Reply, SignedClient};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt as _;

/// Options of `kura admin`.
#[derive(Debug, Args)]
#[command(after_help = "Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
AWS_PROFILE, web identity, container credentials). Each call is authorised by kura's policies with kura:* actions \
(root may do everything).")]
pub struct AdminArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// IAM users.
    #[command(subcommand)]
    User(UserCommand),
    /// Named IAM policies, and policy simulation.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Bucket policies, anonymous access and public access blocks.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Upload tickets (server-side presigned URLs): list and revoke.
    #[command(subcommand)]
    Presign(PresignCommand),
    /// KMS keys of the built-in key service (SSE-KMS) and their aliases; root only. KEY is a key id,
    /// key ARN, alias/NAME or alias ARN.
    #[command(subcommand)]
    Kms(KmsCommand),
    /// Write a consistent backup of the running server (every bucket, object, upload and IAM record as
    /// of one moment) to a tar archive; root only. Restore it with `kura restore`.
    Backup {
        /// Where to write the archive (`-` for standard output). A file is written beside it first and
        /// renamed once complete, so FILE is never a partial backup.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// Also include the secret files of the server's data directory (root-credentials,
        /// session-keys, master-keys). Without them a restored server gets new session keys and the
        /// root pair it is given, and reads encrypted objects only with the master key file brought back.
        #[arg(long)]
        include_secrets: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KmsCommand {
    /// Make a key (its material is generated and never leaves the server).
    Create {
        /// The key id (1 to 64 letters, digits, '-', '_'); a UUID when omitted.
        #[arg(long)]
        id: Option<String>,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
        /// An alias (alias/NAME) for it (repeatable).
        #[arg(long = "alias", value_name = "alias/NAME")]
        aliases: Vec<String>,
    },
    /// List every key (id, ARN, aliases, state).
    List,
    /// Show one key.
    Describe {
        /// The key.
        key: String,
    },
    /// Let a disabled key encrypt and decrypt again.
    Enable {
        /// The key.
        key: String,
    },
    /// Stop a key: its objects are unreadable (KMS.DisabledException) until it is enabled.
    Disable {
        /// The key.
        key: String,
    },
    /// Delete a key after a waiting period; its objects become unreadable at once and for good at the
    /// end. Refused for keys the configuration file declares.
    ScheduleDeletion {
        /// The key.
        key: String,
        /// Days to wait (7 to 30).
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Cancel a scheduled deletion (the key is then disabled, as on AWS).
    CancelDeletion {
        /// The key.
        key: String,
    },
    /// Give a key another alias.
    CreateAlias {
        /// The alias (alias/NAME).
        alias: String,
        /// The key.
        key: String,
    },
    /// Remove an alias (never the key).
    DeleteAlias {
        /// The alias (alias/NAME).
        alias: String,
    },
}

#[derive(Debug, Subcommand)]
enum PresignCommand {
    /// List live tickets (id, issuer, method, bucket, key or prefix, expiry).
    List,
    /// Revoke one ticket, or every ticket of one principal: their URLs fail at once.
    Revoke {
        /// The ticket id (`KURT…`).
        #[arg(required_unless_present = "principal", conflicts_with = "principal")]
        id: Option<String>,
        /// Revoke all tickets this principal ARN asked for.
        #[arg(long)]
        principal: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// List users (never their secrets).
    List,
    /// Show one user.
    Get {
        /// The access key.
        access_key: String,
    },
    /// Create a user, or update one made earlier through the API. A new user without --secret-key gets a
    /// generated secret, printed once.
    Create {
        /// The access key (also the user's name).
        access_key: String,
        /// The secret key (at least 8 characters); generated when omitted.
        #[arg(long)]
        secret_key: Option<String>,
        /// Attach this policy (repeatable).
        #[arg(long = "policy", value_name = "NAME")]
        policies: Vec<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Let a user sign requests again.
    Enable {
        /// The access key.
        access_key: String,
    },
    /// Refuse a user's requests (InvalidAccessKeyId) without deleting it.
    Disable {
        /// The access key.
        access_key: String,
    },
    /// Delete a user made through the API.
    Delete {
        /// The access key.
        access_key: String,
    },
    /// Attach a named policy to a user.
    Attach {
        /// The access key.
        access_key: String,
        /// The policy name.
        policy: String,
    },
    /// Detach a named policy from a user.
    Detach {
        /// The access key.
        access_key: String,
        /// The policy name.
        policy: String,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// List named policies (canned, from the config file, from the API).
    List,
    /// Print a named policy.
    Get {
        /// The policy name.
        name: String,
    },
    /// Create or replace a named policy from a JSON file (`-` reads standard input).
    Put {
        /// The policy name.
        name: String,
        /// The policy document (AWS IAM JSON).
        file: PathBuf,
    },
    /// Delete a named policy that no user has attached.
    Delete {
        /// The policy name.
        name: String,
    },
    /// Ask whether a principal may do an action on a resource, and which statement decides.
    Simulate {
        /// `root`, `anonymous`, a user's access key or its ARN.
        #[arg(long)]
        principal: String,
        /// The IAM action, e.g. s3:PutObject.
        #[arg(long)]
        action: String,
        /// The resource ARN, e.g. arn:aws:s3:::bucket/key.
        #[arg(long)]
        resource: String,
        /// A condition key and value, e.g. aws:SourceIp=10.0.0.1 (repeatable; repeat a key for several values).
        #[arg(long = "context", value_name = "KEY=VALUE")]
        context: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BucketCommand {
    /// Show, set or delete a bucket policy.
    Policy {
        #[command(subcommand)]
        action: BucketPolicyAction,
    },
    /// Show or set anonymous access: none, download, upload or public (a generated bucket policy).
    Anonymous {
        #[command(subcommand)]
        action: AnonymousAction,
    },
    /// Show, set or delete a bucket's public access block.
    PublicAccessBlock {
        #[command(subcommand)]
        action: PublicAccessBlockAction,
    },
}

#[derive(Debug, Subcommand)]
enum BucketPolicyAction {
    /// Print the bucket policy.
    Get {
        /// The bucket.
        bucket: String,
    },
    /// Set the bucket policy from a JSON file (`-` reads standard input).
    Put {
        /// The bucket.
        bucket: String,
        /// The policy document.
        file: PathBuf,
    },
    /// Remove the bucket policy.
    Delete {
        /// The bucket.
        bucket: String,
    },
}

#[derive(Debug, Subcommand)]
enum AnonymousAction {
    /// Print the anonymous mode (`custom` for a hand-written policy).
    Get {
        /// The bucket.
        bucket: String,
    },
    /// Set the anonymous mode.
    Set {
        /// The bucket.
        bucket: String,
        /// none, download, upload or public.
        mode: String,
    },
}

#[derive(Debug, Subcommand)]
enum PublicAccessBlockAction {
    /// Print the public access block.
    Get {
        /// The bucket.
        bucket: String,
    },
    /// Turn the public access block on (all four switches unless some are named).
    Set {
        /// The bucket.
        bucket: String,
        /// Only BlockPublicPolicy.
        #[arg(long)]
        block_public_policy: bool,
        /// Only RestrictPublicBuckets.
        #[arg(long)]
        restrict_public_buckets: bool,
    },
    /// Remove the public access block.
    Delete {
        /// The bucket.
        bucket: String,
    },
}

/// Runs one admin command and prints its result.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let client = SignedClient::connect(&args.endpoint).await?;
    if let AdminCommand::Backup { output, include_secrets } = &args.command {
        return backup(&client, output, *include_secrets).await;
    }
    let (method, path, body) = request(args.command)?;
    let text = client.send(method, &format!("/kura/admin/v1/{path}"), body).await?.ok()?;
    if !text.is_empty() {
        println!("{}", text.trim_end());
    }
    Ok(())
}

/// The HTTP call for a command: method, path below the API prefix, body.
fn request(command: AdminCommand) -> anyhow::Result<(&'static str, String, Vec<u8>)> {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    Ok(match command {
        AdminCommand::User(u) => match u {
            UserCommand::List => ("GET", "users".into(), Vec::new()),
            UserCommand::Get { access_key } => ("GET", format!("users/{}", enc(&access_key)), Vec::new()),
            UserCommand::Create { access_key, secret_key, policies, disabled } => {
                let body = json!({ "secret_key": secret_key, "enabled": !disabled, "policies": policies });
                ("PUT", format!("users/{}", enc(&access_key)), body.to_string().into_bytes())
            }
            UserCommand::Enable { access_key } => {
                ("PUT", format!("users/{}", enc(&access_key)), json!({ "enabled": true }).to_string().into_bytes())
            }
            UserCommand::Disable { access_key } => {
                ("PUT", format!("users/{}", enc(&access_key)), json!({ "enabled": false }).to_string().into_bytes())
            }
            UserCommand::Delete { access_key } => ("DELETE", format!("users/{}", enc(&access_key)), Vec::new()),
            UserCommand::Attach { access_key, policy } => {
                ("PUT", format!("users/{}/policies/{}", enc(&access_key), enc(&policy)), Vec::new())
            }
            UserCommand::Detach { access_key, policy } => {
                ("DELETE", format!("users/{}/policies/{}", enc(&access_key), enc(&policy)), Vec::new())
            }
        },
        AdminCommand::Backup { .. } => anyhow::bail!("a backup is not a JSON call"),
        AdminCommand::Kms(k) => {
            let post =
                |call: &str, body: serde_json::Value| ("POST", format!("kms/{call}"), body.to_string().into_bytes());
            match k {
                KmsCommand::Create { id, description, aliases } => {
                    post("keys", json!({ "id": id, "description": description, "aliases": aliases }))
                }
                KmsCommand::List => ("GET", "kms/keys".into(), Vec::new()),
                KmsCommand::Describe { key } => post("describe", json!({ "key": key })),
                KmsCommand::Enable { key } => post("enable", json!({ "key": key })),
                KmsCommand::Disable { key } => post("disable", json!({ "key": key })),
                KmsCommand::ScheduleDeletion { key, days } => {
                    post("schedule-deletion", json!({ "key": key, "pending_window_days": days }))
                }
                KmsCommand::CancelDeletion { key } => post("cancel-deletion", json!({ "key": key })),
                KmsCommand::CreateAlias { alias, key } => post("create-alias", json!({ "alias": alias, "key": key })),
                KmsCommand::DeleteAlias { alias } => post("delete-alias", json!({ "alias": alias })),
            }
        }
        AdminCommand::Presign(t) => match t {
            PresignCommand::List => ("GET", "tickets".into(), Vec::new()),
            PresignCommand::Revoke { id, principal } => {
                ("POST", "tickets/revoke".into(), json!({ "id": id, "principal": principal }).to_string().into_bytes())
            }
        },
        AdminCommand::Policy(p) => match p {
            PolicyCommand::List => ("GET", "policies".into(), Vec::new()),
            PolicyCommand::Get { name } => ("GET", format!("policies/{}", enc(&name)), Vec::new()),
            PolicyCommand::Put { name, file } => ("PUT", format!("policies/{}", enc(&name)), read_input(&file)?),
            PolicyCommand::Delete { name } => ("DELETE", format!("policies/{}", enc(&name)), Vec::new()),
            PolicyCommand::Simulate { principal, action, resource, context } => {
                let mut map = serde_json::Map::new();
                for pair in context {
                    let (k, v) = pair.split_once('=').with_context(|| format!("--context {pair:?}: use KEY=VALUE"))?;
                    let entry = map.entry(k.to_owned()).or_insert_with(|| json!([]));
                    if let Some(list) = entry.as_array_mut() {
                        list.push(json!(v));
                    }
                }
                let body = json!({ "principal": principal, "action": action, "resource": resource, "context": map });
                ("POST", "simulate".into(), body.to_string().into_bytes())
            }
        },
        AdminCommand::Bucket(b) => match b {
            BucketCommand::Policy { action } => match action {
                BucketPolicyAction::Get { bucket } => ("GET", format!("buckets/{}/policy", enc(&bucket)), Vec::new()),
                BucketPolicyAction::Put { bucket, file } => {
                    ("PUT", format!("buckets/{}/policy", enc(&bucket)), read_input(&file)?)
                }
                BucketPolicyAction::Delete { bucket } => {
                    ("DELETE", format!("buckets/{}/policy", enc(&bucket)), Vec::new())
                }
            },
            BucketCommand::Anonymous { action } => match action {
                AnonymousAction::Get { bucket } => ("GET", format!("buckets/{}/anonymous", enc(&bucket)), Vec::new()),
                AnonymousAction::Set { bucket, mode } => (
                    "PUT",
                    format!("buckets/{}/anonymous", enc(&bucket)),
                    json!({ "mode": mode }).to_string().into_bytes(),
                ),
            },
            BucketCommand::PublicAccessBlock { action } => match action {
                PublicAccessBlockAction::Get { bucket } => {
                    ("GET", format!("buckets/{}/public-access-block", enc(&bucket)), Vec::new())
                }
                PublicAccessBlockAction::Set { bucket, block_public_policy, restrict_public_buckets } => {
                    let all = !block_public_policy && !restrict_public_buckets;
                    let body = json!({
                        "block_public_acls": all,
                        "ignore_public_acls": all,
                        "block_public_policy": all || block_public_policy,
                        "restrict_public_buckets": all || restrict_public_buckets,
                    });
                    ("PUT", format!("buckets/{}/public-access-block", enc(&bucket)), body.to_string().into_bytes())
                }
                PublicAccessBlockAction::Delete { bucket } => {
                    ("DELETE", format!("buckets/{}/public-access-block", enc(&bucket)), Vec::new())
                }
            },
        },
    })
}

fn read_input(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading standard input")?;
        return Ok(buf);
    }
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

/// `kura admin backup`: streams the archive to `output` (or standard output), never holding it in
/// memory, and reports what it holds (from the server's `x-kura-backup-*` headers) on standard error.
async fn backup(client: &SignedClient, output: &Path, include_secrets: bool) -> anyhow::Result<()> {
    let query = if include_secrets { "include-secrets=true" } else { "" };
    let response = client.request("GET", "/kura/admin/v1/backup", query, Vec::new()).await?;
    if !response.status().is_success() {
        Reply::read(response).await?.ok()?;
        anyhow::bail!("the server answered without a backup");
    }
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("?").to_owned();
    let summary = format!(
        "{} objects in {} buckets ({} blobs, {} bytes), as of {}",
        header("x-kura-backup-objects"),
        header("x-kura-backup-buckets"),
        header("x-kura-backup-blobs"),
        header("x-kura-backup-blob-bytes"),
        header("x-kura-backup-created"),
    );
    if output.as_os_str() == "-" {
        let mut stdout = tokio::io::stdout();
        copy_archive(response, &mut stdout).await?;
        stdout.flush().await.context("writing standard output")?;
        eprintln!("kura: backup of {summary} written to standard output");
        return Ok(());
    }
    let name = output.file_name().with_context(|| format!("--output {}: not a file name", output.display()))?;
    let partial = output.with_file_name(format!("{}.part", name.to_string_lossy()));
    let result = async {
        let mut file = private_file(&partial)?;
        copy_archive(response, &mut file).await?;
        file.sync_all().await.with_context(|| format!("syncing {}", partial.display()))?;
        drop(file);
        std::fs::rename(&partial, output).with_context(|| format!("renaming to {}", output.display()))
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result?;
    eprintln!("kura: backup of {summary} written to {}", output.display());
    Ok(())
}

/// A new file readable by its owner only (a backup holds every user's secret), replacing a leftover.
fn private_file(path: &Path) -> anyhow::Result<tokio::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(tokio::fs::File::from_std(file))
}

/// Copies the response body to `out` and checks that it ended as a tar archive ends (two zero
/// blocks): a server that fails mid-stream cuts the body short, which must not pass for a backup.
async fn copy_archive<W: tokio::io::AsyncWrite + Unpin>(
    mut response: reqwest::Response,
    out: &mut W,
) -> anyhow::Result<()> {
    let mut total: u64 = 0;
    let mut tail: Vec<u8> = Vec::with_capacity(2048);
    while let Some(chunk) = response.chunk().await.context("the backup was interrupted")? {
        out.write_all(&chunk).await.context("writing the backup")?;
        total += chunk.len() as u64;
        tail.extend_from_slice(&chunk[chunk.len().saturating_sub(1024)..]);
        let excess = tail.len().saturating_sub(1024);
        tail.drain(..excess);
    }
    if !total.is_multiple_of(512) || tail.len() < 1024 || tail.iter().any(|&b| b != 0) {
        anyhow::bail!("the backup ended early ({total} bytes): it is incomplete and was not kept");
    }
    Ok(())
}
