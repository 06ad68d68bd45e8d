//! The bodies of reimage's fuzz targets, as plain functions of the input bytes.
//!
//! Each `fuzz_targets/<name>.rs` is one line around a function here, so the same code runs in
//! two places: under libFuzzer on nightly (`cargo xtask fuzz`), and on stable in the replay test
//! (`tests/e2e/fuzz_replay.rs`, which includes this file with `#[path]`) over every committed
//! corpus input and every kept crash input. This file therefore needs nothing but the workspace
//! crates, `http`, `bytes`, `serde_json` and `secrecy`.
//!
//! A target fails by panicking: a crate that panics, overflows or loops on hostile input, or one
//! of the properties checked here (a value that `sign` signed is accepted by `verify`, a body the
//! emulator read serializes and reads back, gzip round-trips through kind detection, positions are
//! 1-based).
//!
//! | target | input |
//! |---|---|
//! | [`user_data`] | user data, as `reimage validate` and the reinstall commands read it |
//! | [`yaml`] | a `#cloud-config` text for the YAML 1.1 parser and typing pass |
//! | [`wire_decoders`] | a provider answer: operation, status, headers, body |
//! | [`emulator_request`] | a request part the emulator reads: a form, a JSON body, a path, a signed request, a fault rule |

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use reimage_auth::aksk::{self, AkSk};
use reimage_auth::edis::{DEFAULT_FRESHNESS_MARGIN, FreshSession};
use reimage_auth::iam::{PasswordCredentials, TokenScope};
use reimage_auth::{EdisCredentials, EdisSession};
use reimage_cloudinit::encode;
use reimage_cloudinit::kind;
use reimage_cloudinit::schema::Version;
use reimage_cloudinit::yaml::{self, Mark, Node, Value};
use reimage_cloudinit::{Options, Report};
use reimage_core::{
    AdminPassword, EcsChangeOs, EcsOsSpec, EcsReinstall, ImageId, JobId, KvmId, ProjectId,
    Provider, ResponseError, ServerId, Timestamp,
};
use reimage_emulator::FaultRule;
use reimage_wire::ecs::{
    ActionBody, BatchStart, BatchStop, ChangeOs, ChangeOsBody, EcsRoute, ReinstallBody,
    ReinstallOs, ShowJob, ShowServer, StopType,
};
use reimage_wire::edis::{
    CreateSession, GetDetails, GetImages, GetMount, GetPower, HardReset, PowerOff, PowerOn,
    Reinstall,
};
use reimage_wire::iam::CreateToken;
use reimage_wire::{Operation, decode};
use secrecy::{ExposeSecret, SecretString};

// ---------------------------------------------------------------------------------------------
// User data.
// ---------------------------------------------------------------------------------------------

/// The user-data pipeline on arbitrary bytes: kind detection (gzip included), validation with
/// the default options and with cloud-init 22.4 and ECS's size limit, and the wire encoders.
pub fn user_data(data: &[u8]) {
    let detection = kind::detect(data);
    let _ = (detection.kind.as_str(), detection.kind.content_type());
    let _ = detection.text();

    check_report(&reimage_cloudinit::validate(data, &Options::default()));
    let ecs = Options::default()
        .with_version(Version::V22_4)
        .with_size_limit(Provider::Ecs.user_data_limit())
        .with_provider_login(true);
    check_report(&reimage_cloudinit::validate(data, &ecs));

    // Kind detection undoes gzip: what `encode::gzip` wrote is the same user data again.
    if data.len() <= kind::MAX_DECOMPRESSED {
        let gz = encode::gzip(data);
        let again = kind::detect(&gz);
        assert!(again.gzipped, "gzip output is not detected as gzip");
        assert_eq!(
            &*again.payload, data,
            "gzip does not round-trip through detect"
        );
    }
    // The one limit check: `UserData::check_limit` agrees with the providers' limits.
    let user_data = reimage_core::UserData::from(data.to_vec());
    for provider in [Provider::Ecs, Provider::Edis] {
        let fits = provider
            .user_data_limit()
            .is_none_or(|limit| data.len() <= limit);
        assert_eq!(user_data.check_limit(provider).is_ok(), fits, "check_limit");
    }
}

