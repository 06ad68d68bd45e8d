//! `## template: jinja` user data, rendered as cloud-init renders it, with [MiniJinja].
//!
//! cloud-init (`cloudinit/templater.py`, `detect_template` and `jinja_render`;
//! `cloudinit/handlers/jinja_template.py`, `render_jinja_payload` and
//! `convert_jinja_instance_data`) does this with a template:
//!
//! 1. the first line must be `## template: jinja` (any case, blanks around `jinja`); it is
//!    removed, and the rest is the template. Another word after `template:` is an error;
//! 2. the instance data (`instance-data.json`: `v1`, `ds`, `merged_cfg`, …) becomes the template's
//!    variables: the keys of `v1` are also top-level variables, and every key holding a Jinja
//!    operator (`-`, `.`, `/`, …) is also reachable by a name with `_` for each operator
//!    (`availability-zone` as `availability_zone`). The values listed in `base64-encoded-keys` are
//!    decoded;
//! 3. Jinja2's `SandboxedEnvironment` renders it, with `trim_blocks` and the `do` extension, no
//!    auto-escaping, and a trailing newline kept. A variable that is not there renders as
//!    `CI_MISSING_JINJA_VAR/<name>`, and cloud-init warns with the names; an attribute of such a
//!    variable, or a subtraction with one (`v1.availability-zone`), is an error, and cloud-init
//!    then ignores the whole template at boot;
//! 4. a syntax error (an unclosed `{% if %}`, an unknown filter) is an error, at the template's
//!    line (the header counted).
//!
//! [`render_template`] does the same with MiniJinja, set up to match: Jinja2's filters, tests and
//! globals (those MiniJinja lacks are added from `minijinja-contrib` where it has them, and those
//! Jinja2 lacks are removed, so a template that cloud-init refuses is refused here too), Python's
//! forms for `None`, `True` and lists in the output, and Python's string methods
//! (`.split('.')`, `.upper()`).
//!
//! What reimage cannot render the same way is said, never guessed: a Jinja2 filter MiniJinja
//! does not have (`wordwrap`, `center`, `xmlattr`, …) makes a warning and the rendered text is
//! not checked.
//!
//! [MiniJinja]: https://docs.rs/minijinja

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Kwargs, Object, ObjectExt as _, ObjectRepr, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, Value};

use crate::finding::{Code, Finding, Severity};
use crate::yaml::Mark;

/// What cloud-init renders in place of a variable the instance data does not have, before the
/// variable's name.
pub const MISSING_PREFIX: &str = "CI_MISSING_JINJA_VAR/";

/// How much work a template may take to render (MiniJinja's fuel: about one unit per
/// instruction): far more than any real user data needs, and a bound on a template that loops
/// over `range(10**9)`.
const FUEL: u64 = 20_000_000;

/// Jinja2's filters that MiniJinja (with `minijinja-contrib`) does not have: a template using one
/// renders in cloud-init but not here.
const UNSUPPORTED_FILTERS: [&str; 7] = [
    "center",
    "forceescape",
    "random",
    "urlize",
    "wordcount",
    "wordwrap",
    "xmlattr",
];

/// Python's methods that change a list or a dict in place (`{% do keys.append(k) %}`): MiniJinja's
/// values cannot change, so a template using one renders in cloud-init but not here.
const CHANGING_METHODS: [&str; 9] = [
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "update",
    "setdefault",
    "popitem",
];

/// MiniJinja's filters that Jinja2 does not have: cloud-init refuses a template that uses one.
const NOT_JINJA2_FILTERS: [&str; 6] = ["bool", "chain", "json", "lines", "split", "zip"];

/// MiniJinja's tests that Jinja2 does not have.
const NOT_JINJA2_TESTS: [&str; 4] = ["endingwith", "int", "safe", "startingwith"];

/// The instance data a template is rendered with: cloud-init's `instance-data.json` (`v1`, `ds`,
/// `merged_cfg`, `sys_info`, …), as given to `cloud-init schema -c FILE -i FILE`.
///
/// ```
/// use reimage_cloudinit::jinja::InstanceData;
///
/// let data = InstanceData::from_json(br#"{"v1": {"instance_id": "i-0123"}}"#).unwrap();
/// assert_eq!(data.as_json()["v1"]["instance_id"], "i-0123");
/// assert!(InstanceData::from_json(b"[1, 2]").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceData {
    data: serde_json::Map<String, serde_json::Value>,
    /// Whether this is all the instance will have (an `instance-data.json` from a booted
    /// instance), or only what is known before boot.
    complete: bool,
}

impl InstanceData {
    /// No instance data known: every variable is unknown until boot.
    pub fn empty() -> Self {
        Self::default()
    }

