//! The HTTP side: binding, the accept loop, one hyper HTTP/1 connection per client, graceful
//! shutdown, the body limit, the fault pipeline and the request log.
//!
//! A call goes: read the body (at most the limit, else 413) → name the operation → count it
//! against the fault rules → wait out any `latency` → answer a `throttle` or `server_error`, or
//! reset the connection, without applying anything → apply it (settle the world, authenticate,
//! handle) and log it → lose, truncate or corrupt the answer if a fault says so.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reimage_wire::ecs::EcsRoute;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::{Config, ConfigError};
use crate::fault::{FaultKind, FaultRule};
use crate::handler::{CallFlags, Ctx, Handled, LogAuth};
use crate::reply::{Reply, Side};
use crate::state::{JobQuirk, LogEntry, World};
use crate::util::Hex32;
use crate::{admin, ecs, edis, iam, redact};

/// How long [`Running::shutdown`] lets calls under way finish before it cuts them.
const DRAIN: Duration = Duration::from_secs(10);

/// The longest delay `latency` faults add to one call, together.
const MAX_LATENCY: Duration = Duration::from_secs(60 * 60);

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) world: Mutex<World>,
    pub(crate) local_addr: SocketAddr,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> OffsetDateTime {
        self.config.clock.now().to_offset_date_time()
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration cannot be used (a non-loopback address without `allow_remote`, …).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// Binds the listen address, starts serving in the background, and returns at once.
///
/// Needs a Tokio runtime with IO and time enabled. Refuses a non-loopback address unless
/// [`allow_remote`](crate::ConfigBuilder::allow_remote) is set; port 0 picks a free port.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let running = reimage_emulator::start(reimage_emulator::Config::default()).await?;
/// assert!(running.local_addr().ip().is_loopback());
/// assert!(running.base_url().starts_with("http://127.0.0.1:"));
/// running.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub async fn start(config: Config) -> Result<Running, StartError> {
    config.validate()?;
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let world = World::new(&config);
    let shared = Arc::new(Shared {
        config,
        world: Mutex::new(world),
        local_addr,
    });
    let (shutdown, signal) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), signal));
    tracing::info!(%local_addr, "reimage emulator listening");
    Ok(Running {
        local_addr,
        shutdown,
        task,
        shared,
    })
}

/// A running emulator. [`shutdown`](Self::shutdown) stops it gracefully; dropping it stops it
/// too, without waiting.
///
/// Besides the HTTP admin API, it offers the same controls in-process.
#[derive(Debug)]
pub struct Running {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Running {
    /// The address it listens on (with the port picked, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://{local_addr}`: the endpoint for ECS, IAM, EDIS and the admin API alike.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops accepting connections, lets the calls under way finish (for up to 10 s), closes
    /// idle connections, and returns when all are done.
    pub async fn shutdown(self) {
        // Err only when the accept loop is gone already.
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Switches a fault rule on, as `POST /_emulator/faults` does; returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> u64 {
        self.shared.world().faults.add(rule)
    }

    /// Switches every fault rule off, as `DELETE /_emulator/faults` does.
    pub fn clear_faults(&self) {
        self.shared.world().faults.clear();
    }

    /// Back to the fixtures, as `POST /_emulator/reset` does: servers, KVMs, jobs, tokens,
    /// sessions, the request log, and the configured faults.
    pub fn reset(&self) {
        let mut world = self.shared.world();
        world.reset(&self.shared.config);
    }

    /// Gives ECS server or EDIS KVM `server_id` a real SSH endpoint: OpenSSH's `sshd` (the
    /// program at `sshd`) on a free loopback port, serving the host key of its current install,
    /// restarted with the new key when a reinstall (or change of OS) ends, and letting
    /// `authorized_keys` log in. Its floating address (ECS) or IPv4 address (EDIS) then reads
    /// `127.0.0.1`. Returns the port and `sshd`'s process id; `sshd` is stopped when the emulator
    /// is dropped or reset. Starting and restarting `sshd` hold the emulator for the moment
    /// `sshd` takes to listen.
    ///
    /// # Errors
    ///
    /// No such server, or `sshd` would not start (the message says why).
    pub fn attach_sshd(
        &self,
        server_id: &str,
        sshd: &std::path::Path,
        authorized_keys: &str,
    ) -> Result<(u16, u32), String> {
        let now = self.shared.now();
        let mut world = self.shared.world();
        world.settle(now);
        world.attach_sshd(server_id, sshd, authorized_keys)
    }

    /// The state, as `GET /_emulator/state` shows it.
    pub fn state(&self) -> Value {
        let now = self.shared.now();
        let mut world = self.shared.world();
        world.settle(now);
        world.snapshot(&self.shared.config, now)
    }

    /// The request log, as `GET /_emulator/requests` shows it (the list only).
    pub fn requests(&self) -> Value {
        self.shared.world().log.to_json()
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut signal: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = signal.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Small answers go out at once.
                    let _ = stream.set_nodelay(true);
                    tracing::trace!(%peer, "connection");
                    connections.spawn(serve_connection(stream, Arc::clone(&shared), signal.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    tracing::info!("reimage emulator stopped");
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut signal: watch::Receiver<bool>,
) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(Socket {
        stream,
        reset: Arc::clone(&reset),
    });
    let service =
        service_fn(move |request| serve(Arc::clone(&shared), Arc::clone(&reset), request));
    let mut builder = http1::Builder::new();
    builder
        .timer(ConnTimer::default())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended");
            }
        }
        _ = signal.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.as_mut().await;
        }
    }
}

