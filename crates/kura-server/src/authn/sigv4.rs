//! Host aliases: a request is valid when it was signed for **any** of kura's configured names,
//! whatever `Host` it arrives with, and never for a name outside that set.
//!
//! s3s verifies a signature against the received `Host` only. So, for SigV4 requests (header or
//! presigned query), [`HostAliases::admit`] asks `kura-sigv4` (the one canonical-request implementation
//! in kura) which name the client signed for and rewrites `Host` to it; s3s then verifies the request
//! as usual. SigV4 does not sign the scheme, so a URL made for `https://s3.example.com` works through a
//! TLS-terminating ingress that forwards plain HTTP.

use http::{HeaderMap, HeaderValue, Method, Uri};

/// The host names kura answers to (`host` or `host:port`, lower-case), from `server.public_urls`,
/// `server.internal_urls` and the listen address.
#[derive(Debug, Clone, Default)]
pub struct HostAliases {
    names: Vec<String>,
}

/// What [`HostAliases::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Not a SigV4 request, or signed for the received host, or sent to one of kura's names but valid
    /// for none of them: s3s decides (and answers SignatureDoesNotMatch in that last case).
    PassThrough,
    /// Signed for this other name of kura's: `Host` was rewritten to it.
    Rewritten(String),
    /// Signed for no name of kura's.
    Refused,
}

impl HostAliases {
    /// Builds the set from URLs (`https://s3.example.com`, `http://kura.ns.svc:9000`) and extra
    /// `host:port` names. Default ports (80 for http, 443 for https) are dropped, as clients sign.
    pub fn new(urls: &[String], extra: &[String]) -> Result<Self, String> {
        let mut names = Vec::new();
        for url in urls {
            let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not a URL"))?;
            let authority = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
            if authority.is_empty() || authority.contains('@') {
                return Err(format!("{url:?} has no host"));
            }
            let default_port = if scheme == "https" { ":443" } else { ":80" };
            names.push(authority.strip_suffix(default_port).map(str::to_owned).unwrap_or(authority));
        }
        names.extend(extra.iter().map(|n| n.to_ascii_lowercase()));
        names.dedup();
        Ok(Self { names })
    }

