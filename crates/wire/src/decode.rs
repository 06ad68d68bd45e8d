//! Reading provider answers: error bodies of every documented form, request ids, and JSON
//! failures described without quoting the body.

use http::HeaderMap;
use reimage_core::error::{Provider, ProviderError};
use serde_json::Value;

/// The request id of an answer: the `X-Request-Id` header, if present and readable.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Describes a `serde_json` failure by its category and place, with any quoted value removed:
/// serde's message may quote the value, and an answer may carry a secret.
///
/// ```
/// let err = serde_json::from_str::<u32>("\"s3cr3t\"").unwrap_err();
/// let problem = reimage_wire::decode::json_problem(&err);
/// assert!(!problem.contains("s3cr3t"), "{problem}");
/// assert!(problem.contains("line 1 column 8"), "{problem}");
/// ```
pub fn json_problem(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Io => "an IO error".to_owned(),
        Category::Syntax => "invalid JSON".to_owned(),
        Category::Eof => "JSON that ends too early".to_owned(),
        Category::Data => {
            let text = err.to_string();
            let text = text.split(" at line ").next().unwrap_or_default();
            format!("JSON of an unexpected shape ({})", redact_quoted(text))
        }
    };
    format!("{what} at line {} column {}", err.line(), err.column())
}

/// Replaces every `"…"` and `` `…` `` span, which serde uses to quote values, with `"…"`. serde
/// also quotes field names with backticks (``missing field `job_id` ``, ``unknown field `x`,
/// expected one of `a`, `b` ``); a backtick span is kept only where it names one of our fields
/// (after `missing field`, `duplicate field`, or in the `expected …` list), never where it is
/// something the answer sent (an unknown field's name, a number, a variant).
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '`' {
            let inner: String = chars.by_ref().take_while(|&d| d != c).collect();
            let plain = !inner.is_empty()
                && inner.len() <= 40
                && inner
                    .chars()
                    .all(|d| d.is_ascii_alphanumeric() || matches!(d, '_' | '-' | ':'));
            let names_a_field = out.ends_with("missing field ")
                || out.ends_with("duplicate field ")
                || out.ends_with("expected ")
                || out.contains("expected one of ");
            if c == '`' && plain && names_a_field {
                out.push('`');
                out.push_str(&inner);
                out.push('`');
            } else {
                out.push_str("\"…\"");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Decodes a Huawei Cloud error answer (ECS, IAM or their API gateway) into a [`ProviderError`].
///
/// The forms, all documented: `{"error":{"code","message"}}` (the code a string, or a number for
/// IAM); the gateway's flat `{"error_code","error_msg","request_id"}`; the job query's top-level
/// `{"code","message"}`. Unknown fields are ignored. A body of another shape, or not JSON at all,
/// still gives an error with the status and request id, and a message that describes the body
/// without quoting it.
pub fn huawei_error(
    provider: Provider,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> ProviderError {
    let header_id = request_id(headers);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (code, message, body_id) = match &parsed {
        Some(Value::Object(map)) => {
            let body_id = text(map.get("request_id"));
            if let Some(Value::Object(inner)) = map.get("error") {
                (text(inner.get("code")), text(inner.get("message")), body_id)
            } else if map.contains_key("error_code") || map.contains_key("error_msg") {
                (
                    text(map.get("error_code")),
                    text(map.get("error_msg")),
                    body_id,
                )
            } else if map.contains_key("code") || map.contains_key("message") {
                (text(map.get("code")), text(map.get("message")), body_id)
            } else {
                (None, None, body_id)
            }
        }
        _ => (None, None, None),
    };
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| describe_body(headers, body, parsed.is_some()));
    ProviderError::new(provider, status, code.filter(|c| !c.is_empty()), message)
        .with_request_id(header_id.or(body_id))
}

/// Decodes an EDIS error answer (`{"error":"<text>","code":<int>,"message"?}`, or a `status`
/// other than `success`) into a [`ProviderError`].
pub fn edis_error(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let (code, message) = match &parsed {
        Some(Value::Object(map)) => {
            let error = text(map.get("error"));
            let detail = text(map.get("message"));
            let message = match (error, detail) {
                (Some(e), Some(d)) if e != d => Some(format!("{e}: {d}")),
                (Some(e), _) => Some(e),
                (None, Some(d)) => Some(d),
                (None, None) => map
                    .get("status")
                    .and_then(Value::as_str)
                    .map(|s| format!("the answer's status is {s:?}, not \"success\"")),
            };
            (text(map.get("code")), message)
        }
        _ => (None, None),
    };
    let message = message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| describe_body(headers, body, parsed.is_some()));
    ProviderError::new(Provider::Edis, status, code, message).with_request_id(request_id(headers))
}

/// A string or number field as text.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe_body(headers: &HeaderMap, body: &[u8], is_json: bool) -> String {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    if body.is_empty() {
        "an empty body".to_owned()
    } else if is_json {
        format!(
            "a JSON body of an unknown error form ({} bytes)",
            body.len()
        )
    } else {
        format!(
            "a body that is not JSON ({content_type}, {} bytes)",
            body.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(request_id: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(id) = request_id {
            h.insert("x-request-id", id.parse().unwrap());
        }
        h
    }

    /// (body, request id header, code, message, request id)
    type HuaweiCase = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
    );

    #[test]
    fn huawei_forms_table() {
        let cases: &[HuaweiCase] = &[
            (
                r#"{"error":{"code":"Ecs.0005","message":"Invalid request"}}"#,
                Some("hdr-1"),
                Some("Ecs.0005"),
                "Invalid request",
                Some("hdr-1"),
            ),
            (
                r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information","request_id":"body-1"}"#,
                None,
                Some("APIGW.0301"),
                "Incorrect IAM authentication information",
                Some("body-1"),
            ),
            (
                r#"{"error_code":"APIGW.0301","error_msg":"x","request_id":"body-1"}"#,
                Some("hdr-2"),
                Some("APIGW.0301"),
                "x",
                Some("hdr-2"),
            ),
            (
                r#"{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}"#,
                None,
                Some("401"),
                "The request you have made requires authentication.",
                None,
            ),
            (
                r#"{"code":"Ecs.0103","message":"job not found","extra":[1,2]}"#,
                None,
                Some("Ecs.0103"),
                "job not found",
                None,
            ),
            (
                "<html>502 Bad Gateway</html>",
                None,
                None,
                "a body that is not JSON (no content type, 28 bytes)",
                None,
            ),
            ("", Some("r"), None, "an empty body", Some("r")),
            (
                r#"{"surprise":true}"#,
                None,
                None,
                "a JSON body of an unknown error form (17 bytes)",
                None,
            ),
            (
                r#"[1,2,3]"#,
                None,
                None,
                "a JSON body of an unknown error form (7 bytes)",
                None,
            ),
        ];
        for (body, hdr, code, message, id) in cases {
            let e = huawei_error(Provider::Ecs, 400, &headers(*hdr), body.as_bytes());
            assert_eq!(e.code.as_deref(), *code, "{body}");
            assert_eq!(e.message, *message, "{body}");
            assert_eq!(e.request_id.as_deref(), *id, "{body}");
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn edis_forms_table() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                r#"{"error":"Invalid or expired session signature.","code":401}"#,
                Some("401"),
                "Invalid or expired session signature.",
            ),
            (
                r#"{"error":"Bad","code":400,"message":"image missing"}"#,
                Some("400"),
                "Bad: image missing",
            ),
            (
                r#"{"status":"error"}"#,
                None,
                "the answer's status is \"error\", not \"success\"",
            ),
            (
                "Internal Server Error",
                None,
                "a body that is not JSON (no content type, 21 bytes)",
            ),
        ];
        for (body, code, message) in cases {
            let e = edis_error(500, &HeaderMap::new(), body.as_bytes());
            assert_eq!(e.code.as_deref(), *code, "{body}");
            assert_eq!(e.message, *message, "{body}");
            assert_eq!(e.provider, Provider::Edis);
        }
    }

    #[test]
    fn json_problem_keeps_field_names_and_drops_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            job_id: String,
        }
        let missing = serde_json::from_str::<S>("{}").unwrap_err();
        assert_eq!(
            json_problem(&missing),
            "JSON of an unexpected shape (missing field `job_id`) at line 1 column 2"
        );
        let wrong = serde_json::from_str::<S>(r#"{"job_id": 12}"#).unwrap_err();
        assert!(
            json_problem(&wrong).contains("invalid type"),
            "{}",
            json_problem(&wrong)
        );
        let secret = serde_json::from_str::<u8>(r#""top secret value""#).unwrap_err();
        assert!(
            !json_problem(&secret).contains("secret"),
            "{}",
            json_problem(&secret)
        );
        // serde quotes a number with backticks: it is a value, and must go too.
        let number = serde_json::from_str::<S>(r#"{"job_id": 98765432123}"#).unwrap_err();
        assert!(
            !json_problem(&number).contains("98765432123"),
            "{}",
            json_problem(&number)
        );
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        #[serde(deny_unknown_fields)]
        struct Strict {
            mode: String,
        }
        let unknown = serde_json::from_str::<Strict>(r#"{"s3cr3tvalue": 1}"#).unwrap_err();
        assert_eq!(
            json_problem(&unknown),
            "JSON of an unexpected shape (unknown field \"…\", expected `mode`) at line 1 column 14"
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
            let _ = huawei_error(Provider::Ecs, status, &HeaderMap::new(), &body);
            let _ = edis_error(status, &HeaderMap::new(), &body);
        }
    }
}
