//! Latency histograms, per-worker counters and the final [`Report`].
//!
//! Latencies are recorded in microseconds into a fixed-size log-linear histogram: values below 128 µs
//! are exact, larger ones fall into one of 64 buckets per power of two (≤ 1.6 % relative error).
//! Each worker owns its own [`WorkerStats`]; they are merged once at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::size::format_size;

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS; // 64 buckets per power of two
const EXACT: u64 = 1 << (SUB_BITS + 1); // values below this are recorded exactly
const MAX_EXP: u32 = 40; // 2^41 µs ≈ 25 days: larger values are clamped
const BUCKETS: usize = EXACT as usize + (MAX_EXP - SUB_BITS) as usize * SUB;

/// A log-linear histogram of microsecond values with exact count, sum, min and max.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("count", &self.count).field("min", &self.min).field("max", &self.max).finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let exp = (63 - v.leading_zeros()).min(MAX_EXP);
    if exp == MAX_EXP && v >> MAX_EXP > 1 {
        return BUCKETS - 1;
    }
    let shift = exp - SUB_BITS;
    let sub = ((v >> shift) as usize) - SUB;
    EXACT as usize + (exp - SUB_BITS - 1) as usize * SUB + sub
}

/// Largest value that lands in bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    if i < EXACT as usize {
        return i as u64;
    }
    let j = i - EXACT as usize;
    let exp = (j / SUB) as u32 + SUB_BITS + 1;
    let sub = (j % SUB) as u64;
    let shift = exp - SUB_BITS;
    ((SUB as u64 + sub + 1) << shift) - 1
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self { counts: vec![0; BUCKETS].into_boxed_slice(), count: 0, sum: 0, min: u64::MAX, max: 0 }
    }

    /// Records one value (microseconds).
    pub fn record(&mut self, micros: u64) {
        self.counts[bucket_of(micros)] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(micros);
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
    }

    /// Records a duration.
    pub fn record_duration(&mut self, d: Duration) {
        self.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds all of `other`'s values to this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest recorded value (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest recorded value (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// Mean of the recorded values (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum as f64 / self.count as f64 }
    }

    /// The `q`-quantile (`0.0..=1.0`): the smallest bucket bound such that at least `ceil(q * count)`
    /// values are at or below it, clamped to the recorded min and max. 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_upper(i).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

/// The kind of S3 operation measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OpKind {
    /// PutObject.
    Put,
    /// GetObject.
    Get,
    /// HeadObject.
    Head,
    /// DeleteObject.
    Delete,
    /// A complete ListObjectsV2 listing of the benchmark prefix (all pages).
    List,
    /// STS `AssumeRoleWithWebIdentity`.
    Sts,
}

impl OpKind {
    /// All kinds, in report order.
    pub const ALL: [OpKind; 6] = [OpKind::Get, OpKind::Put, OpKind::Head, OpKind::Delete, OpKind::List, OpKind::Sts];

    /// Upper-case name (`GET`, `PUT`, ...).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "PUT",
            OpKind::Get => "GET",
            OpKind::Head => "HEAD",
            OpKind::Delete => "DELETE",
            OpKind::List => "LIST",
            OpKind::Sts => "STS",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters for one operation kind.
#[derive(Debug, Clone, Default)]
pub struct OpStats {
    /// Latency of successful operations.
    pub latency: Histogram,
    /// Payload bytes moved by successful operations (PUT bodies sent, GET bodies received).
    pub bytes: u64,
    /// Failed operations.
    pub errors: u64,
}

/// Everything one worker measured. Merged into a [`Report`] at the end.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Per-kind counters, indexed by `OpKind as usize`.
    pub by_kind: [OpStats; OpKind::ALL.len()],
    /// Failures by S3 error code (or a short transport-error label).
    pub errors_by_code: BTreeMap<String, u64>,
    /// ListObjectsV2 pages fetched (list workload).
    pub pages: u64,
}

