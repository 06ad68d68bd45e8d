//! What the request log may show of a request: allow-lists, never deny-lists.
//!
//! A request can carry a secret in a field nobody expected (a password sent as `passwd`), so the
//! log shows only what is known to be harmless: the values of named non-secret fields and
//! headers, numbers and booleans. Every other text becomes `"[REDACTED]"`; a body that is neither
//! JSON nor a form is shown by its size only. Passwords, `adminpass`, user data, session
//! signatures, tokens, `Authorization` and the SK never reach the log.

use http::{HeaderMap, HeaderName};
use serde_json::{Map, Value, json};

const REDACTED: &str = "[REDACTED]";

/// The JSON keys whose text values are shown: ids, names and modes, never a credential.
const JSON_KEYS: &[&str] = &[
    "keyname",
    "userid",
    "imageid",
    "mode",
    "BYOL",
    "__system__encrypted",
    "__system__cmkid",
    "type",
    "id",
    "name",
    "methods",
];

/// The JSON keys shown as they are (their values are redacted unless in [`JSON_KEYS`]). Any other
/// key is replaced, since a key too can carry a secret (`{"hunter2": 1}`).
const JSON_NAMES: &[&str] = &[
    "os-reinstall",
    "os-change",
    "os-stop",
    "os-start",
    "servers",
    "metadata",
    "adminpass",
    "user_data",
    "auth",
    "identity",
    "password",
    "user",
    "domain",
    "scope",
    "project",
];

/// The form fields whose values are shown.
const FORM_KEYS: &[&str] = &["email", "kvm_id", "valid_until", "image"];

/// The form fields shown by name (with their values redacted).
const FORM_NAMES: &[&str] = &["pw", "signature", "password", "cloudinit_user_data"];

/// The request headers whose values are shown, as a list; [`shown`] is what asks (a test holds
/// it to this list).
#[cfg(test)]
const HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "user-agent",
    "accept",
    "connection",
    "x-project-id",
    "x-sdk-date",
    "x-sdk-content-sha256",
];

/// A request's path and headers as the log keeps them: the headers allowed with their values,
/// every other one by its name only. Every call records one, so all of it is one text (one
/// allocation): the path, then `name NUL value NUL` for each allowed header and `name SOH` for
/// each other one (neither byte can be in a header's name or value); [`Headers::path`] and
/// [`Headers::to_json`] show them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    text: Box<str>,
    /// Where the path ends in `text`.
    path: usize,
}

/// Ends a name whose value is shown; the value follows, ended by the same byte.
const SHOWN: char = '\0';
/// Ends a name whose value is not shown.
const HIDDEN: char = '\u{1}';

impl Headers {
    /// The request's path, as it was recorded with the headers.
    pub(crate) fn path(&self) -> &str {
        self.text.get(..self.path).unwrap_or_default()
    }

    /// The headers as the log shows them: a map of name to value, `[REDACTED]` for every value
    /// not allowed; a repeated header shows its last value.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        let mut rest: &str = self.text.get(self.path..).unwrap_or_default();
        while let Some(end) = rest.find([SHOWN, HIDDEN]) {
            let name = &rest[..end];
            let shown = if rest[end..].starts_with(SHOWN) {
                let tail = &rest[end + 1..];
                let len = tail.find(SHOWN).unwrap_or(tail.len());
                rest = tail.get(len + 1..).unwrap_or_default();
                &tail[..len]
            } else {
                rest = &rest[end + 1..];
                REDACTED
            };
            out.insert(name.to_owned(), Value::String(shown.to_owned()));
        }
        Value::Object(out)
    }
}

/// The headers: allowed ones with their values, every other one without.
/// Whether the value of header `name` is shown: `host`, `content-type`, `content-length`,
/// `user-agent`, `accept`, `connection`, `x-project-id`, `x-sdk-date`, `x-sdk-content-sha256`.
/// By the names' kinds first (a standard header's name is
/// one number to compare), so that a request's usual headers cost no text comparison.
fn shown(name: &HeaderName) -> bool {
    use http::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
    [
        HOST,
        CONTENT_TYPE,
        CONTENT_LENGTH,
        USER_AGENT,
        ACCEPT,
        CONNECTION,
    ]
    .contains(name)
        || matches!(
            name.as_str(),
            "x-project-id" | "x-sdk-date" | "x-sdk-content-sha256"
        )
}