    /// What is known of an instance before it boots (its id, name, region, image, …). A variable
    /// it lacks renders as missing, as with cloud-init, but an attribute of it (`v1.x` when `v1`
    /// is not known) is not an error: it renders as `CI_MISSING_JINJA_VAR/v1.x`, unknown until
    /// boot.
    pub fn partial(data: serde_json::Map<String, serde_json::Value>) -> Self {
        Self {
            data,
            complete: false,
        }
    }

    /// Whether this is all the instance has (read from `instance-data.json`), so a variable it
    /// lacks will be missing at boot too.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Reads `instance-data.json`; the error says what is wrong with it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(serde_json::Value::Object(data)) => Ok(Self {
                data,
                complete: true,
            }),
            Ok(other) => Err(format!(
                "the instance data must be a JSON object (with `v1`, `ds`, …), not {}",
                json_kind(&other)
            )),
            Err(e) => Err(format!("the instance data is not JSON: {e}")),
        }
    }

    /// The whole instance data, from a JSON object already in memory.
    pub fn from_map(data: serde_json::Map<String, serde_json::Value>) -> Self {
        Self {
            data,
            complete: true,
        }
    }

    /// The instance data as JSON, as given.
    pub fn as_json(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.data
    }

    /// Whether there is no instance data at all.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The variables a template sees, as cloud-init's `convert_jinja_instance_data` makes them:
    /// `v1`'s keys copied to the top level, `_` aliases for keys holding an operator, and the
    /// `base64-encoded-keys` decoded.
    pub fn variables(&self) -> BTreeMap<String, serde_json::Value> {
        let decode: Vec<String> = self
            .data
            .get("base64-encoded-keys")
            .and_then(serde_json::Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(|k| k.replace('-', "_"))
                    .collect()
            })
            .unwrap_or_default();
        convert(&self.data, "", &decode)
    }
}

/// What reimage knows of a server before it boots, for [`InstanceData::before_boot`]. Every field
/// is optional: what is not known stays unknown until boot.
///
/// ```
/// use reimage_cloudinit::jinja::{InstanceData, Target, render_template};
///
/// let target = Target::default().with_instance_id("0b1c2d3e-0000-4000-8000-000000000001").with_region("eu-de");
/// let data = InstanceData::before_boot(&target);
/// let rendered = render_template(
///     "## template: jinja\n#cloud-config\nruncmd: [echo {{ v1.instance_id }} {{ v1.region }} {{ v1.local_hostname }}]\n",
///     &data,
/// )
/// .unwrap();
/// assert_eq!(
///     rendered.text,
///     "#cloud-config\nruncmd: [echo 0b1c2d3e-0000-4000-8000-000000000001 eu-de CI_MISSING_JINJA_VAR/local_hostname]\n"
/// );
/// assert_eq!(rendered.missing, ["local_hostname"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Target {
    /// The id cloud-init will see as `v1.instance_id` (an ECS server's id).
    pub instance_id: Option<String>,
    /// `v1.local_hostname`.
    pub local_hostname: Option<String>,
    /// `v1.region`.
    pub region: Option<String>,
    /// `v1.availability_zone`.
    pub availability_zone: Option<String>,
    /// `v1.cloud_name`.
    pub cloud_name: Option<String>,
    /// `v1.platform`.
    pub platform: Option<String>,
}

impl Target {
    /// Sets `v1.instance_id`.
    #[must_use]
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Sets `v1.local_hostname`.
    #[must_use]
    pub fn with_local_hostname(mut self, name: impl Into<String>) -> Self {
        self.local_hostname = Some(name.into());
        self
    }

    /// Sets `v1.region`.
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets `v1.availability_zone`.
    #[must_use]
    pub fn with_availability_zone(mut self, zone: impl Into<String>) -> Self {
        self.availability_zone = Some(zone.into());
        self
    }

    /// Sets `v1.cloud_name`.
    #[must_use]
    pub fn with_cloud_name(mut self, cloud: impl Into<String>) -> Self {
        self.cloud_name = Some(cloud.into());
        self
    }

    /// Sets `v1.platform`.
    #[must_use]
    pub fn with_platform(mut self, platform: impl Into<String>) -> Self {
        self.platform = Some(platform.into());
        self
    }
}

