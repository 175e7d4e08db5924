//! The declarative configuration file (YAML, because it lives in a ConfigMap).
//!
//! A file is parsed and validated as a whole; an error names the line, column and field. An unknown key
//! is an error, so a typo never silently does nothing. The `users`, `policies`, `buckets` and
//! `identity` sections are applied by [`crate::iam`] at start and on every reload; the previous
//! configuration keeps serving when a new file is rejected.

pub mod audit;
pub mod identity;
pub mod kms;
pub mod lifecycle;
pub mod metrics;
pub mod postgres;
pub mod tls;
pub mod webhook;

pub use identity::IdentitySection;

use crate::base::credentials::Secret;
use kura_policy::Policy;
use kura_policy::canned::AnonymousMode;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `server:` section.
    #[serde(default)]
    pub server: ServerSection,
    /// IAM users besides root.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Named IAM policies in the AWS JSON grammar, written as YAML (or JSON, which is YAML too).
    #[serde(default)]
    pub policies: BTreeMap<String, serde_json::Value>,
    /// Buckets that must exist, with their access settings.
    #[serde(default)]
    pub buckets: Vec<BucketConfig>,
    /// Workload identity: OIDC providers, roles, pod identity.
    #[serde(default)]
    pub identity: IdentitySection,
    /// The audit log (read at start; changing it needs a restart).
    #[serde(default)]
    pub audit: audit::AuditConfig,
    /// The mutating admission webhook (`/kura/v1/webhook/pods`): endpoint, CA bundle, token lifetime.
    #[serde(default)]
    pub webhook: webhook::WebhookConfig,
    /// The built-in key service's declared keys (created when missing; never deleted by a reload).
    #[serde(default)]
    pub kms: kms::KmsSection,
    /// A reload may apply this file although it declares no user, role or named policy while the running
    /// configuration has some (otherwise such a file is refused as a likely half-written one).
    #[serde(default)]
    pub allow_empty: bool,
    /// `policies`, parsed and validated.
    #[serde(skip)]
    pub parsed_policies: BTreeMap<String, Arc<Policy>>,
    /// Each user's secret, read from `secret_key` or `secret_key_file`.
    #[serde(skip)]
    pub user_secrets: HashMap<String, Secret>,
    /// Each configured bucket's policy (from `policy` or `anonymous`) as JSON text; `None` removes it.
    #[serde(skip)]
    pub bucket_policies: BTreeMap<String, Option<String>>,
}

/// One IAM user (`users:` entry). Its name is its access key.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The access key id; also the user's name in ARNs (`arn:aws:iam::000000000000:user/ACCESS_KEY`).
    pub access_key: String,
    /// The secret key, inline. Prefer `secret_key_file`.
    pub secret_key: Option<String>,
    /// A file holding the secret key (a mounted Kubernetes Secret); surrounding whitespace is ignored.
    pub secret_key_file: Option<PathBuf>,
    /// A disabled user's requests are refused (InvalidAccessKeyId).
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Attached policies, by name: canned (`readonly`, `readwrite`, `writeonly`, `admin`) or from
    /// `policies:`.
    #[serde(default)]
    pub policies: Vec<String>,
}

fn enabled_default() -> bool {
    true
}

/// One `buckets:` entry: created at start if missing; the settings given here replace the stored ones.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// The bucket name.
    pub name: String,
    /// `Enabled` or `Suspended`; versioning is not implemented yet, so only `Suspended` is accepted.
    pub versioning: Option<String>,
    /// `true` turns on all four public-access-block switches; `false` removes the block.
    pub public_access_block: Option<bool>,
    /// The bucket policy (AWS JSON grammar, written as YAML).
    pub policy: Option<serde_json::Value>,
    /// Anonymous access mode: `none`, `download`, `upload` or `public` (a generated bucket policy;
    /// exclusive with `policy`).
    pub anonymous: Option<String>,
    /// The bucket's default encryption (what PutBucketEncryption sets); replaces the stored one.
    pub encryption: Option<BucketEncryptionConfig>,
}

/// A `buckets[].encryption` entry: the same rule PutBucketEncryption accepts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketEncryptionConfig {
    /// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS).
    pub algorithm: String,
    /// With `aws:kms`: the key (id, ARN or alias); none is the default key `alias/aws/s3`.
    pub kms_key_id: Option<String>,
    /// With `aws:kms`: whether objects use an S3 Bucket Key.
    #[serde(default)]
    pub bucket_key: bool,
}

