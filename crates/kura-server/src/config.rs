//! The declarative configuration file (YAML, because it lives in a ConfigMap).
//!
//! A file is parsed and validated as a whole; an error names the line, column and field. Sections for
//! users, policies, buckets and identity arrive with their issues; an unknown key is an error now, so a
//! typo never silently does nothing.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `server:` section.
    #[serde(default)]
    pub server: ServerSection,
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
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })
    }

    /// Parses YAML text; the error says where and what.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(loc) => format!("line {}, column {}: {}", loc.line(), loc.column(), strip_location(&e.to_string())),
            None => e.to_string(),
        })?;
        if let Some(region) = &config.server.region
            && (region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(format!("server.region: {region:?} is not a region name (letters, digits and '-')"));
        }
        for url in &config.server.public_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("server.public_urls: {url:?} must start with http:// or https://"));
            }
        }
        Ok(config)
    }
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
    fn errors_name_line_and_field() {
        let err = Config::parse("server:\n  adress: 127.0.0.1:9100\n").expect_err("typo");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("adress"), "{err}");
        let err = Config::parse("server:\n  public_urls: [s3.example.com]\n").expect_err("scheme");
        assert!(err.contains("public_urls"), "{err}");
    }
}
