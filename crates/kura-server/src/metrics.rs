//! The server's metrics, served at `/kura/metrics` in the OpenMetrics text format (which Prometheus
//! scrapes): requests by API, operation and status class, latency to the last byte, bytes in and out,
//! requests in flight, credentials issued and refused, authentication and authorisation failures,
//! group-commit batches and blob fsyncs, and the build.
//!
//! Every label value comes from a bounded set kura itself chose (API names, operation names, error
//! codes kura writes), never from a request as sent: a client that invents STS actions or keys cannot
//! grow the number of series, and no bucket name or key ever appears here. [`Label`] enforces the bound.

use kura_store::observe::StoreObserver;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Error codes that mean the request's signature or credentials were not accepted (authentication),
/// as opposed to a verified caller being denied (authorisation, `AccessDenied`).
const AUTHN_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "RequestTimeTooSkewed",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "MissingSecurityHeader",
    "InvalidClientTokenId",
    "IncompleteSignature",
];

/// Operations that hand out credentials, by API: their successes and refusals are counted apart.
const CREDENTIAL_OPERATIONS: &[&str] = &["AssumeRoleWithWebIdentity", "AssumeRole", "GetPodCredentials"];

/// Most distinct label values [`Label`] hands out; later ones are all `other`.
const MAX_LABEL_VALUES: usize = 1024;

