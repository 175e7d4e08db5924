//! The audit log: one JSON line per request (S3, STS, container credentials, admin) saying who did what,
//! how they proved it, and what came of it. Never a secret, a signature or a token.
//!
//! The dispatcher puts an empty [`AuditSlot`] into each request's extensions; whichever layer learns
//! who the caller is (the S3 access hook, STS, the credentials endpoint, the admin API) fills in the
//! [`Attribution`]; the dispatcher then writes the line with the outcome. Lines go through a bounded
//! queue to one writer thread (rotating the file by size), so a slow disk never stalls a request; if
//! the queue is full the line is counted as dropped and a warning is logged.
//!
//! Records also go to an in-memory [`Ring`] of the last [`RING_CAPACITY`] records of this process,
//! numbered in order, which the web console's audit viewer reads: every record while the audit log is
//! on; with it off, only while a viewer is watching (within [`WATCH_WINDOW`] of its last look), because
//! building and keeping a record no one reads cost every request a tenth of its throughput on a 4 KiB
//! HEAD (BENCHMARKS.md).

use crate::base::caller::Caller;
use crate::config::audit::AuditConfig;
use serde::Serialize;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// Lines queued for the writer before new ones are dropped.
const QUEUE: usize = 65_536;

/// How many of the latest records the in-memory ring keeps.
pub const RING_CAPACITY: usize = 2_000;

/// How many entries of each resource list a record keeps in the ring.
const RING_RESOURCES: usize = 8;

/// How long after a viewer's last look the ring keeps recording when the audit log is off.
pub const WATCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// Who made a request and how, as far as the server could tell.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Attribution {
    /// Principal ARN (`anonymous` for unsigned requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Access key id that signed (never the secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// `header`, `presigned`, `post`, `anonymous`, `ticket`, `web-identity`, `pod-identity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<&'static str>,
    /// For sessions: the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// For sessions: the role session name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// For web-identity and pod sessions: the token's `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// For Kubernetes workloads: the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// For Kubernetes workloads: the service account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The upload ticket used, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// What the audit log shows in place of an access key kura does not know, as CloudTrail shows an
/// unknown user name at a failed sign-in: what was typed as a key may be a secret typed in the wrong
/// field, and the audit log (and the console's view of it) never holds a secret.
pub const HIDDEN_KEY: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

impl Attribution {
    /// The attribution of a request that claimed `access_key` but was refused before its caller was
    /// known (an unknown key, a bad signature, a failed sign-in): the key when kura knows it
    /// (`known`) or it has the shape of a key kura mints, else [`HIDDEN_KEY`].
    pub fn claimed(access_key: &str, known: bool, auth_type: &'static str) -> Self {
        let shown = if known || crate::base::credentials::is_minted_shape(access_key) {
            access_key.to_owned()
        } else {
            HIDDEN_KEY.to_owned()
        };
        Attribution { access_key: Some(shown), auth_type: Some(auth_type), ..Default::default() }
    }
    /// A request signed with an upload ticket's key, before (or without) finding the ticket.
    pub fn ticket_key(access_key: &str) -> Self {
        Attribution {
            access_key: Some(access_key.to_owned()),
            auth_type: Some("ticket"),
            ticket: Some(access_key.to_owned()),
            ..Default::default()
        }
    }

    /// The attribution of a verified caller; `auth_type` says how the request was signed.
    pub fn of(caller: &Caller, auth_type: &'static str) -> Self {
        let mut a = Attribution {
            principal: Some(caller.arn()),
            access_key: caller.access_key().map(str::to_owned),
            auth_type: Some(auth_type),
            ..Default::default()
        };
        if let Caller::Ticket { ticket } = caller {
            a.auth_type = Some("ticket");
            a.ticket = Some(ticket.id.clone());
        }
        if let Caller::Session { claims, .. } = caller {
            a.role = Some(claims.role.clone());
            a.session = Some(claims.session.clone());
            a.sub = claims.vars.get("jwt:sub").cloned();
            a.namespace = claims.vars.get("k8s:namespace").cloned();
            a.service_account = claims.vars.get("k8s:serviceaccount").cloned();
        }
        a
    }
}

