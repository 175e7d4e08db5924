//! Connection limits: a connection must send each request's headers within `header_read_timeout`, is
//! closed after `idle_timeout` without traffic, must deliver a body kura waits for at `min_body_rate`
//! or faster, and at most `max_connections` are open at once.
//!
//! hyper has no idle timeout for HTTP/1, and its header-read timeout also closes idle keep-alive
//! connections and does not cover the protocol sniffing of the `auto` builder, so kura keeps the clock
//! itself: the connection's IO, its service and its request bodies ([`Metered`]) report into an
//! [`Activity`], and a watchdog racing the connection ([`expired`]) drops it when a deadline passes.
//! The same rules apply to HTTP/1 and HTTP/2.
//!
//! **The body rate.** The idle timeout alone lets a body dribble one byte every `idle_timeout - ε`
//! and hold its connection (and a slot of `max_connections`) for ever, without credentials: an
//! anonymous POST form is read before anything is authenticated. So while kura waits for a body (a
//! read of it found no data; time the server spends elsewhere, writing to disk or answering, does not
//! count), the connection's clock also counts that waiting time in windows of `idle_timeout`, and a
//! window in which fewer than `min_body_rate × idle_timeout` body bytes arrived closes the connection
//! (Apache's `mod_reqtimeout` `MinRate` and Kestrel's `MinRequestBodyDataRate` do the same). Holding a
//! connection through a body therefore costs its sender `min_body_rate` bytes a second; a full stall
//! is still allowed for up to one window, as before.

use crate::config::LimitsSection;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Refused connections are logged at most this often (with the number refused since the last line).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The listener's connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed for a request's headers, from the connection's start or the request's first byte.
    pub header_read_timeout: Duration,
    /// Time a connection may go without traffic (and with no request being served) before it is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Fewest body bytes a second, averaged over each `idle_timeout` that kura spends waiting for a
    /// request body; 0: no floor (only the idle timeout).
    pub min_body_rate: u64,
}

impl From<&LimitsSection> for Limits {
    fn from(s: &LimitsSection) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs),
            max_connections: s.max_connections,
            min_body_rate: s.min_body_bytes_per_sec,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::from(&LimitsSection::default())
    }
}

/// Why a connection was closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A request's headers did not arrive in time (or a new connection sent no request).
    Headers(Duration),
    /// Nothing was sent or received for the idle timeout.
    Idle(Duration),
    /// A body kura waited for arrived slower than the floor: fewer than the bytes given in a window of
    /// waiting as long as the duration.
    BodyRate(u64, Duration),
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Headers(d) => write!(f, "no complete request headers within {} s", d.as_secs()),
            Self::Idle(d) => write!(f, "idle for {} s", d.as_secs()),
            Self::BodyRate(bytes, d) => {
                write!(f, "request body slower than {bytes} bytes in {} s of waiting for it", d.as_secs())
            }
        }
    }
}

/// What one connection has done, shared by its IO, its service and its watchdog. Times are milliseconds
/// since the connection started.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Last byte read or written, or last request finished.
    last_io: AtomicU64,
    /// 1 + the time of the first byte of a request whose headers have not all arrived; 0 when none.
    /// A new connection starts as if its first request began at once.
    head_started: AtomicU64,
    /// Requests being served (the service has the headers).
    in_flight: AtomicUsize,
    /// The body-rate clock ([`Metered`] bodies report to it; the watchdog reads and rolls it).
    body: Mutex<BodyClock>,
}

/// How long kura has waited for request bodies on a connection, and how many body bytes came, in the
/// current window. Times are milliseconds since the connection started.
#[derive(Debug, Default)]
struct BodyClock {
    /// Bodies whose last read found no data (kura is waiting for the client).
    waiting: usize,
    /// When `waiting` last went from 0 to 1.
    since: u64,
    /// Time waited in this window before `since`.
    waited: u64,
    /// Body bytes received in this window.
    bytes: u64,
}

impl BodyClock {
    fn wait(&mut self, now: u64) {
        if self.waiting == 0 {
            self.since = now;
        }
        self.waiting += 1;
    }

