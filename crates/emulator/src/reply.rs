//! Answers, and the error bodies of each provider, in their documented forms.
//!
//! - ECS: `{"error":{"code":"Ecs.0114","message":"..."}}`.
//! - The API gateway in front of ECS: `{"error_code":"APIGW.0301","error_msg":"...","request_id":"..."}`.
//! - IAM (Keystone form): `{"error":{"code":401,"title":"Unauthorized","message":"..."}}`.
//! - EDIS: `{"error":"...","code":401}`, with a `message` where the spec shows one.
//! - The admin API: `{"error":"..."}`.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};

/// The JSON content type of ECS and IAM answers.
pub(crate) const HUAWEI_JSON: &str = "application/json;charset=UTF-8";

/// The JSON content type of EDIS and admin answers.
pub(crate) const PLAIN_JSON: &str = "application/json";

/// An answer, before the transport adds `X-Request-Id` and `Content-Length`.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
    /// The provider's error code, for the request log.
    pub(crate) code: Option<String>,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: StatusCode, content_type: &'static str, value: &Value) -> Self {
        Self::json_of(status, content_type, value)
    }

    /// A JSON answer from a value that serializes itself, without a [`Value`] in between.
    pub(crate) fn json_of<T: serde::Serialize>(
        status: StatusCode,
        content_type: &'static str,
        value: &T,
    ) -> Self {
        // Room for a job or a server at once, rather than growing the buffer as it fills.
        let mut body = Vec::with_capacity(1024);
        if serde_json::to_writer(&mut body, value).is_err() {
            body.clear();
        }
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: Bytes::from(body),
            code: None,
        }
    }

    /// An answer whose body is written already.
    pub(crate) fn bytes(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: Bytes::from(body),
            code: None,
        }
    }

    /// An answer whose body is written already and shared (kept elsewhere too).
    pub(crate) fn shared(status: StatusCode, content_type: &'static str, body: Bytes) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body,
            code: None,
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// An ECS error: `{"error":{"code","message"}}`.
pub(crate) fn ecs_error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    let message = message.into();
    Reply::json(
        status_of(status),
        HUAWEI_JSON,
        &json!({ "error": { "code": code, "message": message } }),
    )
    .with_code(code)
}

/// An API gateway error: the flat `{"error_code","error_msg","request_id"}`.
pub(crate) fn gateway_error(
    status: u16,
    code: &str,
    message: impl Into<String>,
    request_id: &str,
) -> Reply {
    let message = message.into();
    Reply::json(
        status_of(status),
        HUAWEI_JSON,
        &json!({ "error_code": code, "error_msg": message, "request_id": request_id }),
    )
    .with_code(code)
}

/// An IAM error, Keystone's form: `{"error":{"code":<status>,"title","message"}}`.
pub(crate) fn iam_error(status: u16, message: impl Into<String>) -> Reply {
    let status = status_of(status);
    let title = status.canonical_reason().unwrap_or("Error");
    let message = message.into();
    Reply::json(
        status,
        HUAWEI_JSON,
        &json!({ "error": { "code": status.as_u16(), "title": title, "message": message } }),
    )
    .with_code(status.as_u16().to_string())
}

/// An EDIS error: `{"error","code"}`, with `message` when given.
pub(crate) fn edis_error(status: u16, error: &str, message: Option<String>) -> Reply {
    let status = status_of(status);
    let mut body = json!({ "error": error, "code": status.as_u16() });
    if let (Some(message), Some(map)) = (message, body.as_object_mut()) {
        map.insert("message".into(), Value::String(message));
    }
    Reply::json(status, PLAIN_JSON, &body).with_code(status.as_u16().to_string())
}

/// An admin API error: `{"error"}`.
pub(crate) fn admin_error(status: u16, message: impl Into<String>) -> Reply {
    let message = message.into();
    Reply::json(status_of(status), PLAIN_JSON, &json!({ "error": message }))
}

