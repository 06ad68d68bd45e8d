//! Helpers of the emulator's integration tests: a raw HTTP/1.1 client over loopback (so that a
//! reset or a lost answer is seen as it is), and shortcuts that build requests with
//! `reimage-wire` and sign them with `reimage-auth`, as the client does.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use reimage_auth::Token;
use reimage_auth::aksk::{self, AkSk};
use reimage_auth::iam::{PasswordCredentials, TokenScope};
use reimage_core::{ProjectId, ServerId, Timestamp};
use reimage_emulator::{Clock, Config, ConfigBuilder, ManualClock, Running};
use reimage_wire::iam::CreateToken;
use reimage_wire::{Endpoint, Operation};
use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const T0: &str = "2025-01-01T00:00:00Z";
pub const PROJECT: &str = "0123456789abcdef0123456789abcdef";
pub const OTHER_PROJECT: &str = "fedcba9876543210fedcba9876543210";
pub const STOPPED: &str = "11111111-2222-3333-4444-555555555555";
pub const STOPPED_2: &str = "22222222-3333-4444-5555-666666666666";
pub const RUNNING: &str = "33333333-4444-5555-6666-777777777777";
pub const LOCKED: &str = "44444444-5555-6666-7777-888888888888";
pub const UNKNOWN_SERVER: &str = "99999999-9999-4999-8999-999999999999";
pub const DEBIAN: &str = "e215580f-73ad-429d-b6f2-5433947433b0";
pub const UBUNTU: &str = "1a2b3c4d-0000-4000-8000-000000000001";
pub const NO_CLOUD_INIT: &str = "1a2b3c4d-0000-4000-8000-000000000002";
pub const QUEUED: &str = "1a2b3c4d-0000-4000-8000-000000000003";
pub const USER_ID: &str = "7e25b1da389f4697a79df3a0e5bd494e";
pub const AK: &str = "REIMAGEEMULATORAK";
pub const SK: &str = "reimage-emulator-sk";

/// A running emulator on a manual clock.
pub struct Emu {
    pub running: Running,
    pub addr: SocketAddr,
    pub clock: ManualClock,
}

impl Emu {
    /// The emulator with default fixtures, real-world timing, and a manual clock at [`T0`].
    pub async fn start() -> Self {
        Self::with(Config::builder()).await
    }

