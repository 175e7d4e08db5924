//! The listener and the one dispatch: every connection on the port is served here, and each request
//! goes to exactly one API (health probes, metrics, container credentials, the admission webhook, the
//! web console, STS or S3; the console hands its S3, admin and ticket calls back re-signed, and they
//! take the S3 path like any other). Every response carries `x-amz-request-id`; its body is wrapped ([`observe`]) so that the request's
//! log line, metrics and audit line are written once, when its last byte has been sent.

pub mod aws_chunked;
mod credentials;
mod digests;
mod health;
pub mod limits;
mod observe;
pub mod post_upload;
pub mod scrape;
pub mod spool;
pub mod tls;
pub mod webhook;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::service::S3Service;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::net::TcpListener;

use crate::authn::gate;
use crate::authn::sigv4::Admission;
use crate::metrics::Metrics;

pub use observe::Observed;

/// A request's body as the dispatch receives it: hyper's, reporting to its connection's body-rate clock
/// ([`limits::Metered`]).
pub type RequestBody = limits::Metered<Incoming>;

/// What a request is for, decided once from its method, path and content type.
enum Endpoint {
    Health(health::Probe),
    Metrics,
    Credentials,
    Webhook,
    /// The web console (`/kura/console` and below).
    Console,
    Sts,
    /// A CORS preflight (`OPTIONS` on an S3 path), answered from the bucket's rules without
    /// authentication and without running any operation.
    Preflight,
    S3,
}