impl InstanceData {
    /// The instance data of `target` as far as it is known before boot, in the form cloud-init
    /// writes (`sources/__init__.py`, `_get_standardized_metadata`: each `v1` key under both its
    /// `_` and `-` spellings). It is [partial](InstanceData::partial): what is not known is
    /// unknown until boot, never an error.
    pub fn before_boot(target: &Target) -> Self {
        let mut v1 = serde_json::Map::new();
        let fields = [
            ("instance_id", &target.instance_id),
            ("local_hostname", &target.local_hostname),
            ("region", &target.region),
            ("availability_zone", &target.availability_zone),
            ("cloud_name", &target.cloud_name),
            ("platform", &target.platform),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                v1.insert(key.to_owned(), serde_json::Value::from(value.as_str()));
                if key != "region" && key != "platform" {
                    v1.insert(
                        key.replace('_', "-"),
                        serde_json::Value::from(value.as_str()),
                    );
                }
            }
        }
        let mut data = serde_json::Map::new();
        if !v1.is_empty() {
            data.insert("v1".to_owned(), serde_json::Value::Object(v1));
        }
        Self::partial(data)
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// cloud-init's `convert_jinja_instance_data`, over a JSON object.
fn convert(
    data: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    decode: &[String],
) -> BTreeMap<String, serde_json::Value> {
    let mut result = BTreeMap::new();
    // Python walks `sorted(data.items())`; later keys overwrite earlier copies, as there.
    let sorted: BTreeMap<&String, &serde_json::Value> = data.iter().collect();
    for (key, value) in sorted {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}/{key}")
        };
        let mut value = value.clone();
        if let Some(decoded) = decode
            .contains(&path)
            .then(|| value.as_str().and_then(decode_base64))
            .flatten()
        {
            value = serde_json::Value::String(decoded);
        }
        let converted = match &value {
            serde_json::Value::Object(inner) => {
                let inner = convert(inner, &path, decode);
                if is_version_key(key) {
                    for (sub, subvalue) in &inner {
                        result.insert(sub.clone(), subvalue.clone());
                    }
                }
                serde_json::Value::Object(inner.into_iter().collect())
            }
            _ => value,
        };
        result.insert(key.clone(), converted.clone());
        if let Some(alias) = alias(key) {
            result.insert(alias, converted);
        }
    }
    result
}