/// The headers of a request, as [`path_and_headers`] records them without a path.
#[cfg(test)]
pub(crate) fn headers(map: &HeaderMap) -> Headers {
    path_and_headers("", map)
}

/// A request's path and its headers, redacted, as the log keeps them.
pub(crate) fn path_and_headers(path: &str, map: &HeaderMap) -> Headers {
    // Exactly the room needed (unless a value is not UTF-8), so that boxing it does not copy.
    let mut out = String::with_capacity(
        path.len()
            + map
                .iter()
                .map(|(name, value)| {
                    let shown = shown(name);
                    name.as_str().len() + if shown { value.len() + 2 } else { 1 }
                })
                .sum::<usize>(),
    );
    out.push_str(path);
    for (name, value) in map {
        out.push_str(name.as_str());
        if shown(name) {
            out.push(SHOWN);
            // A header's value holds neither NUL nor SOH; lossy text cannot add one.
            match std::str::from_utf8(value.as_bytes()) {
                Ok(text) => out.push_str(text),
                Err(_) => out.push_str(&String::from_utf8_lossy(value.as_bytes())),
            }
            out.push(SHOWN);
        } else {
            out.push(HIDDEN);
        }
    }
    Headers {
        text: out.into_boxed_str(),
        path: path.len(),
    }
}

