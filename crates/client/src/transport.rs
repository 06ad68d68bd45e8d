//! The HTTP transport: pooled HTTP/1.1 and HTTP/2 over rustls, with limits, a plain-HTTP policy,
//! proxies from the environment, and retries where they are safe.
//!
//! [`Transport::execute`] sends one [`Operation`] and decodes its answer. It retries by itself
//! only what cannot do harm:
//!
//! - a connection that was never made (nothing was sent), for every operation;
//! - `429 Too Many Requests`, for every operation: the gateway refused it before anything ran
//!   (up to [`RetryPolicy::max_throttled_attempts`](crate::RetryPolicy::max_throttled_attempts);
//!   without `Retry-After`, as real limits answer, after a backoff with jitter that holds every
//!   request of the transport);
//! - ECS's `Common.0024` ("Flow limit exceeded", sent with a 2xx and no job), for every
//!   operation: the back end refused it before anything ran;
//! - `502`/`503`/`504`, a timeout, a reset, a cut answer or an unreadable success, for idempotent
//!   operations only.
//!
//! Anything else is returned as it is. For a non-idempotent operation (a reinstall), an answer
//! that never came back is [`Error::Ambiguous`]: the callers in [`crate::ecs`] and [`crate::edis`]
//! then look for evidence of what happened before they decide anything.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reimage_auth::aksk::{self, AkSk};
use reimage_auth::iam::X_AUTH_TOKEN;
use reimage_core::{ProjectId, Timestamp};
use reimage_wire::{Endpoint, Operation, Provider, ResponseError};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::Error;
use crate::clock::Clock;
use crate::retry::{RetryPolicy, retry_after};

/// The credentials [`Transport::prepare`] adds to a request after encoding it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RequestAuth<'a> {
    /// Nothing: the operation carries its own (an EDIS session in its form, a password in an
    /// auth call).
    None,
    /// `X-Auth-Token` with this value (marked sensitive).
    Token(&'a HeaderValue),
    /// An `SDK-HMAC-SHA256` signature with these keys, for this project.
    AkSk {
        /// The keys.
        keys: &'a AkSk,
        /// The project (`X-Project-Id`).
        project: &'a ProjectId,
    },
}

/// A request as it would be sent ([`DryRun::request`]) and as it may be shown
/// ([`DryRun::shown`]): what `--dry-run` prints. Both come from [`Transport::prepare`], the
/// function that [`Transport::execute`] sends through.
#[derive(Debug)]
pub struct DryRun {
    /// The operation's name, such as `ecs.reinstallos`.
    pub operation: &'static str,
    request: Request<Bytes>,
    shown: ShownRequest,
}

impl DryRun {
    /// The exact request, secrets included: what `execute` would send at the same time.
    pub fn request(&self) -> &Request<Bytes> {
        &self.request
    }

    /// The request with its secrets redacted.
    pub fn shown(&self) -> &ShownRequest {
        &self.shown
    }
}

/// A request with its secrets redacted, to show: the secret fields of the body are
/// [`reimage_wire::REDACTED`] (the operation's own redacted encoding), sensitive header values
/// are `[REDACTED]`, and an AK/SK `Authorization` keeps its `Access=` and `SignedHeaders=`
/// parts, so a person can see what is signed, with only the signature redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShownRequest {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Every header, in the order it is sent.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl ShownRequest {
    /// `request` with sensitive headers redacted, and `redacted_body` (the operation's redacted
    /// encoding) as its body.
    fn of(request: &Request<Bytes>, redacted_body: &Bytes) -> Self {
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| {
                let text = String::from_utf8_lossy(value.as_bytes());
                let shown = if name == header::AUTHORIZATION
                    && let Some(signed) = text.strip_prefix("SDK-HMAC-SHA256 ")
                {
                    let parts: Vec<String> = signed
                        .split(", ")
                        .map(|part| match part.split_once('=') {
                            Some(("Signature", _)) => {
                                format!("Signature={}", reimage_wire::REDACTED)
                            }
                            _ => part.to_owned(),
                        })
                        .collect();
                    format!("SDK-HMAC-SHA256 {}", parts.join(", "))
                } else if value.is_sensitive() {
                    reimage_wire::REDACTED.to_owned()
                } else {
                    text.into_owned()
                };
                (name.as_str().to_owned(), shown)
            })
            .collect();
        let mut body = String::from_utf8_lossy(redacted_body).into_owned();
        let form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| {
                v.as_bytes()
                    .starts_with(b"application/x-www-form-urlencoded")
            });
        if form {
            // The form encoding writes the marker as `%5BREDACTED%5D`; people read it plain.
            let encoded: String =
                form_urlencoded::byte_serialize(reimage_wire::REDACTED.as_bytes()).collect();
            body = body.replace(&encoded, reimage_wire::REDACTED);
        }
        Self {
            method: request.method().as_str().to_owned(),
            url: request.uri().to_string(),
            headers,
            body,
        }
    }
}

