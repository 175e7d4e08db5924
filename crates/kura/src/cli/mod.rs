//! Command-line interface: one module per subcommand.

mod admin;
mod agent;
mod client;
mod log_levels;
mod oidc;
mod presign;
mod restore;
mod server;

use kura_bench::BenchArgs;

use clap::{Parser, Subcommand};

/// kura: an S3-compatible object store for Kubernetes workloads without static secrets.
#[derive(Debug, Parser)]
#[command(name = "kura", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the object store (S3 API, admin API, health probes) on one port.
    Server(server::ServerArgs),
    /// Manage users, policies and bucket access of a running kura (admin API); take backups.
    Admin(admin::AdminArgs),
    /// Rebuild a data directory from a `kura admin backup` archive, offline.
    Restore(restore::RestoreArgs),
    /// Presign a GET, PUT or DELETE URL, or a POST upload form, locally (credentials from the AWS chain).
    Presign(presign::PresignArgs),
    /// Create an OIDC issuer for a cluster's service-account tokens, and mint test tokens.
    Oidc(oidc::OidcArgs),
    /// Serve pod credentials on a node at EKS Pod Identity Agent's address, asking kura over HTTPS.
    Agent(agent::AgentArgs),
    /// Measure an S3 endpoint (kura or any other): ops/s, MiB/s, latency percentiles, errors.
    Bench(BenchArgs),
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => server::run(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Restore(args) => restore::run(args).await,
        Command::Oidc(args) => oidc::run(args),
        Command::Presign(args) => presign::run(args).await,
        Command::Agent(args) => agent::run(args).await,
        Command::Bench(args) => {
            let json = args.json;
            let report = kura_bench::run(args).await?;
            if json {
                println!("{}", report.to_json());
            } else {
                report.print_human();
            }
            Ok(())
        }
    }
}

/// Parses a duration written `90`, `90s`, `10m`, `1h` or `2d` into seconds; `flag` names it in errors.
pub fn parse_seconds(text: &str, flag: &str) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    let (num, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = num.parse().with_context(|| format!("{flag} {text:?}: expected e.g. 10m, 1h, 3600s"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("{flag} {text:?}: the unit must be s, m, h or d"),
    };
    n.checked_mul(mult).with_context(|| format!("{flag} {text:?} is too long"))
}
