//! What a target asks for, as the journal remembers it: a [`Fingerprint`] of everything in the
//! plan that changes what the server becomes, so that a plan edited after a run is noticed
//! rather than silently skipped.
//!
//! A fingerprint holds the operation (`ecs.reinstallos`, `ecs.changeos`, `edis.reinstall`), the
//! image (none for an ECS reinstall, which keeps the server's image), the user data as the
//! SHA-256 of its bytes (`sha256:<hex>`), the kind of login (`password`, `keypair:NAME:USER_ID`,
//! `user-data`, `root-password`) and the mode (`with-stop-server`). It never holds a password:
//! a password file counts only as "a password", so a new password alone is not a change; and
//! the user data only as its hash. Which files the plan names does not count either, only what
//! they hold: a plan moved with its files to another directory is not changed.
//!
//! [`apply`](crate::apply) writes the fingerprint into the records of what it sends
//! ([`Record::fingerprint`]). [`changed`] compares the plan with the journal: a target whose
//! latest record is `done`, `sending` or `sent` with a fingerprint other than the plan's is
//! [`Changed`], and apply sends nothing to it. A record without a fingerprint (reimage 0.1 wrote
//! none) has an unknown fingerprint: its target is never reported as changed.
//!
//! ```
//! use reimage_fleet::fingerprint::{self, Fingerprint};
//! use reimage_fleet::plan::{self, Inputs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("reimage-fingerprint-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! std::fs::write(dir.join("root.pw"), "Root-Password-1\n")?;
//! std::fs::write(dir.join("user-data.yaml"), "#cloud-config\npackages: [nginx]\n")?;
//! let text = r#"
//! [[targets]]
//! edis = "kvm_100001_200001"
//! image = "cloudinit_debian-bookworm"
//! root_password_file = "root.pw"
//! user_data = "user-data.yaml"
//! "#;
//! std::fs::write(dir.join("plan.toml"), text)?;
//! let plan = plan::load(&dir.join("plan.toml"))?;
//! let (inputs, _) = Inputs::load(&plan);
//! let before = Fingerprint::of(&plan.targets[0], &inputs)?;
//! assert_eq!(
//!     before.to_string(),
//!     "edis.reinstall, image cloudinit_debian-bookworm, user data sha256:fb22a7db4937…, login root-password"
//! );
//!
//! std::fs::write(dir.join("plan.toml"), text.replace("debian-bookworm", "ubuntu-lts-24-04"))?;
//! let plan = plan::load(&dir.join("plan.toml"))?;
//! let (inputs, _) = Inputs::load(&plan);
//! let after = Fingerprint::of(&plan.targets[0], &inputs)?;
//! assert_eq!(
//!     before.differences(&after),
//!     ["image cloudinit_debian-bookworm → cloudinit_ubuntu-lts-24-04"]
//! );
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::journal::{Record, State};
use crate::plan::{Action, EcsLogin, Inputs, Plan, Target};

/// How many hex digits of a user data digest are shown (the journal keeps all 64).
const SHOWN_DIGEST: usize = 12;

/// Everything in a target's plan entry that changes what its server becomes, without a secret.
/// See the [module documentation](self) for what each field holds. On the journal's wire it is a
/// JSON object; a field that is absent reads as its default, so that records of other versions
/// still read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Fingerprint {
    /// The operation sent: `ecs.reinstallos`, `ecs.changeos` or `edis.reinstall`.
    #[serde(default)]
    pub operation: String,
    /// The image: an ECS image id (lower case) for a change of OS, an EDIS image name; `None`
    /// for an ECS reinstall, which keeps the server's current image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The SHA-256 of the user data's bytes, `sha256:<64 hex digits>`; `None` without user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// The kind of login given to the provider: `password` (ECS), `keypair:NAME:USER_ID` (ECS),
    /// `user-data` (ECS: the user data sets it up) or `root-password` (EDIS). Never a password.
    #[serde(default)]
    pub login: String,
    /// `with-stop-server` when a running ECS server is stopped first; `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `sha256:` and the hex SHA-256 of `bytes`, as [`Fingerprint::user_data`] holds it.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    format!("sha256:{}", hex::encode(hash))
}

/// A digest shortened for people: `sha256:` and its first 12 hex digits, then `…`.
fn short(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() > SHOWN_DIGEST => format!("sha256:{}…", &hex[..SHOWN_DIGEST]),
        _ => digest.to_owned(),
    }
}