fn route(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> Endpoint {
    let path = uri.path();
    if let Some(p) = health::probe(path) {
        Endpoint::Health(p)
    } else if path == scrape::PATH {
        Endpoint::Metrics
    } else if path == credentials::PATH {
        Endpoint::Credentials
    } else if path == webhook::PATH {
        Endpoint::Webhook
    } else if crate::console::is_console(path) {
        Endpoint::Console
    } else if crate::sts::is_sts(method, uri, headers) {
        Endpoint::Sts
    } else if method == http::Method::OPTIONS && !path.starts_with(crate::admin::PREFIX) && path != crate::tickets::PATH
    {
        Endpoint::Preflight
    } else {
        Endpoint::S3
    }
}

/// What watches the requests: the audit log, the metrics and who may read them.
pub struct Observers {
    /// The audit log (possibly disabled), shared with the background work that writes to it.
    pub audit: Arc<crate::audit::Audit>,
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
    /// Who may read `/kura/metrics`.
    pub scrape: scrape::ScrapeAccess,
}

/// Everything a connection needs to serve requests.
pub struct Dispatch {
    s3: S3Service,
    sts: crate::sts::Sts,
    aliases: crate::authn::sigv4::HostAliases,
    sigv2: bool,
    iam: Arc<crate::iam::Iam>,
    audit: Arc<crate::audit::Audit>,
    metrics: Arc<Metrics>,
    scrape: scrape::ScrapeAccess,
    /// The metadata store, whose health the readiness probe reports.
    meta: Arc<dyn kura_store::MetaStore>,
    next_request: AtomicU64,
    instance: u32,
    /// Where object uploads without a length are buffered ([`spool`]); `None`: they are refused.
    spool_dir: Option<std::path::PathBuf>,
    /// The web console; `None`: its paths answer 404.
    console: Option<crate::console::Console>,
    /// The access decisions the dispatcher makes before s3s reads a body (anonymous POST forms).
    access: crate::authz::KuraAccess,
}

/// A request's answer and what the end of the request needs to know about it.
struct Answer {
    api: &'static str,
    resp: Response<s3s::Body>,
    /// The access key the request claimed, if any (named in the audit line when it was refused).
    signer: Option<String>,
    /// The host the request was signed for, after host aliases.
    signed_host: Option<String>,
}

impl Answer {
    fn of(api: &'static str, resp: Response<s3s::Body>) -> Self {
        Self { api, resp, signer: None, signed_host: None }
    }
}

impl Dispatch {
    /// A dispatcher over the S3 and STS services; `aliases` are the names a signature may be made for,
    /// `sigv2` whether SigV2 signatures are accepted, `meta` the store whose health the readiness probe
    /// reports.
    pub fn new(
        s3: S3Service,
        sts: crate::sts::Sts,
        (aliases, sigv2): (crate::authn::sigv4::HostAliases, bool),
        (iam, access): (Arc<crate::iam::Iam>, crate::authz::KuraAccess),
        meta: Arc<dyn kura_store::MetaStore>,
        observers: Observers,
    ) -> Self {
        let Observers { audit, metrics, scrape } = observers;
        Self {
            s3,
            sts,
            aliases,
            sigv2,
            iam,
            audit,
            metrics,
            scrape,
            meta,
            next_request: AtomicU64::new(1),
            instance: rand::random(),
            spool_dir: None,
            console: None,
            access,
        }
    }

    /// Serves the web console at `/kura/console/`.
    pub fn with_console(mut self, console: crate::console::Console) -> Self {
        self.console = Some(console);
        self
    }

    /// Accepts object uploads without a length whose signature verifies, buffering them in `dir`
    /// (see [`spool`]).
    pub fn with_spool_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.spool_dir = Some(dir);
        self
    }

    fn request_id(&self) -> String {
        format!("{:08X}{:016X}", self.instance, self.next_request.fetch_add(1, Ordering::Relaxed))
    }

    async fn serve(
        self: Arc<Self>,
        mut req: Request<RequestBody>,
        peer: SocketAddr,
    ) -> Result<Response<Observed>, s3s::HttpError> {
        let started = Instant::now();
        let in_flight = self.metrics.in_flight();
        let request_id = self.request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes_in = content_length(req.headers());
        let slot = crate::audit::AuditSlot::default();
        let answer = match host_from_authority(&mut req) {
            Err(e) => Answer::of("s3", error_response(&e, &request_id)),
            // Boxed: the answer's future holds s3s's and is kilobytes large; inline, it made this
            // future as large, and hyper copies the request's future as it hands it on.
            Ok(()) => Box::pin(self.answer(req, peer, &request_id, &slot)).await?,
        };
        let Answer { api, mut resp, signer, signed_host } = answer;
        let mut error_code = complete_error_document(&mut resp, &request_id);
        if error_code.as_deref() == Some("InvalidPolicyDocument") && method == http::Method::POST && api == "s3" {
            error_code = post_condition_refusal(&mut resp, &request_id).or(error_code);
        }
        if api != "console" && method == http::Method::GET && may_run_as_a_page(resp.headers()) {
            // Objects (and every other answer of the port) are never a page that runs with the
            // console's origin: a stored HTML file opened from a link would otherwise read the
            // console's session (see README, "Web console"). Only a GET is navigated to and
            // rendered, and only as what its final Content-Type says.
            resp.headers_mut().insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
        }
        unquote_attributes_etag(&mut resp);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amz-request-id", v);
        }
        let status = resp.status();
        let mut facts = slot.take();
        // Every request but probes, scrapes and the console's files is audited, when someone wants the
        // record: the file or stdout, or an audit viewer watching the ring.
        let console_file = api == "console" && facts.operation.is_none();
        let audited = !matches!(api, "health" | "metrics") && !console_file && self.audit.wanted();
        let operation = if audited { facts.operation.clone() } else { facts.operation.take() };
        // STS actions are whatever the client wrote: only the ones kura knows name an operation.
        let operation = operation.filter(|op| api != "sts" || crate::sts::ACTIONS.contains(&op.as_str()));
        let audit = audited.then(|| {
            let record = self.audit_record(
                api,
                &request_id,
                (peer, bytes_in),
                (signer, signed_host),
                facts,
                (status, &error_code),
            );
            (self.audit.clone(), record)
        });
        let finish = observe::Finish {
            audit,
            request_id,
            peer,
            method,
            path,
            api,
            operation,
            status: status.as_u16(),
            error_code,
            bytes_in,
            started,
            in_flight,
        };
        Ok(resp.map(|body| Observed::new(body, finish)))
    }

    /// Routes the request to its API and answers it.
    async fn answer(
        &self,
        req: Request<RequestBody>,
        peer: SocketAddr,
        request_id: &str,
        slot: &crate::audit::AuditSlot,
    ) -> Result<Answer, s3s::HttpError> {
        let endpoint = route(req.method(), req.uri(), req.headers());
        Ok(match endpoint {
            Endpoint::Health(p) => Answer::of("health", health::respond(p, self.meta.as_ref()).await),
            Endpoint::Metrics => Answer::of(
                "metrics",
                scrape::respond(&self.metrics, &self.scrape, req.method(), peer.ip(), req.headers()),
            ),
            Endpoint::Credentials => {
                let answer = Box::pin(credentials::respond(&self.iam, req.method(), req.headers(), slot));
                Answer::of("credentials", answer.await)
            }
            // The other APIs are boxed: their futures would make every S3 request's as large.
            Endpoint::Webhook => Answer::of("webhook", Box::pin(webhook::respond(&self.iam, req, slot)).await),
            Endpoint::Sts => Answer::of("sts", Box::pin(self.sts(req, request_id, slot)).await),
            Endpoint::Preflight => Answer::of("s3", Box::pin(self.preflight(&req, request_id, slot)).await),
            Endpoint::Console => Box::pin(self.console(req, peer, request_id, slot)).await?,
            Endpoint::S3 => {
                let no_length = unsized_body(&req);
                let req = if post_upload::is_post_upload(req.method(), req.uri(), req.headers()) {
                    match Box::pin(post_form(req, &self.access)).await {
                        Ok(req) => req,
                        Err(e) => return Ok(Answer::of("s3", error_response(&e, request_id))),
                    }
                } else {
                    req.map(s3s::Body::http_body)
                };
                self.s3_api(req, no_length, peer, request_id, slot).await?
            }
        })
    }

    /// Serves a request to the web console: its files and calls, or the S3 request it re-signed.
    async fn console(
        &self,
        req: Request<RequestBody>,
        peer: SocketAddr,
        request_id: &str,
        slot: &crate::audit::AuditSlot,
    ) -> Result<Answer, s3s::HttpError> {
        let no_length = unsized_body(&req);
        let Some(console) = &self.console else {
            let e = crate::console::ConsoleError::NotFound("this server has no web console".to_owned());
            return Ok(Answer::of("console", e.response()));
        };
        Ok(match console.handle(req.map(s3s::Body::http_body), peer, slot).await {
            crate::console::Outcome::Answer(resp) => Answer::of("console", resp),
            crate::console::Outcome::Forward(req) => {
                let answer = self.s3_api(req, no_length, peer, request_id, slot).await?;
                // The access hook saw a presigned request: say it came through the console.
                slot.fill(|f| {
                    if f.caller.auth_type == Some("presigned") {
                        f.caller.auth_type = Some("console");
                    }
                });
                answer
            }
        })
    }

    /// Serves a request of the S3 port's signed APIs (S3, the admin API, tickets): the gate, host
    /// aliases, s3s, and the CORS headers of the answer. `no_length`: the body has no length and is not
    /// known to be empty.
    async fn s3_api(
        &self,
        req: Request<s3s::Body>,
        no_length: bool,
        peer: SocketAddr,
        request_id: &str,
        slot: &crate::audit::AuditSlot,
    ) -> Result<Answer, s3s::HttpError> {
        let path = req.uri().path();
        let api = if path.starts_with(crate::admin::PREFIX) {
            "admin"
        } else if path == crate::tickets::PATH {
            "tickets"
        } else {
            "s3"
        };
        // What the CORS headers of the answer depend on, kept before the request is consumed;
        // only a request with an Origin costs a look at the bucket's rules.
        let cors = (api == "s3" && req.headers().contains_key(http::header::ORIGIN))
            .then(|| (req.method().clone(), req.uri().clone(), cors_request_headers(req.headers())));
        let rules = gate::Rules { now: std::time::SystemTime::now(), aliases: &self.aliases, sigv2: self.sigv2 };
        let mut answer = match gate::inspect(req.method(), req.uri(), req.headers(), &rules) {
            Err(refused) => {
                tracing::info!(request_id, reason = %refused, "refused at the gate");
                Answer {
                    api,
                    resp: error_response(&crate::errors::gate_error(&refused), request_id),
                    signer: gate::claimed_access_key(req.uri(), req.headers()),
                    signed_host: None,
                }
            }
            Ok(envelope) => {
                let signer = envelope.access_key().map(str::to_owned);
                let (resp, host) = self.s3(req, no_length, (peer, request_id), slot, &envelope).await?;
                let signed_host = host.filter(|_| signer.is_some());
                Answer { api, resp, signer, signed_host }
            }
        };
        if let Some((method, uri, headers)) = cors {
            let granted = Box::pin(crate::s3::cors::actual_headers(self.meta.as_ref(), &method, &uri, &headers)).await;
            add_headers(answer.resp.headers_mut(), granted);
        }
        Ok(answer)
    }

    /// Answers a CORS preflight: 200 with the headers of the bucket's first matching rule, or the error
    /// AWS gives (400 without Origin or Access-Control-Request-Method, 403 without a matching rule).
    /// Neither the gate nor s3s sees the request: nothing is authenticated (a signature or an
    /// Authorization header is ignored) and no operation runs.
    async fn preflight(
        &self,
        req: &Request<RequestBody>,
        request_id: &str,
        slot: &crate::audit::AuditSlot,
    ) -> Response<s3s::Body> {
        let bucket = crate::s3::cors::bucket_of(req.uri());
        slot.fill(|f| {
            f.operation = Some(crate::s3::cors::PREFLIGHT_OPERATION.to_owned());
            f.bucket = bucket;
        });
        match crate::s3::cors::preflight(self.meta.as_ref(), req.uri(), req.headers()).await {
            Ok(headers) => {
                let mut resp = Response::new(s3s::Body::empty());
                add_headers(resp.headers_mut(), headers);
                resp
            }
            Err(e) => error_response(&e, request_id),
        }
    }

    /// The request's audit line, but for what only its end knows (time, bytes sent, duration).
    fn audit_record(
        &self,
        api: &'static str,
        request_id: &str,
        (peer, bytes_in): (SocketAddr, u64),
        (signer, signed_host): (Option<String>, Option<String>),
        facts: crate::audit::Facts,
        (status, error_code): (http::StatusCode, &Option<String>),
    ) -> crate::audit::Record {
        let mut caller = facts.caller;
        if caller.access_key.is_none() && caller.principal.is_none() {
            // Refused before anyone could say who it was (bad signature, unknown key): name the key.
            caller = match signer {
                Some(k) if crate::tickets::is_ticket_key(&k) => crate::audit::Attribution::ticket_key(&k),
                Some(k) => {
                    let known = self.iam.snapshot().secret_for(&k).is_some();
                    crate::audit::Attribution::claimed(&k, known, "signed")
                }
                None => crate::audit::Attribution { auth_type: Some("anonymous"), ..Default::default() },
            };
        }
        crate::audit::Record {
            time: String::new(),
            request_id: request_id.to_owned(),
            api,
            operation: facts.operation,
            bucket: facts.bucket,
            key: facts.key,
            status: status.as_u16(),
            error_code: error_code.clone(),
            bytes_in,
            bytes_out: 0,
            duration_ms: 0.0,
            source_ip: facts.source_ip.unwrap_or_else(|| peer.ip().to_canonical().to_string()),
            signed_host,
            caller,
            resources: facts.resources,
            sse: facts.sse,
            copy_source_sse: facts.copy_source_sse,
            rule: None,
            version_id: None,
        }
    }

    /// Serves an S3 request the gate let through; returns the response and the host it was signed
    /// for (after host aliases).
    async fn s3(
        &self,
        mut req: Request<s3s::Body>,
        no_length: bool,
        (peer, request_id): (SocketAddr, &str),
        slot: &crate::audit::AuditSlot,
        envelope: &gate::Envelope,
    ) -> Result<(Response<s3s::Body>, Option<String>), s3s::HttpError> {
        req.extensions_mut().insert(crate::authz::context::RemoteAddr(peer));
        req.extensions_mut().insert(slot.clone());
        req.extensions_mut().insert(envelope.verdict());
        if let Some(parsed) = envelope.sigv4() {
            let (method, uri) = (req.method().clone(), req.uri().clone());
            let state = self.iam.snapshot();
            let secret = |key: &str| state.secret_for(key).map(|s| s.expose().to_owned());
            if self.aliases.admit(parsed, &method, &uri, req.headers_mut(), secret) == Admission::Refused {
                let e = crate::errors::gate_error(&gate::GateError::UnknownHost);
                return Ok((error_response(&e, request_id), None));
            }
        }
        if let Some(uri) = gate::sigv2_uri(envelope, req.uri()) {
            *req.uri_mut() = uri;
        }
        if let Some(amz_date) = gate::amz_date_for_s3s(envelope, req.headers()) {
            req.headers_mut().insert("x-amz-date", amz_date);
        }
        if no_length && let Some(dir) = self.spool_dir.as_deref() {
            match Box::pin(self.spool_unsized(req, envelope, (dir, peer))).await {
                Ok(spooled) => req = spooled,
                Err(e) => return Ok((error_response(&e, request_id), None)),
            }
        }
        if let Some(check) = digests::to_check(req.method(), req.uri(), req.headers())
            && self.signature_verifies(envelope, &req)
        {
            match digests::checked(req, check).await {
                Ok(checked) => req = checked,
                Err(e) => return Ok((error_response(&e, request_id), None)),
            }
        }
        if !req.headers().contains_key(http::header::CONTENT_LENGTH) && no_length {
            req.extensions_mut().insert(crate::base::limits::UnsizedBody);
        }
        // s3s holds each aws-chunked chunk whole: its headers are read first, and a chunk over 16 MiB
        // is refused before s3s reads it (aws_chunked).
        let chunk_refusal = aws_chunked::is_aws_chunked(req.headers()).then(|| {
            let (parts, body) = std::mem::take(&mut req).into_parts();
            let (guarded, refusal) = aws_chunked::ChunkGuard::new(body);
            req = Request::from_parts(parts, s3s::Body::http_body(guarded));
            refusal
        });
        let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
        let (resp, trace) = crate::trace::traced(self.s3.call(req), self.audit.enabled()).await;
        if let Some(trace) = trace {
            slot.fill(|f| f.resources = trace);
        }
        let mut resp = resp?;
        if let Some(refused) = chunk_refusal.as_deref().and_then(std::sync::OnceLock::get)
            && !resp.status().is_success()
        {
            // Whatever the operation made of its body's error, the client is told why: 400
            // InvalidRequest, AWS's code for a request it will not read as sent (IncompleteBody would
            // say the client sent too few bytes, and invites a retry of the same body).
            tracing::info!(request_id, reason = %refused, "aws-chunked body refused");
            resp = error_response(&crate::errors::invalid_request(refused.to_string()), request_id);
        }
        crate::s3::status::apply(&mut resp);
        Ok((resp, host))
    }

    /// Whether a SigV4 request's signature verifies with its key's secret (root, a user, temporary
    /// credentials) before s3s sees it: kura reads a body before s3s only for a caller who holds a key.
    fn signature_verifies(&self, envelope: &gate::Envelope, req: &Request<s3s::Body>) -> bool {
        let Some(parsed) = envelope.sigv4() else { return false };
        let state = self.iam.snapshot();
        let host = req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        state.secret_for(&parsed.access_key).is_some_and(|secret| {
            let scope = &parsed.scope;
            let key = kura_sigv4::derive_key(secret.expose(), &scope.date, &scope.region, &scope.service);
            kura_sigv4::verify_for_hosts(parsed, req.method(), req.uri(), req.headers(), &key, &[host]).is_some()
        })
    }

    /// Buffers the body of an object upload that came without a length ([`spool`]) when its SigV4
    /// signature verifies, and gives it its length; any other request is returned as it came (s3s then
    /// answers `MissingContentLength` where it needs a length).
    async fn spool_unsized(
        &self,
        req: Request<s3s::Body>,
        envelope: &gate::Envelope,
        (dir, peer): (&std::path::Path, SocketAddr),
    ) -> Result<Request<s3s::Body>, s3s::S3Error> {
        // An upload ticket bounds its upload's size, which is checked against the declared length
        // before a byte is stored: its holder (a browser, whoever the URL was handed to) sends a
        // length, and cannot make kura spool up to MAX_SPOOL to the disk first.
        let ticket = envelope.access_key().is_some_and(crate::identity::session::Keyring::is_ticket);
        if ticket
            || !spool::is_unsized_upload(req.method(), req.uri(), req.headers())
            || !self.signature_verifies(envelope, &req)
        {
            return Ok(req);
        }
        // Only a signer who may write the object makes kura spool it (the access hook decides again,
        // with all that s3s parses, once the body has its length).
        if let (Some(access_key), Some((bucket, key))) = (envelope.access_key(), spool::object_of(req.uri())) {
            let target = (bucket.as_str(), key.as_str());
            let signer = (access_key, envelope.verdict().auth_type);
            self.access.decide_before_spool(req.uri(), req.headers(), peer, signer, target).await?;
        }
        let (mut parts, body) = req.into_parts();
        let (spooled, len) = spool::spool(body, dir).await.map_err(|e| crate::errors::spool_error(&e))?;
        parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        Ok(Request::from_parts(parts, s3s::Body::http_body(spooled)))
    }

    async fn sts(
        &self,
        req: Request<RequestBody>,
        request_id: &str,
        slot: &crate::audit::AuditSlot,
    ) -> Response<s3s::Body> {
        use http_body_util::BodyExt as _;
        let (parts, body) = req.into_parts();
        let (status, xml) = match http_body_util::Limited::new(body, crate::sts::MAX_BODY).collect().await {
            Ok(body) => {
                let body = body.to_bytes();
                let req = crate::sts::StsRequest {
                    method: &parts.method,
                    uri: &parts.uri,
                    headers: &parts.headers,
                    body: &body,
                };
                self.sts.handle(req, request_id, slot).await
            }
            Err(_) => {
                let e = crate::sts::error::StsError::new(
                    "InvalidParameterValue",
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "the STS request body is larger than 64 KiB",
                );
                (e.status, e.to_xml(request_id))
            }
        };
        let mut resp = Response::new(s3s::Body::from(Bytes::from(xml)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        resp
    }
}

/// A browser POST upload made ready for s3s ([`post_upload`]): `${filename}` in its key replaced and
/// its `Content-Length` adjusted. Refused before its file is read (s3s holds a form's file in memory)
/// when its fields before the file are too long, carry a policy and no signature, or carry no
/// signature for a bucket whose policy allows anonymous callers nothing.
async fn post_form(
    req: Request<RequestBody>,
    access: &crate::authz::KuraAccess,
) -> Result<Request<s3s::Body>, s3s::S3Error> {
    use post_upload::FormSignature;
    let (mut parts, body) = req.into_parts();
    let post_upload::Form { body, delta, signature, fields_too_long, uncovered_sse } =
        post_upload::substitute_file_name(body).await;
    if let Some(field) = uncovered_sse {
        return Err(crate::errors::access_denied(format!(
            "Invalid according to Policy: Extra input fields: {field} (each form field but file, policy and the \
             signature must appear in the policy's conditions)"
        )));
    }
    if fields_too_long {
        return Err(s3s::S3Error::with_message(
            s3s::S3ErrorCode::MaxPostPreDataLengthExceededError,
            "Your POST request fields preceding the upload file were too large: put the file field within the \
             first 64 KiB of the form.",
        ));
    }
    match signature {
        Some(FormSignature::PolicyUnsigned) => {
            return Err(crate::errors::invalid_argument(
                "Bucket POST must contain a field named 'X-Amz-Signature' (SigV4) or 'Signature' (SigV2) \
                 with its policy, before the file field",
            ));
        }
        Some(FormSignature::Anonymous) => {
            // `is_post_upload` took the path for `/BUCKET`, read here as s3s reads it (percent-decoded:
            // `/my%2Dbucket` is `my-bucket`); a name s3s would refuse is left to it.
            let path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8_lossy();
            let bucket = path.trim_matches('/');
            if s3s::path::check_bucket_name(bucket) {
                access.refuse_hopeless_anonymous(Some(bucket), "s3:PutObject", &kura_policy::Context::new()).await?;
            }
        }
        Some(FormSignature::Signed) | None => {}
    }
    if delta != 0
        && let Some(len) = parts.headers.get(http::header::CONTENT_LENGTH)
        && let Some(len) = len.to_str().ok().and_then(|l| l.parse::<i64>().ok())
    {
        parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len + delta));
    }
    Ok(Request::from_parts(parts, body))
}

