//! One road to a request: a dry run is the request that would be sent. For each destructive
//! call (ECS reinstall and change of OS, with AK/SK and with a token; EDIS reinstall), the
//! request the dry run prepares is compared, byte for byte, with the bytes that reached the
//! emulator when the same client sent it with the same clock. A recording forwarder on loopback
//! sits between the client and the emulator and keeps what the client wrote.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use reimage_auth::aksk::AkSk;
use reimage_auth::edis::EdisCredentials;
use reimage_auth::iam::{PasswordCredentials, TokenScope};
use reimage_client::{
    DryRun, EcsAuth, EcsClient, EdisClient, FixedClock, RetryPolicy, Transport, TransportConfig,
};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, EdisImage, EdisReinstall, ImageId, KvmId,
    ProjectId, RootPassword, ServerId, Timestamp, UserData,
};
use reimage_emulator::{Config, Running};
use reimage_wire::Endpoint;
use reimage_wire::ecs::ServerDetails;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const SERVER_1: &str = "11111111-2222-3333-4444-555555555555";
const SERVER_2: &str = "22222222-3333-4444-5555-666666666666";
const UBUNTU: &str = "1a2b3c4d-0000-4000-8000-000000000001";
const KVM: &str = "kvm_100001_200001";
const ADMIN_PASSWORD: &str = "Dry-Run-Passw0rd!";
const USER_DATA: &str = "#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAAC3Nza dry@run]\n";

/// The bytes a client wrote on one connection.
type Written = Arc<Mutex<Vec<u8>>>;

/// A loopback listener that forwards every connection to `target` and records the bytes the
/// client wrote, one buffer per connection.
struct Recorder {
    base_url: String,
    seen: Arc<Mutex<Vec<Written>>>,
}

impl Recorder {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Written>>> = Arc::default();
        let connections = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let written: Written = Arc::default();
                connections.lock().unwrap().push(written.clone());
                tokio::spawn(async move {
                    let mut server = TcpStream::connect(&target).await.unwrap();
                    let (mut client_read, mut client_write) = client.split();
                    let (mut server_read, mut server_write) = server.split();
                    let up = async {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            let n = client_read.read(&mut buf).await.unwrap_or(0);
                            if n == 0 {
                                let _ = server_write.shutdown().await;
                                return;
                            }
                            written.lock().unwrap().extend_from_slice(&buf[..n]);
                            if server_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                        let _ = client_write.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Self { base_url, seen }
    }

    /// Every request the client wrote, parsed, in the order of the connections.
    fn requests(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for connection in self.seen.lock().unwrap().iter() {
            let bytes = connection.lock().unwrap().clone();
            out.extend(parse_requests(&bytes));
        }
        out
    }
}

/// One HTTP/1.1 request as it crossed the wire.
#[derive(Debug)]
struct Received {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// Splits a connection's bytes into requests (`Content-Length` bodies: hyper sends a full body
/// with one).
fn parse_requests(mut bytes: &[u8]) -> Vec<Received> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap().to_owned();
        let target = first.next().unwrap().to_owned();
        let headers: Vec<(String, Vec<u8>)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (
                    name.to_ascii_lowercase(),
                    value.trim_start().as_bytes().to_vec(),
                )
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| std::str::from_utf8(v).unwrap().parse().unwrap());
        let body = bytes[end + 4..end + 4 + length].to_vec();
        bytes = &bytes[end + 4 + length..];
        out.push(Received {
            method,
            target,
            headers,
            body,
        });
    }
    out
}

/// Asserts that `sent` is `prepared` byte for byte: method, path and query, every header and
/// value, and the body. The only headers `sent` may have beyond those are the ones hyper adds
/// to frame the message (`content-length`, and `host` when the request had none).
fn assert_same(prepared: &Request<Bytes>, sent: &Received) {
    assert_eq!(prepared.method().as_str(), sent.method);
    let path = prepared
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .unwrap();
    assert_eq!(path, sent.target);
    for (name, value) in prepared.headers() {
        let on_wire: Vec<&Vec<u8>> = sent
            .headers
            .iter()
            .filter(|(n, _)| n == name.as_str())
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            on_wire,
            [&value.as_bytes().to_vec()],
            "header {name}: prepared {value:?}, sent {on_wire:?}"
        );
    }
    for (name, _) in &sent.headers {
        let framing = name == "content-length"
            || (name == "host" && !prepared.headers().contains_key(http::header::HOST));
        assert!(
            framing || prepared.headers().contains_key(name.as_str()),
            "{name} was sent but not prepared"
        );
    }
    assert_eq!(
        prepared.body().as_ref(),
        sent.body.as_slice(),
        "body: prepared {:?}, sent {:?}",
        String::from_utf8_lossy(prepared.body()),
        String::from_utf8_lossy(&sent.body)
    );
}

