//! Tokens: kura's sealed session tokens (`Keyring::open`) and OIDC JWTs (`Providers::verify`, with
//! the keys from a JWKS file, so no network).
//!
//! Input, by prefix:
//! - `jwt TOKEN`: an OIDC token for the issuer `https://oidc.fuzz.invalid`, whose only key
//!   (ES256, kid `fuzz-1`) is `fixtures/jwks.json`.
//! - `seal PAYLOAD`: PAYLOAD (JSON claims) sealed with the test key, so the claims are read.
//! - `ACCESS_KEY TOKEN`, or a bare `TOKEN` (presented with [`ACCESS_KEY`]): a session token as sent.

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kura_server::config::identity::OidcProviderConfig;
use kura_server::identity::oidc::Providers;
use kura_server::identity::session::Keyring;

/// The test session key (`KID` `AAAA`).
const KEY: [u8; 32] = [0x42; 32];
/// A temporary access key of key `AAAA`.
pub const ACCESS_KEY: &str = "ASIAAAAAFUZZFUZZFUZZ";
/// The issuer of the test OIDC provider.
pub const ISSUER: &str = "https://oidc.fuzz.invalid";
/// The "now" session tokens are opened at (2024-05-01).
const NOW: u64 = 1_714_564_800;

/// The keyring with the test key.
fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| match Keyring::parse(&format!("AAAA {}\n", STANDARD.encode(KEY))) {
        Ok(keyring) => keyring,
        Err(e) => panic!("the test keyring does not parse: {e}"),
    })
}

/// A runtime to drive the async verification, and the test provider.
fn oidc() -> &'static (tokio::runtime::Runtime, Providers) {
    static OIDC: OnceLock<(tokio::runtime::Runtime, Providers)> = OnceLock::new();
    OIDC.get_or_init(|| {
        let file = std::env::temp_dir().join(format!("kura-fuzz-jwks-{}.json", std::process::id()));
        std::fs::write(&file, include_str!("../fixtures/jwks.json")).expect("write the JWKS file");
        let config = OidcProviderConfig {
            issuer: ISSUER.to_owned(),
            audiences: vec!["kura".to_owned()],
            jwks_url: None,
            jwks_file: Some(file),
            ca_file: None,
        };
        let providers = Providers::new(&[config], None).expect("the test provider");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        (runtime, providers)
    })
}

/// Opens or verifies the input as the token its prefix says (see the module).
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(token) = text.strip_prefix("jwt ") {
        let (runtime, providers) = oidc();
        if let Ok(verified) = runtime.block_on(providers.verify(token, None)) {
            let _ = verified.kubernetes();
            let _ = verified.condition_keys();
            let _ = verified.variables();
        }
    } else if let Some(payload) = text.strip_prefix("seal ") {
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let key = hmac::Key::new(hmac::HMAC_SHA256, &KEY);
        let tag = hmac::sign(&key, format!("kura-session-token\0{payload}").as_bytes());
        let token = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        let _ = keyring().open(ACCESS_KEY, &token, NOW);
    } else {
        let (access_key, token) = text.split_once(' ').unwrap_or((ACCESS_KEY, text));
        let _ = keyring().open(access_key, token, NOW);
        let _ = keyring().secret_for(access_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds reach past the signature checks, so the fuzzer starts from the deep paths.
    #[test]
    fn the_seed_tokens_are_valid() {
        let seed = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/tokens").join(name);
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let jwt = seed("jwt-valid");
        let (runtime, providers) = oidc();
        let verified = runtime.block_on(providers.verify(jwt.trim_start_matches("jwt "), None));
        assert!(verified.is_ok(), "{verified:?}");
        let session = seed("session-token");
        let (access_key, token) = session.split_once(' ').expect("ACCESS_KEY TOKEN");
        assert!(keyring().open(access_key, token, NOW).is_ok());
    }
}
