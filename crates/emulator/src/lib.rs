//! A local emulator of EDIS Global KVM, ECS (Huawei Cloud, Open Telekom Cloud) with its API
//! gateway, and IAM: one hyper HTTP/1 server on loopback that answers like the providers, down to
//! their error bodies and the timing of their jobs, with faults on demand.
//!
//! It reads requests with the very definitions the client encodes them with: `reimage-wire`'s
//! [`EcsRoute`](reimage_wire::ecs::EcsRoute) and ECS body types, the EDIS `from_form` readers,
//! and `reimage-auth`'s [`aksk::verify`](reimage_auth::aksk::verify). A request the client
//! would not send is refused the way the provider refuses it.
//!
//! ```
//! use reimage_emulator::{Config, Fixtures};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::builder()
//!     .listen("127.0.0.1:0".parse()?)
//!     .time_scale(0.01) // a 90 s reinstall takes 0.9 s
//!     .fixtures(Fixtures::default())
//!     .build()?;
//! let running = reimage_emulator::start(config).await?;
//! println!("listening on {}", running.base_url());
//! running.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Endpoints
//!
//! Everything is served on one address; point every endpoint of the client at it.
//!
//! | path | what |
//! |---|---|
//! | `POST /v3/auth/tokens` | IAM: a password gives 201, `X-Subject-Token`, and the token's `expires_at` |
//! | `POST /v2/{project_id}/cloudservers/{server_id}/reinstallos` | ECS reinstall (a job) |
//! | `POST /v2/{project_id}/cloudservers/{server_id}/changeos` | ECS change of OS (a job) |
//! | `POST /v1/{project_id}/cloudservers/{server_id}/reinstallos`, `/changeos` | ECS reinstall and change of OS for images without cloud-init (a job; no user data) |
//! | `GET /v1/{project_id}/cloudservers/detail[?name=…]` | ECS servers with details, `name` matched by part |
//! | `POST /v1/{project_id}/cloudservers/action` | ECS batch stop (`os-stop`) and start (`os-start`), jobs too |
//! | `GET /v1/{project_id}/cloudservers/{server_id}` | ECS server details |
//! | `GET /v1/{project_id}/jobs/{job_id}` | ECS job status |
//! | `POST /kvm/v2/get/auth` | EDIS session, one entry per KVM, `api_host` pointing back at the emulator |
//! | `POST /kvm/v2/get/images`, `/set/reinstall`, `/get/power`, `/set/poweron`, `/set/poweroff`, `/set/reset`, `/get/details`, `/get/mount` | EDIS session calls; `/get/mount` answers `"current_iso": "empty"` (no ISO is mounted) |
//! | `/_emulator/...` | the admin API (below) |
//!
//! Every answer carries an `X-Request-Id`. Request bodies over 1 MiB (configurable) are refused
//! with 413 before they are read; no input makes the server panic.
//!
//! # Time
//!
//! Durations are real-world by default ([`Timings`]: ECS reinstall 90 s, change of OS 150 s,
//! stop 10 s, start 15 s, EDIS reinstall 300 s) times the [time
//! scale](ConfigBuilder::time_scale). Nothing ticks in the background: a job that began at `t0`
//! with duration `d` is `INIT` until `t0 + d/10`, `RUNNING` until `t0 + d`, then `SUCCESS` or
//! `FAIL`, computed from the [`Clock`] whenever someone looks. A [`ManualClock`] makes tests
//! deterministic. Credential lifetimes (token 24 h, EDIS session 1 h), `Retry-After`, latency
//! faults and the AK/SK 15-minute window are not scaled: clients apply fixed margins to them.
//!
//! While an ECS reinstall or change of OS runs, the server shows `REBUILD` and power state 4,
//! with the task states the ECS statuses page lists: `rebuild_block_device_mapping` for the
//! rebuild's first fifth, `rebuilding`, then `rebuild_spawning` for its last fifth. A
//! `withStopServer` job on a running server first shows `ACTIVE`/`powering-off` (its first
//! tenth), then `SHUTOFF` (the next twentieth), then `REBUILD`. Afterwards it is `ACTIVE`
//! (running, so that cloud-init runs at boot) on the new image (change of OS) or the same one
//! (reinstall), with the new user data, key pair, `updated`, `OS-SRV-USG:launched_at` and a new
//! system disk (the volume id at `bootIndex` 0). A failed one leaves it `ERROR` (vm_state
//! `error`), from which a new reinstall or change of OS is allowed, as the specs say. A stop
//! shows `powering-off` then `SHUTOFF`; a start `powering-on` then `ACTIVE`. An EDIS reinstall
//! answers `success` at once; the KVM is then powered off while it installs, and runs the new
//! image afterwards.
//!
//! # Fixtures
//!
//! [`Fixtures::default`] is `fixtures/default.toml` (compiled in, printed by
//! [`Fixtures::default_toml`]): ECS project `0123456789abcdef0123456789abcdef` (`eu-de`);
//! AK/SK `REIMAGEEMULATORAK` / `reimage-emulator-sk`; IAM domain `emulator`, user `admin` with
//! password `Emulator-Passw0rd!`, id `7e25b1da389f4697a79df3a0e5bd494e` and key pair
//! `KeyPair-350b`; servers `11111111-2222-3333-4444-555555555555` and
//! `22222222-3333-4444-5555-666666666666` (stopped, Debian 12),
//! `33333333-4444-5555-6666-777777777777` (running, Ubuntu 24.04) and
//! `44444444-5555-6666-7777-888888888888` (stopped, locked); images
//! `e215580f-73ad-429d-b6f2-5433947433b0` (Debian 12, cloud-init),
//! `1a2b3c4d-0000-4000-8000-000000000001` (Ubuntu 24.04, cloud-init),
//! `1a2b3c4d-0000-4000-8000-000000000002` (no cloud-init) and
//! `1a2b3c4d-0000-4000-8000-000000000003` (not active); EDIS account `demo@example.com` /
//! `emulator-pw` with `kvm_100001_200001` (on) and `kvm_100002_200002` (off), and images
//! including `debian-bullseye`, `cloudinit_debian-bookworm`, `cloudinit_ubuntu-lts-24-04` and
//! `windows-11`. [`Fixtures::from_toml_str`] reads a file of the same form, which replaces the
//! whole set; it may switch faults on with `[[faults]]`.
//!
//! # Faults
//!
//! A [`FaultRule`] hits calls by operation name (`ecs.reinstallos`, `edis.get_power`,
//! `iam.create_token`, … with `*` globs), path pattern, method, and call number: latency; 429
//! with `Retry-After`; 500, 502, 503, 504; a reset before the answer; the answer lost after the
//! call was applied; a truncated body; invalid JSON; a job that ends in `FAIL`; credentials that
//! expire now, or are issued with a short life. Switch them on in the [`Config`], in a fixture
//! file, with `POST /_emulator/faults`, or with [`Running::add_fault`]. See [`fault`] for the
//! JSON form and what each kind does.
//!
//! # Admin API
//!
//! | call | what |
//! |---|---|
//! | `GET /_emulator` | the list of admin endpoints |
//! | `GET /_emulator/state` | servers (status, image, and how many reinstalls, OS changes, stops and starts were applied), jobs, tokens, KVMs (reinstalls and power changes applied, `mounted_iso`), sessions, faults |
//! | `GET /_emulator/requests` | the request log (last 10 000 calls), secrets redacted; `DELETE` clears it |
//! | `GET`, `POST`, `DELETE /_emulator/faults` | list, add (one rule or a list; answers the ids), remove all; `DELETE /_emulator/faults/{id}` removes one |
//! | `POST /_emulator/expire-credentials` | every token and EDIS session expires now |
//! | `POST /_emulator/reset` | back to the fixtures and the configured faults |
//!
//! Neither the state nor the log ever holds a password, `adminpass`, user data (only its size),
//! a token, a session signature, an SK or an `Authorization` header: the log shows only the
//! fields known to be harmless (ids, names, modes) and replaces every other text with
//! `[REDACTED]`. A counter counts a request when it was accepted and its job started, so a test
//! can prove that a server was re-imaged exactly once, even after a lost answer and a retry.
//!
//! # Error codes
//!
//! The ECS codes are those of the ECS error-code page, with its HTTP statuses, in its body form
//! `{"error":{"code","message"}}`. The API gateway in front of ECS answers in its flat form
//! `{"error_code","error_msg","request_id"}`, IAM in Keystone's `{"error":{"code","title",
//! "message"}}`, EDIS in `{"error","code"}`.
//!
//! ## Authentication (the API gateway, IAM)
//!
//! | case | answer |
//! |---|---|
//! | no `X-Auth-Token` and no `Authorization` | 401 `APIGW.0301` "Incorrect IAM authentication information: x-auth-token not found" |
//! | a token the emulator never issued | 401 `APIGW.0301` "…: decrypt token fail" |
//! | an expired token | 401 `APIGW.0307` "The token must be updated." |
//! | a token for another project | 400 `Ecs.0023` (`Common.0018` on the job query) |
//! | AK/SK: a wrong signature | 401 `APIGW.0301` "…: verify aksk signature fail" |
//! | AK/SK: an unknown AK | 401 `APIGW.0301` "…: Get secretKey failed,ak:…,err:ak not exist" |
//! | AK/SK: `X-Sdk-Date` more than 15 min off | 401 `APIGW.0301` "…: signature expired, signature time:…,server time:…" |
//! | AK/SK: a malformed `Authorization` or date | 401 `APIGW.0301` with what is wrong |
//! | AK/SK: `X-Project-Id` not the fixture project | 401 `APIGW.0301`; another project than the path's: 400 `Ecs.0023` |
//! | IAM: a wrong user, domain or password | 401 `{"error":{"code":401,"title":"Unauthorized","message":"The username or password is wrong."}}` |
//! | IAM: a scope the user has no access to | 401, same form |
//! | IAM: a body that is not a password token request | 400, same form |
//!
//! The gateway documents `APIGW.0303` "signature expired" only for its own app authentication;
//! for the IAM AK/SK of ECS, the emulator answers the stale date within the IAM family,
//! `APIGW.0301`, with the same wording. That code is a guess.
//!
//! ## ECS reinstall and change of OS
//!
//! Checked in this order; the first failure answers.
//!
//! | check | answer |
//! |---|---|
//! | an empty body | 400 `Common.0002` |
//! | a body that does not decode (`ReinstallBody`, `ChangeOsBody`) | 400 `Ecs.0005` |
//! | a field the API (and the official SDK's models) does not define, at any level | 400 `Ecs.0005` |
//! | the server exists | 404 `Ecs.0114` |
//! | `mode` is absent or `withStopServer` | 400 `Ecs.0005` |
//! | `adminpass` is 8–26 characters of 3 classes, specials from `!@$%^-_=+[{}]:,./?~#*` | 400 `Ecs.0011` |
//! | not both `adminpass` and `keyname`; `keyname` is a name; `userid` comes with it (reinstall) | 400 `Ecs.0005` |
//! | the key pair belongs to `userid` (or, for `changeos` without `userid`, to the caller) | 400 `Ecs.0314` |
//! | `metadata.BYOL` is absent or `"true"` | 400 `Ecs.0005` |
//! | `user_data` is base64 of at most 32 KB | 400 `Ecs.0005` |
//! | something to log in with: `adminpass`, `keyname` or user data | 400 `Ecs.0005` |
//! | (with [`strict_inputs`](ConfigBuilder::strict_inputs)) reimage's own rules | 400 `Ecs.0005` |
//! | the image exists (`imageid`, or the server's own image) | 400 `Ecs.0031` (a malformed `imageid`: `Ecs.0005`) |
//! | the image is active | 400 `Ecs.0032` |
//! | the image has cloud-init | 400 `Ecs.0007` |
//! | no `adminpass` on a cloud-init call when the fixtures say `keypair_only` | 400 `Ecs.0005` (no code is documented; the closest) |
//! | the server is not locked | 400 `Ecs.0605` |
//! | the server is not busy with another job | 501 `Ecs.0603` (with [`interruptions_fail_rebuilds`](ConfigBuilder::interruptions_fail_rebuilds), a running rebuild then ends in `FAIL`) |
//! | the server is stopped (or its last OS job failed), unless `mode` is `withStopServer` | 400 `Ecs.0100` |
//!
//! The specs give no code of their own for an image without cloud-init; the emulator answers
//! `Ecs.0007`, "Invalid image attributes", the closest documented one. Where the provider is more
//! lenient than reimage, the emulator follows the provider: `userid` with `adminpass` (as in the
//! provider's own example) is accepted and ignored, and `changeos` takes `keyname` without `userid` (the
//! caller's user is used, as documented). [`strict_inputs`](ConfigBuilder::strict_inputs) refuses
//! them instead.
//!
//! ## Other ECS calls
//!
//! | case | answer |
//! |---|---|
//! | batch stop or start: a body of neither form, or no servers | 400 `Ecs.0005` |
//! | batch: more than 1000 servers | 400 `Ecs.0118` |
//! | batch: an unknown server | 404 `Ecs.0614` (the batch family's "does not exist") |
//! | batch: a locked or busy server | 400 `Ecs.0605`, 501 `Ecs.0603` |
//! | details of an unknown server | 404 `Ecs.0114` |
//! | an unknown job (or one of another project) | 400 `Common.0011` |
//! | an unknown path or method | 404 `APIGW.0101` |
//! | a body over the limit | 413 `APIGW.0201` "Request entity too large." |
//! | a `throttle` fault | 429 `APIGW.0308` and `Retry-After` |
//! | a `server_error` fault | 500 `Common.0001`; 502 and 503 `APIGW.0202` "Backend unavailable."; 504 `APIGW.0203` "Backend timeout." |
//!
//! A job that fails (`job_fail`) carries `error_code` and `fail_reason` at the top and in each
//! sub-job: by default `Ecs.0202` for a reinstall or change of OS, `Ecs.0000` for a stop,
//! `Ecs.0226` for a start.
//!
//! ## EDIS
//!
//! | case | answer |
//! |---|---|
//! | auth: a missing or malformed field | 400 `{"error":"Invalid credentials or missing parameters.","code":400,"message":…}` |
//! | auth: a wrong email or password | 401 `{"error":"Unauthorized","code":401,"message":"Invalid WHMCS credentials. …"}` |
//! | auth: a `kvm_id` not of the account | 400, as a missing field |
//! | a missing field | 400 `{"error":"Missing required parameter: <field>","code":400}` |
//! | an unknown or repeated field, or a malformed value | 400 `{"error":"Invalid parameters provided.","code":400,"message":…}` |
//! | a signature the emulator never issued, a changed `valid_until`, an expired session | 401 `{"error":"Invalid or expired session signature.","code":401}` |
//! | a session of another KVM, or an unknown KVM | 403 `{"error":"Access to this resource is denied.","code":403}` |
//! | reinstall: an image not offered | 400 `Invalid parameters provided.` |
//! | reinstall, power on or off while a reinstall runs | 400 (a guess: EDIS documents nothing) |
//! | an unknown path; a method other than POST | 404; 405 |
//!
//! EDIS documents no session lifetime; the emulator's is one hour.

pub mod clock;
pub mod config;
pub mod fault;
pub mod fixtures;

mod admin;
mod console;
mod ecs;
mod edis;
mod handler;
mod iam;
mod redact;
mod reply;
mod server;
mod server_doc;
mod sshd;

/// The address a server's real SSH endpoint listens on (`Running::attach_sshd`): its floating
/// address reads this while it has one.
pub const SSH_ADDRESS: &str = sshd::LOOPBACK;
mod state;
mod throttle;
mod util;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigBuilder, ConfigError, Timings};
pub use fault::{FaultError, FaultKind, FaultRule};
pub use fixtures::{Fixtures, FixturesError};
pub use server::{Running, StartError, start};
pub use throttle::RateLimit;
