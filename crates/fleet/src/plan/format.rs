//! The plan's format: the TOML text read into [`Target`]s, with `[defaults]` applied, every key
//! checked (unknown keys with the nearest known one, values by their type's rules) and every
//! combination of keys judged, each problem naming its place (`targets[12].ecs (line 57)`) and
//! its fix. The rules themselves are written in the documentation of [`crate::plan`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use reimage_client::wire::ecs::RebuildApi;
use reimage_cloudinit::schema::Version;
use reimage_core::{EdisImage, ImageId, KeyPairName, KvmId, ServerId, UserId};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Action, EcsLogin, KnownHosts, Target, Wait};

/// The keys of the top level.
const TOP_KEYS: &[&str] = &["defaults", "targets"];

/// The keys of `[defaults]`.
const DEFAULT_KEYS: &[&str] = &[
    "profile",
    "operation",
    "user_data",
    "cloud_init",
    "admin_password_file",
    "keypair",
    "user_id",
    "root_password_file",
    "mode",
    "api",
    "keypair_only",
    "no_validate",
    "allow_lockout",
    "weak_password",
    "wait",
    "known_hosts",
    "ssh_port",
];

/// The keys of a `[[targets]]` entry: the server and its image, then those of `[defaults]`.
const TARGET_KEYS: &[&str] = &[
    "ecs",
    "edis",
    "image",
    "profile",
    "operation",
    "user_data",
    "cloud_init",
    "admin_password_file",
    "keypair",
    "user_id",
    "root_password_file",
    "mode",
    "api",
    "keypair_only",
    "no_validate",
    "allow_lockout",
    "weak_password",
    "wait",
    "known_hosts",
    "ssh_port",
];

/// `reinstall` or `change-os`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    Reinstall,
    ChangeOs,
}

impl Operation {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Reinstall => "reinstall",
            Self::ChangeOs => "change-os",
        }
    }
}

/// A key as a layer has it: `None` not written; `Some(None)` written as `""`, which unsets the
/// default; `Some(Some(v))` a value.
type Opt<T> = Option<Option<T>>;

/// The keys of `[defaults]` or of one `[[targets]]` entry, each checked on its own.
#[derive(Debug, Default)]
struct Layer {
    profile: Opt<String>,
    operation: Opt<Operation>,
    user_data: Opt<PathBuf>,
    cloud_init: Opt<Version>,
    admin_password_file: Opt<PathBuf>,
    keypair: Opt<KeyPairName>,
    user_id: Opt<UserId>,
    root_password_file: Opt<PathBuf>,
    stop: Opt<bool>,
    api: Opt<RebuildApi>,
    keypair_only: Option<bool>,
    no_validate: Option<bool>,
    allow_lockout: Option<bool>,
    weak_password: Option<bool>,
    wait: Opt<Wait>,
    known_hosts: Opt<KnownHosts>,
    ssh_port: Option<u16>,
    ecs: Option<ServerId>,
    edis: Option<KvmId>,
    image: Option<String>,
    /// The line of each key written, by its position in [`TARGET_KEYS`]; 0 when not written.
    lines: [usize; TARGET_KEYS.len()],
    /// The line of the table itself.
    line: usize,
    /// A value was refused: the combination checks would only repeat it.
    broken: bool,
}

impl Layer {
    fn written(&self, key: &str) -> bool {
        self.line_of(key).is_some()
    }

    fn line_of(&self, key: &str) -> Option<usize> {
        TARGET_KEYS
            .iter()
            .position(|k| *k == key)
            .map(|i| self.lines[i])
            .filter(|&l| l > 0)
    }
}

/// Where a merged value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layered {
    Target,
    Defaults,
}

impl Layered {
    fn suffix(self) -> &'static str {
        match self {
            Self::Target => "",
            Self::Defaults => " (from [defaults])",
        }
    }
}

/// The target's value if it wrote the key (`""` gives none), else the default's.
fn pick<'a, T>(target: &'a Opt<T>, defaults: &'a Opt<T>) -> Option<(&'a T, Layered)> {
    match target {
        Some(value) => value.as_ref().map(|v| (v, Layered::Target)),
        None => defaults
            .as_ref()
            .and_then(Option::as_ref)
            .map(|v| (v, Layered::Defaults)),
    }
}

/// Where each line of a text starts, by byte offset.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self(starts)
    }

    /// Line numbers for offsets into the piece of the text that starts at `base`.
    fn from(&self, base: usize) -> Lines<'_> {
        Lines {
            starts: &self.0,
            base,
        }
    }
}

/// Line numbers by byte offset, for a piece of the plan that starts at byte `base` of it (so
/// that a piece parsed on its own names the lines of the whole file).
#[derive(Clone, Copy)]
struct Lines<'a> {
    starts: &'a [usize],
    base: usize,
}

impl Lines<'_> {
    /// The line (from 1) of a byte offset into the piece.
    fn line(&self, offset: usize) -> usize {
        let offset = self.base + offset;
        self.starts.partition_point(|&s| s <= offset)
    }

    /// The line and column (both from 1, the column in characters) of a byte offset into the
    /// piece `text`.
    fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self
            .starts
            .get(line - 1)
            .copied()
            .unwrap_or(0)
            .saturating_sub(self.base);
        let column = text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }
}

/// The header of a target, alone on its line, where [`parse`] cuts a plan into pieces.
const TARGET_HEADER: &str = "[[targets]]";

/// Parses and checks the text of a plan; paths are made absolute against `dir`.
///
/// A parsed TOML document takes some twenty times the size of its text (a table per target,
/// its tokens and events), which for 100,000 targets is some 180 MB held at once. So a plan is
/// first parsed piece by piece: the part before the first line that holds only `[[targets]]`,
/// then each part from such a line to the next, each piece a document of its own that is
/// dropped once its targets are read. That reads the same as the whole file whenever every
/// piece parses and each piece after the first holds only `[[targets]]` entries (and the first
/// none): a line that only looks like a header, inside a multi-line string or array, leaves the
/// piece before it unclosed, which does not parse. Any other file (and any file with a syntax
/// error, so that the error names the file's own line and column) is parsed whole, as before.
pub(super) fn parse(text: &str, dir: &Path) -> Result<Vec<Target>, Vec<String>> {
    let starts = LineStarts::new(text);
    match parse_in_pieces(text, dir, &starts) {
        Some(parsed) => parsed,
        None => parse_whole(text, dir, &starts),
    }
}

/// The byte offsets where the plan's pieces after the first start: each line that holds only
/// [`TARGET_HEADER`] (blanks around it allowed).
fn piece_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == TARGET_HEADER {
            starts.push(at);
        }
        at += line.len();
    }
    starts
}

