//! Log levels by fault: s3s logs every error an operation returns at ERROR, a client's NoSuchKey as much
//! as a failing disk. This layer lets only server errors (5xx) through: s3s's ERROR line for a client error
//! (4xx) or an operation kura does not implement (501) is dropped, and so is its dump of every 5xx
//! response. A client error is still logged, at INFO, by the request line (its status), and the
//! audit log records its code; its message went to the client.
//!
//! (The event cannot be logged again at DEBUG from here: tracing drops events emitted while an event is
//! being dispatched, and a layer cannot change an event's level.)

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The layer; add it outermost so its verdict applies to every other layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerErrorsOnly;

/// The error an s3s event carries: `err` (its "op returns error" and "failed to prepare" lines, in
/// `Debug` form) or `error` (the line its instrumented `prepare` adds, in `Display` form).
#[derive(Default)]
struct ErrField(Option<String>);

impl Visit for ErrField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "err" | "error") {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for ServerErrorsOnly {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || !meta.target().starts_with("s3s") {
            return true;
        }
        // s3s prints every 5xx response whole (headers and body) at ERROR: the request line has its
        // status and code, and the operation's own error line its cause.
        if meta.fields().field("resp").is_some() {
            return false;
        }
        let mut err = ErrField::default();
        event.record(&mut err);
        let status = err.0.as_deref().and_then(kura_server::errors::status_of_logged_error);
        // NotImplemented (501) is the client asking for what kura does not do, not a failure.
        !status.is_some_and(|s| s.is_client_error() || s.as_u16() == 501)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(filter: &str, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
            .with(ServerErrorsOnly);
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8")
    }

    #[test]
    fn only_server_errors_are_logged_at_error() {
        let not_found = s3s::S3Error::with_message(s3s::S3ErrorCode::NoSuchKey, "The specified key does not exist.");
        let broken = s3s::S3Error::new(s3s::S3ErrorCode::InternalError);
        let unsupported = s3s::S3Error::new(s3s::S3ErrorCode::NotImplemented);
        let emit = || {
            tracing::error!(target: "s3s::ops", op = "GetObject", err = ?not_found, "op returns error");
            tracing::error!(target: "s3s::ops", op = "GetBucketInventory", err = ?unsupported, "op returns error");
            tracing::error!(target: "s3s::ops", op = "PutObject", err = ?broken, "op returns error");
            tracing::error!(target: "s3s::ops", error = %not_found, "the instrumented prepare's line");
            tracing::error!(target: "s3s::service", resp = ?"Response { status: 501, body: NotImplemented }");
        };
        let out = logged("info,s3s=warn", emit);
        assert!(!out.contains("NoSuchKey") && !out.contains("NotImplemented"), "{out}");
        assert!(out.contains("ERROR") && out.contains("InternalError"), "{out}");
        // Other events pass untouched.
        let out = logged("info", || tracing::error!(target: "kura::reload", "configuration rejected"));
        assert!(out.contains("configuration rejected"), "{out}");
    }
}
