//! `kura oidc`: a service-account issuer in one command (`init`: key pair, discovery document, JWKS and
//! the kube-apiserver flags), and `token`: tokens shaped like projected service-account tokens, for
//! tests and demos.

use anyhow::{Context as _, bail};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use clap::{Args, Subcommand};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `kura oidc …`.
#[derive(Debug, Args)]
pub struct OidcArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: OidcCommand,
}

/// The `kura oidc` subcommands.
#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Create an issuer: an ES256 key pair (PKCS#8 PEM), `.well-known/openid-configuration` and
    /// `jwks.json` (kid = RFC 7638 thumbprint), and print the kube-apiserver flags and kura config.
    Init(InitArgs),
    /// Mint a token shaped like a projected service-account token and print it.
    Token(TokenArgs),
}

/// `kura oidc init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The issuer URL (where the discovery document and jwks.json will be served).
    #[arg(long)]
    pub issuer: String,
    /// Directory to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing key in DIR.
    #[arg(long)]
    pub force: bool,
}

/// `kura oidc token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The private key (PKCS#8 PEM, EC P-256 or RSA), e.g. DIR/sa-signer.key from `kura oidc init`.
    #[arg(long)]
    pub key: PathBuf,
    /// The issuer (`iss`).
    #[arg(long)]
    pub issuer: String,
    /// Subject; default `system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT`.
    #[arg(long)]
    pub sub: Option<String>,
    /// Audience (repeat for several).
    #[arg(long = "aud", required = true)]
    pub audiences: Vec<String>,
    /// Kubernetes namespace (adds the `kubernetes.io` claim).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Service account name.
    #[arg(long)]
    pub service_account: Option<String>,
    /// Pod name.
    #[arg(long)]
    pub pod: Option<String>,
    /// Lifetime, e.g. 10m, 1h, 3600s.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
}