/// Whether a browser opening this answer could render it as a document that runs script: anything but
/// the passive types a browser only downloads or shows as media (`application/octet-stream`, images but
/// SVG, audio, video), which it never sniffs into HTML. Read from the answer's final Content-Type, so a
/// presigned `response-content-type=text/html` is seen as what it asks for.
///
/// Only a value that is exactly one passive `type/subtype` (parameters aside) goes without the sandbox.
/// A browser splits a Content-Type on commas and takes the last type it can parse (Fetch, "extract a
/// MIME type"), so `image/png,text/html` is HTML to it: a value with a comma anywhere, two Content-Type
/// headers, a missing one or one that is not a plain `type/subtype` may run.
fn may_run_as_a_page(headers: &http::HeaderMap) -> bool {
    let mut values = headers.get_all(http::header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return true;
    };
    let Ok(content_type) = value.to_str() else {
        return true;
    };
    if content_type.contains(',') {
        return true;
    }
    // Compared without a lower-cased copy: this runs on every GET.
    let essence = content_type.split(';').next().unwrap_or_default().trim_matches([' ', '\t']);
    let Some((kind, subtype)) = essence.split_once('/') else {
        return true;
    };
    if !is_token(kind) || !is_token(subtype) {
        return true;
    }
    let essence = essence.as_bytes();
    let is = |name: &str| essence.eq_ignore_ascii_case(name.as_bytes());
    let kind_is = |name: &str| kind.eq_ignore_ascii_case(name);
    let xml = subtype.as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(b"xml"));
    let passive = is("application/octet-stream")
        || is("binary/octet-stream")
        || (kind_is("image") && !xml)
        || kind_is("audio")
        || kind_is("video");
    !passive
}

