//! `server.metadata: {postgres: …}`: metadata in a PostgreSQL database (kura-meta-pg), which several
//! kura replicas may share. The URL names the server, user and database; the password never rides in
//! it (the configuration is a ConfigMap, readable by more people than a Secret): it comes from
//! `password_file` (a mounted Secret) or the `PGPASSWORD` environment variable.

use crate::base::credentials::Secret;
use kura_meta_pg::{Config as PgConfig, SslMode};
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

    fn parse_url(&self) -> Result<PgConfig, String> {
        const FIELD: &str = "server.metadata.postgres.url";
        const FORM: &str = "postgres://USER@HOST:PORT/DB";
        if !(self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")) {
            return Err(format!("{FIELD}: not a PostgreSQL URL; write it as {FORM}"));
        }
        let config = PgConfig::from_str(&self.url)
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
        if config.get_ssl_mode() == SslMode::Require {
            return Err(format!(
                "{FIELD}: sslmode=require: kura does not speak TLS to PostgreSQL yet; use sslmode=disable \
                 (or leave it out) on a trusted network"
            ));
        }
        Ok(config)
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

    /// The connection settings: the URL's, with the password of [`Self::password`].
    pub fn connect_config(&self) -> Result<PgConfig, String> {
        let mut config = self.parse_url()?;
        if let Some(password) = self.password()? {
            config.password(password.expose());
        }
        Ok(config)
    }
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
        let c = p.parse_url().expect("url");
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
            ("url: \"postgres://kura@db/kura?sslmode=require\"", "TLS"),
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
