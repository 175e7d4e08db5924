//! OIDC providers: their signing keys (discovery, a JWKS URL or a JWKS file, cached and refreshed)
//! and the strict verification of the tokens they issue.
//!
//! Checks, in order: the token names a configured issuer (`iss` exact); its `alg` is RS256 or ES256
//! and is the algorithm of the key its `kid` names (so no `none`, no HMAC with a public key); the
//! signature; `exp`, `nbf` and `iat` with [`LEEWAY_SECS`]; and at least one `aud` among the accepted
//! audiences (a token minted for the kube-apiserver itself is refused unless its audience is listed).

use super::IdentityError;
use crate::config::identity::OidcProviderConfig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Clock skew tolerated on `exp`, `nbf` and `iat` (seconds).
pub const LEEWAY_SECS: u64 = 60;
/// Keys are fetched again after this long, even when every `kid` is known.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// An unknown `kid` triggers a refetch at most this often (per provider).
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(10);
/// The longest token accepted.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The largest discovery or JWKS document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// One verification key of a provider.
struct VerifyKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// The keys last fetched and when.
#[derive(Default)]
struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
    fetched: Option<Instant>,
}

/// One configured issuer with its key cache.
pub struct Provider {
    /// Its configuration.
    pub config: OidcProviderConfig,
    http: Option<reqwest::Client>,
    keys: RwLock<Arc<KeySet>>,
    /// Serialises fetches and remembers the last fetch an unknown `kid` caused (for rate limiting).
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The provider's ARN (`arn:aws:iam::000000000000:oidc-provider/HOST/PATH`).
    pub provider_arn: String,
    /// The issuer without scheme: the prefix of condition keys.
    pub issuer_key: String,
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud`, as a list.
    pub audiences: Vec<String>,
    /// `exp` (Unix seconds).
    pub expires: u64,
    /// All claims.
    pub claims: Map<String, Value>,
}

impl VerifiedToken {
    /// The claims a projected service-account token of `namespace/service_account` from `provider`
    /// with audience `audience` is known to carry before it exists (`iss`, `sub`, `aud`, and
    /// `kubernetes.io.{namespace, serviceaccount.name}`), for asking a trust policy ahead of time
    /// whether such a token would be allowed. Never the result of a verification.
    pub fn synthetic_service_account(
        provider: &OidcProviderConfig,
        namespace: &str,
        service_account: &str,
        audience: &str,
    ) -> Self {
        let subject = format!("system:serviceaccount:{namespace}:{service_account}");
        let claims = serde_json::json!({
            "iss": provider.issuer,
            "sub": subject,
            "aud": [audience],
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": service_account}},
        });
        Self {
            provider_arn: provider.arn(),
            issuer_key: provider.host_path().to_owned(),
            issuer: provider.issuer.clone(),
            subject,
            audiences: vec![audience.to_owned()],
            expires: 0,
            claims: match claims {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    /// The Kubernetes identity in a projected service-account token: namespace, service account, pod,
    /// read from its `kubernetes.io` claim only. No fallback on `sub` (`system:serviceaccount:NS:SA`):
    /// every token kube-apiserver projects carries the claim (legacy secret tokens carry no `aud` and are
    /// refused anyway), while a `sub` of that shape proves nothing about a non-Kubernetes issuer whose
    /// subjects users can choose.
    pub fn kubernetes(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        let k8s = self.claims.get("kubernetes.io");
        let at = |path: &[&str]| {
            let mut v = k8s?;
            for p in path {
                v = v.get(p)?;
            }
            v.as_str()
        };
        (at(&["namespace"]), at(&["serviceaccount", "name"]), at(&["pod", "name"]))
    }

    /// Condition keys for trust policies, named after the issuer (`ISSUER:sub`, `ISSUER:aud`, and
    /// every string claim nested under `kubernetes.io`, joined with `/`:
    /// `ISSUER:kubernetes.io/namespace`, `ISSUER:kubernetes.io/serviceaccount/name`,
    /// `ISSUER:kubernetes.io/pod/name`, …), plus `ISSUER:CLAIM` for other top-level string claims.
    pub fn condition_keys(&self) -> Vec<(String, Vec<String>)> {
        let p = &self.issuer_key;
        let mut keys =
            vec![(format!("{p}:sub"), vec![self.subject.clone()]), (format!("{p}:aud"), self.audiences.clone())];
        for (name, value) in &self.claims {
            match (name.as_str(), value) {
                ("sub" | "aud", _) => {}
                (_, Value::String(s)) => keys.push((format!("{p}:{name}"), vec![s.clone()])),
                (_, Value::Object(_)) => flatten(&format!("{p}:{name}"), value, 0, &mut keys),
                _ => {}
            }
        }
        keys
    }

    /// Policy variables of the session: `jwt:CLAIM` for each top-level string claim (and `jwt:aud`
    /// for the first audience), `k8s:namespace`, `k8s:serviceaccount`, `k8s:pod`.
    pub fn variables(&self) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        for (name, value) in &self.claims {
            if let Value::String(s) = value
                && s.len() <= 256
                && vars.len() < 32
            {
                vars.insert(format!("jwt:{name}"), s.clone());
            }
        }
        if let Some(aud) = self.audiences.first() {
            vars.insert("jwt:aud".to_owned(), aud.clone());
        }
        let (ns, sa, pod) = self.kubernetes();
        for (name, value) in [("k8s:namespace", ns), ("k8s:serviceaccount", sa), ("k8s:pod", pod)] {
            if let Some(v) = value {
                vars.insert(name.to_owned(), v.to_owned());
            }
        }
        vars
    }
}

fn flatten(prefix: &str, value: &Value, depth: usize, out: &mut Vec<(String, Vec<String>)>) {
    match value {
        Value::String(s) => out.push((prefix.to_owned(), vec![s.clone()])),
        Value::Object(map) if depth < 3 => {
            for (k, v) in map {
                flatten(&format!("{prefix}/{k}"), v, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// The configured providers.
#[derive(Default)]
pub struct Providers {
    list: Vec<Arc<Provider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<&str> = self.list.iter().map(|p| p.config.issuer.as_str()).collect();
        f.debug_struct("Providers").field("issuers", &issuers).finish()
    }
}

impl Providers {
    /// Builds the providers of `configs`, keeping the key cache of any provider of `previous` whose
    /// configuration is unchanged.
    pub fn new(configs: &[OidcProviderConfig], previous: Option<&Providers>) -> Result<Self, IdentityError> {
        let mut list = Vec::new();
        for config in configs {
            if let Some(same) = previous.and_then(|p| p.list.iter().find(|p| &p.config == config)) {
                list.push(same.clone());
            } else {
                list.push(Arc::new(Provider::new(config.clone())?));
            }
        }
        Ok(Self { list })
    }

    /// The provider whose issuer is exactly `iss`.
    pub fn by_issuer(&self, iss: &str) -> Option<&Arc<Provider>> {
        self.list.iter().find(|p| p.config.issuer == iss)
    }

    /// The configured providers, in configuration order.
    pub fn configs(&self) -> impl Iterator<Item = &OidcProviderConfig> {
        self.list.iter().map(|p| &p.config)
    }

    /// Whether any provider is configured.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Verifies `token` against the provider named by its `iss`, requiring one of `audiences` (the
    /// provider's own when `None`).
    /// Trailing whitespace is not part of the token: a token file (`kubectl create token > file`, a
    /// projected volume) often ends in a newline, which clients send along.
    pub async fn verify(&self, token: &str, audiences: Option<&[String]>) -> Result<VerifiedToken, IdentityError> {
        let token = token_text(token);
        let invalid = |m: &str| IdentityError::InvalidIdentityToken(m.to_owned());
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("the token is longer than 16 KiB"));
        }
        let iss = unverified_issuer(token).ok_or_else(|| invalid("the token is not a JWT with an iss claim"))?;
        let provider = self.by_issuer(&iss).ok_or_else(|| {
            IdentityError::InvalidIdentityToken(format!(
                "no OIDC provider with issuer {iss:?} is configured (identity.oidc_providers)"
            ))
        })?;
        provider.verify(token, audiences.unwrap_or(&provider.config.audiences)).await
    }
}

/// A token as sent, without the trailing ASCII whitespace (a newline) that a token read from a file
/// brings along. A JWT has no whitespace of its own, so nothing inside the token is touched.
fn token_text(sent: &str) -> &str {
    sent.trim_end_matches(|c: char| c.is_ascii_whitespace())
}

/// The `iss` claim, read before verification only to pick the provider.
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

impl Provider {
    fn new(config: OidcProviderConfig) -> Result<Self, IdentityError> {
        let http = if config.jwks_file.is_some() {
            None
        } else {
            let mut builder = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::limited(3));
            if let Some(ca) = &config.ca_file {
                let pem =
                    std::fs::read(ca).map_err(|e| IdentityError::Config(format!("ca_file {}: {e}", ca.display())))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| IdentityError::Config(format!("ca_file {}: not a PEM bundle: {e}", ca.display())))?;
                builder = builder.tls_certs_only(certs);
            }
            Some(builder.build().map_err(|e| IdentityError::Config(format!("HTTP client: {e}")))?)
        };
        Ok(Self { config, http, keys: RwLock::new(Arc::default()), fetching: tokio::sync::Mutex::new(None) })
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The key for `kid`, fetching the keys when they are missing, stale, or do not have it.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyKey>, IdentityError> {
        let find = |set: &KeySet| -> Option<Arc<VerifyKey>> {
            match kid {
                Some(kid) => set.keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
                // No kid: only unambiguous when one key of that algorithm exists.
                None => {
                    let mut of_alg = set.keys.iter().filter(|k| k.alg == alg);
                    match (of_alg.next(), of_alg.next()) {
                        (Some(k), None) => Some(k.clone()),
                        _ => None,
                    }
                }
            }
        };
        let set = self.current();
        let stale = set.fetched.is_none_or(|t| t.elapsed() > KEYS_MAX_AGE);
        if !stale && let Some(k) = find(&set) {
            return Ok(k);
        }
        let mut last_forced = self.fetching.lock().await;
        // Someone else may have refreshed while we waited.
        let set = self.current();
        let fresh_enough = set.fetched.is_some_and(|t| t.elapsed() < KEYS_MAX_AGE);
        if fresh_enough && let Some(k) = find(&set) {
            return Ok(k);
        }
        let stale = set.fetched.is_none_or(|t| t.elapsed() > KEYS_MAX_AGE);
        let may_force = last_forced.is_none_or(|t| t.elapsed() >= UNKNOWN_KID_REFETCH);
        if stale || may_force {
            if !stale {
                *last_forced = Some(Instant::now());
            }
            match self.fetch().await {
                Ok(keys) => {
                    tracing::info!(issuer = %self.config.issuer, keys = keys.len(), "fetched OIDC signing keys");
                    let set = Arc::new(KeySet { keys, fetched: Some(Instant::now()) });
                    *self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner) = set;
                }
                Err(e) if set.fetched.is_some() => {
                    tracing::warn!(issuer = %self.config.issuer, error = %e, "refreshing OIDC keys failed; keeping the old ones");
                }
                Err(e) => return Err(e),
            }
        }
        find(&self.current()).ok_or_else(|| {
            IdentityError::InvalidIdentityToken(match kid {
                Some(kid) => format!("the issuer has no signing key with kid {kid:?}"),
                None => "the token has no kid and the issuer has several keys".to_owned(),
            })
        })
    }

    async fn fetch(&self) -> Result<Vec<Arc<VerifyKey>>, IdentityError> {
        let comm = |m: String| IdentityError::IdpCommunication(m);
        let body = if let Some(file) = &self.config.jwks_file {
            tokio::fs::read(file).await.map_err(|e| comm(format!("jwks_file {}: {e}", file.display())))?
        } else {
            let url = match &self.config.jwks_url {
                Some(url) => url.clone(),
                None => {
                    let discovery =
                        format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
                    let doc: Value = serde_json::from_slice(&self.get(&discovery).await?)
                        .map_err(|e| comm(format!("{discovery}: not JSON: {e}")))?;
                    doc.get("jwks_uri")
                        .and_then(Value::as_str)
                        .ok_or_else(|| comm(format!("{discovery}: no jwks_uri")))?
                        .to_owned()
                }
            };
            self.get(&url).await?
        };
        let keys = parse_jwks(&body).map_err(comm)?;
        if keys.is_empty() {
            return Err(comm(format!("{}: no RS256 or ES256 key in the JWKS", self.config.issuer)));
        }
        Ok(keys)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, IdentityError> {
        let comm = |m: String| IdentityError::IdpCommunication(m);
        let http = self.http.as_ref().ok_or_else(|| comm("no HTTP client".to_owned()))?;
        let mut resp = http.get(url).send().await.map_err(|e| comm(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(comm(format!("{url}: HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| comm(format!("{url}: {e}")))? {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(comm(format!("{url}: larger than 1 MiB")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Verifies a token of this provider.
    async fn verify(&self, token: &str, audiences: &[String]) -> Result<VerifiedToken, IdentityError> {
        let invalid = |m: String| IdentityError::InvalidIdentityToken(m);
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("the token header is invalid: {e}")))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(invalid(format!("algorithm {:?} is not accepted: only RS256 and ES256", header.alg)));
        }
        let key = self.key(header.kid.as_deref(), header.alg).await?;
        if key.alg != header.alg {
            return Err(invalid(format!("the token says {:?} but its key is for {:?}", header.alg, key.alg)));
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => IdentityError::ExpiredToken,
                K::ImmatureSignature => invalid("the token is not valid yet (nbf is in the future)".to_owned()),
                K::InvalidAudience => invalid(format!("incorrect token audience: expected one of {audiences:?}")),
                K::InvalidIssuer => invalid("the token's issuer does not match".to_owned()),
                K::InvalidSignature => invalid("the token's signature is invalid".to_owned()),
                K::MissingRequiredClaim(c) => invalid(format!("the token has no {c} claim")),
                _ => invalid(format!("the token is invalid: {e}")),
            }
        })?;
        let claims = data.claims;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.get("iat").and_then(Value::as_u64).is_some_and(|iat| iat > now + LEEWAY_SECS) {
            return Err(invalid("the token was issued in the future (iat)".to_owned()));
        }
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
        if subject.is_empty() {
            return Err(invalid("the token's sub is empty".to_owned()));
        }
        let audiences = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(VerifiedToken {
            provider_arn: self.config.arn(),
            issuer_key: self.config.host_path().to_owned(),
            issuer: self.config.issuer.clone(),
            subject,
            audiences,
            expires: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
            claims,
        })
    }
}

/// The RS256 and ES256 (P-256) keys of a JWKS document; other keys (HMAC secrets, other curves,
/// encryption keys) are skipped.
fn parse_jwks(body: &[u8]) -> Result<Vec<Arc<VerifyKey>>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let list = doc.get("keys").and_then(Value::as_array).ok_or("the JWKS has no keys array")?;
    let mut keys = Vec::new();
    for entry in list {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else { continue };
        if entry.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") {
            continue;
        }
        let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        keys.push(Arc::new(VerifyKey { kid: jwk.common.key_id.clone(), alg, key }));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_keeps_only_rs256_and_es256_signing_keys() {
        let body = br#"{"keys":[
            {"kty":"oct","kid":"h","k":"c2VjcmV0"},
            {"kty":"EC","kid":"e","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"weird"}
        ]}"#;
        let keys = parse_jwks(body).expect("parse");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("e"));
        assert_eq!(keys[0].alg, Algorithm::ES256);
        assert!(parse_jwks(b"{}").is_err());
    }

    #[test]
    fn kubernetes_claims_become_condition_keys_and_variables() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"iss":"https://k8s.example","sub":"system:serviceaccount:ci:builder","aud":["sts.amazonaws.com"],
                "exp":2000000000,"kubernetes.io":{"namespace":"ci","serviceaccount":{"name":"builder","uid":"u1"},
                "pod":{"name":"builder-7d9","uid":"u2"}}}"#,
        )
        .expect("json");
        let t = VerifiedToken {
            provider_arn: "arn".into(),
            issuer_key: "k8s.example".into(),
            issuer: "https://k8s.example".into(),
            subject: "system:serviceaccount:ci:builder".into(),
            audiences: vec!["sts.amazonaws.com".into()],
            expires: 2_000_000_000,
            claims,
        };
        let keys = t.condition_keys();
        let get = |k: &str| keys.iter().find(|(n, _)| n == k).map(|(_, v)| v[0].as_str());
        assert_eq!(get("k8s.example:sub"), Some("system:serviceaccount:ci:builder"));
        assert_eq!(get("k8s.example:aud"), Some("sts.amazonaws.com"));
        assert_eq!(get("k8s.example:kubernetes.io/namespace"), Some("ci"));
        assert_eq!(get("k8s.example:kubernetes.io/serviceaccount/name"), Some("builder"));
        assert_eq!(get("k8s.example:kubernetes.io/pod/name"), Some("builder-7d9"));
        let vars = t.variables();
        assert_eq!(vars["k8s:namespace"], "ci");
        assert_eq!(vars["k8s:serviceaccount"], "builder");
        assert_eq!(vars["k8s:pod"], "builder-7d9");
        assert_eq!(vars["jwt:sub"], "system:serviceaccount:ci:builder");
        assert_eq!(vars["jwt:aud"], "sts.amazonaws.com");
    }

    #[test]
    fn a_kubernetes_looking_sub_alone_is_no_kubernetes_identity() {
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"iss":"https://idp.example","sub":"system:serviceaccount:prod:deployer"}"#)
                .expect("json");
        let t = VerifiedToken {
            provider_arn: "arn".into(),
            issuer_key: "idp.example".into(),
            issuer: "https://idp.example".into(),
            subject: "system:serviceaccount:prod:deployer".into(),
            audiences: vec!["kura".into()],
            expires: 2_000_000_000,
            claims,
        };
        assert_eq!(t.kubernetes(), (None, None, None));
        let vars = t.variables();
        assert!(!vars.contains_key("k8s:namespace") && !vars.contains_key("k8s:serviceaccount"), "{vars:?}");
    }

    #[test]
    fn a_token_from_a_file_loses_its_trailing_newline_only() {
        assert_eq!(token_text("h.p.s\n"), "h.p.s");
        assert_eq!(token_text("h.p.s\r\n \t"), "h.p.s");
        assert_eq!(token_text("h.p.s"), "h.p.s");
        assert_eq!(token_text("h.p\n.s\n"), "h.p\n.s", "never inside the token");
        assert_eq!(token_text(" h.p.s"), " h.p.s", "leading whitespace stays (and fails verification)");
    }

    #[test]
    fn issuer_is_read_only_from_a_jwt_shape() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://a"}"#);
        assert_eq!(unverified_issuer(&format!("h.{payload}.s")).as_deref(), Some("https://a"));
        assert_eq!(unverified_issuer("not-a-jwt"), None);
        assert_eq!(unverified_issuer(&format!("h.{}.s", URL_SAFE_NO_PAD.encode(b"[]"))), None);
    }
}
