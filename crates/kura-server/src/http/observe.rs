//! The end of a request, seen where it really ends: at its last response byte. A response's body is
//! wrapped in [`Observed`], which counts the bytes it hands to the connection and, when the body ends
//! or is dropped (the client went away, or a HEAD response whose body is never sent), writes the
//! request's log line, its metrics and its audit line once, with the bytes actually sent and the time
//! the last of them left.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::metrics::{InFlight, Outcome};

/// Everything the request's last line needs, gathered when its response head was ready.
pub struct Finish {
    /// The audit log to write to, with the request's record (all but what only the end knows).
    pub audit: Option<(Arc<crate::audit::Audit>, crate::audit::Record)>,
    /// The request id.
    pub request_id: String,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The request's method.
    pub method: http::Method,
    /// The request's path (never its query, which may carry a presigned signature).
    pub path: String,
    /// The API that served it.
    pub api: &'static str,
    /// The operation, when one was recognised.
    pub operation: Option<String>,
    /// The response status.
    pub status: u16,
    /// The S3/STS error code of an error response.
    pub error_code: Option<String>,
    /// Request body bytes (Content-Length).
    pub bytes_in: u64,
    /// When the request arrived.
    pub started: Instant,
    /// Keeps the request counted in flight until the end, and is the registry to record into.
    pub in_flight: InFlight,
}

impl Finish {
    /// Writes the log line, the metrics and the audit line for a response that sent `bytes_out` body
    /// bytes; `complete` is whether the whole body went out.
    fn write(self, bytes_out: u64, complete: bool) {
        let took = self.started.elapsed();
        let duration_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let operation = self.operation.as_deref().unwrap_or("-");
        // Probes and scrapes come every few seconds: only their failures are worth an INFO line.
        let routine = matches!(self.api, "health" | "metrics") && self.status < 400;
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "kura::request",
                    $level,
                    request_id = %self.request_id,
                    peer = %self.peer,
                    method = %self.method,
                    path = %self.path,
                    api = %self.api,
                    operation = %operation,
                    status = self.status,
                    error_code = %self.error_code.as_deref().unwrap_or("-"),
                    bytes_in = self.bytes_in,
                    bytes_out,
                    complete,
                    duration_us,
                )
            };
        }
        if routine {
            line!(tracing::Level::DEBUG);
        } else {
            line!(tracing::Level::INFO);
        }
        self.in_flight.metrics().observe(&Outcome {
            api: self.api,
            operation: self.operation.as_deref(),
            status: self.status,
            error_code: self.error_code.as_deref(),
            bytes_in: self.bytes_in,
            bytes_out,
            took,
        });
        if let Some((audit, mut record)) = self.audit {
            record.time = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            record.bytes_out = bytes_out;
            record.duration_ms = took.as_secs_f64() * 1000.0;
            audit.record(record);
        }
    }
}

/// A response body that reports the request's end (see the module documentation).
pub struct Observed {
    inner: s3s::Body,
    sent: u64,
    finish: Option<Finish>,
}

impl Observed {
    /// Wraps `inner`; `finish` runs once, at the end of the body or when it is dropped.
    pub fn new(inner: s3s::Body, finish: Finish) -> Self {
        Self { inner, sent: 0, finish: Some(finish) }
    }

    fn end(&mut self, complete: bool) {
        if let Some(finish) = self.finish.take() {
            finish.write(self.sent, complete);
        }
    }
}

impl Body for Observed {
    type Data = Bytes;
    type Error = <s3s::Body as Body>::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                }
            }
            Poll::Ready(None) => this.end(true),
            Poll::Ready(Some(Err(_))) => this.end(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // Ended without being read to the end: complete only if nothing was left to send (an empty
        // body, or a HEAD response, whose body the connection never sends).
        let complete = self.inner.is_end_stream();
        self.end(complete);
    }
}
