//! The offline check of a plan (`reimage fleet check`): every target judged before anything is
//! sent (its files, its user data with cloud-init's verdict, its password by the provider's
//! rules, its profile's credentials), and the result as an aligned text table or one JSON
//! document.

use std::collections::HashMap;
use std::path::Path;

use reimage_cloudinit::schema::Version;
use reimage_cloudinit::{Options, Severity};
use reimage_core::UserData;
use serde_json::{Value, json};

use super::inputs::{cached, not_cloud_init, shown};
use super::{Action, EcsLogin, Inputs, Plan, Provider, Target};
use crate::text::one_line;

/// How many validation errors of one user data file a target's problems quote.
const SHOWN_FINDINGS: usize = 3;

/// One line of `reimage fleet check`: what would happen to a target, and what stops it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckRow {
    /// `ecs:<id>` or `edis:<id>`.
    pub key: String,
    /// `ecs` or `edis`.
    pub provider: &'static str,
    /// `reinstall` or `change-os`.
    pub operation: &'static str,
    /// The image: an id or name, or `(current)` for an ECS reinstall.
    pub image: String,
    /// The profile, or `(default)`.
    pub profile: String,
    /// How to log in: `password FILE`, `keypair NAME`, `user data`, `root password FILE`.
    pub login: String,
    /// The user data and its verdict (`cloud.yaml: valid (22.4), 1 warning`), or `-`.
    pub user_data: String,
    /// What must be fixed before the target can be sent; empty when it is ready.
    pub problems: Vec<String>,
    /// What may go wrong but does not stop it (a password in a key-pair-only region).
    pub warnings: Vec<String>,
}

