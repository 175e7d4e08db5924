//! Command-line interface: one module per subcommand.

mod admin;
mod client;
mod oidc;
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
    /// Manage users, policies and bucket access of a running kura (admin API).
    Admin(admin::AdminArgs),
    /// Create an OIDC issuer for a cluster's service-account tokens, and mint test tokens.
    Oidc(oidc::OidcArgs),
    /// Measure an S3 endpoint (kura or any other): ops/s, MiB/s, latency percentiles, errors.
    Bench(BenchArgs),
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => server::run(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Oidc(args) => oidc::run(args),
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
