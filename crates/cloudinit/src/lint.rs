//! reimage's own lints: the checks cloud-init does not make. Each has a code and can be switched
//! off, and each gives a warning, never an error: cloud-init would accept the file.
//!
//! - `lockout`: the config leaves no way to log in. A way in is an SSH key of a user who can log
//!   in, or a password that is not locked; a password or key pair given to the provider counts
//!   too ([`LintContext::provider_login`]). Checked: `ssh_authorized_keys` and `ssh_import_id`
//!   (top level and per user), `password`, `chpasswd`, the users' `passwd`, `hashed_passwd` and
//!   `plain_text_passwd` with `lock_passwd` (which defaults to true, so a user's password is locked
//!   unless `lock_passwd: false`), whether the default user exists (`users` without `default`
//!   removes it), and `disable_root` (on by default: root's keys then only print "Please login as
//!   …"). `ssh_pwauth: false` leaves passwords to the provider's console: that is said, too.
//! - `plaintext-password`: a password written in clear text (`password`, `chpasswd` entries that
//!   are not hashes, `plain_text_passwd`). The message never shows the password.
//! - `flattened-content`: `write_files` fields (`content`, `owner`, `permissions`, …) at the top
//!   level, or an empty `content` block: the shape that the EDIS seed's example gets when its
//!   indentation is lost, which makes cloud-init write empty files.
//! - `early-power-state`: a reboot or power-off that cuts `runcmd` short: a `reboot`, `shutdown`,
//!   `poweroff` or `halt` command in `runcmd` before its last entry, or a `power_state` change
//!   while `runcmd` leaves work running in the background (`&`, `nohup`, `systemd-run`, …), which
//!   the reboot kills.
//! - `size-limit`: user data over the target provider's limit (ECS: 32 KB before base64).

use std::collections::BTreeSet;
use std::fmt;

use crate::finding::{Code, Finding, Severity};
use crate::yaml::{Mark, Node, Value};

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

/// What the lints know about where the user data goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LintContext {
    /// The lints that are switched off.
    pub disabled: BTreeSet<Lint>,
    /// Whether the provider is given a password or key pair for the new OS, which is a way in
    /// whatever the user data says.
    pub provider_login: bool,
    /// The target provider's size limit for user data, in bytes before any encoding.
    pub size_limit: Option<usize>,
}

impl LintContext {
    /// Whether `lint` is on.
    pub fn enabled(&self, lint: Lint) -> bool {
        !self.disabled.contains(&lint)
    }
}

/// Runs every enabled lint on a parsed `#cloud-config` document.
pub fn check_cloud_config(root: &Node, context: &LintContext) -> Vec<Finding> {
    let mut out = Vec::new();
    if !matches!(root.value, Value::Map(_)) {
        return out;
    }
    if context.enabled(Lint::Lockout) {
        lockout(root, context, &mut out);
    }
    if context.enabled(Lint::PlaintextPassword) {
        plaintext_passwords(root, &mut out);
    }
    if context.enabled(Lint::FlattenedContent) {
        flattened_content(root, &mut out);
    }
    if context.enabled(Lint::EarlyPowerState) {
        early_power_state(root, &mut out);
    }
    out
}

/// The size check, on the raw bytes of any kind of user data.
pub fn check_size(bytes: &[u8], context: &LintContext) -> Option<Finding> {
    let limit = context.size_limit?;
    (context.enabled(Lint::SizeLimit) && bytes.len() > limit).then(|| {
        warn(
            Lint::SizeLimit,
            "",
            Mark { line: 1, column: 1, index: 0 },
            format!(
                "the user data is {} bytes, over the provider's limit of {limit} bytes (before base64); \
                 the provider will refuse it: shorten it, or gzip it if the image's cloud-init accepts that",
                bytes.len()
            ),
        )
    })
}

fn warn(lint: Lint, path: impl Into<String>, mark: Mark, message: impl Into<String>) -> Finding {
    Finding::new(Severity::Warning, Code::Lint(lint), path, mark, message)
}

// ---- small readers over the tree -------------------------------------------------------------

fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