    fn stop_waiting(&mut self, now: u64) {
        self.waiting = self.waiting.saturating_sub(1);
        if self.waiting == 0 {
            self.waited = self.waited.saturating_add(now.saturating_sub(self.since));
        }
    }

    /// Time waited in this window, as of `now`.
    fn waited_by(&self, now: u64) -> u64 {
        let current = if self.waiting > 0 { now.saturating_sub(self.since) } else { 0 };
        self.waited.saturating_add(current)
    }
}

impl Activity {
    /// A connection starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            head_started: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            body: Mutex::new(BodyClock::default()),
        })
    }

    fn body_clock(&self) -> std::sync::MutexGuard<'_, BodyClock> {
        // The clock holds plain numbers: one left half-updated by a panic is still a clock.
        self.body.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The body-rate rule as of `now`: `Err` when a window of waiting closed with too few bytes, else
    /// when the current window of waiting will close (`None`: kura is not waiting for a body). A window
    /// that closed with enough bytes starts the next one.
    fn body_deadline(&self, now: u64, limits: &Limits) -> Result<Option<u64>, Expiry> {
        if limits.min_body_rate == 0 {
            return Ok(None);
        }
        let window = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut clock = self.body_clock();
        if clock.waited_by(now) >= window {
            let needed = limits.min_body_rate.saturating_mul(limits.idle_timeout.as_secs());
            if clock.bytes < needed {
                return Err(Expiry::BodyRate(needed, limits.idle_timeout));
            }
            clock.waited = 0;
            clock.bytes = 0;
            clock.since = now;
        }
        Ok((clock.waiting > 0).then(|| now.saturating_add(window - clock.waited_by(now))))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn transferred_at(&self, read: bool, now: u64) {
        self.last_io.store(now, Ordering::Relaxed);
        if read && self.in_flight.load(Ordering::Acquire) == 0 {
            // The first byte of the next request: its headers' clock starts.
            let _ = self.head_started.compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Marks a request as being served until the guard drops (its headers are complete).
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        RequestGuard(self.clone())
    }

    /// When the connection expires (milliseconds since its start) and why, as things stand.
    fn deadline(&self, limits: &Limits) -> (u64, Expiry) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let head = self.head_started.load(Ordering::Acquire);
        if head != 0 && self.in_flight.load(Ordering::Acquire) == 0 {
            let at = (head - 1).saturating_add(ms(limits.header_read_timeout));
            (at, Expiry::Headers(limits.header_read_timeout))
        } else {
            let at = self.last_io.load(Ordering::Relaxed).saturating_add(ms(limits.idle_timeout));
            (at, Expiry::Idle(limits.idle_timeout))
        }
    }
}