/// Runs `kura oidc`.
pub fn run(args: OidcArgs) -> anyhow::Result<()> {
    match args.command {
        OidcCommand::Init(a) => init(&a),
        OidcCommand::Token(a) => {
            println!("{}", mint(&a)?);
            Ok(())
        }
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The signing key of a PEM file and its algorithm (ES256 for EC P-256 keys, RS256 for RSA keys).
fn load_key(pem_bytes: &[u8]) -> anyhow::Result<(EncodingKey, Algorithm)> {
    if let Ok(k) = EncodingKey::from_ec_pem(pem_bytes) {
        return Ok((k, Algorithm::ES256));
    }
    if let Ok(k) = EncodingKey::from_rsa_pem(pem_bytes) {
        return Ok((k, Algorithm::RS256));
    }
    bail!("the key is neither a PKCS#8 EC P-256 key nor an RSA key in PEM")
}

/// The public JWK (with `kid` = RFC 7638 thumbprint, `use` = sig, `alg`) of a private key.
fn public_jwk(key: &EncodingKey, alg: Algorithm) -> anyhow::Result<serde_json::Value> {
    let jwk = Jwk::from_encoding_key(key, alg).context("deriving the public key")?;
    let kid = jwk.thumbprint(ThumbprintHash::SHA256).context("thumbprint")?;
    let mut value = serde_json::to_value(&jwk)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("kid".into(), kid.into());
        map.insert("use".into(), "sig".into());
    }
    Ok(value)
}

fn write(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let _ = private;
    use std::io::Write as _;
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn init(args: &InitArgs) -> anyhow::Result<()> {
    let issuer = args.issuer.trim_end_matches('/');
    if !issuer.starts_with("https://") && !issuer.starts_with("http://") {
        bail!("--issuer must be an https:// URL (the tokens' iss)");
    }
    let key_path = args.out.join("sa-signer.key");
    if key_path.exists() && !args.force {
        bail!(
            "{} exists: pass --force to replace the key (tokens signed with it will stop verifying)",
            key_path.display()
        );
    }
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    let pkcs8 = pair.to_pkcs8v1().map_err(|_| anyhow::anyhow!("key serialisation failed"))?;
    let private_pem = pem("PRIVATE KEY", pkcs8.as_ref());
    let spki = [P256_SPKI_PREFIX, pair.public_key().as_ref()].concat();
    let public_pem = pem("PUBLIC KEY", &spki);
    let (key, alg) = load_key(private_pem.as_bytes())?;
    let jwk = public_jwk(&key, alg)?;
    let jwks = serde_json::json!({ "keys": [jwk] });
    let jwks_uri = format!("{issuer}/jwks.json");
    let discovery = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    write(&key_path, &private_pem, true)?;
    write(&args.out.join("sa-signer.pub"), &public_pem, false)?;
    write(&args.out.join("jwks.json"), &format!("{:#}\n", jwks), false)?;
    write(&args.out.join(".well-known/openid-configuration"), &format!("{:#}\n", discovery), false)?;
    let dir = args.out.display();
    println!(
        "Wrote {dir}/sa-signer.key (private, 0600), {dir}/sa-signer.pub, {dir}/jwks.json and \
         {dir}/.well-known/openid-configuration.\n\n\
         1. Serve jwks.json and .well-known/openid-configuration at {issuer}/ (any static web server, or skip\n   \
         this and give kura the JWKS file directly, below).\n\n\
         2. kube-apiserver flags (then restart it):\n  \
         --service-account-issuer={issuer}\n  \
         --service-account-signing-key-file={dir}/sa-signer.key\n  \
         --service-account-key-file={dir}/sa-signer.pub\n  \
         --service-account-jwks-uri={jwks_uri}\n\n\
         3. kura config:\n\
         identity:\n  \
         oidc_providers:\n    \
         - issuer: {issuer}\n      \
         audiences: [sts.amazonaws.com]\n      \
         jwks_file: {dir}/jwks.json   # or leave out to use discovery"
    );
    Ok(())
}

fn mint(args: &TokenArgs) -> anyhow::Result<String> {
    let pem_bytes = std::fs::read(&args.key).with_context(|| format!("reading {}", args.key.display()))?;
    let (key, alg) = load_key(&pem_bytes)?;
    let jwk = public_jwk(&key, alg)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let ttl = super::parse_seconds(&args.ttl, "--ttl")?;
    let sub = match (&args.sub, &args.namespace, &args.service_account) {
        (Some(s), _, _) => s.clone(),
        (None, Some(ns), Some(sa)) => format!("system:serviceaccount:{ns}:{sa}"),
        _ => bail!("give --sub, or --namespace and --service-account"),
    };
    let mut claims = serde_json::json!({
        "iss": args.issuer,
        "sub": sub,
        "aud": args.audiences,
        "exp": now + ttl,
        "iat": now,
        "nbf": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let (Some(ns), Some(map)) = (&args.namespace, claims.as_object_mut()) {
        let mut k8s = serde_json::json!({ "namespace": ns });
        if let Some(sa) = &args.service_account {
            k8s["serviceaccount"] = serde_json::json!({ "name": sa, "uid": uuid::Uuid::new_v4().to_string() });
        }
        if let Some(pod) = &args.pod {
            k8s["pod"] = serde_json::json!({ "name": pod, "uid": uuid::Uuid::new_v4().to_string() });
        }
        map.insert("kubernetes.io".into(), k8s);
    }
    let mut header = Header::new(alg);
    header.kid = jwk.get("kid").and_then(serde_json::Value::as_str).map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &key).context("signing the token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let p = |t: &str| super::super::parse_seconds(t, "--ttl").ok();
        assert_eq!(p("90"), Some(90));
        assert_eq!(p("10m"), Some(600));
        assert_eq!(p("2h"), Some(7200));
        assert_eq!(p("1y"), None);
        assert_eq!(p("m"), None);
    }

    #[test]
    fn init_then_token_verifies_against_the_written_jwks() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("issuer");
        init(&InitArgs { issuer: "https://issuer.example".into(), out: out.clone(), force: false }).expect("init");
        assert!(init(&InitArgs { issuer: "https://issuer.example".into(), out: out.clone(), force: false }).is_err());
        let token = mint(&TokenArgs {
            key: out.join("sa-signer.key"),
            issuer: "https://issuer.example".into(),
            sub: None,
            audiences: vec!["sts.amazonaws.com".into()],
            namespace: Some("ci".into()),
            service_account: Some("builder".into()),
            pod: Some("builder-1".into()),
            ttl: "10m".into(),
        })
        .expect("token");
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_slice(&std::fs::read(out.join("jwks.json")).expect("read")).expect("jwks");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("kid in jwks");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["sts.amazonaws.com"]);
        validation.set_issuer(&["https://issuer.example"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
            &validation,
        )
        .expect("verifies");
        assert_eq!(data.claims["sub"], "system:serviceaccount:ci:builder");
        assert_eq!(data.claims["kubernetes.io"]["pod"]["name"], "builder-1");
        let discovery: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(".well-known/openid-configuration")).expect("read"))
                .expect("json");
        assert_eq!(discovery["jwks_uri"], "https://issuer.example/jwks.json");
        assert!(
            std::fs::read_to_string(out.join("sa-signer.pub")).expect("pub").starts_with("-----BEGIN PUBLIC KEY-----")
        );
    }
}