fn status_of(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Which provider a path belongs to, for errors that come before any handler (413, faults, an
/// unknown path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// `/v1/...`, `/v2/...`, and any other path: the ECS API gateway.
    Ecs,
    /// `/v3/...`: IAM.
    Iam,
    /// `/kvm/...`: EDIS.
    Edis,
    /// `/_emulator/...`.
    Admin,
}

impl Side {
    pub(crate) fn of(path: &str) -> Self {
        if path == "/_emulator" || path.starts_with("/_emulator/") {
            Self::Admin
        } else if path.starts_with("/kvm/") {
            Self::Edis
        } else if path.starts_with("/v3/") {
            Self::Iam
        } else {
            Self::Ecs
        }
    }

    /// 413: the body is over the limit.
    pub(crate) fn too_large(self, request_id: &str) -> Reply {
        match self {
            Self::Ecs | Self::Iam => {
                gateway_error(413, "APIGW.0201", "Request entity too large.", request_id)
            }
            Self::Edis => edis_error(413, "Request entity too large.", None),
            Self::Admin => admin_error(413, "the request body is too large"),
        }
    }

    /// 429 with `Retry-After`.
    pub(crate) fn throttled(self, retry_after_secs: u64, request_id: &str) -> Reply {
        let reply = match self {
            Self::Ecs | Self::Iam => gateway_error(
                429,
                "APIGW.0308",
                "The throttling threshold has been reached.",
                request_id,
            ),
            Self::Edis | Self::Admin => edis_error(429, "Too many requests.", None),
        };
        reply.with_header(
            http::header::RETRY_AFTER,
            HeaderValue::from(retry_after_secs),
        )
    }

    /// 429 from the throttle rule: `APIGW.0308` with the rule's message, and `Retry-After` (the
    /// window's rest, whole seconds rounded up) only if the rule says so.
    pub(crate) fn over_rate_limit(
        self,
        rule: &crate::RateLimit,
        left: std::time::Duration,
        request_id: &str,
    ) -> Reply {
        let reply = gateway_error(429, "APIGW.0308", rule.message(), request_id);
        if rule.retry_after() {
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            reply.with_header(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)))
        } else {
            reply
        }
    }

    /// ECS's back end over its flow limit: `202` with `Common.0024` and no `job_id` (the
    /// gateway let the call through; nothing was applied). EDIS has no such answer: a 429.
    pub(crate) fn flow_limited(self, request_id: &str) -> Reply {
        match self {
            Self::Ecs | Self::Iam => {
                ecs_error(202, "Common.0024", "Flow limit exceeded. Try again later.")
            }
            Self::Edis | Self::Admin => self.throttled(1, request_id),
        }
    }

    /// A 500, 502, 503 or 504.
    pub(crate) fn server_error(self, status: u16, request_id: &str) -> Reply {
        match (self, status) {
            (Self::Ecs | Self::Iam, 500) => ecs_error(
                500,
                "Common.0001",
                "A system exception occurred. Try again later or contact customer service.",
            ),
            (Self::Ecs | Self::Iam, 502) => {
                gateway_error(502, "APIGW.0202", "Backend unavailable.", request_id)
            }
            (Self::Ecs | Self::Iam, 504) => {
                gateway_error(504, "APIGW.0203", "Backend timeout.", request_id)
            }
            // The gateway documents no 503 of its own; an unavailable backend is APIGW.0202.
            (Self::Ecs | Self::Iam, _) => {
                gateway_error(503, "APIGW.0202", "Backend unavailable.", request_id)
            }
            (Self::Edis | Self::Admin, 500) => {
                edis_error(500, "An unexpected error occurred on the server.", None)
            }
            (Self::Edis | Self::Admin, 502) => edis_error(502, "Bad Gateway", None),
            (Self::Edis | Self::Admin, 504) => edis_error(504, "Gateway Timeout", None),
            (Self::Edis | Self::Admin, _) => edis_error(503, "Service Unavailable", None),
        }
    }
}
