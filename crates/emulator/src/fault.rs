//! Faults on demand: which calls they hit, and what they do.
//!
//! A [`FaultRule`] names its target (an operation name such as `ecs.reinstallos`, a path pattern
//! such as `/v1/*/jobs/*`, a method, or any mix; none means every call), a [`FaultKind`], and which
//! of the matching calls it hits. Calls are counted per rule, from 1, from the moment the rule is
//! installed: `calls = [2]` hits the second matching call after that.
//!
//! Rules come from the [`Config`](crate::Config), from a fixture file's `[[faults]]`, from
//! `POST /_emulator/faults` (JSON), or from [`Running::add_fault`](crate::Running::add_fault).
//! The JSON and TOML form is the same:
//!
//! ```json
//! {"operation": "ecs.reinstallos", "kind": "lost_answer", "calls": [1]}
//! {"path": "/v1/*/jobs/*", "kind": "server_error", "params": {"status": 503}, "times": 2}
//! {"operation": "iam.create_token", "kind": "short_lived_credentials", "params": {"lifetime_ms": 2000}}
//! ```
//!
//! | `kind` | `params` | what happens |
//! |---|---|---|
//! | `latency` | `ms` | the answer waits `ms` milliseconds (real time, at most an hour), then the call goes on |
//! | `throttle` | `retry_after_secs` (1) | 429 with `Retry-After`; nothing is applied |
//! | `flow_limit` | | ECS: `202` with `Common.0024` ("Flow limit exceeded") and no `job_id`; nothing is applied |
//! | `server_error` | `status` (503): 500, 502, 503 or 504 | that status and the provider's error body; nothing is applied |
//! | `reset` | | the connection is reset (RST) before anything is applied or answered |
//! | `lost_answer` | | the call is applied, then the connection is closed without an answer |
//! | `truncated_body` | | the call is applied; the answer stops halfway through its body |
//! | `invalid_json` | | the call is applied; the answer's body is not JSON |
//! | `job_fail` | `error_code`, `fail_reason` | the ECS job this call starts ends in `FAIL`; an EDIS reinstall fails (the KVM stays off, on its old image) |
//! | `early_success` | | the ECS reinstall or change of OS this call starts reads `SUCCESS` from 60% of its duration, while the server is still `REBUILD` |
//! | `success_flap` | | that job reads `SUCCESS` from 50% to 60% of its duration, then `RUNNING` again, then `SUCCESS` at its end |
//! | `frozen_timestamps` | | that job, when it succeeds, leaves the server's `updated` and `OS-SRV-USG:launched_at` as they were (only the system disk changes) |
//! | `cloud_init_error` | `module` (`scripts_user`) | the ECS reinstall or change of OS this call starts boots a system whose cloud-init module fails: its console shows the failure before the final message |
//! | `cloud_init_hangs` | | that job's new system never reaches cloud-init's final message (nor writes its host keys to the console) |
//! | `expire_credentials` | | the token or EDIS session this call carries expires now, before it is checked |
//! | `short_lived_credentials` | `lifetime_ms` | the token or EDIS session this call issues lives only that long |
//!
//! Which matching calls are hit: `calls = [1, 3]` (those, by number); or `from_call` (default 1)
//! and `times` (default: no limit). With none of them, every matching call is hit.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

