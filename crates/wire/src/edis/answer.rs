//! Reading EDIS answers: [`decode_success`], the envelope that every answer shares
//! (`"status": "success"` or an error), and the auth answer's sessions ([`decode_sessions`],
//! [`EdisSessions`]).
//!
//! A session is `reimage-auth`'s [`EdisSession`], with its freshness check; this module only reads
//! the answer that carries it.

use std::collections::BTreeMap;
use std::fmt;

use http::Response;
use reimage_auth::edis::{EdisSession, parse_valid_until};
use reimage_core::{KvmId, ValidationError};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::AUTH_OPERATION;
use crate::decode::{edis_error, json_problem, request_id};
use crate::{DecodeError, Provider, ResponseError};

/// The sessions of an auth answer, one per KVM, in `kvm_id` order.
///
/// An auth call with a `kvm_id` gives one session; one without gives a session for every KVM of
/// the account.
#[derive(Debug, Clone, Default)]
pub struct EdisSessions(BTreeMap<KvmId, EdisSession>);

impl EdisSessions {
    /// The session for `kvm_id`, or an error that names the KVMs the answer has.
    ///
    /// ```
    /// use reimage_auth::EdisSession;
    /// use reimage_wire::edis::EdisSessions;
    /// use reimage_core::KvmId;
    ///
    /// let sessions: EdisSessions =
    ///     [EdisSession::new("h.example", KvmId::new("kvm_1_2")?, "sig", "1000")?].into_iter().collect();
    /// let err = sessions.pick(&KvmId::new("kvm_3_4")?).unwrap_err();
    /// assert_eq!(err.field(), "kvm_id");
    /// assert!(err.problem().contains("kvm_1_2"), "{err}");
    /// # Ok::<(), reimage_core::ValidationError>(())
    /// ```
    pub fn pick(&self, kvm_id: &KvmId) -> Result<&EdisSession, ValidationError> {
        self.0.get(kvm_id).ok_or_else(|| {
            let known: Vec<&str> = self.0.keys().map(KvmId::as_str).collect();
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            ValidationError::new(
                "kvm_id",
                format!("{kvm_id} is not among the sessions of the auth answer (it has: {known})"),
                "check the kvm_id in the EDIS client area, and that it belongs to this account; \
                 or create the session with this kvm_id",
            )
        })
    }

    /// The session for `kvm_id`, if the answer has one.
    pub fn get(&self, kvm_id: &KvmId) -> Option<&EdisSession> {
        self.0.get(kvm_id)
    }

    /// Every session, in `kvm_id` order.
    pub fn iter(&self) -> impl Iterator<Item = &EdisSession> {
        self.0.values()
    }

    /// How many sessions there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sessions, by KVM.
    pub fn into_map(self) -> BTreeMap<KvmId, EdisSession> {
        self.0
    }
}

impl FromIterator<EdisSession> for EdisSessions {
    fn from_iter<I: IntoIterator<Item = EdisSession>>(iter: I) -> Self {
        Self(iter.into_iter().map(|s| (s.kvm_id().clone(), s)).collect())
    }
}

/// Decodes the auth answer (`/kvm/v2/get/auth`) into its sessions.
///
/// An error status, or a `status` other than `success`, is [`ResponseError::Provider`]; a
/// success that cannot be read is [`ResponseError::Decode`], whose text never shows the
/// signature. `valid_until` may be an integer or a string of digits; unknown fields are ignored.
pub fn decode_sessions<B: AsRef<[u8]>>(
    response: &Response<B>,
) -> Result<EdisSessions, ResponseError> {
    let answer: AuthAnswer = decode_success(AUTH_OPERATION, response)?;
    let bad = |problem: String| {
        ResponseError::Decode(
            DecodeError::new(
                AUTH_OPERATION,
                Provider::Edis,
                response.status().as_u16(),
                problem,
            )
            .with_request_id(request_id(response.headers())),
        )
    };
    let mut sessions = BTreeMap::new();
    for (key, raw) in answer.data {
        let key =
            KvmId::new(key).map_err(|e| bad(format!("a key of `data` is not a KVM id: {e}")))?;
        let kvm_id = match raw.kvm_id {
            Some(inner) => {
                let inner = KvmId::new(inner).map_err(|e| bad(format!("data.{key}: {e}")))?;
                if inner != key {
                    return Err(bad(format!(
                        "data.{key} holds the session of another KVM, {inner}"
                    )));
                }
                inner
            }
            None => key,
        };
        let session = EdisSession::new(
            raw.api_host,
            kvm_id.clone(),
            raw.signature.0,
            raw.valid_until,
        )
        .map_err(|e| bad(format!("data.{kvm_id}: {e}")))?;
        sessions.insert(kvm_id, session);
    }
    Ok(EdisSessions(sessions))
}

