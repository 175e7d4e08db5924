//! `kura restore`: rebuild a data directory from a backup archive, offline (no server runs on it).

use anyhow::Context as _;
use clap::Args;
use kura_server::admin::backup::SECRET_FILES;
use kura_store::backup::{RestoreOptions, restore_dir};
use std::path::PathBuf;

/// Options of `kura restore`.
#[derive(Debug, Args)]
#[command(after_help = "The archive is checked entry by entry (names, order, lengths, SHA-256 checksums, \
counts, references) and refused whole at the first problem; nothing is written outside DIR, and on failure \
everything the restore wrote is removed. Start `kura server --data DIR` once it succeeds.")]
pub struct RestoreArgs {
    /// The archive `kura admin backup` wrote (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The data directory to create. It must not exist, or be empty (an empty lost+found is allowed).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
}

/// Restores the archive and reports what it holds.
pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let options = RestoreOptions { meta_file: kura_server::storage::META_FILE, secret_files: SECRET_FILES };
    let what = || format!("restoring {} into {}", args.from.display(), args.data.display());
    let report = if args.from.as_os_str() == "-" {
        restore_dir(tokio::io::stdin(), &args.data, &options).await
    } else {
        let file =
            tokio::fs::File::open(&args.from).await.with_context(|| format!("opening {}", args.from.display()))?;
        restore_dir(file, &args.data, &options).await
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