/// Which certificate authorities a TLS connection trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Roots {
    /// The Mozilla roots compiled in (`webpki-roots`): the same on every machine.
    #[default]
    Webpki,
    /// The operating system's trust store (`rustls-native-certs`).
    Platform,
    /// Both.
    Both,
    /// None but the CA files given with [`TransportConfig::ca_file`] (a private cloud).
    CustomOnly,
}

/// Whether plain `http://` may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PlainHttp {
    /// Only to loopback addresses (`127.0.0.0/8`, `::1`, `localhost`): the emulator.
    #[default]
    LoopbackOnly,
    /// Anywhere. Credentials then cross the network in clear; only for a lab behind its own
    /// protection.
    Anywhere,
}

/// Which proxy HTTPS requests go through (by a `CONNECT` tunnel). Plain-HTTP requests never use
/// a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Proxy {
    /// `HTTPS_PROXY`/`https_proxy`, else `ALL_PROXY`/`all_proxy`, minus `NO_PROXY`/`no_proxy`,
    /// as curl reads them. Loopback addresses are never proxied.
    #[default]
    FromEnv,
    /// No proxy.
    None,
    /// This proxy (`http://host:port`, optionally with `user:password@`), except for the hosts
    /// of `no_proxy` (comma-separated, as in `NO_PROXY`).
    Explicit {
        /// The proxy's URL.
        url: String,
        /// Hosts, domains and networks that bypass it.
        no_proxy: String,
    },
}

/// How the transport is set up. [`TransportConfig::default`] is what production wants.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    roots: Roots,
    ca_files: Vec<PathBuf>,
    plain_http: PlainHttp,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
    proxy: Proxy,
    user_agent: String,
    retry: RetryPolicy,
    rate_limit: Option<f64>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            roots: Roots::default(),
            ca_files: Vec::new(),
            plain_http: PlainHttp::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_response_bytes: 4 * 1024 * 1024,
            proxy: Proxy::FromEnv,
            user_agent: format!("reimage/{}", env!("CARGO_PKG_VERSION")),
            retry: RetryPolicy::default(),
            rate_limit: None,
        }
    }
}

impl TransportConfig {
    /// Which root certificates to trust (default: the compiled-in Mozilla roots).
    #[must_use]
    pub fn roots(mut self, roots: Roots) -> Self {
        self.roots = roots;
        self
    }

    /// Also trusts the certificates of a PEM file (a private cloud's CA). May be given more
    /// than once.
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Where plain `http://` is allowed (default: loopback only).
    #[must_use]
    pub fn plain_http(mut self, policy: PlainHttp) -> Self {
        self.plain_http = policy;
        self
    }

    /// How long making a TCP connection may take (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may take, from sending to the last byte of the answer (default
    /// 60 s).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The largest answer body read (default 4 MiB); a larger one is an error, never buffered.
    #[must_use]
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Whether `HTTPS_PROXY`/`ALL_PROXY` and `NO_PROXY` are read from the environment (default:
    /// yes). Loopback addresses are never proxied.
    #[must_use]
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.proxy = if enabled { Proxy::FromEnv } else { Proxy::None };
        self
    }

    /// Which proxy to use (default: [`Proxy::FromEnv`]).
    #[must_use]
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// The retry policy for safe retries.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// At most `per_second` requests start each second, across this transport and its clones
    /// (a fleet's workers share one). Default: no limit.
    #[must_use]
    pub fn rate_limit(mut self, per_second: f64) -> Self {
        self.rate_limit = (per_second.is_finite() && per_second > 0.0).then_some(per_second);
        self
    }

    /// The request timeout.
    pub fn request_timeout_value(&self) -> Duration {
        self.request_timeout
    }
}

/// A connection-pooling HTTP client that sends [`Operation`]s.
///
/// Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<HttpsConnector<Connector>, Full<Bytes>>,
    config: TransportConfig,
    /// The `User-Agent` of every request, made once from the configuration.
    user_agent: HeaderValue,
    gate: Gate,
}

