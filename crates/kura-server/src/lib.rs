//! kura-server: everything in kura that has a request in it.
//!
//! Request flow: [`http`] accepts a connection and routes each request once (health or S3); s3s parses
//! the S3 request and verifies its signature with the secret [`authn::KuraAuth`] resolves from the
//! [`iam`] state; [`authz::KuraAccess`] builds the condition keys and asks [`authz`] (the bridge to the
//! policy engine); [`s3`] runs the operation over the stores of `kura-store`, and [`admin`] serves the
//! admin API; [`errors`] is the one place that maps failures to S3 error codes. See ARCHITECTURE.md.

pub mod admin;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod base;
pub mod buckets;
pub mod config;
pub mod console;
pub mod cors;
pub mod errors;
pub mod generation;
pub mod http;
pub mod iam;
pub mod identity;
pub mod kms;
pub mod lifecycle;
pub mod metrics;
pub mod presign;
pub mod reclaim;
pub mod reload;
pub mod replicas;
pub mod s3;
pub mod storage;
pub mod sts;
pub mod tickets;
pub mod trace;

use authn::KuraAuth;
use authz::KuraAccess;
use base::credentials::Credentials;
use config::Config;
use iam::{Iam, IamError};
use kura_store::{MetaStore, StoreError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything needed to start a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Data directory (metadata database and blobs).
    pub data_dir: PathBuf,
    /// Listen address; port 0 picks a free port.
    pub address: SocketAddr,
    /// Region reported to clients.
    pub region: String,
    /// Root credentials.
    pub root: Credentials,
    /// The validated configuration (users, policies, buckets).
    pub config: Config,
}

