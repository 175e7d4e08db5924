//! Configuration reloads: on SIGHUP and whenever the file's contents change (polled, so it also works
//! for Kubernetes ConfigMap volumes, whose updates are symlink swaps that inotify-style watches miss).
//!
//! **Invariant**: a file that fails validation changes nothing; the previous configuration keeps
//! serving and the error (with line and field) is logged.

use crate::config::Config;
use crate::iam::Iam;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the file is compared with what was last applied.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Watches `path` until the task is dropped, applying each new good version to `iam`.
pub async fn watch(iam: Arc<Iam>, path: PathBuf, poll: Duration) {
    let mut last = std::fs::read(&path).ok();
    let mut hangup = hangup_signal();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            () = next_hangup(&mut hangup) => true,
        };
        let current = std::fs::read(&path).ok();
        if !forced && current == last {
            continue;
        }
        last = current;
        let why = if forced { "SIGHUP" } else { "the file changed" };
        match Config::load(&path) {
            Ok(config) => match iam.apply_config(config).await {
                Ok(()) => tracing::info!(file = %path.display(), "configuration reloaded ({why})"),
                Err(e) => tracing::error!(file = %path.display(), error = %e, "configuration could not be applied"),
            },
            Err(e) => tracing::error!(
                error = %e,
                "configuration rejected ({why}); the previous configuration keeps serving"
            ),
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}
#[cfg(not(unix))]
fn hangup_signal() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(signal: &mut Hangup) {
    match signal {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending::<()>().await
}
