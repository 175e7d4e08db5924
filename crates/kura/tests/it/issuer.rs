//! A fake OIDC issuer on loopback: discovery document and JWKS over HTTP, keys that rotate, and tokens
//! shaped like Kubernetes projected service-account tokens.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// One signing key.
#[derive(Clone)]
pub struct Key {
    /// Its `kid`.
    pub kid: String,
    /// RS256 or ES256.
    pub alg: Algorithm,
    /// The private key.
    pub encoding: EncodingKey,
    /// The public JWK as served.
    pub jwk: Value,
}

impl Key {
    /// A fresh ES256 key.
    pub fn es256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec key");
        let der = pair.to_pkcs8v1().expect("pkcs8");
        Self::new(kid, Algorithm::ES256, EncodingKey::from_ec_der(der.as_ref()))
    }

    /// A fresh RS256 key (2048 bits).
    pub fn rs256(kid: &str) -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key");
        let der = pair.as_der().expect("pkcs8");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
        Self::new(kid, Algorithm::RS256, EncodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa pem"))
    }

    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
        let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).expect("jwk")).expect("json");
        jwk["kid"] = kid.into();
        jwk["use"] = "sig".into();
        Self { kid: kid.to_owned(), alg, encoding, jwk }
    }

    /// Signs `claims` with this key (header `alg` and `kid` from the key).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// The issuer.
pub struct FakeIssuer {
    /// `http://127.0.0.1:PORT` (the `iss`).
    pub url: String,
    keys: Arc<Mutex<Vec<Key>>>,
    /// How many times the JWKS was served.
    pub jwks_fetches: Arc<AtomicUsize>,
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

impl FakeIssuer {
    /// Starts serving on an ephemeral loopback port with one ES256 and one RS256 key.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let keys = Arc::new(Mutex::new(vec![Key::es256("es-1"), Key::rs256("rs-1")]));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let (served_keys, fetches, issuer) = (keys.clone(), jwks_fetches.clone(), url.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (keys, fetches, issuer) = (served_keys.clone(), fetches.clone(), issuer.clone());
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let body = match req.uri().path() {
                        "/.well-known/openid-configuration" => {
                            json!({"issuer": issuer, "jwks_uri": format!("{issuer}/openid/v1/jwks")}).to_string()
                        }
                        "/openid/v1/jwks" => {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            let keys = keys.lock().expect("keys");
                            json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
                        }
                        _ => String::new(),
                    };
                    let status = if body.is_empty() { 404 } else { 200 };
                    let resp = hyper::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .expect("response");
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Self { url, keys, jwks_fetches }
    }

    /// The provider's host and path: the prefix of its condition keys.
    pub fn host_path(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The key at `index` (0: ES256, 1: RS256, then rotated-in keys).
    pub fn key(&self, index: usize) -> Key {
        self.keys.lock().expect("keys")[index].clone()
    }

    /// Publishes a new ES256 key (appended) and returns it.
    pub fn rotate(&self, kid: &str) -> Key {
        let key = Key::es256(kid);
        self.keys.lock().expect("keys").push(key.clone());
        key
    }

    /// Claims of a projected service-account token for `namespace/service_account` with `aud`.
    pub fn claims(&self, namespace: &str, service_account: &str, aud: &[&str]) -> Value {
        let now = now();
        json!({
            "iss": self.url,
            "sub": format!("system:serviceaccount:{namespace}:{service_account}"),
            "aud": aud,
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": service_account, "uid": uuid::Uuid::new_v4().to_string()},
                "pod": {"name": format!("{service_account}-7d9f"), "uid": uuid::Uuid::new_v4().to_string()}
            }
        })
    }

    /// A valid token for `namespace/service_account` (audience `sts.amazonaws.com`), ES256.
    pub fn token(&self, namespace: &str, service_account: &str) -> String {
        self.key(0).sign(&self.claims(namespace, service_account, &["sts.amazonaws.com"]))
    }
}