/// Whether `s` is an HTTP token (RFC 9110 `tchar`s, at least one): what each half of a media type is.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Completes an S3 error document the way AWS writes it: s3s leaves out `<RequestId>`, and for the
/// errors it raises itself while parsing a request (an invalid bucket name, a bad path) the
/// `<Message>` too. A client's bug report then names the request the server log has, and every error
/// says what to fix. Returns the error's code (read once, for the log, the metrics and the audit line);
/// `None` for a success or a body that is not a whole document.
fn complete_error_document(resp: &mut Response<s3s::Body>, request_id: &str) -> Option<String> {
    if !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return None;
    }
    let bytes = resp.body().bytes()?;
    let code = crate::audit::error_code(&bytes);
    let Ok(text) = std::str::from_utf8(&bytes) else { return code };
    let Some(end) = text.rfind("</Error>") else { return code };
    let needs_id = !text.contains("<RequestId>");
    let missing_message = !text.contains("<Message>") || text.contains("<Message></Message>");
    if !needs_id && !missing_message {
        return code;
    }
    let mut patched = text[..end].replace("<Message></Message>", "");
    if missing_message {
        let message = crate::errors::default_message(code.as_deref().unwrap_or_default());
        patched.push_str(&format!("<Message>{message}</Message>"));
    }
    if needs_id {
        patched.push_str(&format!("<RequestId>{request_id}</RequestId>"));
    }
    patched.push_str(&text[end..]);
    replace_body(resp, patched);
    code
}