/// `v1`, `v2`, …: cloud-init copies such a key's contents to the top level.
fn is_version_key(key: &str) -> bool {
    key.strip_prefix('v')
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// The key with every Jinja operator replaced by `_` (two-character operators such as `//` and
/// `**` by one `_`), as cloud-init's `get_jinja_variable_alias`; `None` if there is none.
pub fn alias(key: &str) -> Option<String> {
    const TWO: [&str; 6] = ["//", "**", "==", "!=", ">=", "<="];
    const ONE: &str = "+-/*%~[](){}><=.:|,;";
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(c) = rest.chars().next() {
        if TWO.iter().any(|op| rest.starts_with(op)) {
            out.push('_');
            rest = &rest[2..];
        } else {
            out.push(if ONE.contains(c) { '_' } else { c });
            rest = &rest[c.len_utf8()..];
        }
    }
    (out != key).then_some(out)
}

fn decode_base64(text: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A rendered template.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rendered {
    /// The rendered text, without the `## template: jinja` line: what cloud-init hands on to the
    /// handler of its own kind (`#cloud-config`, `#!`, …).
    pub text: String,
    /// The variables rendered as `CI_MISSING_JINJA_VAR/<name>`, each once, in order.
    pub missing: Vec<String>,
    /// Whether every line of the rendered text comes from the template line just below it (the
    /// template has no `{% %}` or `{# #}` tags, no `{{ }}` over several lines or with `-`
    /// trimming white space, and no value brought a line break), so rendered line `n` is line
    /// `n + 1` of the file.
    pub exact_lines: bool,
}

impl Rendered {
    /// The file's line (header counted) that rendered line `line` comes from, when the mapping
    /// is exact.
    pub fn template_line(&self, line: u32) -> Option<u32> {
        self.exact_lines.then(|| line.saturating_add(1))
    }
}

/// Renders a `## template: jinja` template with `data` as cloud-init does. `text` is the whole
/// template, header line included (for a MIME part `text/jinja2` too: cloud-init wants the
/// header there as well).
///
/// An `Err` is one finding: an error when cloud-init would refuse or ignore the template (a
/// syntax error, at its line; an attribute of a missing variable), or a warning when reimage
/// cannot render it the same way (a Jinja2 filter MiniJinja lacks), so the result is unknown.
///
/// ```
/// use reimage_cloudinit::jinja::{InstanceData, render_template};
///
/// let data = InstanceData::from_json(br#"{"v1": {"availability-zone": "eu-de-01"}}"#).unwrap();
/// let template = "## template: jinja\n#cloud-config\nhostname: {{ v1.availability_zone }}-{{ nope }}\n";
/// let rendered = render_template(template, &data).unwrap();
/// assert_eq!(rendered.text, "#cloud-config\nhostname: eu-de-01-CI_MISSING_JINJA_VAR/nope\n");
/// assert_eq!(rendered.missing, ["nope"]);
///
/// let error = render_template("## template: jinja\n{% if x %}\nhi\n", &data).unwrap_err();
/// assert_eq!(error.line, 3); // the last line, as cloud-init says: "on line 3: hi"
/// ```
pub fn render_template(text: &str, data: &InstanceData) -> Result<Rendered, Finding> {
    let (header, body) = text.split_once('\n').unwrap_or((text, ""));
    check_header(header)?;
    let failures = Failures {
        complete: data.complete,
        ..Failures::default()
    };
    let env = environment();
    let root = Root::new(data.variables(), &env, failures.clone());
    let template = env
        .template_from_str(body)
        .map_err(|e| syntax_error(&e, body))?;
    let rendered = template
        .render(Value::from_object(root))
        .map_err(|e| render_error(&e, body))?;
    if let Some(failure) = failures.first() {
        return Err(error_at(
            1,
            format!(
                "cloud-init cannot render the template: {failure}; at boot it ignores the whole \
                 template. Test the variable with `is defined` before using its attributes"
            ),
        ));
    }
    let mut rendered = rendered;
    if body.ends_with('\n') {
        rendered.push('\n');
    }
    let missing = missing_names(&rendered);
    let exact_lines = exact_lines(body, &rendered);
    Ok(Rendered {
        text: rendered,
        missing,
        exact_lines,
    })
}

fn check_header(header: &str) -> Result<(), Finding> {
    let lower = header.to_lowercase();
    let kind = lower
        .strip_prefix("##")
        .map(str::trim_start)
        .and_then(|rest| rest.strip_prefix("template:"))
        .map(str::trim);
    match kind {
        Some("jinja") => Ok(()),
        Some(other) => Err(error_at(
            1,
            format!(
                "the template header asks for the renderer {other:?}: cloud-init knows `jinja` \
                 and `basic` and fails on any other; write `## template: jinja`"
            ),
        )),
        None => Err(error_at(
            1,
            "the first line is not `## template: jinja`: cloud-init does not render this as a \
             Jinja template",
        )),
    }
}

fn error_at(line: u32, message: impl Into<String>) -> Finding {
    Finding::new(
        Severity::Error,
        Code::Jinja,
        "",
        Mark {
            line,
            column: 1,
            index: 0,
        },
        message,
    )
}

/// The file's line (header counted) of a MiniJinja error, and that line's text.
fn error_line(error: &Error, body: &str) -> (u32, String) {
    let body_line = error.line().unwrap_or(1).max(1);
    let content = body
        .lines()
        .nth(body_line - 1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let line = u32::try_from(body_line)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    (line, content)
}

fn detail(error: &Error) -> String {
    error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned)
}

fn syntax_error(error: &Error, body: &str) -> Finding {
    let (line, content) = error_line(error, body);
    error_at(
        line,
        format!(
            "the Jinja template has a syntax error: {} on line {line}: {content:?}; cloud-init \
             cannot render it and ignores it at boot",
            detail(error)
        ),
    )
}

fn render_error(error: &Error, body: &str) -> Finding {
    let (line, content) = error_line(error, body);
    let name = detail(error);
    let unknown = matches!(
        error.kind(),
        ErrorKind::UnknownFilter | ErrorKind::UnknownTest | ErrorKind::UnknownFunction
    );
    if unknown {
        if let Some(filter) = UNSUPPORTED_FILTERS
            .iter()
            .chain(["lipsum", "callable"].iter())
            .find(|f| name.split_whitespace().any(|w| w == **f))
        {
            return Finding::new(
                Severity::Warning,
                Code::Jinja,
                "",
                Mark {
                    line,
                    column: 1,
                    index: 0,
                },
                format!(
                    "`{filter}` (line {line}) is in cloud-init's Jinja, but reimage cannot render \
                     it: the rendered template was not checked"
                ),
            );
        }
        return error_at(
            line,
            format!(
                "the Jinja template uses what cloud-init's Jinja does not have: {name} on line \
                 {line}: {content:?}; cloud-init refuses the template"
            ),
        );
    }
    if error.kind() == ErrorKind::OutOfFuel {
        return Finding::new(
            Severity::Warning,
            Code::Jinja,
            "",
            Mark {
                line,
                column: 1,
                index: 0,
            },
            format!(
                "the template takes more than {FUEL} steps to render (near line {line}): \
                 reimage stopped, and the rendered template was not checked"
            ),
        );
    }
    // Python's `'%s' % x` formatting: Jinja2 has it, MiniJinja does not.
    if error.kind() == ErrorKind::InvalidOperation && name.contains("% operator") {
        return Finding::new(
            Severity::Warning,
            Code::Jinja,
            "",
            Mark {
                line,
                column: 1,
                index: 0,
            },
            format!(
                "`%` string formatting (line {line}) is in cloud-init's Jinja, but reimage cannot \
                 render it (write `\"%s\" | format(x)`): the rendered template was not checked"
            ),
        );
    }
    let changing = CHANGING_METHODS
        .iter()
        .find(|m| name.split_whitespace().any(|w| w == **m));
    if let (ErrorKind::UnknownMethod, Some(method)) = (error.kind(), changing) {
        return Finding::new(
            Severity::Warning,
            Code::Jinja,
            "",
            Mark {
                line,
                column: 1,
                index: 0,
            },
            format!(
                "`.{method}()` (line {line}) changes a value in place, which cloud-init's \
                     Jinja allows and reimage cannot render: the rendered template was not \
                     checked"
            ),
        );
    }
    let hint = subtraction_hint(&content)
        .map(|(a, b)| {
            format!(
                ". `{a}-{b}` is a subtraction in Jinja; cloud-init also gives the key as \
                 `{a}_{b}`"
            )
        })
        .unwrap_or_default();
    error_at(
        line,
        format!(
            "cloud-init cannot render the template: {name} on line {line}: {content:?}{hint}; at \
             boot it ignores the whole template"
        ),
    )
}

/// `name-name` inside `{{ }}` on a line: a dashed key written as if it were a name.
fn subtraction_hint(line: &str) -> Option<(String, String)> {
    let re = regex_lite::Regex::new(
        r"\{\{[^}]*?([A-Za-z_][A-Za-z0-9_]*)\s*-\s*([A-Za-z_][A-Za-z0-9_]*)",
    )
    .ok()?;
    let caps = re.captures(line)?;
    Some((caps[1].to_owned(), caps[2].to_owned()))
}

/// The names cloud-init lists in its warning: whatever follows `CI_MISSING_JINJA_VAR/` up to
/// white space, each once.
fn missing_names(rendered: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    let mut rest = rendered;
    while let Some(at) = rest.find(MISSING_PREFIX) {
        rest = &rest[at + MISSING_PREFIX.len()..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        // cloud-init takes everything up to white space (`nope]` in `[{{ nope }}]`); the name
        // stops before such punctuation.
        let name = rest[..end].trim_end_matches([']', ')', '}', ',', '\'', '"', ':', ';']);
        if seen.insert(name.to_owned()) {
            names.push(name.to_owned());
        }
        rest = &rest[end..];
    }
    names
}

fn exact_lines(body: &str, rendered: &str) -> bool {
    if body.contains("{%") || body.contains("{#") || body.contains("{{-") || body.contains("-}}") {
        return false;
    }
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start..];
        let end = after.find("}}").unwrap_or(after.len());
        if after[..end].contains('\n') {
            return false;
        }
        rest = &after[end..];
    }
    body.lines().count() == rendered.lines().count()
}

/// What cloud-init's Jinja raises and MiniJinja would let pass: an attribute of a missing
/// variable. Recorded while rendering, turned into an error after.
/// With partial instance data such an attribute is unknown until boot, not an error.
#[derive(Debug, Clone, Default)]
struct Failures {
    failures: Arc<Mutex<Vec<String>>>,
    complete: bool,
}

impl Failures {
    fn record(&self, failure: String) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(failure);
        }
    }

    fn first(&self) -> Option<String> {
        self.failures.lock().ok().and_then(|f| f.first().cloned())
    }
}

