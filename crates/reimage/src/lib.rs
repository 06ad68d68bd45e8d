//! reimage reinstalls and changes the operating system of cloud servers safely, from Rust: EDIS
//! Global KVM, and ECS on Huawei Cloud and Open Telekom Cloud. It refuses a bad input before
//! anything is sent, never prints a secret, never re-sends a reinstall blindly, and follows every
//! job to its end.
//!
//! This crate is the one dependency line: it re-exports reimage's crates behind features, each
//! as a module of the same name (`reimage_core::ServerId` is `reimage::core::ServerId`, and so
//! on), so that any path in the crates' own documentation, or in a compiler message, translates
//! by replacing `reimage_` with `reimage::`.
//!
//! # Features
//!
//! | feature | modules | brings in | IO |
//! |---|---|---|---|
//! | `edis` | [`core`], [`auth`], [`wire`], [`edis`], [`secrecy`] | `reimage-core`, `reimage-auth`, `reimage-wire` | none |
//! | `ecs` | [`core`], [`auth`], [`wire`], [`ecs`], [`secrecy`] | the same three crates | none |
//! | `client` | [`client`], and what `edis` and `ecs` give | `reimage-client`: tokio, hyper, rustls | network |
//! | `emulator` | [`emulator`], and what `edis` and `ecs` give | `reimage-emulator`: tokio, hyper | loopback server |
//! | `cloudinit` | [`cloudinit`] | `reimage-cloudinit` | none |
//! | `config` | [`config`] | `reimage-config` | reads the config file, secret files and the environment |
//! | `fleet` | [`fleet`], and what `client`, `config` and `cloudinit` give | `reimage-fleet` | network, the plan's files, its journal |
//!
//! The default is `client`, `edis` and `ecs`. Validating cloud-init user data alone needs
//! neither tokio nor hyper, and neither does `config`:
//!
//! ```toml
//! [dependencies]
//! reimage = { version = "0.1", default-features = false, features = ["cloudinit"] }
//! ```
//!
//! `edis` and `ecs` are sans-IO: they turn typed operations into `http::Request<Bytes>` and
//! answers back into typed results, for a transport of your own. `client` is that transport.
//!
//! # An ECS reinstall
//!
//! With the default features: sign with AK/SK, reinstall the server's OS (the client reads the
//! server first, and never sends the reinstall twice), then follow the job until the server runs
//! again.
//!
#![cfg_attr(all(feature = "client", feature = "ecs"), doc = "```no_run")]
#![cfg_attr(not(all(feature = "client", feature = "ecs")), doc = "```ignore")]
//! use reimage::auth::AkSk;
//! use reimage::client::{EcsAuth, EcsClient, PollSchedule, Transport, TransportConfig};
//! use reimage::core::{AdminPassword, EcsOsSpec, EcsReinstall, ProjectId, ServerId};
//! use reimage::secrecy::SecretString;
//! use reimage::wire::Endpoint;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let sk = SecretString::from(std::env::var("HUAWEICLOUD_SDK_SK")?);
//!     let aksk = AkSk::new(std::env::var("HUAWEICLOUD_SDK_AK")?, sk)?;
//!     let client = EcsClient::new(
//!         Transport::new(TransportConfig::default())?,
//!         Endpoint::parse("https://ecs.eu-de.otc.t-systems.com")?,
//!         ProjectId::new("0123456789abcdef0123456789abcdef")?,
//!         EcsAuth::AkSk(aksk),
//!     )?;
//!     let server = ServerId::new("11111111-2222-3333-4444-555555555555")?;
//!     let spec = EcsOsSpec::builder()
//!         .adminpass(AdminPassword::new(std::env::var("ADMIN_PASSWORD")?)?)
//!         .stop_server(true)
//!         .build()?;
//!     let started = client.reinstall(&server, EcsReinstall::new(spec)).await?;
//!     let schedule = PollSchedule::default();
//!     let after = client.follow(&started, &schedule, &mut |event| println!("{event}")).await?;
//!     println!("{} runs again, launched at {:?}", after.id, after.launched_at);
//!     Ok(())
//! }
//! ```
//!
//! # Validating user data
//!
//! With `cloudinit`: cloud-init's own verdicts, at line and column, before anything is sent.
//!
#![cfg_attr(feature = "cloudinit", doc = "```")]
#![cfg_attr(not(feature = "cloudinit"), doc = "```ignore")]
//! use reimage::cloudinit::{Options, Severity, validate};
//!
//! let user_data = b"#cloud-config\npackages: [nginx]\npower_state: {mode: restart}\n";
//! let report = validate(user_data, &Options::default());
//! assert!(!report.valid());
//! for finding in report.errors() {
//!     assert_eq!(finding.severity, Severity::Error);
//!     assert_eq!((finding.line, finding.column), (3, 21));
//!     assert_eq!(finding.path, "power_state.mode");
//! }
//! ```
//!
//! See `docs/ARCHITECTURE.md` in the repository for the map of the crates and the rules that
//! hold across them.
//!
// The modules of features that are off do not exist: their links fall back to the feature table.
#![cfg_attr(any(feature = "edis", feature = "ecs"), doc = "[`core`]: crate::core")]
#![cfg_attr(
    not(any(feature = "edis", feature = "ecs")),
    doc = "[`core`]: #features"
)]
#![cfg_attr(any(feature = "edis", feature = "ecs"), doc = "[`auth`]: crate::auth")]
#![cfg_attr(
    not(any(feature = "edis", feature = "ecs")),
    doc = "[`auth`]: #features"
)]
#![cfg_attr(any(feature = "edis", feature = "ecs"), doc = "[`wire`]: crate::wire")]
#![cfg_attr(
    not(any(feature = "edis", feature = "ecs")),
    doc = "[`wire`]: #features"
)]
#![cfg_attr(
    any(feature = "edis", feature = "ecs"),
    doc = "[`secrecy`]: crate::secrecy"
)]
#![cfg_attr(
    not(any(feature = "edis", feature = "ecs")),
    doc = "[`secrecy`]: #features"
)]
#![cfg_attr(feature = "edis", doc = "[`edis`]: crate::edis")]
#![cfg_attr(not(feature = "edis"), doc = "[`edis`]: #features")]
#![cfg_attr(feature = "ecs", doc = "[`ecs`]: crate::ecs")]
#![cfg_attr(not(feature = "ecs"), doc = "[`ecs`]: #features")]
#![cfg_attr(feature = "client", doc = "[`client`]: crate::client")]
#![cfg_attr(not(feature = "client"), doc = "[`client`]: #features")]
#![cfg_attr(feature = "emulator", doc = "[`emulator`]: crate::emulator")]
#![cfg_attr(not(feature = "emulator"), doc = "[`emulator`]: #features")]
#![cfg_attr(feature = "cloudinit", doc = "[`cloudinit`]: crate::cloudinit")]
#![cfg_attr(not(feature = "cloudinit"), doc = "[`cloudinit`]: #features")]
#![cfg_attr(feature = "config", doc = "[`config`]: crate::config")]
#![cfg_attr(not(feature = "config"), doc = "[`config`]: #features")]
#![cfg_attr(feature = "fleet", doc = "[`fleet`]: crate::fleet")]
#![cfg_attr(not(feature = "fleet"), doc = "[`fleet`]: #features")]