/// A request in progress on a connection; see [`Activity::request`].
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let now = self.0.now_ms();
        self.0.last_io.store(now, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves when the connection has broken one of its deadlines; race it against the connection.
///
/// Requests and transfers only record times (no wake-up per request). The watchdog instead never sleeps
/// longer than the shorter of the two timeouts: any deadline that arises while it sleeps (a header clock
/// starting, a request ending) is at least that far from when it last looked, so it is seen in time; a
/// deadline that moved later is simply re-checked. A body-rate window that began filling in an earlier
/// wait may close while it sleeps: it is judged at most that nap late, on the bytes that came by then.
pub async fn expired(activity: &Activity, limits: &Limits) -> Expiry {
    loop {
        let now = activity.now_ms();
        let (mut at, why) = activity.deadline(limits);
        if now >= at {
            return why;
        }
        match activity.body_deadline(now, limits) {
            Err(slow) => return slow,
            Ok(Some(body)) => at = at.min(body),
            Ok(None) => {}
        }
        // A deadline past what the clock can hold (an absurd configured timeout) is a day away, re-checked.
        let deadline = activity.start.checked_add(Duration::from_millis(at));
        let deadline = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        let longest_nap = limits.header_read_timeout.min(limits.idle_timeout);
        tokio::time::sleep_until(deadline.min(Instant::now() + longest_nap)).await;
    }
}

/// A connection's socket, reporting every transfer to its [`Activity`].
#[derive(Debug)]
pub struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }

    fn transferred(&self, read: bool) {
        self.activity.transferred_at(read, self.activity.now_ms());
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.transferred(true);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.transferred(false);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.transferred(false);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body reporting to its connection's [`Activity`]: the time kura waits for it (a read that
/// found no data, until the next one that did) and the bytes it brings, for the body-rate rule. Every
/// frame passes through unchanged.
#[derive(Debug)]
pub struct Metered<B> {
    inner: B,
    activity: Arc<Activity>,
    /// Whether this body's last read found no data (it is counted in the clock's `waiting`).
    waiting: bool,
}

impl<B> Metered<B> {
    /// Wraps the body of a request served on the connection `activity` watches.
    pub fn new(inner: B, activity: Arc<Activity>) -> Self {
        Self { inner, activity, waiting: false }
    }

    fn stop_waiting(&mut self, bytes: u64) {
        if !self.waiting && bytes == 0 {
            return;
        }
        let now = self.activity.now_ms();
        let mut clock = self.activity.body_clock();
        if self.waiting {
            clock.stop_waiting(now);
            self.waiting = false;
        }
        clock.bytes = clock.bytes.saturating_add(bytes);
    }
}

impl<B> hyper::body::Body for Metered<B>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    let now = self.activity.now_ms();
                    self.activity.body_clock().wait(now);
                }
            }
            Poll::Ready(Some(Ok(frame))) => {
                let bytes = frame.data_ref().map_or(0, |d| u64::try_from(d.len()).unwrap_or(u64::MAX));
                self.stop_waiting(bytes);
            }
            Poll::Ready(_) => self.stop_waiting(0),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Metered<B> {
    fn drop(&mut self) {
        self.stop_waiting(0);
    }
}

/// The connection cap: a permit per open connection; over the cap a connection is closed at once and
/// the refusal logged (at most one line per [`REFUSAL_LOG_INTERVAL`]).
#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    max: usize,
    refused: u64,
    last_warning: Option<Instant>,
}

