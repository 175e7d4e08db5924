//! The web console at `/kura/console/`: its embedded front end ([`assets`]), sessions ([`session`]:
//! sign-in with an access key and secret key, a sealed HttpOnly cookie, a CSRF token), the brute-force
//! backoff of sign-in ([`backoff`]), the proxy that re-signs the browser's calls to the S3 and admin
//! APIs as the signed-in principal ([`proxy`]), and the console's own JSON endpoints ([`api`]).
//!
//! Nothing is authorised by the console itself except sign-in: S3, admin and ticket calls are handed
//! back to the dispatch re-signed ([`Outcome::Forward`]) and served by the ordinary path; the console's
//! own reads (permissions of oneself, identity, audit) are decided by the same policy engine.
//!
//! Every call but sign-in, the session read and the files needs the session cookie and `X-Kura-Csrf`;
//! every call but the files is refused when its `Origin` is not this server's, or when it is sent to a
//! name the server does not answer to.

pub mod api;
pub mod assets;
pub mod backoff;
mod error;
pub mod proxy;
pub mod session;

pub use error::ConsoleError;

use crate::audit::{Attribution, AuditSlot};
use crate::authz::Authorizer;
use crate::iam::Iam;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use kura_store::MetaStore;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The console's path (the front end is at `PREFIX/`).
pub const PREFIX: &str = "/kura/console";

/// The largest JSON body a console endpoint reads.
const MAX_JSON_BODY: usize = 64 * 1024;

/// How often expired session records are swept.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether a path belongs to the console.
pub fn is_console(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// What the console made of a request.
pub enum Outcome {
    /// Its answer.
    Answer(Response<s3s::Body>),
    /// The re-signed request, for the dispatch to serve as any S3, admin or ticket request.
    Forward(Request<s3s::Body>),
}

/// The console's state.
pub struct Console {
    iam: Arc<Iam>,
    authz: Arc<Authorizer>,
    meta: Arc<dyn MetaStore>,
    audit: Arc<crate::audit::Audit>,
    /// Whether the listener serves TLS.
    tls: bool,
    /// The names the server answers to (empty: any).
    names: Vec<String>,
    backoff: backoff::Backoff,
}

/// What the console knows of the request's connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The TCP peer.
    pub addr: SocketAddr,
    /// The client after trusted proxies.
    pub client: IpAddr,
    /// Whether the page was served over HTTPS (TLS here, or a trusted proxy says so).
    pub https: bool,
}

/// One console endpoint, decided once from the path below [`PREFIX`].
#[derive(Debug, PartialEq, Eq)]
enum Endpoint<'a> {
    /// `PREFIX` itself: redirected to `PREFIX/`.
    Redirect,
    /// A file of the front end.
    Asset(&'a str),
    Session,
    Presign,
    Can,
    Identity,
    Audit,
    /// An unknown `api/` path.
    UnknownApi,
    Proxy(proxy::Target, &'a str),
}

fn route(rest: &str) -> Endpoint<'_> {
    let Some(rest) = rest.strip_prefix('/') else { return Endpoint::Redirect };
    let proxied = |prefix: &str| {
        let after = rest.strip_prefix(prefix)?;
        (after.is_empty() || after.starts_with('/')).then_some(after)
    };
    if let Some(after) = proxied("s3") {
        return Endpoint::Proxy(proxy::Target::S3, after);
    }
    if let Some(after) = proxied("admin") {
        return Endpoint::Proxy(proxy::Target::Admin, after);
    }
    match rest {
        "tickets" => Endpoint::Proxy(proxy::Target::Tickets, ""),
        "api/session" => Endpoint::Session,
        "api/presign" => Endpoint::Presign,
        "api/can" => Endpoint::Can,
        "api/identity" => Endpoint::Identity,
        "api/audit" => Endpoint::Audit,
        _ if rest == "api" || rest.starts_with("api/") => Endpoint::UnknownApi,
        _ => Endpoint::Asset(rest),
    }
}

