//! The accounts, images, servers and KVMs the emulator starts with.
//!
//! [`Fixtures::default`] is the documented set in `fixtures/default.toml` (compiled in, so the
//! docs and the code cannot drift); [`Fixtures::from_toml_str`] reads a file of the same form,
//! which replaces the whole set. Every id is checked against the provider's form when the file is
//! read, and every reference (a server's image, an access key's user) must resolve.

use std::collections::BTreeSet;

use reimage_auth::AkSk;
use reimage_core::{
    EdisImage, ImageId, KeyPairName, KvmId, ProjectId, ServerId, Timestamp, UserId,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::fault::FaultRule;

/// The default fixture file, as text: `crates/emulator/fixtures/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../fixtures/default.toml");

/// The emulator's starting world: IAM users and access keys, the ECS project with its images
/// and servers, the EDIS account with its KVMs, and optional faults.
///
/// `Debug` never shows a password or a secret key.
///
/// ```
/// use reimage_emulator::Fixtures;
///
/// let fixtures = Fixtures::default();
/// assert_eq!(fixtures.ecs_project_id(), "0123456789abcdef0123456789abcdef");
/// assert_eq!(fixtures.server_ids().len(), 4);
///
/// let custom = Fixtures::from_toml_str(&Fixtures::default_toml().replace("emulator-pw", "other-pw"))?;
/// assert_eq!(custom.kvm_ids().len(), 2);
/// # Ok::<(), reimage_emulator::FixturesError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub(crate) iam: IamFixture,
    pub(crate) ecs: EcsFixture,
    pub(crate) edis: EdisFixture,
    pub(crate) faults: Vec<FaultRule>,
}

#[derive(Debug, Clone)]
pub(crate) struct IamFixture {
    pub(crate) domain_name: String,
    pub(crate) domain_id: String,
    pub(crate) users: Vec<UserFixture>,
    pub(crate) access_keys: Vec<AccessKeyFixture>,
}

#[derive(Debug, Clone)]
pub(crate) struct UserFixture {
    pub(crate) name: String,
    pub(crate) id: UserId,
    pub(crate) password: SecretString,
    pub(crate) key_pairs: Vec<KeyPairName>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessKeyFixture {
    pub(crate) access_key: String,
    pub(crate) secret_key: SecretString,
    pub(crate) user: UserId,
}

#[derive(Debug, Clone)]
pub(crate) struct EcsFixture {
    /// A valid [`ProjectId`], checked when the file was read.
    pub(crate) project_id: String,
    pub(crate) project_name: String,
    pub(crate) vpc_id: String,
    /// A region that takes no password with a cloud-init image: the `/v2/` calls refuse
    /// `adminpass` (the SDK's docs: the service asks for a key pair then).
    pub(crate) keypair_only: bool,
    pub(crate) images: Vec<ImageFixture>,
    pub(crate) servers: Vec<ServerFixture>,
}

#[derive(Debug, Clone)]
pub(crate) struct ImageFixture {
    pub(crate) id: ImageId,
    pub(crate) name: String,
    pub(crate) cloud_init: bool,
    pub(crate) status: String,
    pub(crate) os_type: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ServerFixture {
    pub(crate) id: ServerId,
    pub(crate) name: String,
    pub(crate) image: ImageId,
    pub(crate) running: bool,
    pub(crate) locked: bool,
    /// Yearly/monthly (`charging_mode` "1"): a change of OS without `isAutoPay: "true"` waits
    /// in `PENDING_PAYMENT` until its order is paid.
    pub(crate) prepaid: bool,
    pub(crate) flavor: String,
    pub(crate) key_name: Option<String>,
    pub(crate) private_ip: Option<String>,
    pub(crate) public_ip: Option<String>,
    pub(crate) created: Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) struct EdisFixture {
    pub(crate) email: String,
    pub(crate) password: SecretString,
    pub(crate) images: Vec<EdisImage>,
    pub(crate) kvms: Vec<KvmFixture>,
}

#[derive(Debug, Clone)]
pub(crate) struct KvmFixture {
    pub(crate) id: KvmId,
    pub(crate) hostname: String,
    pub(crate) description: String,
    pub(crate) image: EdisImage,
    pub(crate) powered_on: bool,
    pub(crate) suspended: bool,
    pub(crate) ram_mib: u64,
    pub(crate) disk_mib: u64,
    pub(crate) ipv4: Vec<String>,
    pub(crate) ipv4_gateway: Option<String>,
    pub(crate) ipv4_netmask: Option<String>,
    pub(crate) ipv6_gateway: Option<String>,
    pub(crate) ipv6_64: Option<String>,
}

impl Default for Fixtures {
    /// The documented default set, parsed from [`DEFAULT_TOML`].
    fn default() -> Self {
        // A test holds this to parse; an empty world is the fallback that can never be reached.
        Self::from_toml_str(DEFAULT_TOML).unwrap_or_else(|_| Self::empty())
    }
}

impl Fixtures {
    /// The text of the default set (`fixtures/default.toml`), to print or to start a file from.
    pub fn default_toml() -> &'static str {
        DEFAULT_TOML
    }