impl WorkerStats {
    /// Records a successful operation.
    pub fn ok(&mut self, kind: OpKind, latency: Duration, bytes: u64) {
        let s = &mut self.by_kind[kind.index()];
        s.latency.record_duration(latency);
        s.bytes += bytes;
    }

    /// Records a failed operation under `code`.
    pub fn error(&mut self, kind: OpKind, code: &str) {
        self.by_kind[kind.index()].errors += 1;
        match self.errors_by_code.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                self.errors_by_code.insert(code.to_owned(), 1);
            }
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &WorkerStats) {
        for (a, b) in self.by_kind.iter_mut().zip(other.by_kind.iter()) {
            a.latency.merge(&b.latency);
            a.bytes += b.bytes;
            a.errors += b.errors;
        }
        for (code, n) in &other.errors_by_code {
            *self.errors_by_code.entry(code.clone()).or_default() += n;
        }
        self.pages += other.pages;
    }

    /// Successful operations of every kind.
    pub fn ops(&self) -> u64 {
        self.by_kind.iter().map(|s| s.latency.count()).sum()
    }

    /// Failed operations of every kind.
    pub fn errors(&self) -> u64 {
        self.by_kind.iter().map(|s| s.errors).sum()
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest operation.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl LatencyMs {
    /// Summarises a microsecond histogram.
    pub fn from_histogram(h: &Histogram) -> Self {
        let ms = |us: u64| round3(us as f64 / 1000.0);
        Self {
            p50: ms(h.quantile(0.50)),
            p90: ms(h.quantile(0.90)),
            p99: ms(h.quantile(0.99)),
            max: ms(h.max()),
            mean: round3(h.mean() / 1000.0),
        }
    }
}

/// Per-operation-kind part of a [`Report`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpReport {
    /// Successful operations.
    pub ops: u64,
    /// Failed operations.
    pub errors: u64,
    /// Successful operations per second.
    pub ops_per_s: f64,
    /// Payload MiB per second.
    pub mib_per_s: f64,
    /// Latency of successful operations.
    pub latency_ms: LatencyMs,
}

/// The result of a benchmark run. Serialises to the `--json` object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Workload name (`put`, `get`, `mixed`, `stat`, `list`, `delete`).
    pub workload: String,
    /// Endpoint measured.
    pub endpoint: String,
    /// Bucket used.
    pub bucket: String,
    /// Object size in bytes.
    pub size: u64,
    /// Object size, human readable (`4KiB`).
    pub size_human: String,
    /// Number of objects in the working set.
    pub objects: u64,
    /// Concurrent requests in flight.
    pub concurrency: usize,
    /// Measured wall time of the workload phase, seconds.
    pub duration_s: f64,
    /// Successful operations (for `list`, complete listings).
    pub ops: u64,
    /// Failed operations.
    pub errors: u64,
    /// Successful operations per second.
    pub ops_per_s: f64,
    /// Payload bytes moved (PUT bodies sent plus GET bodies received).
    pub bytes: u64,
    /// Payload MiB (2^20 bytes) per second.
    pub mib_per_s: f64,
    /// Latency over all successful operations.
    pub latency_ms: LatencyMs,
    /// ListObjectsV2 pages fetched (list workload only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    /// ListObjectsV2 pages per second (list workload only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages_per_s: Option<f64>,
    /// Failures by S3 error code or transport-error label.
    pub errors_by_code: BTreeMap<String, u64>,
    /// Breakdown by operation kind (only kinds that ran).
    pub by_op: BTreeMap<OpKind, OpReport>,
    /// Problems that did not fail the run (e.g. cleanup failures).
    pub warnings: Vec<String>,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn per_s(n: f64, secs: f64) -> f64 {
    if secs > 0.0 { n / secs } else { 0.0 }
}

/// Run parameters a [`Report`] is built with.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    /// Workload name.
    pub workload: String,
    /// Endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Object size in bytes.
    pub size: u64,
    /// Working-set size.
    pub objects: u64,
    /// Concurrency.
    pub concurrency: usize,
    /// Whether page counts are reported (list workload).
    pub report_pages: bool,
}