impl Fingerprint {
    /// The fingerprint of what `t` asks for, with its user data's digest from `inputs` (which
    /// must be [`Inputs::load`] of the target's plan). The error, one line, says why the user data
    /// has no digest (it could not be read).
    pub fn of(t: &Target, inputs: &Inputs) -> Result<Fingerprint, String> {
        let ecs_login = |login: &EcsLogin| match login {
            EcsLogin::Password(_) => "password".to_owned(),
            EcsLogin::KeyPair { name, user_id } => format!("keypair:{name}:{user_id}"),
            EcsLogin::UserDataOnly => "user-data".to_owned(),
        };
        let mode = |stop: bool| stop.then(|| "with-stop-server".to_owned());
        let (image, login, mode) = match &t.action {
            Action::EcsReinstall { login, stop, .. } => (None, ecs_login(login), mode(*stop)),
            Action::EcsChangeOs {
                image, login, stop, ..
            } => (
                Some(image.to_string().to_ascii_lowercase()),
                ecs_login(login),
                mode(*stop),
            ),
            Action::EdisReinstall { image, .. } => {
                (Some(image.to_string()), "root-password".to_owned(), None)
            }
        };
        let user_data = match &t.user_data {
            Some(path) => Some(inputs.user_data_digest(path)?.to_owned()),
            None => None,
        };
        Ok(Fingerprint {
            operation: crate::apply::operation_name(t).to_owned(),
            image,
            user_data,
            login,
            mode,
        })
    }

    /// What differs from `now`, one phrase per field, as `image A → B` (an absent value shows as
    /// `(none)`, an ECS reinstall's image as `(current)`, digests shortened). Empty when equal.
    pub fn differences(&self, now: &Fingerprint) -> Vec<String> {
        let none = |value: &Option<String>, absent: &str| {
            value.clone().unwrap_or_else(|| absent.to_owned())
        };
        let digest = |value: &Option<String>| value.as_deref().map_or("(none)".to_owned(), short);
        let mut out = Vec::new();
        if self.operation != now.operation {
            out.push(format!("operation {} → {}", self.operation, now.operation));
        }
        if self.image != now.image {
            out.push(format!(
                "image {} → {}",
                none(&self.image, "(current)"),
                none(&now.image, "(current)")
            ));
        }
        if self.user_data != now.user_data {
            out.push(format!(
                "user data {} → {}",
                digest(&self.user_data),
                digest(&now.user_data)
            ));
        }
        if self.login != now.login {
            out.push(format!("login {} → {}", self.login, now.login));
        }
        if self.mode != now.mode {
            out.push(format!(
                "mode {} → {}",
                none(&self.mode, "(none)"),
                none(&now.mode, "(none)")
            ));
        }
        out
    }
}

impl fmt::Display for Fingerprint {
    /// One line: `ecs.changeos, image ID, user data sha256:0123456789ab…, login password, mode
    /// with-stop-server`, leaving out what is absent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.operation)?;
        if let Some(image) = &self.image {
            write!(f, ", image {image}")?;
        }
        if let Some(digest) = &self.user_data {
            write!(f, ", user data {}", short(digest))?;
        }
        write!(f, ", login {}", self.login)?;
        if let Some(mode) = &self.mode {
            write!(f, ", mode {mode}")?;
        }
        Ok(())
    }
}

/// A target whose plan entry is no longer what its journal record says was sent: `fleet apply`
/// sends nothing to it, and `fleet check` and `fleet status` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changed {
    /// The target's key.
    pub key: String,
    /// Its state in the journal: `done`, `sending` or `sent` (see [`State::word`]).
    pub state: &'static str,
    /// What the journal says was sent.
    pub was: Fingerprint,
    /// What the plan asks for now.
    pub now: Fingerprint,
}

impl Changed {
    /// What differs, one phrase each (see [`Fingerprint::differences`]).
    pub fn differences(&self) -> Vec<String> {
        self.was.differences(&self.now)
    }

    /// One line: `changed since it was done: image A → B; user data …`.
    pub fn line(&self) -> String {
        format!(
            "changed since it was {}: {}",
            self.state,
            self.differences().join("; ")
        )
    }
}

/// The fingerprint `record` holds if it differs from `now` and the record is one of what was
/// sent (`done`, `sending`, `sent`, `job_done` or
/// `cloud_init_errors`); `None` when it is the same, unknown (no fingerprint) or
/// the record is of another state (a failure, an unknown outcome, a target put back by hand).
pub fn changed_from<'r>(record: &'r Record, now: &Fingerprint) -> Option<&'r Fingerprint> {
    let sent = matches!(
        record.state,
        State::Done { .. }
            | State::Sending { .. }
            | State::Sent { .. }
            | State::JobDone { .. }
            | State::CloudInitErrors { .. }
    );
    record
        .fingerprint
        .as_ref()
        .filter(|was| sent && *was != now)
}

