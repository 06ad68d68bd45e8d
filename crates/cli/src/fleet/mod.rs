//! `reimage fleet`: re-image many servers from one plan, resumably.
//!
//! - [`plan`]: the plan file (TOML), its offline check, and the inputs each target sends;
//! - [`journal`]: the append-only, fsynced journal beside the plan;
//! - [`apply`]: the runner (bounded concurrency, the evidence check on resume);
//! - [`cmd`]: `reimage fleet check|apply|status`.

pub(crate) mod apply;
pub(crate) mod cmd;
pub(crate) mod journal;
pub(crate) mod plan;