impl CheckRow {
    /// Whether nothing stops the target.
    pub fn ready(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What validation said about one user data file, for one version, provider and login.
struct Verdict {
    summary: String,
    errors: Vec<String>,
    error_count: usize,
    /// Over the provider's size limit: it cannot be sent at all.
    oversize: Option<String>,
    /// It leaves no way to log in: a problem unless `allow_lockout`.
    lockout: Option<String>,
}

/// Whether a profile (`None`: the default one) has the provider's credentials, offline; the
/// error says what is missing and how to give it.
pub type CredentialsOk<'a> = dyn Fn(Option<&str>, Provider) -> Result<(), String> + 'a;

/// Resolves a profile (`None`: the default one) to its settings, as `reimage_config::infer` does
/// for the command line; the error says what is wrong and how to fix it. A caller that checks
/// or applies a plan of many targets should resolve each profile once and keep the result.
pub type Resolve = dyn Fn(Option<&str>) -> Result<reimage_config::Resolved, String> + Send + Sync;

/// The [`CredentialsOk`] of settings resolved by `resolve`: whether a profile has what the
/// provider needs, offline. ECS needs its endpoint, a way to authenticate, and a project (by id,
/// or by name for a token); EDIS needs the account's email and password. Nothing is sent.
pub fn credentials_ok(
    resolve: &Resolve,
) -> impl Fn(Option<&str>, Provider) -> Result<(), String> + '_ {
    move |profile, provider| {
        let r = resolve(profile)?;
        match provider {
            Provider::Edis => r.edis_credentials().map(drop).map_err(|e| e.to_string()),
            // ECS (a plan has no other): its endpoint, credentials and project.
            _ => {
                r.ecs_endpoint().map_err(|e| e.to_string())?;
                r.ecs_auth().map_err(|e| e.to_string())?;
                if r.ecs.project_id.is_none() && r.ecs.project_name.is_none() {
                    r.project_id().map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        }
    }
}

/// The offline check of every target: its files (see [`Inputs::load`]); its user data with
/// `reimage_cloudinit`, once per file, cloud-init version, provider and provider login (errors
/// are problems unless `no_validate`; a config that leaves no way to log in is a problem unless
/// `allow_lockout`; user data over ECS's size limit, and EDIS user data on an
/// image that is not `cloudinit_*`, are problems either way); its password by the provider's
/// rules; and its profile's credentials, with `credentials_ok`, asked once per profile and
/// provider.
pub fn check(plan: &Plan, inputs: &Inputs, credentials_ok: &CredentialsOk<'_>) -> Vec<CheckRow> {
    let mut credentials: HashMap<(Option<&str>, Provider), Result<(), String>> = HashMap::new();
    let mut verdicts: HashMap<(&Path, Version, Provider, bool), Verdict> = HashMap::new();
    let mut rows = Vec::with_capacity(plan.targets.len());
    for t in &plan.targets {
        let provider = t.provider();
        let mut problems = Vec::new();
        let profile = t.profile.as_deref();
        let creds = credentials
            .entry((profile, provider))
            .or_insert_with(|| credentials_ok(profile, provider));
        if let Err(message) = creds {
            let whose = match profile {
                Some(name) => format!("profile {name:?}"),
                None => "the default profile".to_owned(),
            };
            problems.push(format!(
                "{} credentials ({whose}): {message}",
                provider.as_str().to_ascii_uppercase()
            ));
        }
        let (image, login) = match &t.action {
            Action::EcsReinstall { login, .. } => (
                "(current)".to_owned(),
                ecs_login_shown(plan, inputs, login, &mut problems),
            ),
            Action::EcsChangeOs { image, login, .. } => (
                image.to_string(),
                ecs_login_shown(plan, inputs, login, &mut problems),
            ),
            Action::EdisReinstall {
                image,
                root_password_file,
                ..
            } => {
                match cached(&inputs.root, root_password_file, "root_password_file") {
                    Err(m) => problems.push(m),
                    // EDIS documents no rules: what no reasonable policy accepts is refused,
                    // unless the plan says `weak_password = true`.
                    Ok(password) if !t.weak_password => {
                        if let Err(e) = password.check_strength() {
                            problems.push(format!(
                                "root_password_file {}: {}; {}, or set weak_password = true",
                                shown(plan, root_password_file),
                                e.problem(),
                                e.fix()
                            ));
                        }
                    }
                    Ok(_) => {}
                }
                (
                    image.to_string(),
                    format!("root password {}", shown(plan, root_password_file)),
                )
            }
        };
        let user_data = match &t.user_data {
            None => "-".to_owned(),
            Some(path) => {
                let name = shown(plan, path);
                match (&t.action, inputs.user_data.get(path.as_path())) {
                    (_, None) => {
                        problems.push(format!("user_data {name}: was not loaded"));
                        format!("{name}: not read")
                    }
                    (_, Some(Err(m))) => {
                        problems.push(m.clone());
                        format!("{name}: unreadable")
                    }
                    (Action::EdisReinstall { image, .. }, Some(Ok(_)))
                        if !image.runs_cloud_init() =>
                    {
                        problems.push(not_cloud_init(image));
                        format!("{name}: not used by {image}")
                    }
                    (_, Some(Ok(bytes))) => {
                        let login = t.provider_login();
                        let verdict = verdicts
                            .entry((path.as_path(), t.cloud_init, provider, login))
                            .or_insert_with(|| {
                                verdict(bytes, &name, t.cloud_init, provider, login)
                            });
                        if let Some(m) = &verdict.oversize {
                            problems.push(m.clone());
                        }
                        if !login && bytes.is_empty() {
                            problems.push(format!(
                                "user_data {name}: is empty, and it is the only way to log in \
                                 (no admin_password_file or keypair)"
                            ));
                        }
                        if let Some(m) = &verdict.lockout
                            && !t.allow_lockout
                        {
                            problems.push(m.clone());
                        }
                        if verdict.error_count > 0 && !t.no_validate {
                            problems.extend(verdict.errors.iter().cloned());
                        }
                        let sent_anyway = if verdict.error_count > 0 && t.no_validate {
                            ", sent anyway (no_validate)"
                        } else {
                            ""
                        };
                        format!("{name}: {}{sent_anyway}", verdict.summary)
                    }
                }
            }
        };
        rows.push(CheckRow {
            key: t.key.clone(),
            provider: provider.as_str(),
            operation: t.operation(),
            image,
            profile: t.profile.clone().unwrap_or_else(|| "(default)".to_owned()),
            login,
            user_data,
            problems,
            warnings: keypair_only_warning(t).into_iter().collect(),
        });
    }
    rows
}

/// The warning for an ECS target that logs in by password only, in a region the plan marks as
/// taking no password with a cloud-init image (`keypair_only`): ECS will refuse it there,
/// unless the image has no cloud-init (the call for such images takes a password).
fn keypair_only_warning(t: &Target) -> Option<String> {
    let (Action::EcsReinstall { login, .. } | Action::EcsChangeOs { login, .. }) = &t.action else {
        return None;
    };
    let plain = t.api == Some(reimage_client::wire::ecs::RebuildApi::Plain);
    (t.keypair_only && !plain && matches!(login, EcsLogin::Password(_))).then(|| {
        "keypair_only: this region takes no password for an image with cloud-init, and this \
         target gives only a password; ECS will refuse it (Ecs.0005) unless the image has no \
         cloud-init: set keypair = \"NAME\" and user_id = \"ID\" instead"
            .to_owned()
    })
}

/// An ECS login as the table shows it; an unusable password file is a problem.
fn ecs_login_shown(
    plan: &Plan,
    inputs: &Inputs,
    login: &EcsLogin,
    problems: &mut Vec<String>,
) -> String {
    match login {
        EcsLogin::Password(path) => {
            if let Err(m) = cached(&inputs.admin, path, "admin_password_file") {
                problems.push(m);
            }
            format!("password {}", shown(plan, path))
        }
        EcsLogin::KeyPair { name, .. } => format!("keypair {name}"),
        EcsLogin::UserDataOnly => "user data".to_owned(),
    }
}

/// Validates one user data file and sums the result up.
fn verdict(
    bytes: &UserData,
    name: &str,
    version: Version,
    provider: Provider,
    login: bool,
) -> Verdict {
    let limit = provider.user_data_limit();
    let options = Options::default()
        .with_version(version)
        .with_provider_login(login)
        .with_size_limit(limit);
    let report = reimage_cloudinit::validate(bytes.as_bytes(), &options);
    let error_count = report.errors().count();
    let warning_count = report.warnings().count();
    let mut errors: Vec<String> = report
        .errors()
        .take(SHOWN_FINDINGS)
        .map(|f| {
            let path = if f.path.is_empty() { "(root)" } else { &f.path };
            format!(
                "user_data {name}:{}:{}: {}[{}]: {}: {} (cloud-init {version})",
                f.line,
                f.column,
                Severity::Error,
                f.code,
                one_line(path),
                one_line(&f.message)
            )
        })
        .collect();
    if error_count > SHOWN_FINDINGS {
        errors.push(format!(
            "user_data {name}: {} more errors; reimage validate --cloud-init {version} \
             --provider {} FILE shows them all (or set no_validate = true to send it anyway)",
            error_count - SHOWN_FINDINGS,
            provider.as_str()
        ));
    }
    let plural = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    let kind = if report.kind == reimage_cloudinit::Kind::CloudConfig {
        String::new()
    } else {
        format!("{}, ", report.kind.as_str())
    };
    let mut summary = if error_count == 0 {
        format!("{kind}valid ({version})")
    } else {
        format!(
            "{kind}invalid ({version}), {}",
            plural(error_count, "error")
        )
    };
    if warning_count > 0 {
        summary.push_str(&format!(", {}", plural(warning_count, "warning")));
    }
    let oversize = limit.filter(|&limit| bytes.len() > limit).map(|limit| {
        format!(
            "user_data {name}: is {} bytes, over {}'s limit of {limit} bytes; shorten it",
            bytes.len(),
            provider.as_str().to_ascii_uppercase()
        )
    });
    let lockout = report.lockout().map(|f| {
        format!(
            "user_data {name}:{}:{}: {}; it is not sent: add a login to it, or give \
             admin_password_file or keypair with user_id (or set allow_lockout = true if a server \
             nobody can log in to is what you want)",
            f.line,
            f.column,
            one_line(
                f.message
                    .split_once(';')
                    .map_or(f.message.as_str(), |(first, _)| first)
            )
        )
    });
    Verdict {
        summary,
        errors,
        error_count,
        oversize,
        lockout,
    }
}

/// The rows as an aligned text table, each target's problems under it, and a summary line:
/// `N targets: X ready, Y with problems`.
pub fn render_table(rows: &[CheckRow]) -> String {
    const HEADER: [&str; 7] = [
        "TARGET",
        "OPERATION",
        "IMAGE",
        "PROFILE",
        "LOGIN",
        "USER DATA",
        "STATUS",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let status = match r.problems.len() {
                0 => "ready".to_owned(),
                1 => "1 problem".to_owned(),
                n => format!("{n} problems"),
            };
            [
                r.key.as_str(),
                r.operation,
                r.image.as_str(),
                r.profile.as_str(),
                r.login.as_str(),
                r.user_data.as_str(),
                status.as_str(),
            ]
            .map(|cell| one_line(cell).into_owned())
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_row(&mut out, &HEADER, &widths);
    for (row, cells) in rows.iter().zip(&cells) {
        push_row(&mut out, &cells.each_ref().map(String::as_str), &widths);
        for problem in &row.problems {
            out.push_str("    - ");
            out.push_str(&one_line(problem));
            out.push('\n');
        }
        for warning in &row.warnings {
            out.push_str("    ! warning: ");
            out.push_str(&one_line(warning));
            out.push('\n');
        }
    }
    out.push_str(&summary_line(rows));
    out.push('\n');
    out
}

/// One line of the table: each cell padded to its column's width, two spaces between.
fn push_row(out: &mut String, cells: &[&str], widths: &[usize]) {
    let start = out.len();
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        out.push_str(cell);
        if i + 1 < cells.len() {
            out.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(cell.chars().count()),
            ));
        }
    }
    let end = out[start..].trim_end().len() + start;
    out.truncate(end);
    out.push('\n');
}

fn summary_line(rows: &[CheckRow]) -> String {
    let ready = rows.iter().filter(|r| r.ready()).count();
    let noun = if rows.len() == 1 { "target" } else { "targets" };
    format!(
        "{} {noun}: {ready} ready, {} with problems",
        rows.len(),
        rows.len() - ready
    )
}

/// The rows as one JSON document: `{"targets": [{key, provider, operation, image, profile,
/// login, user_data, ready, problems, warnings}], "summary": {targets, ready, with_problems}}`.
pub fn rows_json(rows: &[CheckRow]) -> Value {
    let ready = rows.iter().filter(|r| r.ready()).count();
    json!({
        "targets": rows.iter().map(|r| json!({
            "key": r.key,
            "provider": r.provider,
            "operation": r.operation,
            "image": r.image,
            "profile": r.profile,
            "login": r.login,
            "user_data": r.user_data,
            "ready": r.ready(),
            "problems": r.problems,
            "warnings": r.warnings,
        })).collect::<Vec<_>>(),
        "summary": {
            "targets": rows.len(),
            "ready": ready,
            "with_problems": rows.len() - ready,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use reimage_core::Login;
    use secrecy::ExposeSecret;

    use super::super::testing::{Dir, IMAGE, SERVER, SERVER2};
    use super::super::{Target, load};
    use super::*;

    const SENTINEL: &str = "Sentinel-Pw-424242";

    #[test]
    fn password_contents_are_never_shown() {
        let dir = Dir::new("secrets");
        // An inline password, and a syntax error on the line of one, are refused without it.
        for text in [
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password = \"{SENTINEL}\"\n"),
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password_file = {SENTINEL}\n"),
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password_file = [\"{SENTINEL}\"]\n"),
            format!("[[targets]]\necs = \"{SERVER}\"\nadmin_password_file = \"{SENTINEL}\" x\n"),
        ] {
            let e = dir.plan(&text).unwrap_err();
            assert!(!e.to_string().contains(SENTINEL), "{e}");
            assert!(!format!("{e:?}").contains(SENTINEL), "{e:?}");
        }
        let e = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\npassword = \"{SENTINEL}\"\n"
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains("passwords are never written in a plan"), "{e}");

        // Good and bad passwords in files: in no error, Debug, table or JSON.
        dir.write("good.pw", &format!("{SENTINEL}\n"));
        dir.write("weak.pw", "sentinelweakpassword");
        dir.write("root.pw", &format!("{SENTINEL}\ttab"));
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"u.yaml\"\n\
                 [[targets]]\necs = \"{SERVER}\"\nadmin_password_file = \"good.pw\"\n\
                 [[targets]]\necs = \"{SERVER2}\"\nadmin_password_file = \"weak.pw\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"cloudinit_debian-bookworm\"\n\
                 root_password_file = \"root.pw\"\n"
            ))
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        let everything = format!(
            "{plan:?}{inputs:?}{problems:?}{rows:?}{}{}{:?}{:?}{:?}",
            render_table(&rows),
            rows_json(&rows),
            inputs.ecs_reinstall(&plan.targets[0]),
            inputs.ecs_reinstall(&plan.targets[1]),
            inputs.edis_reinstall(&plan.targets[2]),
        );
        assert!(!everything.contains(SENTINEL), "{everything}");
        assert!(!everything.contains("sentinelweak"), "{everything}");
        // The problems are there, by rule.
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0]
                .message
                .starts_with("admin_password_file weak.pw: adminpass: uses")
        );
        assert!(
            problems[1]
                .message
                .starts_with("root_password_file root.pw: password: contains a tab (character 19)")
        );
        assert!(rows[0].ready(), "{:?}", rows[0]);
        assert_eq!(rows[1].problems, [problems[0].message.clone()]);
        assert_eq!(rows[2].problems, [problems[1].message.clone()]);
        // The good password is what goes out.
        let input = inputs.ecs_reinstall(&plan.targets[0]).unwrap();
        let Login::Password(pw) = input.spec().login() else {
            panic!()
        };
        assert_eq!(pw.secret().expose_secret(), SENTINEL);
    }

    #[test]
    fn keypair_only_warns_for_a_password_and_does_not_block() {
        let dir = Dir::new("keypair-only");
        dir.write("a.pw", "Sup3r-secret");
        let plan = dir
            .plan(&format!(
                "[defaults]\nkeypair_only = true\nadmin_password_file = \"a.pw\"\n\
                 [[targets]]\necs = \"{SERVER}\"\n\
                 [[targets]]\necs = \"{SERVER2}\"\nkeypair = \"k\"\n\
                 user_id = \"7e25b1da389f4697a79df3a0e5bd494e\"\n\
                 [[targets]]\necs = \"aaaaaaaa-2222-3333-4444-555555555555\"\napi = \"plain\"\n\
                 [[targets]]\necs = \"bbbbbbbb-2222-3333-4444-555555555555\"\n\
                 keypair_only = false\n"
            ))
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert!(problems.is_empty(), "{problems:?}");
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        assert_eq!(rows[0].warnings.len(), 1, "{:?}", rows[0]);
        assert!(
            rows[0].warnings[0].contains("keypair = \"NAME\""),
            "{:?}",
            rows[0]
        );
        assert!(rows[0].ready(), "a warning does not block: {:?}", rows[0]);
        for row in &rows[1..] {
            assert!(row.warnings.is_empty(), "{row:?}");
        }
        let table = render_table(&rows);
        assert!(table.contains("    ! warning: keypair_only:"), "{table}");
        assert_eq!(
            rows_json(&rows)["targets"][0]["warnings"][0],
            rows[0].warnings[0]
        );
    }

    #[test]
    fn user_data_verdicts_follow_the_cloud_init_version() {
        let dir = Dir::new("versions");
        // An unknown top-level key: allowed by 22.4, an error from 23.4 on.
        dir.write(
            "u.yaml",
            "#cloud-config\nssh_authorized_keys: [ssh-ed25519 AAAA ops]\nnot_a_module_key: 1\n",
        );
        dir.write("a.pw", "Sup3r-secret");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"u.yaml\"\nadmin_password_file = \"a.pw\"\n\
                 [[targets]]\necs = \"{SERVER}\"\ncloud_init = \"22.4\"\n\
                 [[targets]]\necs = \"{SERVER2}\"\ncloud_init = \"26.2\"\n\
                 [[targets]]\necs = \"aaaaaaaa-2222-3333-4444-555555555555\"\nno_validate = true\n"
            ))
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert!(problems.is_empty(), "{problems:?}");
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        assert_eq!(rows[0].user_data, "u.yaml: valid (22.4)");
        assert!(rows[0].ready(), "{:?}", rows[0]);
        assert_eq!(rows[1].user_data, "u.yaml: invalid (26.2), 1 error");
        assert_eq!(
            rows[1].problems,
            [
                "user_data u.yaml:3:1: error[schema]: not_a_module_key: \"not_a_module_key\" is \
              not a cloud-config key (cloud-init 26.2)"
            ]
        );
        assert_eq!(
            rows[2].user_data,
            "u.yaml: invalid (26.2), 1 error, sent anyway (no_validate)"
        );
        assert!(rows[2].ready());
        assert_eq!(rows[0].login, "password a.pw");
        assert_eq!(rows[0].image, "(current)");
        assert_eq!(rows[0].profile, "(default)");
    }

    #[test]
    fn edis_user_data_needs_a_cloud_init_image() {
        let dir = Dir::new("edis-image");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("r.pw", "root-password");
        let plan = dir
            .plan(
                "[defaults]\nuser_data = \"u.yaml\"\nroot_password_file = \"r.pw\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"debian-bullseye\"\n\
                 [[targets]]\nedis = \"kvm_1_3\"\nimage = \"cloudinit_debian-bookworm\"\n\
                 [[targets]]\nedis = \"kvm_1_4\"\nimage = \"debian-bullseye\"\nuser_data = \"\"\n",
            )
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert!(problems.is_empty(), "{problems:?}");
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        assert_eq!(rows[0].user_data, "u.yaml: not used by debian-bullseye");
        assert_eq!(rows[0].problems.len(), 1);
        assert!(
            rows[0].problems[0].starts_with(
                "user_data: the image debian-bullseye does not run cloud-init (only cloudinit_* \
                 images do)"
            ),
            "{:?}",
            rows[0].problems
        );
        assert!(inputs.edis_reinstall(&plan.targets[0]).is_err());
        assert!(rows[1].ready(), "{:?}", rows[1]);
        assert_eq!(rows[1].login, "root password r.pw");
        assert_eq!(rows[1].user_data, "u.yaml: valid (26.2)");
        let input = inputs.edis_reinstall(&plan.targets[1]).unwrap();
        assert_eq!(input.image().as_str(), "cloudinit_debian-bookworm");
        assert_eq!(input.user_data().map(UserData::len), Some(32));
        assert!(rows[2].ready(), "{:?}", rows[2]);
        assert_eq!(rows[2].user_data, "-");
    }

    #[test]
    fn a_shared_file_is_read_once() {
        let dir = Dir::new("shared");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("a.pw", "Sup3r-secret");
        let mut text =
            String::from("[defaults]\nuser_data = \"u.yaml\"\nadmin_password_file = \"a.pw\"\n");
        for i in 0..1000 {
            text.push_str(&format!(
                "[[targets]]\necs = \"00000000-0000-0000-0000-{i:012}\"\n"
            ));
        }
        let plan = dir.plan(&text).unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert!(problems.is_empty());
        assert_eq!(inputs.user_data_files(), 1);
        assert_eq!(inputs.reads(), 2, "{inputs:?}");
        let validated = std::cell::Cell::new(0);
        let rows = check(&plan, &inputs, &|_, _| {
            validated.set(validated.get() + 1);
            Ok(())
        });
        assert_eq!(
            validated.get(),
            1,
            "credentials asked once per profile and provider"
        );
        assert!(rows.iter().all(CheckRow::ready));
        // What goes out shares the bytes.
        let a = inputs.ecs_reinstall(&plan.targets[0]).unwrap();
        let b = inputs.ecs_reinstall(&plan.targets[999]).unwrap();
        let (a, b) = (a.spec().user_data().unwrap(), b.spec().user_data().unwrap());
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
    }

    #[test]
    fn file_problems_land_on_the_targets_that_use_them() {
        let dir = Dir::new("missing-files");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"nope.yaml\"\n\
                 [[targets]]\necs = \"{SERVER}\"\n[[targets]]\necs = \"{SERVER2}\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"cloudinit_x\"\nuser_data = \"\"\n\
                 root_password_file = \"sub/nope.pw\"\n"
            ))
            .unwrap();
        let (inputs, problems) = Inputs::load(&plan);
        assert_eq!(inputs.reads(), 2);
        let messages: Vec<_> = problems
            .iter()
            .map(|p| (p.key.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert_eq!(messages[0].0, format!("ecs:{SERVER}"));
        assert_eq!(
            messages[0].1,
            "user_data nope.yaml: no such file; check the path"
        );
        assert_eq!(messages[1].0, format!("ecs:{SERVER2}"));
        assert_eq!(messages[2].0, "edis:kvm_1_2");
        assert!(
            messages[2]
                .1
                .starts_with("root_password_file sub/nope.pw: does not exist; check the path"),
            "{}",
            messages[2].1
        );
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        assert_eq!(rows[0].user_data, "nope.yaml: unreadable");
        assert_eq!(rows[0].problems, [messages[0].1]);
        assert_eq!(rows[2].problems, [messages[2].1]);
        assert!(inputs.ecs_reinstall(&plan.targets[0]).is_err());
        assert!(
            inputs.ecs_change_os(&plan.targets[0]).is_err(),
            "not a change-os"
        );
    }

    #[test]
    fn a_weak_edis_root_password_is_a_problem_unless_weak_password() {
        let dir = Dir::new("weak-root");
        dir.write("r.pw", "abc");
        let text = |extra: &str| {
            format!(
                "[defaults]\nroot_password_file = \"r.pw\"\n{extra}\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"debian-bullseye\"\n"
            )
        };
        let ok = |_: Option<&str>, _: Provider| Ok(());
        let plan = dir.plan(&text("")).unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &ok);
        assert_eq!(
            rows[0].problems,
            [
                "root_password_file r.pw: is 3 characters long, shorter than 8; use at least 8 \
              characters from two or more classes (upper case, lower case, digits, symbols), or \
              set weak_password = true"
            ]
        );
        let plan = dir.plan(&text("weak_password = true\n")).unwrap();
        let (inputs, _) = Inputs::load(&plan);
        assert!(check(&plan, &inputs, &ok)[0].ready());
    }

    #[test]
    fn a_lockout_is_a_problem_unless_allow_lockout() {
        let dir = Dir::new("lockout");
        dir.write("u.yaml", "#cloud-config\nhostname: web\n");
        dir.write("a.pw", "Reimage-Test-Pw1!");
        let text = |extra: &str| {
            format!(
                "[defaults]\nuser_data = \"u.yaml\"\n{extra}\
                 [[targets]]\necs = \"{SERVER}\"\n\
                 [[targets]]\necs = \"aaaaaaaa-2222-3333-4444-555555555555\"\n\
                 admin_password_file = \"a.pw\"\n"
            )
        };
        let ok = |_: Option<&str>, _: Provider| Ok(());
        let plan = dir.plan(&text("")).unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &ok);
        assert_eq!(rows[0].problems.len(), 1, "{:?}", rows[0].problems);
        let problem = &rows[0].problems[0];
        assert!(
            problem.starts_with("user_data u.yaml:2:1: this config leaves no way to log in: "),
            "{problem}"
        );
        assert!(problem.contains("allow_lockout = true"), "{problem}");
        // A password given to the provider is a way in.
        assert!(rows[1].ready(), "{:?}", rows[1].problems);

        let plan = dir.plan(&text("allow_lockout = true\n")).unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &ok);
        assert!(rows[0].ready(), "{:?}", rows[0].problems);
    }

    #[test]
    fn credentials_problems_name_the_profile() {
        let dir = Dir::new("credentials");
        dir.write(
            "u.yaml",
            "#cloud-config\nssh_pwauth: false\nssh_authorized_keys: [ssh-ed25519 AAAAC3Nza k]\n",
        );
        dir.write("r.pw", "root-password");
        let plan = dir
            .plan(&format!(
                "[defaults]\nuser_data = \"u.yaml\"\nroot_password_file = \"r.pw\"\n\
                 profile = \"prod\"\n\
                 [[targets]]\necs = \"{SERVER}\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"cloudinit_x\"\n\
                 [[targets]]\nedis = \"kvm_1_3\"\nimage = \"cloudinit_x\"\nprofile = \"\"\n"
            ))
            .unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let asked = std::cell::RefCell::new(Vec::new());
        let rows = check(&plan, &inputs, &|profile, provider| {
            asked
                .borrow_mut()
                .push((profile.map(str::to_owned), provider));
            match provider {
                Provider::Edis => Err("no EDIS credentials (profile x): set EDIS_EMAIL".to_owned()),
                _ => Ok(()),
            }
        });
        assert_eq!(asked.borrow().len(), 3);
        assert!(rows[0].ready());
        assert_eq!(
            rows[1].problems,
            [
                "EDIS credentials (profile \"prod\"): no EDIS credentials (profile x): set EDIS_EMAIL"
            ]
        );
        assert!(rows[2].problems[0].starts_with("EDIS credentials (the default profile): "));
    }

    #[test]
    fn the_table_and_the_json() {
        let dir = Dir::new("table");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("a.pw", "Sup3r-secret");
        let plan = dir
            .plan(&format!(
                "[[targets]]\necs = \"{SERVER}\"\noperation = \"change-os\"\nimage = \"{IMAGE}\"\n\
                 admin_password_file = \"a.pw\"\nprofile = \"prod\"\n\
                 [[targets]]\nedis = \"kvm_1_2\"\nimage = \"debian-bullseye\"\n\
                 root_password_file = \"missing.pw\"\nuser_data = \"u.yaml\"\n"
            ))
            .unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        let table = render_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(lines[0].starts_with("TARGET"), "{table}");
        // Aligned: every column starts where its header does.
        let column = |header: &str| lines[0].find(header).unwrap();
        for header in [
            "OPERATION",
            "IMAGE",
            "PROFILE",
            "LOGIN",
            "USER DATA",
            "STATUS",
        ] {
            let at = column(header);
            for line in [lines[1], lines[2]] {
                assert_eq!(&line[at - 2..at], "  ", "{header} in {line:?}\n{table}");
                assert_ne!(&line[at..=at], " ", "{header} in {line:?}\n{table}");
            }
        }
        assert!(
            lines[1].contains(&format!("ecs:{SERVER}  change-os  {IMAGE}  prod")),
            "{table}"
        );
        assert!(lines[1].ends_with("ready"), "{table}");
        assert!(lines[2].ends_with("2 problems"), "{table}");
        assert!(
            lines[3].starts_with("    - root_password_file missing.pw: "),
            "{table}"
        );
        assert!(
            lines[4].starts_with("    - user_data: the image debian-bullseye"),
            "{table}"
        );
        assert_eq!(lines[5], "2 targets: 1 ready, 1 with problems");
        assert!(table.ends_with("problems\n"), "{table}");
        println!("{table}");

        let json = rows_json(&rows);
        assert_eq!(
            json["summary"],
            json!({"targets": 2, "ready": 1, "with_problems": 1})
        );
        assert_eq!(json["targets"][0]["key"], format!("ecs:{SERVER}"));
        assert_eq!(json["targets"][0]["provider"], "ecs");
        assert_eq!(json["targets"][0]["operation"], "change-os");
        assert_eq!(json["targets"][0]["login"], "password a.pw");
        assert_eq!(json["targets"][0]["ready"], true);
        assert_eq!(json["targets"][1]["provider"], "edis");
        assert_eq!(
            json["targets"][1]["problems"].as_array().map(Vec::len),
            Some(2)
        );
        // What goes out for the change of OS.
        let input = inputs.ecs_change_os(&plan.targets[0]).unwrap();
        assert_eq!(input.image_id().as_str(), IMAGE);
        assert!(inputs.ecs_reinstall(&plan.targets[0]).is_err());
    }

    #[test]
    fn ten_thousand_targets_load_quickly() {
        let dir = Dir::new("ten-thousand");
        dir.write("u.yaml", "#cloud-config\nssh_pwauth: false\n");
        dir.write("a.pw", "Sup3r-secret");
        dir.write("r.pw", "root-password");
        let mut text = String::from(
            "[defaults]\nprofile = \"prod\"\nuser_data = \"u.yaml\"\ncloud_init = \"22.4\"\n\
             admin_password_file = \"a.pw\"\nroot_password_file = \"r.pw\"\n\
             mode = \"with-stop-server\"\n\n",
        );
        for i in 0..10_000 {
            if i % 2 == 0 {
                text.push_str(&format!(
                    "[[targets]]\necs = \"00000000-0000-0000-0000-{i:012}\"\n\
                     operation = \"change-os\"\nimage = \"{IMAGE}\"\n\n"
                ));
            } else {
                text.push_str(&format!(
                    "[[targets]]\nedis = \"kvm_{i}_1\"\nimage = \"cloudinit_debian-bookworm\"\n\n"
                ));
            }
        }
        let path = dir.write("plan.toml", &text);
        let started = Instant::now();
        let plan = load(&path).unwrap();
        let loaded = started.elapsed();
        let (inputs, problems) = Inputs::load(&plan);
        let rows = check(&plan, &inputs, &|_, _| Ok(()));
        let checked = started.elapsed();
        println!(
            "10,000 targets ({} KiB): loaded in {loaded:?}, read and checked in {:?}; Target is \
             {} bytes",
            text.len() / 1024,
            checked - loaded,
            std::mem::size_of::<Target>()
        );
        assert_eq!(plan.targets.len(), 10_000);
        assert!(problems.is_empty());
        assert_eq!(inputs.reads(), 3);
        assert!(rows.iter().all(CheckRow::ready));
        // The time is printed, not asserted: speed targets live in `cargo xtask bench`.
    }
}