impl BucketEncryptionConfig {
    /// Checks the rule as PutBucketEncryption does and answers the stored form.
    fn to_stored(&self) -> Result<kura_store::BucketEncryption, String> {
        match self.algorithm.as_str() {
            "AES256" | "aws:kms" => {}
            "aws:kms:dsse" => {
                return Err("algorithm: kura does not offer dual-layer encryption (aws:kms:dsse); use aws:kms or \
                            AES256"
                    .into());
            }
            other => return Err(format!("algorithm: {other:?} is not AES256 or aws:kms")),
        }
        match self.kms_key_id.as_deref() {
            Some(_) if self.algorithm != "aws:kms" => {
                return Err("kms_key_id: a KMS key is only for algorithm aws:kms".into());
            }
            Some(id) if id.is_empty() || id.chars().count() > 2048 => {
                return Err("kms_key_id: a KMS key id, ARN or alias is 1 to 2048 characters".into());
            }
            _ => {}
        }
        Ok(kura_store::BucketEncryption {
            algorithm: self.algorithm.clone(),
            kms_key_id: self.kms_key_id.clone(),
            bucket_key_enabled: self.bucket_key,
        })
    }
}

/// The `server:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Listen address (`host:port`).
    pub address: Option<SocketAddr>,
    /// Data directory.
    pub data: Option<PathBuf>,
    /// Region reported to clients and expected in credential scopes (default `us-east-1`).
    pub region: Option<String>,
    /// Names clients may sign for; the first is used for presigning.
    #[serde(default)]
    pub public_urls: Vec<String>,
    /// Other names kura answers to inside the cluster (e.g. `http://kura.storage.svc.cluster.local:9000`):
    /// signatures made for them verify too.
    #[serde(default)]
    pub internal_urls: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs or addresses), for `aws:SourceIp`.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Longest lifetime of an upload ticket, in seconds (default 86400, at most 604800).
    pub max_ticket_seconds: Option<u64>,
    /// Most live upload tickets one principal may hold (default 1000).
    pub max_tickets_per_principal: Option<u64>,
    /// Whether legacy SigV2 signatures are accepted (default true; with the same clock, expiry and
    /// host rules as SigV4). `false` refuses them with AccessDenied.
    pub sigv2: Option<bool>,
    /// Connection limits: timeouts and the connection cap (read at start).
    #[serde(default)]
    pub limits: LimitsSection,
    /// Where metadata is kept (default `redb`; read at start), opened by [`crate::storage::open`].
    #[serde(default)]
    pub metadata: MetadataBackend,
    /// HTTPS on the port: the certificate and key files (read at start, re-read while running). Absent,
    /// kura serves plain HTTP.
    pub tls: Option<tls::TlsSection>,
    /// Who may read `/kura/metrics` (default: loopback only). Read at start.
    #[serde(default)]
    pub metrics: metrics::MetricsSection,
    /// The lifecycle worker: scan interval and (for tests only) the day length. Read at start.
    #[serde(default)]
    pub lifecycle: lifecycle::LifecycleSection,
    /// Encryption at rest: where kura's master keys are. Read at start.
    #[serde(default)]
    pub encryption: kms::EncryptionSection,
    /// On metadata that replicas share (PostgreSQL), how long a blob file outlives the commit that
    /// stopped referencing it, in seconds (default [`DEFAULT_BLOB_GRACE_SECONDS`], 6 hours; 1 to
    /// [`MAX_BLOB_GRACE_SECONDS`]). A reader on another replica may still be streaming that body,
    /// and only its own replica's pins know it: the grace must be longer than any request (a GET of a
    /// large object on a slow link, a backup) so that no replica deletes a body one is still sending.
    /// The same age tells the start-up sweep what is provably abandoned. Read at start; unused on
    /// redb (one process: a blob goes once its last local reader is done).
    pub blob_grace_seconds: Option<u64>,
}

/// The default of `server.blob_grace_seconds`: 6 hours, far longer than any request kura serves.
pub const DEFAULT_BLOB_GRACE_SECONDS: u64 = 6 * 3600;

/// The most `server.blob_grace_seconds` may be: 30 days (a longer one only keeps garbage longer).
pub const MAX_BLOB_GRACE_SECONDS: u64 = 30 * 86_400;

impl ServerSection {
    /// `server.blob_grace_seconds`, or its default.
    pub fn blob_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.blob_grace_seconds.unwrap_or(DEFAULT_BLOB_GRACE_SECONDS))
    }
}