fn check_report(report: &Report) {
    assert_eq!(report.valid(), report.errors().next().is_none(), "valid()");
    for finding in &report.findings {
        // Every finding is located, 1-based: the whole file is 1:1.
        assert!(
            finding.line >= 1 && finding.column >= 1,
            "a finding without a position: {finding:?}"
        );
        let _ = (finding.code.as_str(), finding.severity.as_str());
    }
}

// ---------------------------------------------------------------------------------------------
// YAML.
// ---------------------------------------------------------------------------------------------

/// The YAML 1.1 parser and typing pass on any text (the bytes as UTF-8, lossily): every node is
/// visited, every key written as a dotted-path segment, every position checked to be 1-based and
/// inside the text.
pub fn yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let chars = text.chars().count();
    match yaml::parse(&text) {
        Ok(document) => {
            for duplicate in &document.duplicate_keys {
                check_mark(duplicate.first, chars);
                check_mark(duplicate.last, chars);
            }
            if let Some(root) = &document.root {
                walk(root, chars);
            }
        }
        Err(error) => {
            check_mark(error.mark, chars);
            let _ = error.to_string();
        }
    }
}

fn walk(root: &Node, chars: usize) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        check_mark(node.mark, chars);
        match &node.value {
            Value::Seq(items) => stack.extend(items),
            Value::Map(entries) => {
                for (key, value) in entries {
                    let _ = key.value.key_text();
                    stack.push(key);
                    stack.push(value);
                }
            }
            scalar => {
                let _ = scalar.key_text();
            }
        }
    }
}

fn check_mark(mark: Mark, chars: usize) {
    assert!(
        mark.line >= 1 && mark.column >= 1 && mark.index <= chars,
        "mark {mark:?} outside a text of {chars} characters"
    );
}

// ---------------------------------------------------------------------------------------------
// Wire decoders.
// ---------------------------------------------------------------------------------------------

/// The statuses a provider answer may carry; byte 1 of the input picks one.
pub const STATUSES: [u16; 24] = [
    200, 201, 202, 204, 100, 299, 301, 304, 400, 401, 403, 404, 405, 409, 413, 418, 429, 500, 502,
    503, 504, 599, 600, 999,
];

/// The operations whose answers [`wire_decoders`] reads; byte 0 of the input picks one.
pub const DECODERS: [&str; 16] = [
    CreateSession::NAME,
    GetImages::NAME,
    GetPower::NAME,
    PowerOn::NAME,
    PowerOff::NAME,
    HardReset::NAME,
    GetDetails::NAME,
    GetMount::NAME,
    Reinstall::NAME,
    ReinstallOs::NAME,
    ChangeOs::NAME,
    BatchStop::NAME,
    BatchStart::NAME,
    ShowJob::NAME,
    ShowServer::NAME,
    CreateToken::NAME,
];

/// Flag in byte 2: the answer has `X-Subject-Token` (the header bytes).
pub const WITH_SUBJECT_TOKEN: u8 = 1;
/// Flag in byte 2: the answer has `X-Request-Id` (the header bytes).
pub const WITH_REQUEST_ID: u8 = 2;
/// Flag in byte 2: the answer has a second `X-Subject-Token`.
pub const WITH_TWO_TOKENS: u8 = 4;
/// Flag in byte 2: the answer has `Content-Type: application/json`.
pub const WITH_JSON_TYPE: u8 = 8;

