//! `cargo xtask aksk-vectors`: regenerates the AK/SK signing vectors with the official SDK.

/// Placeholder until the generator lands.
pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("not written yet".into())
}