/// [`parse`], piece by piece; `None` when the pieces may not read as the whole file does.
fn parse_in_pieces(
    text: &str,
    dir: &Path,
    starts: &LineStarts,
) -> Option<Result<Vec<Target>, Vec<String>>> {
    let cuts = piece_starts(text);
    let first = *cuts.first()?;
    let head = DeTable::parse(text.get(..first)?).ok()?;
    let mut reader = Reader::default();
    // At least one target per piece.
    reader.targets.reserve_exact(cuts.len());
    reader.seen.reserve(cuts.len());
    for (key, value) in head.get_ref() {
        if key.get_ref().as_ref() == "targets" {
            return None;
        }
        reader.top_level(key, value, dir, starts.from(0));
    }
    drop(head);
    let ends = cuts.iter().skip(1).copied().chain([text.len()]);
    for (start, end) in cuts.iter().copied().zip(ends) {
        let piece = DeTable::parse(text.get(start..end)?).ok()?;
        let mut keys = piece.get_ref().iter();
        let (Some((key, value)), None) = (keys.next(), keys.next()) else {
            return None;
        };
        let DeValue::Array(entries) = value.get_ref() else {
            return None;
        };
        if key.get_ref().as_ref() != "targets" {
            return None;
        }
        for entry in entries {
            reader.entry(entry, dir, starts.from(start));
        }
    }
    Some(reader.finish())
}

/// [`parse`], the whole file at once.
fn parse_whole(text: &str, dir: &Path, starts: &LineStarts) -> Result<Vec<Target>, Vec<String>> {
    let lines = starts.from(0);
    let document = DeTable::parse(text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let (line, column) = lines.position(text, span.start);
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        // The message alone: the error's `Display` quotes the line, which may be anything.
        let message = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        vec![format!(
            "is not valid TOML{at}: {message}; fix the syntax (see https://toml.io)"
        )]
    })?;
    let mut reader = Reader::default();
    let mut entries = None;
    for (key, value) in document.get_ref() {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("targets", DeValue::Array(array)) => entries = Some(array),
            _ => reader.top_level(key, value, dir, lines),
        }
    }
    for entry in entries.map_or(&[][..], |a| a) {
        reader.entry(entry, dir, lines);
    }
    reader.finish()
}

/// What [`parse`] has read so far: the defaults, the targets in file order, the problems.
#[derive(Default)]
struct Reader {
    problems: Vec<String>,
    defaults: Layer,
    targets: Vec<Target>,
    /// Each target's key, with its index and line, to refuse a server named twice.
    seen: HashMap<String, (usize, usize)>,
    /// How many `[[targets]]` entries were read (the next one's index).
    entries: usize,
}

impl Reader {
    /// One key of the document's top level other than the array of targets.
    fn top_level(
        &mut self,
        key: &Spanned<Cow<'_, str>>,
        value: &Spanned<DeValue<'_>>,
        dir: &Path,
        lines: Lines<'_>,
    ) {
        let name = key.get_ref().as_ref();
        let line = lines.line(key.span().start);
        let problems = &mut self.problems;
        match (name, value.get_ref()) {
            ("defaults", DeValue::Table(table)) => {
                self.defaults = parse_layer(table, "defaults", DEFAULT_KEYS, dir, &lines, problems);
                self.defaults.line = line;
            }
            ("defaults", _) => problems.push(format!(
                "defaults (line {line}): must be a table; write it as [defaults] followed by its keys"
            )),
            ("targets", _) => problems.push(format!(
                "targets (line {line}): must be an array of tables; write each target as \
                 [[targets]] followed by its keys"
            )),
            _ => {
                let fix = if TARGET_KEYS.contains(&name) {
                    format!("{name} belongs in [defaults] or in a [[targets]] entry: move it there")
                } else {
                    format!("the top level holds {}; rename or remove it", TOP_KEYS.join(" and "))
                };
                problems.push(format!(
                    "line {line}: unknown key {name:?} at the top level{}; {fix}",
                    did_you_mean(name, TOP_KEYS)
                ));
            }
        }
    }

    /// The next `[[targets]]` entry.
    fn entry(&mut self, entry: &Spanned<DeValue<'_>>, dir: &Path, lines: Lines<'_>) {
        let index = self.entries;
        self.entries += 1;
        let prefix = format!("targets[{index}]");
        let problems = &mut self.problems;
        let DeValue::Table(table) = entry.get_ref() else {
            let line = lines.line(entry.span().start);
            problems.push(format!(
                "{prefix} (line {line}): must be a table; write each target as [[targets]] \
                 followed by its keys"
            ));
            return;
        };
        let mut layer = parse_layer(table, &prefix, TARGET_KEYS, dir, &lines, problems);
        layer.line = table_line(table, entry.span().start, &lines);
        let Some(target) = build(index, &layer, &self.defaults, problems) else {
            return;
        };
        if let Some(&(first, first_line)) = self.seen.get(&target.key) {
            problems.push(format!(
                "{prefix} (line {}): {} is already targets[{first}] (line {first_line}); a \
                 server may appear only once in a plan: remove one of them",
                target.line, target.key
            ));
            return;
        }
        self.seen.insert(target.key.clone(), (index, target.line));
        self.targets.push(target);
    }

    /// The targets, or every problem found.
    fn finish(mut self) -> Result<Vec<Target>, Vec<String>> {
        if self.entries == 0 && self.problems.is_empty() {
            self.problems.push(
                "has no targets; add one [[targets]] entry per server, with ecs = \"SERVER-ID\" or \
                 edis = \"kvm_…\""
                    .to_owned(),
            );
        }
        if self.problems.is_empty() {
            Ok(self.targets)
        } else {
            Err(self.problems)
        }
    }
}

/// The line where a `[[targets]]` entry starts: its header's, which its span starts at; for an
/// inline table, its first key's.
fn table_line(table: &DeTable<'_>, start: usize, lines: &Lines<'_>) -> usize {
    let first_key = table.keys().map(|k| k.span().start).min();
    lines.line(first_key.map_or(start, |k| k.min(start)))
}