pub(crate) fn text(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// PyYAML booleans, and the strings cloud-init's `util.is_true`/`is_false` accept.
fn truthy(node: &Node) -> Option<bool> {
    match &node.value {
        Value::Bool(b) => Some(*b),
        Value::Str(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Some(true),
            "false" | "0" | "off" | "no" => Some(false),
            _ => None,
        },
        Value::Int(1) => Some(true),
        Value::Int(0) => Some(false),
        _ => None,
    }
}

pub(crate) fn items(node: &Node) -> &[Node] {
    match &node.value {
        Value::Seq(items) => items,
        _ => &[],
    }
}

/// A non-empty list, or a non-empty string (cloud-init accepts a single key as a string).
fn has_entries(node: Option<&Node>) -> bool {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => !items.is_empty(),
        Some(Value::Str(s)) => !s.trim().is_empty(),
        Some(Value::Map(entries)) => !entries.is_empty(),
        _ => false,
    }
}

// ---- lockout ---------------------------------------------------------------------------------

fn lockout(root: &Node, context: &LintContext, out: &mut Vec<Finding>) {
    if context.provider_login {
        return;
    }
    let users = get(root, "users");
    // `users` absent keeps the distro's default user; present, it keeps it only if it lists
    // `default`.
    let default_user_exists = match users.map(|u| &u.value) {
        None | Some(Value::Null) => true,
        Some(Value::Str(s)) => s.split(',').any(|part| part.trim() == "default"),
        Some(Value::Seq(list)) => list.iter().any(|u| text(u) == Some("default")),
        Some(_) => false,
    };
    let default_is_root = match get(root, "user") {
        Some(node) => {
            text(node) == Some("root") || get(node, "name").and_then(text) == Some("root")
        }
        None => false,
    };
    let disable_root = get(root, "disable_root").and_then(truthy).unwrap_or(true);
    let ssh_pwauth = get(root, "ssh_pwauth").and_then(truthy);

    let mut key_ways = Vec::new();
    let mut password_ways = Vec::new();
    let mut locked_passwords = Vec::new();

    let top_keys =
        has_entries(get(root, "ssh_authorized_keys")) || has_entries(get(root, "ssh_import_id"));
    if top_keys {
        if default_user_exists && !(default_is_root && disable_root) {
            key_ways.push("the default user's ssh_authorized_keys".to_owned());
        } else if !disable_root {
            key_ways.push("root's ssh_authorized_keys (disable_root is false)".to_owned());
        }
    }
    if default_user_exists
        && get(root, "password")
            .and_then(text)
            .is_some_and(|p| !p.is_empty())
    {
        password_ways.push("password (the default user's)".to_owned());
    }
    if let Some(chpasswd) = get(root, "chpasswd") {
        let listed = has_entries(get(chpasswd, "list")) || has_entries(get(chpasswd, "users"));
        if listed {
            password_ways.push("chpasswd".to_owned());
        }
    }
    for (i, user) in users.map_or(&[][..], items).iter().enumerate() {
        if !matches!(user.value, Value::Map(_)) {
            continue;
        }
        let name = get(user, "name").and_then(text).unwrap_or("?");
        if name == "root" && disable_root {
            continue;
        }
        if has_entries(get(user, "ssh_authorized_keys")) || has_entries(get(user, "ssh_import_id"))
        {
            key_ways.push(format!("users.{i} ({name})'s SSH keys"));
        }
        let has_password = ["passwd", "hashed_passwd", "plain_text_passwd"]
            .iter()
            .any(|k| get(user, k).and_then(text).is_some_and(|p| !p.is_empty()));
        if has_password {
            let locked = get(user, "lock_passwd").and_then(truthy).unwrap_or(true);
            if locked {
                locked_passwords.push((format!("users.{i}"), name.to_owned(), user.mark));
            } else {
                password_ways.push(format!("users.{i} ({name})'s password"));
            }
        }
    }

    for (path, name, mark) in &locked_passwords {
        out.push(warn(
            Lint::Lockout,
            path.clone(),
            *mark,
            format!(
                "user {name} has a password, but lock_passwd defaults to true, so the password is \
                 locked and cannot be used: add `lock_passwd: false` to log in with it"
            ),
        ));
    }
    if key_ways.is_empty() && password_ways.is_empty() {
        let mut why = vec!["no SSH key for a user who can log in", "no usable password"];
        if !default_user_exists {
            why.push("`users` does not list `default`, so the default user is not created");
        }
        if top_keys && disable_root && !default_user_exists {
            why.push("disable_root (true by default) turns root's keys into a \"Please login as\" message");
        }
        out.push(warn(
            Lint::Lockout,
            "",
            root.mark,
            format!(
                "this config leaves no way to log in: {}; add ssh_authorized_keys, or a password \
                 with `lock_passwd: false`, or give the provider a password or key pair",
                why.join("; ")
            ),
        ));
    } else if key_ways.is_empty() && ssh_pwauth == Some(false) {
        let at = get(root, "ssh_pwauth").map_or(root.mark, |n| n.mark);
        out.push(warn(
            Lint::Lockout,
            "ssh_pwauth",
            at,
            format!(
                "no SSH login: the only ways in are passwords ({}) and ssh_pwauth is false, so only \
                 the provider's console accepts them; add an SSH key or set ssh_pwauth: true",
                password_ways.join(", ")
            ),
        ));
    }
}