/// Every decoder of a provider answer. The input is `[op, status, flags, n, header (n bytes),
/// body…]`: byte 0 picks the operation ([`DECODERS`]), byte 1 the status ([`STATUSES`]), byte 2
/// the headers (`WITH_*`), and the `n` bytes after byte 3 are their value. The operation's
/// `decode_response` runs, and so do `reimage_wire`'s own readers of the same answer.
pub fn wire_decoders(data: &[u8]) {
    let Some((&[op, status, flags, n], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let (header, body) = rest.split_at(usize::from(n).min(rest.len()));
    let status = STATUSES[usize::from(status) % STATUSES.len()];
    let Ok(status) = StatusCode::from_u16(status) else {
        return;
    };
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_bytes(header).ok();
    if let Some(value) = &value {
        if flags & WITH_SUBJECT_TOKEN != 0 {
            headers.append(reimage_wire::iam::X_SUBJECT_TOKEN, value.clone());
        }
        if flags & WITH_TWO_TOKENS != 0 {
            headers.append(reimage_wire::iam::X_SUBJECT_TOKEN, value.clone());
        }
        if flags & WITH_REQUEST_ID != 0 {
            headers.append("x-request-id", value.clone());
        }
    }
    if flags & WITH_JSON_TYPE != 0 {
        headers.append(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let body = Bytes::copy_from_slice(body);
    let response = || {
        let mut response = Response::new(body.clone());
        *response.status_mut() = status;
        *response.headers_mut() = headers.clone();
        response
    };

    // The wire crate's readers of error bodies, on every answer.
    let _ = decode::request_id(&headers);
    let _ = decode::huawei_error(Provider::Ecs, status.as_u16(), &headers, &body);
    let _ = decode::edis_error(status.as_u16(), &headers, &body);
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
        let _ = decode::json_problem(&e);
    }

    let op = DECODERS[usize::from(op) % DECODERS.len()];
    let result = decode_as(op, response());
    if let Err(error) = result {
        let shown = error.to_string();
        // A decode failure never quotes the token of the answer it could not read.
        if let (ResponseError::Decode(_), Some(token)) = (&error, &value) {
            let token = token.as_bytes();
            let secret = token.len() >= 12 && token.iter().all(u8::is_ascii_alphanumeric);
            // The request id, which errors do show, is the same bytes when both are set.
            let only_token = flags & (WITH_SUBJECT_TOKEN | WITH_REQUEST_ID) == WITH_SUBJECT_TOKEN;
            if secret && only_token && !body_contains(&body, token) {
                assert!(
                    !shown.as_bytes().windows(token.len()).any(|w| w == token),
                    "{op}: the error shows the subject token: {shown}"
                );
            }
        }
    }
}

fn body_contains(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}

/// What `decode_as` decodes with: one value of each operation, built once.
struct Fixed {
    session: EdisSession,
    create_session: CreateSession,
    reinstall_os: ReinstallOs,
    change_os: ChangeOs,
    batch_stop: BatchStop,
    batch_start: BatchStart,
    show_job: ShowJob,
    show_server: ShowServer,
    create_token: CreateToken,
    edis_input: reimage_core::EdisReinstall,
}

fn fixed<T, E: std::fmt::Debug>(what: &str, result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("the fixed {what} is refused: {e:?}"),
    }
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let project = fixed(
        "project id",
        ProjectId::new("0123456789abcdef0123456789abcdef"),
    );
    let server = fixed(
        "server id",
        ServerId::new("11111111-2222-3333-4444-555555555555"),
    );
    let kvm = fixed("kvm id", KvmId::new("kvm_12345_67890"));
    let spec = || {
        fixed(
            "spec",
            EcsOsSpec::builder()
                .adminpass(fixed("password", AdminPassword::new("!QAZxsw2")))
                .user_data("#cloud-config\n".into())
                .stop_server(true)
                .build(),
        )
    };
    let image = fixed(
        "image id",
        ImageId::new("67f433d8-ed0e-4321-a8a2-a71838539e09"),
    );
    Fixed {
        // Valid until the year 2200: always fresh.
        session: fixed(
            "session",
            EdisSession::new(
                "12345.edisglobal.com",
                kvm.clone(),
                "session_signature_12345",
                "7258118400",
            ),
        ),
        create_session: CreateSession::new(fixed(
            "credentials",
            EdisCredentials::new("ops@example.com", "account password"),
        ))
        .with_kvm_id(kvm),
        reinstall_os: ReinstallOs::new(project.clone(), server.clone(), EcsReinstall::new(spec())),
        change_os: ChangeOs::new(
            project.clone(),
            server.clone(),
            EcsChangeOs::new(image, spec()),
        ),
        batch_stop: BatchStop::new(project.clone(), vec![server.clone()], StopType::Hard),
        batch_start: BatchStart::new(project.clone(), vec![server.clone()]),
        show_job: ShowJob::new(
            project.clone(),
            fixed("job id", JobId::new("ff80808288d41e1b018990260955686a")),
        ),
        show_server: ShowServer::new(project.clone(), server),
        create_token: CreateToken::new(
            fixed(
                "IAM credentials",
                PasswordCredentials::new("alice", "example-domain", "correct horse".into()),
            ),
            TokenScope::ProjectId(project),
        ),
        edis_input: reimage_core::EdisReinstall::new(
            fixed(
                "image",
                reimage_core::EdisImage::new("cloudinit_debian-bookworm"),
            ),
            fixed(
                "root password",
                reimage_core::RootPassword::new("correct horse"),
            ),
        ),
    }
});

/// 2025-01-01T00:00:00Z: the `now` of the verifier, and of the AK/SK vectors.
fn now() -> Timestamp {
    fixed(
        "now",
        Timestamp::from_unix_seconds(1_735_689_600).ok_or("out of range"),
    )
}

fn fresh(session: &EdisSession) -> FreshSession<'_> {
    fixed(
        "session freshness",
        session.ensure_fresh(now(), DEFAULT_FRESHNESS_MARGIN),
    )
}