impl Report {
    /// Builds the report from merged worker stats and the measured wall time.
    pub fn new(meta: ReportMeta, stats: &WorkerStats, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        let mut all = Histogram::new();
        let mut bytes = 0;
        let mut by_op = BTreeMap::new();
        for kind in OpKind::ALL {
            let s = &stats.by_kind[kind.index()];
            all.merge(&s.latency);
            bytes += s.bytes;
            if s.latency.count() > 0 || s.errors > 0 {
                by_op.insert(
                    kind,
                    OpReport {
                        ops: s.latency.count(),
                        errors: s.errors,
                        ops_per_s: round3(per_s(s.latency.count() as f64, secs)),
                        mib_per_s: round3(per_s(s.bytes as f64 / 1_048_576.0, secs)),
                        latency_ms: LatencyMs::from_histogram(&s.latency),
                    },
                );
            }
        }
        Self {
            workload: meta.workload,
            endpoint: meta.endpoint,
            bucket: meta.bucket,
            size: meta.size,
            size_human: format_size(meta.size),
            objects: meta.objects,
            concurrency: meta.concurrency,
            duration_s: round3(secs),
            ops: all.count(),
            errors: stats.errors(),
            ops_per_s: round3(per_s(all.count() as f64, secs)),
            bytes,
            mib_per_s: round3(per_s(bytes as f64 / 1_048_576.0, secs)),
            latency_ms: LatencyMs::from_histogram(&all),
            pages: meta.report_pages.then_some(stats.pages),
            pages_per_s: meta.report_pages.then(|| round3(per_s(stats.pages as f64, secs))),
            errors_by_code: stats.errors_by_code.clone(),
            by_op,
            warnings: Vec::new(),
        }
    }