    /// The emulator from `builder`, with a manual clock at [`T0`].
    pub async fn with(builder: ConfigBuilder) -> Self {
        let clock = ManualClock::new(Timestamp::parse(T0).unwrap());
        let config = builder
            .clock(std::sync::Arc::new(clock.clone()))
            .seed(42)
            .build()
            .unwrap();
        let running = reimage_emulator::start(config).await.unwrap();
        let addr = running.local_addr();
        Self {
            running,
            addr,
            clock,
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::parse(&format!("http://{}", self.addr)).unwrap()
    }

    /// Sends `request` and expects an answer.
    pub async fn send(&self, request: &Request<Bytes>) -> Raw {
        match send(self.addr, request).await {
            Sent::Answer(raw) => raw,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    /// A token for the fixture user, scoped to the fixture project.
    pub async fn token(&self) -> Token {
        self.token_for(TokenScope::ProjectId(ProjectId::new(PROJECT).unwrap()))
            .await
    }

    pub async fn token_for(&self, scope: TokenScope) -> Token {
        let op = CreateToken::new(
            PasswordCredentials::new("admin", "emulator", "Emulator-Passw0rd!".into()).unwrap(),
            scope,
        );
        let request = op.to_request(&self.endpoint()).unwrap();
        let raw = self.send(&request).await;
        op.decode_response(raw.response()).unwrap()
    }

    /// Encodes `op`, adds the token, sends it, decodes the answer.
    pub async fn call<O: Operation>(
        &self,
        op: &O,
        token: &Token,
    ) -> Result<O::Output, reimage_wire::ResponseError> {
        let mut request = op.to_request(&self.endpoint()).unwrap();
        with_token(&mut request, token);
        let raw = self.send(&request).await;
        op.decode_response(raw.response())
    }

    /// `GET /_emulator/...` as JSON.
    pub async fn admin_get(&self, path: &str) -> Value {
        let raw = self.send(&plain(Method::GET, self.addr, path, "")).await;
        assert_eq!(raw.status, 200, "{path}: {}", raw.text());
        raw.json()
    }

    /// A call to the admin API with a JSON body; the status and the answer.
    pub async fn admin(&self, method: Method, path: &str, body: &str) -> (u16, Value) {
        let raw = self.send(&plain(method, self.addr, path, body)).await;
        (raw.status, raw.json())
    }

    /// The state of one server, from the admin API.
    pub async fn server_state(&self, id: &str) -> Value {
        let state = self.admin_get("/_emulator/state").await;
        state["ecs"]["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap()
    }

    /// Signs `request` with the fixture AK/SK at the emulator's time.
    pub fn sign(&self, request: &mut Request<Bytes>) {
        sign_with(request, AK, SK, self.now());
    }
}

pub fn sign_with(request: &mut Request<Bytes>, ak: &str, sk: &str, now: Timestamp) {
    let creds = AkSk::new(ak, SecretString::from(sk)).unwrap();
    aksk::sign(request, &creds, &ProjectId::new(PROJECT).unwrap(), now).unwrap();
}

pub fn with_token(request: &mut Request<Bytes>, token: &Token) {
    request
        .headers_mut()
        .insert("x-auth-token", token.header_value());
}

pub fn server(id: &str) -> ServerId {
    ServerId::new(id).unwrap()
}

pub fn project() -> ProjectId {
    ProjectId::new(PROJECT).unwrap()
}

/// A request with a body, as the tests write them by hand (JSON unless it looks like a form).
pub fn plain(method: Method, addr: SocketAddr, path: &str, body: &str) -> Request<Bytes> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if !body.is_empty() {
        let content_type = if body.starts_with('{') || body.starts_with('[') {
            "application/json;charset=UTF-8"
        } else {
            "application/x-www-form-urlencoded"
        };
        builder = builder.header("content-type", content_type);
    }
    builder.body(Bytes::from(body.to_owned())).unwrap()
}

/// An answer as the raw client read it.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether the body has all the bytes `Content-Length` announced.
    pub complete: bool,
}

impl Raw {
    pub fn response(&self) -> Response<Bytes> {
        let mut response = Response::builder().status(self.status);
        for (name, value) in &self.headers {
            response = response.header(name, value);
        }
        response.body(self.body.clone()).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The provider's code of an ECS/IAM/gateway error body.
    pub fn code(&self) -> Option<String> {
        reimage_wire::decode::huawei_error(
            reimage_core::Provider::Ecs,
            self.status,
            &self.headers,
            &self.body,
        )
        .code
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What came back.
#[derive(Debug)]
pub enum Sent {
    Answer(Raw),
    /// The connection was reset before any byte came back.
    Reset,
    /// The connection was closed before any byte came back.
    Closed,
}

/// Writes `request` as HTTP/1.1 (with `Connection: close`) and reads the answer to the end.
pub async fn send(addr: SocketAddr, request: &Request<Bytes>) -> Sent {
    send_bytes(addr, &encode(addr, request)).await
}

/// The bytes of `request` on the wire.
pub fn encode(addr: SocketAddr, request: &Request<Bytes>) -> Vec<u8> {
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let mut out = format!("{} {target} HTTP/1.1\r\n", request.method()).into_bytes();
    if !request.headers().contains_key(HOST) {
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| addr.to_string());
        out.extend_from_slice(format!("host: {host}\r\n").as_bytes());
    }
    for (name, value) in request.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !request.headers().contains_key(CONTENT_LENGTH) {
        out.extend_from_slice(format!("content-length: {}\r\n", request.body().len()).as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(request.body());
    out
}

/// Sends raw bytes and reads the answer to the end (30 s at most).
pub async fn send_bytes(addr: SocketAddr, bytes: &[u8]) -> Sent {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (413) or close before it has read everything.
    let _ = stream.write_all(bytes).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf))
        .await
        .expect("the emulator answered within 30 s");
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && buf.is_empty() => {
            return Sent::Reset;
        }
        _ if buf.is_empty() => return Sent::Closed,
        _ => {}
    }
    Sent::Answer(parse(&buf))
}

fn parse(buf: &[u8]) -> Raw {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = std::str::from_utf8(&buf[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    let mut body = buf[end + 4..].to_vec();
    let declared: Option<usize> = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let complete = declared.is_none_or(|n| body.len() >= n);
    if let Some(n) = declared {
        body.truncate(n);
    }
    Raw {
        status,
        headers,
        body: Bytes::from(body),
        complete,
    }
}