// ---- plaintext passwords ---------------------------------------------------------------------

fn looks_hashed(password: &str) -> bool {
    password.starts_with('$') && password.matches('$').count() >= 3
}

fn plaintext_passwords(root: &Node, out: &mut Vec<Finding>) {
    let mut hit = |path: String, mark: Mark| {
        out.push(warn(
            Lint::PlaintextPassword,
            path,
            mark,
            "a password in clear text: anyone who can read the user data (the provider's \
             metadata service, logs) can read it; use a hash (mkpasswd -m sha-512) or an SSH key",
        ));
    };
    if let Some(node) = get(root, "password")
        && text(node).is_some_and(|p| !p.is_empty() && !looks_hashed(p))
    {
        hit("password".into(), node.mark);
    }
    if let Some(chpasswd) = get(root, "chpasswd") {
        if let Some(list) = get(chpasswd, "list") {
            let lines: Vec<(String, Mark)> = match &list.value {
                Value::Str(s) => s.lines().map(|l| (l.to_owned(), list.mark)).collect(),
                Value::Seq(entries) => entries
                    .iter()
                    .filter_map(|e| text(e).map(|t| (t.to_owned(), e.mark)))
                    .collect(),
                _ => Vec::new(),
            };
            for (i, (line, mark)) in lines.iter().enumerate() {
                let pass = line.split_once(':').map(|(_, p)| p.trim()).unwrap_or("");
                if !pass.is_empty() && !looks_hashed(pass) && !matches!(pass, "R" | "RANDOM") {
                    hit(format!("chpasswd.list.{i}"), *mark);
                }
            }
        }
        for (i, user) in get(chpasswd, "users")
            .map_or(&[][..], items)
            .iter()
            .enumerate()
        {
            let Some(pass) = get(user, "password").and_then(text) else {
                continue;
            };
            let hashed = get(user, "type").and_then(text) == Some("hash") || looks_hashed(pass);
            if !hashed
                && !matches!(pass, "R" | "RANDOM")
                && get(user, "type").and_then(text) != Some("RANDOM")
            {
                hit(format!("chpasswd.users.{i}.password"), user.mark);
            }
        }
    }
    if let Some(users) = get(root, "users") {
        for (i, user) in items(users).iter().enumerate() {
            if let Some(node) = get(user, "plain_text_passwd")
                && text(node).is_some_and(|p| !p.is_empty())
            {
                hit(format!("users.{i}.plain_text_passwd"), node.mark);
            }
        }
    }
}

// ---- flattened write_files content -------------------------------------------------------------

const WRITE_FILES_FIELDS: &[&str] = &[
    "content",
    "owner",
    "permissions",
    "encoding",
    "append",
    "defer",
];

fn flattened_content(root: &Node, out: &mut Vec<Finding>) {
    let Some(write_files) = get(root, "write_files") else {
        return;
    };
    if let Value::Map(entries) = &root.value {
        for (key, _) in entries {
            if let Some(name) = text(key).filter(|k| WRITE_FILES_FIELDS.contains(k)) {
                out.push(warn(
                    Lint::FlattenedContent,
                    name,
                    key.mark,
                    format!(
                        "`{name}` is at the top level, beside write_files: it looks like a write_files \
                         field whose indentation was lost (as in a flattened copy of the example), so \
                         cloud-init ignores it; indent it under its `- path:` entry"
                    ),
                ));
            }
        }
    }
    for (i, file) in items(write_files).iter().enumerate() {
        if let Some(content) = get(file, "content")
            && (matches!(&content.value, Value::Str(s) if s.is_empty())
                || matches!(content.value, Value::Null))
        {
            out.push(warn(
                Lint::FlattenedContent,
                format!("write_files.{i}.content"),
                content.mark,
                "content is empty: the lines meant for it are probably not indented under \
                 `content: |`, so cloud-init writes an empty file; indent them",
            ));
        }
    }
}