    /// Reads a fixture file. It replaces the default set entirely; unknown keys are refused, and
    /// the error says where (line and column) and what is wrong, without quoting the file.
    pub fn from_toml_str(text: &str) -> Result<Self, FixturesError> {
        let raw: RawFixtures = toml::from_str(text).map_err(|e| {
            let place = e
                .span()
                .map(|span| {
                    let before = &text.as_bytes()[..span.start.min(text.len())];
                    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            FixturesError::new(format!("{place}{}", e.message().trim()))
        })?;
        raw.validate()
    }

    /// The ECS project every server belongs to (32 hexadecimal digits).
    pub fn ecs_project_id(&self) -> &str {
        &self.ecs.project_id
    }

    /// The ECS servers, in file order.
    pub fn server_ids(&self) -> Vec<ServerId> {
        self.ecs.servers.iter().map(|s| s.id.clone()).collect()
    }

    /// The ECS images, in file order.
    pub fn image_ids(&self) -> Vec<ImageId> {
        self.ecs.images.iter().map(|i| i.id.clone()).collect()
    }

    /// The EDIS KVMs, in file order.
    pub fn kvm_ids(&self) -> Vec<KvmId> {
        self.edis.kvms.iter().map(|k| k.id.clone()).collect()
    }

    /// The IAM account (domain) name.
    pub fn iam_domain_name(&self) -> &str {
        &self.iam.domain_name
    }

    /// The EDIS account's email.
    pub fn edis_email(&self) -> &str {
        &self.edis.email
    }

    /// The fault rules of the file's `[[faults]]`, switched on when the emulator starts.
    pub fn faults(&self) -> &[FaultRule] {
        &self.faults
    }

    fn empty() -> Self {
        Self {
            iam: IamFixture {
                domain_name: String::new(),
                domain_id: String::new(),
                users: Vec::new(),
                access_keys: Vec::new(),
            },
            ecs: EcsFixture {
                project_id: String::new(),
                project_name: String::new(),
                vpc_id: String::new(),
                keypair_only: false,
                images: Vec::new(),
                servers: Vec::new(),
            },
            edis: EdisFixture {
                email: String::new(),
                password: SecretString::from(String::new()),
                images: Vec::new(),
                kvms: Vec::new(),
            },
            faults: Vec::new(),
        }
    }

    pub(crate) fn user_by_id(&self, id: &str) -> Option<&UserFixture> {
        self.iam
            .users
            .iter()
            .find(|u| u.id.as_str().eq_ignore_ascii_case(id))
    }

    pub(crate) fn image(&self, id: &str) -> Option<&ImageFixture> {
        self.ecs
            .images
            .iter()
            .find(|i| i.id.as_str().eq_ignore_ascii_case(id))
    }

    pub(crate) fn secret_key(&self, access_key: &str) -> Option<(SecretString, UserId)> {
        self.iam
            .access_keys
            .iter()
            .find(|k| k.access_key == access_key)
            .map(|k| (k.secret_key.clone(), k.user.clone()))
    }
}

/// A fixture file that could not be used: where, and what is wrong. It never quotes a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fixtures: {message}")]
pub struct FixturesError {
    message: String,
}

impl FixturesError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What is wrong, and where.
    pub fn message(&self) -> &str {
        &self.message
    }
}

// ---------------------------------------------------------------------------------------------
// The file's form.
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixtures {
    iam: RawIam,
    ecs: RawEcs,
    edis: RawEdis,
    #[serde(default)]
    faults: Vec<FaultRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIam {
    domain_name: String,
    domain_id: String,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    access_keys: Vec<RawAccessKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    id: String,
    #[serde(deserialize_with = "crate::util::secret")]
    password: SecretString,
    #[serde(default)]
    key_pairs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccessKey {
    access_key: String,
    #[serde(deserialize_with = "crate::util::secret")]
    secret_key: SecretString,
    user: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEcs {
    project_id: String,
    project_name: String,
    #[serde(default = "default_vpc")]
    vpc_id: String,
    #[serde(default)]
    keypair_only: bool,
    #[serde(default)]
    images: Vec<RawImage>,
    #[serde(default)]
    servers: Vec<RawServer>,
}

fn default_vpc() -> String {
    "0431c5e5-bc94-4a44-8263-15da2a642435".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    id: String,
    name: String,
    #[serde(default = "yes")]
    cloud_init: bool,
    #[serde(default = "active")]
    status: String,
    #[serde(default = "linux")]
    os_type: String,
}

fn yes() -> bool {
    true
}
fn active() -> String {
    "active".to_owned()
}
fn linux() -> String {
    "Linux".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    id: String,
    name: String,
    image: String,
    #[serde(default)]
    running: bool,
    #[serde(default)]
    locked: bool,
    #[serde(default)]
    prepaid: bool,
    #[serde(default = "default_flavor")]
    flavor: String,
    #[serde(default)]
    key_name: Option<String>,
    #[serde(default)]
    private_ip: Option<String>,
    #[serde(default)]
    public_ip: Option<String>,
    #[serde(default)]
    created: Option<String>,
}

fn default_flavor() -> String {
    "s3.medium.2".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdis {
    email: String,
    #[serde(deserialize_with = "crate::util::secret")]
    password: SecretString,
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    kvms: Vec<RawKvm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKvm {
    id: String,
    hostname: String,
    #[serde(default)]
    description: String,
    image: String,
    #[serde(default = "yes")]
    powered_on: bool,
    #[serde(default)]
    suspended: bool,
    #[serde(default = "default_ram")]
    ram_mib: u64,
    #[serde(default = "default_disk")]
    disk_mib: u64,
    #[serde(default)]
    ipv4: Vec<String>,
    #[serde(default)]
    ipv4_gateway: Option<String>,
    #[serde(default)]
    ipv4_netmask: Option<String>,
    #[serde(default)]
    ipv6_gateway: Option<String>,
    #[serde(default)]
    ipv6_64: Option<String>,
}

fn default_ram() -> u64 {
    2048
}
fn default_disk() -> u64 {
    40960
}

/// Checks a value with its type's constructor, naming the place on failure.
fn checked<'a, T>(
    place: &str,
    value: &'a str,
    make: impl FnOnce(&'a str) -> Result<T, reimage_core::ValidationError>,
) -> Result<T, FixturesError> {
    make(value).map_err(|e| FixturesError::new(format!("{place}: {}; {}", e.problem(), e.fix())))
}

fn non_empty(place: &str, value: &str) -> Result<(), FixturesError> {
    if value.trim().is_empty() {
        Err(FixturesError::new(format!("{place} is empty")))
    } else {
        Ok(())
    }
}

fn unique<'a>(place: &str, values: impl IntoIterator<Item = &'a str>) -> Result<(), FixturesError> {
    let mut seen = BTreeSet::new();
    for value in values {
        if !seen.insert(value.to_ascii_lowercase()) {
            return Err(FixturesError::new(format!(
                "{place}: {value:?} appears more than once"
            )));
        }
    }
    Ok(())
}

impl RawFixtures {
    fn validate(self) -> Result<Fixtures, FixturesError> {
        // IAM.
        non_empty("iam.domain_name", &self.iam.domain_name)?;
        non_empty("iam.domain_id", &self.iam.domain_id)?;
        let mut users = Vec::new();
        for (i, u) in self.iam.users.into_iter().enumerate() {
            let place = format!("iam.users[{i}]");
            non_empty(&format!("{place}.name"), &u.name)?;
            if u.password.expose_secret().is_empty() {
                return Err(FixturesError::new(format!("{place}.password is empty")));
            }
            let id = checked(&format!("{place}.id"), &u.id, UserId::new)?;
            let mut key_pairs = Vec::new();
            for (j, k) in u.key_pairs.iter().enumerate() {
                key_pairs.push(checked(
                    &format!("{place}.key_pairs[{j}]"),
                    k,
                    KeyPairName::new,
                )?);
            }
            users.push(UserFixture {
                name: u.name,
                id,
                password: u.password,
                key_pairs,
            });
        }
        unique("iam.users id", users.iter().map(|u| u.id.as_str()))?;
        unique("iam.users name", users.iter().map(|u| u.name.as_str()))?;
        let mut access_keys = Vec::new();
        for (i, k) in self.iam.access_keys.into_iter().enumerate() {
            let place = format!("iam.access_keys[{i}]");
            AkSk::new(k.access_key.clone(), k.secret_key.clone())
                .map_err(|e| FixturesError::new(format!("{place}: {}", e)))?;
            let user = checked(&format!("{place}.user"), &k.user, UserId::new)?;
            if !users.iter().any(|u| u.id == user) {
                return Err(FixturesError::new(format!(
                    "{place}.user {} is not among iam.users",
                    user
                )));
            }
            access_keys.push(AccessKeyFixture {
                access_key: k.access_key,
                secret_key: k.secret_key,
                user,
            });
        }
        unique(
            "iam.access_keys access_key",
            access_keys.iter().map(|k| k.access_key.as_str()),
        )?;

        // ECS.
        let project_id = String::from(checked(
            "ecs.project_id",
            &self.ecs.project_id,
            ProjectId::new,
        )?);
        non_empty("ecs.project_name", &self.ecs.project_name)?;
        let mut images = Vec::new();
        for (i, im) in self.ecs.images.into_iter().enumerate() {
            let place = format!("ecs.images[{i}]");
            images.push(ImageFixture {
                id: checked(&format!("{place}.id"), &im.id, ImageId::new)?,
                name: im.name,
                cloud_init: im.cloud_init,
                status: im.status.to_ascii_lowercase(),
                os_type: im.os_type,
            });
        }
        unique("ecs.images id", images.iter().map(|i| i.id.as_str()))?;
        let mut servers = Vec::new();
        for (i, s) in self.ecs.servers.into_iter().enumerate() {
            let place = format!("ecs.servers[{i}]");
            non_empty(&format!("{place}.name"), &s.name)?;
            let image = checked(&format!("{place}.image"), &s.image, ImageId::new)?;
            if !images
                .iter()
                .any(|im| im.id.as_str().eq_ignore_ascii_case(image.as_str()))
            {
                return Err(FixturesError::new(format!(
                    "{place}.image {image} is not among ecs.images"
                )));
            }
            let key_name = s
                .key_name
                .map(|k| checked(&format!("{place}.key_name"), &k, KeyPairName::new))
                .transpose()?
                .map(String::from);
            let created = match s.created {
                Some(text) => checked(&format!("{place}.created"), &text, Timestamp::parse)?,
                None => Timestamp::parse("2024-06-01T00:00:00Z").unwrap_or(Timestamp::UNIX_EPOCH),
            };
            servers.push(ServerFixture {
                id: checked(&format!("{place}.id"), &s.id, ServerId::new)?,
                name: s.name,
                image,
                running: s.running,
                locked: s.locked,
                prepaid: s.prepaid,
                flavor: s.flavor,
                key_name,
                private_ip: s.private_ip,
                public_ip: s.public_ip,
                created,
            });
        }
        unique("ecs.servers id", servers.iter().map(|s| s.id.as_str()))?;

        // EDIS.
        if !self.edis.email.contains('@') {
            return Err(FixturesError::new("edis.email is not an email address"));
        }
        if self.edis.password.expose_secret().is_empty() {
            return Err(FixturesError::new("edis.password is empty"));
        }
        let mut edis_images = Vec::new();
        for (i, name) in self.edis.images.iter().enumerate() {
            edis_images.push(checked(&format!("edis.images[{i}]"), name, EdisImage::new)?);
        }
        unique("edis.images", edis_images.iter().map(EdisImage::as_str))?;
        let mut kvms = Vec::new();
        for (i, k) in self.edis.kvms.into_iter().enumerate() {
            let place = format!("edis.kvms[{i}]");
            non_empty(&format!("{place}.hostname"), &k.hostname)?;
            kvms.push(KvmFixture {
                id: checked(&format!("{place}.id"), &k.id, KvmId::new)?,
                hostname: k.hostname,
                description: k.description,
                image: checked(&format!("{place}.image"), &k.image, EdisImage::new)?,
                powered_on: k.powered_on,
                suspended: k.suspended,
                ram_mib: k.ram_mib,
                disk_mib: k.disk_mib,
                ipv4: k.ipv4,
                ipv4_gateway: k.ipv4_gateway,
                ipv4_netmask: k.ipv4_netmask,
                ipv6_gateway: k.ipv6_gateway,
                ipv6_64: k.ipv6_64,
            });
        }
        unique("edis.kvms id", kvms.iter().map(|k| k.id.as_str()))?;

        Ok(Fixtures {
            iam: IamFixture {
                domain_name: self.iam.domain_name,
                domain_id: self.iam.domain_id,
                users,
                access_keys,
            },
            ecs: EcsFixture {
                project_id,
                project_name: self.ecs.project_name,
                vpc_id: self.ecs.vpc_id,
                keypair_only: self.ecs.keypair_only,
                images,
                servers,
            },
            edis: EdisFixture {
                email: self.edis.email,
                password: self.edis.password,
                images: edis_images,
                kvms,
            },
            faults: self.faults,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_parses_and_is_the_default() {
        let parsed = Fixtures::from_toml_str(DEFAULT_TOML).unwrap();
        let default = Fixtures::default();
        assert_eq!(parsed.server_ids(), default.server_ids());
        assert_eq!(
            default
                .server_ids()
                .iter()
                .map(ServerId::as_str)
                .collect::<Vec<_>>(),
            [
                "11111111-2222-3333-4444-555555555555",
                "22222222-3333-4444-5555-666666666666",
                "33333333-4444-5555-6666-777777777777",
                "44444444-5555-6666-7777-888888888888",
            ]
        );
        assert_eq!(
            default
                .image_ids()
                .iter()
                .map(ImageId::as_str)
                .collect::<Vec<_>>(),
            [
                "e215580f-73ad-429d-b6f2-5433947433b0",
                "1a2b3c4d-0000-4000-8000-000000000001",
                "1a2b3c4d-0000-4000-8000-000000000002",
                "1a2b3c4d-0000-4000-8000-000000000003",
            ]
        );
        assert_eq!(default.iam_domain_name(), "emulator");
        assert_eq!(default.edis_email(), "demo@example.com");
        let user = default
            .user_by_id("7e25b1da389f4697a79df3a0e5bd494e")
            .unwrap();
        assert_eq!(user.name, "admin");
        assert_eq!(user.password.expose_secret(), "Emulator-Passw0rd!");
        assert_eq!(user.key_pairs[0].as_str(), "KeyPair-350b");
        let (sk, owner) = default.secret_key("REIMAGEEMULATORAK").unwrap();
        assert_eq!(sk.expose_secret(), "reimage-emulator-sk");
        assert_eq!(owner, user.id);
        assert_eq!(default.edis.password.expose_secret(), "emulator-pw");
        let kvms: Vec<String> = default.kvm_ids().iter().map(|k| k.to_string()).collect();
        assert_eq!(kvms, ["kvm_100001_200001", "kvm_100002_200002"]);
        for image in [
            "debian-bullseye",
            "cloudinit_debian-bookworm",
            "cloudinit_ubuntu-lts-24-04",
            "windows-11",
        ] {
            assert!(
                default.edis.images.iter().any(|i| i.as_str() == image),
                "{image}"
            );
        }
        let servers = &default.ecs.servers;
        assert!(!servers[0].running && !servers[1].running && servers[2].running);
        assert!(servers[3].locked);
        assert!(default.faults().is_empty());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?}", Fixtures::default());
        for secret in ["Emulator-Passw0rd!", "reimage-emulator-sk", "emulator-pw"] {
            assert!(!shown.contains(secret), "{secret}");
        }
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            (
                DEFAULT_TOML.replace(
                    "project_id = \"0123456789abcdef0123456789abcdef\"",
                    "project_id = \"nope\"",
                ),
                "ecs.project_id: \"nope\" is not a project id",
            ),
            (
                DEFAULT_TOML.replace(
                    "image = \"1a2b3c4d-0000-4000-8000-000000000001\"\nrunning",
                    "image = \"1a2b3c4d-0000-4000-8000-0000000000ff\"\nrunning",
                ),
                "ecs.servers[2].image 1a2b3c4d-0000-4000-8000-0000000000ff is not among ecs.images",
            ),
            (
                DEFAULT_TOML.replace(
                    "[[edis.kvms]]\nid = \"kvm_100002_200002\"",
                    "[[edis.kvms]]\nid = \"kvm_100001_200001\"",
                ),
                "edis.kvms id: \"kvm_100001_200001\" appears more than once",
            ),
            (
                DEFAULT_TOML.replace(
                    "user = \"7e25b1da389f4697a79df3a0e5bd494e\"",
                    "user = \"7e25b1da389f4697a79df3a0e5bd4940\"",
                ),
                "is not among iam.users",
            ),
            (format!("{DEFAULT_TOML}\n[bogus]\n"), "line "),
            (
                format!("{DEFAULT_TOML}\n[[faults]]\nkind = \"explode\"\n"),
                "unknown kind",
            ),
        ];
        for (text, needle) in cases {
            let err = Fixtures::from_toml_str(&text).unwrap_err();
            assert!(err.message().contains(needle), "{needle}: {err}");
        }
        let err =
            Fixtures::from_toml_str("[iam]\ndomain_name = 'x'\npassword = 'hunter2-secret'\n")
                .unwrap_err();
        assert!(!err.to_string().contains("hunter2-secret"), "{err}");
    }

    #[test]
    fn faults_in_a_file() {
        let text = format!(
            "{DEFAULT_TOML}\n[[faults]]\noperation = \"ecs.reinstallos\"\nkind = \"lost_answer\"\ncalls = [1]\n\n[[faults]]\nkind = \"latency\"\nparams = {{ ms = 5 }}\n"
        );
        let fixtures = Fixtures::from_toml_str(&text).unwrap();
        assert_eq!(fixtures.faults().len(), 2);
        assert_eq!(
            fixtures.faults()[0].to_json().to_string(),
            r#"{"calls":[1],"kind":"lost_answer","operation":"ecs.reinstallos"}"#
        );
    }
}