/// Failures starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be created or opened.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A store failed to open or sweep.
    #[error("opening storage: {0}")]
    Store(#[from] StoreError),
    /// A configured URL is not usable as a host name.
    #[error("server.public_urls / internal_urls: {0}")]
    Urls(String),
    /// The configuration could not be applied.
    #[error("applying the configuration: {0}")]
    Iam(#[from] IamError),
    /// The audit log file could not be opened.
    #[error("audit log: {0}")]
    Audit(std::io::Error),
    /// The session-key file could not be read or created.
    #[error("{0}")]
    Identity(#[from] identity::IdentityError),
    /// The master key file (`server.encryption.master_keys_file`) could not be read or created.
    #[error("{0}")]
    MasterKeys(kura_crypt::CryptError),
    /// The key service could not load its keys or apply the configuration's `kms:` section.
    #[error("key service: {0}")]
    Kms(#[from] kms::KmsError),
    /// The `server.tls` certificate and key cannot be used.
    #[error("{0}")]
    Tls(#[from] http::tls::TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A bound, ready server.
pub struct Server {
    listener: tokio::net::TcpListener,
    dispatch: Arc<http::Dispatch>,
    local_addr: SocketAddr,
    iam: Arc<Iam>,
    meta: Arc<dyn MetaStore>,
    limits: http::limits::Limits,
    tls: Option<http::tls::Tls>,
    /// The metrics background work reports to.
    metrics: Arc<metrics::Metrics>,
    /// The lifecycle worker, started by [`Server::run`].
    lifecycle: lifecycle::Worker,
    /// The reclaim queue's worker, on metadata replicas share (started by [`Server::run`]).
    reclaims: Option<Arc<reclaim::QueuedReclaims>>,
    /// The built-in key service (for configuration reloads, which apply the `kms:` section).
    kms: Arc<kms::BuiltinKms>,
}

impl Server {
    /// Opens the stores (removing leftovers of interrupted writes), builds the S3 service and binds.
    pub async fn bind(options: ServerOptions) -> Result<Self, ServerError> {
        let data = options.data_dir.clone();
        std::fs::create_dir_all(&data).map_err(|source| ServerError::DataDir { path: data.clone(), source })?;
        // Uploads without a length are buffered here (http::spool), beside the blobs' temporary files.
        let spool_dir = data.join("tmp");
        std::fs::create_dir_all(&spool_dir)
            .map_err(|source| ServerError::DataDir { path: spool_dir.clone(), source })?;
        let storage::Stores { meta, blobs } = storage::open(&options.config.server, &data).await?;
        let metrics = metrics::Metrics::new();
        let scrape = http::scrape::ScrapeAccess::new(&options.config.server.metrics);
        meta.set_observer(metrics.store_observer());
        blobs.set_observer(metrics.store_observer());
        // Replicas sharing the metadata share the blob directory: reclaims wait out the grace period in
        // the metadata store's queue, and the sweep leaves what is younger than it (see reclaim.rs).
        let grace = options.config.server.blob_grace();
        let queue =
            meta.shares_blobs().then(|| Arc::new(reclaim::QueuedReclaims::new(meta.clone(), blobs.clone(), grace)));
        if queue.is_some() && grace < reclaim::SHORT_GRACE {
            tracing::warn!(
                seconds = grace.as_secs(),
                "server.blob_grace_seconds is under an hour: a GET or backup that outlasts it may be cut short when another replica deletes the body"
            );
        }
        let swept = reclaim::sweep_at_start(meta.as_ref(), blobs.as_ref(), queue.is_some().then_some(grace)).await?;
        if swept.removed > 0 {
            tracing::info!(files = swept.removed, "removed leftovers of interrupted writes");
        }
        if swept.queued > 0 {
            tracing::info!(
                blobs = swept.queued,
                "queued unreferenced blobs older than the grace period for reclamation"
            );
        }
        let blobs: Arc<dyn kura_store::BlobStore> = match &queue {
            Some(queue) => queue.clone(),
            None => blobs,
        };
        let limits = http::limits::Limits::from(&options.config.server.limits);
        let tls = options.config.server.tls.as_ref().map(http::tls::Tls::new).transpose()?;
        let urls: Vec<String> =
            options.config.server.public_urls.iter().chain(&options.config.server.internal_urls).cloned().collect();
        let sigv2 = options.config.server.sigv2.unwrap_or(true);
        let audit = Arc::new(audit::Audit::start(&options.config.audit).map_err(ServerError::Audit)?);
        let settings = &options.config.server.lifecycle;
        let lifecycle = lifecycle::Worker {
            meta: meta.clone(),
            blobs: blobs.clone(),
            audit: audit.clone(),
            metrics: metrics.clone(),
            day: lifecycle::rules::DayLength(settings.day_seconds()),
            interval: settings.scan_interval(),
            max_actions_per_scan: settings.max_actions_per_scan.unwrap_or(lifecycle::DEFAULT_MAX_ACTIONS_PER_SCAN),
        };
        let keys_file = options.config.identity.session_keys_file.clone();
        let keyring = identity::session::Keyring::load_or_create(
            &keys_file.unwrap_or_else(|| data.join(identity::session::SESSION_KEYS_FILE)),
        )?;
        let master_file = options.config.server.encryption.master_keys_file.clone();
        let master = kura_crypt::MasterKeyring::load_or_create(
            &master_file.unwrap_or_else(|| data.join(kms::vault::MASTER_KEYS_FILE)),
        )
        .map_err(ServerError::MasterKeys)?;
        let master = Arc::new(master);
        let key_service = Arc::new(kms::BuiltinKms::open(meta.clone(), master.clone(), &options.region).await?);
        key_service.apply_config(&options.config.kms).await?;
        let vault = Arc::new(kms::Vault::new(master, key_service.clone()));
        buckets::apply_config(meta.as_ref(), &options.config, &options.region).await?;
        let iam =
            Iam::open(options.root, options.config, Arc::new(keyring), meta.clone(), options.region.clone()).await?;
        let authz = Arc::new(authz::Authorizer::default());
        let access = KuraAccess::new(iam.clone(), authz.clone(), meta.clone());
        // The operations' store records what each request touched (auth's own lookups do not).
        let traced: Arc<dyn MetaStore> = Arc::new(trace::TracedMeta(meta.clone()));
        let mut s3 = s3::KuraS3::new(traced, blobs.clone(), options.region, vault);
        s3.access = Some(access.clone());
        s3.lifecycle_day = lifecycle.day;
        let mut builder = s3s::service::S3ServiceBuilder::new(s3);
        builder.set_auth(KuraAuth::new(iam.clone()));
        builder.set_access(access.clone());
        builder.set_route(admin::AdminApi::new(
            iam.clone(),
            authz.clone(),
            (meta.clone(), blobs),
            key_service.clone(),
            data.clone(),
        ));
        // kura's gate (authn::gate) judges request times: SigV4 and SigV2 headers within 15 minutes,
        // presigned URLs not from the future. s3s's own check would also end a POST form 15 minutes
        // after its x-amz-date, though the form is valid until its policy's expiration (as on AWS).
        let mut s3s_config = s3s::config::S3Config::default();
        s3s_config.presigned_url_max_skew_time_secs = u32::MAX;
        // The access hook refuses larger bodies before s3s reads them (base::limits::check_whole_body).
        s3s_config.xml_max_body_size = base::limits::MAX_WHOLE_BODY;
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(s3s_config))));
        let listener = tokio::net::TcpListener::bind(options.address)
            .await
            .map_err(|source| ServerError::Bind { address: options.address, source })?;
        let local_addr =
            listener.local_addr().map_err(|source| ServerError::Bind { address: options.address, source })?;
        let aliases = if urls.is_empty() {
            // No names configured: every Host is accepted and s3s checks the signature against it.
            authn::sigv4::HostAliases::default()
        } else {
            let mut own = vec![local_addr.to_string()];
            if local_addr.ip().is_loopback() {
                own.push(format!("localhost:{}", local_addr.port()));
            }
            authn::sigv4::HostAliases::new(&urls, &own).map_err(ServerError::Urls)?
        };
        let sts = sts::Sts::new(iam.clone(), authz.clone(), aliases.names().to_vec());
        let console = console::Console::new(
            iam.clone(),
            authz,
            meta.clone(),
            audit.clone(),
            (tls.is_some(), aliases.names().to_vec()),
        );
        let observers = http::Observers { audit, metrics: metrics.clone(), scrape };
        let dispatch = Arc::new(
            http::Dispatch::new(builder.build(), sts, (aliases, sigv2), (iam.clone(), access), meta.clone(), observers)
                .with_spool_dir(spool_dir)
                .with_console(console),
        );
        Ok(Self {
            listener,
            dispatch,
            local_addr,
            iam,
            meta,
            limits,
            tls,
            metrics,
            lifecycle,
            reclaims: queue,
            kms: key_service,
        })
    }

    /// The live IAM state (for configuration reloads).
    pub fn iam(&self) -> Arc<Iam> {
        self.iam.clone()
    }

    /// The metadata store (for configuration reloads, which apply the `buckets:` section).
    pub fn meta(&self) -> Arc<dyn MetaStore> {
        self.meta.clone()
    }

    /// The built-in key service (for configuration reloads, which apply the `kms:` section).
    pub fn kms(&self) -> Arc<kms::BuiltinKms> {
        self.kms.clone()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether connections are served over TLS (`server.tls`): the scheme of the server's URL.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves until `shutdown` resolves, then drains open requests. With TLS, the certificate and key
    /// files are re-read meanwhile ([`http::tls`]).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let reclaims = self.reclaims.map(|queue| tokio::spawn(queue.drain_forever(self.metrics.clone())));
        // Only processes that share their metadata store with others have anything to catch up on: an
        // embedded store's one process applies its own admin changes as it makes them.
        let sync = self
            .meta
            .shares_blobs()
            .then(|| tokio::spawn(replicas::sync_forever(self.iam.clone(), self.kms.clone(), self.metrics.clone())));
        let sessions = tokio::spawn(console::sweep_forever(self.meta.clone()));
        let sweeper = tokio::spawn(tickets::sweep_forever(self.meta, self.metrics));
        let lifecycle = tokio::spawn(self.lifecycle.run_forever());
        let acceptor = self.tls.as_ref().map(|t| t.acceptor().clone());
        let reloader = self.tls.map(|t| tokio::spawn(t.watch(http::tls::POLL_INTERVAL)));
        http::serve(self.listener, self.dispatch, self.limits, acceptor, shutdown).await;
        sweeper.abort();
        sessions.abort();
        if let Some(sync) = sync {
            sync.abort();
        }
        lifecycle.abort();
        if let Some(r) = reclaims {
            r.abort();
        }
        if let Some(r) = reloader {
            r.abort();
        }
    }
}