/// The environment cloud-init's `jinja_render` sets up, in MiniJinja.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // `trim_blocks`, and the last newline dropped (cloud-init adds it back).
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .keep_trailing_newline(false)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    for name in NOT_JINJA2_FILTERS {
        env.remove_filter(name);
    }
    for name in NOT_JINJA2_TESTS {
        env.remove_test(name);
    }
    env.remove_global("debug");
    env.add_filter("filesizeformat", minijinja_contrib::filters::filesizeformat);
    env.add_filter("truncate", truncate);
    env.add_filter("striptags", minijinja_contrib::filters::striptags);
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_test("defined", |v: &Value| !is_missing(v));
    env.add_test("undefined", |v: &Value| is_missing(v));
    env.add_global(
        "cycler",
        Value::from_function(minijinja_contrib::globals::cycler),
    );
    env.add_global(
        "joiner",
        Value::from_function(minijinja_contrib::globals::joiner),
    );
    env.set_formatter(format_value);
    env
}

/// Jinja2's `truncate(s, length=255, killwords=False, end='...', leeway=5)`, positional or by
/// name (`minijinja-contrib`'s takes names only); `leeway` by name only.
fn truncate(
    s: String,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let length = length.or(kwargs.get("length")?).unwrap_or(255);
    let killwords = killwords.or(kwargs.get("killwords")?).unwrap_or(false);
    let end = end
        .or(kwargs.get("end")?)
        .unwrap_or_else(|| "...".to_owned());
    let leeway = kwargs.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kwargs.assert_all_used()?;
    let chars: Vec<char> = s.chars().collect();
    let end_len = end.chars().count();
    if length < end_len {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "truncate: the length is shorter than the end text",
        ));
    }
    if chars.len() <= length + leeway {
        return Ok(s);
    }
    let kept: String = chars[..length - end_len].iter().collect();
    if killwords {
        return Ok(kept + &end);
    }
    let words = kept
        .rsplit_once(' ')
        .map_or(kept.as_str(), |(head, _)| head);
    Ok(format!("{words}{end}"))
}

