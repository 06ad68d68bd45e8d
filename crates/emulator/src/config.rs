//! What the emulator is started with: where it listens, how fast time runs, its fixtures, its
//! faults, its clock.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::fault::FaultRule;
use crate::fixtures::Fixtures;

/// The largest request body the emulator reads by default: 1 MiB. A larger one is answered 413.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long an IAM token lives by default: 24 hours, as IAM documents.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// How long an EDIS session lives by default: one hour. EDIS does not document it; this is a
/// guess.
pub const DEFAULT_EDIS_SESSION_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// How long each kind of work takes, in real-world time, before the time scale.
///
/// The defaults are what the providers take in practice: an ECS reinstall about 90 s, a change
/// of OS about 150 s, an EDIS reinstall about 300 s. The emulator multiplies each by the
/// [time scale](ConfigBuilder::time_scale). The first tenth of every ECS job is its `INIT` phase.
///
/// ```
/// use std::time::Duration;
/// use reimage_emulator::Timings;
///
/// let mut timings = Timings::default();
/// timings.ecs_reinstall = Duration::from_secs(60);
/// assert_eq!(timings.ecs_change_os, Duration::from_secs(150));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timings {
    /// An ECS `reinstallos` job (90 s).
    pub ecs_reinstall: Duration,
    /// An ECS `changeos` job (150 s).
    pub ecs_change_os: Duration,
    /// An ECS batch stop job (10 s).
    pub ecs_stop: Duration,
    /// An ECS batch start job (15 s).
    pub ecs_start: Duration,
    /// An EDIS reinstall, during which the KVM is powered off (300 s).
    pub edis_reinstall: Duration,
    /// How long a finished (`SUCCESS` or `FAIL`) ECS job can still be queried: ECS deletes it
    /// a day later (24 h), and the job query then answers `Common.0011`.
    pub job_retention: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            ecs_reinstall: Duration::from_secs(90),
            ecs_change_os: Duration::from_secs(150),
            ecs_stop: Duration::from_secs(10),
            ecs_start: Duration::from_secs(15),
            edis_reinstall: Duration::from_secs(300),
            job_retention: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// How the emulator runs. Build it with [`Config::builder`]; [`Config::default`] listens on
/// `127.0.0.1:0` (a free port) with the default fixtures, real-world timing and no faults.
///
/// ```
/// use reimage_emulator::{Config, Fixtures};
///
/// let config = Config::builder()
///     .listen("127.0.0.1:0".parse()?)
///     .time_scale(0.01)
///     .fixtures(Fixtures::default())
///     .build()?;
/// assert_eq!(config.time_scale(), 0.01);
///
/// // Anything but loopback needs allow_remote.
/// assert!(Config::builder().listen("0.0.0.0:8080".parse()?).build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) allow_remote: bool,
    pub(crate) time_scale: f64,
    pub(crate) fixtures: Fixtures,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) timings: Timings,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) seed: Option<u64>,
    pub(crate) max_body_bytes: usize,
    pub(crate) token_lifetime: Duration,
    pub(crate) edis_session_lifetime: Duration,
    pub(crate) edis_api_host: Option<String>,
    pub(crate) strict_inputs: bool,
    pub(crate) interruptions_fail_rebuilds: bool,
    pub(crate) rate_limit: Option<crate::RateLimit>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            allow_remote: false,
            time_scale: 1.0,
            fixtures: Fixtures::default(),
            faults: Vec::new(),
            timings: Timings::default(),
            clock: Arc::new(SystemClock),
            seed: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            edis_session_lifetime: DEFAULT_EDIS_SESSION_LIFETIME,
            edis_api_host: None,
            strict_inputs: false,
            interruptions_fail_rebuilds: false,
            rate_limit: None,
        }
    }
}

impl Config {
    /// A builder that starts from [`Config::default`].
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// The address to listen on.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Whether a non-loopback address is allowed.
    pub fn allow_remote(&self) -> bool {
        self.allow_remote
    }

    /// The factor every job and install duration is multiplied by.
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// The fixtures.
    pub fn fixtures(&self) -> &Fixtures {
        &self.fixtures
    }

    /// The fault rules switched on at start (besides the fixtures' own).
    pub fn faults(&self) -> &[FaultRule] {
        &self.faults
    }

    /// The real-world durations, before the time scale.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// The largest request body read; larger ones are answered 413.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether ECS reinstall and change-OS bodies must also pass reimage's own cross-field rules.
    pub fn strict_inputs(&self) -> bool {
        self.strict_inputs
    }

    /// Checks the rules [`ConfigBuilder::build`] checks.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.allow_remote && !self.listen.ip().is_loopback() {
            return Err(ConfigError::NotLoopback { addr: self.listen });
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= 1e6) {
            return Err(ConfigError::TimeScale {
                value: self.time_scale,
            });
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::BodyLimit);
        }
        if let Some(host) = &self.edis_api_host
            && !valid_host(host)
        {
            return Err(ConfigError::ApiHost);
        }
        Ok(())
    }

    /// `d` multiplied by the time scale.
    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        Duration::try_from_secs_f64(d.as_secs_f64() * self.time_scale).unwrap_or(Duration::MAX)
    }
}

