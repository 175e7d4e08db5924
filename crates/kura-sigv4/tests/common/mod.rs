//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// A request read from the text form used by AWS's test suite.
pub struct Req {
    /// The HTTP method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// The headers, as sent.
    pub headers: HeaderMap,
    /// The body.
    pub body: String,
}

/// Encodes the bytes `http::Uri` refuses (space, non-ASCII), as a client would put them on the wire.
fn wire_target(target: &str) -> String {
    let mut out = String::new();
    for b in target.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses `METHOD TARGET HTTP/1.1\nName:value\n…\n\nbody`.
pub fn parse_request(text: &str) -> Req {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let (target, _version) = rest.rsplit_once(' ').unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    Req {
        method: Method::from_bytes(method.as_bytes()).unwrap(),
        uri: wire_target(target).parse().unwrap(),
        headers,
        body: body.to_owned(),
    }
}

/// Builds a header map from `(name, value)` pairs.
pub fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (n, v) in pairs {
        headers.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    headers
}