/// Headers every console answer carries: never sniffed, never framed, no referrer to other sites.
pub fn protect(headers: &mut HeaderMap) {
    headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

/// A JSON answer of the console's own (never cached, never rendered as a page).
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<s3s::Body> {
    let mut resp = error::bytes_response(status, bytes::Bytes::from(body.to_string()));
    let headers = resp.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    protect(headers);
    resp
}

/// `host[:port]` lower-cased, without the default port of `scheme`.
fn normalise_host(host: &str, scheme: &str) -> String {
    let host = host.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    host.strip_suffix(default).map(str::to_owned).unwrap_or(host)
}

impl Console {
    /// The console over the live IAM state, the policy engine, the metadata store (sessions, bucket
    /// settings) and the audit log (its ring); `tls` whether the listener serves TLS, `names` the host
    /// names the server answers to (empty: any).
    pub fn new(
        iam: Arc<Iam>,
        authz: Arc<Authorizer>,
        meta: Arc<dyn MetaStore>,
        audit: Arc<crate::audit::Audit>,
        (tls, names): (bool, Vec<String>),
    ) -> Self {
        Self { iam, authz, meta, audit, tls, names, backoff: backoff::Backoff::default() }
    }

    /// Answers a console request, or hands it back re-signed.
    pub async fn handle(&self, req: Request<s3s::Body>, peer: SocketAddr, slot: &AuditSlot) -> Outcome {
        let path = req.uri().path().to_owned();
        let rest = path.strip_prefix(PREFIX).unwrap_or_default();
        let endpoint = route(rest);
        match endpoint {
            Endpoint::Redirect => {
                let mut resp = error::bytes_response(StatusCode::MOVED_PERMANENTLY, bytes::Bytes::new());
                resp.headers_mut().insert(http::header::LOCATION, HeaderValue::from_static("/kura/console/"));
                return Outcome::Answer(resp);
            }
            Endpoint::Asset(name) => {
                return Outcome::Answer(assets::serve(req.method(), name).unwrap_or_else(|e| e.response()));
            }
            _ => {}
        }
        let state = self.iam.snapshot();
        let (client, secure) = crate::authz::context::client_of(peer, req.headers(), &state.trusted_proxies);
        let peer = Peer { addr: peer, client, https: self.tls || secure };
        slot.fill(|f| f.source_ip = Some(client.to_string()));
        match self.serve(req, endpoint, peer, slot).await {
            Ok(outcome) => outcome,
            Err(e) => {
                if e.status().is_server_error() {
                    tracing::warn!(target: "kura::console", code = %e.code(), "console call failed: {e}");
                }
                Outcome::Answer(e.response())
            }
        }
    }

    async fn serve(
        &self,
        req: Request<s3s::Body>,
        endpoint: Endpoint<'_>,
        peer: Peer,
        slot: &AuditSlot,
    ) -> Result<Outcome, ConsoleError> {
        let method = req.method().clone();
        // Named first, so that a call refused for its origin, cookie or token is audited too (a
        // forwarded call's operation is then the one the S3 or admin API names).
        let operation = match &endpoint {
            Endpoint::Session if method == Method::POST => Some("ConsoleSignIn"),
            Endpoint::Session if method == Method::DELETE => Some("ConsoleSignOut"),
            Endpoint::Session => Some("ConsoleGetSession"),
            Endpoint::Presign => Some("ConsolePresign"),
            Endpoint::Can => Some("ConsoleCan"),
            Endpoint::Identity => Some("ConsoleListIdentity"),
            Endpoint::Audit => Some("ConsoleReadAudit"),
            Endpoint::Proxy(..) => Some("ConsoleProxy"),
            Endpoint::Redirect | Endpoint::Asset(_) | Endpoint::UnknownApi => None,
        };
        if let Some(op) = operation {
            slot.fill(|f| f.operation = Some(op.to_owned()));
        }
        let host = check_origin(&self.names, req.headers())?;
        if endpoint == Endpoint::Session && method == Method::POST {
            return self.sign_in(req, peer, slot).await.map(Outcome::Answer);
        }
        if endpoint == Endpoint::UnknownApi {
            return Err(ConsoleError::NotFound(format!("the console has no endpoint {}", req.uri().path())));
        }
        let state = self.iam.snapshot();
        let now = crate::base::clock::unix_now();
        let session = session::current(self.meta.as_ref(), &state, req.headers(), now).await?;
        slot.fill(|f| f.caller = Attribution::of(&session.caller, "console"));
        if endpoint == Endpoint::Session && method == Method::GET {
            return Ok(Outcome::Answer(json_response(StatusCode::OK, &session_json(&session))));
        }
        session::check_csrf(&session, req.headers())?;
        if matches!(endpoint, Endpoint::Presign | Endpoint::Can) && method != Method::POST {
            return Err(ConsoleError::MethodNotAllowed(format!("use POST with a JSON body, not {method}")));
        }
        let answer = match endpoint {
            Endpoint::Session if method == Method::DELETE => {
                session::end(self.meta.as_ref(), &session.id).await?;
                tracing::info!(target: "kura::console", principal = %session.caller.arn(), "console sign-out");
                let mut resp = error::bytes_response(StatusCode::NO_CONTENT, bytes::Bytes::new());
                set_cookie_header(resp.headers_mut(), &session::clear_cookie(peer.https));
                protect(resp.headers_mut());
                resp
            }
            Endpoint::Session => {
                return Err(ConsoleError::MethodNotAllowed(format!(
                    "the session is read with GET, opened with POST and ended with DELETE, not {method}"
                )));
            }
            Endpoint::Proxy(target, rest) => {
                let access_key = session.record.access_key.clone();
                let signer = proxy::Signer {
                    access_key: &access_key,
                    secret: session.secret.expose(),
                    region: self.iam.region(),
                };
                return proxy::resign(req, target, rest, &host, &signer).map(Outcome::Forward);
            }
            Endpoint::Presign => {
                let body = read_json(req, MAX_JSON_BODY).await?;
                api::presign(&session, &body, &host, peer.https, self.iam.region())?
            }
            Endpoint::Can => {
                let (parts, body) = req.into_parts();
                let body = read_body(body, MAX_JSON_BODY).await?;
                let who = api::Who { state: &state, session: &session, peer, headers: &parts.headers };
                api::can(&self.authz, self.meta.as_ref(), &who, &body).await?
            }
            Endpoint::Identity | Endpoint::Audit => {
                if method != Method::GET {
                    return Err(ConsoleError::MethodNotAllowed(format!("use GET, not {method}")));
                }
                let who = api::Who { state: &state, session: &session, peer, headers: req.headers() };
                if endpoint == Endpoint::Identity {
                    api::identity(&self.authz, &who)?
                } else {
                    api::audit(&self.authz, &who, &self.audit, req.uri().query())?
                }
            }
            Endpoint::Redirect | Endpoint::Asset(_) | Endpoint::UnknownApi => {
                return Err(ConsoleError::NotFound("no such console endpoint".to_owned()));
            }
        };
        Ok(Outcome::Answer(answer))
    }

    /// `POST api/session`: the sign-in.
    async fn sign_in(
        &self,
        req: Request<s3s::Body>,
        peer: Peer,
        slot: &AuditSlot,
    ) -> Result<Response<s3s::Body>, ConsoleError> {
        let started = std::time::Instant::now();
        if let Err(secs) = self.backoff.check(peer.client, started) {
            return Err(ConsoleError::SlowDown(secs));
        }
        let json =
            req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return Err(ConsoleError::InvalidRequest("send the sign-in as Content-Type: application/json".to_owned()));
        }
        let body = read_body(req.into_body(), 4096).await?;
        let input: session::SignIn = serde_json::from_slice(&body).map_err(|_| {
            ConsoleError::InvalidArgument(
                "the body must be JSON {\"access_key_id\": \"…\", \"secret_access_key\": \"…\"}".to_owned(),
            )
        })?;
        let state = self.iam.snapshot();
        let known = state.secret_for(&input.access_key_id).is_some();
        slot.fill(|f| f.caller = Attribution::claimed(&input.access_key_id, known, "console"));
        let verified = session::verify(&state, &input);
        drop(input);
        let principal = match verified {
            Ok(p) => p,
            Err(e) => {
                self.backoff.failed(peer.client, std::time::Instant::now());
                tracing::info!(target: "kura::console", source = %peer.client, "console sign-in refused: {e}");
                return Err(e);
            }
        };
        self.backoff.succeeded(peer.client);
        let now = crate::base::clock::unix_now();
        let (session, cookie) = session::open_new(self.meta.as_ref(), &state.identity.keyring, principal, now).await?;
        slot.fill(|f| f.caller = Attribution::of(&session.caller, "console"));
        tracing::info!(target: "kura::console", principal = %session.caller.arn(), "console sign-in");
        let mut resp = json_response(StatusCode::OK, &session_json(&session));
        set_cookie_header(resp.headers_mut(), &session::set_cookie(&cookie, peer.https));
        Ok(resp)
    }
}

