//! `reimage config show`: every setting the provider commands would use, with where it came
//! from (a flag, a variable, a profile key, the region, a default), secrets masked.

use reimage_config::{Flags, Resolved};
use serde_json::{Value, json};

use crate::common::{self, Connection, Failure, Output, exit};

/// `reimage config …`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print every resolved setting and where it came from (flag, environment variable, profile
    /// key, region, default). Secrets are never shown: only whether they are set, and from
    /// where; the access key shows its first four characters.
    Show {
        #[command(flatten)]
        conn: Connection,
        /// `text`: one line per setting; `json`: one document.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// One setting as shown: its name, its value (masked if secret), and where it came from.
struct Row {
    name: &'static str,
    value: Option<String>,
    origin: Option<String>,
}

/// Runs `reimage config …`.
pub(crate) fn run(args: &Args) -> u8 {
    let Command::Show { conn, output } = &args.command;
    match show(conn, *output) {
        Ok(()) => exit::OK,
        Err(failure) => failure.report("config show", *output),
    }
}

fn show(conn: &Connection, output: Output) -> Result<(), Failure> {
    let resolved = conn.resolve(Flags::default())?;
    let rows = rows(&resolved);
    match output {
        Output::Json => {
            let settings: serde_json::Map<String, Value> = rows
                .iter()
                .map(|r| {
                    (
                        r.name.to_owned(),
                        json!({ "value": r.value, "from": r.origin }),
                    )
                })
                .collect();
            common::print_json(&json!({
                "source": resolved.source.describe(),
                "settings": settings,
            }));
        }
        Output::Text => {
            crate::say(&format!("# {}", resolved.source.describe()));
            let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
            for r in &rows {
                let value = r.value.as_deref().unwrap_or("-");
                match &r.origin {
                    Some(origin) => {
                        crate::say(&format!("{:<width$}  {value}  (from {origin})", r.name))
                    }
                    None => crate::say(&format!("{:<width$}  {value}", r.name)),
                }
            }
        }
    }
    Ok(())
}

/// Every setting, in the order of the config file's keys.
fn rows(r: &Resolved) -> Vec<Row> {
    let origin = |key: &str| r.origins.get(key).map(ToString::to_string);
    let plain = |name, value: Option<&str>, key: &str| Row {
        name,
        value: value.map(str::to_owned),
        origin: origin(key),
    };
    let secret = |name, set: bool, key: &str| Row {
        name,
        value: set.then(|| "(set, hidden)".to_owned()),
        origin: origin(key),
    };
    let e = &r.ecs;
    vec![
        plain("cloud", Some(e.cloud.as_str()), "cloud"),
        plain("region", e.region.as_deref(), "region"),
        plain("endpoint", e.endpoint.as_deref(), "endpoint"),
        plain("iam_endpoint", e.iam_endpoint.as_deref(), "iam_endpoint"),
        plain("project_id", e.project_id.as_deref(), "project_id"),
        plain("project_name", e.project_name.as_deref(), "project_name"),
        plain("domain", e.domain.as_deref(), "domain"),
        plain("username", e.username.as_deref(), "username"),
        secret("password", e.password.is_some(), "password"),
        Row {
            name: "access_key",
            value: e
                .ak
                .as_deref()
                .map(|ak| format!("{}…", ak.chars().take(4).collect::<String>())),
            origin: origin("ak"),
        },
        secret("secret_key", e.sk.is_some(), "sk"),
        secret(
            "security_token",
            e.security_token.is_some(),
            "security_token",
        ),
        Row {
            name: "ca_file",
            value: e.ca_file.as_ref().map(|p| p.display().to_string()),
            origin: origin("ca_file"),
        },
        plain(
            "edis_auth_url",
            Some(r.edis.auth_base.as_str()),
            "edis_auth_base",
        ),
        plain("edis_email", r.edis.email.as_deref(), "edis_email"),
        secret("edis_password", r.edis.password.is_some(), "edis_password"),
    ]
}