/// What every request of a transport passes before it starts: the rate limit, and a pause that
/// a `Retry-After` from any request imposes on all of them.
#[derive(Debug)]
struct Gate {
    /// The spacing between request starts, from the rate limit.
    interval: Option<Duration>,
    state: std::sync::Mutex<GateState>,
}

/// The gate reads tokio's clock, so that its spacing can be tested in virtual time.
#[derive(Debug)]
struct GateState {
    /// The earliest start of the next request.
    next: tokio::time::Instant,
}

impl Gate {
    fn new(rate: Option<f64>) -> Self {
        Self {
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            state: std::sync::Mutex::new(GateState {
                next: tokio::time::Instant::now(),
            }),
        }
    }

    /// Waits for this request's turn. Each caller reserves its own slot, so waiters start one
    /// interval apart rather than all at once.
    async fn admit(&self) {
        let wait = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            let start = state.next.max(now);
            state.next = start + self.interval.unwrap_or(Duration::ZERO);
            start - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request back for `pause` from now (a `Retry-After`).
    fn pause(&self, pause: Duration) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = tokio::time::Instant::now() + pause;
        if until > state.next {
            state.next = until;
        }
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to, before any retry decision.
enum Attempt {
    /// An answer, whole and within the size limit.
    Answer(Response<Bytes>),
    /// No connection was made: nothing was sent.
    NotSent(String),
    /// The request may have reached the server, but no usable answer came back.
    Lost(LostKind, String),
}

/// How an answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LostKind {
    /// The request timeout passed.
    Timeout,
    /// The connection broke (reset, closed, cut body).
    Broken,
}

impl Transport {
    /// A transport with `config`. Reading a CA file or the platform's roots can fail.
    pub fn new(config: TransportConfig) -> Result<Self, Error> {
        let roots = load_roots(config.roots, &config.ca_files)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Setup(format!("TLS could not be set up: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.connect_timeout));
        http.set_nodelay(true);
        let (matcher, skip_loopback) = match &config.proxy {
            Proxy::FromEnv => (Some(Arc::new(Matcher::from_env())), true),
            Proxy::None => (None, false),
            Proxy::Explicit { url, no_proxy } => {
                let matcher = Matcher::builder()
                    .https(url.clone())
                    .no(no_proxy.clone())
                    .build();
                (Some(Arc::new(matcher)), false)
            }
        };
        let connector = Connector {
            http,
            matcher,
            skip_loopback,
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        let gate = Gate::new(config.rate_limit);
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .unwrap_or(HeaderValue::from_static("reimage"));
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                config,
                user_agent,
                gate,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Refuses plain HTTP to a host the policy does not allow.
    pub fn check_endpoint(&self, endpoint: &Endpoint) -> Result<(), Error> {
        if endpoint.is_https()
            || self.inner.config.plain_http == PlainHttp::Anywhere
            || is_loopback(endpoint.authority())
        {
            return Ok(());
        }
        Err(Error::PlainHttp {
            endpoint: endpoint.to_string(),
        })
    }

    /// Everything up to the socket, as one function: encodes `op` against `endpoint`, adds
    /// `User-Agent`, then the credentials of `auth` (a token header, or an AK/SK signature made
    /// at `now`). [`execute`](Self::execute) sends what this returns, and
    /// [`dry_run`](Self::dry_run) shows it, so a dry run is the request that would be sent.
    pub fn prepare<O: Operation>(
        &self,
        op: &O,
        endpoint: &Endpoint,
        auth: &RequestAuth<'_>,
        now: Timestamp,
    ) -> Result<Request<Bytes>, Error> {
        let mut request = op.to_request(endpoint).map_err(Error::Encode)?;
        request
            .headers_mut()
            .insert(header::USER_AGENT, self.inner.user_agent.clone());
        match auth {
            RequestAuth::None => {}
            RequestAuth::Token(value) => {
                let mut value = (*value).clone();
                value.set_sensitive(true);
                request.headers_mut().insert(X_AUTH_TOKEN, value);
            }
            RequestAuth::AkSk { keys, project } => aksk::sign(&mut request, keys, project, now)
                .map_err(|e| Error::Setup(format!("the request could not be signed: {e}")))?,
        }
        Ok(request)
    }

    /// The request [`prepare`](Self::prepare) makes, and the same with its secrets redacted, for
    /// a dry run. Nothing is sent.
    pub fn dry_run<O: Operation>(
        &self,
        op: &O,
        endpoint: &Endpoint,
        auth: &RequestAuth<'_>,
        now: Timestamp,
    ) -> Result<DryRun, Error> {
        self.check_endpoint(endpoint)?;
        let request = self.prepare(op, endpoint, auth, now)?;
        let redacted = op.to_redacted_request(endpoint).map_err(Error::Encode)?;
        let shown = ShownRequest::of(&request, redacted.body());
        Ok(DryRun {
            operation: O::NAME,
            request,
            shown,
        })
    }

    /// Sends `op` to `endpoint` and decodes the answer, retrying where it is safe.
    ///
    /// Every attempt passes the transport's gate, then is made by [`prepare`](Self::prepare)
    /// with `clock`'s time, so a signature is as fresh as the attempt.
    pub async fn execute<O: Operation>(
        &self,
        op: &O,
        endpoint: &Endpoint,
        provider: Provider,
        auth: &RequestAuth<'_>,
        clock: &dyn Clock,
    ) -> Result<O::Output, Error> {
        self.check_endpoint(endpoint)?;
        let policy = &self.inner.config.retry;
        let mut attempt = 1u32;
        loop {
            self.inner.gate.admit().await;
            let request = self.prepare(op, endpoint, auth, clock.now())?;
            let outcome = self.send_once(O::NAME, provider, request, attempt).await;
            let delay = policy.backoff(attempt);
            let retry = match outcome {
                Attempt::Answer(response) => {
                    let status = response.status();
                    let throttled = status == StatusCode::TOO_MANY_REQUESTS;
                    let gateway = matches!(status.as_u16(), 502..=504);
                    if (throttled && attempt < policy.max_throttled_attempts())
                        || (gateway && O::IDEMPOTENT && attempt < policy.max_attempts())
                    {
                        let wait = match retry_after(response.headers()) {
                            Some(asked) => {
                                // Every request of this transport waits, not only this one.
                                let asked = asked.min(policy.max_retry_after());
                                self.inner.gate.pause(asked);
                                asked
                            }
                            // Throttled without `Retry-After`, as real limits answer: back off
                            // with jitter, and every request of this transport with it (a fleet's
                            // workers share the transport, so all of them slow down).
                            None if throttled => {
                                self.inner.gate.pause(delay);
                                delay
                            }
                            None => delay,
                        };
                        Some((wait, format!("HTTP {}", status.as_u16())))
                    } else {
                        match op.decode_response(response) {
                            Ok(output) => return Ok(output),
                            // ECS's back end over its flow limit answers 2xx with Common.0024
                            // and no job: nothing ran, so any call may wait and go again, and
                            // every request of this transport waits with it.
                            Err(ResponseError::Provider(e))
                                if is_flow_limit(&e) && attempt < policy.max_attempts() =>
                            {
                                self.inner.gate.pause(delay);
                                Some((
                                    delay,
                                    format!("{} (flow limit)", e.code.as_deref().unwrap_or("")),
                                ))
                            }
                            // An unreadable success of a safe call is a cut answer: try again.
                            Err(ResponseError::Decode(e))
                                if O::IDEMPOTENT
                                    && e.status < 300
                                    && attempt < policy.max_attempts() =>
                            {
                                Some((delay, e.to_string()))
                            }
                            Err(e) => return Err(classify_response(e, O::IDEMPOTENT)),
                        }
                    }
                }
                Attempt::NotSent(problem) => {
                    if attempt < policy.max_attempts() {
                        Some((delay, problem))
                    } else {
                        return Err(Error::Connect {
                            operation: O::NAME,
                            endpoint: endpoint.to_string(),
                            problem,
                        });
                    }
                }
                Attempt::Lost(kind, problem) => {
                    if O::IDEMPOTENT && attempt < policy.max_attempts() {
                        Some((delay, problem))
                    } else if O::IDEMPOTENT {
                        return Err(match kind {
                            LostKind::Timeout => Error::Timeout {
                                operation: O::NAME,
                                after: self.inner.config.request_timeout,
                            },
                            LostKind::Broken => Error::Transport {
                                operation: O::NAME,
                                problem,
                            },
                        });
                    } else {
                        return Err(Error::Ambiguous {
                            operation: O::NAME,
                            problem,
                        });
                    }
                }
            };
            if let Some((wait, reason)) = retry {
                tracing::info!(
                    operation = O::NAME,
                    attempt,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    reason = %reason,
                    "retrying"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }

    /// One attempt, in its own span, within the request timeout and the size limit.
    async fn send_once(
        &self,
        operation: &'static str,
        provider: Provider,
        request: Request<Bytes>,
        n: u32,
    ) -> Attempt {
        // Field names of the OpenTelemetry HTTP client conventions, so log tooling reads them.
        // The macro evaluates the fields only when the span is enabled: with tracing off, no URL
        // is formatted and nothing is allocated for it.
        let span = tracing::info_span!(
            "http",
            "http.request.method" = %request.method(),
            "url.full" = %shown_url(request.uri()),
            "server.address" = %request.uri().host().unwrap_or(""),
            "http.request.resend_count" = n - 1,
            "http.response.status_code" = tracing::field::Empty,
            operation,
            provider = %provider,
            request_id = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let traced = !span.is_disabled();
        let started = traced.then(Instant::now);
        let timeout = self.inner.config.request_timeout;
        let limit = self.inner.config.max_response_bytes;
        let client = self.inner.client.clone();
        let work = async move {
            let request = request.map(Full::new);
            let response = match client.request(request).await {
                Ok(response) => response,
                Err(e) if e.is_connect() => return Attempt::NotSent(describe(&e)),
                Err(e) => return Attempt::Lost(LostKind::Broken, describe(&e)),
            };
            if traced {
                let span = tracing::Span::current();
                span.record("http.response.status_code", response.status().as_u16());
                if let Some(id) = reimage_wire::decode::request_id(response.headers()) {
                    span.record("request_id", id.as_str());
                }
            }
            let declared = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return Attempt::Lost(LostKind::Broken, too_large(limit));
            }
            let (parts, body) = response.into_parts();
            match Limited::new(body, limit).collect().await {
                Ok(body) => Attempt::Answer(Response::from_parts(parts, body.to_bytes())),
                Err(e)
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    Attempt::Lost(LostKind::Broken, too_large(limit))
                }
                Err(e) => Attempt::Lost(
                    LostKind::Broken,
                    format!("the answer was cut off: {}", describe(e.as_ref())),
                ),
            }
        };
        let result = match tokio::time::timeout(timeout, work.instrument(span.clone())).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Lost(
                LostKind::Timeout,
                format!("no answer within {}", crate::show_duration(timeout)),
            ),
        };
        if let Some(started) = started {
            span.record(
                "duration_ms",
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
        }
        let _entered = span.enter();
        match &result {
            Attempt::Answer(r) => tracing::debug!(status = r.status().as_u16(), "answered"),
            Attempt::NotSent(p) => tracing::debug!(problem = %p, "not sent"),
            Attempt::Lost(_, p) => tracing::debug!(problem = %p, "answer lost"),
        }
        result
    }
}

fn too_large(limit: usize) -> String {
    format!("the answer is larger than the limit of {limit} bytes")
}

/// A provider's refusal or an unreadable answer, as a client error. An unreadable answer to a
/// non-idempotent call is ambiguous: the call may have run.
/// ECS's "Flow limit exceeded" (`Common.0024`): the call was not run.
fn is_flow_limit(e: &reimage_core::ProviderError) -> bool {
    e.code.as_deref() == Some("Common.0024")
}

fn classify_response(error: ResponseError, idempotent: bool) -> Error {
    match error {
        ResponseError::Provider(e) => Error::Provider(e),
        ResponseError::Decode(e) if !idempotent && e.status < 300 => Error::Ambiguous {
            operation: e.operation,
            problem: e.to_string(),
        },
        ResponseError::Decode(e) => Error::Decode(e),
        other => Error::Transport {
            operation: "response",
            problem: other.to_string(),
        },
    }
}

/// The URL as logs show it: scheme, host and path, never a query.
fn shown_url(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map_or("?", |a| a.as_str()),
        uri.path()
    )
}

/// An error and its causes on one line.
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether `authority` (`host[:port]`) names the loopback interface.
pub fn is_loopback(authority: &str) -> bool {
    if let Ok(ip) = authority.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn load_roots(roots: Roots, ca_files: &[PathBuf]) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    if matches!(roots, Roots::Webpki | Roots::Both) {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if matches!(roots, Roots::Platform | Roots::Both) {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = store.add_parsable_certificates(found.certs);
        if added == 0 && roots == Roots::Platform {
            return Err(Error::Setup(
                "no usable root certificate was found in the platform's trust store; install \
                 the ca-certificates package, or use the compiled-in roots"
                    .to_owned(),
            ));
        }
    }
    for path in ca_files {
        for cert in read_ca_file(path)? {
            store.add(cert).map_err(|e| {
                Error::Setup(format!(
                    "CA file {}: a certificate could not be used: {e}",
                    path.display()
                ))
            })?;
        }
    }
    if store.is_empty() {
        return Err(Error::Setup(
            "no root certificate to trust: give a CA file, or use the compiled-in or platform \
             roots"
                .to_owned(),
        ));
    }
    Ok(store)
}

/// The certificates of a PEM file; an error names the file and what was wrong.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |problem: String| {
        Error::Setup(format!(
            "CA file {}: {problem}; give a PEM file with one or more \
             -----BEGIN CERTIFICATE----- blocks",
            path.display()
        ))
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot be read ({e})")))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("is not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(bad("holds no certificate".to_owned()));
    }
    Ok(certs)
}

/// Makes TCP connections, through an `HTTPS_PROXY` tunnel where the environment says so.
#[derive(Clone)]
struct Connector {
    http: HttpConnector,
    matcher: Option<Arc<Matcher>>,
    /// Whether loopback destinations bypass the proxy (always, for a proxy from the
    /// environment).
    skip_loopback: bool,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let proxy = self.matcher.as_ref().and_then(|m| {
            let loopback = dst.authority().is_some_and(|a| is_loopback(a.as_str()));
            let https = dst.scheme_str() == Some("https");
            if (loopback && self.skip_loopback) || !https {
                None
            } else {
                m.intercept(&dst)
            }
        });
        let mut http = self.http.clone();
        Box::pin(async move {
            match proxy {
                Some(intercept) => {
                    let mut tunnel = Tunnel::new(intercept.uri().clone(), http);
                    if let Some(auth) = intercept.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    tower_service::Service::call(&mut tunnel, dst)
                        .await
                        .map_err(|e| Box::new(e) as BoxError)
                }
                None => tower_service::Service::call(&mut http, dst)
                    .await
                    .map_err(Into::into),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.8.9.1:1",
            "[::1]:443",
            "::1",
            "localhost",
            "LOCALHOST:80",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "ecs.eu-de.otc.t-systems.com",
            "[2001:db8::1]:80",
            "localhost.example.com",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback_unless_allowed() {
        let t = Transport::new(TransportConfig::default()).unwrap();
        let remote = Endpoint::parse("http://ecs.example.com").unwrap();
        let err = t.check_endpoint(&remote).unwrap_err();
        assert!(err.to_string().contains("http://ecs.example.com"), "{err}");
        assert!(
            t.check_endpoint(&Endpoint::parse("http://127.0.0.1:9").unwrap())
                .is_ok()
        );
        assert!(
            t.check_endpoint(&Endpoint::parse("https://ecs.example.com").unwrap())
                .is_ok()
        );
        let open =
            Transport::new(TransportConfig::default().plain_http(PlainHttp::Anywhere)).unwrap();
        assert!(open.check_endpoint(&remote).is_ok());
    }

    /// In virtual time (tokio's paused clock), so the spacing is exact and a busy machine
    /// cannot make it flaky.
    #[tokio::test(start_paused = true)]
    async fn the_gate_spaces_requests_and_a_pause_holds_them_all() {
        use tokio::time::Instant;
        let gate = Arc::new(Gate::new(Some(50.0)));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move { gate.admit().await }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Ten starts 20 ms apart: the last one at 180 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(180));

        let open = Gate::new(None);
        let started = Instant::now();
        open.admit().await;
        assert_eq!(started.elapsed(), Duration::ZERO, "no rate: no wait");
        open.pause(Duration::from_millis(200));
        open.admit().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(200),
            "a Retry-After holds everyone"
        );
    }

    #[test]
    fn urls_in_logs_have_no_query() {
        let uri: Uri = "https://h.example:8443/v1/p/jobs/j?token=secret"
            .parse()
            .unwrap();
        assert_eq!(shown_url(&uri), "https://h.example:8443/v1/p/jobs/j");
    }

    #[test]
    fn a_bad_ca_file_names_the_file_and_the_fix() {
        let dir = std::env::temp_dir().join(format!("reimage-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = Transport::new(TransportConfig::default().ca_file(&empty)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("empty.pem") && text.contains("BEGIN CERTIFICATE"),
            "{text}"
        );
        let missing = dir.join("missing.pem");
        let err = Transport::new(TransportConfig::default().ca_file(&missing)).unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
