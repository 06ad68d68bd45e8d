//! The accounts a fleet run uses, for the lines `reimage fleet apply` prints before it asks: for
//! each profile and provider of the plan, the endpoint, the project, who signs in (the IAM
//! domain and user, or the first 4 characters of the access key, never more; the EDIS e-mail),
//! where a value came from when it is not the profile (an environment variable, a flag), and
//! how many targets go there. No secret is read for it beyond what resolving the profile reads,
//! and none is shown.

use std::collections::BTreeMap;

use reimage_config::{EcsAuth, Origin, Resolved};
use reimage_fleet::plan::{Plan, Provider};

/// How many characters of an access key are shown.
const AK_SHOWN: usize = 4;

/// An access key as shown: its first [`AK_SHOWN`] characters and `…`, never more (a short key is
/// shown by half).
fn ak_prefix(ak: &str) -> String {
    let count = ak.chars().count();
    let shown = AK_SHOWN.min(count / 2);
    format!("{}…", ak.chars().take(shown).collect::<String>())
}

/// `N target(s)`.
fn targets(n: usize) -> String {
    if n == 1 {
        "1 target".to_owned()
    } else {
        format!("{n} targets")
    }
}

/// Where a setting came from, as ` (from OS_PROJECT_ID)`, when it is not the profile the line
/// names (nor unrecorded).
fn from(resolved: &Resolved, field: &str) -> String {
    match resolved.origins.get(field) {
        None | Some(Origin::Profile { .. }) => String::new(),
        Some(origin) => format!(" (from {origin})"),
    }
}

/// The profile a line is about: `profile "prod"`, or `the environment` when no profile of a
/// config file was used.
fn whose(resolved: &Resolved) -> String {
    match (&resolved.source.profile, resolved.source.file_found) {
        (Some(name), true) => format!("profile {name:?}"),
        _ => "the environment".to_owned(),
    }
}

/// One line per profile and provider of `plan`, in a stable order (the default profile first,
/// then by name; ECS before EDIS): `ECS, profile "prod": endpoint URL, project ID, access key
/// ABCD…: 12 targets`. A profile that does not resolve says why, on its line.
pub(crate) fn lines(
    plan: &Plan,
    resolve: &(impl Fn(Option<&str>) -> Result<Resolved, String> + ?Sized),
) -> Vec<String> {
    let mut counts: BTreeMap<(Option<&str>, &'static str), usize> = BTreeMap::new();
    for t in &plan.targets {
        let provider = match t.provider() {
            Provider::Edis => "EDIS",
            _ => "ECS",
        };
        *counts.entry((t.profile.as_deref(), provider)).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((profile, provider), n)| {
            let (whose, account) = match resolve(profile) {
                Err(message) => (
                    profile.map_or("the default profile".to_owned(), |p| {
                        format!("profile {p:?}")
                    }),
                    format!("not resolved: {message}"),
                ),
                Ok(r) if provider == "EDIS" => (whose(&r), edis(&r)),
                Ok(r) => (whose(&r), ecs(&r)),
            };
            format!("  {provider}, {whose}: {account}: {}", targets(n))
        })
        .collect()
}

/// The ECS account of a profile: endpoint, project, and who signs in.
fn ecs(r: &Resolved) -> String {
    let endpoint = r.ecs.endpoint.as_deref().unwrap_or("(no endpoint)");
    let project = match (&r.ecs.project_id, &r.ecs.project_name) {
        (Some(id), _) => format!("project {id}{}", from(r, "project_id")),
        (None, Some(name)) => format!("project named {name}{}", from(r, "project_name")),
        (None, None) => "no project".to_owned(),
    };
    let who = match r.ecs_auth() {
        Ok(EcsAuth::AkSk { ak, .. }) => format!("access key {}{}", ak_prefix(ak), from(r, "ak")),
        Ok(EcsAuth::Password {
            username, domain, ..
        }) => format!(
            "IAM user {username} of domain {domain}{}",
            from(r, "domain")
        ),
        Err(_) => "no credentials".to_owned(),
    };
    format!(
        "endpoint {endpoint}{}, {project}, {who}",
        from(r, "endpoint")
    )
}

/// The EDIS account of a profile: the auth service and the e-mail.
fn edis(r: &Resolved) -> String {
    let email = r.edis.email.as_deref().unwrap_or("(no e-mail)");
    format!(
        "auth {}{}, account {email}{}",
        r.edis.auth_base,
        from(r, "edis_auth_base"),
        from(r, "edis_email")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_key_shows_at_most_four_characters() {
        assert_eq!(ak_prefix("REIMAGEEMULATORAK"), "REIM…");
        assert_eq!(ak_prefix("ABCDEFGH"), "ABCD…");
        assert_eq!(ak_prefix("ABCDEF"), "ABC…");
        assert_eq!(ak_prefix("AB"), "A…");
        assert_eq!(ak_prefix(""), "…");
    }

    #[test]
    fn counts_read_as_words() {
        assert_eq!(targets(1), "1 target");
        assert_eq!(targets(30), "30 targets");
    }
}
