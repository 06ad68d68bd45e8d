//! Findings: what validation says about a file, located at a path, a line and a column.

use std::fmt;

/// How bad a finding is: an error makes the file invalid; a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file is invalid: cloud-init would reject or drop this part.
    Error,
    /// The file is valid, but something is likely wrong.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which check produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Code {
    /// cloud-init's JSON schema (`schema`).
    Schema,
    /// The YAML itself (`yaml`): syntax errors, and duplicate keys (a warning).
    Yaml,
    /// The kind of user data and its format (`kind`): a header cloud-init will not recognise.
    Kind,
    /// A deprecated key (`deprecated`): cloud-init warns, and so does reimage.
    Deprecated,
    /// A Jinja template (`jinja`): a syntax error, a variable the instance data does not have.
    Jinja,
    /// What Cloudbase-Init does with the user data of a Windows image (`cloudbase-init`).
    CloudbaseInit,
    /// One of reimage's own lints, by its code (`lockout`, `plaintext-password`, …).
    Lint(crate::lint::Lint),
}

impl Code {
    /// The code as printed: `schema`, `yaml`, `kind`, `deprecated`, `jinja`, `cloudbase-init` or
    /// the lint's own code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schema => "schema",
            Self::Yaml => "yaml",
            Self::Kind => "kind",
            Self::Deprecated => "deprecated",
            Self::Jinja => "jinja",
            Self::CloudbaseInit => "cloudbase-init",
            Self::Lint(lint) => lint.code(),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing validation found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The check that found it.
    pub code: Code,
    /// The JSON path in cloud-init's dotted form (`write_files.0.permissions`); empty for the
    /// whole document.
    pub path: String,
    /// The 1-based line in the file (counting the header line).
    pub line: u32,
    /// The 1-based column.
    pub column: u32,
    /// What is wrong, for a person (`power_state.mode: "restart" is not one of reboot, poweroff,
    /// halt`).
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(
        severity: Severity,
        code: Code,
        path: impl Into<String>,
        mark: crate::yaml::Mark,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            code,
            path: path.into(),
            line: mark.line,
            column: mark.column,
            message: message.into(),
        }
    }
}
