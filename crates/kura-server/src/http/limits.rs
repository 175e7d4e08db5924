//! Connection limits: a connection must send each request's headers within `header_read_timeout`, is
//! closed after `idle_timeout` without traffic, and at most `max_connections` are open at once.
//!
//! hyper has no idle timeout for HTTP/1, and its header-read timeout also closes idle keep-alive
//! connections and does not cover the protocol sniffing of the `auto` builder, so kura keeps the clock
//! itself: the connection's IO and its service report into an [`Activity`], and a watchdog racing the
//! connection ([`expired`]) drops it when a deadline passes. The same rules apply to HTTP/1 and HTTP/2.

use crate::config::LimitsSection;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
}

impl From<&LimitsSection> for Limits {
    fn from(s: &LimitsSection) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs),
            max_connections: s.max_connections,
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
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Headers(d) => write!(f, "no complete request headers within {} s", d.as_secs()),
            Self::Idle(d) => write!(f, "idle for {} s", d.as_secs()),
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
}

impl Activity {
    /// A connection starting now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            head_started: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
        })
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
/// deadline that moved later is simply re-checked.
pub async fn expired(activity: &Activity, limits: &Limits) -> Expiry {
    loop {
        let (at, why) = activity.deadline(limits);
        if activity.now_ms() >= at {
            return why;
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
