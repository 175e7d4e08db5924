//! The `server.metrics:` section: who may read `/kura/metrics`. Metrics name no bucket or key, but
//! they show how busy kura is and which credentials fail, so by default only loopback may scrape.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// `server.metrics:`. A scrape is allowed from a listed network, or with the bearer token. Read at
/// start; the token file is re-read at every scrape, so a rotated Secret needs no restart.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Networks (CIDRs or addresses) that may scrape without a token. Default: loopback only
    /// (`127.0.0.0/8`, `::1`); `[]` allows no network, so every scrape needs the token.
    pub allow_networks: Option<Vec<String>>,
    /// A file holding the token a scraper sends as `Authorization: Bearer TOKEN` (surrounding white
    /// space is ignored). A Kubernetes Secret mounted as a file is the usual source.
    pub bearer_token_file: Option<PathBuf>,
}

/// Loopback, the networks allowed when `allow_networks` is absent.
const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];

impl MetricsSection {
    /// Checks that every network parses; the message names the entry.
    pub fn validate(&self) -> Result<(), String> {
        for net in self.allow_networks.iter().flatten() {
            if super::parse_net(net).is_none() {
                return Err(format!(
                    "server.metrics.allow_networks: {net:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
                ));
            }
        }
        Ok(())
    }

    /// The networks that may scrape without a token.
    pub fn networks(&self) -> Vec<ipnet::IpNet> {
        match &self.allow_networks {
            Some(nets) => nets.iter().filter_map(|n| super::parse_net(n)).collect(),
            None => LOOPBACK.iter().filter_map(|n| super::parse_net(n)).collect(),
        }
    }

    /// Reads the token from its file, if one is configured: `Ok(None)` without a file; an error names
    /// the file and says what is wrong (unreadable, empty).
    pub fn token(&self) -> Result<Option<String>, String> {
        let Some(path) = &self.bearer_token_file else { return Ok(None) };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("server.metrics.bearer_token_file {}: cannot read: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("server.metrics.bearer_token_file {}: the file is empty", path.display()));
        }
        Ok(Some(token.to_owned()))
    }
}

/// Whether `peer` is in one of `networks` (an IPv4 address mapped into IPv6 counts as IPv4).
pub fn network_allows(networks: &[ipnet::IpNet], peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    networks.iter().any(|n| n.contains(&peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_default_and_listed_networks_otherwise() {
        let default = MetricsSection::default().networks();
        assert!(network_allows(&default, "127.0.0.1".parse().expect("ip")));
        assert!(network_allows(&default, "::1".parse().expect("ip")));
        assert!(network_allows(&default, "::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!network_allows(&default, "10.1.2.3".parse().expect("ip")));
        let pods = MetricsSection { allow_networks: Some(vec!["10.0.0.0/8".into()]), ..Default::default() };
        assert!(network_allows(&pods.networks(), "10.1.2.3".parse().expect("ip")));
        assert!(!network_allows(&pods.networks(), "127.0.0.1".parse().expect("ip")), "the list replaces loopback");
        let none = MetricsSection { allow_networks: Some(vec![]), ..Default::default() };
        assert!(!network_allows(&none.networks(), "127.0.0.1".parse().expect("ip")));
        let bad = MetricsSection { allow_networks: Some(vec!["10.0.0.0/33".into()]), ..Default::default() };
        assert!(bad.validate().expect_err("bad cidr").contains("\"10.0.0.0/33\""));
    }

    #[test]
    fn the_token_file_is_trimmed_and_an_empty_one_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t\n").expect("write");
        let section = MetricsSection { bearer_token_file: Some(path.clone()), ..Default::default() };
        assert_eq!(section.token().expect("read").as_deref(), Some("s3cr3t"));
        std::fs::write(&path, " \n").expect("write");
        assert!(section.token().expect_err("empty").ends_with("the file is empty"));
        std::fs::remove_file(&path).expect("rm");
        assert!(section.token().expect_err("missing").contains("cannot read"));
    }
}
