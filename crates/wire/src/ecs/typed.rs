//! Typed reading of the two answers a reinstall loop reads most: the job (`GET
//! /v1/{project_id}/jobs/{job_id}`) and the `{"job_id": ...}` answer of the actions.
//!
//! The answer is decoded straight into borrowed structs, with no `serde_json::Value` tree: only
//! the fields the readers of [`super::answer`] look at are kept (strings borrowed from the body
//! where they have no escapes), and unknown fields are skipped, once the whole body has been read
//! through as the `Value` road checks it (see [`Checked`]). This is a fast road only: it gives
//! `None` for anything it does not read exactly as the `Value` road would — an answer that holds
//! only an error, a field of another type, a repeated key, a time or id that does not parse —
//! and the caller then reads the answer through the `Value` road, which gives the answer or the
//! precise error. So the result never depends on which road read it; the tests of this module
//! hold the two to that over bodies of every shape.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use reimage_core::{Job, JobId, JobStatus, SubJob, Timestamp};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A JSON object read into `T`; anything but an object (an array, which derived structs would
/// otherwise take field by field) is refused.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

/// A string, number or boolean: what [`super::answer::Obj::text`] takes. `null` is read as an
/// absent field by `Option`; an array or object is refused.
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Number(serde_json::Number),
    Bool(bool),
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                serde_json::Number::from_f64(v)
                    .map(Scalar::Number)
                    .ok_or_else(|| E::custom("a number that is not finite"))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Any JSON value, read through and dropped as the `Value` road would read it: every string
/// decoded (escapes, surrogates, UTF-8), every number parsed (in range), nesting counted against
/// serde_json's depth limit. [`IgnoredAny`], which derived structs use for unknown fields, skips
/// without those checks, so a body is first read whole as a `Checked`: whatever the `Value` road
/// refuses, the typed road refuses too (and the `Value` road then says why).
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CheckedVisitor;
        impl<'de> Visitor<'de> for CheckedVisitor {
            type Value = Checked;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Checked)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
                while map.next_entry::<Checked, Checked>()?.is_some() {}
                Ok(Checked)
            }
        }
        deserializer.deserialize_any(CheckedVisitor)
    }
}

/// Any JSON value but `null` (which `Option` reads as absent), skipped: a field that is only
/// looked for.
struct Present;

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| Present)
    }
}

/// The fields of a job or sub-job that [`super::answer::read_job`] reads, and the error fields
/// that make an answer an error only.
#[derive(Deserialize)]
struct JobDoc<'a> {
    #[serde(borrow)]
    job_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    status: Option<Scalar<'a>>,
    #[serde(borrow)]
    job_type: Option<Scalar<'a>>,
    #[serde(borrow)]
    begin_time: Option<Scalar<'a>>,
    #[serde(borrow)]
    end_time: Option<Scalar<'a>>,
    #[serde(borrow)]
    error_code: Option<Scalar<'a>>,
    #[serde(borrow)]
    fail_reason: Option<Scalar<'a>>,
    error: Option<Present>,
    code: Option<Present>,
    #[serde(borrow)]
    entities: Option<Object<Entities<'a>>>,
}

/// A job's or sub-job's `entities`.
#[derive(Deserialize)]
struct Entities<'a> {
    #[serde(borrow)]
    server_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    sub_jobs_total: Option<Scalar<'a>>,
    #[serde(borrow)]
    errorcode_message: Option<Scalar<'a>>,
    #[serde(borrow)]
    sub_jobs: Option<Vec<Object<JobDoc<'a>>>>,
}

/// The `{"job_id": ...}` answer.
#[derive(Deserialize)]
struct JobIdDoc<'a> {
    #[serde(borrow)]
    job_id: Option<Scalar<'a>>,
}

