//! [`ConfigError`]: what is wrong with the settings, and how to fix it.

/// Something the person got wrong or has not set up. `Display` is one line: what (a field, file,
/// flag or variable), the problem, and the fix. It never holds a secret value.
///
/// The fields are the parts of that line, for a program that words its own message; the enum and
/// its variants are `#[non_exhaustive]`, so match them with `..` and a catch-all arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file is missing, unreadable, not TOML, or holds a key or profile that is wrong.
    #[non_exhaustive]
    #[error("config file {file}: {problem}; {fix}")]
    File {
        /// The file, with `~` for the home directory.
        file: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// A value (a region, cloud or URL) is not acceptable. Never used for secrets.
    #[non_exhaustive]
    #[error("{field} {value:?}: {problem}; {fix}")]
    Invalid {
        /// Where the value came from: a flag, a variable or a profile key.
        field: String,
        /// The value as given.
        value: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// A secret file (or stdin) could not be used. Names the path, never the content.
    #[non_exhaustive]
    #[error("secret file {path}: {problem}; {fix}")]
    SecretFile {
        /// The file as given, or `-` for stdin.
        path: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// An environment variable is not UTF-8.
    #[non_exhaustive]
    #[error("environment variable {name}: {problem}; {fix}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// Flags that cannot be used together.
    #[non_exhaustive]
    #[error("{problem}; {fix}")]
    Usage {
        /// What is wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// Something needed (an endpoint, a project, credentials) is set nowhere.
    #[non_exhaustive]
    #[error("no {what} ({context}): {fix}")]
    Missing {
        /// What is missing.
        what: String,
        /// Which config file and profile were looked at.
        context: String,
        /// The flags, variables and profile keys that would provide it.
        fix: String,
    },
}