#[cfg(any(feature = "edis", feature = "ecs"))]
pub mod core {
    //! The models: validated identifiers, secret passwords, operation inputs, ECS jobs, and the
    //! error types. Everything of `reimage-core`.
    //!
    //! Enabled by the `edis` or `ecs` feature (so also by `client` and `emulator`).

    pub use reimage_core::*;
}

#[cfg(any(feature = "edis", feature = "ecs"))]
pub mod auth {
    //! Credentials, with no IO and no clock: the EDIS session and its freshness check, the ECS
    //! IAM token, and the `SDK-HMAC-SHA256` AK/SK signer. Everything of `reimage-auth`. What
    //! goes over the wire to get a session or a token, and the reading of the answers, is in
    //! [`wire`](crate::wire).
    //!
    //! Enabled by the `edis` or `ecs` feature (so also by `client` and `emulator`). The same
    //! items, gathered by provider, are in `reimage::edis` and `reimage::ecs`.

    pub use reimage_auth::*;
}

#[cfg(any(feature = "edis", feature = "ecs"))]
pub mod wire {
    //! The one seam, with no IO: the [`Operation`] trait, [`Endpoint`], and every EDIS, ECS and
    //! IAM operation as an `http::Request<Bytes>` and back, with the providers' error bodies
    //! ([`decode`]). All encoding is here. Everything of `reimage-wire`.
    //!
    //! Enabled by the `edis` or `ecs` feature (so also by `client` and `emulator`). The same
    //! items, gathered by provider, are in `reimage::edis` and `reimage::ecs`.

    pub use reimage_wire::*;
}

#[cfg(feature = "edis")]
pub mod edis {
    //! EDIS Global KVM in one place, with no IO: the operations of
    //! [`wire::edis`](crate::wire::edis) (`CreateSession`, `GetImages`, `Reinstall`, power and
    //! details) with the reading of their answers (`EdisSessions`, `decode_success`), and the
    //! session of [`auth::edis`](crate::auth::edis) (`EdisCredentials`, `EdisSession` and its
    //! `ensure_fresh` guard). The client for them is
    //! `reimage::client::EdisClient`.
    //!
    //! Enabled by the `edis` feature.

    #[doc(no_inline)]
    pub use crate::auth::edis::*;
    #[doc(no_inline)]
    pub use crate::wire::edis::*;
}

#[cfg(feature = "ecs")]
pub mod ecs {
    //! ECS (Huawei Cloud, Open Telekom Cloud) in one place, with no IO: the operations of
    //! [`wire::ecs`](crate::wire::ecs) (`ReinstallOs`, `ChangeOs`, `ShowJob`, `ShowServer`,
    //! `BatchStop`, `BatchStart`), and the two ways to authenticate them: an IAM token
    //! ([`CreateToken`], for [`PasswordCredentials`] and a [`TokenScope`], answered with a
    //! [`Token`]; the request and answer are in [`wire::iam`](crate::wire::iam), the credentials
    //! in [`iam`]) or AK/SK signing ([`aksk`], [`AkSk`]).
    //! The client for them is `reimage::client::EcsClient`.
    //!
    //! Enabled by the `ecs` feature.

