//! The config file: where it is, its format (see the [crate] documentation), how it is read,
//! and its checks (unknown keys with the nearest known one, values that are not strings, syntax
//! errors at line and column, secrets in a file that others can read). Then which of its
//! profiles is used.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use crate::{ConfigError, Env, Flags};

/// The largest config file read: 1 MiB. Real ones are a few hundred bytes.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// The file under the config directory.
const CONFIG_RELATIVE: &str = "reimage/config.toml";

/// The keys of a `[profiles.NAME]` table, in the order the file format lists them.
const PROFILE_KEYS: &[&str] = &[
    "cloud",
    "region",
    "endpoint",
    "iam_endpoint",
    "project_id",
    "project_name",
    "domain",
    "username",
    "password",
    "password_file",
    "access_key",
    "secret_key",
    "secret_key_file",
    "security_token",
    "edis_email",
    "edis_password",
    "edis_password_file",
    "edis_auth_url",
    "ca_file",
];

/// The keys at the top of the config file.
const TOP_KEYS: &[&str] = &["default_profile", "profiles"];
/// The config file as serde reads it. [`check_table`] looks at the raw table first and refuses
/// unknown keys and wrong types with a precise message; `deny_unknown_fields` is the backstop.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One `[profiles.NAME]` table. Secrets become [`SecretString`] as they are read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub(crate) cloud: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) iam_endpoint: Option<String>,
    pub(crate) project_id: Option<String>,
    pub(crate) project_name: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) username: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) password: Option<SecretString>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) access_key: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) secret_key: Option<SecretString>,
    pub(crate) secret_key_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) security_token: Option<SecretString>,
    pub(crate) edis_email: Option<String>,
    #[serde(default, deserialize_with = "secret")]
    pub(crate) edis_password: Option<SecretString>,
    pub(crate) edis_password_file: Option<PathBuf>,
    pub(crate) edis_auth_url: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
}

impl Profile {
    fn holds_secret(&self) -> bool {
        self.password.is_some()
            || self.secret_key.is_some()
            || self.security_token.is_some()
            || self.edis_password.is_some()
    }
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

/// The config file found (or looked for).
pub(crate) struct Loaded {
    /// The path looked at, with `~` for the home directory.
    pub(crate) shown: Option<String>,
    /// Its directory, for relative paths in it.
    pub(crate) dir: PathBuf,
    /// The content, when the file exists.
    pub(crate) config: Option<ConfigFile>,
}

/// Which config file to read, and whether it was named (then it must exist).
fn config_path(
    flags: &Flags,
    env: &Env,
    home: Option<&Path>,
) -> Result<Option<(PathBuf, Option<&'static str>)>, ConfigError> {
    if let Some(path) = &flags.config {
        return Ok(Some((path.clone(), Some("--config"))));
    }
    if let Some(path) = env.get("REIMAGE_CONFIG")? {
        return Ok(Some((PathBuf::from(path), Some("REIMAGE_CONFIG"))));
    }
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    if let Some(xdg) = env.get("XDG_CONFIG_HOME")?.map(Path::new)
        && xdg.is_absolute()
    {
        return Ok(Some((xdg.join(CONFIG_RELATIVE), None)));
    }
    Ok(home.map(|h| (h.join(".config").join(CONFIG_RELATIVE), None)))
}

pub(crate) fn load_config(
    flags: &Flags,
    env: &Env,
    home: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Loaded, ConfigError> {
    let Some((path, named_by)) = config_path(flags, env, home)? else {
        return Ok(Loaded {
            shown: None,
            dir: PathBuf::new(),
            config: None,
        });
    };
    let shown = shorten(&path, home);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let file_error = |problem: String, fix: &str| ConfigError::File {
        file: shown.clone(),
        problem,
        fix: fix.to_owned(),
    };
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return match named_by {
                Some(by) => Err(file_error(
                    format!("does not exist (named by {by})"),
                    &format!("create it or fix {by}"),
                )),
                None => Ok(Loaded {
                    shown: Some(shown),
                    dir,
                    config: None,
                }),
            };
        }
        Err(e) => return Err(file_error(format!("cannot be read: {e}"), "check the file")),
    };
    if meta.is_dir() {
        return Err(file_error(
            "is a directory".to_owned(),
            "point at the config.toml file",
        ));
    }
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(file_error(
            format!("is larger than {MAX_CONFIG_SIZE} bytes"),
            "point at the config.toml file",
        ));
    }
    let bytes = fs::read(&path)
        .map_err(|e| file_error(format!("cannot be read: {e}"), "check the file"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| file_error("is not UTF-8 text".to_owned(), "save it as UTF-8"))?;
    let config = parse_config(&text, &shown)?;

    if config.profiles.values().any(Profile::holds_secret)
        && let Some(mode) = loose_mode(&meta)
    {
        warnings.push(format!(
            "warning: {shown} holds secrets and is readable by others (mode {mode:03o}); \
             run chmod 600 {shown}"
        ));
    }
    Ok(Loaded {
        shown: Some(shown),
        dir,
        config: Some(config),
    })
}