/// What a fault does to the call it hits. See the [module docs](crate::fault) for each kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// `latency`: the answer is delayed by `delay` (real time, not scaled), then the call goes on.
    Latency {
        /// How long to wait.
        delay: Duration,
    },
    /// `throttle`: 429 with `Retry-After` (whole seconds, rounded up); nothing is applied.
    Throttle {
        /// The `Retry-After` the answer carries.
        retry_after: Duration,
    },
    /// `flow_limit`: ECS's back end answers `202` with `Common.0024` ("Flow limit exceeded") and
    /// no `job_id`, as it does when a user's calls go over its limit; nothing is applied.
    FlowLimit,
    /// `server_error`: a 500, 502, 503 or 504 with the provider's error body; nothing is applied.
    ServerError {
        /// The HTTP status.
        status: u16,
    },
    /// `reset`: the connection is reset before the call is applied or answered.
    Reset,
    /// `lost_answer`: the call is applied, then the connection is closed without an answer: the
    /// case in which a blind retry wipes a server twice.
    LostAnswer,
    /// `truncated_body`: the call is applied; the answer's body stops halfway.
    TruncatedBody,
    /// `invalid_json`: the call is applied; the answer's body is not JSON.
    InvalidJson,
    /// `job_fail`: the ECS job the call starts ends in `FAIL` (an EDIS reinstall fails).
    JobFail {
        /// The job's `error_code`; a per-job default when `None`.
        error_code: Option<String>,
        /// The job's `fail_reason`; a per-job default when `None`.
        fail_reason: Option<String>,
    },
    /// `early_success`: the ECS OS job the call starts reads `SUCCESS` from 60% of its duration,
    /// while the server is still `REBUILD`.
    EarlySuccess,
    /// `success_flap`: the ECS OS job the call starts reads `SUCCESS`, then `RUNNING` again, then
    /// `SUCCESS`.
    SuccessFlap,
    /// `frozen_timestamps`: the ECS OS job the call starts leaves `updated` and
    /// `OS-SRV-USG:launched_at` unchanged, as a reinstall that swaps the system disk may.
    FrozenTimestamps,
    /// `cloud_init_error`: the new system of the ECS OS job the call starts has a cloud-init
    /// module that fails, as its console shows.
    CloudInitError {
        /// The module (`scripts_user`).
        module: String,
    },
    /// `cloud_init_hangs`: the new system of the ECS OS job the call starts never reaches
    /// cloud-init's final message.
    CloudInitHangs,
    /// `expire_credentials`: the IAM token or EDIS session the call carries expires now.
    ExpireCredentials,
    /// `short_lived_credentials`: the IAM token or EDIS session the call issues lives `lifetime`.
    ShortLivedCredentials {
        /// How long the credentials live.
        lifetime: Duration,
    },
}

