//! CORS rules, pure: what a bucket's CORS configuration may hold (AWS's limits) and which rule answers
//! a browser's request, with the headers that answer carries. No I/O: `s3::cors` reads the rules from
//! the bucket settings and writes the response; this module only decides.

use kura_store::{CorsConfig, CorsRule};

/// Most rules a configuration may hold (AWS: 100).
pub const MAX_RULES: usize = 100;
/// Longest rule ID (AWS: 255 characters).
pub const MAX_ID_CHARS: usize = 255;
/// Largest configuration, counted as the text of its values (AWS: a 64 KB document).
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Most names a preflight's `Access-Control-Request-Headers` may list, and its longest value. A
/// preflight is unauthenticated and each name is matched against every allowed-header pattern of each
/// rule, then echoed back: without a bound, one request of a few hundred KB would cost every rule's
/// patterns times as many names. Browsers list only the non-safelisted headers a page sets, a handful.
pub const MAX_REQUESTED_HEADERS: usize = 100;
/// See [`MAX_REQUESTED_HEADERS`].
pub const MAX_REQUESTED_HEADERS_BYTES: usize = 8 * 1024;
/// The methods a rule may allow, as AWS spells them (case-sensitive).
pub const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// What the `Vary` header of every CORS answer names: a cache must key on these request headers.
pub const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/// Why a CORS configuration was refused; mapped to S3 errors in `crate::errors::cors_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    /// No rules, or a rule without an origin or a method (the schema requires them).
    #[error("{0}")]
    Malformed(&'static str),
    /// More than [`MAX_RULES`] rules.
    #[error("a CORS configuration may hold at most 100 rules")]
    TooManyRules,
    /// A method other than [`METHODS`].
    #[error("unsupported method {0}")]
    UnsupportedMethod(String),
    /// An AllowedOrigin with more than one `*`.
    #[error("AllowedOrigin {0} has more than one wildcard")]
    OriginWildcards(String),
    /// An AllowedHeader with more than one `*`.
    #[error("AllowedHeader {0} has more than one wildcard")]
    HeaderWildcards(String),
    /// A rule ID longer than [`MAX_ID_CHARS`].
    #[error("a rule ID must be no longer than 255 characters")]
    IdTooLong,
    /// A value that could not be sent back in a response header (control or non-ASCII characters).
    #[error("{0:?} is not a valid header value")]
    NotAHeaderValue(String),
    /// The configuration is larger than [`MAX_CONFIG_BYTES`].
    #[error("a CORS configuration must be no larger than 64 KB")]
    TooLarge,
}

/// Checks a configuration against AWS's rules before it is stored.
pub fn validate(config: &CorsConfig) -> Result<(), CorsError> {
    if config.rules.is_empty() {
        return Err(CorsError::Malformed("A CORS configuration must hold at least one CORSRule."));
    }
    if config.rules.len() > MAX_RULES {
        return Err(CorsError::TooManyRules);
    }
    let mut size = 0usize;
    for rule in &config.rules {
        validate_rule(rule)?;
        size += rule.id.as_ref().map_or(0, String::len)
            + [&rule.allowed_origins, &rule.allowed_methods, &rule.allowed_headers, &rule.expose_headers]
                .iter()
                .flat_map(|list| list.iter())
                .map(String::len)
                .sum::<usize>();
    }
    if size > MAX_CONFIG_BYTES {
        return Err(CorsError::TooLarge);
    }
    Ok(())
}

fn validate_rule(rule: &CorsRule) -> Result<(), CorsError> {
    if rule.allowed_origins.is_empty() {
        return Err(CorsError::Malformed("Every CORSRule must name at least one AllowedOrigin."));
    }
    if rule.allowed_methods.is_empty() {
        return Err(CorsError::Malformed("Every CORSRule must name at least one AllowedMethod."));
    }
    if rule.id.as_ref().is_some_and(|id| id.chars().count() > MAX_ID_CHARS) {
        return Err(CorsError::IdTooLong);
    }
    if let Some(method) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
        return Err(CorsError::UnsupportedMethod(method.clone()));
    }
    for origin in &rule.allowed_origins {
        header_safe(origin)?;
        if origin.matches('*').count() > 1 {
            return Err(CorsError::OriginWildcards(origin.clone()));
        }
    }
    for header in &rule.allowed_headers {
        header_safe(header)?;
        if header.matches('*').count() > 1 {
            return Err(CorsError::HeaderWildcards(header.clone()));
        }
    }
    for header in &rule.expose_headers {
        header_safe(header)?;
    }
    Ok(())
}

