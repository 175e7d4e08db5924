//! `server.metadata: {postgres: …}`: metadata in a PostgreSQL database (kura-meta-pg), which several
//! kura replicas may share. The URL names the server, user and database; the password never rides in
//! it (the configuration is a ConfigMap, readable by more people than a Secret): it comes from
//! `password_file` (a mounted Secret) or the `PGPASSWORD` environment variable.
//!
//! TLS is asked for in the URL's query as libpq spells it, so that a URL that works with `psql`
//! works with kura: `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`; absent
//! means `prefer`, libpq's default) and `sslrootcert` (the CA file, needed by the two `verify-` modes).
//! `prefer` is never weaker than plaintext, but neither it nor `require` stops an active attacker
//! (no certificate is checked, and `prefer` accepts a server, or someone in between, that declines
//! TLS): kura logs a warning at start for them on TCP ([`PostgresSection::tls_warning`]).

use crate::base::credentials::Secret;
use kura_meta_pg::Config as PgConfig;
use kura_meta_pg::tls::{MakeTls, TlsMode};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use std::path::PathBuf;
use std::str::FromStr;

/// The environment variable a password may come from when `password_file` is not given (libpq's name).
pub const PASSWORD_ENV: &str = "PGPASSWORD";

/// Default and largest connection pool size (per kura process).
const DEFAULT_POOL_SIZE: u32 = 16;
const MAX_POOL_SIZE: u32 = 1000;

/// `server.metadata.postgres:`. Read at start; changing it needs a restart.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PostgresSection {
    /// `postgres://USER@HOST:PORT/DB` (or `postgresql://`); a Unix socket directory as the host is
    /// percent-encoded (`postgres://kura@%2Frun%2Fpostgresql/kura`). Without a password.
    pub url: String,
    /// A file holding the password (surrounding whitespace ignored). Without it, `PGPASSWORD` is used
    /// if set, else no password (trust, peer or certificate authentication).
    pub password_file: Option<PathBuf>,
    /// Most connections this process opens to the database (default 16).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_pool_size() -> u32 {
    DEFAULT_POOL_SIZE
}

