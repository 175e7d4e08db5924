//! `kura agent`: the node-local credentials agent (see the `kura-agent` crate). Runs per node with
//! hostNetwork; puts EKS's link-local addresses on a dummy interface and answers the SDKs there.

use anyhow::Context as _;
use clap::Args;
use kura_agent::address::{LINK_LOCAL_V4, LINK_LOCAL_V6};
use kura_agent::{Agent, Upstream};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `kura agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// kura's URL as the node reaches it (https://kura.kura.svc:9000; plain http:// only to loopback).
    #[arg(long, env = "KURA_URL")]
    pub kura_url: String,
    /// The CA certificate (PEM) that signed kura's certificate.
    #[arg(long, env = "KURA_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Where to listen (repeatable). Default: 169.254.170.23:80, and [fd00:ec2::23]:80 with --ipv6.
    #[arg(long)]
    pub listen: Vec<SocketAddr>,
    /// Also serve EKS's IPv6 address.
    #[arg(long)]
    pub ipv6: bool,
    /// The dummy interface that carries the addresses (created if missing; `lo` where the kernel has no
    /// dummy interfaces).
    #[arg(long, default_value = "kura-agent0")]
    pub interface: String,
    /// Do not touch interfaces: the addresses are already there (or --listen names loopback).
    #[arg(long)]
    pub no_address_setup: bool,
}

/// Runs the agent until SIGTERM or Ctrl-C.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KURA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let upstream = Upstream::new(&args.kura_url, args.ca_file.as_deref())?;
    let mut listen = args.listen.clone();
    if listen.is_empty() {
        listen.push(SocketAddr::new(IpAddr::V4(LINK_LOCAL_V4), 80));
        if args.ipv6 {
            listen.push(SocketAddr::new(IpAddr::V6(LINK_LOCAL_V6), 80));
        }
    }
    if !args.no_address_setup {
        let addresses: Vec<IpAddr> = listen.iter().map(SocketAddr::ip).filter(|ip| !ip.is_loopback()).collect();
        let interface = kura_agent::address::setup(&args.interface, &addresses)
            .with_context(|| format!("putting the agent's addresses on {}", args.interface))?;
        tracing::info!(interface, "the agent's addresses are on {interface}");
    }
    let agent = Arc::new(Agent::new(upstream));
    let shutdown = super::server::shutdown_signal();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for address in listen {
        let listener =
            tokio::net::TcpListener::bind(address).await.with_context(|| format!("listening on {address}"))?;
        println!("kura agent: listening on http://{}", listener.local_addr()?);
        let mut stopped = stopped.clone();
        let until = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        tasks.push(tokio::spawn(kura_agent::serve(agent.clone(), listener, until)));
    }
    tracing::info!(kura = %args.kura_url, "kura agent serving /v1/credentials");
    shutdown.await;
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}