/// The timer of one connection, for hyper's header read timeout: the same deadlines as
/// `hyper_util`'s `TokioTimer`, on Tokio's clock, but cheaper for a connection that keeps
/// sending requests.
///
/// hyper starts a timeout whenever it waits for a request's head (each call on a kept-alive
/// connection) and drops it once the head is read; with `TokioTimer` each one is a timer of
/// Tokio's driver, registered and removed under the driver's lock, on every call. Here every
/// timeout of the connection shares one Tokio timer: a timeout only notes its deadline, and the
/// shared timer is moved to it when it fires before it (at most once per timeout length on a
/// busy connection) or when the deadline is earlier. A timeout is over when Tokio's clock has
/// reached its deadline, as with `TokioTimer`.
#[derive(Clone, Default)]
struct ConnTimer {
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ConnSleep {
            deadline: tokio::time::Instant::from_std(deadline),
            shared: Arc::clone(&self.shared),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        if let Some(mut sleep) = sleep.as_mut().downcast_mut_pin::<ConnSleep>() {
            sleep.deadline = tokio::time::Instant::from_std(new_deadline);
        }
    }

    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// One timeout of a [`ConnTimer`].
struct ConnSleep {
    deadline: tokio::time::Instant,
    shared: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl Future for ConnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let sleep = shared.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if sleep.deadline() >= deadline => return Poll::Ready(()),
                // It fired for an earlier timeout of the connection: on to this one's deadline.
                Poll::Ready(()) => sleep.as_mut().reset(deadline),
            }
        }
    }
}

impl hyper::rt::Sleep for ConnSleep {}