/// How the object a request wrote or read is encrypted at rest, and under which key: never key
/// material, nor a fingerprint of it (an SSE-C key's MD5).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SseUse {
    /// `SSE-S3`, `SSE-KMS` or `SSE-C`.
    pub kind: &'static str,
    /// The algorithm as S3 names it on the wire: `AES256` (SSE-S3, SSE-C) or `aws:kms`.
    pub algorithm: &'static str,
    /// SSE-KMS: the KMS key ARN; SSE-S3: the id of the master key that wrapped the data key (absent
    /// when no data key was made, as at CreateMultipartUpload); SSE-C: always absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// What the layers learned about one request (shared through the request's extensions).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The operation (`PutObject`, `AssumeRoleWithWebIdentity`, `admin:PutUser`, …).
    pub operation: Option<String>,
    /// The bucket, if any.
    pub bucket: Option<String>,
    /// The key, if any.
    pub key: Option<String>,
    /// The caller.
    pub caller: Attribution,
    /// The client address after trusted proxies, when a layer worked it out.
    pub source_ip: Option<String>,
    /// What authorisation allowed and what the operation touched.
    pub resources: crate::trace::Trace,
    /// How the object the request wrote or read is encrypted, if it is.
    pub sse: Option<SseUse>,
    /// For a copy (CopyObject, UploadPartCopy): how its source is encrypted, if it is.
    pub copy_source_sse: Option<SseUse>,
}

/// The per-request slot the layers fill in.
#[derive(Debug, Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Facts>>);