/// Whether `value` is undefined in Jinja2's sense: missing from the instance data.
fn is_missing(value: &Value) -> bool {
    value.is_undefined() || value.downcast_object_ref::<Missing>().is_some()
}

/// Jinja2's `default(value, default_value='', boolean=False)`.
fn default(value: Value, other: Option<Value>, boolean: Option<bool>) -> Value {
    if is_missing(&value) || (boolean == Some(true) && !value.is_true()) {
        other.unwrap_or_else(|| Value::from(""))
    } else {
        value
    }
}

/// Writes a value as Python's `str()` would: `None`, `True`, `['a', 1]`.
fn format_value(
    out: &mut minijinja::Output<'_>,
    state: &mut State<'_, '_>,
    value: &Value,
) -> Result<(), Error> {
    let text = if value.is_undefined() {
        // Looked up with `[…]`: Jinja2 knows the name; MiniJinja does not tell it.
        format!("{MISSING_PREFIX}[subscript]")
    } else if matches!(
        value.kind(),
        ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map
    ) {
        // A missing variable is iterable, not a sequence: it prints as itself.
        py_repr(value)
    } else {
        return minijinja::escape_formatter(out, state, value);
    };
    out.write_str(&text)
        .map_err(|_| Error::new(ErrorKind::WriteFailure, "could not write the output"))
}

/// Python's `repr()` of a value, for the forms a template prints.
fn py_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => "None".to_owned(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.to_owned(),
        ValueKind::String => py_str_repr(value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| it.map(|v| py_repr(&v)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| {
                    it.map(|k| {
                        let v = value.get_item(&k).unwrap_or(Value::UNDEFINED);
                        format!("{}: {}", py_repr(&k), py_repr(&v))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => value.to_string(),
    }
}

fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn to_value(json: &serde_json::Value, failures: &Failures) -> Value {
    match json {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::from(
            items
                .iter()
                .map(|v| to_value(v, failures))
                .collect::<Vec<_>>(),
        ),
        serde_json::Value::Object(map) => Value::from_object(DataMap {
            entries: map
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v, failures)))
                .collect(),
            failures: failures.clone(),
        }),
    }
}

/// A mapping of the instance data. `key in map` and `map['key']` see only its keys; `map.key` for
/// a key it does not have gives a [`Missing`] variable, as Jinja2's `getattr` gives cloud-init's
/// `UndefinedJinjaVariable`.
#[derive(Debug)]
struct DataMap {
    entries: BTreeMap<String, Value>,
    failures: Failures,
}

impl Object for DataMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries.get(key.as_str()?).cloned()
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        Some(self.entries.get(key).cloned().unwrap_or_else(|| {
            Value::from_object(Missing {
                name: key.to_owned(),
                failures: self.failures.clone(),
            })
        }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| {
            Box::new(
                this.entries
                    .keys()
                    .map(|k| Value::from(k.as_str()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            )
        })
    }
}

/// The template's variables: the converted instance data; a name it does not have (and that is
/// not one of Jinja's globals such as `range`) is a [`Missing`] variable.
#[derive(Debug)]
struct Root {
    entries: BTreeMap<String, Value>,
    globals: BTreeSet<String>,
    failures: Failures,
}

impl Root {
    fn new(
        variables: BTreeMap<String, serde_json::Value>,
        env: &Environment<'_>,
        failures: Failures,
    ) -> Self {
        Self {
            entries: variables
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v, &failures)))
                .collect(),
            globals: env.globals().map(|(name, _)| name.to_owned()).collect(),
            failures,
        }
    }
}

impl Object for Root {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries.get(key.as_str()?).cloned()
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        if let Some(value) = self.entries.get(key) {
            return Some(value.clone());
        }
        if self.globals.contains(key) {
            return None;
        }
        Some(Value::from_object(Missing {
            name: key.to_owned(),
            failures: self.failures.clone(),
        }))
    }
}

/// cloud-init's `UndefinedJinjaVariable`: prints as `CI_MISSING_JINJA_VAR/<name>`, is false,
/// iterates as nothing; an attribute of it is an error.
#[derive(Debug)]
struct Missing {
    name: String,
    failures: Failures,
}

