//! Liveness and readiness probes: `/kura/health/live`, `/kura/health/ready`.

use http::{Response, StatusCode};

/// Which probe a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The process is up.
    Live,
    /// The stores are open and writes can succeed (the metadata disk is not full).
    Ready,
}

/// The probe a path names, if any.
pub fn probe(path: &str) -> Option<Probe> {
    match path {
        "/kura/health/live" => Some(Probe::Live),
        "/kura/health/ready" => Some(Probe::Ready),
        _ => None,
    }
}

/// Answers a probe. The listener only accepts once the stores are open, so liveness is always 200
/// (a restart would not bring a database back); readiness is 503 while `meta` reports its disk full
/// (writes would fail) or its database unreachable (every request would fail), and 200 again once it
/// has space or its database answers: the store recovers by itself, so the pod needs no restart.
pub async fn respond(probe: Probe, meta: &dyn kura_store::MetaStore) -> Response<s3s::Body> {
    match probe {
        Probe::Live => super::text_response(StatusCode::OK, "live\n"),
        Probe::Ready if meta.storage_full() => super::text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the metadata disk is full; delete objects or add space\n",
        ),
        Probe::Ready => match meta.check_available().await {
            Ok(()) => super::text_response(StatusCode::OK, "ready\n"),
            Err(err) => {
                tracing::warn!(error = %err, "not ready");
                super::text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the metadata database is unreachable\n",
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_store::MetaStore;
    use kura_store::conformance::{bucket, full_disk_store, inline_object};
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn ready_is_503_while_the_metadata_disk_is_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (full, store) = full_disk_store(dir.path());
        store.create_bucket(bucket("b")).await.expect("create");
        assert_eq!(respond(Probe::Ready, &store).await.status(), StatusCode::OK);

        full.store(true, Ordering::SeqCst);
        store.put_object("b", inline_object("k", b"body")).await.expect_err("put on a full disk");
        assert_eq!(respond(Probe::Ready, &store).await.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(respond(Probe::Live, &store).await.status(), StatusCode::OK);

        full.store(false, Ordering::SeqCst);
        store.put_object("b", inline_object("k", b"body")).await.expect("put once there is space");
        assert_eq!(respond(Probe::Ready, &store).await.status(), StatusCode::OK);
    }
}