/// Refuses a call whose `Origin` is not this server's (`http(s)://` + the `Host` it was sent to), or
/// that was sent to a name the server does not answer to; returns the host (normalised).
fn check_origin(names: &[String], headers: &HeaderMap) -> Result<String, ConsoleError> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().ok().filter(|h| !h.is_empty()),
        _ => None,
    };
    let host_name = host
        .ok_or_else(|| ConsoleError::InvalidRequest("send one Host header: the name of this server".to_owned()))?
        .to_ascii_lowercase();
    let known = |scheme: &str| names.contains(&normalise_host(&host_name, scheme));
    if !names.is_empty() && !known("http") && !known("https") {
        return Err(ConsoleError::InvalidOrigin(format!(
            "this server does not answer to the name {host_name}: open the console at one of its URLs"
        )));
    }
    let mut origins = headers.get_all(http::header::ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (None, _) => {}
        (Some(origin), None) => {
            let origin = origin.to_str().unwrap_or_default().to_ascii_lowercase();
            let same = ["http", "https"].iter().any(|scheme| {
                origin
                    .strip_prefix(scheme)
                    .and_then(|o| o.strip_prefix("://"))
                    .is_some_and(|o| normalise_host(o, scheme) == normalise_host(&host_name, scheme))
            });
            if !same {
                return Err(ConsoleError::InvalidOrigin("the console answers only pages of its own origin".to_owned()));
            }
        }
        (Some(_), Some(_)) => {
            return Err(ConsoleError::InvalidOrigin("send one Origin header".to_owned()));
        }
    }
    Ok(host_name)
}

