//! Shared helpers of the wire crate's golden tests.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::path::PathBuf;

/// The repository's top-level `tests/` folder, where golden files and spec examples live.
pub fn repo_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests")
}

/// Reads a file under the top-level `tests/` folder.
pub fn read_test_file(relative: &str) -> Vec<u8> {
    let path = repo_tests_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading tests/{relative}: {e}"))
}

/// Renders a request as reviewable text: the method and URI, the headers in order (sensitive ones
/// included, since golden requests use example secrets), a blank line, and the body.
pub fn render_request(request: &http::Request<Bytes>) -> String {
    let mut out = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        let sensitive = if request
            .headers()
            .get(name)
            .is_some_and(|v| v.is_sensitive())
        {
            " (sensitive)"
        } else {
            ""
        };
        out.push_str(&format!("{name}: {value}{sensitive}\n"));
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(request.body()));
    out.push('\n');
    out
}

/// Builds an answer with `status`, optional `X-Request-Id`, and `body`.
pub fn response(
    status: u16,
    request_id: Option<&str>,
    body: impl Into<Bytes>,
) -> http::Response<Bytes> {
    let mut b = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(id) = request_id {
        b = b.header("x-request-id", id);
    }
    b.body(body.into()).unwrap()
}