impl FaultKind {
    /// The kind's name in JSON and TOML (`lost_answer`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Throttle { .. } => "throttle",
            Self::FlowLimit => "flow_limit",
            Self::ServerError { .. } => "server_error",
            Self::Reset => "reset",
            Self::LostAnswer => "lost_answer",
            Self::TruncatedBody => "truncated_body",
            Self::InvalidJson => "invalid_json",
            Self::JobFail { .. } => "job_fail",
            Self::EarlySuccess => "early_success",
            Self::SuccessFlap => "success_flap",
            Self::FrozenTimestamps => "frozen_timestamps",
            Self::CloudInitError { .. } => "cloud_init_error",
            Self::CloudInitHangs => "cloud_init_hangs",
            Self::ExpireCredentials => "expire_credentials",
            Self::ShortLivedCredentials { .. } => "short_lived_credentials",
        }
    }

    fn params(&self) -> Option<Value> {
        match self {
            Self::Latency { delay } => Some(json!({ "ms": millis(*delay) })),
            Self::Throttle { retry_after } => {
                Some(json!({ "retry_after_secs": retry_after.as_secs() }))
            }
            Self::ServerError { status } => Some(json!({ "status": status })),
            Self::JobFail {
                error_code,
                fail_reason,
            } => {
                let mut params = serde_json::Map::new();
                if let Some(code) = error_code {
                    params.insert("error_code".into(), json!(code));
                }
                if let Some(reason) = fail_reason {
                    params.insert("fail_reason".into(), json!(reason));
                }
                (!params.is_empty()).then_some(Value::Object(params))
            }
            Self::ShortLivedCredentials { lifetime } => {
                Some(json!({ "lifetime_ms": millis(*lifetime) }))
            }
            Self::CloudInitError { module } => Some(json!({ "module": module })),
            Self::Reset
            | Self::FlowLimit
            | Self::CloudInitHangs
            | Self::LostAnswer
            | Self::TruncatedBody
            | Self::InvalidJson
            | Self::EarlySuccess
            | Self::SuccessFlap
            | Self::FrozenTimestamps
            | Self::ExpireCredentials => None,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A fault and the calls it hits.
///
/// ```
/// use reimage_emulator::{FaultKind, FaultRule};
///
/// // Lose the answer of the first reinstall, after applying it.
/// let rule = FaultRule::new(FaultKind::LostAnswer).operation("ecs.reinstallos").calls([1]);
/// assert_eq!(
///     rule.to_json().to_string(),
///     r#"{"calls":[1],"kind":"lost_answer","operation":"ecs.reinstallos"}"#
/// );
///
/// // The same rule, as the admin API and fixture files write it.
/// let parsed = FaultRule::from_json(br#"{"operation":"ecs.reinstallos","kind":"lost_answer","calls":[1]}"#)?;
/// assert_eq!(parsed, rule);
/// # Ok::<(), reimage_emulator::FaultError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultRule {
    operation: Option<String>,
    path: Option<String>,
    method: Option<String>,
    kind: FaultKind,
    calls: Option<Vec<u64>>,
    from_call: u64,
    times: Option<u64>,
}

impl FaultRule {
    /// A rule that hits every call with `kind`, until narrowed with the other methods.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            operation: None,
            path: None,
            method: None,
            kind,
            calls: None,
            from_call: 1,
            times: None,
        }
    }

    /// Only calls of this operation: a name such as `ecs.reinstallos` or `edis.get_power` (the
    /// `Operation::NAME` of `reimage-wire`), where `*` matches any characters (`ecs.*`).
    #[must_use]
    pub fn operation(mut self, pattern: impl Into<String>) -> Self {
        self.operation = Some(pattern.into());
        self
    }

    /// Only calls whose path matches `pattern`, segment by segment, where `*` matches any
    /// characters within one segment (`/v1/*/jobs/*`).
    #[must_use]
    pub fn path(mut self, pattern: impl Into<String>) -> Self {
        self.path = Some(pattern.into());
        self
    }

    /// Only calls with this method (`GET`, `POST`), in any case.
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into().to_ascii_uppercase());
        self
    }

    /// Only the matching calls with these numbers (from 1, counted since the rule was
    /// installed). Overrides [`from_call`](Self::from_call) and [`times`](Self::times).
    #[must_use]
    pub fn calls(mut self, calls: impl IntoIterator<Item = u64>) -> Self {
        self.calls = Some(calls.into_iter().collect());
        self
    }

    /// Only from the `n`th matching call on (1, the first, by default).
    #[must_use]
    pub fn from_call(mut self, n: u64) -> Self {
        self.from_call = n.max(1);
        self
    }

    /// At most `n` times (no limit by default).
    #[must_use]
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// What the fault does.
    pub fn kind(&self) -> &FaultKind {
        &self.kind
    }

    /// Reads a rule from its JSON form (see the [module docs](crate::fault)).
    pub fn from_json(json: &[u8]) -> Result<Self, FaultError> {
        serde_json::from_slice(json).map_err(|e| FaultError::new(e.to_string()))
    }

    /// The rule in its JSON form; keys sorted, unset ones absent.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        if let Some(calls) = &self.calls {
            out.insert("calls".into(), json!(calls));
        }
        if self.from_call != 1 {
            out.insert("from_call".into(), json!(self.from_call));
        }
        out.insert("kind".into(), json!(self.kind.name()));
        if let Some(method) = &self.method {
            out.insert("method".into(), json!(method));
        }
        if let Some(operation) = &self.operation {
            out.insert("operation".into(), json!(operation));
        }
        if let Some(params) = self.kind.params() {
            out.insert("params".into(), params);
        }
        if let Some(path) = &self.path {
            out.insert("path".into(), json!(path));
        }
        if let Some(times) = self.times {
            out.insert("times".into(), json!(times));
        }
        Value::Object(out)
    }

    /// Whether the rule's target takes this call.
    fn targets(&self, operation: &str, method: &str, path: &str) -> bool {
        self.operation
            .as_deref()
            .is_none_or(|p| glob(p.as_bytes(), operation.as_bytes()))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path.as_deref().is_none_or(|p| path_matches(p, path))
    }

    /// Whether the `seen`th matching call is hit, given `fired` hits so far.
    fn hits(&self, seen: u64, fired: u64) -> bool {
        match &self.calls {
            Some(calls) => calls.contains(&seen),
            None => seen >= self.from_call && self.times.is_none_or(|t| fired < t),
        }
    }
}

/// A fault rule that could not be read. The message names the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault rule: {message}")]
pub struct FaultError {
    message: String,
}

impl FaultError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What is wrong with the rule.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The rule as JSON and TOML write it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    method: Option<String>,
    kind: String,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    calls: Option<Vec<u64>>,
    #[serde(default)]
    from_call: Option<u64>,
    #[serde(default)]
    times: Option<u64>,
}

impl TryFrom<RawRule> for FaultRule {
    type Error = FaultError;

    fn try_from(raw: RawRule) -> Result<Self, FaultError> {
        let params = raw.params.unwrap_or(Value::Object(serde_json::Map::new()));
        let kind = parse_kind(&raw.kind, params)?;
        if let Some(path) = &raw.path
            && !path.starts_with('/')
        {
            return Err(FaultError::new(format!(
                "path {path:?} does not start with '/'; write a pattern such as /v1/*/jobs/*"
            )));
        }
        if raw.calls.as_ref().is_some_and(|c| c.contains(&0)) {
            return Err(FaultError::new("calls are numbered from 1"));
        }
        let mut rule = FaultRule::new(kind);
        rule.operation = raw.operation;
        rule.path = raw.path;
        rule.method = raw.method.map(|m| m.to_ascii_uppercase());
        rule.calls = raw.calls;
        rule.from_call = raw.from_call.unwrap_or(1).max(1);
        rule.times = raw.times;
        Ok(rule)
    }
}

