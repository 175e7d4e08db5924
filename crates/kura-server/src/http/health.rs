//! Liveness and readiness probes: `/kura/health/live`, `/kura/health/ready`.

use http::{Response, StatusCode};

/// Which probe a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The process is up.
    Live,
    /// The stores are open and the server accepts requests.
    Ready,
}

/// The probe a path names, if any.
pub fn probe(path: &str) -> Option<Probe> {
    match path {
        "/kura/health/live" => Some(Probe::Live),
        "/kura/health/ready" => Some(Probe::Ready),
        _ => None,
    }
}

/// Answers a probe. The listener only accepts once the stores are open, so both answer 200.
pub fn respond(probe: Probe) -> Response<s3s::Body> {
    match probe {
        Probe::Live => super::text_response(StatusCode::OK, "live\n"),
        Probe::Ready => super::text_response(StatusCode::OK, "ready\n"),
    }
}
