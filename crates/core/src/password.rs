//! Secret passwords, checked without ever being shown.
//!
//! Both types hold a [`SecretString`]: their `Debug` is redacted, they have no `Display`, and the
//! only way to the characters is [`ExposeSecret`], at the encoding point.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::error::ValidationError;

/// The specials that ECS allows in `adminpass`.
pub const ADMINPASS_SPECIALS: &str = "!@$%^-_=+[{}]:,./?~#*";

/// An ECS `adminpass`: the new OS's administrator password.
///
/// The ECS rules: 8 to 26 characters; at least three of upper case, lower case, digit and special;
/// specials are from `!@$%^-_=+[{}]:,./?~#*` and no other character is allowed. The error says
/// which rule failed, never the password.
///
/// ```
/// use reimage_core::AdminPassword;
///
/// assert!(AdminPassword::new("Sup3r-secret").is_ok());
/// let err = AdminPassword::new("alllowercase").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "adminpass: uses 1 of the 4 character classes; use at least 3 of upper case, lower case, \
///      digits and specials (!@$%^-_=+[{}]:,./?~#*)"
/// );
/// assert_eq!(format!("{:?}", AdminPassword::new("Sup3r-secret")?), "AdminPassword([REDACTED])");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Clone)]
pub struct AdminPassword(SecretString);

impl AdminPassword {
    /// Checks the ECS rules and keeps the password secret.
    pub fn new(password: impl Into<String>) -> Result<Self, ValidationError> {
        let password = SecretString::from(password.into());
        Self::check(password.expose_secret())?;
        Ok(Self(password))
    }

    fn check(p: &str) -> Result<(), ValidationError> {
        let fail = |problem: String, fix: &'static str| {
            Err(ValidationError::new("adminpass", problem, fix))
        };
        let len = p.chars().count();
        if len < 8 {
            return fail(
                "is shorter than 8 characters".into(),
                "use 8 to 26 characters",
            );
        }
        if len > 26 {
            return fail(
                "is longer than 26 characters".into(),
                "use 8 to 26 characters",
            );
        }
        if let Some((at, c)) = p
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || ADMINPASS_SPECIALS.contains(*c)))
        {
            let fix = if c == '\n' || c == '\r' {
                "remove it: a password file may end with one newline, which reimage removes, and \
                 hold nothing else after the password"
            } else {
                "use only letters, digits and the specials !@$%^-_=+[{}]:,./?~#*"
            };
            return fail(
                format!(
                    "contains {} (character {} of {len}), which ECS does not allow",
                    describe(c),
                    at + 1
                ),
                fix,
            );
        }
        let classes = [
            p.chars().any(|c| c.is_ascii_uppercase()),
            p.chars().any(|c| c.is_ascii_lowercase()),
            p.chars().any(|c| c.is_ascii_digit()),
            p.chars().any(|c| ADMINPASS_SPECIALS.contains(c)),
        ];
        let used = classes.iter().filter(|&&used| used).count();
        if used < 3 {
            return fail(
                format!("uses {used} of the 4 character classes"),
                "use at least 3 of upper case, lower case, digits and specials \
                 (!@$%^-_=+[{}]:,./?~#*)",
            );
        }
        Ok(())
    }

    /// The secret, for the encoder that puts it on the wire.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for AdminPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminPassword([REDACTED])")
    }
}

/// An EDIS root password for the reinstalled VPS.
///
/// EDIS documents no complexity rule, so this only refuses what cannot be right: an empty
/// password, one longer than 128 characters, and control characters (a pasted newline).
#[derive(Clone)]
pub struct RootPassword(SecretString);

impl RootPassword {
    /// Checks the password and keeps it secret.
    pub fn new(password: impl Into<String>) -> Result<Self, ValidationError> {
        let password = SecretString::from(password.into());
        let p = password.expose_secret();
        let fail = |problem: &'static str, fix: &'static str| {
            Err(ValidationError::new("password", problem, fix))
        };
        if p.is_empty() {
            return fail("is empty", "give the new root password");
        }
        if p.chars().count() > 128 {
            return fail(
                "is longer than 128 characters",
                "use at most 128 characters",
            );
        }
        if let Some((at, c)) = p.chars().enumerate().find(|(_, c)| c.is_control()) {
            return Err(ValidationError::new(
                "password",
                format!("contains {} (character {})", describe(c), at + 1),
                "remove it: a password file may end with one newline, which reimage removes, and \
                 hold nothing else after the password",
            ));
        }
        Ok(Self(password))
    }

