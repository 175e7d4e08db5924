//! Listing cost: one page of 1,000 keys out of 10,000, flat and grouped by a delimiter, on the redb
//! store (a metadata range scan, never a directory walk) and on the in-memory reference model; and
//! the same plain page from a bucket whose 10,000 keys have 10 versions each, which must cost what it
//! costs with one version (a plain listing scans current objects only), beside a page of
//! ListObjectVersions over those 100,000 versions.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use futures::future::join_all;
use kura_store::conformance::{bucket, object, version};
use kura_store::memory::MemoryMetaStore;
use kura_store::redb_meta::RedbMetaStore;
use kura_store::{BlobId, ListQuery, MetaStore, VersionListQuery};
use std::hint::black_box;

const KEYS: usize = 10_000;

async fn fill(store: &dyn MetaStore) {
    store.create_bucket(bucket("bench")).await.expect("bucket");
    for i in 0..KEYS {
        // 100 "directories" of 100 objects each.
        let key = format!("dir-{:03}/object-{:05}", i % 100, i);
        store.put_object("bench", object(&key, BlobId(i as u128))).await.expect("put");
    }
}

/// Versions per key in the versioned bucket.
const VERSIONS: u64 = 10;

/// The keys of [`fill`], each written [`VERSIONS`] times with a new version id (concurrently across
/// keys, so that the redb store group-commits them).
async fn fill_versions(store: &dyn MetaStore) {
    store.create_bucket(bucket("versioned")).await.expect("bucket");
    for n in 0..VERSIONS {
        let puts = (0..KEYS).map(|i| {
            let key = format!("dir-{:03}/object-{:05}", i % 100, i);
            let blob = BlobId((n as u128) << 64 | i as u128);
            async move { store.put_object("versioned", version(&key, blob, n)).await.expect("put version") }
        });
        join_all(puts).await;
    }
}

fn query(delimiter: Option<&str>, start_after: Option<&str>) -> ListQuery {
    ListQuery {
        prefix: String::new(),
        delimiter: delimiter.map(str::to_owned),
        start_after: start_after.map(str::to_owned),
        max: 1000,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let redb = RedbMetaStore::open(&dir.path().join("meta.redb")).expect("open");
    let memory = MemoryMetaStore::new();
    rt.block_on(async {
        fill(&redb).await;
        fill(&memory).await;
        fill_versions(&redb).await;
        fill_versions(&memory).await;
    });
    let stores: [(&str, &dyn MetaStore); 2] = [("redb", &redb), ("memory", &memory)];
    for (name, store) in stores {
        c.bench_function(&format!("{name}: page of 1000 of 10000 keys"), |b| {
            b.to_async(&rt).iter(|| async { black_box(store.list_objects("bench", &query(None, None)).await) })
        });
        c.bench_function(&format!("{name}: page after dir-050/ of 10000 keys"), |b| {
            let q = query(None, Some("dir-050/"));
            b.to_async(&rt).iter(|| async { black_box(store.list_objects("bench", &q).await) })
        });
        c.bench_function(&format!("{name}: delimiter '/' over 10000 keys (100 prefixes)"), |b| {
            b.to_async(&rt).iter(|| async { black_box(store.list_objects("bench", &query(Some("/"), None)).await) })
        });
        c.bench_function(&format!("{name}: page of 1000 of 10000 keys x 10 versions"), |b| {
            b.to_async(&rt).iter(|| async { black_box(store.list_objects("versioned", &query(None, None)).await) })
        });
        c.bench_function(&format!("{name}: versions page of 1000 of 10000 keys x 10 versions"), |b| {
            let q = VersionListQuery { max: 1000, ..Default::default() };
            b.to_async(&rt).iter(|| async { black_box(store.list_versions("versioned", &q).await) })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
