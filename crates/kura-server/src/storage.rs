//! Opening the stores: the one place that turns the configuration into a metadata back end and a blob
//! store. The rest of the server sees only `Arc<dyn MetaStore>` and `Arc<dyn BlobStore>`.
//!
//! A metadata back end is one variant of [`MetadataBackend`] (`server.metadata`) and one arm of the
//! `match` in [`open`]: redb (embedded, in the data directory) and PostgreSQL (crates/kura-meta-pg,
//! shared by replicas); see "A new metadata back end" in ARCHITECTURE.md.

use crate::config::{MetadataBackend, ServerSection};
use kura_meta_pg::{PgMetaStore, RestoreLock};
use kura_store::file_blobs::FileBlobStore;
use kura_store::redb_meta::RedbMetaStore;
use kura_store::{BlobStore, MetaStore, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Name of the redb metadata database file inside the data directory.
pub const META_FILE: &str = "meta.redb";

/// The stores a server runs on, as their traits.
pub struct Stores {
    /// Buckets, object records, uploads, listings and small records, from `server.metadata`.
    pub meta: Arc<dyn MetaStore>,
    /// Object bodies: the blob files under the data directory.
    pub blobs: Arc<dyn BlobStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// Opens the metadata store that `server.metadata` names and the blob store in `data` (an existing
/// directory). It only opens: the caller sweeps leftovers of interrupted writes once both are open
/// ([`BlobStore::sweep`] with [`MetaStore::referenced_blobs`]).
///
/// Asynchronous because a back end on a server connects here. Failures are [`StoreError`]s, as
/// every store operation's are: a back end maps its own (connecting included) into them, and the
/// server reports them as "opening storage".
pub async fn open(server: &ServerSection, data: &Path) -> Result<Stores, StoreError> {
    let meta = open_meta(server, data).await?;
    let blobs: Arc<dyn BlobStore> = Arc::new(FileBlobStore::open(data)?);
    Ok(Stores { meta, blobs })
}

/// What `kura restore` holds for the whole of a restore into the metadata store `server.metadata`
/// names, so that two restores cannot both find it empty and both write: on PostgreSQL a lock of the
/// database (a second restore is refused at once, saying so); on redb nothing (a restore creates a
/// data directory of its own, refused if it is not empty). Held until dropped.
pub async fn restore_lock(server: &ServerSection) -> Result<Option<RestoreLock>, StoreError> {
    Ok(match &server.metadata {
        MetadataBackend::Redb => None,
        MetadataBackend::Postgres(postgres) => {
            let (config, tls) = postgres.connect_config().map_err(StoreError::Backend)?;
            Some(RestoreLock::take(config, tls).await?)
        }
    })
}

/// Opens only the metadata store that `server.metadata` names (redb: `META_FILE` in `data`). `kura
/// restore` uses it to restore into a back end on a server; [`open`] uses it for the server.
pub async fn open_meta(server: &ServerSection, data: &Path) -> Result<Arc<dyn MetaStore>, StoreError> {
    Ok(match &server.metadata {
        MetadataBackend::Redb => Arc::new(RedbMetaStore::open(&data.join(META_FILE))?),
        MetadataBackend::Postgres(postgres) => {
            let (config, tls) = postgres.connect_config().map_err(StoreError::Backend)?;
            if let Some(warning) = postgres.tls_warning() {
                tracing::warn!("{warning}");
            }
            Arc::new(PgMetaStore::open_tls(config, tls, postgres.pool_size).await?)
        }
    })
}
