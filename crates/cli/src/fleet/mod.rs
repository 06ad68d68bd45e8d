//! `reimage fleet`: re-image many servers from one plan, resumably. The engine is the
//! `reimage-fleet` library (the plan and its check, the journal, apply); this module is its
//! command line, [`cmd`]: `reimage fleet check|apply|status`.

pub(crate) mod cmd;
