//! `kura`: an S3-compatible object store for Kubernetes. This binary is a thin CLI over the
//! `kura-server` library (and, for `kura bench`, `kura-bench`).

mod cli;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kura: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
