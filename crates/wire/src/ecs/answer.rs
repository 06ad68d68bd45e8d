//! Reading answers: jobs, the `job_id` answer, success and error bodies, and a small typed
//! reader over `serde_json` values that names the field it could not read.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn read_job(top: &Obj<'_>, requested: &JobId) -> Result<Job, String> {
    let id = match top.text("job_id")? {
        None => requested.clone(),
        Some(id) => job_id(&top.name("job_id"), &id)?,
    };
    let mut job = Job::new(id, job_status(top)?);
    job.job_type = top.text("job_type")?;
    job.begin_time = top.time("begin_time")?;
    job.end_time = top.time("end_time")?;
    job.error_code = top.text("error_code")?;
    job.fail_reason = top.text("fail_reason")?;
    if let Some(entities) = top.object("entities")? {
        job.server_id = entities.text("server_id")?;
        job.sub_jobs_total = entities.uint("sub_jobs_total")?;
        if let Some(subs) = entities.array("sub_jobs")? {
            for (i, sub) in subs.iter().enumerate() {
                let name = entities.name(&format!("sub_jobs[{i}]"));
                let sub = sub
                    .as_object()
                    .map(|map| Obj::new(map, format!("{name}.")))
                    .ok_or_else(|| format!("{name} is not an object"))?;
                job.sub_jobs.push(read_sub_job(&sub)?);
            }
        }
    }
    Ok(job)
}

pub(super) fn read_sub_job(sub: &Obj<'_>) -> Result<SubJob, String> {
    let mut job = SubJob::new(job_status(sub)?);
    job.id = match sub.text("job_id")? {
        None => None,
        Some(id) => Some(job_id(&sub.name("job_id"), &id)?),
    };
    job.job_type = sub.text("job_type")?;
    job.begin_time = sub.time("begin_time")?;
    job.end_time = sub.time("end_time")?;
    job.error_code = sub.text("error_code")?;
    job.fail_reason = sub.text("fail_reason")?;
    if let Some(entities) = sub.object("entities")? {
        job.server_id = entities.text("server_id")?;
        job.errorcode_message = entities.text("errorcode_message")?;
    }
    Ok(job)
}

pub(super) fn job_status(obj: &Obj<'_>) -> Result<JobStatus, String> {
    Ok(obj
        .text("status")?
        .map_or(JobStatus::Unknown(String::new()), |s| {
            JobStatus::from_wire(&s)
        }))
}

pub(super) fn job_id(field: &str, id: &str) -> Result<JobId, String> {
    JobId::new(id).map_err(|_| {
        format!(
            "{field} is not a job id ({} characters); expected 1 to 64 letters, digits or '-'",
            id.chars().count()
        )
    })
}

/// The `{"job_id":"..."}` answer of reinstallos, changeos and the batch actions.
pub(super) fn job_id_answer(
    operation: &'static str,
    response: Response<Bytes>,
) -> Result<JobId, ResponseError> {
    // The typed road reads a well-formed answer without a `Value` tree; anything else goes the
    // `Value` road below, which gives the same id or says what is wrong.
    if response.status().is_success()
        && let Some(id) = super::typed::job_id_of(response.body())
    {
        return Ok(id);
    }
    let answer = success_json(operation, response)?;
    let fail = |problem: String| answer.fail(operation, problem);
    let top = Obj::root(&answer.value).map_err(fail)?;
    if top.is_error_only("job_id") {
        return Err(answer.refusal());
    }
    let id = top
        .text("job_id")
        .map_err(fail)?
        .ok_or_else(|| fail("the answer has no `job_id`".to_owned()))?;
    job_id("job_id", &id).map_err(fail)
}

/// A 2xx answer, read as JSON.
pub(super) struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    pub(super) value: Value,
}

impl Answer {
    /// What ECS said, for a 2xx answer that holds only an error.
    pub(super) fn refusal(&self) -> ResponseError {
        huawei_error(
            Provider::Ecs,
            self.status.as_u16(),
            &self.headers,
            &self.body,
        )
        .into()
    }

    /// A decode error about this answer.
    pub(super) fn fail(&self, operation: &'static str, problem: String) -> ResponseError {
        decode_error(operation, self.status, &self.headers, problem)
    }
}

/// A 2xx answer as JSON; any other status is what ECS said.
pub(super) fn success_json(
    operation: &'static str,
    response: Response<Bytes>,
) -> Result<Answer, ResponseError> {
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        return Err(
            huawei_error(Provider::Ecs, parts.status.as_u16(), &parts.headers, &body).into(),
        );
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) => Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
            value,
        }),
        Err(e) => Err(decode_error(
            operation,
            parts.status,
            &parts.headers,
            json_problem(&e),
        )),
    }
}

pub(super) fn decode_error(
    operation: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    problem: String,
) -> ResponseError {
    DecodeError::new(operation, Provider::Ecs, status.as_u16(), problem)
        .with_request_id(request_id(headers))
        .into()
}

/// A JSON object read field by field. Errors name the field by its path and never quote values.
pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    /// The path of this object, ending in `.` (empty at the top).
    path: String,
}

impl<'a> Obj<'a> {
    pub(super) fn new(map: &'a Map<String, Value>, path: String) -> Self {
        Self { map, path }
    }

    pub(super) fn root(value: &'a Value) -> Result<Self, String> {
        value
            .as_object()
            .map(|map| Self::new(map, String::new()))
            .ok_or_else(|| format!("the answer is {}, not an object", kind(value)))
    }

    /// The full name of `key`, for errors.
    pub(super) fn name(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    /// The value of `key`; `null` counts as absent.
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// Whether the object holds an error (`error`, `error_code` or `code`) and not `expected`.
    pub(super) fn is_error_only(&self, expected: &str) -> bool {
        self.get(expected).is_none()
            && ["error", "error_code", "code"]
                .iter()
                .any(|k| self.get(k).is_some())
    }

    pub(super) fn wrong(&self, key: &str, want: &str, got: &Value) -> String {
        format!("{} is {}, not {want}", self.name(key), kind(got))
    }

    /// A string; numbers and booleans are taken as their text.
    pub(super) fn text(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A time; an empty string counts as absent.
    pub(super) fn time(&self, key: &str) -> Result<Option<Timestamp>, String> {
        match self.text(key)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => Timestamp::parse(&text).map(Some).map_err(|_| {
                format!(
                    "{} is not a date and time ({} characters); expected RFC 3339, e.g. \
                     2016-04-25T20:04:47.591Z",
                    self.name(key),
                    text.chars().count()
                )
            }),
        }
    }

    /// A whole number, or a string of digits.
    pub(super) fn uint(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
            Some(other) => Err(self.wrong(key, "a whole number", other)),
        }
    }

    /// A boolean, or the string `true` or `false`.
    pub(super) fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    pub(super) fn object(&self, key: &str) -> Result<Option<Obj<'a>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj::new(map, format!("{}.", self.name(key))))),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    pub(super) fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "a list", other)),
        }
    }
}

/// What kind of JSON value it is, without its content.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