/// A label value from a bounded set: operation names and error codes are interned once (they are few,
/// and come from kura's own code), and past [`MAX_LABEL_VALUES`] or for anything that does not look
/// like a name, the value is `other`.
#[derive(Debug, Default)]
pub struct Label(RwLock<HashSet<&'static str>>);

impl Label {
    /// The interned value for `name`.
    pub fn of(&self, name: &str) -> &'static str {
        let plain = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
        if !plain {
            return "other";
        }
        if let Some(known) = self.0.read().unwrap_or_else(PoisonError::into_inner).get(name) {
            return known;
        }
        let mut seen = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = seen.get(name) {
            return known;
        }
        if seen.len() >= MAX_LABEL_VALUES {
            return "other";
        }
        // Leaked once per distinct name; the set is bounded above.
        let interned: &'static str = Box::leak(name.to_owned().into_boxed_str());
        seen.insert(interned);
        interned
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: &'static str,
    operation: &'static str,
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    api: &'static str,
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    kind: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskOnlyLabels {
    task: &'static str,
}

/// What one finished request contributes.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    /// `s3`, `sts`, `admin`, `tickets`, `credentials`, `webhook`, `health`, `metrics`.
    pub api: &'static str,
    /// The operation's name as kura knows it, if it got that far.
    pub operation: Option<&'a str>,
    /// The response status.
    pub status: u16,
    /// The S3/STS error code of a refused request.
    pub error_code: Option<&'a str>,
    /// Request body bytes received.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// From the request's arrival to its last byte sent.
    pub took: Duration,
}

/// The series one API's operation writes on every request, resolved once: requests by status class
/// (each created at its first use), its latency histogram, and its API's byte counters.
#[derive(Debug)]
struct OperationSeries {
    api: &'static str,
    operation: &'static str,
    by_class: [OnceLock<Counter>; 5],
    duration: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
}

/// One API's operations and their series.
type SeriesByOperation = HashMap<Box<str>, Arc<OperationSeries>>;

/// Series already resolved on this thread, by registry (its [`Metrics::id`]) and API: a request finds its
/// series without touching memory another core writes (no lock word, no reference count).
type ThreadSeries = HashMap<u64, HashMap<&'static str, SeriesByOperation>>;

thread_local! {
    static THREAD_SERIES: std::cell::RefCell<ThreadSeries> = std::cell::RefCell::default();
}

/// Gives each registry its id for [`THREAD_SERIES`].
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Status classes, in the order of [`OperationSeries::by_class`].
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The registry and every metric in it. One per server.
pub struct Metrics {
    /// This registry's key in the per-thread caches.
    id: u64,
    registry: Registry,
    labels: Label,
    /// API → operation → its series: one read lock and two lookups per request, instead of one family
    /// lookup per metric.
    series: RwLock<HashMap<&'static str, SeriesByOperation>>,
    requests: Family<RequestLabels, Counter>,
    duration: Family<OperationLabels, Histogram>,
    bytes_in: Family<ApiLabels, Counter>,
    bytes_out: Family<ApiLabels, Counter>,
    in_flight: Gauge,
    issued: Family<KindLabels, Counter>,
    refused: Family<RefusedLabels, Counter>,
    authn_failures: Family<ReasonLabels, Counter>,
    authz_denied: Family<ApiLabels, Counter>,
    commit_batch: Histogram,
    commit_seconds: Histogram,
    fsync_seconds: Histogram,
    background_runs: Family<TaskLabels, Counter>,
    background_removed: Family<TaskOnlyLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Latency buckets: 0.5 ms to about 16 s, doubling.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// A registry with every metric registered at zero and the build's version.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<OperationLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        let (bytes_in, bytes_out) = (Family::default(), Family::default());
        let in_flight = Gauge::default();
        let (issued, refused) = (Family::default(), Family::default());
        let (authn_failures, authz_denied) = (Family::default(), Family::default());
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let fsync_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let (background_runs, background_removed) = (Family::default(), Family::default());
        registry.register(
            "kura_http_requests",
            "Requests answered, by API, operation and status class",
            requests.clone(),
        );
        registry.register(
            "kura_http_request_duration_seconds",
            "Time from a request's arrival to its last response byte",
            duration.clone(),
        );
        registry.register("kura_http_request_bytes", "Request body bytes received", bytes_in.clone());
        registry.register("kura_http_response_bytes", "Response body bytes sent", bytes_out.clone());
        registry.register("kura_http_requests_in_flight", "Requests being served now", in_flight.clone());
        registry.register(
            "kura_credentials_issued",
            "Temporary credentials issued (STS and pod credentials), by operation",
            issued.clone(),
        );
        registry.register(
            "kura_credentials_refused",
            "Credential requests refused, by operation and error code",
            refused.clone(),
        );
        registry.register(
            "kura_authn_failures",
            "Requests whose signature or credentials were not accepted, by error code",
            authn_failures.clone(),
        );
        registry.register(
            "kura_authz_denied",
            "Verified requests denied by policy (AccessDenied)",
            authz_denied.clone(),
        );
        registry.register("kura_store_commit_batch_size", "Writes per metadata group commit", commit_batch.clone());
        registry.register(
            "kura_store_commit_duration_seconds",
            "Duration of a metadata group commit",
            commit_seconds.clone(),
        );
        registry.register(
            "kura_blob_fsync_duration_seconds",
            "Time to make a new blob durable (data and directory fsync)",
            fsync_seconds.clone(),
        );
        registry.register(
            "kura_background_runs",
            "Runs of background work (task: ticket-sweep, lifecycle, blob-reclaim, replica-sync), by outcome (ok, failed)",
            background_runs.clone(),
        );
        registry.register(
            "kura_background_removed",
            "Records background work removed (expired upload tickets for ticket-sweep; expired objects and aborted uploads for lifecycle; blob files whose grace period ended for blob-reclaim)",
            background_removed.clone(),
        );
        registry.register(
            "kura_build",
            "The running kura build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Arc::new(Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry,
            labels: Label::default(),
            series: RwLock::default(),
            requests,
            duration,
            bytes_in,
            bytes_out,
            in_flight,
            issued,
            refused,
            authn_failures,
            authz_denied,
            commit_batch,
            commit_seconds,
            fsync_seconds,
            background_runs,
            background_removed,
        })
    }

    /// Counts a request in flight until the returned guard drops.
    pub fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.inc();
        InFlight(self.clone())
    }

    /// The series of `operation` (`none` without one) of `api`, created at its first request.
    fn series(&self, api: &'static str, operation: Option<&str>) -> Arc<OperationSeries> {
        let name = operation.unwrap_or("none");
        if let Some(found) =
            self.series.read().unwrap_or_else(PoisonError::into_inner).get(api).and_then(|ops| ops.get(name))
        {
            return found.clone();
        }
        let operation = operation.map_or("none", |op| self.labels.of(op));
        let labels = OperationLabels { api, operation };
        let series = Arc::new(OperationSeries {
            api,
            operation,
            by_class: Default::default(),
            duration: self.duration.get_or_create(&labels).clone(),
            bytes_in: self.bytes_in.get_or_create(&ApiLabels { api }).clone(),
            bytes_out: self.bytes_out.get_or_create(&ApiLabels { api }).clone(),
        });
        let mut all = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let ops = all.entry(api).or_default();
        // Past the label bound every new name is `other`: keep it under its own name only while the
        // map is small, so a flood of names cannot grow it either.
        if ops.len() < MAX_LABEL_VALUES { ops.entry(name.into()).or_insert(series).clone() } else { series }
    }

    /// Records a finished request.
    pub fn observe(&self, outcome: &Outcome<'_>) {
        let name = outcome.operation.unwrap_or("none");
        let recorded = THREAD_SERIES.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            let ops = cache.entry(self.id).or_default().entry(outcome.api).or_default();
            if let Some(series) = ops.get(name) {
                return self.record(series, outcome);
            }
            let series = self.series(outcome.api, outcome.operation);
            self.record(&series, outcome);
            // As bounded as the shared map: past the bound, names are not kept.
            if ops.len() < MAX_LABEL_VALUES {
                ops.insert(name.into(), series);
            }
        });
        // A thread being torn down has no cache left: go to the shared map.
        if recorded.is_err() {
            self.record(&self.series(outcome.api, outcome.operation), outcome);
        }
    }

    /// Adds a finished request to its operation's series and to the failure counters.
    fn record(&self, series: &OperationSeries, outcome: &Outcome<'_>) {
        let class = match outcome.status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            _ => 4,
        };
        let (api, operation) = (series.api, series.operation);
        series.by_class[class]
            .get_or_init(|| {
                let labels = RequestLabels { api, operation, status_class: STATUS_CLASSES[class] };
                self.requests.get_or_create(&labels).clone()
            })
            .inc();
        series.duration.observe(outcome.took.as_secs_f64());
        series.bytes_in.inc_by(outcome.bytes_in);
        series.bytes_out.inc_by(outcome.bytes_out);
        if CREDENTIAL_OPERATIONS.contains(&operation) {
            if class == 1 {
                self.issued.get_or_create(&KindLabels { kind: operation }).inc();
            } else {
                let reason = outcome.error_code.map_or("none", |c| self.labels.of(c));
                self.refused.get_or_create(&RefusedLabels { kind: operation, reason }).inc();
            }
        }
        match outcome.error_code {
            Some("AccessDenied") => {
                self.authz_denied.get_or_create(&ApiLabels { api }).inc();
            }
            Some(code) if AUTHN_CODES.contains(&code) => {
                self.authn_failures.get_or_create(&ReasonLabels { reason: self.labels.of(code) }).inc();
            }
            _ => {}
        }
    }

    /// Records one run of background work `task`: whether it succeeded, and how many records it removed.
    pub fn background_run(&self, task: &'static str, outcome: Result<u64, ()>) {
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        self.background_runs.get_or_create(&TaskLabels { task, outcome: label }).inc();
        if let Ok(removed) = outcome {
            self.background_removed.get_or_create(&TaskOnlyLabels { task }).inc_by(removed);
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The observer the stores report their commits and fsyncs to.
    pub fn store_observer(self: &Arc<Self>) -> Arc<dyn StoreObserver> {
        Arc::new(StoreMetrics(self.clone()))
    }
}

/// A request counted in flight; uncounted when dropped. It holds the registry, so the request's end
/// records into it without a second reference.
#[derive(Debug)]
pub struct InFlight(Arc<Metrics>);

impl InFlight {
    /// The registry the request is counted in.
    pub fn metrics(&self) -> &Metrics {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// The stores' reports, into the histograms.
struct StoreMetrics(Arc<Metrics>);

impl StoreObserver for StoreMetrics {
    fn committed(&self, batch: usize, took: Duration) {
        self.0.commit_batch.observe(batch as f64);
        self.0.commit_seconds.observe(took.as_secs_f64());
    }

    fn blob_synced(&self, took: Duration) {
        self.0.fsync_seconds.observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(
        api: &'static str,
        operation: &'static str,
        status: u16,
        error_code: Option<&'static str>,
    ) -> Outcome<'static> {
        Outcome {
            api,
            operation: Some(operation),
            status,
            error_code,
            bytes_in: 10,
            bytes_out: 20,
            took: Duration::from_millis(3),
        }
    }

    #[test]
    fn a_request_moves_its_counters_and_nothing_names_a_bucket() {
        let metrics = Metrics::new();
        metrics.observe(&outcome("s3", "GetObject", 200, None));
        metrics.observe(&outcome("s3", "GetObject", 403, Some("AccessDenied")));
        metrics.observe(&outcome("s3", "PutObject", 403, Some("SignatureDoesNotMatch")));
        metrics.observe(&outcome("sts", "AssumeRoleWithWebIdentity", 200, None));
        metrics.observe(&outcome("sts", "AssumeRoleWithWebIdentity", 400, Some("InvalidIdentityToken")));
        let text = metrics.encode();
        for line in [
            r#"kura_http_requests_total{api="s3",operation="GetObject",status_class="2xx"} 1"#,
            r#"kura_http_requests_total{api="s3",operation="GetObject",status_class="4xx"} 1"#,
            r#"kura_http_request_bytes_total{api="s3"} 30"#,
            r#"kura_http_response_bytes_total{api="s3"} 60"#,
            r#"kura_authz_denied_total{api="s3"} 1"#,
            r#"kura_authn_failures_total{reason="SignatureDoesNotMatch"} 1"#,
            r#"kura_credentials_issued_total{kind="AssumeRoleWithWebIdentity"} 1"#,
            r#"kura_credentials_refused_total{kind="AssumeRoleWithWebIdentity",reason="InvalidIdentityToken"} 1"#,
            r#"kura_build_info{version=""#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn label_values_are_bounded() {
        let labels = Label::default();
        assert_eq!(labels.of("GetObject"), "GetObject");
        assert_eq!(labels.of("a\"b"), "other");
        assert_eq!(labels.of(&"x".repeat(65)), "other");
        assert_eq!(labels.of(""), "other");
        for n in 0..MAX_LABEL_VALUES {
            labels.of(&format!("Op{n}"));
        }
        assert_eq!(labels.of("OneTooMany"), "other");
        assert_eq!(labels.of("GetObject"), "GetObject", "known values stay");
    }

    #[test]
    fn background_runs_count_by_outcome_and_what_they_removed() {
        let metrics = Metrics::new();
        metrics.background_run("ticket-sweep", Ok(3));
        metrics.background_run("ticket-sweep", Ok(0));
        metrics.background_run("ticket-sweep", Err(()));
        let text = metrics.encode();
        assert!(text.contains(r#"kura_background_runs_total{task="ticket-sweep",outcome="ok"} 2"#), "{text}");
        assert!(text.contains(r#"kura_background_runs_total{task="ticket-sweep",outcome="failed"} 1"#), "{text}");
        assert!(text.contains(r#"kura_background_removed_total{task="ticket-sweep"} 3"#), "{text}");
    }

    #[test]
    fn two_registries_on_one_thread_keep_their_counts_apart() {
        let (one, two) = (Metrics::new(), Metrics::new());
        for _ in 0..3 {
            one.observe(&outcome("s3", "PutObject", 200, None));
        }
        two.observe(&outcome("s3", "PutObject", 200, None));
        let series = r#"kura_http_requests_total{api="s3",operation="PutObject",status_class="2xx"}"#;
        assert!(one.encode().contains(&format!("{series} 3")), "{}", one.encode());
        assert!(two.encode().contains(&format!("{series} 1")), "{}", two.encode());
    }

    #[test]
    fn in_flight_counts_until_the_guard_drops() {
        let metrics = Metrics::new();
        let guard = metrics.in_flight();
        assert!(metrics.encode().contains("kura_http_requests_in_flight 1"));
        drop(guard);
        assert!(metrics.encode().contains("kura_http_requests_in_flight 0"));
    }
}