/// Every target of `plan` whose latest record in `latest` (the journal's, as
/// [`journal::read`](crate::journal::read) or [`Journal::open`](crate::Journal::open) give it)
/// is [`changed_from`] what the plan asks for now, in the plan's order. A target whose user data
/// cannot be read is left out: the plan's check reports it.
pub fn changed(plan: &Plan, inputs: &Inputs, latest: &BTreeMap<String, Record>) -> Vec<Changed> {
    plan.targets
        .iter()
        .filter_map(|t| {
            let record = latest.get(&t.key)?;
            let now = Fingerprint::of(t, inputs).ok()?;
            let was = changed_from(record, &now)?.clone();
            Some(Changed {
                key: t.key.clone(),
                state: record.state.word(),
                was,
                now,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::journal::now_ms;

    /// The sentinel password: it must never be in a fingerprint.
    const PASSWORD: &str = "Sentinel-Fingerprint-Pw-1";
    const SERVER: &str = "11111111-2222-3333-4444-555555555555";
    const IMAGE: &str = "E215580F-73AD-429D-B6F2-5433947433B0";

    /// A directory with the password files and two user data files, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "reimage-fleet-fingerprint-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("admin.pw"), PASSWORD).unwrap();
            std::fs::write(path.join("other.pw"), "Another-Passw0rd!").unwrap();
            std::fs::write(path.join("root.pw"), PASSWORD).unwrap();
            std::fs::write(path.join("a.yaml"), "#cloud-config\npackages: [nginx]\n").unwrap();
            std::fs::write(
                path.join("b.yaml"),
                "#cloud-config\npackages: [nginx, git]\n",
            )
            .unwrap();
            Dir(path)
        }

        /// The fingerprint of the one target of `plan`.
        fn fingerprint(&self, plan: &str) -> Fingerprint {
            let file = self.0.join("plan.toml");
            std::fs::write(&file, plan).unwrap();
            let plan = crate::plan::load(&file).unwrap();
            let (inputs, problems) = Inputs::load(&plan);
            assert!(problems.is_empty(), "{problems:?}");
            Fingerprint::of(&plan.targets[0], &inputs).unwrap()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn ecs(extra: &str) -> String {
        format!(
            "[[targets]]\necs = \"{SERVER}\"\noperation = \"change-os\"\nimage = \"{IMAGE}\"\n\
             admin_password_file = \"admin.pw\"\nuser_data = \"a.yaml\"\n{extra}"
        )
    }

    #[test]
    fn the_fingerprint_is_stable_and_its_json_is_fixed() {
        let dir = Dir::new("stable");
        let first = dir.fingerprint(&ecs(""));
        // The same plan read again, and the same files under other names, give the same bytes.
        assert_eq!(dir.fingerprint(&ecs("")), first);
        std::fs::copy(dir.0.join("a.yaml"), dir.0.join("copy.yaml")).unwrap();
        std::fs::copy(dir.0.join("admin.pw"), dir.0.join("copy.pw")).unwrap();
        let renamed = ecs("")
            .replace("a.yaml", "copy.yaml")
            .replace("admin.pw", "copy.pw");
        assert_eq!(dir.fingerprint(&renamed), first);
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            r#"{"operation":"ecs.changeos","image":"e215580f-73ad-429d-b6f2-5433947433b0","user_data":"sha256:fb22a7db4937e16d8c1f002ad4615691cc512e4e898a47a1fd1e0dc9df5e3ff4","login":"password"}"#
        );
        assert_eq!(
            first.to_string(),
            "ecs.changeos, image e215580f-73ad-429d-b6f2-5433947433b0, user data \
             sha256:fb22a7db4937…, login password"
        );
        let read: Fingerprint =
            serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
        assert_eq!(read, first);
        // A record of another version, with a field more and fields less, still reads.
        let other: Fingerprint =
            serde_json::from_str(r#"{"operation":"edis.reinstall","future":1}"#).unwrap();
        assert_eq!(other.operation, "edis.reinstall");
        assert_eq!(other.login, "");
    }

    #[test]
    fn it_changes_with_the_image_the_user_data_the_login_the_mode_and_the_operation() {
        let dir = Dir::new("changes");
        let base = dir.fingerprint(&ecs(""));
        let cases = [
            (
                ecs("").replace(IMAGE, "1a2b3c4d-0000-4000-8000-000000000001"),
                "image e215580f-73ad-429d-b6f2-5433947433b0 → 1a2b3c4d-0000-4000-8000-000000000001",
            ),
            (
                ecs("").replace("a.yaml", "b.yaml"),
                "user data sha256:fb22a7db4937… → sha256:",
            ),
            (
                ecs("").replace("user_data = \"a.yaml\"\n", ""),
                "user data sha256:fb22a7db4937… → (none)",
            ),
            (
                ecs("").replace(
                    "admin_password_file = \"admin.pw\"",
                    "keypair = \"ops-key\"\nuser_id = \"7e25b1da389f4697a79df3a0e5bd494e\"",
                ),
                "login password → keypair:ops-key:7e25b1da389f4697a79df3a0e5bd494e",
            ),
            (
                ecs("mode = \"with-stop-server\"\n"),
                "mode (none) → with-stop-server",
            ),
            (
                ecs("")
                    .replace("operation = \"change-os\"\n", "")
                    .replace(&format!("image = \"{IMAGE}\"\n"), ""),
                "operation ecs.changeos → ecs.reinstallos; image \
                 e215580f-73ad-429d-b6f2-5433947433b0 → (current)",
            ),
        ];
        for (plan, expected) in cases {
            let now = dir.fingerprint(&plan);
            assert_ne!(now, base, "{plan}");
            let shown = base.differences(&now).join("; ");
            assert!(shown.starts_with(expected), "{shown}\n{plan}");
        }
        // What does not change the result does not count: another password, the cloud-init
        // version of the check, no_validate, the profile.
        let same = ecs(
            "cloud_init = \"22.4\"\nno_validate = true\nallow_lockout = true\nprofile = \"other\"\n",
        )
        .replace("admin.pw", "other.pw");
        assert_eq!(dir.fingerprint(&same), base);
        assert!(base.differences(&base).is_empty());
    }

    #[test]
    fn no_secret_is_in_a_fingerprint_or_its_record() {
        let dir = Dir::new("secret");
        let edis = "[[targets]]\nedis = \"kvm_100001_200001\"\nimage = \"cloudinit_debian-bookworm\"\n\
                    root_password_file = \"root.pw\"\nuser_data = \"a.yaml\"\n";
        for plan in [ecs(""), edis.to_owned()] {
            let fingerprint = dir.fingerprint(&plan);
            let record = Record::new(
                "k",
                now_ms(),
                State::Done {
                    summary: "ok".to_owned(),
                },
            )
            .with_fingerprint(Some(fingerprint.clone()));
            for shown in [
                serde_json::to_string(&record).unwrap(),
                format!("{fingerprint:?}"),
                format!("{record:?}"),
                fingerprint.to_string(),
            ] {
                assert!(!shown.contains(PASSWORD), "{shown}");
                assert!(!shown.to_lowercase().contains("sentinel"), "{shown}");
                assert!(
                    !shown.contains("packages"),
                    "user data only as a hash: {shown}"
                );
            }
        }
    }

    #[test]
    fn only_a_sent_record_with_another_fingerprint_is_changed() {
        let dir = Dir::new("changed");
        let file = dir.0.join("plan.toml");
        std::fs::write(&file, ecs("")).unwrap();
        let plan = crate::plan::load(&file).unwrap();
        let (inputs, _) = Inputs::load(&plan);
        let key = plan.targets[0].key.clone();
        let now = Fingerprint::of(&plan.targets[0], &inputs).unwrap();
        let mut was = now.clone();
        was.image = Some("1a2b3c4d-0000-4000-8000-000000000001".to_owned());
        let done = State::Done {
            summary: "ok".to_owned(),
        };
        let unknown = State::Unknown {
            reason: "lost".to_owned(),
        };
        let at = |state: &State, fingerprint: Option<&Fingerprint>| {
            let record =
                Record::new(&key, now_ms(), state.clone()).with_fingerprint(fingerprint.cloned());
            BTreeMap::from([(key.clone(), record)])
        };
        let found = changed(&plan, &inputs, &at(&done, Some(&was)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].state, "done");
        assert_eq!(
            found[0].line(),
            "changed since it was done: image 1a2b3c4d-0000-4000-8000-000000000001 → \
             e215580f-73ad-429d-b6f2-5433947433b0"
        );
        assert!(changed(&plan, &inputs, &at(&done, Some(&now))).is_empty());
        // Unknown fingerprint (a record of reimage 0.1): not reported as changed.
        assert!(changed(&plan, &inputs, &at(&done, None)).is_empty());
        // Nothing known to be applied: not changed either.
        assert!(changed(&plan, &inputs, &at(&unknown, Some(&was))).is_empty());
        assert!(changed(&plan, &inputs, &BTreeMap::new()).is_empty());
    }
}
