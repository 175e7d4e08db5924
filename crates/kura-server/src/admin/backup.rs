//! `GET /kura/admin/v1/backup`: one archive of a consistent point-in-time state, streamed while kura
//! keeps serving (see [`kura_store::backup`] for the snapshot, the pins and the archive format).
//!
//! Root only: the archive holds every object and every IAM record (user secrets included), so no policy
//! can grant it. The secret files of the data directory (`root-credentials`, `session-keys`,
//! `master-keys`) are left out unless the query asks for them with `include-secrets=true`, as AWS never
//! hands out a root key in passing: whoever restores without them gets new session keys (live STS
//! sessions and upload-ticket URLs end) and the root pair the restored server is given (environment,
//! or a newly generated file), and must bring the master key file itself, or encrypted objects and the
//! KMS keys stay unreadable.

use crate::base::caller::Caller;
use crate::base::credentials::ROOT_CREDENTIALS_FILE;
use crate::errors;
use crate::identity::session::SESSION_KEYS_FILE;
use crate::kms::vault::MASTER_KEYS_FILE;
use futures::TryStreamExt;
use http::{HeaderValue, StatusCode};
use kura_store::backup::{self, BackupOptions};
use kura_store::{BlobStore, MetaStore};
use s3s::{Body, S3Response, S3Result};
use std::path::Path;
use std::sync::Arc;

/// The secret files of the data directory a backup may include, as `secrets/NAME`, and a restore
/// writes back.
pub const SECRET_FILES: &[&str] = &[ROOT_CREDENTIALS_FILE, SESSION_KEYS_FILE, MASTER_KEYS_FILE];

/// Refuses every caller but root.
pub(super) fn authorize(caller: &Caller) -> S3Result<()> {
    if matches!(caller, Caller::Root { .. }) {
        Ok(())
    } else {
        Err(errors::access_denied(
            "only root may take a backup: it holds every object and every user's secret, and no policy grants it",
        ))
    }
}

/// Whether the query asks for the secret files: none, `include-secrets=true` or `include-secrets=false`.
fn wants_secrets(query: Option<&str>) -> S3Result<bool> {
    match query.unwrap_or_default() {
        "" | "include-secrets=false" => Ok(false),
        "include-secrets=true" => Ok(true),
        other => Err(errors::invalid_argument(format!(
            "the backup takes one query parameter, include-secrets=true or false, not {other:?}"
        ))),
    }
}

/// Reads the secret files that exist in the data directory.
async fn read_secrets(data_dir: &Path) -> S3Result<Vec<(String, Vec<u8>)>> {
    let mut secrets = Vec::new();
    for name in SECRET_FILES {
        match tokio::fs::read(data_dir.join(name)).await {
            Ok(content) => secrets.push(((*name).to_owned(), content)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(file = name, error = %e, "cannot read a secret file for a backup");
                return Err(errors::internal_error(format!("the server cannot read its {name} file")));
            }
        }
    }
    Ok(secrets)
}

/// Starts the backup and answers with its archive as the body. Failures before the first byte are S3
/// errors; a failure while streaming ends the body early (the client sees a broken transfer, never a
/// complete-looking archive).
pub(super) async fn serve(
    meta: &dyn MetaStore,
    blobs: &Arc<dyn BlobStore>,
    data_dir: &Path,
    query: Option<&str>,
) -> S3Result<S3Response<Body>> {
    let secrets = if wants_secrets(query)? { read_secrets(data_dir).await? } else { Vec::new() };
    let options = BackupOptions { kura_version: env!("CARGO_PKG_VERSION").to_owned(), secrets };
    let started = backup::start(meta, Arc::clone(blobs), options).await.map_err(errors::backup_error)?;
    let manifest = started.manifest().clone();
    tracing::info!(
        target: "kura::admin",
        objects = manifest.objects,
        blobs = manifest.blobs,
        bytes = manifest.blob_bytes,
        secrets = manifest.secrets.len(),
        "backup started"
    );
    let frames = started.into_stream().map_ok(http_body::Frame::data);
    let mut resp =
        S3Response::with_status(Body::http_body_unsync(http_body_util::StreamBody::new(frames)), StatusCode::OK);
    let header =
        |v: String| HeaderValue::from_str(&v).map_err(|_| errors::internal_error("a backup header is invalid"));
    let stamp: String = manifest.created.chars().filter(char::is_ascii_alphanumeric).collect();
    resp.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    resp.headers.insert(
        http::header::CONTENT_DISPOSITION,
        header(format!("attachment; filename=\"kura-backup-{stamp}.tar\""))?,
    );
    for (name, value) in [
        ("x-kura-backup-buckets", manifest.buckets),
        ("x-kura-backup-objects", manifest.objects),
        ("x-kura-backup-blobs", manifest.blobs),
        ("x-kura-backup-blob-bytes", manifest.blob_bytes),
    ] {
        resp.headers.insert(name, HeaderValue::from(value));
    }
    resp.headers.insert("x-kura-backup-created", header(manifest.created)?);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_read_strictly() {
        assert!(!wants_secrets(None).expect("none"));
        assert!(!wants_secrets(Some("")).expect("empty"));
        assert!(!wants_secrets(Some("include-secrets=false")).expect("false"));
        assert!(wants_secrets(Some("include-secrets=true")).expect("true"));
        // Repeated, percent-encoded, differently cased or padded forms are refused, never read as "true".
        for bad in [
            "include-secrets=yes",
            "include-secrets=true&x=1",
            "secrets",
            "include-secrets=true&include-secrets=true",
            "include-secrets=false&include-secrets=true",
            "include%2Dsecrets=true",
            "include-secrets=%74rue",
            "Include-Secrets=TRUE",
            "include-secrets=true%00",
            "include-secrets= true",
        ] {
            let err = wants_secrets(Some(bad)).expect_err(bad);
            assert_eq!(err.code(), &s3s::S3ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn only_root_may_back_up() {
        assert!(authorize(&Caller::Root { access_key: "root".into() }).is_ok());
        assert!(authorize(&Caller::User { access_key: "admin".into() }).is_err());
    }
}