/// Reads the keys of one table into a layer, refusing unknown keys and bad values.
fn parse_layer(
    table: &DeTable<'_>,
    prefix: &str,
    allowed: &[&str],
    dir: &Path,
    lines: &Lines<'_>,
    problems: &mut Vec<String>,
) -> Layer {
    let mut layer = Layer::default();
    for (key, value) in table {
        let name = key.get_ref().as_ref();
        let line = lines.line(key.span().start);
        if !allowed.contains(&name) {
            problems.push(unknown_key(prefix, name, line, allowed));
            layer.broken = true;
            continue;
        }
        if let Some(i) = TARGET_KEYS.iter().position(|k| *k == name) {
            layer.lines[i] = line;
        }
        let value = value.get_ref();
        // The place is written only for a problem: most keys have none.
        let mut refuse = |problem: String| {
            problems.push(format!("{prefix}.{name} (line {line}): {problem}"));
            false
        };
        let ok = match name {
            "keypair_only" => match value {
                DeValue::Boolean(b) => {
                    layer.keypair_only = Some(*b);
                    true
                }
                _ => refuse("must be true or false".to_owned()),
            },
            "no_validate" => match value {
                DeValue::Boolean(b) => {
                    layer.no_validate = Some(*b);
                    true
                }
                _ => refuse("must be true or false".to_owned()),
            },
            "allow_lockout" => match value {
                DeValue::Boolean(b) => {
                    layer.allow_lockout = Some(*b);
                    true
                }
                _ => refuse("must be true or false".to_owned()),
            },
            "weak_password" => match value {
                DeValue::Boolean(b) => {
                    layer.weak_password = Some(*b);
                    true
                }
                _ => refuse("must be true or false".to_owned()),
            },
            "ssh_port" => match value {
                DeValue::Integer(i) => match u16::from_str_radix(i.as_str(), i.radix()) {
                    Ok(port) if port > 0 => {
                        layer.ssh_port = Some(port);
                        true
                    }
                    _ => refuse(format!(
                        "{} is not a port; give the port the server's SSH server listens on, \
                         1 to 65535 (default 22)",
                        i.as_str()
                    )),
                },
                _ => refuse("must be a number; write it as ssh_port = 22".to_owned()),
            },
            "cloud_init" => {
                // `cloud_init = 22.4` (a float) is read as the text it was written as.
                let text = match value {
                    DeValue::String(s) => Some(s.as_ref()),
                    DeValue::Float(f) => Some(f.as_str()),
                    _ => None,
                };
                match text {
                    None => {
                        refuse("must be a string; write it as cloud_init = \"22.4\"".to_owned())
                    }
                    Some("") => {
                        layer.cloud_init = Some(None);
                        true
                    }
                    Some(t) => match t.parse::<Version>() {
                        Ok(v) => {
                            layer.cloud_init = Some(Some(v));
                            true
                        }
                        Err(_) => refuse(format!(
                            "{t:?} is not a cloud-init version reimage has the schema of; use \
                             \"22.4\" (Debian 12) or \"26.2\" (the latest), whichever is nearer \
                             to the image's"
                        )),
                    },
                }
            }
            _ => match value {
                DeValue::String(s) => {
                    let s = s.as_ref();
                    match string_key(&mut layer, name, s, dir) {
                        Ok(()) => true,
                        Err(problem) => refuse(problem),
                    }
                }
                // The value is not shown: an inline password would be quoted.
                _ => refuse(format!("must be a string; write it as {name} = \"…\"")),
            },
        };
        if !ok {
            layer.broken = true;
        }
    }
    layer
}

/// Checks one string value and stores it in the layer.
fn string_key(layer: &mut Layer, name: &str, s: &str, dir: &Path) -> Result<(), String> {
    fn id<T>(value: Result<T, reimage_core::ValidationError>) -> Result<T, String> {
        value.map_err(|e| e.to_string())
    }
    fn set<T>(s: &str, f: impl FnOnce(&str) -> Result<T, String>) -> Result<Opt<T>, String> {
        if s.is_empty() {
            Ok(Some(None))
        } else {
            f(s).map(|v| Some(Some(v)))
        }
    }
    let path = |s: &str| file_path(s, dir);
    match name {
        "ecs" => layer.ecs = Some(id(ServerId::new(s))?),
        "edis" => layer.edis = Some(id(KvmId::new(s))?),
        "image" => {
            if s.is_empty() {
                return Err(
                    "is empty; give the image (an image id for ECS change-os, an image name for \
                     EDIS), or remove the key"
                        .to_owned(),
                );
            }
            layer.image = Some(s.to_owned());
        }
        "profile" => layer.profile = set(s, |s| Ok(s.to_owned()))?,
        "operation" => {
            layer.operation = set(s, |s| match s {
                "reinstall" => Ok(Operation::Reinstall),
                "change-os" => Ok(Operation::ChangeOs),
                other => Err(format!(
                    "{other:?} is not an operation{}; use \"reinstall\" or \"change-os\"",
                    did_you_mean(other, &["reinstall", "change-os"])
                )),
            })?;
        }
        "mode" => {
            layer.stop = set(s, |s| match s {
                "with-stop-server" => Ok(true),
                other => Err(format!(
                    "{other:?} is not a mode; use \"with-stop-server\" (stop a running server \
                     first), or \"\" for none"
                )),
            })?;
        }
        "api" => {
            layer.api = set(s, |s| match s {
                "cloud-init" => Ok(RebuildApi::CloudInit),
                "plain" => Ok(RebuildApi::Plain),
                other => Err(format!(
                    "{other:?} is not an API; use \"cloud-init\", \"plain\" (an image without \
                     cloud-init), or \"\" to let reimage ask the image service"
                )),
            })?;
        }
        "wait" => {
            layer.wait = set(s, |s| match s {
                "job" => Ok(Wait::Job),
                "ssh" => Ok(Wait::Ssh),
                "cloud-init" => Ok(Wait::CloudInit),
                other => Err(format!(
                    "{other:?} is not a stage to wait for{}; use \"job\" (the provider's job, the \
                     default), \"ssh\" (an SSH server with a verified host key) or \"cloud-init\" \
                     (and cloud-init's verdict)",
                    did_you_mean(other, &["job", "ssh", "cloud-init"])
                )),
            })?;
        }
        "known_hosts" => {
            layer.known_hosts = set(s, |s| match s {
                "none" => Ok(KnownHosts::None),
                s => file_path(s, dir).map(KnownHosts::File),
            })?;
        }
        "user_data" => layer.user_data = set(s, path)?,
        "admin_password_file" => layer.admin_password_file = set(s, path)?,
        "root_password_file" => layer.root_password_file = set(s, path)?,
        "keypair" => layer.keypair = set(s, |s| id(KeyPairName::new(s)))?,
        "user_id" => layer.user_id = set(s, |s| id(UserId::new(s)))?,
        _ => {}
    }
    Ok(())
}

/// A file named in the plan, made absolute against the plan's directory.
fn file_path(s: &str, dir: &Path) -> Result<PathBuf, String> {
    if s == "-" {
        return Err("a plan reads files only, not stdin (-); give the file's path".to_owned());
    }
    if s == "~" || s.starts_with("~/") {
        return Err(format!(
            "{s:?}: ~ is not expanded in a plan; write the full path, or one relative to the \
             plan's directory"
        ));
    }
    Ok(dir.join(s))
}

/// The message for a key that is not one of `allowed`.
fn unknown_key(prefix: &str, key: &str, line: usize, allowed: &[&str]) -> String {
    let fix = match key {
        "password" | "admin_password" | "adminpass" | "root_password" | "edis_password" => {
            "passwords are never written in a plan: put the password in a file and name it with \
             admin_password_file (ECS) or root_password_file (EDIS)"
                .to_owned()
        }
        "server" | "server_id" | "kvm" | "kvm_id" | "id" => {
            "name the server with ecs = \"SERVER-ID\" or edis = \"kvm_…\"".to_owned()
        }
        "ecs" | "edis" | "image" => {
            "ecs, edis and image name one server: set them in each [[targets]] entry".to_owned()
        }
        _ => {
            let place = if prefix == "defaults" {
                "of [defaults]"
            } else {
                "of a target"
            };
            format!(
                "the keys {place} are {}; rename or remove it",
                allowed.join(", ")
            )
        }
    };
    format!(
        "{prefix} (line {line}): unknown key {key:?}{}; {fix}",
        did_you_mean(key, allowed)
    )
}