impl PostgresSection {
    /// Checks the URL and the pool size, without reading any file or connecting. Errors never quote
    /// the URL, which could hold a password.
    pub fn validate(&self) -> Result<(), String> {
        self.parse_url()?;
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            return Err(format!(
                "server.metadata.postgres.pool_size: {} is not between 1 and {MAX_POOL_SIZE}",
                self.pool_size
            ));
        }
        Ok(())
    }

    fn parse_url(&self) -> Result<ParsedUrl, String> {
        const FIELD: &str = "server.metadata.postgres.url";
        const FORM: &str = "postgres://USER@HOST:PORT/DB";
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(format!("{FIELD}: not a PostgreSQL URL; write it as {FORM}"));
        }
        let (url, given, ca_file) = split_tls(&self.url)?;
        let mode = given.unwrap_or(TlsMode::Prefer);
        let config = PgConfig::from_str(&url)
            .map_err(|e| format!("{FIELD}: not a valid PostgreSQL URL ({e}); write it as {FORM}"))?;
        if config.get_password().is_some() {
            return Err(format!(
                "{FIELD}: the URL carries a password, and the configuration lives in a ConfigMap; remove it \
                 from the URL and give it in server.metadata.postgres.password_file (a mounted Secret) or the \
                 {PASSWORD_ENV} environment variable"
            ));
        }
        if config.get_user().is_none() {
            return Err(format!("{FIELD}: the URL names no user; write it as {FORM}"));
        }
        if config.get_hosts().is_empty() {
            return Err(format!("{FIELD}: the URL names no host; write it as {FORM}"));
        }
        let socket = config.get_hosts().iter().any(|h| !matches!(h, kura_meta_pg::Host::Tcp(_)));
        if socket && !matches!(mode, TlsMode::Disable | TlsMode::Prefer) {
            return Err(format!(
                "{FIELD}: sslmode={}: the URL names a Unix socket, on which PostgreSQL never speaks TLS; name \
                 the server's TCP host, or leave sslmode out for the socket",
                mode.name()
            ));
        }
        match (mode, &ca_file) {
            (TlsMode::VerifyCa | TlsMode::VerifyFull, None) => {
                return Err(format!(
                    "{FIELD}: sslmode={} needs sslrootcert=FILE, the CA certificate (PEM) that signed the \
                     server's certificate (CloudNativePG: the ca.crt of the Secret <cluster>-ca)",
                    mode.name()
                ));
            }
            (TlsMode::Disable | TlsMode::Prefer, Some(_)) => {
                return Err(format!(
                    "{FIELD}: sslrootcert with sslmode={}: a CA is only used by sslmode=verify-full (or \
                     verify-ca, require); write sslmode=verify-full",
                    mode.name()
                ));
            }
            _ => {}
        }
        Ok(ParsedUrl { config, mode, mode_given: given.is_some(), ca_file, socket })
    }

    /// The warning to log at start when the connection is not protected against an active attacker on
    /// the network (`prefer` or `require` to a TCP host, without a CA); `None` for a Unix socket, a
    /// checked certificate or plain `disable` (chosen knowingly).
    pub fn tls_warning(&self) -> Option<String> {
        let parsed = self.parse_url().ok()?;
        let unchecked = matches!(parsed.mode, TlsMode::Prefer | TlsMode::Require) && parsed.ca_file.is_none();
        (unchecked && !parsed.socket).then(|| {
            format!(
                "server.metadata.postgres.url: sslmode={}{}: the PostgreSQL server's certificate is not checked{}; \
                 on a network you do not trust, write sslmode=verify-full&sslrootcert=CA_FILE",
                parsed.mode.name(),
                if parsed.mode_given { "" } else { " (the default)" },
                if parsed.mode == TlsMode::Prefer {
                    " and a server that declines TLS is used in plaintext"
                } else {
                    ""
                }
            )
        })
    }

    /// The password: `password_file`'s contents, else `PGPASSWORD`, else none.
    pub fn password(&self) -> Result<Option<Secret>, String> {
        self.password_from(std::env::var(PASSWORD_ENV).ok())
    }

    /// [`Self::password`] with the environment's value given (for tests).
    fn password_from(&self, env: Option<String>) -> Result<Option<Secret>, String> {
        const FIELD: &str = "server.metadata.postgres.password_file";
        match &self.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{FIELD} {}: cannot read: {e}", path.display()))?;
                let password = text.trim();
                if password.is_empty() {
                    return Err(format!("{FIELD} {}: the file is empty", path.display()));
                }
                Ok(Some(Secret::new(password)))
            }
            None => Ok(env.filter(|p| !p.is_empty()).map(Secret::new)),
        }
    }

    /// The connection settings (the URL's, with the password of [`Self::password`]) and the TLS
    /// connector for its `sslmode`, trusting the `sslrootcert` file, read now.
    pub fn connect_config(&self) -> Result<(PgConfig, MakeTls), String> {
        let ParsedUrl { mut config, mode, ca_file, .. } = self.parse_url()?;
        if let Some(password) = self.password()? {
            config.password(password.expose());
        }
        let ca = match &ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                format!("server.metadata.postgres.url: sslrootcert {}: cannot read: {e}", path.display())
            })?),
            None => None,
        };
        let tls = MakeTls::new(mode, ca.as_deref()).map_err(|e| match &ca_file {
            Some(path) => format!("server.metadata.postgres.url: sslrootcert {}: {e}", path.display()),
            None => format!("server.metadata.postgres.url: {e}"),
        })?;
        Ok((config, tls))
    }
}

/// What the URL says, its TLS parameters apart.
struct ParsedUrl {
    /// The driver's settings (its own `sslmode` is set from `mode` when connecting).
    config: PgConfig,
    mode: TlsMode,
    /// Whether `sslmode` was written (else `mode` is the default).
    mode_given: bool,
    /// `sslrootcert`.
    ca_file: Option<PathBuf>,
    /// Whether a host is a Unix socket directory.
    socket: bool,
}