impl<'de> Deserialize<'de> for FaultRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawRule::deserialize(deserializer)?;
        FaultRule::try_from(raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

fn parse_kind(kind: &str, params: Value) -> Result<FaultKind, FaultError> {
    fn read<T: serde::de::DeserializeOwned>(kind: &str, params: Value) -> Result<T, FaultError> {
        serde_json::from_value(params)
            .map_err(|e| FaultError::new(format!("params of {kind}: {e}")))
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Latency {
        ms: u64,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Throttle {
        #[serde(default = "one")]
        retry_after_secs: u64,
    }
    fn one() -> u64 {
        1
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ServerError {
        #[serde(default = "service_unavailable")]
        status: u16,
    }
    fn service_unavailable() -> u16 {
        503
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct JobFail {
        #[serde(default)]
        error_code: Option<String>,
        #[serde(default)]
        fail_reason: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ShortLived {
        lifetime_ms: u64,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CloudInitError {
        #[serde(default = "scripts_user")]
        module: String,
    }
    fn scripts_user() -> String {
        "scripts_user".to_owned()
    }

    Ok(match kind {
        "latency" => {
            let p: Latency = read(kind, params)?;
            FaultKind::Latency {
                delay: Duration::from_millis(p.ms),
            }
        }
        "throttle" => {
            let p: Throttle = read(kind, params)?;
            FaultKind::Throttle {
                retry_after: Duration::from_secs(p.retry_after_secs),
            }
        }
        "server_error" => {
            let p: ServerError = read(kind, params)?;
            if !matches!(p.status, 500 | 502 | 503 | 504) {
                return Err(FaultError::new(format!(
                    "server_error status {} is not one of 500, 502, 503, 504",
                    p.status
                )));
            }
            FaultKind::ServerError { status: p.status }
        }
        "job_fail" => {
            let p: JobFail = read(kind, params)?;
            FaultKind::JobFail {
                error_code: p.error_code,
                fail_reason: p.fail_reason,
            }
        }
        "short_lived_credentials" => {
            let p: ShortLived = read(kind, params)?;
            FaultKind::ShortLivedCredentials {
                lifetime: Duration::from_millis(p.lifetime_ms),
            }
        }
        "cloud_init_error" => {
            let p: CloudInitError = read(kind, params)?;
            // The module's name goes into a console line: a Python identifier, nothing else.
            if p.module.is_empty()
                || p.module.len() > 64
                || !p
                    .module
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(FaultError::new(
                    "cloud_init_error module must be a module name such as scripts_user".to_owned(),
                ));
            }
            FaultKind::CloudInitError { module: p.module }
        }
        "cloud_init_hangs" => {
            let _: Nothing = read(kind, params)?;
            FaultKind::CloudInitHangs
        }
        "reset" | "flow_limit" | "lost_answer" | "truncated_body" | "invalid_json"
        | "early_success" | "success_flap" | "frozen_timestamps" | "expire_credentials" => {
            let _: Nothing = read(kind, params)?;
            match kind {
                "reset" => FaultKind::Reset,
                "flow_limit" => FaultKind::FlowLimit,
                "lost_answer" => FaultKind::LostAnswer,
                "truncated_body" => FaultKind::TruncatedBody,
                "invalid_json" => FaultKind::InvalidJson,
                "early_success" => FaultKind::EarlySuccess,
                "success_flap" => FaultKind::SuccessFlap,
                "frozen_timestamps" => FaultKind::FrozenTimestamps,
                _ => FaultKind::ExpireCredentials,
            }
        }
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(FaultError::new(format!(
                "unknown kind {shown:?}; expected latency, throttle, flow_limit, server_error, reset, \
                 lost_answer, truncated_body, invalid_json, job_fail, early_success, success_flap, \
                 frozen_timestamps, cloud_init_error, cloud_init_hangs, expire_credentials or \
                 short_lived_credentials"
            )));
        }
    })
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            star = Some((p, t));
            p += 1;
        } else if pattern.get(p) == Some(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// A path pattern matches segment by segment, with the same number of segments.
fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| glob(p.as_bytes(), s.as_bytes()))
}

/// An installed rule, with its id and counters.
#[derive(Debug, Clone)]
struct Installed {
    id: u64,
    rule: FaultRule,
    seen: u64,
    fired: u64,
}

/// The rules in force, in the order they were installed.
#[derive(Debug, Default)]
pub(crate) struct FaultSet {
    rules: Vec<Installed>,
    next_id: u64,
}

impl FaultSet {
    /// Installs `rule` and gives its id.
    pub(crate) fn add(&mut self, rule: FaultRule) -> u64 {
        self.next_id += 1;
        self.rules.push(Installed {
            id: self.next_id,
            rule,
            seen: 0,
            fired: 0,
        });
        self.next_id
    }

    /// Removes the rule `id`; whether there was one.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    /// Removes every rule.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Counts the call against every rule that targets it, and gives the faults that hit it.
    pub(crate) fn hit(&mut self, operation: &str, method: &str, path: &str) -> Vec<FaultKind> {
        let mut out = Vec::new();
        for installed in &mut self.rules {
            if installed.rule.targets(operation, method, path) {
                installed.seen += 1;
                if installed.rule.hits(installed.seen, installed.fired) {
                    installed.fired += 1;
                    out.push(installed.rule.kind.clone());
                }
            }
        }
        out
    }

    /// The rules with their ids and counters, as the admin API shows them.
    pub(crate) fn to_json(&self) -> Value {
        Value::Array(
            self.rules
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "rule": r.rule.to_json(),
                        "seen": r.seen,
                        "fired": r.fired,
                    })
                })
                .collect(),
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob(b"ecs.*", b"ecs.reinstallos"));
        assert!(glob(b"*", b""));
        assert!(glob(b"*os", b"ecs.changeos"));
        assert!(!glob(b"ecs.*", b"edis.reinstall"));
        assert!(glob(b"a*b*c", b"aXbYbZc"));
        assert!(!glob(b"a*b*c", b"aXbYbZ"));
        assert!(path_matches("/v1/*/jobs/*", "/v1/abc/jobs/def"));
        assert!(!path_matches("/v1/*/jobs/*", "/v1/abc/jobs/def/x"));
        assert!(!path_matches("/v1/*", "/v1/a/b"));
    }

    #[test]
    fn call_selection() {
        let mut set = FaultSet::default();
        set.add(
            FaultRule::new(FaultKind::Reset)
                .operation("a")
                .calls([2, 4]),
        );
        set.add(
            FaultRule::new(FaultKind::LostAnswer)
                .operation("a")
                .from_call(3)
                .times(1),
        );
        let hits: Vec<Vec<&str>> = (0..5)
            .map(|_| {
                set.hit("a", "GET", "/")
                    .iter()
                    .map(FaultKind::name)
                    .collect()
            })
            .collect();
        assert_eq!(
            hits,
            [
                vec![],
                vec!["reset"],
                vec!["lost_answer"],
                vec!["reset"],
                vec![]
            ]
        );
        assert!(set.hit("b", "GET", "/").is_empty());
    }

    #[test]
    fn json_round_trip_and_errors() {
        let rules = [
            r#"{"kind":"latency","params":{"ms":250},"path":"/v1/*/jobs/*"}"#,
            r#"{"kind":"throttle","params":{"retry_after_secs":2},"times":3}"#,
            r#"{"from_call":2,"kind":"server_error","method":"GET","params":{"status":502}}"#,
            r#"{"kind":"job_fail","operation":"ecs.*","params":{"error_code":"Ecs.0202"}}"#,
            r#"{"kind":"short_lived_credentials","params":{"lifetime_ms":1500}}"#,
            r#"{"calls":[1],"kind":"expire_credentials"}"#,
        ];
        for text in rules {
            let rule = FaultRule::from_json(text.as_bytes()).unwrap();
            assert_eq!(rule.to_json().to_string(), text);
        }
        for (bad, needle) in [
            (r#"{"kind":"explode"}"#, "unknown kind"),
            (r#"{"kind":"latency"}"#, "missing field `ms`"),
            (r#"{"kind":"reset","params":{"x":1}}"#, "unknown field"),
            (
                r#"{"kind":"server_error","params":{"status":418}}"#,
                "not one of",
            ),
            (r#"{"kind":"reset","path":"v1"}"#, "does not start with"),
            (r#"{"kind":"reset","calls":[0]}"#, "numbered from 1"),
            (r#"{"kind":"reset","colls":[1]}"#, "unknown field"),
        ] {
            let err = FaultRule::from_json(bad.as_bytes()).unwrap_err();
            assert!(err.message().contains(needle), "{bad}: {err}");
        }
    }
}
