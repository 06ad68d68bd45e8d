//! reimage's own lints: the checks cloud-init does not make. Each has a code and can be switched
//! off.

use std::fmt;

/// A lint: a check cloud-init does not make, with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Lint {
    /// `lockout`: the config leaves no way to log in.
    Lockout,
    /// `plaintext-password`: a password in clear text.
    PlaintextPassword,
    /// `flattened-content`: `write_files` content that looks like indentation was lost.
    FlattenedContent,
    /// `early-power-state`: `power_state` may reboot before `runcmd` finishes.
    EarlyPowerState,
    /// `size-limit`: user data over the provider's limit.
    SizeLimit,
}

impl Lint {
    /// Every lint, in code order.
    pub const ALL: [Lint; 5] = [
        Lint::EarlyPowerState,
        Lint::FlattenedContent,
        Lint::Lockout,
        Lint::PlaintextPassword,
        Lint::SizeLimit,
    ];

    /// The lint's code, as printed and as given to switch it off.
    pub fn code(self) -> &'static str {
        match self {
            Self::Lockout => "lockout",
            Self::PlaintextPassword => "plaintext-password",
            Self::FlattenedContent => "flattened-content",
            Self::EarlyPowerState => "early-power-state",
            Self::SizeLimit => "size-limit",
        }
    }

    /// The lint with `code`, if there is one.
    pub fn from_code(code: &str) -> Option<Lint> {
        Self::ALL.into_iter().find(|lint| lint.code() == code)
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