/// The metadata back end (`server.metadata`): one variant per back end, each opened by one arm of
/// [`crate::storage::open`]. Written as a lowercase name (`redb`) or, with settings, a map of one key
/// (`{postgres: {…}}`); an unknown name is refused with the accepted ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MetadataBackend {
    /// The embedded redb database in the data directory (`meta.redb`), beside the blob files.
    #[default]
    Redb,
    /// A PostgreSQL database (`{postgres: {url: …, password_file: …}}`), which several kura replicas
    /// may share.
    Postgres(postgres::PostgresSection),
}

impl<'de> Deserialize<'de> for MetadataBackend {
    /// A name or a map of one key, by hand: serde's derive would want YAML tags (`!postgres`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const VARIANTS: &[&str] = &["redb", "postgres"];
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MetadataBackend;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`redb` or a map `postgres: {url: …}`")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
                match name {
                    "redb" => Ok(MetadataBackend::Redb),
                    "postgres" => Err(E::custom("`postgres` needs its settings: postgres: {url: …}")),
                    other => Err(E::unknown_variant(other, VARIANTS)),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                use serde::de::Error;
                let Some(name) = map.next_key::<String>()? else {
                    return Err(A::Error::custom("an empty map; write `redb` or `postgres: {url: …}`"));
                };
                let backend = match name.as_str() {
                    "postgres" => MetadataBackend::Postgres(map.next_value()?),
                    "redb" => {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        return Err(A::Error::custom("`redb` takes no settings; write `metadata: redb`"));
                    }
                    other => return Err(A::Error::unknown_variant(other, VARIANTS)),
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(A::Error::custom("name one metadata back end only"));
                }
                Ok(backend)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The `server.limits:` section: how long a connection may take to send a request's headers or sit
/// idle, how slowly it may send a body, and how many may be open at once. Read at start; changing it needs a restart.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Seconds a client has to send a request's headers, counted from the connection's start or from its
    /// first byte after the previous request (default 30).
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may go without any traffic before it is closed (default 300).
    pub idle_timeout_secs: u64,
    /// Most connections open at once; more are accepted and closed at once (default 4096).
    pub max_connections: usize,
    /// Fewest bytes a second a request body must arrive at, averaged over each `idle_timeout_secs` that
    /// kura spends waiting for it; a slower body closes its connection (default 500, as Apache's
    /// `mod_reqtimeout`; 0: no floor, only the idle timeout).
    pub min_body_bytes_per_sec: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 30,
            idle_timeout_secs: 300,
            max_connections: 4096,
            min_body_bytes_per_sec: 500,
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML is malformed or does not match the schema.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (line, column, field).
        message: String,
    },
}