/// A POST upload whose form fails one of its signed policy's conditions: s3s answers
/// `InvalidPolicyDocument` (400); AWS answers `AccessDenied` (403, "Invalid according to Policy: Policy
/// Condition failed: …"), and clients test for that. A policy that does not parse stays a 400. Returns
/// the new error code when the answer was replaced.
fn post_condition_refusal(resp: &mut Response<s3s::Body>, request_id: &str) -> Option<String> {
    let bytes = resp.body().bytes()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let start = text.find("<Message>")? + "<Message>".len();
    let end = start + text[start..].find("</Message>")?;
    let message = crate::base::xml::unescape(&text[start..end]);
    if !(message.starts_with("Policy condition ") || message.starts_with("Bucket in form field ")) {
        return None;
    }
    let refusal =
        crate::errors::access_denied(format!("Invalid according to Policy: Policy Condition failed: {message}"));
    *resp = error_response(&refusal, request_id);
    Some("AccessDenied".to_owned())
}

/// Replaces a response's whole body, and its `Content-Length` when it has one.
fn replace_body(resp: &mut Response<s3s::Body>, body: String) {
    let len = body.len();
    *resp.body_mut() = s3s::Body::from(Bytes::from(body));
    if resp.headers().contains_key(http::header::CONTENT_LENGTH) {
        resp.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// GetObjectAttributes answers its `<ETag>` without quotes on AWS (unlike every other S3 document),
/// and clients compare it so; s3s always quotes an ETag. The document is recognised by its root
/// element, which only that operation writes.
fn unquote_attributes_etag(resp: &mut Response<s3s::Body>) {
    const ROOT: &str = "<GetObjectAttributesResponse";
    if resp.status() != http::StatusCode::OK {
        return;
    }
    let Some(bytes) = resp.body().bytes() else { return };
    // Every other 200 document (a listing may be large) is told apart by its first bytes alone: the
    // root comes right after the XML declaration.
    let head = &bytes[..bytes.len().min(128)];
    if !head.windows(ROOT.len()).any(|w| w == ROOT.as_bytes()) {
        return;
    }
    let Ok(text) = std::str::from_utf8(&bytes) else { return };
    let Some(root) = text.find(ROOT) else { return };
    // The root must be the document's: only an XML declaration may come before it.
    let prolog = text[..root].trim();
    if !(prolog.is_empty()
        || (prolog.starts_with("<?xml") && prolog.ends_with("?>") && prolog.matches('<').count() == 1))
    {
        return;
    }
    let Some(start) = text.find("<ETag>\"") else { return };
    let value_start = start + "<ETag>\"".len();
    let Some(len) = text[value_start..].find("\"</ETag>") else { return };
    let patched = format!(
        "{}<ETag>{}</ETag>{}",
        &text[..start],
        &text[value_start..value_start + len],
        &text[value_start + len + "\"</ETag>".len()..]
    );
    replace_body(resp, patched);
}

/// The request headers the CORS answer of an actual request reads.
fn cors_request_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let mut kept = http::HeaderMap::new();
    for name in [http::header::ORIGIN, http::header::ACCESS_CONTROL_REQUEST_METHOD] {
        if let Some(v) = headers.get(&name) {
            kept.insert(name, v.clone());
        }
    }
    kept
}

/// Adds CORS headers to a response (replacing any of the same name); a value that is not a valid
/// header value is left out (the rules were checked when stored, and an echoed origin came from a
/// header).
fn add_headers(into: &mut http::HeaderMap, headers: Vec<(&'static str, String)>) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            into.insert(http::HeaderName::from_static(name), v);
        }
    }
}