/// The client's socket. When a `reset` fault asks for it, dropping it resets the connection
/// (RST, by `SO_LINGER` 0) instead of closing it.
struct Socket {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // A zero linger does not block: the kernel drops the connection with RST.
            #[allow(deprecated)]
            let _ = self.stream.set_linger(Some(Duration::ZERO));
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The error a call ends with when a fault drops its connection: hyper then closes it without
/// an answer.
#[derive(Debug, thiserror::Error)]
#[error("the emulator dropped the connection on purpose (a fault)")]
pub(crate) struct Dropped;

/// How long a cut body waits after its first half before the connection fails, so that the
/// half is flushed to the client first.
const CUT_PAUSE: Duration = Duration::from_millis(50);

/// An answer's body: whole, or cut after its first half (the connection then fails).
pub(crate) enum ReplyBody {
    Whole(Option<Bytes>),
    Cut {
        half: Option<Bytes>,
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Dropped;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Dropped>>> {
        match self.get_mut() {
            Self::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Cut { half, pause } => {
                if let Some(bytes) = half.take() {
                    *pause = Some(Box::pin(tokio::time::sleep(CUT_PAUSE)));
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                match pause {
                    Some(sleep) => sleep.as_mut().poll(cx).map(|()| Some(Err(Dropped))),
                    None => Poll::Ready(Some(Err(Dropped))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Whole(None) => SizeHint::with_exact(0),
            Self::Cut { .. } => SizeHint::default(),
        }
    }
}

/// Reads a whole body (within the limit), at once when there is none.
async fn read_body(
    body: Limited<Incoming>,
) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    Ok(body.collect().await?.to_bytes())
}

/// How a call ends.
enum Outcome {
    Answer(Response<ReplyBody>),
    /// Reset the connection.
    Reset,
    /// Close the connection without an answer.
    Close,
}

/// The answer to a call: most calls (the job query among them) carry no body and meet no
/// `latency` fault, and are answered at once, with no future to keep; the others go on in a
/// boxed one.
enum Served {
    Now(Option<Result<Response<ReplyBody>, Dropped>>),
    Later(Pin<Box<dyn Future<Output = Result<Response<ReplyBody>, Dropped>> + Send>>),
}

impl Future for Served {
    type Output = Result<Response<ReplyBody>, Dropped>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            // Taken once: hyper does not poll a call's answer again.
            Self::Now(answer) => answer.take().map_or(Poll::Pending, Poll::Ready),
            Self::Later(future) => future.as_mut().poll(cx),
        }
    }
}

fn serve(shared: Arc<Shared>, reset: Arc<AtomicBool>, request: Request<Incoming>) -> Served {
    if request.body().is_end_stream() {
        let (parts, _) = request.into_parts();
        let side = Side::of(parts.uri.path());
        return match answer(&shared, Request::from_parts(parts, Bytes::new()), side) {
            Answered::Now(outcome) => Served::Now(Some(conclude(outcome, &reset))),
            Answered::Later(delayed) => Served::Later(Box::pin(async move {
                let outcome = delayed.run(&shared).await;
                conclude(outcome, &reset)
            })),
        };
    }
    Served::Later(Box::pin(async move {
        let outcome = respond(&shared, request).await;
        conclude(outcome, &reset)
    }))
}

/// What hyper gets for an outcome: a `reset` fault marks the connection to be reset.
fn conclude(outcome: Outcome, reset: &AtomicBool) -> Result<Response<ReplyBody>, Dropped> {
    match outcome {
        Outcome::Answer(response) => Ok(response),
        Outcome::Reset => {
            reset.store(true, Ordering::SeqCst);
            Err(Dropped)
        }
        Outcome::Close => Err(Dropped),
    }
}

/// What the faults that hit a call do, sorted by when they act.
#[derive(Default)]
struct Plan {
    delay: Duration,
    /// `throttle`, `server_error` or `reset`: the first one wins.
    before: Option<FaultKind>,
    flags: CallFlags,
    /// `lost_answer`, `truncated_body` or `invalid_json`: the first one wins.
    after: Option<FaultKind>,
    names: Vec<&'static str>,
}

impl Plan {
    fn new(kinds: Vec<FaultKind>) -> Self {
        let mut plan = Plan::default();
        for kind in kinds {
            plan.names.push(kind.name());
            match kind {
                FaultKind::Latency { delay } => {
                    plan.delay = plan.delay.saturating_add(delay).min(MAX_LATENCY);
                }
                FaultKind::Throttle { .. }
                | FaultKind::FlowLimit
                | FaultKind::ServerError { .. }
                | FaultKind::Reset => {
                    plan.before.get_or_insert(kind);
                }
                FaultKind::LostAnswer | FaultKind::TruncatedBody | FaultKind::InvalidJson => {
                    plan.after.get_or_insert(kind);
                }
                FaultKind::JobFail {
                    error_code,
                    fail_reason,
                } => plan.flags.job_fail = Some((error_code, fail_reason)),
                FaultKind::ExpireCredentials => plan.flags.expire_credentials = true,
                FaultKind::EarlySuccess => plan.flags.job_quirk = JobQuirk::EarlySuccess,
                FaultKind::SuccessFlap => plan.flags.job_quirk = JobQuirk::SuccessFlap,
                FaultKind::FrozenTimestamps => plan.flags.frozen_timestamps = true,
                FaultKind::CloudInitError { module } => {
                    plan.flags.boot_faults.failing_module = Some(module);
                }
                FaultKind::CloudInitHangs => plan.flags.boot_faults.hangs = true,
                FaultKind::ShortLivedCredentials { lifetime } => {
                    plan.flags.short_lived = Some(lifetime);
                }
            }
        }
        plan
    }
}

async fn respond(shared: &Shared, request: Request<Incoming>) -> Outcome {
    let (parts, body) = request.into_parts();
    let side = Side::of(parts.uri.path());

    // The body, within the limit.
    let limit = shared.config.max_body_bytes;
    // The `Content-Length` hyper read (and checked): known before the body is.
    let declared = body.size_hint().exact();
    if declared.is_some_and(|n| n > limit as u64) {
        return Outcome::Answer(too_large(side, &shared.world().ids.hex32()));
    }
    // Most calls (the job query among them) have no body: nothing to read.
    let bytes = match read_body(Limited::new(body, limit)).await {
        Ok(bytes) => bytes,
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return Outcome::Answer(too_large(side, &shared.world().ids.hex32()));
        }
        // The client went away mid-body.
        Err(_) => return Outcome::Close,
    };
    match answer(shared, Request::from_parts(parts, bytes), side) {
        Answered::Now(outcome) => outcome,
        Answered::Later(delayed) => delayed.run(shared).await,
    }
}

/// A call answered now, or one that waits (a `latency` fault) before it goes on.
enum Answered {
    Now(Outcome),
    Later(Box<Delayed>),
}

/// A call whose `latency` fault (or early answer) comes first: what it needs to go on.
struct Delayed {
    request: Request<Bytes>,
    side: Side,
    route: Option<EcsRoute>,
    operation: &'static str,
    logged: LogEntry,
    plan: Plan,
    request_id: Hex32,
}

/// Answers a call whose body was read: the admin API, the throttle rule, the faults, then the
/// handler, all without waiting, unless a fault makes the call wait or answer early.
fn answer(shared: &Shared, request: Request<Bytes>, side: Side) -> Answered {
    let path = request.uri().path();
    let method = request.method().as_str();

    if side == Side::Admin {
        let now = shared.now();
        let flags = CallFlags::default();
        let mut world = shared.world();
        let request_id = world.ids.hex32();
        let ctx = ctx(shared, &request, now, &request_id, &flags);
        world.settle(now);
        let reply = admin::handle(&mut world, &ctx);
        return Answered::Now(Outcome::Answer(build(reply, &request_id, Shape::Whole)));
    }

    let (operation, route) = match side {
        Side::Iam => (iam::CREATE_TOKEN, None),
        Side::Edis => (edis::operation_name(path), None),
        _ => {
            let route = EcsRoute::parse(path);
            (
                ecs::operation_name(path, route.as_ref(), request.body()),
                route,
            )
        }
    };
    // The log entry, redacted before the lock; what the lock decides is filled in under it.
    let now = shared.now();
    let mut logged = LogEntry {
        time: now,
        request_id: None,
        operation,
        method: request.method().clone(),
        headers: redact::path_and_headers(path, request.headers()),
        body: if request.body().is_empty() {
            Value::Null
        } else {
            redact::body(
                request
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
                request.body(),
            )
        },
        auth: LogAuth::default(),
        status: None,
        error_code: None,
        faults: Vec::new(),
        outcome: "answered",
    };
    // Every call without a `latency` fault nor one that answers early is counted against the
    // faults and applied under one lock, so that calls on other connections wait as little as
    // possible; the others let go of the world meanwhile.
    // The throttle rule, counted per user before anything else: a refused call is not applied.
    if side == Side::Ecs
        && let Some(rule) = shared.config.rate_limit.as_ref()
    {
        let mut world = shared.world();
        let user = crate::throttle::caller(request.headers());
        if let Err(left) =
            world
                .windows
                .admit(rule, shared.config.scaled(rule.window()), &user, now)
        {
            let request_id = world.ids.hex32_inline();
            let reply = side.over_rate_limit(rule, left, request_id.as_str());
            logged.request_id = Some(request_id);
            logged.outcome = "throttled";
            logged.status = Some(reply.status.as_u16());
            logged.error_code.clone_from(&reply.code);
            let evicted = world.log.push(logged);
            drop(world);
            drop(evicted);
            return Answered::Now(Outcome::Answer(build(
                reply,
                request_id.as_str(),
                Shape::Whole,
            )));
        }
    }
    let mut world = shared.world();
    let request_id = world.ids.hex32_inline();
    let plan = Plan::new(world.faults.hit(operation, method, path));
    logged.request_id = Some(request_id);
    logged.faults.clone_from(&plan.names);
    if plan.delay.is_zero() && plan.before.is_none() {
        let ctx = ctx(shared, &request, now, request_id.as_str(), &plan.flags);
        // Answered in place rather than through a tuple: the answer and the log entry are
        // large, and each move of them is a copy.
        let (reply, evicted) = apply(&mut world, &ctx, side, route, &plan, logged);
        drop(world);
        drop(evicted);
        return Answered::Now(finish(&request, operation, request_id, &plan, reply));
    }
    drop(world);
    Answered::Later(Box::new(Delayed {
        request,
        side,
        route,
        operation,
        logged,
        plan,
        request_id,
    }))
}

impl Delayed {
    /// Waits out the `latency`, then answers early (a fault) or applies the call.
    async fn run(self, shared: &Shared) -> Outcome {
        let Delayed {
            request,
            side,
            route,
            operation,
            mut logged,
            plan,
            request_id,
        } = self;
        let mut now = logged.time;
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
            now = shared.now();
            logged.time = now;
        }
        let early = match &plan.before {
            Some(FaultKind::Reset) => Some((None, "reset")),
            Some(FaultKind::Throttle { retry_after }) => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some((Some(side.throttled(secs, request_id.as_str())), "throttled"))
            }
            Some(FaultKind::FlowLimit) => {
                Some((Some(side.flow_limited(request_id.as_str())), "flow_limited"))
            }
            Some(FaultKind::ServerError { status }) => Some((
                Some(side.server_error(*status, request_id.as_str())),
                "server_error",
            )),
            _ => None,
        };
        if let Some((reply, outcome)) = early {
            logged.outcome = outcome;
            logged.status = reply.as_ref().map(|r| r.status.as_u16());
            logged.error_code = reply.as_ref().and_then(|r| r.code.clone());
            let evicted = shared.world().log.push(logged);
            drop(evicted);
            return match reply {
                Some(reply) => Outcome::Answer(build(reply, request_id.as_str(), Shape::Whole)),
                None => Outcome::Reset,
            };
        }
        let ctx = ctx(shared, &request, now, request_id.as_str(), &plan.flags);
        let (reply, evicted) = {
            let mut world = shared.world();
            apply(&mut world, &ctx, side, route, &plan, logged)
        };
        drop(evicted);
        finish(&request, operation, request_id, &plan, reply)
    }
}