impl AuditSlot {
    /// Records what a layer learned.
    pub fn fill(&self, f: impl FnOnce(&mut Facts)) {
        f(&mut self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// What was recorded.
    pub fn take(&self) -> Facts {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// One audit line.
#[derive(Debug, Serialize)]
pub struct Record {
    /// RFC 3339 time the request ended (its last response byte was sent).
    pub time: String,
    /// The `x-amz-request-id`.
    pub request_id: String,
    /// `s3`, `sts`, `credentials`, `admin`.
    pub api: &'static str,
    /// The operation, when known (requests refused before routing have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// The S3/STS error code of a failed request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Request body bytes (Content-Length).
    pub bytes_in: u64,
    /// Response body bytes actually sent (0 for HEAD, whatever its Content-Length says).
    pub bytes_out: u64,
    /// Milliseconds from arrival to the last response byte.
    pub duration_ms: f64,
    /// Client address (after trusted proxies).
    pub source_ip: String,
    /// The host name the request was signed for (after host aliases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_host: Option<String>,
    /// Who, and how.
    pub caller: Attribution,
    /// What authorisation allowed (`ACTION ARN`) and which objects the operation read or wrote.
    #[serde(skip_serializing_if = "crate::trace::Trace::is_empty")]
    pub resources: crate::trace::Trace,
    /// How the object the request wrote or read is encrypted at rest (for a copy: the copy), and the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseUse>,
    /// For a copy: how its source is encrypted at rest, and the key its data keys were opened with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_source_sse: Option<SseUse>,
    /// For work kura did on its own (api `lifecycle`): the lifecycle rule that asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For work kura did on its own: the version id it wrote (a delete marker) or removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// The audit log's writer.
pub struct Audit {
    tx: Option<SyncSender<String>>,
    stdout: bool,
    dropped: AtomicU64,
    ring: Ring,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("file", &self.tx.is_some()).field("stdout", &self.stdout).finish()
    }
}

impl Audit {
    /// No audit log.
    pub fn disabled() -> Self {
        Self { tx: None, stdout: false, dropped: AtomicU64::new(0), ring: Ring::default() }
    }

    /// Opens the file (creating it, mode 0600) and starts the writer thread.
    pub fn start(config: &AuditConfig) -> std::io::Result<Self> {
        let tx = match &config.path {
            None => None,
            Some(path) => {
                let mut file = RotatingFile::open(
                    path.clone(),
                    config.max_size.unwrap_or(100 * 1024 * 1024),
                    config.keep.unwrap_or(5),
                )?;
                let (tx, rx) = std::sync::mpsc::sync_channel::<String>(QUEUE);
                std::thread::Builder::new().name("kura-audit".into()).spawn(move || {
                    for line in rx {
                        if let Err(e) = file.write_line(&line) {
                            tracing::error!(error = %e, "writing the audit log failed");
                        }
                    }
                })?;
                Some(tx)
            }
        };
        Ok(Self { tx, stdout: config.stdout, dropped: AtomicU64::new(0), ring: Ring::default() })
    }

    /// Whether lines go to a file or standard output.
    pub fn enabled(&self) -> bool {
        self.tx.is_some() || self.stdout
    }

    /// Whether a request's record is wanted: by the file or standard output, or by a watching viewer.
    pub fn wanted(&self) -> bool {
        self.enabled() || self.ring.watched()
    }

    /// The ring of the latest records.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Writes one line (and keeps the record in the ring).
    pub fn record(&self, record: Record) {
        if self.enabled()
            && let Ok(line) = serde_json::to_string(&record)
        {
            self.write(line);
        }
        self.ring.push(Arc::new(for_ring(record)));
    }

    fn write(&self, line: String) {
        if self.stdout {
            println!("{line}");
        }
        if let Some(tx) = &self.tx {
            match tx.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        tracing::warn!(dropped = n, "the audit log cannot keep up; lines dropped");
                    }
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }
}

/// A record as the ring keeps it: its resource lists cut to [`RING_RESOURCES`] entries each (a
/// DeleteObjects names up to a thousand keys), so the ring's memory stays bounded.
fn for_ring(mut record: Record) -> Record {
    for list in [&mut record.resources.authorized, &mut record.resources.touched] {
        if list.len() > RING_RESOURCES {
            let more = list.len() - RING_RESOURCES;
            list.truncate(RING_RESOURCES);
            list.push(format!("… and {more} more (the audit file has them all)"));
        }
    }
    record
}

/// The latest [`RING_CAPACITY`] records, each with its sequence number (1, 2, … in the order they
/// were written), newest last; and until when a viewer is watching.
#[derive(Debug)]
pub struct Ring {
    inner: Mutex<RingInner>,
    /// What `watched_until` counts from.
    epoch: std::time::Instant,
    /// Milliseconds after `epoch` until which a viewer is watching (0: never watched).
    watched_until: AtomicU64,
}

impl Default for Ring {
    fn default() -> Self {
        Self { inner: Mutex::default(), epoch: std::time::Instant::now(), watched_until: AtomicU64::new(0) }
    }
}

#[derive(Debug, Default)]
struct RingInner {
    last: u64,
    records: std::collections::VecDeque<(u64, Arc<Record>)>,
}

impl Ring {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A viewer looked: keep recording for [`WATCH_WINDOW`] from now.
    pub fn watch(&self) {
        let until = self.now_ms().saturating_add(WATCH_WINDOW.as_millis() as u64);
        self.watched_until.fetch_max(until, Ordering::Relaxed);
    }

    /// Whether a viewer looked within the last [`WATCH_WINDOW`].
    pub fn watched(&self) -> bool {
        self.watched_at(self.now_ms())
    }

    fn watched_at(&self, now_ms: u64) -> bool {
        now_ms < self.watched_until.load(Ordering::Relaxed)
    }

    fn push(&self, record: Arc<Record>) {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.last += 1;
        let seq = inner.last;
        if inner.records.len() == RING_CAPACITY {
            inner.records.pop_front();
        }
        inner.records.push_back((seq, record));
    }

    /// The sequence number of the latest record (0 before the first).
    pub fn last(&self) -> u64 {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).last
    }

    /// Up to `limit` records newer than `after` that `keep` accepts, newest first, and the sequence
    /// number of the latest record at the time of reading.
    pub fn read(&self, after: u64, limit: usize, keep: impl Fn(&Record) -> bool) -> (Vec<(u64, Arc<Record>)>, u64) {
        let inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = inner
            .records
            .iter()
            .rev()
            .take_while(|(seq, _)| *seq > after)
            .filter(|(_, r)| keep(r))
            .take(limit)
            .map(|(seq, r)| (*seq, r.clone()))
            .collect();
        (found, inner.last)
    }
}

/// An append-only file rotated by size: `FILE` → `FILE.1` → … → `FILE.keep`.
struct RotatingFile {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    size: u64,
    max_size: u64,
    keep: usize,
}

impl RotatingFile {
    fn open(path: PathBuf, max_size: u64, keep: usize) -> std::io::Result<Self> {
        let file = Self::open_file(&path)?;
        let size = file.metadata()?.len();
        Ok(Self { path, file: std::io::BufWriter::new(file), size, max_size: max_size.max(1), keep })
    }

    fn open_file(path: &PathBuf) -> std::io::Result<std::fs::File> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        options.open(path)
    }

    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 + 1 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        self.size += line.len() as u64 + 1;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let name = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let _ = std::fs::rename(name(n), name(n + 1));
            }
            std::fs::rename(&self.path, name(1))?;
        }
        self.file = std::io::BufWriter::new(Self::open_file(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

/// The `<Code>` of an S3 or STS XML error body, or the `code` of a JSON one.
pub fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if let Some(start) = text.find("<Code>") {
        let rest = &text[start + 6..];
        return rest.find("</Code>").map(|end| rest[..end].to_owned());
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("code")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_n_files() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.log");
        let mut f = RotatingFile::open(path.clone(), 100, 2).expect("open");
        for i in 0..20 {
            f.write_line(&format!("{{\"line\":{i:040}}}")).expect("write");
        }
        assert!(path.exists());
        assert!(dir.path().join("audit.log.1").exists());
        assert!(dir.path().join("audit.log.2").exists());
        assert!(!dir.path().join("audit.log.3").exists());
        assert!(std::fs::metadata(&path).expect("stat").len() <= 100);
    }

    fn record(operation: &str) -> Record {
        Record {
            time: String::new(),
            request_id: String::new(),
            api: "s3",
            operation: Some(operation.to_owned()),
            bucket: None,
            key: None,
            status: 200,
            error_code: None,
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0.0,
            source_ip: "127.0.0.1".to_owned(),
            signed_host: None,
            caller: Attribution::default(),
            resources: crate::trace::Trace::default(),
            sse: None,
            copy_source_sse: None,
            rule: None,
            version_id: None,
        }
    }

    #[test]
    fn the_ring_keeps_the_latest_records_newest_first_and_works_without_a_file() {
        let audit = Audit::disabled();
        for i in 0..RING_CAPACITY + 5 {
            audit.record(record(if i % 2 == 0 { "PutObject" } else { "GetObject" }));
        }
        let ring = audit.ring();
        assert_eq!(ring.last(), (RING_CAPACITY + 5) as u64);
        let (all, last) = ring.read(0, usize::MAX, |_| true);
        assert_eq!(all.len(), RING_CAPACITY);
        assert_eq!(last, (RING_CAPACITY + 5) as u64);
        assert_eq!(all[0].0, last, "newest first");
        assert_eq!(all[RING_CAPACITY - 1].0, 6, "the oldest five were forgotten");
        let (newer, _) = ring.read(last - 3, 10, |_| true);
        assert_eq!(newer.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![last, last - 1, last - 2]);
        let (puts, _) = ring.read(0, 2, |r| r.operation.as_deref() == Some("PutObject"));
        assert_eq!(puts.len(), 2);
        assert!(puts.iter().all(|(seq, r)| seq % 2 == 1 && r.operation.as_deref() == Some("PutObject")));
    }

    #[test]
    fn without_a_log_records_are_wanted_only_while_a_viewer_watches() {
        let audit = Audit::disabled();
        assert!(!audit.wanted(), "nobody reads the record");
        audit.ring().watch();
        assert!(audit.wanted(), "a viewer looked just now");
        let ring = audit.ring();
        let window = WATCH_WINDOW.as_millis() as u64;
        assert!(ring.watched_at(ring.now_ms() + window - 1_000), "still within the window");
        assert!(!ring.watched_at(ring.now_ms() + window + 1), "a look longer ago no longer counts");
        let stdout = Audit::start(&AuditConfig { stdout: true, ..Default::default() }).expect("stdout");
        assert!(stdout.wanted(), "the log wants every record");
    }

    #[test]
    fn the_ring_keeps_a_bounded_part_of_long_resource_lists() {
        let audit = Audit::disabled();
        let mut r = record("DeleteObjects");
        r.resources.touched = (0..1000).map(|i| format!("arn:aws:s3:::b/{i}")).collect();
        r.resources.authorized = vec!["s3:DeleteObject arn:aws:s3:::b/0".to_owned()];
        audit.record(r);
        let (kept, _) = audit.ring().read(0, 1, |_| true);
        let resources = &kept[0].1.resources;
        assert_eq!(resources.touched.len(), RING_RESOURCES + 1);
        assert!(resources.touched[RING_RESOURCES].contains("992 more"));
        assert_eq!(resources.authorized.len(), 1);
    }

    #[test]
    fn error_codes_from_xml_and_json() {
        assert_eq!(error_code(b"<Error><Code>AccessDenied</Code></Error>").as_deref(), Some("AccessDenied"));
        assert_eq!(error_code(br#"{"code":"AccessDenied","message":"x"}"#).as_deref(), Some("AccessDenied"));
        assert_eq!(error_code(b"plain"), None);
    }
}