/// Values kura may echo in a response header: visible ASCII and spaces only.
fn header_safe(value: &str) -> Result<(), CorsError> {
    if value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(CorsError::NotAHeaderValue(value.to_owned()))
    }
}

/// Whether `value` matches `pattern`, which holds at most one `*` standing for any run of characters
/// (none included). Without a `*` the two must be equal. `fold` compares ASCII case-insensitively.
fn glob(pattern: &str, value: &str, fold: bool) -> bool {
    let eq = |a: &str, b: &str| if fold { a.eq_ignore_ascii_case(b) } else { a == b };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((prefix, suffix)) => {
            value.len() >= prefix.len() + suffix.len()
                && value.is_char_boundary(prefix.len())
                && value.is_char_boundary(value.len() - suffix.len())
                && eq(prefix, &value[..prefix.len()])
                && eq(suffix, &value[value.len() - suffix.len()..])
        }
    }
}

/// The first of the rule's origins that `origin` matches (case-sensitive, as browsers serialise origins).
fn matched_origin<'r>(rule: &'r CorsRule, origin: &str) -> Option<&'r str> {
    rule.allowed_origins.iter().map(String::as_str).find(|pattern| glob(pattern, origin, false))
}

/// A rule's answer to one request: the rule, and what `Access-Control-Allow-Origin` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<'r> {
    /// The rule that matched (the first in the configuration).
    pub rule: &'r CorsRule,
    /// `*` when the origin matched the rule's `*`, else the request's origin.
    pub allow_origin: &'r str,
}

/// The rule that lets `origin` send `method` with `headers` (a preflight's question): the first whose
/// origins match `origin`, whose methods hold `method` (case-sensitive: `put` is not `PUT`) and whose
/// allowed headers match every one of `headers` (case-insensitive).
pub fn preflight<'r>(config: &'r CorsConfig, origin: &'r str, method: &str, headers: &[&str]) -> Option<Grant<'r>> {
    config.rules.iter().find_map(|rule| {
        let pattern = matched_origin(rule, origin)?;
        let method_ok = rule.allowed_methods.iter().any(|m| m == method);
        let headers_ok = headers.iter().all(|h| rule.allowed_headers.iter().any(|pattern| glob(pattern, h, true)));
        (method_ok && headers_ok).then_some(Grant { rule, allow_origin: if pattern == "*" { "*" } else { origin } })
    })
}

/// The rule that lets a page of `origin` read the answer to an actual request of `method`: the first
/// whose origins match and whose methods hold `method`.
pub fn actual<'r>(config: &'r CorsConfig, origin: &'r str, method: &str) -> Option<Grant<'r>> {
    preflight(config, origin, method, &[])
}

/// The names in an `Access-Control-Request-Headers` value (comma-separated, blanks dropped), or `None`
/// when the value is longer than [`MAX_REQUESTED_HEADERS_BYTES`] or lists more than
/// [`MAX_REQUESTED_HEADERS`] names (such a preflight is refused, never evaluated).
pub fn requested_headers(value: &str) -> Option<Vec<&str>> {
    if value.len() > MAX_REQUESTED_HEADERS_BYTES {
        return None;
    }
    let names: Vec<&str> = value.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
    (names.len() <= MAX_REQUESTED_HEADERS).then_some(names)
}