    /// Refuses a password that no reasonable policy accepts: under 8 characters, or all of one
    /// class (only lower case, only digits, …). EDIS documents no rules for the root password,
    /// so [`new`](Self::new) takes any; the CLI calls this unless `--weak-password`.
    ///
    /// ```
    /// use reimage_core::RootPassword;
    ///
    /// assert!(RootPassword::new("abc")?.check_strength().is_err());
    /// assert!(RootPassword::new("abcdefghij")?.check_strength().is_err());
    /// assert!(RootPassword::new("Edis-Root-Pw-8472")?.check_strength().is_ok());
    /// # Ok::<(), reimage_core::ValidationError>(())
    /// ```
    pub fn check_strength(&self) -> Result<(), ValidationError> {
        let p = self.0.expose_secret();
        let len = p.chars().count();
        if len < 8 {
            return Err(ValidationError::new(
                "password",
                format!("is {len} characters long, shorter than 8"),
                "use at least 8 characters from two or more classes (upper case, lower case, \
                 digits, symbols)",
            ));
        }
        let classes = [
            p.chars().any(|c| c.is_ascii_uppercase()),
            p.chars().any(|c| c.is_ascii_lowercase()),
            p.chars().any(|c| c.is_ascii_digit()),
            p.chars().any(|c| !c.is_ascii_alphanumeric()),
        ];
        if classes.iter().filter(|&&used| used).count() < 2 {
            return Err(ValidationError::new(
                "password",
                "uses a single class of characters",
                "mix at least two of upper case, lower case, digits and symbols",
            ));
        }
        Ok(())
    }

    /// The secret, for the encoder that puts it on the wire.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for RootPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootPassword([REDACTED])")
    }
}

/// A character a password may not hold, named without showing it.
fn describe(c: char) -> &'static str {
    match c {
        '\n' => "a newline",
        '\r' => "a carriage return",
        '\t' => "a tab",
        ' ' => "a space",
        c if c.is_control() => "a control character",
        c if !c.is_ascii() => "a non-ASCII character",
        _ => "a symbol outside ECS's specials",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn adminpass_rules_table() {
        // (password, Ok, or the start of the problem)
        let cases: &[(&str, Result<(), &str>)] = &[
            ("!QAZxsw2", Ok(())),
            ("Abcdefg1", Ok(())),
            ("abcdefg1!", Ok(())),
            ("ABCDEFG1!", Ok(())),
            ("Abcdefgh!", Ok(())),
            ("Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa", Ok(())),
            ("Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1", Err("is longer")),
            ("Aa1!", Err("is shorter")),
            ("Abcdefgh", Err("uses 2 of")),
            ("12345678", Err("uses 1 of")),
            ("Abcdefg1 ", Err("contains a space (character 9 of 9)")),
            ("Abcdefg1&", Err("contains a symbol outside ECS's specials")),
            (
                "Abcdéfg1",
                Err("contains a non-ASCII character (character 5 of 8)"),
            ),
            ("Abcdefg1\n", Err("contains a newline (character 9 of 9)")),
            ("Abcdefg1\r", Err("contains a carriage return")),
            ("Abc\tdefg1", Err("contains a tab (character 4 of 9)")),
        ];
        for (password, expected) in cases {
            let got = AdminPassword::new(*password);
            match (expected, got) {
                (Ok(()), Ok(_)) => {}
                (Err(start), Err(err)) => {
                    assert_eq!(err.field(), "adminpass");
                    assert!(err.problem().starts_with(start), "{password:?}: {err}");
                    assert!(
                        !err.to_string().contains(password),
                        "the error shows the password"
                    );
                }
                (expected, got) => panic!("{password:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn every_special_is_allowed() {
        for c in ADMINPASS_SPECIALS.chars() {
            let p = format!("Abcdefg{c}");
            assert!(AdminPassword::new(p.clone()).is_ok(), "{p:?}");
        }
    }

    #[test]
    fn root_password_rules() {
        assert!(RootPassword::new("x").is_ok());
        assert!(RootPassword::new("").is_err());
        let newline = RootPassword::new("abc\n").unwrap_err();
        assert_eq!(newline.problem(), "contains a newline (character 4)");
        // EDIS documents no rules; the strength check is the CLI's, and separate.
        assert!(RootPassword::new("abc").unwrap().check_strength().is_err());
        assert!(
            RootPassword::new("correcthorse")
                .unwrap()
                .check_strength()
                .unwrap_err()
                .problem()
                .contains("single class")
        );
        assert!(
            RootPassword::new("Edis-Root-Pw-8472")
                .unwrap()
                .check_strength()
                .is_ok()
        );
        assert!(RootPassword::new("a".repeat(129)).is_err());
        assert_eq!(
            format!("{:?}", RootPassword::new("hunter2").unwrap()),
            "RootPassword([REDACTED])"
        );
    }

    proptest! {
        #[test]
        fn error_never_contains_the_password(rest in "\\PC{0,40}") {
            // "QX" appears in no message, so a hit can only be the password itself.
            let p = format!("QX{rest}");
            if let Err(err) = AdminPassword::new(p.clone()) {
                prop_assert!(!err.to_string().contains(&p));
                let debug = format!("{:?}", err);
                prop_assert!(!debug.contains(&p));
            }
        }
    }
}