/// ` (did you mean "image"?)` when a known key is near enough to be a typo.
fn did_you_mean(key: &str, known: &[&str]) -> String {
    reimage_config::text::closest(key, known)
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

/// Applies the defaults to a target's layer and checks the combination; `None` after reporting
/// its problems.
fn build(index: usize, t: &Layer, d: &Layer, problems: &mut Vec<String>) -> Option<Target> {
    let here = Here {
        index,
        line: t.line,
    };
    let at = |key: &str| match t.line_of(key) {
        Some(line) => format!("targets[{index}].{key} (line {line})"),
        None => here.to_string(),
    };
    match (t.written("ecs"), t.written("edis")) {
        (true, true) => {
            problems.push(format!(
                "{here}: has both ecs and edis; a target is one server: split it into two \
                 [[targets]] entries"
            ));
            return None;
        }
        (false, false) => {
            if !t.broken {
                problems.push(format!(
                    "{here}: names no server; add ecs = \"SERVER-ID\" (ECS) or edis = \"kvm_…\" \
                     (EDIS)"
                ));
            }
            return None;
        }
        _ => {}
    }
    if t.broken || d.broken {
        // The values' own problems are reported; the combinations would only repeat them.
        return None;
    }
    let before = problems.len();
    let operation = pick(&t.operation, &d.operation);
    let user_data = pick(&t.user_data, &d.user_data).map(|(p, _)| p.clone());
    let (key, action) = if let Some(server) = &t.ecs {
        let key = format!("ecs:{}", server.as_str().to_ascii_lowercase());
        if matches!(t.root_password_file, Some(Some(_))) {
            problems.push(format!(
                "{}: is for EDIS targets; an ECS server takes admin_password_file, or keypair \
                 with user_id",
                at("root_password_file")
            ));
        }
        let login = ecs_login(t, d, user_data.is_some(), &here, &at, problems);
        let stop = pick(&t.stop, &d.stop).is_some_and(|(s, _)| *s);
        if let Some((RebuildApi::Plain, from)) = pick(&t.api, &d.api).map(|(a, w)| (*a, w))
            && user_data.is_some()
        {
            problems.push(format!(
                "{}: api \"plain\"{} (an image without cloud-init) takes no user data, since \
                 nothing on such an image reads it; remove user_data (user_data = \"\" unsets a \
                 default), or the api key",
                at("api"),
                from.suffix()
            ));
        }
        if let Some((RebuildApi::Plain, from)) = pick(&t.api, &d.api).map(|(a, w)| (*a, w))
            && let Some((wait @ (Wait::Ssh | Wait::CloudInit), _)) =
                pick(&t.wait, &d.wait).map(|(w, l)| (*w, l))
        {
            problems.push(format!(
                "{}: api \"plain\"{} (an image without cloud-init) with wait = \"{}\": nothing on \
                 such an image writes the host keys to the console that the stage checks; set \
                 wait = \"job\" on this target, or remove the api key",
                at("api"),
                from.suffix(),
                wait.as_str()
            ));
        }
        let action = match (operation.map(|(o, w)| (*o, w)), &t.image) {
            (Some((Operation::ChangeOs, _)), None) => {
                problems.push(format!(
                    "{here}: change-os needs the new image; add image = \"IMAGE-ID\" (an IMS \
                     image id, e.g. e215580f-73ad-429d-b6f2-5433947433b0)"
                ));
                None
            }
            (Some((Operation::ChangeOs, _)), Some(image)) => match ImageId::new(image.as_str()) {
                Ok(image) => login.map(|login| Action::EcsChangeOs {
                    server: server.clone(),
                    image,
                    login,
                    stop,
                }),
                Err(e) => {
                    problems.push(format!("{}: {e}", at("image")));
                    None
                }
            },
            (_, Some(_)) => {
                problems.push(format!(
                    "{}: is only for change-os: a reinstall keeps the server's current image; to \
                     install this image, set operation = \"change-os\"",
                    at("image")
                ));
                None
            }
            (_, None) => login.map(|login| Action::EcsReinstall {
                server: server.clone(),
                login,
                stop,
            }),
        };
        (key, action)
    } else if let Some(kvm) = &t.edis {
        let key = format!("edis:{kvm}");
        for ecs_only in ["admin_password_file", "keypair", "user_id", "mode", "api"] {
            let set = match ecs_only {
                "api" => matches!(t.api, Some(Some(_))),
                "admin_password_file" => matches!(t.admin_password_file, Some(Some(_))),
                "keypair" => matches!(t.keypair, Some(Some(_))),
                "user_id" => matches!(t.user_id, Some(Some(_))),
                _ => matches!(t.stop, Some(Some(_))),
            };
            if set {
                problems.push(format!(
                    "{}: is for ECS targets; an EDIS reinstall takes root_password_file",
                    at(ecs_only)
                ));
            }
        }
        if matches!(t.wait, Some(Some(Wait::Ssh | Wait::CloudInit))) {
            problems.push(format!(
                "{}: a fleet waits for the job only on EDIS targets (their stages after the job \
                 are `reimage edis reinstall --wait=ssh`'s); remove the key, or set wait = \"job\"",
                at("wait")
            ));
        }
        if let Some((Operation::ChangeOs, from)) = operation.map(|(o, w)| (*o, w)) {
            let fix = match from {
                Layered::Target => "set operation = \"reinstall\", or remove the key",
                Layered::Defaults => "set operation = \"reinstall\" on this target",
            };
            problems.push(format!(
                "{}: operation \"change-os\"{} is not an EDIS operation: an EDIS reinstall \
                 installs the image you name; {fix}",
                at("operation"),
                from.suffix()
            ));
        }
        let image = match &t.image {
            None => {
                problems.push(format!(
                    "{here}: an EDIS reinstall needs the image; add image = \
                     \"cloudinit_debian-bookworm\" (reimage edis images --kvm {kvm} lists them)"
                ));
                None
            }
            Some(image) => match EdisImage::new(image.as_str()) {
                Ok(image) => Some(image),
                Err(e) => {
                    problems.push(format!("{}: {e}", at("image")));
                    None
                }
            },
        };
        let password = pick(&t.root_password_file, &d.root_password_file);
        if password.is_none() {
            problems.push(format!(
                "{here}: an EDIS reinstall needs root_password_file; name a file that holds the \
                 new root password, here or in [defaults]"
            ));
        }
        let action = match (image, password) {
            (Some(image), Some((file, _))) => Some(Action::EdisReinstall {
                kvm: kvm.clone(),
                image,
                root_password_file: file.clone(),
            }),
            _ => None,
        };
        (key, action)
    } else {
        return None;
    };
    if problems.len() > before {
        return None;
    }
    let is_ecs = t.ecs.is_some();
    Some(Target {
        index,
        line: t.line,
        key,
        profile: pick(&t.profile, &d.profile).map(|(p, _)| p.clone()),
        action: action?,
        user_data,
        cloud_init: pick(&t.cloud_init, &d.cloud_init).map_or(Version::V26_2, |(v, _)| *v),
        api: pick(&t.api, &d.api).map(|(a, _)| *a),
        keypair_only: t.keypair_only.or(d.keypair_only).unwrap_or(false),
        no_validate: t.no_validate.or(d.no_validate).unwrap_or(false),
        allow_lockout: t.allow_lockout.or(d.allow_lockout).unwrap_or(false),
        weak_password: t.weak_password.or(d.weak_password).unwrap_or(false),
        wait: if is_ecs {
            pick(&t.wait, &d.wait).map_or(Wait::Job, |(w, _)| *w)
        } else {
            Wait::Job
        },
        known_hosts: pick(&t.known_hosts, &d.known_hosts)
            .map_or(KnownHosts::User, |(k, _)| k.clone()),
        ssh_port: t.ssh_port.or(d.ssh_port).unwrap_or(22),
    })
}

/// Where a target starts, `targets[N] (line L)`, written only into a problem's text.
struct Here {
    /// The entry's index among the `[[targets]]`.
    index: usize,
    /// Its line.
    line: usize,
}

impl std::fmt::Display for Here {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "targets[{}] (line {})", self.index, self.line)
    }
}

