//! `reimage-fleet`: re-image many servers, of both providers, from one plan, resumably. The
//! engine of `reimage fleet`, for any Rust program; the command line adds only its flags, its
//! confirmation prompt and its output.
//!
//! - [`plan`]: the plan file (TOML; its format is documented there), the files it names
//!   ([`Inputs`], each read once), and the offline [`check`](plan::check()) of every target, shown
//!   by [`render_table`](plan::render_table) or [`rows_json`](plan::rows_json);
//! - [`journal`]: the append-only, fsynced [`Journal`] beside the plan, with group commit,
//!   compaction and an OS lock; the journals of earlier runs kept beside it
//!   ([`archive`](journal::archive), for `apply --new-run`);
//! - [`fingerprint`]: what each target asks for, without a secret, recorded with what is sent,
//!   so that a plan edited after a run is [`changed`](fingerprint::changed), not silently
//!   skipped;
//! - [`apply`]: the [`run`](apply::run) of every target with bounded concurrency on the caller's
//!   [`Clients`], each step journaled before the call that follows it, the evidence check
//!   that settles, after a crash, a send whose answer was lost, and a [`Stop`]
//!   that ends a run early without leaving a send unrecorded;
//! - [`stages`]: what the fleet adds to the stages after an ECS job (`wait = "ssh"` or
//!   `"cloud-init"`, run from [`reimage_client::after`]): the run's one known_hosts writer, and
//!   what the journal keeps of the verified keys and of cloud-init's verdict;
//! - [`resolve`]: settling by hand a target that apply will not settle itself (an unknown
//!   outcome, a changed plan entry): its evidence, then its record;
//! - [`text`] and [`user_data`]: the one-line escaping of what is shown, and the capped reading of
//!   user data, shared with the command line.
//!
//! # Checking a plan offline
//!
//! Nothing is sent: the plan is read and every target judged. Here the credentials check says
//! yes to every profile; [`plan::credentials_ok`] asks `reimage-config`'s settings instead.
//!
//! ```
//! use reimage_fleet::plan::{self, Inputs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("reimage-fleet-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("root.pw"), "Root-Password-1\n")?;
//! std::fs::write(dir.join("user-data.yaml"), "#cloud-config\npackages: [nginx]\n")?;
//! std::fs::write(
//!     dir.join("plan.toml"),
//!     r#"
//! [defaults]
//! root_password_file = "root.pw"
//!
//! [[targets]]
//! edis = "kvm_100001_200001"
//! image = "cloudinit_debian-bookworm"
//! user_data = "user-data.yaml"
//! "#,
//! )?;
//!
//! let plan = plan::load(&dir.join("plan.toml"))?;
//! let (inputs, problems) = Inputs::load(&plan);
//! assert!(problems.is_empty());
//! let rows = plan::check(&plan, &inputs, &|_profile, _provider| Ok(()));
//! assert_eq!(rows[0].key, "edis:kvm_100001_200001");
//! assert_eq!(rows[0].login, "root password root.pw");
//! assert_eq!(rows[0].user_data, "user-data.yaml: valid (26.2)");
//! assert!(rows[0].ready(), "{:?}", rows[0].problems);
//! assert!(plan::render_table(&rows).ends_with("1 target: 1 ready, 0 with problems\n"));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Applying it
//!
//! The caller builds the clients, one per profile, on one shared transport (one pool, one rate
//! limit, one `Retry-After` pause), and is told every [`Event`] as it happens.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use reimage_client::auth::edis::EdisCredentials;
//! use reimage_client::{EdisClient, Transport, TransportConfig};
//! use reimage_fleet::apply::{self, Clients, Event, Settings};
//! use reimage_fleet::journal::{self, Journal};
//! use reimage_fleet::plan::{self, Inputs};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let path = std::path::Path::new("wave1.toml");
//!     let plan = plan::load(path)?;
//!     let (inputs, _) = Inputs::load(&plan);
//!     // Check it first, as above, and stop if any row has problems.
//!     let transport = Transport::new(TransportConfig::default().rate_limit(10.0))?;
//!     let clients = Clients::new(
//!         Box::new(|_profile| Box::pin(async { Err("this plan has no ECS targets".to_owned()) })),
//!         Box::new(move |_profile| {
//!             let resolved = reimage_config::infer(&reimage_config::Flags::default())
//!                 .map_err(|e| e.to_string())?;
//!             let (email, password) = resolved.edis_credentials().map_err(|e| e.to_string())?;
//!             let credentials =
//!                 EdisCredentials::new(email, password.clone()).map_err(|e| e.to_string())?;
//!             Ok(EdisClient::new(transport.clone(), credentials))
//!         }),
//!     );
//!     let (journal, recovered) = Journal::open(&journal::beside(path))?;
//!     let journal = Arc::new(journal);
//!     let outcomes = apply::run(
//!         Arc::new(plan),
//!         Arc::new(inputs),
//!         journal.clone(),
//!         recovered,
//!         Arc::new(clients),
//!         Settings::default(),
//!         Arc::new(|event: Event<'_>| {
//!             if let Event::Ended { key, outcome } = event {
//!                 println!("{key}: {} {}", outcome.word(), outcome.detail());
//!             }
//!         }),
//!     )
//!     .await;
//!     if let Some(journal) = Arc::into_inner(journal) {
//!         journal.close().await?;
//!     }
//!     println!("{} targets", outcomes.len());
//!     Ok(())
//! }
//! ```
//!
//! # A plan that changed
//!
//! Each record of a send holds the [`Fingerprint`] of what the plan asked for. Before sending,
//! compare the plan with the journal: a target done with another image, other user data or
//! another login is [`Changed`], and [`apply::run`] would report it as
//! [`Outcome::Changed`] without sending. Start a new run ([`journal::archive`], then a fresh
//! journal) or settle the target ([`resolve`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use reimage_fleet::{fingerprint, journal, plan};
//!
//! let path = std::path::Path::new("wave1.toml");
//! let plan = plan::load(path)?;
//! let (inputs, _) = plan::Inputs::load(&plan);
//! for changed in fingerprint::changed(&plan, &inputs, &journal::read(&journal::beside(path))?) {
//!     println!("{}: {}", changed.key, changed.line());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! [`PlanError`] lists every problem of a plan file that cannot be used; [`JournalError`] says
//! which journal file failed, how, and what to do. A target's own failure is not an error of the
//! run: it is its [`Outcome`], and the journal keeps it.

pub mod apply;
pub mod fingerprint;
pub mod journal;
pub mod plan;
pub mod resolve;
pub mod stages;
pub mod text;
pub mod user_data;

pub use apply::{Clients, Event, Outcome, Settings, Stop};
pub use fingerprint::{Changed, Fingerprint};
pub use journal::{Journal, JournalError, Record, State};
pub use plan::{CheckRow, Inputs, Plan, PlanError, Target};
