//! `reimage fleet`: re-image many servers from one plan, resumably. The engine is the
//! `reimage-fleet` library (the plan and its check, the journal, the fingerprints, apply, the
//! resolutions); this module is its command line: [`cmd`] (`reimage fleet
//! check|apply|status|resolve`), [`accounts`] (the accounts a run uses, listed before it asks)
//! and [`resolve`] (settling one target by hand).

mod accounts;
pub(crate) mod cmd;
mod resolve;