/// The one request of `method` to a path ending in `suffix`.
fn one<'a>(requests: &'a [Received], method: &str, suffix: &str) -> &'a Received {
    let found: Vec<&Received> = requests
        .iter()
        .filter(|r| r.method == method && r.target.ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{method} …{suffix}: {requests:#?}");
    found[0]
}

async fn setup() -> (Running, Recorder, Transport, Arc<FixedClock>) {
    let config = Config::builder().time_scale(0.002).build().unwrap();
    let emulator = reimage_emulator::start(config).await.unwrap();
    let target = emulator.base_url().trim_start_matches("http://").to_owned();
    let recorder = Recorder::start(target).await;
    let transport = Transport::new(
        TransportConfig::default()
            .request_timeout(Duration::from_secs(5))
            .retry(RetryPolicy::none())
            .proxy_from_env(false),
    )
    .unwrap();
    // One instant for the dry run and the send: a signature carries the time.
    let clock = Arc::new(FixedClock(Timestamp::from(time::OffsetDateTime::now_utc())));
    (emulator, recorder, transport, clock)
}

fn spec() -> EcsOsSpec {
    EcsOsSpec::builder()
        .adminpass(AdminPassword::new(ADMIN_PASSWORD).unwrap())
        .user_data(UserData::from(USER_DATA))
        .build()
        .unwrap()
}

fn shows_no_secret(dry: &DryRun, secrets: &[&str]) {
    let shown = format!("{:?}", dry.shown());
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    assert!(shown.contains("[REDACTED]"), "{shown}");
}

/// Reinstall then change the OS with `client`, each dry run first; both compared with the wire.
async fn ecs_both(client: &EcsClient, recorder: &Recorder, secrets: &[&str]) {
    let server_1 = ServerId::new(SERVER_1).unwrap();
    let dry = client
        .dry_run_reinstall(&server_1, EcsReinstall::new(spec()))
        .await
        .unwrap();
    shows_no_secret(&dry, secrets);
    client
        .reinstall(&server_1, EcsReinstall::new(spec()))
        .await
        .unwrap();

    let server_2 = ServerId::new(SERVER_2).unwrap();
    let change = || EcsChangeOs::new(ImageId::new(UBUNTU).unwrap(), spec());
    let dry_change = client.dry_run_change_os(&server_2, change()).await.unwrap();
    shows_no_secret(&dry_change, secrets);
    client.change_os(&server_2, change()).await.unwrap();

    let requests = recorder.requests();
    assert_same(dry.request(), one(&requests, "POST", "/reinstallos"));
    assert_same(dry_change.request(), one(&requests, "POST", "/changeos"));
}

/// An ECS client of the emulator's project, signing with the emulator's AK/SK.
fn aksk_client(transport: Transport, recorder: &Recorder, clock: Arc<FixedClock>) -> EcsClient {
    let keys = AkSk::new(
        "REIMAGEEMULATORAK",
        SecretString::from("reimage-emulator-sk"),
    )
    .unwrap();
    EcsClient::new(
        transport,
        Endpoint::parse(&recorder.base_url).unwrap(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::AkSk(keys),
    )
    .unwrap()
    .with_clock(clock)
}

#[tokio::test]
async fn ecs_with_aksk_sends_what_the_dry_run_shows() {
    let (_emulator, recorder, transport, clock) = setup().await;
    let client = aksk_client(transport, &recorder, clock);
    ecs_both(&client, &recorder, &[ADMIN_PASSWORD, "reimage-emulator-sk"]).await;

    // The signature is redacted, but what it signs is shown.
    let dry = client
        .dry_run_reinstall(&ServerId::new(SERVER_1).unwrap(), EcsReinstall::new(spec()))
        .await
        .unwrap();
    let authorization = dry
        .shown()
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        authorization.starts_with(
            "SDK-HMAC-SHA256 Access=REIMAGEEMULATORAK, SignedHeaders=content-type;host;\
             user-agent;x-project-id;x-sdk-date, Signature="
        ),
        "{authorization}"
    );
    assert!(
        authorization.ends_with("Signature=[REDACTED]"),
        "{authorization}"
    );
}

/// A loop of signed calls, as `ecs_loop` and a fleet's worker make them, goes over one kept-alive
/// connection: every request after the first reuses it.
#[tokio::test]
async fn signed_calls_one_after_another_share_one_connection() {
    let (_emulator, recorder, transport, clock) = setup().await;
    let client = aksk_client(transport, &recorder, clock);
    let mut jobs = Vec::new();
    for server in [SERVER_1, SERVER_2] {
        let server = ServerId::new(server).unwrap();
        let started = client
            .reinstall_from(ServerDetails::new(server), EcsReinstall::new(spec()))
            .await
            .unwrap();
        jobs.push(started.job_id.unwrap());
    }
    for round in 0..10 {
        let job = &jobs[round % 2];
        assert_eq!(&client.job(job).await.unwrap().id, job);
    }
    let connections = recorder.seen.lock().unwrap().len();
    assert_eq!(connections, 1, "12 requests over {connections} connections");
    let requests = recorder.requests();
    assert_eq!(requests.len(), 12);
    assert!(requests.iter().all(|r| r.headers.iter().any(|(n, v)| {
        n == "authorization" && v.starts_with(b"SDK-HMAC-SHA256 Access=REIMAGEEMULATORAK, ")
    })));
}

#[tokio::test]
async fn ecs_with_a_token_sends_what_the_dry_run_shows() {
    let (_emulator, recorder, transport, clock) = setup().await;
    let endpoint = Endpoint::parse(&recorder.base_url).unwrap();
    let credentials = PasswordCredentials::new(
        "admin",
        "emulator",
        SecretString::from("Emulator-Passw0rd!"),
    )
    .unwrap();
    let client = EcsClient::new(
        transport,
        endpoint.clone(),
        ProjectId::new(PROJECT).unwrap(),
        EcsAuth::Password {
            credentials,
            scope: TokenScope::ProjectId(ProjectId::new(PROJECT).unwrap()),
            iam_endpoint: endpoint,
        },
    )
    .unwrap()
    .with_clock(clock);
    // The dry run uses the cached token, as the send does.
    let token = client.token().await.unwrap();
    let token_text = token.header_value().to_str().unwrap().to_owned();
    ecs_both(&client, &recorder, &[ADMIN_PASSWORD, &token_text]).await;
}

#[tokio::test]
async fn edis_sends_what_the_dry_run_shows() {
    let (_emulator, recorder, transport, clock) = setup().await;
    let credentials =
        EdisCredentials::new("demo@example.com", SecretString::from("emulator-pw")).unwrap();
    let client = EdisClient::new(transport, credentials)
        .with_auth_endpoint(Endpoint::parse(&recorder.base_url).unwrap())
        .unwrap()
        .with_clock(clock);
    let kvm = KvmId::new(KVM).unwrap();
    let input = EdisReinstall::new(
        EdisImage::new("cloudinit_debian-bookworm").unwrap(),
        RootPassword::new("Edis-Root-Pw-8472").unwrap(),
    )
    .with_user_data(UserData::from(USER_DATA));
    let dry = client.dry_run_reinstall(&kvm, input.clone()).await.unwrap();
    let signature = client.session(&kvm).await.unwrap();
    let signature = secrecy::ExposeSecret::expose_secret(signature.signature()).to_owned();
    shows_no_secret(&dry, &["Edis-Root-Pw-8472", &signature]);
    assert!(
        dry.shown().body.contains("password=[REDACTED]"),
        "{:?}",
        dry.shown()
    );
    client.reinstall(&kvm, input).await.unwrap();
    let requests = recorder.requests();
    assert_same(
        dry.request(),
        one(&requests, "POST", "/kvm/v2/set/reinstall"),
    );
}

#[tokio::test]
async fn ecs_without_cloud_init_sends_what_the_dry_run_shows() {
    let (_emulator, recorder, transport, clock) = setup().await;
    let client = aksk_client(transport, &recorder, clock);
    let server = ServerId::new(SERVER_1).unwrap();
    let input = || {
        EcsReinstall::new(
            EcsOsSpec::builder()
                .adminpass(AdminPassword::new(ADMIN_PASSWORD).unwrap())
                .build()
                .unwrap(),
        )
    };
    let dry = client
        .dry_run_reinstall_without_cloud_init(&server, input())
        .await
        .unwrap();
    shows_no_secret(&dry, &[ADMIN_PASSWORD, "reimage-emulator-sk"]);
    let before = client.server(&server).await.unwrap();
    client
        .reinstall_without_cloud_init_from(before, input())
        .await
        .unwrap();
    let requests = recorder.requests();
    let sent: Vec<&Received> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.target.starts_with("/v1/"))
        .collect();
    assert_eq!(sent.len(), 1, "{requests:#?}");
    assert_same(dry.request(), sent[0]);
}