/// Reads an EDIS answer: a 2xx whose `status` is `success` becomes `T`; anything else is what
/// the provider said, or why the answer could not be read.
///
/// - a status outside 2xx: [`ResponseError::Provider`], from [`edis_error`];
/// - a 2xx with a `status` other than `success`, or with an `error` and no `status`: also
///   [`ResponseError::Provider`];
/// - a 2xx that is not a JSON object, has no `status`, or does not fit `T`:
///   [`ResponseError::Decode`], described with [`json_problem`], never quoting the body.
///
/// `operation` names the call in the errors (`edis.reinstall`, `edis.get_power`).
pub fn decode_success<T: DeserializeOwned, B: AsRef<[u8]>>(
    operation: &'static str,
    response: &Response<B>,
) -> Result<T, ResponseError> {
    #[derive(Deserialize)]
    struct Envelope {
        status: Option<Value>,
        error: Option<IgnoredAny>,
    }
    let status = response.status().as_u16();
    let headers = response.headers();
    let body = response.body().as_ref();
    if !response.status().is_success() {
        return Err(edis_error(status, headers, body).into());
    }
    let bad = |problem: String| {
        ResponseError::Decode(
            DecodeError::new(operation, Provider::Edis, status, problem)
                .with_request_id(request_id(headers)),
        )
    };
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| bad(json_problem(&e)))?;
    match envelope.status {
        Some(Value::String(s)) if s == "success" => {
            serde_json::from_slice(body).map_err(|e| bad(json_problem(&e)))
        }
        Some(Value::String(_)) => Err(edis_error(status, headers, body).into()),
        _ if envelope.error.is_some() => Err(edis_error(status, headers, body).into()),
        Some(_) => Err(bad("the `status` field is not a string".to_owned())),
        None => Err(bad("the answer has no `status` field".to_owned())),
    }
}

/// The auth answer; `status` was checked by [`decode_success`].
#[derive(Deserialize)]
struct AuthAnswer {
    #[serde(deserialize_with = "sessions_by_key")]
    data: BTreeMap<String, RawSession>,
}

/// One session as the auth answer writes it. Unknown fields (`api_rdns`, `primary_ip`, …) are
/// ignored.
#[derive(Deserialize)]
struct RawSession {
    api_host: String,
    #[serde(default)]
    kvm_id: Option<String>,
    #[serde(deserialize_with = "valid_until_text")]
    valid_until: String,
    signature: RawSignature,
}

/// A signature read without ever echoing it in an error.
struct RawSignature(SecretString);

impl<'de> Deserialize<'de> for RawSignature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(Self(SecretString::from(s))),
            _ => Err(serde::de::Error::custom("the signature is not a string")),
        }
    }
}

/// `valid_until` as an integer (`1737476000`) or a string of digits (`"1737476000"`), kept as the
/// text that was received.
fn valid_until_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = match Value::deserialize(deserializer)? {
        Value::Number(n) if n.is_u64() => n.to_string(),
        Value::String(s) => s,
        _ => {
            return Err(serde::de::Error::custom(
                "valid_until is neither an integer nor a string",
            ));
        }
    };
    parse_valid_until(&text).map_err(serde::de::Error::custom)?;
    Ok(text)
}

