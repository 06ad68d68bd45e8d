//! The server's console log: `GET /v1/{project_id}/cloudservers/{server_id}/console-output`
//! (Huawei's `ShowServerConsoleOutput`), which answers `{"output": "…"}`.
//!
//! The official SDK (`huaweicloudsdkecs.v2`, `ShowServerConsoleOutputRequest`) sends the number of
//! lines as the query parameter `length`: an integer of at least -1, where -1 asks for the whole
//! log and an absent `length` means the last 50 lines.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::ecs::ops::get;

/// How much of the console log to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleLength {
    /// The whole log (`length=-1`).
    All,
    /// The last `n` lines (`length=n`).
    Lines(u32),
}

impl ConsoleLength {
    /// The value of the `length` query parameter.
    pub fn query_value(self) -> i64 {
        match self {
            Self::All => -1,
            Self::Lines(n) => i64::from(n),
        }
    }

    /// Reads a `length` query value back (the emulator's side): `-1` or a whole number.
    pub fn parse(text: &str) -> Option<Self> {
        match text.parse::<i64>().ok()? {
            -1 => Some(Self::All),
            n => u32::try_from(n).ok().map(Self::Lines),
        }
    }
}

/// Reads the tail of a server's console log: `GET
/// /v1/{project_id}/cloudservers/{server_id}/console-output?length=N`. The answer is the log's
/// text, lines ending in `\n`.
///
/// ```
/// use reimage_core::{ProjectId, ServerId};
/// use reimage_wire::{Endpoint, Operation, ecs::{ConsoleLength, ShowConsoleOutput}};
///
/// let op = ShowConsoleOutput::new(
///     ProjectId::new("0123456789abcdef0123456789abcdef")?,
///     ServerId::new("11111111-2222-3333-4444-555555555555")?,
///     ConsoleLength::All,
/// );
/// let request = op.to_request(&Endpoint::parse("https://ecs.example.com")?)?;
/// assert_eq!(
///     request.uri(),
///     "https://ecs.example.com/v1/0123456789abcdef0123456789abcdef/cloudservers/11111111-2222-3333-4444-555555555555/console-output?length=-1"
/// );
/// let answer = http::Response::new(bytes::Bytes::from_static(br#"{"output":"login: \n"}"#));
/// assert_eq!(op.decode_response(answer)?, "login: \n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShowConsoleOutput {
    project_id: ProjectId,
    server_id: ServerId,
    length: ConsoleLength,
}

impl ShowConsoleOutput {
    /// Reads `length` of the console log of `server_id` in `project_id`.
    pub fn new(project_id: ProjectId, server_id: ServerId, length: ConsoleLength) -> Self {
        Self {
            project_id,
            server_id,
            length,
        }
    }
}

impl Operation for ShowConsoleOutput {
    type Output = String;

    const NAME: &'static str = "ecs.show_console_output";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = true;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let path = EcsRoute::ConsoleOutput {
            project_id: self.project_id.clone(),
            server_id: self.server_id.clone(),
        }
        .path();
        get(
            Self::NAME,
            endpoint,
            &format!("{path}?length={}", self.length.query_value()),
        )
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    /// Reads `output`, a string (an empty log is `""`; `null` or absent reads as empty too).
    fn decode_response(&self, response: Response<Bytes>) -> Result<String, ResponseError> {
        let answer = success_json(Self::NAME, response)?;
        let fail = |problem: String| answer.fail(Self::NAME, problem);
        let top = Obj::root(&answer.value).map_err(fail)?;
        if top.is_error_only("output") {
            return Err(answer.refusal());
        }
        match top.get("output") {
            None => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.clone()),
            Some(other) => Err(fail(top.wrong("output", "a string", other))),
        }
    }
}