/// The answer of an applied call, spoiled if a fault says so.
fn finish(
    request: &Request<Bytes>,
    operation: &'static str,
    request_id: Hex32,
    plan: &Plan,
    reply: Reply,
) -> Outcome {
    tracing::debug!(
        request_id = %request_id,
        operation,
        method = %request.method(),
        path = %request.uri().path(),
        status = reply.status.as_u16(),
        "emulator call"
    );

    // Faults that spoil the answer of an applied call.
    match plan.after {
        Some(FaultKind::LostAnswer) => Outcome::Close,
        Some(FaultKind::TruncatedBody) => {
            Outcome::Answer(build(reply, request_id.as_str(), Shape::Cut))
        }
        Some(FaultKind::InvalidJson) => {
            Outcome::Answer(build(reply, request_id.as_str(), Shape::NotJson))
        }
        _ => Outcome::Answer(build(reply, request_id.as_str(), Shape::Whole)),
    }
}

/// Applies a call (settles the world, handles it) and logs it; gives the answer, and the entry
/// pushed out of the log, to drop once the lock is let go.
fn apply(
    world: &mut World,
    ctx: &Ctx<'_>,
    side: Side,
    route: Option<EcsRoute>,
    plan: &Plan,
    mut logged: LogEntry,
) -> (Reply, Option<LogEntry>) {
    world.settle(ctx.now);
    let Handled { reply, auth } = match side {
        Side::Iam => iam::handle(world, ctx),
        Side::Edis => edis::handle(world, ctx),
        _ => ecs::handle(world, ctx, route),
    };
    if let Some(kind) = &plan.after {
        logged.outcome = kind.name();
    }
    logged.status = Some(reply.status.as_u16());
    logged.error_code.clone_from(&reply.code);
    logged.auth = auth;
    let evicted = world.log.push(logged);
    (reply, evicted)
}