/// Whether `host` is a host with an optional port, as an EDIS `api_host` is.
pub(crate) fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Builds a [`Config`]; [`build`](Self::build) checks it.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// The address to listen on (`127.0.0.1:0` by default). Port 0 picks a free port; see
    /// [`Running::local_addr`](crate::Running::local_addr).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// Allows a non-loopback listen address (`--allow-remote`). The emulator serves plain HTTP
    /// with well-known credentials: keep it off shared networks.
    #[must_use]
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.config.allow_remote = allow;
        self
    }

    /// The factor every job and install duration is multiplied by: 1.0 is real-world timing,
    /// 0.01 makes a 90 s reinstall take 0.9 s. Latency faults, `Retry-After`, credential
    /// lifetimes and the AK/SK 15-minute window are not scaled.
    #[must_use]
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.config.time_scale = scale;
        self
    }

    /// The fixtures ([`Fixtures::default`] by default). Their `[[faults]]` are switched on too.
    #[must_use]
    pub fn fixtures(mut self, fixtures: Fixtures) -> Self {
        self.config.fixtures = fixtures;
        self
    }

    /// Adds a fault rule, switched on from the start.
    #[must_use]
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.config.faults.push(rule);
        self
    }

    /// The real-world durations of jobs and installs.
    #[must_use]
    pub fn timings(mut self, timings: Timings) -> Self {
        self.config.timings = timings;
        self
    }

    /// Where the time comes from ([`SystemClock`] by default). A
    /// [`ManualClock`](crate::ManualClock) makes tests deterministic.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// Seeds the generator of ids, tokens and signatures, so that two runs give the same ones.
    /// Random by default.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// The largest request body read (1 MiB by default); larger ones are answered 413.
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.config.max_body_bytes = limit;
        self
    }

    /// How long an IAM token lives (24 h by default, not scaled).
    #[must_use]
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.token_lifetime = lifetime;
        self
    }

    /// How long an EDIS session lives (1 h by default, not scaled).
    #[must_use]
    pub fn edis_session_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.edis_session_lifetime = lifetime;
        self
    }

    /// The `api_host` EDIS sessions point at. By default, the `Host` the auth call was sent to
    /// (or the listen address): the emulator itself.
    #[must_use]
    pub fn edis_api_host(mut self, host: impl Into<String>) -> Self {
        self.config.edis_api_host = Some(host.into());
        self
    }

    /// Also applies reimage's own cross-field rules (`ReinstallBody::to_input`) to ECS reinstall
    /// and change-OS bodies, refusing with `Ecs.0005` what the providers accept but reimage never
    /// sends (`userid` with `adminpass`, `keyname` without `userid`). Off by default.
    #[must_use]
    pub fn strict_inputs(mut self, strict: bool) -> Self {
        self.config.strict_inputs = strict;
        self
    }

    /// Makes another operation on a server being rebuilt (a stop, a start, a second reinstall or
    /// change of OS) fail the running rebuild, as the ECS API pages warn that it does: the
    /// operation is still answered 501 `Ecs.0603`, and the rebuild's job ends at once in `FAIL`,
    /// leaving the server in `ERROR`. Off by default (the rebuild goes on).
    #[must_use]
    pub fn interruptions_fail_rebuilds(mut self, fail: bool) -> Self {
        self.config.interruptions_fail_rebuilds = fail;
        self
    }

    /// Throttles ECS (and the image service) as the API gateway does: at most `rule.limit()`
    /// calls per user in each window (scaled by the time scale), then 429 `APIGW.0308` until
    /// the window ends, with `Retry-After` only if the rule says so. Off by default.
    #[must_use]
    pub fn rate_limit(mut self, rule: crate::RateLimit) -> Self {
        self.config.rate_limit = Some(rule);
        self
    }

    /// Checks the configuration: a loopback address unless remote is allowed, a time scale that
    /// is finite, above 0 and at most 1 000 000, a body limit above 0, an `api_host` that is a
    /// host.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The listen address is not loopback, and remote access was not allowed.
    #[error(
        "{addr} is not a loopback address; the emulator serves plain HTTP with well-known \
         credentials, so it listens on 127.0.0.1 or ::1 unless remote access is allowed \
         (--allow-remote)"
    )]
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The time scale is not a finite number above 0 and at most 1 000 000.
    #[error("time scale {value} is not a number above 0 and at most 1000000 (1.0 is real time)")]
    TimeScale {
        /// The scale asked for.
        value: f64,
    },
    /// The body limit is 0.
    #[error("the request body limit must be above 0 bytes")]
    BodyLimit,
    /// The EDIS `api_host` is not a host name with an optional port.
    #[error("the EDIS api_host must be a host name with an optional port, e.g. 127.0.0.1:8080")]
    ApiHost,
}
