//! Configuration reloads: on SIGHUP and whenever the file's contents change (polled, so it also works
//! for Kubernetes ConfigMap volumes, whose updates are symlink swaps that inotify-style watches miss).
//!
//! **Invariant**: a file that fails validation changes nothing; the previous configuration keeps
//! serving and the error (with line and field) is logged. So does a blank file, or one that would remove
//! every user, role and named policy without saying `allow_empty: true` ([`refuse_emptying`]).

use crate::config::{Config, ConfigError};
use crate::iam::Iam;
use crate::kms::BuiltinKms;
use kura_store::MetaStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the file is compared with what was last applied.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Watches `path` until the task is dropped, applying each new good version to `iam` and to the
/// buckets in `meta`. The SIGHUP handler is installed when this is called, not when the task first
/// runs: a SIGHUP sent as soon as kura says it listens reloads; it never meets the default action,
/// which would end the process.
pub fn watch(
    (iam, meta, kms): (Arc<Iam>, Arc<dyn MetaStore>, Arc<BuiltinKms>),
    path: PathBuf,
    poll: Duration,
) -> impl std::future::Future<Output = ()> {
    let hangup = hangup_signal();
    watch_with((iam, meta, kms), path, poll, hangup)
}

async fn watch_with(
    (iam, meta, kms): (Arc<Iam>, Arc<dyn MetaStore>, Arc<BuiltinKms>),
    path: PathBuf,
    poll: Duration,
    mut hangup: Hangup,
) {
    let mut last = std::fs::read(&path).ok();
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            () = next_hangup(&mut hangup) => true,
        };
        let current = std::fs::read(&path);
        if !forced && current.as_ref().ok() == last.as_ref() {
            continue;
        }
        last = current.as_ref().ok().cloned();
        let why = if forced { "SIGHUP" } else { "the file changed" };
        reload((&iam, meta.as_ref(), &kms), &path, current, why).await;
    }
}

/// Validates the file's new contents and applies them, or logs why not.
async fn reload(
    (iam, meta, kms): (&Iam, &dyn MetaStore, &BuiltinKms),
    path: &Path,
    contents: std::io::Result<Vec<u8>>,
    why: &str,
) {
    let parsed = contents.map_err(|source| ConfigError::Read { path: path.to_owned(), source }).and_then(|bytes| {
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Invalid {
            path: path.to_owned(),
            message: "the file is not UTF-8 text".to_owned(),
        })?;
        let config = Config::parse(&text).map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        Ok((text, config))
    });
    let (text, config) = match parsed {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "configuration rejected ({why}); the previous configuration keeps serving");
            return;
        }
    };
    if let Some(reason) = refuse_emptying(&text, &config, &iam.config()) {
        tracing::error!(
            file = %path.display(),
            reason = %reason,
            "configuration refused ({why}): {reason}; the previous configuration keeps serving"
        );
        return;
    }
    // Declared keys are made before buckets whose settings might name them; no key is ever deleted.
    if let Err(e) = kms.apply_config(&config.kms).await {
        tracing::error!(file = %path.display(), error = %e, "the configuration's kms: section could not be applied");
        return;
    }
    let buckets = match crate::buckets::apply_config(meta, &config, iam.region()).await {
        Ok(()) => config.buckets.len(),
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "the configuration's buckets could not be applied");
            return;
        }
    };
    match iam.apply_config(config).await {
        Ok(()) => tracing::info!(file = %path.display(), buckets, "configuration reloaded ({why})"),
        Err(e) => tracing::error!(file = %path.display(), error = %e, "configuration could not be applied"),
    }
}

/// Why a valid file is nevertheless not applied on reload, if it is not. A blank file (empty, whitespace
/// or comments only) is always refused, and so is a file that declares no user, role or named policy
/// while the running configuration has some, unless it says `allow_empty: true`: such files are far more
/// often half-written (a ConfigMap mid-update, a truncated write) than meant.
pub fn refuse_emptying(text: &str, new: &Config, running: &Config) -> Option<String> {
    if is_blank(text) {
        return Some(
            "the file is empty (to remove every user, role and named policy, write `allow_empty: true` in it)"
                .to_owned(),
        );
    }
    let (users, roles, policies) = running.declared();
    if new.declared() == (0, 0, 0) && users + roles + policies > 0 && !new.allow_empty {
        return Some(format!(
            "the file would remove every user, role and named policy ({users} users, {roles} roles and {policies} \
             policies are configured now); add `allow_empty: true` to it if that is meant"
        ));
    }
    None
}

/// Empty, whitespace, YAML comments and document markers only.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str =
        "users:\n  - access_key: keeper\n    secret_key: keeper-secret-0123\n    policies: [readwrite]\n";

    fn parse(text: &str) -> Config {
        Config::parse(text).expect("valid")
    }

    #[test]
    fn blank_files_are_refused() {
        let running = parse(RUNNING);
        for text in ["", "  \n\n", "# nothing yet\n---\n"] {
            let reason = refuse_emptying(text, &Config::default(), &running).expect("refused");
            assert!(reason.contains("empty"), "{reason}");
        }
    }

    #[test]
    fn removing_everything_needs_allow_empty() {
        let running = parse(RUNNING);
        let bare = parse("server:\n  region: eu-west-1\n");
        let reason = refuse_emptying("server:\n  region: eu-west-1\n", &bare, &running).expect("refused");
        assert!(reason.contains("1 users") && reason.contains("allow_empty"), "{reason}");
        let allowed = parse("allow_empty: true\n");
        assert_eq!(refuse_emptying("allow_empty: true\n", &allowed, &running), None);
        // Nothing to lose, or something kept: applied.
        assert_eq!(refuse_emptying("server: {}\n", &bare, &Config::default()), None);
        assert_eq!(refuse_emptying(RUNNING, &running, &running), None);
    }
}