// ---- power_state vs runcmd -------------------------------------------------------------------

fn command_text(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => s.clone(),
        Value::Seq(parts) => parts.iter().filter_map(text).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

fn reboots(command: &str) -> bool {
    command
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .any(|word| {
            let word = word.rsplit('/').next().unwrap_or(word);
            matches!(word, "reboot" | "shutdown" | "poweroff" | "halt")
        })
}

fn backgrounds(command: &str) -> bool {
    let trimmed = command.trim_end();
    (trimmed.ends_with('&') && !trimmed.ends_with("&&"))
        || [
            " & ",
            "nohup ",
            "systemd-run",
            "--no-block",
            "setsid ",
            "disown",
            "at now",
        ]
        .iter()
        .any(|needle| command.contains(needle) || command.starts_with(needle.trim_start()))
}

fn early_power_state(root: &Node, out: &mut Vec<Finding>) {
    let Some(runcmd) = get(root, "runcmd") else {
        return;
    };
    let commands = items(runcmd);
    for (i, command) in commands.iter().enumerate() {
        if i + 1 < commands.len() && reboots(&command_text(command)) {
            out.push(warn(
                Lint::EarlyPowerState,
                format!("runcmd.{i}"),
                command.mark,
                format!(
                    "this command reboots or powers off before the {} command(s) after it can run; use \
                     power_state (which waits for cloud-init to finish) instead",
                    commands.len() - i - 1
                ),
            ));
        }
    }
    let Some(power_state) = get(root, "power_state") else {
        return;
    };
    let mode = get(power_state, "mode").and_then(text).unwrap_or("");
    if !matches!(mode, "reboot" | "poweroff" | "halt") {
        return;
    }
    for (i, command) in commands.iter().enumerate() {
        if backgrounds(&command_text(command)) {
            out.push(warn(
                Lint::EarlyPowerState,
                format!("runcmd.{i}"),
                command.mark,
                format!(
                    "this command leaves work running in the background, and power_state ({mode}) \
                     only waits for cloud-init itself: the {mode} cuts that work short; run it in \
                     the foreground"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lints(yaml: &str, context: &LintContext) -> Vec<(Lint, String)> {
        let doc = crate::yaml::parse(yaml).expect("test YAML parses");
        let root = doc.root.expect("a document");
        check_cloud_config(&root, context)
            .into_iter()
            .map(|f| match f.code {
                Code::Lint(lint) => (lint, f.path),
                other => panic!("a lint gave {other:?}"),
            })
            .collect()
    }

    /// (YAML, the lints expected with their paths), with every lint on and nothing given to the
    /// provider.
    #[test]
    fn lint_table() {
        use Lint::*;
        let cases: &[(&str, &[(Lint, &str)])] = &[
            // The EDIS seed's example, indented as it was meant: root with keys, disable_root off.
            (
                "user: root\npassword: x\ndisable_root: false\nssh_pwauth: False\nssh_authorized_keys:\n  - ssh-rsa AAAA\nusers:\n  - default\n",
                &[(PlaintextPassword, "password")],
            ),
            ("hostname: web\n", &[(Lockout, "")]),
            ("ssh_authorized_keys: [ssh-ed25519 AAAA]\n", &[]),
            ("ssh_import_id: [gh:someone]\n", &[]),
            (
                "users: [{name: ops}]\nssh_authorized_keys: [ssh-ed25519 AAAA]\n",
                &[(Lockout, "")],
            ),
            (
                "users: [default, {name: ops}]\nssh_authorized_keys: [ssh-ed25519 AAAA]\n",
                &[],
            ),
            (
                "users:\n  - name: ops\n    ssh_authorized_keys: [ssh-ed25519 AAAA]\n",
                &[],
            ),
            (
                "users:\n  - name: ops\n    passwd: $6$salt$hash\n",
                &[(Lockout, "users.0"), (Lockout, "")],
            ),
            (
                "users:\n  - name: ops\n    passwd: $6$salt$hash\n    lock_passwd: false\n",
                &[],
            ),
            (
                "users:\n  - name: ops\n    plain_text_passwd: pw\n    lock_passwd: false\n",
                &[(PlaintextPassword, "users.0.plain_text_passwd")],
            ),
            (
                "password: $6$salt$hash\nssh_pwauth: false\n",
                &[(Lockout, "ssh_pwauth")],
            ),
            ("password: $6$salt$hash\nssh_pwauth: true\n", &[]),
            (
                "chpasswd:\n  list: |\n    root:secret\n    ops:$6$s$h\n    dev:RANDOM\n",
                &[(PlaintextPassword, "chpasswd.list.0")],
            ),
            (
                "chpasswd:\n  users:\n    - {name: root, password: secret, type: text}\n    - {name: ops, password: $6$s$h, type: hash}\n",
                &[(PlaintextPassword, "chpasswd.users.0.password")],
            ),
            (
                "user: root\nssh_authorized_keys: [ssh-ed25519 AAAA]\n",
                &[(Lockout, "")],
            ),
            (
                "users: []\ndisable_root: false\nssh_authorized_keys: [ssh-ed25519 AAAA]\n",
                &[],
            ),
            (
                "ssh_authorized_keys: [k]\nwrite_files:\n  - path: /etc/x\ncontent: |\n  hello\n",
                &[(FlattenedContent, "content")],
            ),
            (
                "ssh_authorized_keys: [k]\nwrite_files:\n  - path: /etc/x\n    content: ''\n",
                &[(FlattenedContent, "write_files.0.content")],
            ),
            (
                "ssh_authorized_keys: [k]\nwrite_files:\n  - path: /etc/x\n    content: hi\n",
                &[],
            ),
            (
                "ssh_authorized_keys: [k]\nruncmd:\n  - reboot\n  - echo never runs\n",
                &[(EarlyPowerState, "runcmd.0")],
            ),
            (
                "ssh_authorized_keys: [k]\nruncmd:\n  - echo done\n  - [/sbin/shutdown, -r, now]\n",
                &[],
            ),
            (
                "ssh_authorized_keys: [k]\nruncmd:\n  - sleep 600 &\npower_state: {mode: reboot}\n",
                &[(EarlyPowerState, "runcmd.0")],
            ),
            (
                "ssh_authorized_keys: [k]\nruncmd:\n  - [nohup, long-job]\npower_state: {mode: poweroff}\n",
                &[(EarlyPowerState, "runcmd.0")],
            ),
            (
                "ssh_authorized_keys: [k]\nruncmd:\n  - a && b\npower_state: {mode: reboot}\n",
                &[],
            ),
        ];
        for (yaml, expected) in cases {
            let mut got = lints(yaml, &LintContext::default());
            got.sort();
            let mut want: Vec<(Lint, String)> = expected
                .iter()
                .map(|(l, p)| (*l, (*p).to_owned()))
                .collect();
            want.sort();
            assert_eq!(got, want, "{yaml}");
        }
    }

    #[test]
    fn a_provider_login_is_a_way_in() {
        let context = LintContext {
            provider_login: true,
            ..LintContext::default()
        };
        assert!(lints("hostname: web\n", &context).is_empty());
    }

    #[test]
    fn lints_can_be_switched_off() {
        let mut context = LintContext::default();
        context.disabled.insert(Lint::Lockout);
        assert!(lints("hostname: web\n", &context).is_empty());
        context.disabled.insert(Lint::PlaintextPassword);
        assert!(lints("password: hunter2\n", &context).is_empty());
    }

    #[test]
    fn messages_never_show_the_password() {
        let doc = crate::yaml::parse(
            "password: Sentinel-Secret-9\nchpasswd: {list: 'root:Sentinel-Secret-9'}\n",
        )
        .unwrap();
        for finding in check_cloud_config(&doc.root.unwrap(), &LintContext::default()) {
            assert!(
                !finding.message.contains("Sentinel-Secret-9"),
                "{}",
                finding.message
            );
        }
    }

    #[test]
    fn size_limit() {
        let context = LintContext {
            size_limit: Some(10),
            ..LintContext::default()
        };
        assert!(check_size(b"0123456789", &context).is_none());
        assert!(check_size(b"0123456789a", &context).is_some());
        assert!(check_size(b"0123456789a", &LintContext::default()).is_none());
    }

    #[test]
    fn codes_round_trip() {
        for lint in Lint::ALL {
            assert_eq!(Lint::from_code(lint.code()), Some(lint));
        }
        assert_eq!(Lint::from_code("nope"), None);
    }
}