/// The permission bits when group or others have any access, on unix.
#[cfg(unix)]
fn loose_mode(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Other systems have no mode bits to check.
#[cfg(not(unix))]
fn loose_mode(_meta: &fs::Metadata) -> Option<u32> {
    None
}

/// Parses and checks the text of a config file. Messages never quote the file's content, since
/// a line of it may hold a secret.
fn parse_config(text: &str, shown: &str) -> Result<ConfigFile, ConfigError> {
    let file_error = |problem: String, fix: String| ConfigError::File {
        file: shown.to_owned(),
        problem,
        fix,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let before = text.get(..span.start).unwrap_or_default();
                let line = before.matches('\n').count() + 1;
                let column = before
                    .rsplit('\n')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .count()
                    + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        file_error(
            format!("is not valid TOML{at}: {message}"),
            "fix the syntax (see https://toml.io)".to_owned(),
        )
    })?;
    check_table(&table).map_err(|(problem, fix)| file_error(problem, fix))?;
    // `check_table` has seen every key and type, so this cannot fail on them; its message is not
    // shown in case it quotes a value.
    table.try_into().map_err(|_| {
        file_error(
            "does not have the shape of a reimage config".to_owned(),
            "compare it with the format in docs/cli.md".to_owned(),
        )
    })
}

/// Refuses unknown keys and values that are not strings, with a precise problem and fix.
fn check_table(table: &toml::Table) -> Result<(), (String, String)> {
    for (key, value) in table {
        match key.as_str() {
            "default_profile" => {
                if !value.is_str() {
                    return Err(not_a_string(key, "at the top level"));
                }
            }
            "profiles" => {
                let Some(profiles) = value.as_table() else {
                    return Err((
                        "key profiles must be a table".to_owned(),
                        "write each profile as [profiles.NAME]".to_owned(),
                    ));
                };
                for (name, profile) in profiles {
                    let Some(profile) = profile.as_table() else {
                        let fix = if PROFILE_KEYS.contains(&name.as_str()) {
                            format!(
                                "{name} belongs in a profile: write [profiles.NAME], not [profiles]"
                            )
                        } else {
                            format!("write it as [profiles.{name}] followed by its keys")
                        };
                        return Err((format!("profiles.{name} must be a table"), fix));
                    };
                    let place = format!("in [profiles.{name}]");
                    for (key, value) in profile {
                        if !PROFILE_KEYS.contains(&key.as_str()) {
                            return Err(unknown_key(key, &place, PROFILE_KEYS));
                        }
                        if !value.is_str() {
                            return Err(not_a_string(key, &place));
                        }
                    }
                }
            }
            _ => {
                let (problem, fix) = unknown_key(key, "at the top level", TOP_KEYS);
                if PROFILE_KEYS.contains(&key.as_str()) {
                    return Err((
                        problem,
                        format!("{key} belongs in a profile: move it under [profiles.NAME]"),
                    ));
                }
                return Err((problem, fix));
            }
        }
    }
    Ok(())
}

