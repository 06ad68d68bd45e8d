//! Validate cloud-init user data before a reinstall, with the verdicts cloud-init itself gives, at
//! line and column, and the checks cloud-init does not make.
//!
//! **This crate does no IO and does not depend on tokio or hyper**: a user who only lints
//! cloud-config gets a light build.
//!
//! - [`kind`]: recognises the kind of user data as cloud-init does (`#cloud-config`, scripts,
//!   MIME multipart, gzip, …).
//! - [`yaml`]: YAML 1.1 as PyYAML reads it, into a tree that keeps positions.
//! - [`schema`]: cloud-init's JSON schema (22.4 or 26.2), embedded in compact form.
//! - [`jinja`]: `## template: jinja` rendered as cloud-init renders it, with the instance data.
//! - [`lint`]: reimage's own warnings, each with a code and a switch.
//! - [`multipart`]: MIME multipart user data and `#cloud-config-archive`, split into parts and
//!   merged as cloud-init does.
//! - [`encode`]: base64, gzip and the providers' size limits.
//!
//! [`validate`] runs them all and returns a [`Report`]:
//!
//! ```
//! use reimage_cloudinit::{Options, Severity};
//!
//! let user_data = b"#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\npower_state: {mode: restart}\n";
//! let report = reimage_cloudinit::validate(user_data, &Options::default());
//! assert!(!report.valid());
//! let finding = &report.findings[0];
//! assert_eq!(finding.severity, Severity::Error);
//! assert_eq!(finding.path, "power_state.mode");
//! assert_eq!((finding.line, finding.column), (3, 21));
//! assert_eq!(finding.message, "\"restart\" is not one of poweroff, reboot, halt");
//! ```

pub mod encode;
pub mod finding;
pub mod jinja;
pub mod kind;
pub mod lint;
pub mod multipart;
pub mod redact;
pub mod schema;
mod validate;
pub mod windows;
pub mod yaml;

pub use finding::{Code, Finding, PartRef, Severity};
pub use kind::Kind;
pub use validate::{Options, Os, Report, template, validate};