fn set_cookie_header(headers: &mut HeaderMap, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(http::header::SET_COOKIE, v);
    }
}

/// The session as the console's front end reads it.
fn session_json(session: &session::Session) -> serde_json::Value {
    serde_json::json!({
        "access_key_id": session.record.access_key,
        "principal_arn": session.caller.arn(),
        "csrf": session.record.csrf,
        "expires": crate::base::clock::iso8601(session.record.expires),
    })
}

/// A request body of at most `limit` bytes.
async fn read_body(body: s3s::Body, limit: usize) -> Result<bytes::Bytes, ConsoleError> {
    let mut body = body;
    body.store_all_limited(limit)
        .await
        .map_err(|_| ConsoleError::TooLarge(format!("console request bodies are limited to {limit} bytes")))
}

/// A request's body of at most `limit` bytes.
async fn read_json(req: Request<s3s::Body>, limit: usize) -> Result<bytes::Bytes, ConsoleError> {
    read_body(req.into_body(), limit).await
}

/// Deletes expired session records every [`SWEEP_INTERVAL`]; runs until the process ends.
pub async fn sweep_forever(meta: Arc<dyn MetaStore>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        match session::sweep_expired(meta.as_ref(), crate::base::clock::unix_now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(target: "kura::console", sessions = n, "expired console sessions deleted"),
            Err(e) => tracing::warn!(target: "kura::console", error = %e, "sweeping console sessions failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(""), Endpoint::Redirect);
        assert_eq!(route("/"), Endpoint::Asset(""));
        assert_eq!(route("/app.js"), Endpoint::Asset("app.js"));
        assert_eq!(route("/api/session"), Endpoint::Session);
        assert_eq!(route("/api/nope"), Endpoint::UnknownApi);
        assert_eq!(route("/s3"), Endpoint::Proxy(proxy::Target::S3, ""));
        assert_eq!(route("/s3/"), Endpoint::Proxy(proxy::Target::S3, "/"));
        assert_eq!(route("/s3/b/k"), Endpoint::Proxy(proxy::Target::S3, "/b/k"));
        assert_eq!(route("/s3x/b"), Endpoint::Asset("s3x/b"));
        assert_eq!(route("/admin/users"), Endpoint::Proxy(proxy::Target::Admin, "/users"));
        assert_eq!(route("/tickets"), Endpoint::Proxy(proxy::Target::Tickets, ""));
        assert!(is_console("/kura/console") && is_console("/kura/console/x"));
        assert!(!is_console("/kura/consoles") && !is_console("/kura/admin/v1/"));
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn only_the_servers_own_origin_and_names_are_answered() {
        let any: Vec<String> = Vec::new();
        let ok = |names: &[String], pairs: &[(&str, &str)]| check_origin(names, &headers(pairs));
        assert_eq!(ok(&any, &[("host", "Kura.Example:9000")]).expect("no origin"), "kura.example:9000");
        assert!(ok(&any, &[("host", "kura.example:9000"), ("origin", "http://kura.example:9000")]).is_ok());
        assert!(ok(&any, &[("host", "kura.example:9000"), ("origin", "https://KURA.example:9000")]).is_ok());
        assert!(ok(&any, &[("host", "kura.example"), ("origin", "https://kura.example:443")]).is_ok());
        assert!(ok(&any, &[("host", "kura.example:443"), ("origin", "https://kura.example")]).is_ok());
        for bad in [
            "http://evil.example",
            "null",
            "http://kura.example:9001",
            "http://kura.example:9000.evil",
            "kura.example:9000",
        ] {
            let r = ok(&any, &[("host", "kura.example:9000"), ("origin", bad)]);
            assert!(matches!(r, Err(ConsoleError::InvalidOrigin(_))), "{bad}");
        }
        let two = ok(
            &any,
            &[
                ("host", "kura.example:9000"),
                ("origin", "http://kura.example:9000"),
                ("origin", "http://kura.example:9000"),
            ],
        );
        assert!(matches!(two, Err(ConsoleError::InvalidOrigin(_))));
        assert!(matches!(ok(&any, &[]), Err(ConsoleError::InvalidRequest(_))));
        assert!(matches!(ok(&any, &[("host", "a:1"), ("host", "b:1")]), Err(ConsoleError::InvalidRequest(_))));
        let names = vec!["s3.example.com".to_owned(), "127.0.0.1:9000".to_owned()];
        assert!(ok(&names, &[("host", "s3.example.com"), ("origin", "https://s3.example.com")]).is_ok());
        assert!(ok(&names, &[("host", "s3.example.com:443")]).is_ok());
        assert!(ok(&names, &[("host", "127.0.0.1:9000")]).is_ok());
        let rebound = ok(&names, &[("host", "evil.example"), ("origin", "http://evil.example")]);
        assert!(
            matches!(rebound, Err(ConsoleError::InvalidOrigin(_))),
            "DNS rebinding: a name kura does not answer to"
        );
    }
}