    /// The report as one line of JSON (what `--json` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise report: {e}\"}}"))
    }

    /// The human-readable report.
    pub fn to_human(&self) -> String {
        let mut s = String::new();
        if self.bucket.is_empty() {
            // A workload without objects (web-identity).
            let _ = writeln!(
                s,
                "kura bench: {}, concurrency {}, {:.1}s against {}",
                self.workload, self.concurrency, self.duration_s, self.endpoint
            );
        } else {
            let _ = writeln!(
                s,
                "kura bench: {} {} x {} objects, concurrency {}, {:.1}s against {} (bucket {})",
                self.workload,
                self.size_human,
                self.objects,
                self.concurrency,
                self.duration_s,
                self.endpoint,
                self.bucket
            );
        }
        let _ = writeln!(
            s,
            "  ops        {:>12}   {:>10.1} ops/s   {:>9.2} MiB/s",
            self.ops, self.ops_per_s, self.mib_per_s
        );
        if let (Some(pages), Some(pps)) = (self.pages, self.pages_per_s) {
            let _ = writeln!(s, "  pages      {pages:>12}   {pps:>10.1} pages/s");
        }
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "  latency    p50 {:.3} ms   p90 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            l.p50, l.p90, l.p99, l.max
        );
        let _ = writeln!(s, "  errors     {:>12}", self.errors);
        for (code, n) in &self.errors_by_code {
            let _ = writeln!(s, "    {code}: {n}");
        }
        if self.by_op.len() > 1 {
            for (kind, r) in &self.by_op {
                let _ = writeln!(
                    s,
                    "  {:<6} {:>9} ops {:>10.1} ops/s {:>9.2} MiB/s   p50 {:.3}  p99 {:.3}  max {:.3} ms   errors {}",
                    kind.name(),
                    r.ops,
                    r.ops_per_s,
                    r.mib_per_s,
                    r.latency_ms.p50,
                    r.latency_ms.p99,
                    r.latency_ms.max,
                    r.errors
                );
            }
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }

    /// Prints [`Report::to_human`] to stdout.
    pub fn print_human(&self) {
        print!("{}", self.to_human());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for i in 0..BUCKETS {
            let up = bucket_upper(i);
            assert!(i == 0 || up > last, "bucket {i}");
            assert_eq!(bucket_of(up), i, "upper bound of bucket {i} maps back");
            last = up;
        }
        for v in [0, 1, 127, 128, 129, 1000, 12_345, 1 << 20, (1 << 20) + 1, 987_654_321] {
            let up = bucket_upper(bucket_of(v));
            assert!(up >= v && (up - v) as f64 <= v as f64 / 64.0 + 1.0, "v={v} up={up}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn exact_percentiles_for_small_values() {
        let mut h = Histogram::new();
        for v in (1..=100).rev() {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.9), 90);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.quantile(1.0), 100);
        assert_eq!(h.quantile(0.0), 1);
        assert_eq!(h.max(), 100);
        assert_eq!(h.min(), 1);
        assert!((h.mean() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn percentiles_within_bucket_error_and_clamped() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 100); // 100 µs .. 1 s
        }
        for (q, exact) in [(0.5, 500_000u64), (0.9, 900_000), (0.99, 990_000)] {
            let got = h.quantile(q);
            let err = (got as f64 - exact as f64).abs() / exact as f64;
            assert!(got >= exact && err < 0.016, "q={q} got={got} exact={exact}");
        }
        assert_eq!(h.quantile(1.0), 1_000_000);
        let mut one = Histogram::new();
        one.record(5_000);
        assert_eq!(one.quantile(0.5), 5_000, "single value reported exactly (clamped to min/max)");
        assert_eq!(Histogram::new().quantile(0.99), 0);
    }

    #[test]
    fn merge_equals_recording_everything_once() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..5000u64 {
            let x = v * v % 100_003;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        a.merge(&b);
        for q in [0.1, 0.5, 0.9, 0.99, 0.999] {
            assert_eq!(a.quantile(q), all.quantile(q));
        }
        assert_eq!((a.count(), a.max(), a.min()), (all.count(), all.max(), all.min()));
    }

    #[test]
    fn report_math_and_json_shape() {
        let mut w1 = WorkerStats::default();
        let mut w2 = WorkerStats::default();
        for _ in 0..50 {
            w1.ok(OpKind::Get, Duration::from_millis(2), 1 << 20);
            w2.ok(OpKind::Put, Duration::from_millis(4), 1 << 20);
        }
        w2.error(OpKind::Get, "NoSuchKey");
        w2.error(OpKind::Get, "NoSuchKey");
        w1.merge(&w2);
        let meta = ReportMeta {
            workload: "mixed".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "b".into(),
            size: 1 << 20,
            objects: 10,
            concurrency: 4,
            report_pages: false,
        };
        let r = Report::new(meta, &w1, Duration::from_secs(10));
        assert_eq!(r.ops, 100);
        assert_eq!(r.errors, 2);
        assert_eq!(r.ops_per_s, 10.0);
        assert_eq!(r.mib_per_s, 10.0);
        assert!((2.0..2.032).contains(&r.latency_ms.p50), "{}", r.latency_ms.p50); // bucket bound, ≤ 1.6 % high
        assert_eq!(r.latency_ms.p90, 4.0);
        assert_eq!(r.latency_ms.max, 4.0);
        assert_eq!(r.by_op[&OpKind::Get].errors, 2);
        assert_eq!(r.errors_by_code["NoSuchKey"], 2);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        for key in ["ops_per_s", "mib_per_s", "errors", "workload", "size", "concurrency", "duration_s", "ops"] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for key in ["p50", "p90", "p99", "max"] {
            assert!(v["latency_ms"].get(key).is_some(), "missing latency_ms.{key}");
        }
        assert!(v.get("pages_per_s").is_none());
        assert_eq!(v["by_op"]["GET"]["ops"], 50);
        assert!(r.to_human().contains("NoSuchKey: 2"));
    }
}