/// The ECS login of a target: a target that sets the password drops the default key pair, and
/// one that sets the key pair (or its user) drops the default password.
fn ecs_login(
    t: &Layer,
    d: &Layer,
    has_user_data: bool,
    here: &Here,
    at: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) -> Option<EcsLogin> {
    let none = None;
    let target_sets_password = matches!(t.admin_password_file, Some(Some(_)));
    let target_sets_keypair =
        matches!(t.keypair, Some(Some(_))) || matches!(t.user_id, Some(Some(_)));
    let password = pick(
        &t.admin_password_file,
        if target_sets_keypair {
            &none
        } else {
            &d.admin_password_file
        },
    );
    let none_key = None;
    let keypair = pick(
        &t.keypair,
        if target_sets_password {
            &none_key
        } else {
            &d.keypair
        },
    );
    let none_user = None;
    let user_id = pick(
        &t.user_id,
        if target_sets_password {
            &none_user
        } else {
            &d.user_id
        },
    );
    match (password, keypair, user_id) {
        (Some((_, pw_from)), Some((_, key_from)), _) => {
            problems.push(format!(
                "{here}: admin_password_file{} and keypair{} are both set; choose one way to log \
                 in: a password file or a key pair",
                pw_from.suffix(),
                key_from.suffix()
            ));
            None
        }
        (_, Some((_, key_from)), None) => {
            problems.push(format!(
                "{}: keypair{} needs user_id; add user_id = \"…\", the id of the IAM user that \
                 owns the key pair (32 hexadecimal digits)",
                at("keypair"),
                key_from.suffix()
            ));
            None
        }
        (_, None, Some((_, Layered::Target))) => {
            problems.push(format!(
                "{}: is set without keypair; user_id names the owner of a key pair: add \
                 keypair, or remove user_id",
                at("user_id")
            ));
            None
        }
        (Some((file, _)), None, _) => Some(EcsLogin::Password(file.clone())),
        (None, Some((name, _)), Some((user_id, _))) => Some(EcsLogin::KeyPair {
            name: name.clone(),
            user_id: user_id.clone(),
        }),
        (None, None, _) => {
            if has_user_data {
                Some(EcsLogin::UserDataOnly)
            } else {
                problems.push(format!(
                    "{here}: no way to log in to the new OS; set admin_password_file, or keypair \
                     with user_id, or user_data that sets up a login"
                ));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Dir, IMAGE, SERVER, SERVER2, USER};
    use super::super::{Plan, PlanError, Provider, load};
    use super::*;

    /// The module doc's example, with one more target for each override.
    const EXAMPLE: &str = r#"
[defaults]
profile = "prod"
operation = "reinstall"
user_data = "cloud-config.yaml"
cloud_init = "22.4"
admin_password_file = "ecs-admin.pw"
keypair = "my-key"
user_id = "7e25b1da389f4697a79df3a0e5bd494e"
root_password_file = "edis-root.pw"
mode = "with-stop-server"
no_validate = false

[[targets]]
ecs = "11111111-2222-3333-4444-555555555555"
operation = "change-os"
image = "e215580f-73ad-429d-b6f2-5433947433b0"
keypair = ""

[[targets]]
ecs = "66666666-7777-8888-9999-000000000000"
keypair = "ops-key"
user_data = ""

[[targets]]
edis = "kvm_100001_200001"
image = "cloudinit_debian-bookworm"
profile = "edis-account"

[[targets]]
ecs = "AAAAAAAA-2222-3333-4444-555555555555"
admin_password_file = "other.pw"
cloud_init = "26.2"
mode = ""
profile = ""
no_validate = true
"#;

    fn problems(result: Result<Plan, PlanError>) -> Vec<String> {
        match result {
            Ok(plan) => panic!("expected an error, got {} targets", plan.targets.len()),
            Err(e) => e.problems,
        }
    }

    fn one_problem(dir: &Dir, text: &str) -> String {
        let problems = problems(dir.plan(text));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        problems.into_iter().next().unwrap()
    }

    #[test]
    fn the_example_parses_with_defaults_and_overrides() {
        let dir = Dir::new("example");
        let plan = dir.plan(EXAMPLE).unwrap();
        assert_eq!(plan.dir, dir.0);
        assert_eq!(plan.targets.len(), 4);
        let [change, keypair, edis, other] = plan.targets.as_slice() else {
            panic!()
        };

        assert_eq!(change.index, 0);
        assert_eq!(change.line, 14);
        assert_eq!(change.key, format!("ecs:{SERVER}"));
        assert_eq!(change.profile.as_deref(), Some("prod"));
        assert_eq!(change.user_data, Some(dir.0.join("cloud-config.yaml")));
        assert_eq!(change.cloud_init, Version::V22_4);
        assert!(!change.no_validate);
        assert_eq!(change.operation(), "change-os");
        match &change.action {
            Action::EcsChangeOs {
                server,
                image,
                login: EcsLogin::Password(pw),
                stop: true,
            } => {
                assert_eq!(server.as_str(), SERVER);
                assert_eq!(image.as_str(), IMAGE);
                assert_eq!(pw, &dir.0.join("ecs-admin.pw"));
            }
            other => panic!("{other:?}"),
        }

        // keypair replaces the default password; user_id still comes from the defaults.
        assert_eq!(keypair.user_data, None);
        assert_eq!(keypair.operation(), "reinstall");
        match &keypair.action {
            Action::EcsReinstall {
                login: EcsLogin::KeyPair { name, user_id },
                stop: true,
                ..
            } => {
                assert_eq!(name.as_str(), "ops-key");
                assert_eq!(user_id.as_str(), USER);
            }
            other => panic!("{other:?}"),
        }

        // ECS defaults are ignored for EDIS, and root_password_file applies.
        assert_eq!(edis.key, "edis:kvm_100001_200001");
        assert_eq!(edis.profile.as_deref(), Some("edis-account"));
        assert_eq!(edis.provider(), Provider::Edis);
        match &edis.action {
            Action::EdisReinstall {
                kvm,
                image,
                root_password_file,
            } => {
                assert_eq!(kvm.as_str(), "kvm_100001_200001");
                assert_eq!(image.as_str(), "cloudinit_debian-bookworm");
                assert_eq!(root_password_file, &dir.0.join("edis-root.pw"));
            }
            other => panic!("{other:?}"),
        }

        // "" unsets mode and profile; the key is lower case, the id as written.
        assert_eq!(other.key, "ecs:aaaaaaaa-2222-3333-4444-555555555555");
        assert_eq!(other.profile, None);
        assert_eq!(other.cloud_init, Version::V26_2);
        assert!(other.no_validate);
        match &other.action {
            Action::EcsReinstall {
                server,
                login: EcsLogin::Password(pw),
                stop: false,
            } => {
                assert_eq!(server.as_str(), "AAAAAAAA-2222-3333-4444-555555555555");
                assert_eq!(pw, &dir.0.join("other.pw"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// The module doc's example, taken from this file: it must be a valid plan.
    fn doc_example() -> String {
        let source = include_str!("mod.rs");
        let start = source.find("//! ```toml\n").unwrap() + "//! ```toml\n".len();
        let end = start + source[start..].find("//! ```\n").unwrap();
        source[start..end]
            .lines()
            .map(|l| {
                l.strip_prefix("//! ")
                    .unwrap_or(l.trim_start_matches("//!"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_documented_example_is_a_valid_plan() {
        let dir = Dir::new("doc-example");
        let text = doc_example();
        assert!(text.contains("[[targets]]"), "{text}");
        let plan = dir.plan(&text).unwrap();
        let keys: Vec<&str> = plan.targets.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ecs:11111111-2222-3333-4444-555555555555",
                "ecs:66666666-7777-8888-9999-000000000000",
                "edis:kvm_100001_200001"
            ]
        );
        assert!(matches!(
            &plan.targets[0].action,
            Action::EcsChangeOs { login: EcsLogin::Password(p), stop: true, .. }
                if p == &dir.0.join("ecs-admin.pw")
        ));
        assert!(matches!(
            &plan.targets[1].action,
            Action::EcsReinstall { login: EcsLogin::KeyPair { name, user_id }, .. }
                if name.as_str() == "ops-key" && user_id.as_str() == USER
        ));
        assert_eq!(plan.targets[1].user_data, None);
        assert_eq!(plan.targets[2].profile.as_deref(), Some("edis-account"));
        assert_eq!(plan.targets[2].cloud_init, Version::V22_4);
    }

    #[test]
    fn without_defaults_the_defaults_of_reimage_apply() {
        let dir = Dir::new("bare");
        let plan = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\nuser_data = \"/abs/u.yaml\"\n"
            ))
            .unwrap();
        let t = &plan.targets[0];
        assert_eq!(t.profile, None);
        assert_eq!(t.cloud_init, Version::V26_2);
        assert_eq!(t.user_data.as_deref(), Some(Path::new("/abs/u.yaml")));
        assert!(matches!(
            t.action,
            Action::EcsReinstall {
                login: EcsLogin::UserDataOnly,
                stop: false,
                ..
            }
        ));
    }

    #[test]
    fn api_forces_the_ecs_call_and_is_checked() {
        use reimage_client::wire::ecs::RebuildApi;
        let dir = Dir::new("api");
        let plan = dir
            .plan(&format!(
                "[defaults]\napi = \"plain\"\nadmin_password_file = \"pw\"\n\
                 [[targets]]\necs = \"{SERVER}\"\n\
                 [[targets]]\necs = \"{SERVER2}\"\napi = \"\"\n"
            ))
            .unwrap();
        assert_eq!(plan.targets[0].api, Some(RebuildApi::Plain));
        assert_eq!(plan.targets[1].api, None, "\"\" unsets the default");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\napi = \"v1\"\n"),
        );
        assert!(p.contains("\"v1\" is not an API"), "{p}");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\napi = \"plain\"\nuser_data = \"u\"\n"),
        );
        assert!(
            p.starts_with("targets[0].api (line 3): api \"plain\""),
            "{p}"
        );
        assert!(p.contains("takes no user data"), "{p}");
        let p = one_problem(
            &dir,
            "[[targets]]\nedis = \"kvm_100001_200001\"\nimage = \"debian-bullseye\"\n\
             root_password_file = \"r\"\napi = \"plain\"\n",
        );
        assert!(p.contains("is for ECS targets"), "{p}");
    }

    #[test]
    fn wait_known_hosts_and_ssh_port_default_to_the_job_and_are_checked() {
        let dir = Dir::new("wait");
        let login = "admin_password_file = \"pw\"\n";
        // A plan without the keys: today's behaviour, the job only.
        let plan = dir
            .plan(&format!("[[targets]]\necs = \"{SERVER}\"\n{login}"))
            .unwrap();
        assert_eq!(plan.targets[0].wait, Wait::Job);
        assert_eq!(plan.targets[0].known_hosts, KnownHosts::User);
        assert_eq!(plan.targets[0].ssh_port, 22);
        let plan = dir
            .plan(&format!(
                "[defaults]\nwait = \"ssh\"\nknown_hosts = \"kh\"\nssh_port = 2222\n{login}\
                 [[targets]]\necs = \"{SERVER}\"\n\
                 [[targets]]\necs = \"{SERVER2}\"\nwait = \"cloud-init\"\nknown_hosts = \"none\"\n\
                 ssh_port = 22\n\
                 [[targets]]\nedis = \"kvm_100001_200001\"\nimage = \"debian-bullseye\"\n\
                 root_password_file = \"r\"\n"
            ))
            .unwrap();
        assert_eq!(plan.targets[0].wait, Wait::Ssh);
        assert_eq!(
            plan.targets[0].known_hosts,
            KnownHosts::File(dir.0.join("kh"))
        );
        assert_eq!(plan.targets[0].ssh_port, 2222);
        assert_eq!(plan.targets[1].wait, Wait::CloudInit);
        assert_eq!(plan.targets[1].known_hosts, KnownHosts::None);
        assert_eq!(plan.targets[1].ssh_port, 22);
        assert_eq!(
            plan.targets[2].wait,
            Wait::Job,
            "a default wait is ignored on EDIS"
        );
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\n{login}wait = \"sshd\"\n"),
        );
        assert!(
            p.starts_with("targets[0].wait (line 4): \"sshd\" is not a stage"),
            "{p}"
        );
        assert!(p.contains("did you mean \"ssh\""), "{p}");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\n{login}ssh_port = 70000\n"),
        );
        assert!(p.contains("70000 is not a port"), "{p}");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\n{login}ssh_port = \"22\"\n"),
        );
        assert!(p.contains("must be a number"), "{p}");
        let p = one_problem(
            &dir,
            "[[targets]]\nedis = \"kvm_100001_200001\"\nimage = \"debian-bullseye\"\n\
             root_password_file = \"r\"\nwait = \"ssh\"\n",
        );
        assert!(p.contains("waits for the job only on EDIS targets"), "{p}");
        let p = one_problem(
            &dir,
            &format!(
                "[defaults]\nwait = \"ssh\"\n[[targets]]\necs = \"{SERVER}\"\n{login}api = \"plain\"\n"
            ),
        );
        assert!(
            p.starts_with("targets[0].api (line 6): api \"plain\""),
            "{p}"
        );
        assert!(p.contains("with wait = \"ssh\""), "{p}");
    }

    #[test]
    fn unknown_keys_are_refused_with_the_key_and_the_fix() {
        let dir = Dir::new("unknown");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\nimgae = \"x\"\nuser_data = \"u\"\n"),
        );
        assert_eq!(
            p,
            "targets[0] (line 3): unknown key \"imgae\" (did you mean \"image\"?); the keys of a \
             target are ecs, edis, image, profile, operation, user_data, cloud_init, \
             admin_password_file, keypair, user_id, root_password_file, mode, api, \
             keypair_only, no_validate, allow_lockout, weak_password, wait, known_hosts, \
             ssh_port; rename or remove it"
        );
        let p = one_problem(
            &dir,
            &format!("[defaults]\nimage = \"x\"\n[[targets]]\necs = \"{SERVER}\"\n"),
        );
        assert!(
            p.starts_with("defaults (line 2): unknown key \"image\""),
            "{p}"
        );
        assert!(p.contains("set them in each [[targets]] entry"), "{p}");
        let p = one_problem(
            &dir,
            &format!("profile = \"x\"\n[[targets]]\necs = \"{SERVER}\"\nuser_data = \"u\"\n"),
        );
        assert!(
            p.contains("unknown key \"profile\" at the top level")
                && p.contains("belongs in [defaults] or in a [[targets]] entry"),
            "{p}"
        );
        let p = one_problem(&dir, "[default]\nprofile = \"x\"\n");
        assert!(p.contains("(did you mean \"defaults\"?)"), "{p}");
    }

    #[test]
    fn a_target_names_exactly_one_server() {
        let dir = Dir::new("servers");
        let p = one_problem(
            &dir,
            &format!("[[targets]]\necs = \"{SERVER}\"\nedis = \"kvm_1_2\"\n"),
        );
        assert_eq!(
            p,
            "targets[0] (line 1): has both ecs and edis; a target is one server: split it into \
             two [[targets]] entries"
        );
        let p = one_problem(&dir, "[[targets]]\nimage = \"debian\"\n");
        assert!(
            p.starts_with("targets[0] (line 1): names no server; add ecs = "),
            "{p}"
        );
    }

    #[test]
    fn a_bad_id_names_the_index_the_key_and_the_line() {
        let dir = Dir::new("bad-id");
        let text = format!(
            "[defaults]\nuser_data = \"u.yaml\"\n\n[[targets]]\necs = \"{SERVER}\"\n\n\
             [[targets]]\necs = \"not-a-uuid\"\n\n[[targets]]\nedis = \"kvm_x_1\"\nimage = \"d\"\n"
        );
        let problems = problems(dir.plan(&text));
        assert_eq!(
            problems,
            [
                "targets[1].ecs (line 8): server_id: \"not-a-uuid\" is not a server id; expected \
                 a UUID in 8-4-4-4-12 hex form, e.g. 11111111-2222-3333-4444-555555555555",
                "targets[2].edis (line 11): kvm_id: \"kvm_x_1\" is not a KVM id; expected \
                 kvm_<digits>_<digits>, e.g. kvm_12345_67890",
            ]
        );
        let err = dir.plan(&text).unwrap_err().to_string();
        assert!(err.starts_with("plan "), "{err}");
        assert!(
            err.contains(": 2 problems:\n  - targets[1].ecs (line 8)"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let dir = Dir::new("values");
        let cases = [
            (
                "operation = \"changeos\"",
                "\"changeos\" is not an operation (did you mean \"change-os\"?)",
            ),
            (
                "cloud_init = \"23.1\"",
                "\"23.1\" is not a cloud-init version",
            ),
            ("mode = \"stop\"", "\"stop\" is not a mode"),
            ("no_validate = \"yes\"", "must be true or false"),
            (
                "user_data = 3",
                "must be a string; write it as user_data = \"…\"",
            ),
            ("user_data = \"~/u.yaml\"", "~ is not expanded"),
            ("admin_password_file = \"-\"", "not stdin"),
            ("user_id = \"me\"", "userid: \"me\" is not a user id"),
            (
                "keypair = \"my key\"",
                "keyname: \"my key\" is not a key pair name",
            ),
        ];
        for (line, want) in cases {
            let p = one_problem(&dir, &format!("[[targets]]\necs = \"{SERVER}\"\n{line}\n"));
            assert!(p.starts_with("targets[0]."), "{line}: {p}");
            assert!(p.contains("(line 3)"), "{line}: {p}");
            assert!(p.contains(want), "{line}: {p}");
        }
        // cloud_init written as a number is read as written.
        let plan = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\nuser_data = \"u\"\ncloud_init = 22.4\n"
            ))
            .unwrap();
        assert_eq!(plan.targets[0].cloud_init, Version::V22_4);
    }

    #[test]
    fn combinations_are_refused() {
        let dir = Dir::new("combinations");
        let ecs = format!("[[targets]]\necs = \"{SERVER}\"\n");
        let edis = "[[targets]]\nedis = \"kvm_1_2\"\n";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("{ecs}operation = \"change-os\"\nuser_data = \"u\"\n"),
                "targets[0] (line 1): change-os needs the new image; add image = ",
            ),
            (
                format!("{ecs}image = \"{IMAGE}\"\nuser_data = \"u\"\n"),
                "targets[0].image (line 3): is only for change-os",
            ),
            (
                format!("{ecs}operation = \"change-os\"\nimage = \"debian\"\nuser_data = \"u\"\n"),
                "targets[0].image (line 4): imageid: \"debian\" is not an image id",
            ),
            (
                format!(
                    "{edis}image = \"debian\"\noperation = \"change-os\"\nroot_password_file = \"r\"\n"
                ),
                "targets[0].operation (line 4): operation \"change-os\" is not an EDIS operation",
            ),
            (
                format!(
                    "[defaults]\noperation = \"change-os\"\n{edis}image = \"debian\"\nroot_password_file = \"r\"\n"
                ),
                "targets[0] (line 3): operation \"change-os\" (from [defaults]) is not an EDIS operation: an EDIS reinstall installs the image you name; set operation = \"reinstall\" on this target",
            ),
            (
                format!("{edis}image = \"debian\"\n"),
                "targets[0] (line 1): an EDIS reinstall needs root_password_file",
            ),
            (
                format!("{edis}root_password_file = \"r\"\n"),
                "targets[0] (line 1): an EDIS reinstall needs the image",
            ),
            (
                format!("{edis}image = \"debian\"\nroot_password_file = \"r\"\nkeypair = \"k\"\n"),
                "targets[0].keypair (line 5): is for ECS targets",
            ),
            (
                format!("{ecs}admin_password_file = \"a\"\nroot_password_file = \"r\"\n"),
                "targets[0].root_password_file (line 4): is for EDIS targets",
            ),
            (
                format!("{ecs}keypair = \"k\"\n"),
                "targets[0].keypair (line 3): keypair needs user_id",
            ),
            (
                format!("[defaults]\nkeypair = \"k\"\n{ecs}"),
                "targets[0] (line 3): keypair (from [defaults]) needs user_id",
            ),
            (
                format!("{ecs}user_id = \"{USER}\"\nadmin_password_file = \"a\"\n"),
                "targets[0].user_id (line 3): is set without keypair",
            ),
            (
                format!(
                    "{ecs}keypair = \"k\"\nuser_id = \"{USER}\"\nadmin_password_file = \"a\"\n"
                ),
                "targets[0] (line 1): admin_password_file and keypair are both set",
            ),
            (
                format!(
                    "[defaults]\nadmin_password_file = \"a\"\nkeypair = \"k\"\nuser_id = \"{USER}\"\n{ecs}"
                ),
                "targets[0] (line 5): admin_password_file (from [defaults]) and keypair (from [defaults]) are both set",
            ),
            (
                ecs.clone(),
                "targets[0] (line 1): no way to log in to the new OS",
            ),
            (
                format!("[defaults]\nuser_data = \"u\"\n{ecs}user_data = \"\"\n"),
                "targets[0] (line 3): no way to log in to the new OS",
            ),
        ];
        for (text, want) in cases {
            let p = one_problem(&dir, &text);
            assert!(p.starts_with(want), "{text}\n=> {p}\nwant {want}");
        }
        // A default user_id without a keypair is ignored.
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_id = \"{USER}\"\nadmin_password_file = \"a\"\n{ecs}"
            ))
            .unwrap();
        assert!(matches!(
            plan.targets[0].action,
            Action::EcsReinstall {
                login: EcsLogin::Password(_),
                ..
            }
        ));
    }

    #[test]
    fn a_server_appears_once() {
        let dir = Dir::new("duplicate");
        let text = format!(
            "[defaults]\nuser_data = \"u\"\n[[targets]]\necs = \"{SERVER}\"\n[[targets]]\necs = \
             \"{SERVER2}\"\n[[targets]]\necs = \"{}\"\n",
            SERVER.to_uppercase()
        );
        let p = one_problem(&dir, &text);
        assert_eq!(
            p,
            format!(
                "targets[2] (line 7): ecs:{SERVER} is already targets[0] (line 3); a server may \
                 appear only once in a plan: remove one of them"
            )
        );
    }

    #[test]
    fn an_empty_plan_is_refused() {
        let dir = Dir::new("empty");
        for text in ["", "[defaults]\nprofile = \"prod\"\n", "targets = []\n"] {
            let p = one_problem(&dir, text);
            assert!(
                p.starts_with("has no targets; add one [[targets]] entry"),
                "{p}"
            );
        }
        let e = dir.plan("").unwrap_err().to_string();
        assert!(
            e.starts_with("plan ") && e.contains("plan.toml: has no targets"),
            "{e}"
        );
        let p = one_problem(&dir, "targets = 3\n");
        assert!(p.contains("must be an array of tables"), "{p}");
    }

    #[test]
    fn unreadable_and_broken_files() {
        let dir = Dir::new("unreadable");
        let e = load(&dir.0.join("missing.toml")).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("missing.toml: does not exist; check the path"),
            "{e}"
        );
        let p = one_problem(&dir, "[[targets]\necs = 1\n");
        assert!(p.starts_with("is not valid TOML at line 1, column"), "{p}");
    }

    /// What a parse gave, comparable: the targets' `Debug` text or the problems.
    fn shown(parsed: Result<Vec<Target>, Vec<String>>) -> Result<String, Vec<String>> {
        parsed.map(|targets| format!("{targets:#?}"))
    }

    #[test]
    fn a_plan_read_in_pieces_reads_as_the_whole_file() {
        let dir = Dir::new("pieces");
        let starts = |text: &str| LineStarts::new(text);
        let upper = SERVER.to_uppercase();
        // Read in pieces: these must give exactly what the whole file gives, problems and their
        // lines included.
        let pieces = [
            EXAMPLE.to_owned(),
            doc_example(),
            format!(
                "[defaults]\nuser_data = \"u\"\n[[targets]]\necs = \"{SERVER}\"\n  [[targets]]  \
                 \r\necs = \"{SERVER2}\"\n[[targets]] # third\necs = \"{upper}\"\n"
            ),
            format!(
                "# a comment\n[[targets]]\necs = \"{SERVER}\"\nbogus = 1\n\n[[targets]]\n\
                 edis = \"kvm_1_2\"\n[[targets]]\necs = \"not-an-id\"\n"
            ),
            format!("[[targets]]\necs = \"{SERVER}\"\n[targets.deeper]\nx = 1\n"),
        ];
        for text in &pieces {
            let whole = shown(parse_whole(text, &dir.0, &starts(text)));
            let Some(in_pieces) = parse_in_pieces(text, &dir.0, &starts(text)) else {
                panic!("not read in pieces:\n{text}");
            };
            assert_eq!(shown(in_pieces), whole, "{text}");
            assert_eq!(shown(parse(text, &dir.0)), whole, "{text}");
        }
        // Read whole: a header inside a multi-line string, defaults after the targets, a target
        // array before the headers, a syntax error, no header alone on its line.
        let whole_only = [
            format!(
                "[defaults]\nprofile = \"\"\"\n[[targets]]\n\"\"\"\n[[targets]]\necs = \"{SERVER}\"\n"
            ),
            format!("[[targets]]\necs = \"{SERVER}\"\n[defaults]\nuser_data = \"u\"\n"),
            format!("targets = [{{ ecs = \"{SERVER}\" }}]\n[[targets]]\necs = \"{SERVER2}\"\n"),
            format!("[[targets]]\necs = \"{SERVER}\"\n[[targets]]\necs = \n"),
            format!("[[targets]] # first\necs = \"{SERVER}\"\n"),
            "".to_owned(),
        ];
        for text in &whole_only {
            assert!(
                parse_in_pieces(text, &dir.0, &starts(text)).is_none(),
                "read in pieces:\n{text}"
            );
            assert_eq!(
                shown(parse(text, &dir.0)),
                shown(parse_whole(text, &dir.0, &starts(text))),
                "{text}"
            );
        }
        // The header in a string is the profile's text, not a target: one target, at line 5.
        let in_string = shown(parse(&whole_only[0], &dir.0)).unwrap_err();
        assert_eq!(in_string.len(), 1, "{in_string:?}");
        assert!(
            in_string[0].starts_with("targets[0] (line 5): no way to log in"),
            "{in_string:?}"
        );
        let syntax = shown(parse(&whole_only[3], &dir.0)).unwrap_err();
        assert!(
            syntax[0].starts_with("is not valid TOML at line 4, column"),
            "{syntax:?}"
        );
        // And the lines of a plan read in pieces are the file's: the duplicate's is 7.
        let duplicate = shown(parse(&pieces[2], &dir.0)).unwrap_err();
        assert_eq!(
            duplicate,
            [format!(
                "targets[2] (line 7): ecs:{SERVER} is already targets[0] (line 3); a server may \
                 appear only once in a plan: remove one of them"
            )]
        );
    }
}
