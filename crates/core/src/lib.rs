//! The models of reimage: what a reinstall or change of operating system *is*, independent of any
//! wire format or transport.
//!
//! - [`id`]: validating identifier newtypes ([`KvmId`], [`ServerId`], [`ImageId`], …). A bad value
//!   is refused at construction with a [`ValidationError`] that names the field and shows the
//!   expected form.
//! - [`password`]: secret passwords. [`AdminPassword`] follows the ECS complexity rules; its
//!   errors say which rule failed, never the password.
//! - [`input`]: the inputs of every operation ([`EdisReinstall`], [`EcsReinstall`],
//!   [`EcsChangeOs`]), whose cross-field rules are enforced when they are built.
//! - [`job`]: ECS asynchronous jobs and their statuses.
//! - [`user_data`]: user data, carried as opaque bytes (validating it is `reimage-cloudinit`'s job).
//! - [`timestamp`]: the provider timestamps, parsed leniently into UTC.
//!
//! **This crate does no IO**: it depends on neither tokio nor hyper, and it never reads a clock.
//!
//! ```
//! use reimage_core::{AdminPassword, EcsOsSpec, EcsReinstall, ServerId};
//!
//! let server: ServerId = "11111111-2222-3333-4444-555555555555".parse()?;
//! let spec = EcsOsSpec::builder()
//!     .adminpass(AdminPassword::new("Sup3r-secret")?)
//!     .stop_server(true)
//!     .build()?;
//! let input = EcsReinstall::new(spec);
//! assert!(input.spec().stop_server());
//! assert_eq!(server.as_str(), "11111111-2222-3333-4444-555555555555");
//! # Ok::<(), reimage_core::ValidationError>(())
//! ```

pub mod error;
pub mod id;
pub mod input;
pub mod job;
pub mod password;
pub mod timestamp;
pub mod user_data;

pub use error::{DecodeError, Provider, ProviderError, ResponseError, ValidationError};
pub use id::{EdisImage, ImageId, JobId, KeyPairName, KvmId, ProjectId, ServerId, UserId};
pub use input::{EcsChangeOs, EcsOsSpec, EcsOsSpecBuilder, EcsReinstall, EdisReinstall, Login};
pub use job::{Job, JobStatus, SubJob};
pub use password::{AdminPassword, RootPassword};
pub use timestamp::Timestamp;
pub use user_data::{ECS_USER_DATA_LIMIT, UserData};