/// A body: JSON with only allowed texts, a form with only allowed values, or its size.
pub(crate) fn body(content_type: Option<&str>, bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let is_form = content_type.is_some_and(|c| {
        c.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if is_form {
        let mut out = Map::new();
        for (i, (key, value)) in form_urlencoded::parse(bytes).enumerate().take(1000) {
            let shown = if FORM_KEYS.contains(&key.as_ref()) {
                Value::String(value.chars().take(256).collect())
            } else {
                Value::String(REDACTED.to_owned())
            };
            out.insert(name(&key, i, FORM_KEYS, FORM_NAMES), shown);
        }
        return Value::Object(out);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => json_value(value, false),
        Err(_) => json!(format!("[{} bytes, not shown]", bytes.len())),
    }
}

/// A key as the log shows it: itself when known, else a numbered stand-in.
fn name(key: &str, index: usize, shown: &[&str], named: &[&str]) -> String {
    if shown.contains(&key) || named.contains(&key) {
        key.to_owned()
    } else {
        format!("[key {index} redacted]")
    }
}

/// The JSON keys whose whole value is a secret, whatever its type or shape: a numeric
/// `adminpass`, or an `id` nested under `password`, is never shown either.
const SECRET_KEYS: &[&str] = &[
    "adminpass",
    "user_data",
    "password",
    "passwd",
    "pw",
    "signature",
    "token",
    "sk",
];

/// Keeps numbers, booleans and null; keeps a text only under an allowed key (or in a list under
/// one); recurses into objects and lists. Under a secret key everything is redacted, whatever its
/// type or nesting. A redacted text does not show its length either.
fn json_value(value: Value, allowed: bool) -> Value {
    match value {
        Value::String(s) if allowed => Value::String(s.chars().take(256).collect()),
        Value::String(_) => Value::String(REDACTED.to_owned()),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .take(1000)
                .map(|v| json_value(v, allowed))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .take(1000)
                .enumerate()
                .map(|(i, (k, v))| {
                    let shown = if SECRET_KEYS.contains(&k.as_str()) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        json_value(v, JSON_KEYS.contains(&k.as_str()))
                    };
                    (name(&k, i, JSON_KEYS, JSON_NAMES), shown)
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nothing_under_a_secret_key_is_shown_whatever_its_type() {
        let logged = body(
            Some("application/json"),
            br#"{"os-reinstall":{"adminpass":98765432123,"keyname":"KeyPair-350b","metadata":{"user_data":{"id":"S3cretIdValue"}}}}"#,
        )
        .to_string();
        assert!(!logged.contains("98765432123"), "{logged}");
        assert!(!logged.contains("S3cretIdValue"), "{logged}");
        assert!(!logged.contains("bytes"), "no lengths either: {logged}");
        assert!(logged.contains("KeyPair-350b"), "{logged}");
    }

    proptest! {
        #[test]
        fn a_secret_never_shows(secret in "[A-Za-z0-9]{12,24}", key in "[a-z_]{1,12}") {
            prop_assume!(!JSON_KEYS.contains(&key.as_str()) && !FORM_KEYS.contains(&key.as_str()));
            let json = format!(
                r#"{{"{key}":"{secret}","metadata":{{"{secret}":1}},"servers":["{secret}"]}}"#
            );
            let shown = body(None, json.as_bytes()).to_string();
            prop_assert!(!shown.contains(&secret), "{}", shown);
            let form = format!("{key}={secret}&{secret}=x&{secret}");
            let shown = body(Some("application/x-www-form-urlencoded"), form.as_bytes()).to_string();
            prop_assert!(!shown.contains(&secret), "{}", shown);
        }

        #[test]
        fn any_body_is_summarised_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = body(None, &bytes);
            let _ = body(Some("application/x-www-form-urlencoded"), &bytes);
            let _ = crate::fault::FaultRule::from_json(&bytes);
        }
    }

    #[test]
    fn json_bodies_keep_only_allowed_texts() {
        let body = br#"{"os-change":{"adminpass":"S3cret!pw","keyname":"k","imageid":"i","metadata":{"user_data":"c2VjcmV0","BYOL":"true"},"passwd":"oops"}}"#;
        let shown = super::body(Some("application/json"), body).to_string();
        for secret in ["S3cret!pw", "c2VjcmV0", "oops"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains(r#""keyname":"k""#), "{shown}");
        assert!(shown.contains(r#""BYOL":"true""#), "{shown}");
        let iam = br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","password":"pw-secret","domain":{"name":"d"}}}}}}"#;
        let shown = super::body(None, iam).to_string();
        assert!(!shown.contains("pw-secret"), "{shown}");
        assert!(shown.contains(r#""methods":["password"]"#), "{shown}");
    }

    #[test]
    fn forms_and_other_bodies() {
        let form = b"signature=sig-secret&kvm_id=kvm_1_2&password=pw-secret&cloudinit_user_data=ud&image=x";
        let shown = body(Some("application/x-www-form-urlencoded"), form).to_string();
        for secret in ["sig-secret", "pw-secret", "=ud"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains(r#""kvm_id":"kvm_1_2""#), "{shown}");
        let shown = body(Some("application/x-www-form-urlencoded"), b"hunter2-secret").to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = body(None, br#"{"hunter2-secret":{"keyname":"k"}}"#).to_string();
        assert!(
            !shown.contains("hunter2") && shown.contains(r#""keyname":"k""#),
            "{shown}"
        );
        assert_eq!(
            body(None, b"not json secret"),
            json!("[15 bytes, not shown]")
        );
        let mut map = HeaderMap::new();
        map.insert("x-auth-token", "tok-secret".parse().unwrap());
        map.insert("host", "h".parse().unwrap());
        let shown = headers(&map).to_json().to_string();
        assert!(!shown.contains("tok-secret") && shown.contains(r#""host":"h""#));
        map.append("host", "second".parse().unwrap());
        map.append("x-other", "a".parse().unwrap());
        map.insert("accept", "".parse().unwrap());
        map.insert(
            "user-agent",
            http::HeaderValue::from_bytes(b"caf\xe9 \t x").unwrap(),
        );
        assert_eq!(
            headers(&map).to_json(),
            json!({
                "accept": "",
                "host": "second",
                "user-agent": "caf\u{fffd} \t x",
                "x-auth-token": "[REDACTED]",
                "x-other": "[REDACTED]",
            })
        );
        assert_eq!(headers(&HeaderMap::new()).to_json(), json!({}));
        // The path is kept with them, apart.
        let recorded = path_and_headers("/v1/p/jobs/j", &map);
        assert_eq!(recorded.path(), "/v1/p/jobs/j");
        assert_eq!(recorded.to_json(), headers(&map).to_json());
        assert_eq!(headers(&map).path(), "");
        assert_eq!(
            path_and_headers("/x", &HeaderMap::new()).to_json(),
            json!({})
        );
        // `shown` says what the list says, for every name in it and a few others.
        for name in HEADERS
            .iter()
            .chain(&["x-auth-token", "authorization", "x-sdk-dat", "hos"])
        {
            let header = HeaderName::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(super::shown(&header), HEADERS.contains(name), "{name}");
        }
    }
}