/// [`super::answer::Obj::text`] of a read field.
fn text(field: Option<&Scalar<'_>>) -> Option<String> {
    field.map(|value| match value {
        Scalar::Text(text) => text.as_ref().to_owned(),
        Scalar::Number(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    })
}

/// [`super::answer::Obj::time`]: `None` when it does not parse (the `Value` road says why).
fn time(field: Option<&Scalar<'_>>) -> Option<Option<Timestamp>> {
    match field {
        None => Some(None),
        Some(Scalar::Text(text)) if text.is_empty() => Some(None),
        Some(Scalar::Text(text)) => Timestamp::parse(text).ok().map(Some),
        Some(other) => {
            let text = text(Some(other))?;
            Timestamp::parse(&text).ok().map(Some)
        }
    }
}

/// [`super::answer::Obj::uint`]: `None` for what it refuses.
fn uint(field: Option<&Scalar<'_>>) -> Option<Option<u64>> {
    match field {
        None => Some(None),
        Some(Scalar::Number(n)) => n.as_u64().map(Some),
        Some(Scalar::Text(text)) if text.is_empty() => Some(None),
        Some(Scalar::Text(text)) => text.parse().ok().map(Some),
        Some(Scalar::Bool(_)) => None,
    }
}

/// [`super::answer::job_status`].
fn status(doc: &JobDoc<'_>) -> JobStatus {
    text(doc.status.as_ref()).map_or(JobStatus::Unknown(String::new()), |s| {
        JobStatus::from_wire(&s)
    })
}

/// A job id field, or `None` when it is not one.
fn job_id(field: Option<&Scalar<'_>>) -> Option<Option<JobId>> {
    match text(field) {
        None => Some(None),
        Some(id) => JobId::new(id).ok().map(Some),
    }
}

/// The job of a 2xx job answer, as [`super::answer::read_job`] reads it; `None` when only the
/// `Value` road can say (an error-only answer, a field it refuses).
pub(super) fn job(body: &[u8], requested: &JobId) -> Option<Job> {
    serde_json::from_slice::<Checked>(body).ok()?;
    let Object(top) = serde_json::from_slice::<Object<JobDoc<'_>>>(body).ok()?;
    // `is_error_only("status")`: the refusal comes from the `Value` road.
    if top.status.is_none()
        && (top.error.is_some() || top.error_code.is_some() || top.code.is_some())
    {
        return None;
    }
    let id = job_id(top.job_id.as_ref())?.unwrap_or_else(|| requested.clone());
    let mut job = Job::new(id, status(&top));
    job.job_type = text(top.job_type.as_ref());
    job.begin_time = time(top.begin_time.as_ref())?;
    job.end_time = time(top.end_time.as_ref())?;
    job.error_code = text(top.error_code.as_ref());
    job.fail_reason = text(top.fail_reason.as_ref());
    if let Some(Object(entities)) = &top.entities {
        job.server_id = text(entities.server_id.as_ref());
        job.sub_jobs_total = uint(entities.sub_jobs_total.as_ref())?;
        for Object(sub) in entities.sub_jobs.iter().flatten() {
            job.sub_jobs.push(sub_job(sub)?);
        }
    }
    Some(job)
}

/// [`super::answer::read_sub_job`].
fn sub_job(doc: &JobDoc<'_>) -> Option<SubJob> {
    let mut job = SubJob::new(status(doc));
    job.id = job_id(doc.job_id.as_ref())?;
    job.job_type = text(doc.job_type.as_ref());
    job.begin_time = time(doc.begin_time.as_ref())?;
    job.end_time = time(doc.end_time.as_ref())?;
    job.error_code = text(doc.error_code.as_ref());
    job.fail_reason = text(doc.fail_reason.as_ref());
    if let Some(Object(entities)) = &doc.entities {
        job.server_id = text(entities.server_id.as_ref());
        job.errorcode_message = text(entities.errorcode_message.as_ref());
    }
    Some(job)
}

/// The job id of a 2xx `{"job_id": ...}` answer, as [`super::answer::job_id_answer`] reads it;
/// `None` when only the `Value` road can say.
pub(super) fn job_id_of(body: &[u8]) -> Option<JobId> {
    serde_json::from_slice::<Checked>(body).ok()?;
    let Object(doc) = serde_json::from_slice::<Object<JobIdDoc<'_>>>(body).ok()?;
    // Without a job id, the answer is an error only or breaks its contract: the `Value` road
    // says which.
    job_id(doc.job_id.as_ref())?
}

#[cfg(test)]
mod tests {
    use super::super::answer::{Obj, read_job};
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn requested() -> JobId {
        JobId::new("ff80808288d41e1b018990260955686a").unwrap()
    }

    /// The `Value` road alone: `Ok(None)` for an error-only answer.
    fn value_road(body: &str) -> Result<Option<Job>, String> {
        let value: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        let top = Obj::root(&value)?;
        if top.is_error_only("status") {
            return Ok(None);
        }
        read_job(&top, &requested()).map(Some)
    }

    /// Whenever the typed road reads a job, the `Value` road reads the same one.
    fn same_on_both_roads(body: &str) -> Option<Job> {
        let typed = job(body.as_bytes(), &requested());
        if let Some(typed) = &typed {
            assert_eq!(value_road(body), Ok(Some(typed.clone())), "{body}");
        }
        typed
    }

    #[test]
    fn well_formed_jobs_take_the_typed_road_and_read_the_same() {
        let well_formed = [
            // What the emulator and ECS answer while a reinstall runs, with unknown fields.
            r#"{"status":"RUNNING","job_id":"ff80808288d41e1b018990260955686a","job_type":"reinstallOS",
              "begin_time":"2024-05-01T10:00:00.000Z","end_time":"","error_code":null,"fail_reason":null,
              "entities":{"server_id":"616fb98f-46ca-475e-917e-2563e5a8cd19","sub_jobs_total":1,
              "sub_jobs":[{"status":"RUNNING","job_id":"ff80808288d41e1b018990260955686b",
              "job_type":"reinstallOS","begin_time":"2024-05-01T10:00:00.000Z","end_time":"",
              "entities":{"server_id":"616fb98f-46ca-475e-917e-2563e5a8cd19","extra":[1,{"a":null}]},
              "unknown":{"deep":[true]}}]},"new_field":{"x":1},"another":[null]}"#,
            // Nulls everywhere.
            r#"{"status":null,"entities":null,"job_id":null,"job_type":null,"begin_time":null,"end_time":null,"error_code":null,"fail_reason":null}"#,
            "{}",
            // Numbers and booleans taken as their text, a total given as text, escapes.
            r#"{"status":"SUCCESS","job_type":12,"error_code":true,"fail_reason":-1.5e3,
              "entities":{"server_id":"a\"b\\u00e9\n","sub_jobs_total":"","sub_jobs":[]}}"#,
            r#"{"status":"FAIL","entities":{"sub_jobs_total":"2","sub_jobs":[{"status":"FAIL",
              "entities":{"server_id":"s","errorcode_message":"bad"}},{"status":"PENDING_PAYMENT","job_id":null}]}}"#,
            // Error fields beside a status: a job, not a refusal.
            r#"{"status":"FAIL","error_code":"Ecs.0011","code":"x","error":{"message":"m"}}"#,
        ];
        for body in well_formed {
            assert!(same_on_both_roads(body).is_some(), "{body}");
        }
    }

    #[test]
    fn the_typed_road_leaves_to_the_value_road_what_it_cannot_say() {
        let left = [
            // Error-only answers: the refusal, with code, message and request id, comes from
            // the `Value` road.
            r#"{"code":"Ecs.0103","message":"The job does not exist."}"#,
            r#"{"error":{"code":"Ecs.0000","message":"Request error."}}"#,
            r#"{"error_code":"APIGW.0301","error_msg":"verify aksk signature fail","request_id":"gw"}"#,
            // What the `Value` road refuses, and says why.
            r#"{"status":"RUNNING","begin_time":"yesterday"}"#,
            r#"{"status":{"a":1}}"#,
            r#"{"status":"RUNNING","entities":[]}"#,
            r#"{"status":"RUNNING","entities":{"sub_jobs":[1]}}"#,
            r#"{"status":"RUNNING","entities":{"sub_jobs":[{"end_time":"later"}]}}"#,
            r#"{"status":"RUNNING","entities":{"sub_jobs_total":-1}}"#,
            r#"{"status":"RUNNING","entities":{"sub_jobs_total":true}}"#,
            r#"{"status":"RUNNING","job_id":"a b"}"#,
            "[]",
            "",
            // A repeated key: the `Value` road keeps the last one.
            r#"{"status":"RUNNING","status":"SUCCESS"}"#,
        ];
        for body in left {
            assert_eq!(job(body.as_bytes(), &requested()), None, "{body}");
        }
        // The repeated key reads as the `Value` road reads it, through `ShowJob`.
        let op = super::super::ShowJob::new(
            "0123456789abcdef0123456789abcdef".parse().unwrap(),
            requested(),
        );
        let answer = http::Response::builder()
            .status(200)
            .body(bytes::Bytes::from_static(
                br#"{"status":"RUNNING","status":"SUCCESS"}"#,
            ))
            .unwrap();
        use crate::Operation as _;
        assert_eq!(
            op.decode_response(answer).unwrap().status,
            JobStatus::Success
        );
    }

    /// What the `Value` road refuses anywhere in the body, in a field the typed road does not
    /// read too, the typed road refuses: a lone surrogate, a number out of range, nesting past
    /// serde_json's limit, bytes that are not UTF-8. The decode is then an error, as it was
    /// before the typed road, never a job (for a reinstall: an answer it cannot read, never a
    /// success).
    #[test]
    fn what_the_value_road_refuses_anywhere_the_typed_road_refuses() {
        use crate::Operation as _;
        let deep = format!(
            r#"{{"status":"SUCCESS","x":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let mut bodies: Vec<Vec<u8>> = [
            r#"{"status":"SUCCESS","x":"\udc00"}"#,
            r#"{"status":"SUCCESS","x":1e400}"#,
            r#"{"status":"SUCCESS","error":"\udc00"}"#,
            r#"{"status":"SUCCESS","entities":{"x":{"y":"\ud800"}}}"#,
            r#"{"status":"SUCCESS","entities":{"sub_jobs":[{"status":"SUCCESS","x":-1e999}]}}"#,
            deep.as_str(),
        ]
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect();
        bodies.push(b"{\"status\":\"SUCCESS\",\"x\":\"\xff\"}".to_vec());
        let op = super::super::ShowJob::new(
            "0123456789abcdef0123456789abcdef".parse().unwrap(),
            requested(),
        );
        for body in bodies {
            let shown = String::from_utf8_lossy(&body).into_owned();
            assert!(serde_json::from_slice::<Value>(&body).is_err(), "{shown}");
            assert_eq!(job(&body, &requested()), None, "{shown}");
            let answer = http::Response::builder()
                .status(200)
                .body(bytes::Bytes::from(body))
                .unwrap();
            assert!(op.decode_response(answer).is_err(), "{shown}");
        }
        let body = r#"{"job_id":"ff80808288d41e1b018990260955686a","x":"\udc00"}"#;
        assert_eq!(job_id_of(body.as_bytes()), None, "{body}");
    }

    #[test]
    fn error_only_answers_keep_code_message_and_request_id() {
        use crate::{Operation as _, ResponseError};
        let op = super::super::ShowJob::new(
            "0123456789abcdef0123456789abcdef".parse().unwrap(),
            requested(),
        );
        for (status, body, code, message) in [
            (
                200,
                &br#"{"code":"Ecs.0103","message":"The job does not exist.","extra":[1]}"#[..],
                "Ecs.0103",
                "The job does not exist.",
            ),
            (
                200,
                br#"{"error":{"code":"Ecs.0000","message":"Request error."}}"#,
                "Ecs.0000",
                "Request error.",
            ),
            (
                404,
                br#"{"error":{"code":"Ecs.0114","message":"Job not found."}}"#,
                "Ecs.0114",
                "Job not found.",
            ),
        ] {
            let answer = http::Response::builder()
                .status(status)
                .header("X-Request-Id", "req-typed-1")
                .body(bytes::Bytes::from_static(body))
                .unwrap();
            let Err(ResponseError::Provider(e)) = op.decode_response(answer) else {
                panic!("{}: not a provider error", String::from_utf8_lossy(body));
            };
            assert_eq!(
                (
                    e.status,
                    e.code.as_deref(),
                    e.message.as_str(),
                    e.request_id.as_deref()
                ),
                (status, Some(code), message, Some("req-typed-1"))
            );
        }
    }

    #[test]
    fn job_id_answers_take_the_typed_road() {
        assert_eq!(
            job_id_of(br#"{"job_id":"ff80808288d41e1b018990260955686a","x":[1]}"#),
            Some(requested())
        );
        for left in [
            &br#"{}"#[..],
            br#"{"job_id":null}"#,
            br#"{"job_id":["x"]}"#,
            br#"{"job_id":"no/slashes"}"#,
            br#"{"error":{"code":"Ecs.0000","message":"Request error."}}"#,
            br#"[]"#,
            br#"{"job_id":"a","job_id":"b"}"#,
        ] {
            assert_eq!(job_id_of(left), None, "{}", String::from_utf8_lossy(left));
        }
    }

    fn field() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            prop_oneof![
                Just(""),
                Just("RUNNING"),
                Just("SUCCESS"),
                Just("2024-05-01T10:00:00.000Z"),
                Just("yesterday"),
                Just("42"),
                Just("ff80808288d41e1b018990260955686a"),
                Just("a b"),
                Just("é\"\\\n"),
            ]
            .prop_map(|s| Some(json!(s))),
            any::<i64>().prop_map(|n| Some(json!(n))),
            any::<u64>().prop_map(|n| Some(json!(n))),
            (-1.0e6..1.0e6f64).prop_map(|n| Some(json!(n))),
            any::<bool>().prop_map(|b| Some(json!(b))),
            Just(Some(json!([]))),
            Just(Some(json!({"k": "v"}))),
        ]
    }

    fn object(
        keys: &'static [&'static str],
    ) -> impl Strategy<Value = serde_json::Map<String, Value>> {
        proptest::collection::vec(field(), keys.len()).prop_map(move |values| {
            keys.iter()
                .zip(values)
                .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v)))
                .collect()
        })
    }

    const JOB_KEYS: &[&str] = &[
        "status",
        "job_id",
        "job_type",
        "begin_time",
        "end_time",
        "error_code",
        "fail_reason",
        "error",
        "code",
        "unknown",
    ];
    const ENTITY_KEYS: &[&str] = &["server_id", "sub_jobs_total", "errorcode_message", "other"];

    fn job_body() -> impl Strategy<Value = String> {
        let sub = (object(JOB_KEYS), prop::option::of(object(ENTITY_KEYS))).prop_map(
            |(mut sub, entities)| {
                if let Some(entities) = entities {
                    sub.insert("entities".into(), Value::Object(entities));
                }
                Value::Object(sub)
            },
        );
        (
            object(JOB_KEYS),
            prop::option::of(object(ENTITY_KEYS)),
            prop::option::of(proptest::collection::vec(sub, 0..3)),
        )
            .prop_map(|(mut top, entities, subs)| {
                if let Some(mut entities) = entities {
                    if let Some(subs) = subs {
                        entities.insert("sub_jobs".into(), Value::Array(subs));
                    }
                    top.insert("entities".into(), Value::Object(entities));
                }
                Value::Object(top).to_string()
            })
    }

    proptest! {
        #[test]
        fn the_typed_road_never_reads_otherwise_than_the_value_road(body in job_body()) {
            same_on_both_roads(&body);
        }
    }
}