    /// Whether any alias is configured (else every request passes through).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The configured names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Decides a SigV4 request (`parsed`, read once by the gate): finds the name it was signed for
    /// with `secret` (looked up for its access key) and rewrites `Host` when that name differs from
    /// the received one.
    pub fn admit(
        &self,
        parsed: &kura_sigv4::ParsedAuth,
        method: &Method,
        uri: &Uri,
        headers: &mut HeaderMap,
        secret: impl FnOnce(&str) -> Option<String>,
    ) -> Admission {
        if self.names.is_empty() {
            return Admission::PassThrough;
        }
        let received = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase);
        if !parsed.signed_headers.iter().any(|h| h == "host") {
            return Admission::PassThrough;
        }
        let Some(secret) = secret(&parsed.access_key) else { return Admission::PassThrough };
        let scope = &parsed.scope;
        let key = kura_sigv4::derive_key(&secret, &scope.date, &scope.region, &scope.service);
        let known = received.as_ref().is_some_and(|r| self.names.contains(r));
        if let Some(r) = received.as_deref().filter(|_| known)
            && kura_sigv4::verify_for_hosts(parsed, method, uri, headers, &key, &[r]).is_some()
        {
            return Admission::PassThrough;
        }
        let others: Vec<&str> =
            self.names.iter().map(String::as_str).filter(|n| Some(*n) != received.as_deref()).collect();
        let found = kura_sigv4::verify_for_hosts(parsed, method, uri, headers, &key, &others);
        match found.and_then(|name| HeaderValue::from_str(name).ok().map(|v| (name, v))) {
            Some((name, value)) => {
                headers.insert(http::header::HOST, value);
                Admission::Rewritten(name.to_owned())
            }
            // Sent to one of kura's names but signed wrongly: s3s reports SignatureDoesNotMatch.
            None if known => Admission::PassThrough,
            None => Admission::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
    use std::time::{Duration, SystemTime};

    const SECRET: &str = "alias-secret-0123456789";

    /// Signs like the AWS SDKs do, for `host`; `presign` puts the signature in the query.
    fn signed_request(host: &str, path_and_query: &str, presign: bool) -> (Method, Uri, HeaderMap) {
        let creds = aws_credential_types::Credentials::new("aliasuser", SECRET, None, None, "test");
        let identity = creds.into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
        if presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(300));
        } else {
            settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .expect("params")
            .into();
        let url = format!("https://{host}{path_and_query}");
        let signable =
            SignableRequest::new("GET", url.clone(), [("host", host)].into_iter(), SignableBody::UnsignedPayload)
                .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        let mut request = http::Request::builder().method("GET").uri(path_and_query).body(()).expect("request");
        request.headers_mut().insert(http::header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        instructions.apply_to_request_http1x(&mut request);
        request.headers_mut().insert(http::header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        let (parts, ()) = request.into_parts();
        (parts.method, parts.uri, parts.headers)
    }

    fn aliases() -> HostAliases {
        HostAliases::new(
            &["https://s3.example.com".into(), "http://kura.storage.svc.cluster.local:9000".into()],
            &["127.0.0.1:9000".into()],
        )
        .expect("aliases")
    }

    fn lookup(key: &str) -> Option<String> {
        (key == "aliasuser").then(|| SECRET.to_owned())
    }

    impl HostAliases {
        /// Parses, then admits: unsigned requests pass through.
        fn admit_request(&self, method: &Method, uri: &Uri, headers: &mut HeaderMap) -> Admission {
            match kura_sigv4::parse_auth(uri, headers) {
                Ok(Some(parsed)) => self.admit(&parsed, method, uri, headers, lookup),
                _ => Admission::PassThrough,
            }
        }
    }

    #[test]
    fn names_drop_default_ports() {
        let a = HostAliases::new(&["https://S3.example.com:443/".into(), "http://x:80".into()], &[]).expect("ok");
        assert_eq!(a.names(), ["s3.example.com", "x"]);
        assert!(HostAliases::new(&["s3.example.com".into()], &[]).is_err());
    }

    #[test]
    fn a_presigned_url_for_an_alias_is_admitted_and_host_rewritten() {
        for host in ["s3.example.com", "kura.storage.svc.cluster.local:9000"] {
            for presign in [true, false] {
                let (method, uri, mut headers) = signed_request(host, "/bucket/dir/a%20b.txt?x-id=GetObject", presign);
                let admitted = aliases().admit_request(&method, &uri, &mut headers);
                assert_eq!(admitted, Admission::Rewritten(host.to_owned()), "{host} presign={presign}");
                assert_eq!(headers.get("host").and_then(|h| h.to_str().ok()), Some(host));
            }
        }
    }

    #[test]
    fn an_unknown_name_or_a_tampered_signature_is_refused() {
        let (method, uri, mut headers) = signed_request("evil.example.net", "/bucket/k", true);
        headers.insert(http::header::HOST, HeaderValue::from_static("evil.example.net"));
        assert_eq!(aliases().admit_request(&method, &uri, &mut headers), Admission::Refused);
        let (method, uri, mut headers) = signed_request("s3.example.com", "/bucket/k", true);
        headers.insert(http::header::HOST, HeaderValue::from_static("proxy.example.net"));
        let tampered: Uri = uri.to_string().replace("/bucket/k", "/bucket/other").parse().expect("uri");
        assert_eq!(aliases().admit_request(&method, &tampered, &mut headers), Admission::Refused);
        // Sent to a known name with a bad signature: s3s answers SignatureDoesNotMatch.
        headers.insert(http::header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
        assert_eq!(aliases().admit_request(&method, &tampered, &mut headers), Admission::PassThrough);
    }

    #[test]
    fn requests_to_a_known_name_and_unsigned_requests_pass_through() {
        let (method, uri, mut headers) = signed_request("127.0.0.1:9000", "/bucket/k", false);
        assert_eq!(aliases().admit_request(&method, &uri, &mut headers), Admission::PassThrough);
        let mut plain = HeaderMap::new();
        plain.insert(http::header::HOST, HeaderValue::from_static("anything"));
        let uri: Uri = "/bucket/k".parse().expect("uri");
        assert_eq!(aliases().admit_request(&Method::GET, &uri, &mut plain), Admission::PassThrough);
        assert_eq!(HostAliases::default().admit_request(&method, &uri, &mut headers), Admission::PassThrough);
    }
}