/// The CORS headers of an answer, in order: allow-origin, allow-methods, (for a preflight) the allowed
/// request headers, expose-headers, max-age, allow-credentials (not for `*`), vary.
pub fn response_headers(grant: &Grant<'_>, requested: &[&str], preflight: bool) -> Vec<(&'static str, String)> {
    let rule = grant.rule;
    let mut out = vec![
        ("access-control-allow-origin", grant.allow_origin.to_owned()),
        ("access-control-allow-methods", rule.allowed_methods.join(", ")),
    ];
    if preflight && !requested.is_empty() {
        out.push(("access-control-allow-headers", requested.join(", ")));
    }
    if !rule.expose_headers.is_empty() {
        out.push(("access-control-expose-headers", rule.expose_headers.join(", ")));
    }
    if let Some(age) = rule.max_age_seconds {
        out.push(("access-control-max-age", age.to_string()));
    }
    if grant.allow_origin != "*" {
        out.push(("access-control-allow-credentials", "true".to_owned()));
    }
    out.push(("vary", VARY.to_owned()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn config(rules: Vec<CorsRule>) -> CorsConfig {
        CorsConfig { rules }
    }

    #[test]
    fn an_origin_that_only_contains_an_allowed_origin_does_not_match() {
        let c = config(vec![rule(&["https://good.example"], &["PUT"], &[])]);
        assert!(actual(&c, "https://good.example", "PUT").is_some());
        for evil in [
            "https://good.example.evil.test",
            "https://good.example@evil",
            "https://evil.test/https://good.example",
            "http://good.example",
            "https://good.example:8443",
            "https://GOOD.example",
            "",
        ] {
            assert!(actual(&c, evil, "PUT").is_none(), "{evil} must not match");
        }
    }

    #[test]
    fn a_wildcard_matches_only_where_it_stands() {
        let c = config(vec![rule(&["http://*.example.com"], &["GET"], &[])]);
        assert!(actual(&c, "http://a.example.com", "GET").is_some());
        assert!(actual(&c, "http://a.b.example.com", "GET").is_some());
        for evil in
            ["http://example.com.evil.test", "http://example.com", "https://a.example.com", "http://.example.co"]
        {
            assert!(actual(&c, evil, "GET").is_none(), "{evil} must not match");
        }
        // The ceph suite's patterns: suffix, infix and prefix wildcards.
        let c = config(vec![
            rule(&["*suffix"], &["GET"], &[]),
            rule(&["start*end"], &["GET"], &[]),
            rule(&["prefix*"], &["GET"], &[]),
        ]);
        for ok in ["foo.suffix", "startend", "start12end", "prefix", "prefix.suffix"] {
            assert!(actual(&c, ok, "GET").is_some(), "{ok}");
        }
        for no in ["foo.suffix.get", "0start12end", "bla.prefix", "startenx", "sta"] {
            assert!(actual(&c, no, "GET").is_none(), "{no}");
        }
        // "start*end" must not let the two halves overlap.
        let c = config(vec![rule(&["ab*ba"], &["GET"], &[])]);
        assert!(actual(&c, "aba", "GET").is_none());
        assert!(actual(&c, "abba", "GET").is_some());
    }

    #[test]
    fn a_multibyte_origin_never_splits_a_character() {
        let c = config(vec![rule(&["h*é"], &["GET"], &[])]);
        assert!(actual(&c, "hé", "GET").is_some());
        assert!(actual(&c, "h\u{e9}\u{e9}", "GET").is_some());
        assert!(actual(&c, "hx", "GET").is_none());
    }

    #[test]
    fn methods_are_case_sensitive_and_headers_are_not() {
        let c = config(vec![rule(&["*"], &["PUT"], &["Content-Type", "x-amz-meta-*"])]);
        assert!(preflight(&c, "https://a", "put", &[]).is_none());
        assert!(preflight(&c, "https://a", "GET", &[]).is_none());
        let g = preflight(&c, "https://a", "PUT", &["content-type", "X-AMZ-META-colour"]).expect("allowed");
        assert_eq!(g.allow_origin, "*");
        assert!(preflight(&c, "https://a", "PUT", &["content-type", "authorization"]).is_none());
        // No AllowedHeader: a preflight asking for any header is refused.
        let bare = config(vec![rule(&["*"], &["GET"], &[])]);
        assert!(preflight(&bare, "https://a", "GET", &["x-amz-meta-header2"]).is_none());
    }

    #[test]
    fn the_first_matching_rule_answers() {
        let mut first = rule(&["https://a.example"], &["GET"], &[]);
        first.max_age_seconds = Some(1);
        let mut second = rule(&["*"], &["GET", "PUT"], &[]);
        second.max_age_seconds = Some(2);
        let c = config(vec![first, second]);
        assert_eq!(actual(&c, "https://a.example", "GET").map(|g| g.rule.max_age_seconds), Some(Some(1)));
        assert_eq!(actual(&c, "https://a.example", "PUT").map(|g| g.rule.max_age_seconds), Some(Some(2)));
        let g = actual(&c, "https://b.example", "GET").expect("second rule");
        assert_eq!(g.allow_origin, "*");
    }

    #[test]
    fn the_headers_echo_only_the_matched_origin() {
        let mut r = rule(&["https://*.example"], &["GET", "PUT"], &["*"]);
        r.expose_headers = vec!["ETag".into(), "x-amz-request-id".into()];
        r.max_age_seconds = Some(600);
        let c = config(vec![r]);
        let g = preflight(&c, "https://app.example", "PUT", &["content-type"]).expect("allowed");
        let headers = response_headers(&g, &["content-type"], true);
        let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(get("access-control-allow-methods"), Some("GET, PUT"));
        assert_eq!(get("access-control-allow-headers"), Some("content-type"));
        assert_eq!(get("access-control-expose-headers"), Some("ETag, x-amz-request-id"));
        assert_eq!(get("access-control-max-age"), Some("600"));
        assert_eq!(get("access-control-allow-credentials"), Some("true"));
        assert_eq!(get("vary"), Some(VARY));
        let actual_headers = response_headers(&g, &[], false);
        assert!(actual_headers.iter().all(|(k, _)| *k != "access-control-allow-headers"));
        // A `*` origin is answered `*`, never with credentials.
        let star = config(vec![rule(&["*"], &["GET"], &[])]);
        let g = actual(&star, "https://any", "GET").expect("allowed");
        let headers = response_headers(&g, &[], false);
        assert!(headers.contains(&("access-control-allow-origin", "*".into())));
        assert!(headers.iter().all(|(k, _)| *k != "access-control-allow-credentials"));
    }

    #[test]
    fn requested_headers_are_split_and_trimmed() {
        assert_eq!(requested_headers(" content-type ,x-amz-date,, "), Some(vec!["content-type", "x-amz-date"]));
        assert_eq!(requested_headers(""), Some(vec![]));
        let names = |n: usize| vec!["x-a"; n].join(",");
        assert_eq!(requested_headers(&names(MAX_REQUESTED_HEADERS)).map(|v| v.len()), Some(MAX_REQUESTED_HEADERS));
        assert_eq!(requested_headers(&names(MAX_REQUESTED_HEADERS + 1)), None);
        assert_eq!(requested_headers(&"x".repeat(MAX_REQUESTED_HEADERS_BYTES + 1)), None);
    }

    #[test]
    fn aws_limits_are_enforced() {
        let ok = config(vec![rule(&["https://*.example"], &["GET", "PUT", "POST", "DELETE", "HEAD"], &["x-*"])]);
        assert_eq!(validate(&ok), Ok(()));
        assert!(matches!(validate(&config(vec![])), Err(CorsError::Malformed(_))));
        assert!(matches!(validate(&config(vec![rule(&[], &["GET"], &[])])), Err(CorsError::Malformed(_))));
        assert!(matches!(validate(&config(vec![rule(&["*"], &[], &[])])), Err(CorsError::Malformed(_))));
        let many = config(vec![rule(&["*"], &["GET"], &[]); MAX_RULES]);
        assert_eq!(validate(&many), Ok(()));
        let too_many = config(vec![rule(&["*"], &["GET"], &[]); MAX_RULES + 1]);
        assert_eq!(validate(&too_many), Err(CorsError::TooManyRules));
        for bad in ["get", "PATCH", "OPTIONS", "CONNECT"] {
            let c = config(vec![rule(&["*"], &[bad], &[])]);
            assert_eq!(validate(&c), Err(CorsError::UnsupportedMethod(bad.into())));
        }
        let c = config(vec![rule(&["http://*.*.example"], &["GET"], &[])]);
        assert_eq!(validate(&c), Err(CorsError::OriginWildcards("http://*.*.example".into())));
        let c = config(vec![rule(&["*"], &["GET"], &["x-*-*"])]);
        assert_eq!(validate(&c), Err(CorsError::HeaderWildcards("x-*-*".into())));
        let mut long = rule(&["*"], &["GET"], &[]);
        long.id = Some("i".repeat(MAX_ID_CHARS));
        assert_eq!(validate(&config(vec![long.clone()])), Ok(()));
        long.id = Some("i".repeat(MAX_ID_CHARS + 1));
        assert_eq!(validate(&config(vec![long])), Err(CorsError::IdTooLong));
        let c = config(vec![rule(&["https://a\r\nSet-Cookie: x"], &["GET"], &[])]);
        assert!(matches!(validate(&c), Err(CorsError::NotAHeaderValue(_))));
        let mut expose = rule(&["*"], &["GET"], &[]);
        expose.expose_headers = vec!["ETag\n".into()];
        assert!(matches!(validate(&config(vec![expose])), Err(CorsError::NotAHeaderValue(_))));
        let big = config(vec![rule(&["*"], &["GET"], &["x".repeat(1000).as_str()]); 70]);
        assert_eq!(validate(&big), Err(CorsError::TooLarge));
    }
}
