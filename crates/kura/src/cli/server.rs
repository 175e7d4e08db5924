//! `kura server`: run the store.

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use kura_server::base::credentials::{RootCredentials, RootSource};
use kura_server::config::Config;
use kura_server::{Server, ServerOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Default listen address: loopback only, so a first run exposes nothing.
const DEFAULT_ADDRESS: &str = "127.0.0.1:9000";
/// Default data directory, relative to the working directory.
const DEFAULT_DATA: &str = "./kura-data";
/// Default region.
const DEFAULT_REGION: &str = "us-east-1";

/// Options of `kura server`. Flags override the environment, which overrides the config file.
#[derive(Debug, Args)]
#[command(after_help = "Root credentials come from KURA_ROOT_ACCESS_KEY and KURA_ROOT_SECRET_KEY. When both are \
unset, kura generates a pair on first start, stores it in DATA/root-credentials (mode 0600) and prints it once.")]
pub struct ServerArgs {
    /// YAML configuration file (users, policies, buckets); reloaded on SIGHUP and when it changes.
    #[arg(long, env = "KURA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (metadata and object bodies) [default: ./kura-data].
    #[arg(long, env = "KURA_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Listen address; port 0 picks a free port [default: 127.0.0.1:9000].
    #[arg(long, env = "KURA_ADDRESS", value_name = "HOST:PORT")]
    address: Option<SocketAddr>,
    /// Log format on stderr.
    #[arg(long, env = "KURA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable `key=value` lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KURA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=warn"));
    // Colour only for a person at a terminal: in a file or a pipe, escape codes break `grep status=404`.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    // Client errors (4xx) are not the server's fault: no ERROR line from s3s for them.
    let levels = super::log_levels::ServerErrorsOnly;
    match format {
        LogFormat::Text => builder.finish().with(levels).init(),
        LogFormat::Json => builder.json().flatten_event(true).finish().with(levels).init(),
    }
}

/// Resolves settings, opens the stores, prints where it listens and serves until SIGTERM/SIGINT.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let data_dir = args.data.or(config.server.data.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let address = match args.address.or(config.server.address) {
        Some(a) => a,
        None => DEFAULT_ADDRESS.parse().context("default address")?,
    };
    let region = config.server.region.clone().unwrap_or_else(|| DEFAULT_REGION.to_owned());
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let root = RootCredentials::load_or_generate(
        &data_dir,
        std::env::var("KURA_ROOT_ACCESS_KEY").ok().filter(|v| !v.is_empty()),
        std::env::var("KURA_ROOT_SECRET_KEY").ok().filter(|v| !v.is_empty()),
    )?;
    if root.source == RootSource::Generated {
        println!(
            "kura: generated root credentials (stored in {}/root-credentials, shown only once):",
            data_dir.display()
        );
        println!("  AWS_ACCESS_KEY_ID={}", root.credentials.access_key);
        println!("  AWS_SECRET_ACCESS_KEY={}", root.credentials.secret_key.expose());
    }
    let server = Server::bind(ServerOptions { data_dir, address, region, root: root.credentials, config }).await?;
    if let Some(path) = args.config {
        // Reload on SIGHUP and on every change of the file; a bad file changes nothing.
        tokio::spawn(kura_server::reload::watch(
            (server.iam(), server.meta(), server.kms()),
            path,
            kura_server::reload::POLL_INTERVAL,
        ));
    }
    // Listen for SIGTERM before announcing the address, so a signal sent right after it stops kura
    // gracefully instead of killing it.
    let shutdown = shutdown_signal();
    println!("kura: listening on {}://{}", server.scheme(), server.local_addr());
    server.run(shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C; the SIGTERM handler is installed at once, not on first poll.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let term = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {}
            () = term => {}
        }
        tracing::info!("shutting down: finishing open requests");
    }
}