impl Object for Missing {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if !self.failures.complete {
            return Some(Value::from_object(Missing {
                name: format!("{}.{key}", self.name),
                failures: self.failures.clone(),
            }));
        }
        self.failures.record(format!(
            "`{}` is not in the instance data, so its attribute `{key}` cannot be read",
            self.name
        ));
        None
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        if !self.failures.complete {
            return Ok(Value::from_object(Missing {
                name: format!("{}.{method}()", self.name),
                failures: self.failures.clone(),
            }));
        }
        Err(Error::new(
            ErrorKind::UndefinedError,
            format!(
                "`{}` is not in the instance data, so `.{method}()` cannot be called on it",
                self.name
            ),
        ))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        false
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{MISSING_PREFIX}{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> InstanceData {
        InstanceData::from_json(
            br#"{
              "v1": {"instance_id": "i-0123456789", "availability-zone": "eu-de-01",
                     "local_hostname": "web-01", "region": "eu-de", "public_ssh_keys": ["k1", "k2"],
                     "tags": null, "flag": true},
              "ds": {"meta_data": {"user-data.key": "x", "a//b": 1}},
              "merged_cfg": {"v1": "not copied"},
              "base64-encoded-keys": ["ds/secret"]
            }"#,
        )
        .unwrap()
    }

    fn render(body: &str) -> Result<Rendered, Finding> {
        render_template(&format!("## template: jinja\n{body}"), &data())
    }

    #[test]
    fn aliases_replace_each_operator() {
        assert_eq!(
            alias("availability-zone").as_deref(),
            Some("availability_zone")
        );
        assert_eq!(alias("v1.0").as_deref(), Some("v1_0"));
        assert_eq!(alias("a//b**c==d").as_deref(), Some("a_b_c_d"));
        assert_eq!(alias("plain_key"), None);
    }

    #[test]
    fn v1_keys_and_aliases_are_variables() {
        let r = render("{{ v1.availability_zone }} {{ availability_zone }} {{ instance_id }} {{ ds.meta_data.user_data_key }} {{ ds.meta_data.a_b }}\n").unwrap();
        assert_eq!(r.text, "eu-de-01 eu-de-01 i-0123456789 x 1\n");
        assert!(r.missing.is_empty());
        assert!(r.exact_lines);
        assert_eq!(r.template_line(1), Some(2));
        assert!(!render("a\n{{- '\\n' -}}\nb\n").unwrap().exact_lines);
        assert!(
            !render("a: {{ ds.meta_data.user_data_key ~ '\\n' }}\n")
                .unwrap()
                .exact_lines
        );
    }

    #[test]
    fn missing_variables_render_as_cloud_init_renders_them() {
        let r = render("a: {{ nope }}\nb: {{ v1.nothing }}\nc: {{ nope }}\n").unwrap();
        assert_eq!(
            r.text,
            "a: CI_MISSING_JINJA_VAR/nope\nb: CI_MISSING_JINJA_VAR/nothing\nc: CI_MISSING_JINJA_VAR/nope\n"
        );
        assert_eq!(r.missing, ["nope", "nothing"]);
        // Missing is false, iterates as nothing, and is not defined.
        let r = render("{% if nope %}yes{% else %}no{% endif %} {% for x in nope %}{{ x }}{% endfor %}|{{ nope is defined }} {{ v1.region is defined }} {{ nope | default('d') }}\n").unwrap();
        assert_eq!(r.text, "no |False True d\n");
        // `in` sees only the keys that are there.
        let r = render("{{ 'region' in v1 }} {{ 'nope' in v1 }}\n").unwrap();
        assert_eq!(r.text, "True False\n");
    }

    #[test]
    fn an_attribute_of_a_missing_variable_is_an_error() {
        let e = render("x: {{ v1.nope.deeper }}\n").unwrap_err();
        assert_eq!(e.severity, Severity::Error);
        assert!(e.message.contains("`nope`"), "{}", e.message);
    }

    #[test]
    fn without_the_whole_instance_data_attributes_are_unknown_until_boot() {
        let r = render_template(
            "## template: jinja\nruncmd: {{ v1.instance_id }}\n",
            &InstanceData::empty(),
        )
        .unwrap();
        assert_eq!(r.text, "runcmd: CI_MISSING_JINJA_VAR/v1.instance_id\n");
        assert_eq!(r.missing, ["v1.instance_id"]);
        let complete = InstanceData::from_json(b"{}").unwrap();
        assert!(complete.is_complete() && !InstanceData::empty().is_complete());
        assert!(render_template("## template: jinja\n{{ v1.instance_id }}\n", &complete).is_err());
        // A method of an unknown value is unknown too, unless the data is complete.
        let r = render_template(
            "## template: jinja\n{{ v1.local_hostname.split('.')[0] }}\n",
            &InstanceData::before_boot(&Target::default().with_region("eu-de")),
        )
        .unwrap();
        assert_eq!(r.missing, ["local_hostname.split().0"]);
        let e =
            render_template("## template: jinja\n{{ v1.nope.upper() }}\n", &data()).unwrap_err();
        assert_eq!(e.severity, Severity::Error);
    }