/// Decodes `response` as the answer to the operation named `op`, discarding what it gives.
fn decode_as(op: &str, response: Response<Bytes>) -> Result<(), ResponseError> {
    let f = &*FIXED;
    let session = fresh(&f.session);
    match op {
        CreateSession::NAME => {
            let _ = reimage_wire::edis::decode_sessions(&response);
            f.create_session.decode_response(response).map(|sessions| {
                for s in sessions.iter() {
                    let _ = reimage_wire::edis::api_endpoint(s);
                }
            })
        }
        GetImages::NAME => GetImages::new(session).decode_response(response).map(drop),
        GetPower::NAME => GetPower::new(session).decode_response(response).map(drop),
        PowerOn::NAME => PowerOn::new(session).decode_response(response),
        PowerOff::NAME => PowerOff::new(session).decode_response(response),
        HardReset::NAME => HardReset::new(session).decode_response(response).map(drop),
        GetDetails::NAME => GetDetails::new(session).decode_response(response).map(drop),
        GetMount::NAME => GetMount::new(session).decode_response(response).map(drop),
        Reinstall::NAME => Reinstall::new(session, f.edis_input.clone()).decode_response(response),
        ReinstallOs::NAME => f.reinstall_os.decode_response(response).map(drop),
        ChangeOs::NAME => f.change_os.decode_response(response).map(drop),
        BatchStop::NAME => f.batch_stop.decode_response(response).map(drop),
        BatchStart::NAME => f.batch_start.decode_response(response).map(drop),
        ShowJob::NAME => f.show_job.decode_response(response).map(drop),
        ShowServer::NAME => f.show_server.decode_response(response).map(drop),
        CreateToken::NAME => {
            let (parts, body) = response.into_parts();
            let direct =
                reimage_wire::iam::decode_token_response(parts.status, &parts.headers, &body);
            let op = f
                .create_token
                .decode_response(Response::from_parts(parts, body));
            assert_eq!(direct.is_ok(), op.is_ok(), "iam: the two decoders disagree");
            op.map(drop)
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The emulator's request readers.
// ---------------------------------------------------------------------------------------------

/// The request readers of the emulator; byte 0 picks one ([`READERS`]), the rest is its input.
pub fn emulator_request(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match READERS[usize::from(which) % READERS.len()] {
        "edis.reinstall" => {
            if let Ok((fields, input)) = Reinstall::from_form(rest) {
                edis_round_trip(
                    &fields,
                    |fresh| Reinstall::new(fresh, input.clone()).to_request(&endpoint(fresh)),
                    |body| {
                        let (again, input2) = Reinstall::from_form(body)?;
                        same_input(&input, &input2);
                        Ok(again)
                    },
                );
            }
        }
        "edis.session_calls" => {
            let fields = GetPower::from_form(rest);
            if let Ok(fields) = &fields {
                edis_round_trip(
                    fields,
                    |fresh| GetPower::new(fresh).to_request(&endpoint(fresh)),
                    GetPower::from_form,
                );
            }
            for other in [
                GetImages::from_form(rest),
                PowerOn::from_form(rest),
                PowerOff::from_form(rest),
                HardReset::from_form(rest),
                GetDetails::from_form(rest),
                GetMount::from_form(rest),
            ] {
                assert_eq!(other.is_ok(), fields.is_ok(), "the session calls disagree");
            }
        }
        "edis.create_session" => {
            if let Ok(op) = CreateSession::from_form(rest) {
                let request = fixed(
                    "auth request",
                    op.to_request(&reimage_wire::edis::session_endpoint()),
                );
                match CreateSession::from_form(request.body()) {
                    Ok(again) => {
                        assert_eq!(again.credentials().email(), op.credentials().email());
                        assert_eq!(
                            again.credentials().pw().expose_secret(),
                            op.credentials().pw().expose_secret()
                        );
                        assert_eq!(again.kvm_id(), op.kvm_id());
                    }
                    Err(e) => panic!("the emulator refuses the auth form the client wrote: {e}"),
                }
            }
        }
        "ecs.reinstallos" => {
            if let Ok(body) = serde_json::from_slice::<ReinstallBody>(rest) {
                if let Some(metadata) = &body.os_reinstall.metadata {
                    let _ = metadata.decode_user_data();
                }
                round_trip(&body);
                if let Ok(input) = body.to_input() {
                    fixpoint(&input, ReinstallBody::new, |b: &ReinstallBody| b.to_input());
                }
            }
        }
        "ecs.changeos" => {
            if let Ok(body) = serde_json::from_slice::<ChangeOsBody>(rest) {
                if let Some(metadata) = &body.os_change.metadata {
                    let _ = metadata.decode_user_data();
                }
                round_trip(&body);
                if let Ok(input) = body.to_input() {
                    fixpoint(&input, ChangeOsBody::new, |b: &ChangeOsBody| b.to_input());
                }
            }
        }
        "ecs.action" => {
            if let Ok(body) = serde_json::from_slice::<ActionBody>(rest) {
                round_trip(&body);
            }
        }
        "ecs.route" => {
            let path = String::from_utf8_lossy(rest);
            if let Some(route) = EcsRoute::parse(&path) {
                let _ = (route.method(), route.project_id());
                assert_eq!(EcsRoute::parse(&path), Some(route), "EcsRoute::parse");
            }
        }
        "aksk.verify" => aksk_verify(rest),
        "emulator.fault_rule" => {
            if let Ok(rule) = FaultRule::from_json(rest) {
                let json = rule.to_json().to_string();
                let again = FaultRule::from_json(json.as_bytes());
                assert_eq!(again.as_ref().ok(), Some(&rule), "a fault rule from {json}");
            }
        }
        _ => {}
    }
}

/// The readers [`emulator_request`] feeds; byte 0 of the input picks one.
pub const READERS: [&str; 9] = [
    "edis.reinstall",
    "edis.session_calls",
    "edis.create_session",
    "ecs.reinstallos",
    "ecs.changeos",
    "ecs.action",
    "ecs.route",
    "aksk.verify",
    "emulator.fault_rule",
];

/// A body the emulator read serializes, and reads back.
fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(body: &T) {
    let json = match serde_json::to_vec(body) {
        Ok(json) => json,
        Err(e) => panic!("a body that was read cannot be written: {e}"),
    };
    if let Err(e) = serde_json::from_slice::<T>(&json) {
        panic!(
            "a body that was written cannot be read back: {e}: {}",
            String::from_utf8_lossy(&json)
        );
    }
}

/// The client's body for what the emulator read from a body is read back without error, and
/// writing that again gives the same bytes: encoding is a fixpoint after one decode.
fn fixpoint<I, B, E>(
    input: &I,
    encode: impl Fn(&I) -> Result<B, E>,
    decode: impl Fn(&B) -> Result<I, reimage_core::ValidationError>,
) where
    B: serde::Serialize + serde::de::DeserializeOwned,
    E: std::fmt::Display,
{
    let write = |input: &I| -> Vec<u8> {
        match encode(input).map(|body| serde_json::to_vec(&body)) {
            Ok(Ok(json)) => json,
            Ok(Err(e)) => panic!("a body cannot be written: {e}"),
            Err(e) => panic!("the client refuses an input the emulator accepted: {e}"),
        }
    };
    let first = write(input);
    let again = match serde_json::from_slice::<B>(&first).map(|b| decode(&b)) {
        Ok(Ok(input)) => input,
        Ok(Err(e)) => panic!("the emulator refuses the body the client wrote: {e}"),
        Err(e) => panic!("the client's body is not read back: {e}"),
    };
    let second = write(&again);
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
        "writing a body that was read back changes it"
    );
}

/// Where a session's calls go, for encoding.
fn endpoint(fresh: FreshSession<'_>) -> reimage_wire::Endpoint {
    fixed(
        "api endpoint",
        reimage_wire::edis::api_endpoint(fresh.session()),
    )
}

/// A session form the emulator read, written again by the client (in a session with those
/// fields, an hour before it expires), is read back to the same fields.
fn edis_round_trip(
    fields: &reimage_wire::edis::SessionFields,
    encode: impl Fn(FreshSession<'_>) -> Result<Request<Bytes>, reimage_wire::EncodeError>,
    decode: impl Fn(&[u8]) -> Result<reimage_wire::edis::SessionFields, reimage_core::ValidationError>,
) {
    let session = fixed(
        "session from a form",
        EdisSession::new(
            "12345.edisglobal.com",
            fields.kvm_id().clone(),
            fields.signature().clone(),
            fields.valid_until_text(),
        ),
    );
    let Some(before) = fields
        .valid_until()
        .unix_seconds()
        .checked_sub(3600)
        .and_then(Timestamp::from_unix_seconds)
    else {
        return;
    };
    let fresh = fixed(
        "freshness an hour before",
        session.ensure_fresh(before, DEFAULT_FRESHNESS_MARGIN),
    );
    let request = match encode(fresh) {
        Ok(request) => request,
        Err(e) => panic!("the client cannot write what the emulator read: {e}"),
    };
    match decode(request.body()) {
        Ok(again) => {
            assert_eq!(again.kvm_id(), fields.kvm_id());
            assert_eq!(again.valid_until_text(), fields.valid_until_text());
            assert_eq!(
                again.signature().expose_secret(),
                fields.signature().expose_secret()
            );
        }
        Err(e) => panic!("the emulator refuses the form the client wrote: {e}"),
    }
}

fn same_input(a: &reimage_core::EdisReinstall, b: &reimage_core::EdisReinstall) {
    assert_eq!(a.image(), b.image());
    assert_eq!(
        a.password().secret().expose_secret(),
        b.password().secret().expose_secret()
    );
    assert_eq!(a.user_data(), b.user_data());
}

/// The access key the verifier knows, with [`SECRET_KEY`]: the AK/SK vectors' own.
pub const ACCESS_KEY: &str = "AKEXAMPLE";
/// The secret key of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "SKEXAMPLE";

/// Reads a request written as HTTP/1 text: `METHOD target`, then `name: value` lines, an empty
/// line, and the body. Header lines that are not valid are skipped.
pub fn request_from_text(data: &[u8]) -> Option<Request<Bytes>> {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next()?;
    let space = first.iter().position(|&b| b == b' ')?;
    let method = Method::from_bytes(&first[..space]).ok()?;
    let uri = Uri::try_from(&first[space + 1..]).ok()?;
    let mut request = Request::new(Bytes::copy_from_slice(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    Some(request)
}

/// The AK/SK verifier on a request read from the input, at [`now`]; and, for the same request
/// signed by `aksk::sign`, the verifier must accept it.
fn aksk_verify(data: &[u8]) {
    let Some(request) = request_from_text(data) else {
        return;
    };
    let lookup = |ak: &str| (ak == ACCESS_KEY).then(|| SecretString::from(SECRET_KEY));
    let _ = aksk::verify(&request, lookup, now(), aksk::MAX_SKEW);
    let _ = aksk::verify(&request, lookup, now(), Duration::MAX);
    let _ = aksk::canonical_request(&request);

    let creds = fixed(
        "AK/SK",
        AkSk::new(ACCESS_KEY, SecretString::from(SECRET_KEY)),
    );
    let project = fixed(
        "project id",
        ProjectId::new("0123456789abcdef0123456789abcdef"),
    );
    let mut signed = request;
    if aksk::sign(&mut signed, &creds, &project, now()).is_ok() {
        match aksk::verify(&signed, lookup, now(), aksk::MAX_SKEW) {
            Ok(ak) => assert_eq!(ak, ACCESS_KEY),
            Err(e) => panic!("verify refuses what sign signed: {e}"),
        }
    }
}