/// Whether a request's body has no `Content-Length` and is not known to be empty: only the connection
/// knows (HTTP/2 ends the stream with the headers) whether it will be streamed; the access hook is
/// told (base::limits).
fn unsized_body(req: &Request<RequestBody>) -> bool {
    req.headers().get(http::header::CONTENT_LENGTH).is_none() && !hyper::body::Body::is_end_stream(req.body())
}

fn content_length(headers: &http::HeaderMap) -> u64 {
    headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Serves connections from `listener` until `shutdown` resolves, then waits for open requests to
/// finish (graceful shutdown). `limits` bounds how long a connection may take to send its headers or sit
/// idle, and how many may be open at once. With `tls`, every connection is served over TLS (HTTP/2 or
/// HTTP/1.1 as ALPN chose), and its handshake counts against the header-read timeout.
pub async fn serve(
    listener: TcpListener,
    dispatch: Arc<Dispatch>,
    limits: limits::Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let graceful = GracefulShutdown::new();
    let mut gate = limits::Gate::new(limits.max_connections);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Over the connection cap: close at once (the gate logs it).
                let Some(permit) = gate.admit(peer) else { continue };
                // Small responses must not wait for Nagle + delayed ACK.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY failed");
                }
                let activity = limits::Activity::new();
                let io = limits::TrackedIo::new(stream, activity.clone());
                let connection = Connection {
                    builder: builder.clone(),
                    watcher: graceful.watcher(),
                    dispatch: dispatch.clone(),
                    activity: activity.clone(),
                    peer,
                };
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    // The watchdog races the handshake too: a client that never finishes it is closed
                    // when its header-read time is up, like one that never sends its headers.
                    let served = async {
                        match tls {
                            None => connection.serve(io).await,
                            Some(acceptor) => match acceptor.accept(io).await {
                                Ok(stream) => connection.serve(stream).await,
                                Err(e) => tracing::debug!(peer = %peer, error = %e, "TLS handshake failed"),
                            },
                        }
                    };
                    tokio::select! {
                        () = served => {}
                        why = limits::expired(&activity, &limits) => {
                            tracing::debug!(peer = %peer, "connection closed: {why}");
                        }
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One accepted connection, ready to be served over its (plain or TLS) stream.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    dispatch: Arc<Dispatch>,
    activity: Arc<limits::Activity>,
    peer: SocketAddr,
}

impl Connection {
    /// Serves HTTP/1.1 or HTTP/2 on `io` until the connection ends or shutdown drains it.
    async fn serve<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Self { builder, watcher, dispatch, activity, peer } = self;
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let serving = activity.request();
            let req = req.map(|body| limits::Metered::new(body, activity.clone()));
            let response = dispatch.clone().serve(req, peer);
            async move {
                let response = response.await;
                drop(serving);
                response
            }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned();
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

/// Gives an HTTP/2 request the `Host` header its `:authority` stands for. Every reader of a request (the
/// gate, host aliases, STS's signature check, s3s) reads the host from `Host`, and HTTP/2 carries it in
/// the URI instead, so without this a signed HTTP/2 STS request failed its signature. A request whose
/// `Host` header names another host than its authority is refused: two names for one request is how a
/// signature checked for one host could be taken to address another.
fn host_from_authority<B>(req: &mut Request<B>) -> Result<(), s3s::S3Error> {
    let Some(authority) = req.uri().authority().map(|a| a.as_str().to_owned()) else { return Ok(()) };
    match req.headers().get(http::header::HOST) {
        Some(host) if host.as_bytes().eq_ignore_ascii_case(authority.as_bytes()) => Ok(()),
        Some(_) => Err(crate::errors::invalid_request(
            "The Host header names another host than the request's authority; send one name.",
        )),
        None => {
            let value = HeaderValue::from_str(&authority)
                .map_err(|_| crate::errors::invalid_request("The request's authority is not a valid host."))?;
            req.headers_mut().insert(http::header::HOST, value);
            Ok(())
        }
    }
}

/// The XML error document for a request refused before s3s saw it (s3s renders the others).
fn error_response(err: &s3s::S3Error, request_id: &str) -> Response<s3s::Body> {
    use crate::base::xml::escape;
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message>\
         <RequestId>{request_id}</RequestId></Error>",
        escape(err.code().as_str()),
        escape(err.message().unwrap_or_default()),
    );
    let mut resp = Response::new(s3s::Body::from(Bytes::from(body)));
    *resp.status_mut() = err.status_code().or_else(|| err.code().status_code()).unwrap_or(http::StatusCode::FORBIDDEN);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

/// A plain-text response (health probes).
pub(crate) fn text_response(status: http::StatusCode, body: &'static str) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::from(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passive_content_types_go_without_the_sandbox() {
        let runs = |content_type: Option<&str>| {
            let mut headers = http::HeaderMap::new();
            if let Some(t) = content_type {
                headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_str(t).expect("value"));
            }
            may_run_as_a_page(&headers)
        };
        for passive in ["binary/octet-stream", "Application/Octet-Stream; x=1", "image/png", "video/mp4", "audio/ogg"] {
            assert!(!runs(Some(passive)), "{passive}");
        }
        for active in [
            "text/html",
            "text/plain",
            "image/svg+xml",
            "IMAGE/SVG+XML; charset=utf-8",
            "application/xml",
            "application/xhtml+xml",
            "application/pdf",
            "application/json",
            "",
            "octet-stream",
            // A browser takes the last type of a comma list: never passive, whatever comes first.
            "image/png,text/html",
            "image/png, text/html",
            "image/png,",
            ",image/png",
            "video/mp4;codecs=\"a,b\"",
            "audio/ogg; x=1, text/html",
            // Not one plain type/subtype.
            "image/",
            "/png",
            "image",
            "image/png text/html",
            "image/png/x",
            "image/\"png\"",
        ] {
            assert!(runs(Some(active)), "{active}");
        }
        assert!(runs(None), "no type: a browser sniffs");
        // Whitespace around the type and parameters after it do not matter.
        assert!(!runs(Some(" image/png ")), "trimmed");
        assert!(!runs(Some("image/png ; q=1")), "parameters");
        // Two Content-Type headers read as one comma list: may run.
        let mut two = http::HeaderMap::new();
        two.append(http::header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        two.append(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert!(may_run_as_a_page(&two), "two Content-Type headers");
        two.remove(http::header::CONTENT_TYPE);
        two.append(http::header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        two.append(http::header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        assert!(may_run_as_a_page(&two), "even twice the same passive type");
        // A value that is not text is not read as anything passive.
        let bytes = HeaderValue::from_bytes(b"image/png\xff").expect("obs-text");
        let mut opaque = http::HeaderMap::new();
        opaque.insert(http::header::CONTENT_TYPE, bytes);
        assert!(may_run_as_a_page(&opaque), "unreadable");
    }

    #[test]
    fn options_on_an_s3_path_is_a_preflight_and_nowhere_else() {
        let headers = http::HeaderMap::new();
        let at = |method: http::Method, path: &str| route(&method, &path.parse().expect("uri"), &headers);
        for path in ["/b/k", "/b", "/", "/b/k?uploads", "/b/k?X-Amz-Signature=00"] {
            assert!(matches!(at(http::Method::OPTIONS, path), Endpoint::Preflight), "{path}");
        }
        assert!(matches!(at(http::Method::OPTIONS, "/kura/admin/v1/users"), Endpoint::S3));
        assert!(matches!(at(http::Method::OPTIONS, crate::tickets::PATH), Endpoint::S3));
        assert!(matches!(at(http::Method::OPTIONS, "/kura/health/live"), Endpoint::Health(_)));
        for method in
            [http::Method::GET, http::Method::PUT, http::Method::POST, http::Method::DELETE, http::Method::HEAD]
        {
            assert!(matches!(at(method, "/b/k"), Endpoint::S3));
        }
    }

    #[test]
    fn an_http2_authority_becomes_the_host_and_a_second_name_is_refused() {
        let mut h2 = Request::builder().uri("https://kura.example:9000/b/k").body(()).expect("request");
        assert!(host_from_authority(&mut h2).is_ok());
        assert_eq!(h2.headers().get(http::header::HOST).map(|h| h.as_bytes()), Some(&b"kura.example:9000"[..]));
        let mut same = Request::builder()
            .uri("https://kura.example:9000/")
            .header("host", "KURA.example:9000")
            .body(())
            .expect("request");
        assert!(host_from_authority(&mut same).is_ok());
        let mut two = Request::builder()
            .uri("https://kura.example:9000/")
            .header("host", "evil.example")
            .body(())
            .expect("request");
        let err = host_from_authority(&mut two).expect_err("two names");
        assert_eq!(err.code(), &s3s::S3ErrorCode::InvalidRequest);
        // HTTP/1 requests carry an origin-form path: nothing to do.
        let mut h1 = Request::builder().uri("/b/k").header("host", "kura.example").body(()).expect("request");
        assert!(host_from_authority(&mut h1).is_ok());
    }
}