impl Config {
    /// Reads and validates a file, and the files it names that are read only at start: the
    /// `server.tls` certificate and key must be readable, parse and match, the
    /// `server.metrics.bearer_token_file` must hold a token, and the PostgreSQL `password_file` must be
    /// readable.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = Self::parse(&text).map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        if let Some(tls) = &config.server.tls {
            tls.load().map_err(|e| ConfigError::Invalid { path: path.to_owned(), message: e.to_string() })?;
        }
        config.server.metrics.token().map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        if let MetadataBackend::Postgres(postgres) = &config.server.metadata {
            postgres.password().map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })?;
        }
        Ok(config)
    }

    /// Parses YAML text and validates it whole (policies, users' secrets, buckets); the error says
    /// where and what. Secret files named by users are read here.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config: Config = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(loc) => format!("line {}, column {}: {}", loc.line(), loc.column(), strip_location(&e.to_string())),
            None => e.to_string(),
        })?;
        if let Some(region) = &config.server.region
            && (region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!("server.region: {region:?} is not a region name (letters, digits and '-')"));
        }
        if let Some(max) = config.server.max_ticket_seconds
            && !(1..=kura_sigv4::MAX_EXPIRES_SECS).contains(&max)
        {
            return Err(format!("server.max_ticket_seconds: {max} is not between 1 and 604800 (7 days)"));
        }
        if let Some(grace) = config.server.blob_grace_seconds
            && !(1..=MAX_BLOB_GRACE_SECONDS).contains(&grace)
        {
            return Err(format!(
                "server.blob_grace_seconds: {grace} is not between 1 and {MAX_BLOB_GRACE_SECONDS} (30 days); \
                 it must outlast the longest request (default {DEFAULT_BLOB_GRACE_SECONDS})"
            ));
        }
        let limits = &config.server.limits;
        for (field, value) in [
            ("header_read_timeout_secs", limits.header_read_timeout_secs),
            ("idle_timeout_secs", limits.idle_timeout_secs),
            ("max_connections", u64::try_from(limits.max_connections).unwrap_or(u64::MAX)),
        ] {
            if value == 0 {
                return Err(format!("server.limits.{field}: must be at least 1"));
            }
        }
        for proxy in &config.server.trusted_proxies {
            if parse_net(proxy).is_none() {
                return Err(format!(
                    "server.trusted_proxies: {proxy:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
                ));
            }
        }
        for (field, urls) in
            [("public_urls", &config.server.public_urls), ("internal_urls", &config.server.internal_urls)]
        {
            for url in urls {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("server.{field}: {url:?} must start with http:// or https://"));
                }
            }
        }
        config.webhook.validate()?;
        if let MetadataBackend::Postgres(postgres) = &config.server.metadata {
            postgres.validate()?;
        }
        config.server.metrics.validate()?;
        config.server.lifecycle.validate()?;
        config.validate_policies(text)?;
        config.validate_users(text)?;
        config.validate_buckets(text)?;
        config.kms.validate(text)?;
        let defined = config.parsed_policies.clone();
        config.identity.validate(text, |p| kura_policy::canned::get(p).is_some() || defined.contains_key(p))?;
        Ok(config)
    }

    /// How many users, roles and named policies the file declares.
    pub fn declared(&self) -> (usize, usize, usize) {
        (self.users.len(), self.identity.roles.len(), self.policies.len())
    }

    fn validate_policies(&mut self, text: &str) -> Result<(), String> {
        for (name, value) in &self.policies {
            let at = at_line(text, &format!("{name}:"));
            if kura_policy::canned::get(name).is_some() {
                return Err(format!("{at}policies.{name}: {name:?} is a canned policy name; choose another"));
            }
            let policy = Policy::from_value(value.clone())
                .and_then(|p| p.validate_identity().map(|()| p))
                .map_err(|e| format!("{at}policies.{name}: {e}"))?;
            self.parsed_policies.insert(name.clone(), Arc::new(policy));
        }
        Ok(())
    }

    fn validate_users(&mut self, text: &str) -> Result<(), String> {
        for user in &self.users {
            let at = at_line(text, &format!("access_key: {}", user.access_key));
            let key = &user.access_key;
            crate::base::credentials::validate_access_key(key).map_err(|e| format!("{at}users.{key}: {e}"))?;
            if self.user_secrets.contains_key(key) {
                return Err(format!("{at}users.{key}: this access key is listed twice"));
            }
            let secret = match (&user.secret_key, &user.secret_key_file) {
                (Some(s), None) => s.clone(),
                (None, Some(file)) => std::fs::read_to_string(file)
                    .map_err(|e| format!("{at}users.{key}.secret_key_file: cannot read {}: {e}", file.display()))?
                    .trim()
                    .to_owned(),
                _ => return Err(format!("{at}users.{key}: give exactly one of secret_key and secret_key_file")),
            };
            crate::base::credentials::validate_secret_key(&secret)
                .map_err(|e| format!("{at}users.{key}.secret_key: {e}"))?;
            for p in &user.policies {
                if kura_policy::canned::get(p).is_none() && !self.parsed_policies.contains_key(p) {
                    return Err(format!(
                        "{at}users.{key}.policies: no policy named {p:?} (canned: {}; or define it under policies:)",
                        kura_policy::canned::NAMES.join(", ")
                    ));
                }
            }
            self.user_secrets.insert(key.clone(), Secret::new(secret));
        }
        Ok(())
    }

    fn validate_buckets(&mut self, text: &str) -> Result<(), String> {
        for bucket in &self.buckets {
            let name = &bucket.name;
            let at = at_line(text, &format!("name: {name}"));
            crate::base::names::validate_bucket_name(name).map_err(|e| format!("{at}buckets.{name}.name: {e}"))?;
            if self.bucket_policies.contains_key(name) {
                return Err(format!("{at}buckets.{name}: this bucket is listed twice"));
            }
            match bucket.versioning.as_deref() {
                None | Some("Suspended") => {}
                Some("Enabled") => {
                    return Err(format!(
                        "{at}buckets.{name}.versioning: versioning is not implemented in this kura yet; remove \
                         the key or set it to Suspended"
                    ));
                }
                Some(other) => {
                    return Err(format!("{at}buckets.{name}.versioning: {other:?} is not Enabled or Suspended"));
                }
            }
            let policy = match (&bucket.policy, &bucket.anonymous) {
                (Some(_), Some(_)) => {
                    return Err(format!("{at}buckets.{name}: give policy or anonymous, not both"));
                }
                (Some(value), None) => {
                    let policy = Policy::from_value(value.clone())
                        .and_then(|p| p.validate_bucket_policy(name).map(|()| p))
                        .map_err(|e| format!("{at}buckets.{name}.policy: {e}"))?;
                    Some(policy)
                }
                (None, Some(mode)) => {
                    let mode: AnonymousMode = mode.parse().map_err(|_| {
                        format!("{at}buckets.{name}.anonymous: {mode:?} is not one of none, download, upload, public")
                    })?;
                    kura_policy::canned::anonymous_policy(name, mode)
                }
                (None, None) => None,
            };
            if bucket.public_access_block == Some(true) && policy.as_ref().is_some_and(Policy::is_public) {
                return Err(format!(
                    "{at}buckets.{name}: public_access_block is on, so a public bucket policy would be refused; \
                     drop one of them"
                ));
            }
            if let Some(encryption) = &bucket.encryption {
                encryption.to_stored().map_err(|e| format!("{at}buckets.{name}.encryption.{e}"))?;
            }
            let declared = bucket.policy.is_some() || bucket.anonymous.is_some();
            if declared {
                self.bucket_policies.insert(name.clone(), policy.map(|p| p.to_json()));
            }
        }
        Ok(())
    }
}