/// Takes libpq's `sslmode` and `sslrootcert` out of the URL's query (the driver knows neither
/// `verify-ca`/`verify-full` nor `sslrootcert`): the URL without them, the mode if given and the CA
/// file. Each may be given once; values are percent-decoded. Errors never quote
/// the URL.
fn split_tls(url: &str) -> Result<(String, Option<TlsMode>, Option<PathBuf>), String> {
    const FIELD: &str = "server.metadata.postgres.url";
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None, None));
    };
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|v| v.into_owned())
            .map_err(|_| format!("{FIELD}: a query parameter is not UTF-8 once percent-decoded"))
    };
    let (mut mode, mut ca_file, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match decode(key)?.as_str() {
            "sslmode" => {
                let value = decode(value)?;
                let parsed = TlsMode::from_name(&value).ok_or_else(|| {
                    let names: Vec<&str> = TlsMode::ALL.iter().map(|m| m.name()).collect();
                    format!("{FIELD}: sslmode={value:.40}: kura honours sslmode {}", names.join(", "))
                })?;
                if mode.replace(parsed).is_some() {
                    return Err(format!("{FIELD}: sslmode is given twice; give it once"));
                }
            }
            "sslrootcert" => {
                let value = decode(value)?;
                if value.is_empty() || value == "system" {
                    return Err(format!(
                        "{FIELD}: sslrootcert={value}: give the path of the CA certificate file (PEM); kura \
                         does not use the system's trust store for PostgreSQL"
                    ));
                }
                if ca_file.replace(PathBuf::from(value)).is_some() {
                    return Err(format!("{FIELD}: sslrootcert is given twice; give it once"));
                }
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, mode, ca_file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, MetadataBackend};

    fn postgres(yaml: &str) -> Result<PostgresSection, String> {
        match Config::parse(yaml)?.server.metadata {
            MetadataBackend::Postgres(p) => Ok(p),
            other => panic!("not postgres: {other:?}"),
        }
    }

    #[test]
    fn a_url_and_defaults() {
        let p = postgres("server:\n  metadata:\n    postgres:\n      url: postgres://kura@db.example:5432/kura\n")
            .expect("valid");
        assert_eq!(p.pool_size, 16);
        assert_eq!(p.password_file, None);
        let c = p.parse_url().expect("url").config;
        assert_eq!(c.get_user(), Some("kura"));
        assert_eq!(c.get_dbname(), Some("kura"));
        assert_eq!(c.get_ports(), &[5432]);
        let p = postgres(
            "server:\n  metadata: {postgres: {url: \"postgresql://kura@%2Frun%2Fpg/db\", password_file: /s/pw, \
             pool_size: 4}}\n",
        )
        .expect("flow style, a socket directory");
        assert_eq!((p.pool_size, p.password_file), (4, Some(PathBuf::from("/s/pw"))));
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_quoting_it() {
        for url in [
            "postgres://kura:hunter2@db:5432/kura",
            "postgres://kura@db:5432/kura?password=hunter2",
            "postgresql://kura:hunter2@db/kura",
        ] {
            let err = postgres(&format!("server:\n  metadata:\n    postgres:\n      url: \"{url}\"\n"))
                .expect_err("a password in the URL");
            assert!(err.contains("server.metadata.postgres.url") && err.contains("password_file"), "{err}");
            assert!(err.contains("ConfigMap") && err.contains("PGPASSWORD"), "{err}");
            assert!(!err.contains("hunter2"), "the error quotes the password: {err}");
        }
    }

    #[test]
    fn bad_urls_fields_and_sizes_are_refused() {
        let cases = [
            ("url: mysql://kura@db/kura", "not a PostgreSQL URL"),
            ("url: \"host=db user=kura\"", "not a PostgreSQL URL"),
            ("url: postgres://db:5432/kura", "names no user"),
            ("url: \"postgres://kura@db:notaport/kura\"", "not a valid PostgreSQL URL"),
            ("url: \"postgres://kura@db/kura?sslmode=allow\"", "sslmode=allow: kura honours sslmode disable, prefer"),
            ("url: postgres://kura@db/kura\n      pool_size: 0", "pool_size: 0"),
            ("url: postgres://kura@db/kura\n      pool_size: 1001", "pool_size: 1001"),
            ("url: postgres://kura@db/kura\n      password: x", "unknown field `password`"),
        ];
        for (body, needle) in cases {
            let err = postgres(&format!("server:\n  metadata:\n    postgres:\n      {body}\n")).expect_err(body);
            assert!(err.contains(needle), "{body}: {err}");
        }
        let err = Config::parse("server:\n  metadata:\n    postgres: {}\n").expect_err("no url");
        assert!(err.contains("url"), "{err}");
        let err = Config::parse("server:\n  metadata:\n    mysql: {url: x}\n").expect_err("unknown back end");
        assert!(err.contains("mysql"), "{err}");
    }

    fn url(url: &str) -> PostgresSection {
        PostgresSection { url: url.into(), password_file: None, pool_size: 1 }
    }

    #[test]
    fn each_sslmode_is_taken_from_the_query_and_absent_is_prefer() {
        let cases = [
            ("postgres://kura@db/kura", TlsMode::Prefer),
            ("postgres://kura@db/kura?sslmode=disable", TlsMode::Disable),
            ("postgres://kura@db/kura?sslmode=prefer", TlsMode::Prefer),
            ("postgres://kura@db/kura?sslmode=require", TlsMode::Require),
            ("postgres://kura@db/kura?sslmode=verify-ca&sslrootcert=/ca/ca.crt", TlsMode::VerifyCa),
            ("postgres://kura@db/kura?sslrootcert=%2Fca%2Fca.crt&sslmode=verify-full", TlsMode::VerifyFull),
            ("postgres://kura@db/kura?sslmode=require&sslrootcert=/ca/ca.crt", TlsMode::Require),
            ("postgres://kura@%2Frun%2Fpg/kura?sslmode=disable", TlsMode::Disable),
            ("postgres://kura@%2Frun%2Fpg/kura", TlsMode::Prefer),
        ];
        for (u, mode) in cases {
            let parsed = url(u).parse_url().unwrap_or_else(|e| panic!("{u}: {e}"));
            assert_eq!(parsed.mode, mode, "{u}");
            assert_eq!(parsed.ca_file.is_some(), u.contains("sslrootcert"), "{u}");
            assert_eq!(parsed.config.get_dbname(), Some("kura"), "{u}");
        }
        let parsed =
            url("postgres://kura@db/kura?sslrootcert=%2Fca%2Fca.crt&sslmode=verify-full").parse_url().expect("ok");
        assert_eq!(parsed.ca_file, Some(PathBuf::from("/ca/ca.crt")), "percent-decoded");
        // The driver's own parameters stay with it.
        let parsed = url("postgres://kura@db/kura?application_name=kura-a&sslmode=require&connect_timeout=3")
            .parse_url()
            .expect("other parameters");
        assert_eq!(parsed.config.get_application_name(), Some("kura-a"));
        assert_eq!(parsed.config.get_connect_timeout(), Some(&std::time::Duration::from_secs(3)));
    }

    #[test]
    fn tls_settings_that_cannot_be_honoured_are_refused() {
        let cases = [
            ("postgres://kura@db/kura?sslmode=verify-full", "sslmode=verify-full needs sslrootcert=FILE"),
            ("postgres://kura@db/kura?sslmode=verify-ca", "sslmode=verify-ca needs sslrootcert=FILE"),
            ("postgres://kura@db/kura?sslrootcert=/ca.crt", "sslrootcert with sslmode=prefer"),
            ("postgres://kura@db/kura?sslmode=disable&sslrootcert=/ca.crt", "sslrootcert with sslmode=disable"),
            ("postgres://kura@db/kura?sslmode=VERIFY-FULL", "sslmode=VERIFY-FULL: kura honours"),
            ("postgres://kura@db/kura?sslmode=", "sslmode=: kura honours"),
            ("postgres://kura@db/kura?sslmode=require&sslmode=disable", "sslmode is given twice"),
            ("postgres://kura@db/kura?sslmode=verify-full&sslrootcert=/a&sslrootcert=/b", "sslrootcert is given twice"),
            ("postgres://kura@db/kura?sslmode=verify-full&sslrootcert=system", "sslrootcert=system"),
            ("postgres://kura@db/kura?sslmode=verify-full&sslrootcert=", "give the path of the CA"),
            ("postgres://kura@db/kura?sslcert=/c.crt", "not a valid PostgreSQL URL"),
            ("postgres://kura@%2Frun%2Fpg/kura?sslmode=require", "Unix socket"),
            ("postgres://kura@%2Frun%2Fpg/kura?sslmode=verify-full&sslrootcert=/ca.crt", "Unix socket"),
            ("postgres://kura@db/kura?sslmode=%FF", "not UTF-8"),
        ];
        for (u, needle) in cases {
            let err = postgres(&format!("server:\n  metadata:\n    postgres:\n      url: \"{u}\"\n")).expect_err(u);
            assert!(err.starts_with("server.metadata.postgres.url: ") && err.contains(needle), "{u}: {err}");
        }
    }

    #[test]
    fn the_ca_file_is_read_when_connecting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.crt");
        let p = url(&format!("postgres://kura@db/kura?sslmode=verify-full&sslrootcert={}", missing.display()));
        p.validate().expect("the file is not read by validate");
        let err = p.connect_config().expect_err("sslrootcert pointing nowhere");
        assert!(err.contains("sslrootcert") && err.contains("missing.crt") && err.contains("cannot read"), "{err}");
        let garbage = dir.path().join("garbage.crt");
        std::fs::write(&garbage, "not a certificate\n").expect("write");
        let p = url(&format!("postgres://kura@db/kura?sslmode=verify-full&sslrootcert={}", garbage.display()));
        let err = p.connect_config().expect_err("not a certificate");
        assert!(err.contains("garbage.crt") && err.contains("no certificate"), "{err}");
        // A real CA (made by openssl, as kura's other TLS tests make theirs).
        let ca = dir.path().join("ca.crt");
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=test CA", "-keyout"])
            .arg(dir.path().join("ca.key"))
            .arg("-out")
            .arg(&ca)
            .output()
            .expect("run openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for mode in ["verify-full", "verify-ca", "require"] {
            let p = url(&format!("postgres://kura@db/kura?sslmode={mode}&sslrootcert={}", ca.display()));
            let (config, tls) = p.connect_config().expect(mode);
            assert_eq!(tls.mode().map(TlsMode::name), Some(mode));
            assert_eq!(config.get_dbname(), Some("kura"));
        }
        let (_, tls) = url("postgres://kura@db/kura").connect_config().expect("no TLS settings");
        assert_eq!(tls.mode(), Some(TlsMode::Prefer));
    }

    #[test]
    fn unchecked_tls_on_tcp_is_warned_about() {
        let warning = url("postgres://kura@db/kura").tls_warning().expect("the default");
        assert!(warning.contains("sslmode=prefer (the default)") && warning.contains("plaintext"), "{warning}");
        assert!(warning.contains("verify-full"), "{warning}");
        let warning = url("postgres://kura@db/kura?sslmode=require").tls_warning().expect("require");
        assert!(warning.contains("sslmode=require:") && !warning.contains("plaintext"), "{warning}");
        for quiet in [
            "postgres://kura@db/kura?sslmode=disable",
            "postgres://kura@db/kura?sslmode=verify-full&sslrootcert=/ca.crt",
            "postgres://kura@db/kura?sslmode=verify-ca&sslrootcert=/ca.crt",
            "postgres://kura@db/kura?sslmode=require&sslrootcert=/ca.crt",
            "postgres://kura@%2Frun%2Fpg/kura",
        ] {
            assert_eq!(url(quiet).tls_warning(), None, "{quiet}");
        }
    }

    #[test]
    fn the_password_comes_from_the_file_else_pgpassword() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").expect("write");
        let mut p = PostgresSection { url: "postgres://kura@db/kura".into(), password_file: None, pool_size: 1 };
        assert!(p.password_from(None).expect("none").is_none());
        assert!(p.password_from(Some(String::new())).expect("empty env").is_none());
        assert_eq!(
            p.password_from(Some("env".into())).expect("env").map(|s| s.expose().to_owned()),
            Some("env".into())
        );
        p.password_file = Some(file.clone());
        let from_file = p.password_from(Some("env".into())).expect("file").expect("a password");
        assert_eq!(from_file.expose(), "s3cret", "the file wins over the environment");
        std::fs::write(&file, " \n").expect("write");
        let err = p.password_from(None).expect_err("empty file");
        assert!(err.contains("password_file") && err.contains("empty"), "{err}");
        p.password_file = Some(dir.path().join("missing"));
        let err = p.password_from(None).expect_err("missing file");
        assert!(err.contains("password_file") && err.contains("cannot read"), "{err}");
    }
}