    #[test]
    fn a_dashed_name_is_a_subtraction_and_an_error() {
        let e = render("#cloud-config\nhostname: {{ v1.availability-zone }}\n").unwrap_err();
        assert_eq!((e.severity, e.line), (Severity::Error, 3));
        assert!(e.message.contains("`availability_zone`"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_are_at_the_files_line() {
        let e = render("#cloud-config\n{% if v1.region %}\nhostname: a\n").unwrap_err();
        assert_eq!(
            (e.severity, e.code, e.line),
            (Severity::Error, Code::Jinja, 4)
        );
        let e = render("#cloud-config\nhostname: {{ v1.region | nosuchfilter }}\n").unwrap_err();
        assert_eq!((e.severity, e.line), (Severity::Error, 3));
        assert!(e.message.contains("nosuchfilter"), "{}", e.message);
        // MiniJinja's own filters are not in cloud-init's Jinja.
        let e = render("{{ 'a.b' | split('.') }}\n").unwrap_err();
        assert_eq!(e.severity, Severity::Error);
    }

    #[test]
    fn jinja2_filters_minijinja_lacks_are_a_warning() {
        let e = render("{{ 'a b' | wordwrap(3) }}\n").unwrap_err();
        assert_eq!(e.severity, Severity::Warning);
        assert!(e.message.contains("wordwrap"), "{}", e.message);
    }

    #[test]
    fn methods_that_change_a_value_are_a_warning() {
        let e = render("{% set l = [] %}{% do l.append(1) %}{{ l }}\n").unwrap_err();
        assert_eq!(e.severity, Severity::Warning);
        assert!(e.message.contains("`.append()`"), "{}", e.message);
    }

    #[test]
    fn locals_macros_and_globals_are_not_taken_for_missing_variables() {
        let r = render("{% set zone = v1.availability_zone %}{% macro host(n) %}web-{{ n }}{% endmacro %}{% set ns = namespace(count=0) %}{% for k in v1.public_ssh_keys %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ zone }} {{ host(loop_free) }} {{ ns.count }} {{ range(2) | list }} {{ dict(a=1).a }}\n").unwrap();
        assert_eq!(
            r.text,
            "eu-de-01 web-CI_MISSING_JINJA_VAR/loop_free 2 [0, 1] 1\n"
        );
        assert_eq!(r.missing, ["loop_free"]);
    }

    #[test]
    fn endless_work_is_bounded() {
        let e = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
        )
        .unwrap_err();
        assert_eq!(e.severity, Severity::Warning);
        assert!(e.message.contains("steps to render"), "{}", e.message);
    }

    #[test]
    fn percent_formatting_is_a_warning() {
        let e = render("{{ '%s-%s' % (v1.region, 1) }}\n").unwrap_err();
        assert_eq!(e.severity, Severity::Warning);
        assert!(e.message.contains("`%` string formatting"), "{}", e.message);
        // A real type error is cloud-init's error too.
        let e = render("{{ v1.region + 1 }}\n").unwrap_err();
        assert_eq!(e.severity, Severity::Error);
    }

    #[test]
    fn truncate_takes_jinja2s_arguments() {
        let r = render("{{ 'hello big world' | truncate(9) }}|{{ 'hello big world' | truncate(9, True, '') }}|{{ 'hello big world' | truncate(length=9, leeway=0) }}|{{ 'short' | truncate(3) }}\n").unwrap();
        assert_eq!(r.text, "hello...|hello big|hello...|short\n");
    }

    #[test]
    fn values_print_as_python_prints_them() {
        let r = render("{{ v1.tags }} {{ v1.flag }} {{ v1.public_ssh_keys }} {{ v1.region.upper() }} {{ v1.local_hostname.split('-')[0] }}\n").unwrap();
        assert_eq!(r.text, "None True ['k1', 'k2'] EU-DE web\n");
    }

    #[test]
    fn loops_trim_blocks_and_do() {
        let r = render("keys:\n{% for k in v1.public_ssh_keys %}\n  - {{ k }}\n{% endfor %}\n{% do v1.region.upper() %}\n").unwrap();
        assert!(
            r.text.starts_with("keys:\n  - k1\n  - k2\n"),
            "{:?}",
            r.text
        );
        assert!(!r.exact_lines);
    }

    #[test]
    fn base64_keys_are_decoded() {
        let data = InstanceData::from_json(
            br#"{"ds": {"secret": "aGVsbG8="}, "base64-encoded-keys": ["ds/secret"]}"#,
        )
        .unwrap();
        let r = render_template("## template: jinja\n{{ ds.secret }}", &data).unwrap();
        assert_eq!(r.text, "hello");
    }

    #[test]
    fn headers_other_than_jinja_are_refused() {
        let e = render_template("## template: mako\nx\n", &data()).unwrap_err();
        assert!(e.message.contains("\"mako\""), "{}", e.message);
        assert!(render_template("##Template:  JINJA \nx\n", &data()).is_ok());
    }
}