impl Gate {
    /// A gate letting `max` connections in.
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self { permits: Arc::new(Semaphore::new(max)), max, refused: 0, last_warning: None }
    }

    /// A permit for the connection from `peer` (hold it while the connection lives), or `None` when the
    /// cap is reached: close the connection.
    pub fn admit(&mut self, peer: SocketAddr) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        self.refused += 1;
        if self.last_warning.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_INTERVAL) {
            tracing::warn!(
                peer = %peer,
                refused = self.refused,
                max_connections = self.max,
                "connection refused: server.limits.max_connections reached ({} refused since the last such line)",
                self.refused,
            );
            self.refused = 0;
            self.last_warning = Some(Instant::now());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(300),
        max_connections: 2,
        min_body_rate: 500,
    };

    #[tokio::test]
    async fn a_new_connection_must_send_headers_in_time() {
        let a = Activity::new();
        assert_eq!(a.deadline(&LIMITS), (30_000, Expiry::Headers(LIMITS.header_read_timeout)));
        // Bytes of a partial request do not extend the header deadline.
        a.transferred_at(true, 20_000);
        assert_eq!(a.deadline(&LIMITS).0, 30_000);
    }

    #[tokio::test]
    async fn a_request_in_flight_or_finished_follows_the_idle_clock() {
        let a = Activity::new();
        let guard = a.request();
        a.transferred_at(true, 1_000);
        assert_eq!(a.deadline(&LIMITS), (301_000, Expiry::Idle(LIMITS.idle_timeout)));
        drop(guard);
        let (at, why) = a.deadline(&LIMITS);
        assert!(why == Expiry::Idle(LIMITS.idle_timeout) && at >= 300_000, "{at} {why}");
        // Writes of a streaming response keep it alive; the next request's first byte starts its clock.
        a.transferred_at(false, 50_000);
        assert_eq!(a.deadline(&LIMITS).0, 350_000);
        a.transferred_at(true, 60_000);
        assert_eq!(a.deadline(&LIMITS), (90_000, Expiry::Headers(LIMITS.header_read_timeout)));
    }

    #[tokio::test]
    async fn a_body_slower_than_the_floor_over_a_window_of_waiting_expires() {
        let limits = Limits { idle_timeout: Duration::from_secs(10), ..LIMITS };
        let a = Activity::new();
        let _guard = a.request();
        // Not waiting for a body: no body deadline.
        assert_eq!(a.body_deadline(0, &limits), Ok(None));
        // Waiting from 1 s: the window of 10 s of waiting closes at 11 s.
        a.body_clock().wait(1_000);
        assert_eq!(a.body_deadline(2_000, &limits), Ok(Some(11_000)));
        // A byte every few seconds (each ends a wait, the next read waits again) is far below 5000 bytes.
        for t in [4_000, 7_000, 10_000] {
            let mut clock = a.body_clock();
            clock.stop_waiting(t);
            clock.bytes += 1;
            clock.wait(t);
        }
        assert_eq!(a.body_deadline(10_500, &limits), Ok(Some(11_000)));
        assert_eq!(a.body_deadline(11_000, &limits), Err(Expiry::BodyRate(5_000, limits.idle_timeout)));
    }

    #[tokio::test]
    async fn only_time_spent_waiting_counts_and_a_full_window_starts_the_next() {
        let limits = Limits { idle_timeout: Duration::from_secs(10), ..LIMITS };
        let a = Activity::new();
        // 6 s of waiting that brought 4000 bytes, then 100 s with the server busy (not reading).
        a.body_clock().wait(0);
        {
            let mut clock = a.body_clock();
            clock.stop_waiting(6_000);
            clock.bytes += 4_000;
        }
        assert_eq!(a.body_deadline(106_000, &limits), Ok(None));
        // Waiting again: 4 s of the window are left, and 1000 more bytes make the 5000 it needs.
        a.body_clock().wait(106_000);
        assert_eq!(a.body_deadline(106_000, &limits), Ok(Some(110_000)));
        a.body_clock().bytes += 1_000;
        // The window closes with enough: the next one starts now, still waiting.
        assert_eq!(a.body_deadline(110_000, &limits), Ok(Some(120_000)));
        // Off: no floor at all.
        let off = Limits { min_body_rate: 0, ..limits };
        assert_eq!(a.body_deadline(1_000_000, &off), Ok(None));
    }

    #[tokio::test]
    async fn a_metered_body_reports_waits_and_bytes() {
        use http_body_util::BodyExt as _;
        let a = Activity::new();
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<hyper::body::Frame<bytes::Bytes>, io::Error>>();
        let mut body = Metered::new(http_body_util::StreamBody::new(rx), a.clone());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(hyper::body::Body::poll_frame(Pin::new(&mut body), &mut cx).is_pending());
        assert_eq!(a.body_clock().waiting, 1);
        // A second pending read is the same wait.
        assert!(hyper::body::Body::poll_frame(Pin::new(&mut body), &mut cx).is_pending());
        assert_eq!(a.body_clock().waiting, 1);
        tx.unbounded_send(Ok(hyper::body::Frame::data(bytes::Bytes::from_static(b"abc")))).expect("send");
        let frame = body.frame().await.expect("a frame").expect("data");
        assert_eq!(frame.into_data().ok().as_deref(), Some(&b"abc"[..]));
        let clock = a.body_clock();
        assert_eq!((clock.waiting, clock.bytes), (0, 3));
        drop(clock);
        assert!(hyper::body::Body::poll_frame(Pin::new(&mut body), &mut cx).is_pending());
        drop(body);
        assert_eq!(a.body_clock().waiting, 0, "a dropped body no longer waits");
    }

    #[tokio::test]
    async fn the_gate_refuses_over_the_cap_and_reopens() {
        let mut gate = Gate::new(2);
        let peer: SocketAddr = ([127, 0, 0, 1], 1).into();
        let first = gate.admit(peer).expect("first");
        let _second = gate.admit(peer).expect("second");
        assert!(gate.admit(peer).is_none());
        assert!(gate.admit(peer).is_none());
        drop(first);
        assert!(gate.admit(peer).is_some());
    }
}