/// `"line N: "` for the first line that starts with `needle`, or nothing.
pub(crate) fn at_line(text: &str, needle: &str) -> String {
    line_of(text, needle).map(|n| format!("line {n}: ")).unwrap_or_default()
}

/// Parses `10.0.0.0/8`, `::1` or `192.0.2.7` into a network.
pub fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// The 1-based line of the first line of `text` that, trimmed, starts with `needle` (to point a
/// semantic error, found after parsing, at its place in the file).
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.trim_start().trim_start_matches("- ").starts_with(needle)).map(|i| i + 1)
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_server_section() {
        let c = Config::parse(
            "server:\n  address: 127.0.0.1:9100\n  region: eu-west-1\n  public_urls: [https://s3.example.com]\n",
        )
        .expect("valid");
        assert_eq!(c.server.address, "127.0.0.1:9100".parse().ok());
        assert_eq!(c.server.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn limits_have_defaults_and_refuse_zero() {
        let c = Config::parse("server:\n  limits:\n    idle_timeout_secs: 5\n").expect("valid");
        assert_eq!(
            c.server.limits,
            LimitsSection {
                header_read_timeout_secs: 30,
                idle_timeout_secs: 5,
                max_connections: 4096,
                min_body_bytes_per_sec: 500
            }
        );
        let c = Config::parse("server:\n  limits:\n    min_body_bytes_per_sec: 0\n").expect("0 turns it off");
        assert_eq!(c.server.limits.min_body_bytes_per_sec, 0);
        let err = Config::parse("server:\n  limits:\n    max_connections: 0\n").expect_err("zero");
        assert!(err.contains("server.limits.max_connections"), "{err}");
        let err = Config::parse("server:\n  limits:\n    idle_timeout: 5\n").expect_err("typo");
        assert!(err.contains("idle_timeout"), "{err}");
    }

    #[test]
    fn metadata_defaults_to_redb_and_refuses_unknown_back_ends() {
        let c = Config::parse("server:\n  region: eu-west-1\n").expect("valid");
        assert_eq!(c.server.metadata, MetadataBackend::Redb);
        let c = Config::parse("server:\n  metadata: redb\n").expect("valid");
        assert_eq!(c.server.metadata, MetadataBackend::Redb);
        let err = Config::parse("server:\n  metadata: mongodb\n").expect_err("unknown back end");
        assert!(err.contains("line 2") && err.contains("mongodb") && err.contains("`redb`"), "{err}");
        let err = Config::parse("server:\n  metadata: Redb\n").expect_err("lowercase only");
        assert!(err.contains("Redb"), "{err}");
    }

    #[test]
    fn blob_grace_has_a_default_and_refuses_zero_and_too_long() {
        let c = Config::parse("server:\n  region: eu-west-1\n").expect("valid");
        assert_eq!(c.server.blob_grace(), std::time::Duration::from_secs(21_600));
        let c = Config::parse("server:\n  blob_grace_seconds: 90\n").expect("valid");
        assert_eq!(c.server.blob_grace(), std::time::Duration::from_secs(90));
        for bad in ["0", "2592001"] {
            let err = Config::parse(&format!("server:\n  blob_grace_seconds: {bad}\n")).expect_err(bad);
            assert!(err.contains("server.blob_grace_seconds") && err.contains(bad), "{err}");
        }
        let err = Config::parse("server:\n  blob_grace_seconds: -1\n").expect_err("negative");
        assert!(err.contains("blob_grace_seconds"), "{err}");
    }

    #[test]
    fn tls_needs_both_files_and_refuses_unknown_keys() {
        let c =
            Config::parse("server:\n  tls:\n    cert_file: /tls/tls.crt\n    key_file: /tls/tls.key\n").expect("valid");
        let tls = c.server.tls.expect("tls");
        assert_eq!(tls.cert_file, PathBuf::from("/tls/tls.crt"));
        assert_eq!(tls.key_file, PathBuf::from("/tls/tls.key"));
        assert_eq!(Config::parse("server:\n  region: eu-west-1\n").expect("valid").server.tls, None);
        let err = Config::parse("server:\n  tls:\n    cert_file: /tls/tls.crt\n").expect_err("no key");
        assert!(err.contains("line 3") && err.contains("key_file"), "{err}");
        let err = Config::parse("server:\n  tls:\n    key_file: /k\n    cert_file: /c\n    ca_file: /ca\n")
            .expect_err("unknown key");
        assert!(err.contains("ca_file"), "{err}");
    }

    #[test]
    fn a_tls_pair_that_cannot_be_read_or_parsed_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let section = tls::TlsSection { cert_file: cert.clone(), key_file: key.clone() };
        let err = section.load().expect_err("missing");
        assert_eq!(err.field, "cert_file");
        assert!(err.to_string().starts_with(&format!("server.tls.cert_file {}: cannot read", cert.display())));
        std::fs::write(&cert, "not a certificate\n").expect("write");
        std::fs::write(&key, "not a key\n").expect("write");
        let err = section.load().expect_err("no PEM");
        assert_eq!((err.field, err.path.clone()), ("cert_file", cert.clone()), "{err}");
        assert!(err.problem.contains("no PEM certificate"), "{err}");
        let config = dir.path().join("kura.yaml");
        let yaml = format!("server:\n  tls:\n    cert_file: {}\n    key_file: {}\n", cert.display(), key.display());
        std::fs::write(&config, yaml).expect("write");
        let err = Config::load(&config).expect_err("checked at load").to_string();
        assert!(err.contains("server.tls.cert_file") && err.contains("tls.crt"), "{err}");
    }

    #[test]
    fn a_bucket_default_encryption_is_checked_as_put_bucket_encryption_checks_it() {
        let c = Config::parse(
            "buckets:\n  - name: gitlab\n    encryption: {algorithm: aws:kms, kms_key_id: alias/gitlab, bucket_key: true}\n",
        )
        .expect("valid");
        let stored = c.buckets[0].encryption.as_ref().map(BucketEncryptionConfig::to_stored);
        let expected = kura_store::BucketEncryption {
            algorithm: "aws:kms".into(),
            kms_key_id: Some("alias/gitlab".into()),
            bucket_key_enabled: true,
        };
        assert_eq!(stored, Some(Ok(expected)));
        for (encryption, says) in [
            ("{algorithm: aes256}", "encryption.algorithm"),
            ("{algorithm: aws:kms:dsse}", "dual-layer"),
            ("{algorithm: AES256, kms_key_id: k}", "encryption.kms_key_id"),
            ("{algorithm: aws:kms, kms_key_id: ''}", "encryption.kms_key_id"),
            ("{algorithm: AES256, key: k}", "key"),
        ] {
            let err = Config::parse(&format!("buckets:\n  - name: gitlab\n    encryption: {encryption}\n"))
                .expect_err(encryption);
            assert!(err.contains(says) && err.contains("line "), "{encryption}: {err}");
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        let err = Config::parse("server:\n  adress: 127.0.0.1:9100\n").expect_err("typo");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("adress"), "{err}");
        let err = Config::parse("server:\n  public_urls: [s3.example.com]\n").expect_err("scheme");
        assert!(err.contains("public_urls"), "{err}");
    }
}