fn not_a_string(key: &str, place: &str) -> (String, String) {
    (
        format!("key {key:?} {place} must be a string"),
        format!("write it as {key} = \"...\""),
    )
}

fn unknown_key(key: &str, place: &str, known: &[&str]) -> (String, String) {
    let hint = crate::text::closest(key, known)
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    (
        format!("unknown key {key:?} {place}{hint}"),
        format!("the keys are {}; rename or remove it", known.join(", ")),
    )
}

/// `path` with the home directory shown as `~`.
pub(crate) fn shorten(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

/// The profile in use.
pub(crate) struct Selected<'a> {
    pub(crate) name: &'a str,
    pub(crate) file: &'a str,
    pub(crate) dir: &'a Path,
    pub(crate) profile: &'a Profile,
}

pub(crate) fn select_profile<'a>(
    flags: &'a Flags,
    env: &'a Env,
    loaded: &'a Loaded,
) -> Result<Option<Selected<'a>>, ConfigError> {
    let config = loaded.config.as_ref();
    let named = match (&flags.profile, env.get("REIMAGE_PROFILE")?) {
        (Some(name), _) => Some((name.as_str(), "--profile")),
        (None, Some(name)) => Some((name, "REIMAGE_PROFILE")),
        (None, None) => config
            .and_then(|c| c.default_profile.as_deref())
            .map(|name| (name, "default_profile")),
    };
    let shown = loaded.shown.as_deref().unwrap_or("(none)");
    let Some(config) = config else {
        return match named {
            Some((name, by)) => Err(ConfigError::File {
                file: shown.to_owned(),
                problem: format!("does not exist, so it has no profile {name:?} (chosen by {by})"),
                fix: format!("create it with a [profiles.{name}] table, or drop {by}"),
            }),
            None => Ok(None),
        };
    };
    let name = match named {
        Some((name, by)) => {
            if !config.profiles.contains_key(name) {
                let existing = if config.profiles.is_empty() {
                    "the file has no profiles".to_owned()
                } else {
                    let names: Vec<String> =
                        config.profiles.keys().map(|n| format!("{n:?}")).collect();
                    format!("the profiles are {}", names.join(", "))
                };
                return Err(ConfigError::File {
                    file: shown.to_owned(),
                    problem: format!("no profile {name:?} (chosen by {by})"),
                    fix: format!("{existing}; pick one of them or add [profiles.{name}]"),
                });
            }
            name
        }
        None if config.profiles.contains_key("default") => "default",
        None => return Ok(None),
    };
    let Some((name, profile)) = config.profiles.get_key_value(name) else {
        return Ok(None);
    };
    Ok(Some(Selected {
        name,
        file: shown,
        dir: &loaded.dir,
        profile,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve;
    use crate::test_support::{FULL, TempHome, set_mode};

    #[test]
    fn profile_selection() {
        let home = TempHome::new();
        home.config(FULL);
        let profile = |flags: &Flags, env: &[(&str, &str)]| {
            home.resolve(flags, env).unwrap().source.profile.unwrap()
        };
        let dev = Flags {
            profile: Some("dev".into()),
            ..Flags::default()
        };
        assert_eq!(profile(&dev, &[("REIMAGE_PROFILE", "default")]), "dev");
        assert_eq!(
            profile(&Flags::default(), &[("REIMAGE_PROFILE", "default")]),
            "default"
        );
        assert_eq!(profile(&Flags::default(), &[]), "prod");

        // Without default_profile, a profile called "default" is used.
        home.config(&FULL.replace("default_profile = \"prod\"", ""));
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.source.profile.as_deref(), Some("default"));
        assert_eq!(r.ecs.region.as_deref(), Some("ap-southeast-1"));

        // Without either, no profile.
        home.config("[profiles.x]\nregion = \"eu-de\"\n");
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.source.profile, None);
        assert_eq!(r.ecs.region, None);
        assert_eq!(
            r.source.describe(),
            "~/.config/reimage/config.toml, no profile selected"
        );
    }

    #[test]
    fn xdg_and_reimage_config_choose_the_file() {
        let home = TempHome::new();
        let xdg = home.path().join("xdg");
        home.write(
            &xdg.join("reimage/config.toml"),
            b"[profiles.default]\nregion = \"xdg-region\"\n",
        );
        let other = home.path().join("other.toml");
        home.write(&other, b"[profiles.default]\nregion = \"other-region\"\n");
        let xdg_text = xdg.to_str().unwrap();
        let other_text = other.to_str().unwrap();

        let r = home
            .resolve(&Flags::default(), &[("XDG_CONFIG_HOME", xdg_text)])
            .unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("xdg-region"));
        assert_eq!(r.source.file.as_deref(), Some("~/xdg/reimage/config.toml"));
        let env = [
            ("XDG_CONFIG_HOME", xdg_text),
            ("REIMAGE_CONFIG", other_text),
        ];
        let r = home.resolve(&Flags::default(), &env).unwrap();
        assert_eq!(r.ecs.region.as_deref(), Some("other-region"));

        // A relative XDG_CONFIG_HOME is ignored; the default file is missing, which is fine.
        let r = home
            .resolve(&Flags::default(), &[("XDG_CONFIG_HOME", "relative")])
            .unwrap();
        assert!(!r.source.file_found);
        assert_eq!(
            r.source.describe(),
            "no config file at ~/.config/reimage/config.toml"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_the_fix() {
        let home = TempHome::new();
        home.config("[profiles.prod]\npasword = \"x\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: unknown key \"pasword\" in \
             [profiles.prod] (did you mean \"password\"?); the keys are cloud, region, endpoint, \
             iam_endpoint, project_id, project_name, domain, username, password, password_file, \
             access_key, secret_key, secret_key_file, security_token, edis_email, edis_password, \
             edis_password_file, edis_auth_url, ca_file; rename or remove it"
        );

        home.config("region = \"eu-de\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: unknown key \"region\" at the top level; \
             region belongs in a profile: move it under [profiles.NAME]"
        );

        home.config("[profile.prod]\nregion = \"eu-de\"\n");
        let error = home.error(&Flags::default(), &[]);
        assert!(
            error.contains("unknown key \"profile\" at the top level (did you mean \"profiles\"?)"),
            "{error}"
        );

        home.config("[profiles.prod]\nregion = 5\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: key \"region\" in [profiles.prod] must be \
             a string; write it as region = \"...\""
        );
    }

    /// The crate documentation's example config file is valid and shows every profile key.
    #[test]
    fn the_documented_example_has_every_key_and_is_valid() {
        let lib = include_str!("lib.rs");
        let open = "//! ```toml\n";
        let start = lib.find(open).unwrap() + open.len();
        let end = start + lib[start..].find("//! ```\n").unwrap();
        let text: String = lib[start..end]
            .lines()
            .map(|line| {
                let line = line.strip_prefix("//!").unwrap();
                format!("{}\n", line.strip_prefix(' ').unwrap_or(line))
            })
            .collect();
        let config = parse_config(&text, "lib.rs").unwrap();
        assert_eq!(config.default_profile.as_deref(), Some("otc-prod"));
        assert_eq!(config.profiles.len(), 4);
        for key in PROFILE_KEYS {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{key} = "))),
                "the example does not show {key}"
            );
        }
    }

    #[test]
    fn the_key_list_matches_the_struct() {
        let mut profile = toml::Table::new();
        for key in PROFILE_KEYS {
            profile.insert((*key).to_owned(), toml::Value::String("x".into()));
        }
        let mut table = toml::Table::new();
        table.insert("default_profile".into(), toml::Value::String("p".into()));
        let mut profiles = toml::Table::new();
        profiles.insert("p".into(), toml::Value::Table(profile.clone()));
        table.insert("profiles".into(), toml::Value::Table(profiles));
        assert!(check_table(&table).is_ok());
        assert!(table.clone().try_into::<ConfigFile>().is_ok());
        // And serde refuses what check_table refuses.
        let mut bad = table;
        bad.insert("surprise".into(), toml::Value::String("x".into()));
        assert!(check_table(&bad).is_err());
        assert!(bad.try_into::<ConfigFile>().is_err());
    }

    #[test]
    fn unknown_profiles_list_the_ones_that_exist() {
        let home = TempHome::new();
        home.config(FULL);
        let flags = Flags {
            profile: Some("stage".into()),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&flags, &[]),
            "config file ~/.config/reimage/config.toml: no profile \"stage\" (chosen by \
             --profile); the profiles are \"default\", \"dev\", \"prod\"; pick one of them or add \
             [profiles.stage]"
        );
        let error = home.error(&Flags::default(), &[("REIMAGE_PROFILE", "stage")]);
        assert!(error.contains("(chosen by REIMAGE_PROFILE)"), "{error}");

        home.config("default_profile = \"gone\"\n");
        assert_eq!(
            home.error(&Flags::default(), &[]),
            "config file ~/.config/reimage/config.toml: no profile \"gone\" (chosen by \
             default_profile); the file has no profiles; pick one of them or add [profiles.gone]"
        );

        // Naming a profile with no config file at all is an error too.
        let empty = TempHome::new();
        assert_eq!(
            empty.error(&flags, &[]),
            "config file ~/.config/reimage/config.toml: does not exist, so it has no profile \
             \"stage\" (chosen by --profile); create it with a [profiles.stage] table, or drop \
             --profile"
        );
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let home = TempHome::new();
        let flags = Flags {
            config: Some(home.path().join("nope.toml")),
            ..Flags::default()
        };
        assert_eq!(
            home.error(&flags, &[]),
            "config file ~/nope.toml: does not exist (named by --config); create it or fix \
             --config"
        );
        let missing = home.path().join("gone.toml");
        let error = home.error(
            &Flags::default(),
            &[("REIMAGE_CONFIG", missing.to_str().unwrap())],
        );
        assert_eq!(
            error,
            "config file ~/gone.toml: does not exist (named by REIMAGE_CONFIG); create it or fix \
             REIMAGE_CONFIG"
        );
        // Without a home directory there is no default file and nothing to complain about.
        let r = resolve(&Flags::default(), &Env::default(), None, &mut io::empty()).unwrap();
        assert_eq!(r.source.describe(), "no config file: no home directory");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let home = TempHome::new();
        home.config("[profiles.prod]\nregion = eu-de\n");
        let error = home.error(&Flags::default(), &[]);
        assert!(
            error.starts_with(
                "config file ~/.config/reimage/config.toml: is not valid TOML at line 2, column 10: "
            ),
            "{error}"
        );
        assert!(
            error.ends_with("; fix the syntax (see https://toml.io)"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn secrets_in_a_readable_file_give_a_warning() {
        let home = TempHome::new();
        let path = home.config("[profiles.default]\nsecret_key = \"s\"\naccess_key = \"a\"\n");
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(r.warnings, Vec::<String>::new());

        set_mode(&path, 0o644);
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert_eq!(
            r.warnings,
            [
                "warning: ~/.config/reimage/config.toml holds secrets and is readable by others \
              (mode 644); run chmod 600 ~/.config/reimage/config.toml"
            ]
        );

        // No secret, no warning.
        home.config("[profiles.default]\nregion = \"eu-de\"\n");
        set_mode(&path, 0o644);
        let r = home.resolve(&Flags::default(), &[]).unwrap();
        assert!(r.warnings.is_empty());
    }
}
