//! Validate cloud-init user data before a reinstall, with the verdicts cloud-init itself gives, at
//! line and column, and the checks cloud-init does not make.
//!
//! **This crate does no IO and does not depend on tokio or hyper**: a user who only lints
//! cloud-config gets a light build.
//!
//! - `kind`: recognises the kind of user data as cloud-init does (`#cloud-config`, scripts,
//!   MIME multipart, gzip, …).
//! - [`yaml`]: YAML 1.1 as PyYAML reads it, into a tree that keeps positions.
//! - `schema`: cloud-init's JSON schema (22.4 or 26.2), embedded in compact form.
//! - [`lint`]: reimage's own warnings, each with a code and a switch.
//! - `encode`: base64, gzip and the providers' size limits.

pub mod finding;
pub mod lint;
pub mod yaml;

pub use finding::{Code, Finding, Severity};