fn ctx<'a>(
    shared: &'a Shared,
    request: &'a Request<Bytes>,
    now: OffsetDateTime,
    request_id: &'a str,
    flags: &'a CallFlags,
) -> Ctx<'a> {
    Ctx {
        config: &shared.config,
        request,
        now,
        request_id,
        flags,
        local_addr: shared.local_addr,
    }
}

fn too_large(side: Side, request_id: &str) -> Response<ReplyBody> {
    let reply = side
        .too_large(request_id)
        .with_header(CONNECTION, HeaderValue::from_static("close"));
    build(reply, request_id, Shape::Whole)
}

/// How the body of an answer goes out.
#[derive(Clone, Copy)]
enum Shape {
    Whole,
    /// `Content-Length` of the whole body, but only its first half, then the connection fails.
    Cut,
    /// The first half of the body and a tail that makes it invalid JSON, with a correct length.
    NotJson,
}

fn build(reply: Reply, request_id: &str, shape: Shape) -> Response<ReplyBody> {
    let Reply {
        status,
        content_type,
        headers: extra,
        body,
        ..
    } = reply;
    let body = match shape {
        Shape::NotJson => {
            let half = body.len() / 2;
            let mut bytes = body.slice(..half).to_vec();
            bytes.extend_from_slice(b"<!-- not JSON -->");
            Bytes::from(bytes)
        }
        Shape::Whole | Shape::Cut => body,
    };
    let length = body.len();
    // hyper writes the `Content-Length` of a body whose length it knows; a cut body's is the
    // whole one's (a lie), and an empty one's is written as it always was.
    let (body, stated_length) = match shape {
        Shape::Cut => (
            ReplyBody::Cut {
                half: Some(body.slice(..length / 2)),
                pause: None,
            },
            true,
        ),
        _ if body.is_empty() => (ReplyBody::Whole(None), true),
        _ => (ReplyBody::Whole(Some(body)), false),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type_value(content_type));
    if stated_length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(X_REQUEST_ID, id);
    }
    for (name, value) in extra {
        headers.append(name, value);
    }
    response
}