    #[doc(no_inline)]
    pub use crate::auth::aksk::{self, AkSk};
    #[doc(no_inline)]
    pub use crate::auth::iam::{self, PasswordCredentials, Token, TokenScope};
    #[doc(no_inline)]
    pub use crate::wire::ecs::*;
    #[doc(no_inline)]
    pub use crate::wire::iam::CreateToken;
}

#[cfg(feature = "cloudinit")]
pub mod cloudinit {
    //! Validation of cloud-init user data, with no IO: cloud-init's own verdicts (its YAML 1.1
    //! and its JSON schema, 22.4 or 26.2) at line and column, reimage's lints, and the encoding
    //! the providers expect. Everything of `reimage-cloudinit`; start with [`validate`].
    //!
    //! Enabled by the `cloudinit` feature, which alone pulls in neither tokio nor hyper.

    pub use reimage_cloudinit::*;
}

#[cfg(feature = "config")]
pub mod config {
    //! Credentials and endpoints found the way the `reimage` command line finds them: flags,
    //! then the `OS_*`, `HUAWEICLOUD_SDK_*`, `EDIS_*` and `REIMAGE_*` environment variables,
    //! then a profile of `~/.config/reimage/config.toml`. Everything of `reimage-config`; start
    //! with [`infer`] (from the process) or [`resolve`] (from what you pass in).
    //!
    //! Enabled by the `config` feature, which pulls in neither tokio nor hyper.

    pub use reimage_config::*;
}

#[cfg(feature = "hostkeys")]
pub mod hostkeys {
    //! SSH host keys after a reinstall: what cloud-init wrote to a server's console (host key
    //! fingerprints, final message, module failures, last boot only), the keys a server presents
    //! checked against it, and `known_hosts` kept right (plain, `[host]:port` and hashed entries,
    //! written atomically). Everything of `reimage-hostkeys`; start with [`console::read`].
    //!
    //! Enabled by the `hostkeys` feature, which pulls in neither tokio nor hyper.

    pub use reimage_hostkeys::*;
}

#[cfg(feature = "client")]
pub mod client {
    //! The async client on tokio, hyper and rustls: [`EcsClient`] and [`EdisClient`], with
    //! retries only where safe, sessions and tokens renewed before they expire, and waits that
    //! follow a reinstall to its end. Everything of `reimage-client`.
    //!
    //! Enabled by the `client` feature (a default), which also enables `edis` and `ecs`.

    pub use reimage_client::*;
}

#[cfg(feature = "fleet")]
pub mod fleet {
    //! Many servers, of both providers, from one TOML plan: the plan and its offline check, the
    //! fsynced journal that lets a run resume after a crash, and apply with bounded concurrency
    //! that never re-images a server twice. Everything of `reimage-fleet`, the engine of
    //! `reimage fleet`; start with [`plan::load`] and [`apply::run`].
    //!
    //! Enabled by the `fleet` feature, which also enables `client`, `config` and `cloudinit`.

    pub use reimage_fleet::*;
}

#[cfg(feature = "emulator")]
pub mod emulator {
    //! A local EDIS + ECS + IAM on loopback, over real HTTP, with fixtures, faults and an admin
    //! API: point `reimage::client` at it in tests. Everything of
    //! `reimage-emulator`; start with [`start`].
    //!
    //! Enabled by the `emulator` feature, which also enables `edis` and `ecs`.

    pub use reimage_emulator::*;
}

// The `secrecy` crate, whose `SecretString` carries every password, session signature, token and
// secret key, so that `Debug` never shows one: re-exported so that building an `AkSk` needs no
// dependency of your own. (rustdoc shows a crate re-export as one line; the feature table above
// says which features bring it.)
#[cfg(any(feature = "edis", feature = "ecs"))]
pub use secrecy;

/// The README's library example, compiled and run as a doc test (with every feature).
#[cfg(all(
    doctest,
    feature = "client",
    feature = "cloudinit",
    feature = "emulator"
))]
#[doc = include_str!("../../../README.md")]
pub struct Readme;

/// `CONTRIBUTING.md`'s walkthrough, compiled and run as doc tests so that it stays true.
#[cfg(all(doctest, feature = "client"))]
#[doc = include_str!("../../../CONTRIBUTING.md")]
pub struct ContributingGuide;

/// The ECS guide's examples (`docs/ecs.md`), compiled as doc tests.
#[cfg(all(doctest, feature = "client"))]
#[doc = include_str!("../../../docs/ecs.md")]
pub struct EcsGuide;

/// The EDIS guide's examples (`docs/edis.md`), compiled as doc tests.
#[cfg(all(doctest, feature = "client"))]
#[doc = include_str!("../../../docs/edis.md")]
pub struct EdisGuide;