/// `data`: an object of sessions by KVM id, or the empty list that PHP writes for an empty one.
fn sessions_by_key<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, RawSession>, D::Error> {
    struct Sessions;

    impl<'de> Visitor<'de> for Sessions {
        type Value = BTreeMap<String, RawSession>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of sessions by kvm_id")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, session)) = map.next_entry::<String, RawSession>()? {
                if out.insert(key, session).is_some() {
                    return Err(serde::de::Error::custom("`data` names a KVM twice"));
                }
            }
            Ok(out)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            match seq.next_element::<IgnoredAny>()? {
                None => Ok(BTreeMap::new()),
                Some(_) => Err(serde::de::Error::custom(
                    "`data` is a list, not an object of sessions by kvm_id",
                )),
            }
        }
    }

    deserializer.deserialize_any(Sessions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const SIGNATURE: &str = "12345678901234567890123456789012345678901234567890";

    fn kvm(s: &str) -> KvmId {
        KvmId::new(s).unwrap()
    }

    fn answer(status: u16, body: &str) -> Response<Vec<u8>> {
        Response::builder()
            .status(status)
            .header("x-request-id", "req-7")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    fn auth_body(valid_until: &str) -> String {
        format!(
            r#"{{"data":{{"kvm_123456_789012":{{"api_host":"123456.edisglobal.com","api_rdns":"dns-api.edis.at","kvm_id":"kvm_123456_789012","valid_until":{valid_until},"signature":"{SIGNATURE}","suspended":"n","lps_ispremium":false,"primary_ip":"185.203.118.74"}}}},"status":"success"}}"#
        )
    }

    #[test]
    fn valid_until_int_string_and_garbage() {
        for (json, text) in [
            ("1737476000", "1737476000"),
            ("\"1737476000\"", "1737476000"),
            ("\"01737476000\"", "01737476000"),
        ] {
            let sessions = decode_sessions(&answer(200, &auth_body(json))).unwrap();
            let s = sessions.pick(&kvm("kvm_123456_789012")).unwrap();
            assert_eq!(s.valid_until_text(), text, "{json}");
            assert_eq!(s.valid_until().unix_seconds(), 1_737_476_000, "{json}");
            assert_eq!(s.signature().expose_secret(), SIGNATURE);
            assert_eq!(s.api_host(), "123456.edisglobal.com");
        }
        for garbage in [
            "\"tomorrow\"",
            "\"\"",
            "-5",
            "1737476000.5",
            "null",
            "true",
            "[1]",
            "\"1737476000 \"",
            "1e10",
        ] {
            let err = decode_sessions(&answer(200, &auth_body(garbage))).unwrap_err();
            let ResponseError::Decode(d) = &err else {
                panic!("{garbage}: {err:?}")
            };
            assert!(d.problem.contains("valid_until"), "{garbage}: {err}");
            assert_eq!(d.request_id.as_deref(), Some("req-7"));
            assert!(!err.to_string().contains(SIGNATURE), "{err}");
        }
    }

    #[test]
    fn several_kvms_and_picking() {
        let body = r#"{"data":{
            "kvm_234567_890123":{"api_host":"234567.edisglobal.com","kvm_id":"kvm_234567_890123","valid_until":1737479000,"signature":"b"},
            "kvm_123456_789012":{"api_host":"123456.edisglobal.com","kvm_id":"kvm_123456_789012","valid_until":1737476000,"signature":"a"}
        },"status":"success"}"#;
        let sessions = decode_sessions(&answer(200, body)).unwrap();
        assert_eq!(sessions.len(), 2);
        let order: Vec<&str> = sessions.iter().map(|s| s.kvm_id().as_str()).collect();
        assert_eq!(order, ["kvm_123456_789012", "kvm_234567_890123"]);
        assert_eq!(
            sessions.pick(&kvm("kvm_234567_890123")).unwrap().api_host(),
            "234567.edisglobal.com"
        );
        let err = sessions.pick(&kvm("kvm_9_9")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kvm_id: kvm_9_9 is not among the sessions of the auth answer (it has: kvm_123456_789012, \
             kvm_234567_890123); check the kvm_id in the EDIS client area, and that it belongs to this \
             account; or create the session with this kvm_id"
        );
        let empty = decode_sessions(&answer(200, r#"{"data":[],"status":"success"}"#)).unwrap();
        assert!(empty.is_empty());
        assert!(
            empty
                .pick(&kvm("kvm_1_2"))
                .unwrap_err()
                .problem()
                .contains("it has: none")
        );
    }

    #[test]
    fn inner_kvm_id_may_be_missing_but_not_different() {
        let missing = r#"{"data":{"kvm_1_2":{"api_host":"h.example","valid_until":5,"signature":"s"}},"status":"success"}"#;
        assert!(
            decode_sessions(&answer(200, missing))
                .unwrap()
                .get(&kvm("kvm_1_2"))
                .is_some()
        );
        let other = r#"{"data":{"kvm_1_2":{"api_host":"h.example","kvm_id":"kvm_3_4","valid_until":5,"signature":"s"}},"status":"success"}"#;
        let err = decode_sessions(&answer(200, other)).unwrap_err();
        assert!(err.to_string().contains("another KVM, kvm_3_4"), "{err}");
    }

    #[test]
    fn provider_errors() {
        let cases = [
            (
                400,
                r#"{"error":"Invalid credentials or missing parameters.","code":400,"message":"Please check your input and try again."}"#,
                Some("400"),
                "Invalid credentials or missing parameters.: Please check your input and try again.",
            ),
            (
                401,
                r#"{"error":"Unauthorized","code":401,"message":"Invalid WHMCS credentials. Please provide correct credentials."}"#,
                Some("401"),
                "Unauthorized: Invalid WHMCS credentials. Please provide correct credentials.",
            ),
            (
                500,
                r#"{"error":"Internal Server Error","code":500}"#,
                Some("500"),
                "Internal Server Error",
            ),
            (
                200,
                r#"{"status":"error","error":"Invalid credentials"}"#,
                None,
                "Invalid credentials",
            ),
            (
                200,
                r#"{"status":"failed"}"#,
                None,
                "the answer's status is \"failed\", not \"success\"",
            ),
            (
                200,
                r#"{"error":"Unauthorized","code":401}"#,
                Some("401"),
                "Unauthorized",
            ),
            (
                502,
                "<html>Bad Gateway</html>",
                None,
                "a body that is not JSON (no content type, 24 bytes)",
            ),
        ];
        for (status, body, code, message) in cases {
            let err = decode_sessions(&answer(status, body)).unwrap_err();
            let p = err
                .provider_error()
                .unwrap_or_else(|| panic!("{body}: {err:?}"));
            assert_eq!(
                (p.status, p.code.as_deref(), p.message.as_str()),
                (status, code, message),
                "{body}"
            );
            assert_eq!(p.request_id.as_deref(), Some("req-7"));
        }
    }

    #[test]
    fn malformed_success_never_shows_the_signature() {
        let cases = [
            r#"{"data":{"kvm_1_2":{"api_host":"h","valid_until":5,"signature":987654321}},"status":"success"}"#.to_owned(),
            format!(r#"{{"data":{{"kvm_1_2":{{"api_host":7,"valid_until":5,"signature":"{SIGNATURE}"}}}},"status":"success"}}"#),
            r#"{"data":{"kvm_1_2":{"api_host":"h","valid_until":5}},"status":"success"}"#.to_owned(),
            format!(r#"{{"data":{{"kvm_1_2":{{"api_host":"h","valid_until":5,"signature":"{SIGNATURE}"}}"#),
            format!(r#"{{"data":"{SIGNATURE}","status":"success"}}"#),
            format!(r#"{{"data":{{"{SIGNATURE}":{{}}}},"status":"success"}}"#),
            format!(r#"{{"data":{{"kvm_1_2":{{"api_host":"h/","valid_until":5,"signature":"{SIGNATURE}"}}}},"status":"success"}}"#),
            format!(r#"{{"data":{{"kvm_1_2":{{"api_host":"h","valid_until":"{SIGNATURE}","signature":"x"}}}},"status":"success"}}"#),
            "{\"status\":\"success\"}".to_owned(),
            "{\"data\":{}}".to_owned(),
            "[]".to_owned(),
            String::new(),
        ];
        for body in cases {
            let err = decode_sessions(&answer(200, &body)).unwrap_err();
            assert!(matches!(err, ResponseError::Decode(_)), "{body}: {err:?}");
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(SIGNATURE) && !shown.contains("987654321"),
                "{body}: {shown}"
            );
            assert!(shown.contains(AUTH_OPERATION), "{shown}");
        }
    }
}