/// `X-Request-Id`, made once.
#[allow(clippy::declare_interior_mutable_const)] // a static name: nothing in it changes
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The `Content-Type` of an answer; the usual two made once, not checked on every answer.
fn content_type_value(content_type: &'static str) -> HeaderValue {
    #[allow(clippy::declare_interior_mutable_const)] // static texts: nothing in them changes
    const HUAWEI: HeaderValue = HeaderValue::from_static(crate::reply::HUAWEI_JSON);
    #[allow(clippy::declare_interior_mutable_const)]
    const PLAIN: HeaderValue = HeaderValue::from_static(crate::reply::PLAIN_JSON);
    if content_type == crate::reply::HUAWEI_JSON {
        HUAWEI
    } else if content_type == crate::reply::PLAIN_JSON {
        PLAIN
    } else {
        HeaderValue::from_static(content_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer as _;

    /// A timeout ends at its deadline, not before, whatever the connection's earlier timeouts
    /// left behind in the shared timer.
    #[tokio::test]
    async fn a_connection_timer_keeps_each_deadline() {
        let timer = ConnTimer::default();
        let start = tokio::time::Instant::now();
        let ms = Duration::from_millis;
        // An earlier timeout, polled once (so the shared timer is set for it), then dropped.
        let mut first = timer.sleep(ms(40));
        let waker = std::task::Waker::noop();
        assert!(
            first
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
        drop(first);
        let second = timer.sleep(ms(120));
        second.await;
        assert!(start.elapsed() >= ms(120), "{:?}", start.elapsed());
        // Moved earlier, and later, by `reset`.
        let mut third = timer.sleep(ms(10_000));
        timer.reset(&mut third, timer.now() + ms(30));
        let at = tokio::time::Instant::now();
        third.await;
        assert!(at.elapsed() >= ms(30) && at.elapsed() < ms(5_000));
        let mut fourth = timer.sleep(ms(20));
        timer.reset(&mut fourth, timer.now() + ms(90));
        let at = tokio::time::Instant::now();
        fourth.await;
        assert!(at.elapsed() >= ms(90), "{:?}", at.elapsed());
    }
}
