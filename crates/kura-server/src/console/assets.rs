//! The console's front end, embedded in the binary: plain ES modules, HTML and CSS from
//! `crates/kura-server/console/` (no build step: `cargo build` needs nothing else). Every file of that
//! directory has a row in [`ASSETS`] (a unit test checks it), and is served with its content type and
//! headers that keep it from being framed, sniffed or made to run anything but its own files.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};

use super::ConsoleError;

/// The console's files: `(path under /kura/console/, contents)`. `index.html` is also served at `/`.
pub const ASSETS: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../../console/index.html")),
    ("app.js", include_bytes!("../../console/app.js")),
    ("style.css", include_bytes!("../../console/style.css")),
    ("api.js", include_bytes!("../../console/api.js")),
    ("can.js", include_bytes!("../../console/can.js")),
    ("dom.js", include_bytes!("../../console/dom.js")),
    ("drop.js", include_bytes!("../../console/drop.js")),
    ("editor.js", include_bytes!("../../console/editor.js")),
    ("s3.js", include_bytes!("../../console/s3.js")),
    ("upload.js", include_bytes!("../../console/upload.js")),
    ("views/audit.js", include_bytes!("../../console/views/audit.js")),
    ("views/buckets.js", include_bytes!("../../console/views/buckets.js")),
    ("views/identity.js", include_bytes!("../../console/views/identity.js")),
    ("views/object.js", include_bytes!("../../console/views/object.js")),
    ("views/objects.js", include_bytes!("../../console/views/objects.js")),
    ("views/settings.js", include_bytes!("../../console/views/settings.js")),
    ("views/share.js", include_bytes!("../../console/views/share.js")),
    ("views/uploads.js", include_bytes!("../../console/views/uploads.js")),
    ("views/why.js", include_bytes!("../../console/views/why.js")),
];

/// The Content-Security-Policy of every asset: only the console's own files, no inline script or
/// style, images also as `data:` URLs, never inside a frame.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

/// The content type of a file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serves the asset at `path` (relative to `/kura/console/`; empty is `index.html`) to a GET or HEAD.
pub fn serve(method: &Method, path: &str) -> Result<Response<s3s::Body>, ConsoleError> {
    let name = if path.is_empty() { "index.html" } else { path };
    let Some((name, body)) = ASSETS.iter().find(|(n, _)| *n == name) else {
        return Err(ConsoleError::NotFound(format!("the console has no file {path:?}")));
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(ConsoleError::MethodNotAllowed(format!("the console's files are read with GET, not {method}")));
    }
    let body = if method == Method::HEAD { Bytes::new() } else { Bytes::from_static(body) };
    let mut resp = super::error::bytes_response(StatusCode::OK, body);
    let headers = resp.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(http::header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    super::protect(headers);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_console_directory_is_in_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut files = Vec::new();
        let mut pending = vec![dir.clone()];
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d).expect("console directory") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let rel = path.strip_prefix(&dir).expect("inside").to_string_lossy().replace('\\', "/");
                    files.push(rel);
                }
            }
        }
        files.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|(n, _)| (*n).to_owned()).collect();
        listed.sort();
        assert_eq!(files, listed, "add every file of crates/kura-server/console/ to console::assets::ASSETS");
        for (name, _) in ASSETS {
            assert_ne!(content_type(name), "application/octet-stream", "{name} needs a content type");
        }
    }

    #[test]
    fn assets_carry_their_type_and_the_protective_headers() {
        let resp = serve(&Method::GET, "").expect("index");
        assert_eq!(resp.headers()[http::header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(resp.headers()[http::header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(resp.headers()[http::header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(resp.headers()[http::header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(resp.headers()[http::header::CACHE_CONTROL], "no-cache");
        let js = serve(&Method::HEAD, "app.js").expect("js");
        assert_eq!(js.headers()[http::header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert!(matches!(serve(&Method::GET, "nope.js"), Err(ConsoleError::NotFound(_))));
        assert!(matches!(serve(&Method::GET, "../Cargo.toml"), Err(ConsoleError::NotFound(_))));
        assert!(matches!(serve(&Method::POST, "app.js"), Err(ConsoleError::MethodNotAllowed(_))));
    }
}
