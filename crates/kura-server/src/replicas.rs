//! Keeping replicas in agreement: the background task that reloads IAM and the built-in KMS when
//! another process sharing the metadata store changed them (see [`crate::generation`]).
//!
//! Every [`POLL_INTERVAL`] it reads the two generation tokens (one `get_record` each) and rebuilds what
//! moved, so an admin change on one replica is in force on every replica within about
//! `POLL_INTERVAL` plus one rebuild. Bucket settings and upload tickets need nothing here: they are
//! read from the store on every request (kura-meta-pg keeps a bucket's record for at most a second).
//! Configuration reloads stay per process: a rebuild keeps the configuration file this process loaded.

use crate::generation::POLL_INTERVAL;
use crate::iam::Iam;
use crate::kms::BuiltinKms;
use crate::metrics::Metrics;
use std::sync::Arc;

/// The name of the task in `kura_background_runs`.
pub const TASK: &str = "replica-sync";

/// Reloads whatever another process changed, once; a failed reload keeps what is in force (logged)
/// and is tried again on the next run. Answers whether both domains are now current.
pub async fn sync_once(iam: &Iam, kms: &BuiltinKms) -> bool {
    let iam_ok = match iam.refresh().await {
        Ok(rebuilt) => {
            if rebuilt {
                tracing::debug!(target: "kura::replicas", "rebuilt the IAM snapshot another process changed");
            }
            true
        }
        Err(e) => {
            tracing::warn!(target: "kura::replicas", error = %e, "rebuilding the IAM snapshot after another process's change failed; the previous one stays in force");
            false
        }
    };
    let kms_ok = match kms.refresh().await {
        Ok(reloaded) => {
            if reloaded {
                tracing::debug!(target: "kura::replicas", "reloaded the KMS keys another process changed");
            }
            true
        }
        Err(e) => {
            tracing::warn!(target: "kura::replicas", error = %e, "reloading the KMS keys after another process's change failed; the previous ones stay in force");
            false
        }
    };
    iam_ok && kms_ok
}

/// Runs [`sync_once`] every [`POLL_INTERVAL`], counting each run in `metrics` (task [`TASK`]), until
/// the process ends.
pub async fn sync_forever(iam: Arc<Iam>, kms: Arc<BuiltinKms>, metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + POLL_INTERVAL, POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome = if sync_once(&iam, &kms).await { Ok(0) } else { Err(()) };
        metrics.background_run(TASK, outcome);
    }
}
