//! Throughput of sealed bodies: a 64 MiB body sealed and opened as it streams by in 64 KiB pieces (the
//! opener's pieces do not line up with its 64 KiB + 16 chunks, as blob reads do not), and a 4 KiB
//! body sealed and opened at once (an inline body).

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kura_crypt::{DataKey, Opener, Sealer, open, seal};
use std::hint::black_box;

const LARGE: usize = 64 * 1024 * 1024;
const PIECE: usize = 64 * 1024;
const SMALL: usize = 4 * 1024;

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn large(c: &mut Criterion) {
    let key = DataKey::generate();
    let plain = body(LARGE);
    let sealed = seal(&key, &plain);
    let mut group = c.benchmark_group("sealed_64MiB");
    group.throughput(Throughput::Bytes(LARGE as u64));
    group.sample_size(10);
    let mut out = Vec::with_capacity(sealed.len());
    group.bench_function("seal", |b| {
        b.iter(|| {
            out.clear();
            let mut sealer = Sealer::new(&key);
            for piece in plain.chunks(PIECE) {
                sealer.update(piece, &mut out);
            }
            sealer.finish(&mut out);
            black_box(out.len())
        })
    });
    group.bench_function("open", |b| {
        b.iter(|| {
            out.clear();
            let (mut opener, _) = Opener::new(&key, LARGE as u64, 0, LARGE as u64).expect("opener");
            for piece in sealed.chunks(PIECE) {
                opener.update(piece, &mut out).expect("open");
            }
            opener.finish().expect("complete");
            black_box(out.len())
        })
    });
    group.finish();
}

fn small(c: &mut Criterion) {
    let key = DataKey::generate();
    let plain = body(SMALL);
    let sealed = seal(&key, &plain);
    let mut group = c.benchmark_group("sealed_4KiB");
    group.throughput(Throughput::Bytes(SMALL as u64));
    group.bench_function("seal", |b| b.iter(|| seal(&key, black_box(&plain))));
    group.bench_function("open", |b| b.iter(|| open(&key, black_box(&sealed), SMALL as u64).expect("open")));
    group.finish();
}

criterion_group!(benches, large, small);
criterion_main!(benches);
