//! What every handler gets (the request, the time, the faults that hit the call) and gives back
//! (the answer, and who the caller was, for the log).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::config::Config;
use crate::reply::Reply;

/// The faults that change how a call is handled (rather than how it is answered).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallFlags {
    /// `job_fail`: `(error_code, fail_reason)`, either defaulted when `None`.
    pub(crate) job_fail: Option<(Option<String>, Option<String>)>,
    /// `expire_credentials`: the credentials the call carries expire now.
    pub(crate) expire_credentials: bool,
    /// `short_lived_credentials`: the credentials the call issues live this long.
    pub(crate) short_lived: Option<Duration>,
    /// `early_success` / `success_flap`: how the OS job this call starts reports its status.
    pub(crate) job_quirk: crate::state::JobQuirk,
    /// `frozen_timestamps`: the OS job this call starts leaves `updated`/`launched_at` alone.
    pub(crate) frozen_timestamps: bool,
    /// `cloud_init_error` / `cloud_init_hangs`: how the new system's boot goes.
    pub(crate) boot_faults: crate::console::BootFaults,
}

/// A call, as a handler sees it.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) request: &'a http::Request<Bytes>,
    pub(crate) now: OffsetDateTime,
    pub(crate) request_id: &'a str,
    pub(crate) flags: &'a CallFlags,
    pub(crate) local_addr: SocketAddr,
}

/// A handler's answer, and who the caller was (for the log; never a secret).
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) reply: Reply,
    pub(crate) auth: LogAuth,
}

impl Handled {
    pub(crate) fn new(reply: Reply) -> Self {
        Self {
            reply,
            auth: LogAuth::default(),
        }
    }

    pub(crate) fn with_auth(mut self, auth: LogAuth) -> Self {
        self.auth = auth;
        self
    }
}

/// Who the caller was, as the request log shows it: the scheme and a few named facts (ids,
/// names), never a secret. Every call records one and the log is read rarely, so it stays in
/// this form, inline, until [`to_json`](Self::to_json); none shows as `null`.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogAuth([Option<(&'static str, Fact)>; MAX_FACTS]);

/// The most facts one call records (the scheme and three more).
const MAX_FACTS: usize = 4;

#[derive(Debug, Clone)]
enum Fact {
    Name(&'static str),
    Text(Box<str>),
    Shared(Arc<str>),
    Number(u64),
    Flag(bool),
}

impl LogAuth {
    /// `{"scheme": scheme}`.
    pub(crate) fn scheme(scheme: &'static str) -> Self {
        Self::default().with("scheme", Fact::Name(scheme))
    }

    fn with(mut self, key: &'static str, fact: Fact) -> Self {
        let free = self.0.iter_mut().find(|slot| slot.is_none());
        debug_assert!(free.is_some(), "more than {MAX_FACTS} facts about a caller");
        if let Some(slot) = free {
            *slot = Some((key, fact));
        }
        self
    }

    /// Adds a text.
    pub(crate) fn text(self, key: &'static str, value: &str) -> Self {
        self.with(key, Fact::Text(value.into()))
    }

    /// Adds a text that is kept elsewhere too, without copying it.
    pub(crate) fn shared(self, key: &'static str, value: &Arc<str>) -> Self {
        self.with(key, Fact::Shared(Arc::clone(value)))
    }

    /// Adds a number.
    pub(crate) fn number(self, key: &'static str, value: u64) -> Self {
        self.with(key, Fact::Number(value))
    }

    /// Adds a yes or no.
    pub(crate) fn flag(self, key: &'static str, value: bool) -> Self {
        self.with(key, Fact::Flag(value))
    }

    /// The JSON object the log shows (keys in order, as `json!` has them), or `null`.
    pub(crate) fn to_json(&self) -> Value {
        let mut facts = self.0.iter().flatten().peekable();
        if facts.peek().is_none() {
            return Value::Null;
        }
        let mut map = Map::new();
        for (key, fact) in facts {
            let value = match fact {
                Fact::Name(name) => Value::from(*name),
                Fact::Text(text) => Value::from(&**text),
                Fact::Shared(text) => Value::from(&**text),
                Fact::Number(n) => Value::from(*n),
                Fact::Flag(b) => Value::from(*b),
            };
            map.insert((*key).to_owned(), value);
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_show_in_the_log_form() {
        assert_eq!(LogAuth::default().to_json(), Value::Null);
        let shared: Arc<str> = Arc::from("u-1");
        let auth = LogAuth::scheme("token")
            .number("token_serial", 7)
            .shared("user_id", &shared)
            .flag("verified", false);
        assert_eq!(
            auth.to_json(),
            serde_json::json!({"scheme": "token", "token_serial": 7, "user_id": "u-1", "verified": false})
        );
        assert_eq!(
            LogAuth::scheme("password").text("user", "admin").to_json(),
            serde_json::json!({"scheme": "password", "user": "admin"})
        );
    }
}
