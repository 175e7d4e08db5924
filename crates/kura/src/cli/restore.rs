//! `kura restore`: rebuild a data directory from a backup archive, offline (no server runs on it);
//! with `--config`, into the metadata back end that config's `server.metadata` names (a new, empty
//! PostgreSQL database: how an installation moves from redb to PostgreSQL).

use anyhow::Context as _;
use clap::Args;
use kura_server::admin::backup::SECRET_FILES;
use kura_server::config::{Config, MetadataBackend};
use kura_store::backup::{RestoreOptions, RestoreReport, restore_dir, restore_to_store};
use std::path::{Path, PathBuf};
use tokio::io::AsyncRead;

/// Options of `kura restore`.
#[derive(Debug, Args)]
#[command(after_help = "The archive is checked entry by entry (names, order, lengths, SHA-256 checksums, \
counts, references) and refused whole at the first problem; nothing is written outside DIR, and on failure \
everything the restore wrote is removed. Start `kura server --data DIR` once it succeeds.

With --config, the metadata goes where that file's server.metadata says: redb in DIR (as without it), or a \
PostgreSQL database, which must be new and empty (a database holding anything is refused and left as it \
was; so is a database another `kura restore` is writing to). The archive is verified whole before the database is written; DIR receives the blobs and secret \
files. Then start the servers with `kura server --config FILE --data DIR`.")]
pub struct RestoreArgs {
    /// The archive `kura admin backup` wrote (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The data directory to create. It must not exist, or be empty (an empty lost+found is allowed).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The config file the restored installation will run with: the metadata is restored into its
    /// `server.metadata` (a PostgreSQL database there must be empty). Without it, redb in DIR.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Restores the archive and reports what it holds.
pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let options = RestoreOptions { meta_file: kura_server::storage::META_FILE, secret_files: SECRET_FILES };
    let what = || format!("restoring {} into {}", args.from.display(), args.data.display());
    let config = match &args.config {
        Some(path) => Some(Config::load(path)?),
        None => None,
    };
    let report = if args.from.as_os_str() == "-" {
        restore(tokio::io::stdin(), &args.data, config.as_ref(), &options).await
    } else {
        let file =
            tokio::fs::File::open(&args.from).await.with_context(|| format!("opening {}", args.from.display()))?;
        restore(file, &args.data, config.as_ref(), &options).await
    }
    .with_context(what)?;
    let m = &report.manifest;
    println!(
        "kura: restored {} objects in {} buckets ({} blobs, {} bytes), {} in-progress uploads and {} records, \
         as of {} (kura {}), into {}",
        m.objects,
        m.buckets,
        m.blobs,
        m.blob_bytes,
        m.uploads,
        m.records,
        m.created,
        m.kura_version,
        args.data.display()
    );
    if let Some(Config { server, .. }) = &config
        && let MetadataBackend::Postgres(postgres) = &server.metadata
    {
        println!("kura: the metadata is in the PostgreSQL database {}", postgres.url);
    }
    if report.secrets.is_empty() {
        println!(
            "kura: the backup holds no secret files: the server will use KURA_ROOT_ACCESS_KEY/KURA_ROOT_SECRET_KEY \
             (or generate a root pair) and new session keys"
        );
    } else {
        println!("kura: restored the secret files {}", report.secrets.join(", "));
    }
    Ok(())
}

/// Restores into redb in `data` (no config, or a config on redb: a staging database renamed into place
/// last), or into the back end `config` names, opened by the server's one opener of metadata stores.
async fn restore<R: AsyncRead + Unpin>(
    archive: R,
    data: &Path,
    config: Option<&Config>,
    options: &RestoreOptions<'_>,
) -> anyhow::Result<RestoreReport> {
    match config.map(|c| &c.server) {
        Some(server) if !matches!(server.metadata, MetadataBackend::Redb) => {
            // Held until the restore ends: a second restore into the same database is refused.
            let _lock = kura_server::storage::restore_lock(server)
                .await
                .context("locking the metadata store of server.metadata for the restore")?;
            let meta = kura_server::storage::open_meta(server, data)
                .await
                .context("opening the metadata store of server.metadata")?;
            Ok(restore_to_store(archive, data, meta.as_ref(), options).await?)
        }
        _ => Ok(restore_dir(archive, data, options).await?),
    }
}
