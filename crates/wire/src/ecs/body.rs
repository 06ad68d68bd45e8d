//! The request bodies of `reinstallos`, `changeos` and the server actions, both ways: the
//! client encodes with them and the emulator decodes with them.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Puts [`crate::REDACTED`] in place of user data that is there: it often holds passwords, so a
/// dry run shows it apart, decoded, with its passwords hidden.
fn redact_user_data(metadata: Option<&mut Metadata>) {
    if let Some(user_data) = metadata.and_then(|m| m.user_data.as_mut()) {
        *user_data = crate::REDACTED.to_owned();
    }
}

/// Puts [`crate::REDACTED`] in place of a secret that is there.
fn redact_secret(secret: &mut Option<SecretString>) {
    if secret.is_some() {
        *secret = Some(SecretString::from(crate::REDACTED));
    }
}

/// `metadata` of `os-reinstall` and `os-change`.
///
/// `Debug` shows the length of `user_data`, never its content (user data often holds passwords).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// `BYOL`: `"true"` when the user brings the image's licence, else absent. reimage only ever
    /// sends `"true"`; the service refuses other values (`Ecs.0005`).
    #[serde(rename = "BYOL", default, skip_serializing_if = "Option::is_none")]
    pub byol: Option<String>,
    /// `user_data`: the user data, base64-encoded (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// `__system__encrypted`: `"1"` for an encrypted system disk. reimage never sets it; it is
    /// here so that a decoded body keeps it.
    #[serde(
        rename = "__system__encrypted",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_encrypted: Option<String>,
    /// `__system__cmkid`: the KMS key of an encrypted system disk. reimage never sets it.
    #[serde(
        rename = "__system__cmkid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_cmkid: Option<String>,
}

impl Metadata {
    /// The metadata of `spec`, or `None` when it would be empty (no `metadata` object is sent
    /// then). User data over [`USER_DATA_LIMIT`] is refused before it is encoded.
    pub fn from_spec(spec: &EcsOsSpec) -> Result<Option<Self>, EncodeError> {
        let user_data = match spec.user_data() {
            Some(data) if !data.is_empty() => {
                check_user_data(data)?;
                Some(STANDARD.encode(data.as_bytes()))
            }
            _ => None,
        };
        let metadata = Self {
            byol: spec.byol().then(|| "true".to_owned()),
            user_data,
            system_encrypted: None,
            system_cmkid: None,
        };
        Ok((!metadata.is_empty()).then_some(metadata))
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.byol.is_none()
            && self.user_data.is_none()
            && self.system_encrypted.is_none()
            && self.system_cmkid.is_none()
    }

    /// Whether `BYOL` is `"true"`, as ECS reads it.
    pub fn is_byol(&self) -> bool {
        self.byol.as_deref() == Some("true")
    }

    /// The user data, base64-decoded (and checked against [`USER_DATA_LIMIT`]), or `None` when
    /// there is none.
    pub fn decode_user_data(&self) -> Result<Option<UserData>, ValidationError> {
        let Some(text) = self.user_data.as_deref() else {
            return Ok(None);
        };
        let bytes = STANDARD.decode(text).map_err(|_| {
            ValidationError::new(
                "user_data",
                format!("is not base64 ({} characters)", text.chars().count()),
                "encode the user data with standard, padded base64",
            )
        })?;
        let data = UserData::from(bytes);
        check_user_data(&data)?;
        Ok(Some(data))
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("byol", &self.byol)
            .field("user_data", &self.user_data.as_deref().map(Base64Len))
            .field("system_encrypted", &self.system_encrypted)
            .field("system_cmkid", &self.system_cmkid)
            .finish()
    }
}

/// Shows base64 text by its length only.
pub(super) struct Base64Len<'a>(&'a str);

impl fmt::Debug for Base64Len<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} base64 characters]", self.0.len())
    }
}

/// Refuses user data over [`USER_DATA_LIMIT`], naming the field, the size and the limit.
pub(super) fn check_user_data(data: &UserData) -> Result<(), ValidationError> {
    data.check_limit(reimage_core::Provider::Ecs)
}

/// `adminpass` on the wire: the secret is exposed only while it is serialised.
pub(super) mod secret_opt {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<SecretString>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(secret) => serializer.serialize_some(secret.expose_secret()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.map(SecretString::from))
    }
}

/// The fields `os-reinstall` and `os-change` share, from an [`EcsOsSpec`].
pub(super) struct Common {
    adminpass: Option<SecretString>,
    keyname: Option<String>,
    userid: Option<String>,
    metadata: Option<Metadata>,
    mode: Option<String>,
}

impl Common {
    pub(super) fn from_spec(spec: &EcsOsSpec) -> Result<Self, EncodeError> {
        let (adminpass, keyname, userid) = match spec.login() {
            Login::Password(password) => (Some(password.secret().clone()), None, None),
            Login::KeyPair { name, user_id } => (
                None,
                Some(name.as_str().to_owned()),
                Some(user_id.as_str().to_owned()),
            ),
            Login::UserData => (None, None, None),
            _ => {
                return Err(EncodeError::Invalid(ValidationError::new(
                    "login",
                    "is a kind of login this version of reimage-wire cannot send to ECS",
                    "use a password, a key pair or user data, or update reimage-wire",
                )));
            }
        };
        Ok(Self {
            adminpass,
            keyname,
            userid,
            metadata: Metadata::from_spec(spec)?,
            mode: spec.stop_server().then(|| MODE_WITH_STOP_SERVER.to_owned()),
        })
    }
}

/// Reads the shared fields back into an [`EcsOsSpec`], with every rule checked again.
pub(super) fn spec_from_wire(
    adminpass: Option<&SecretString>,
    keyname: Option<&str>,
    userid: Option<&str>,
    metadata: Option<&Metadata>,
    mode: Option<&str>,
) -> Result<EcsOsSpec, ValidationError> {
    let mut builder = EcsOsSpec::builder();
    if let Some(password) = adminpass {
        builder = builder.adminpass(AdminPassword::new(password.expose_secret())?);
    }
    if let Some(name) = keyname {
        builder = builder.keyname(KeyPairName::new(name)?);
    }
    if let Some(id) = userid {
        builder = builder.userid(UserId::new(id)?);
    }
    if let Some(metadata) = metadata {
        if let Some(data) = metadata.decode_user_data()? {
            builder = builder.user_data(data);
        }
        builder = builder.byol(metadata.is_byol());
    }
    match mode {
        None => {}
        Some(MODE_WITH_STOP_SERVER) => builder = builder.stop_server(true),
        Some(other) => {
            return Err(ValidationError::new(
                "mode",
                format!("is {other:?}, which ECS does not document"),
                "use withStopServer, or leave mode out",
            ));
        }
    }
    builder.build()
}

/// The fields of `os-reinstall`.
///
/// `Debug` never shows the password or the user data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsReinstall {
    /// `adminpass`: the new administrator password.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret_opt")]
    pub adminpass: Option<SecretString>,
    /// `keyname`: the key pair to log in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyname: Option<String>,
    /// `userid`: the IAM user that owns the key pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// `metadata`: BYOL and user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// `mode`: [`MODE_WITH_STOP_SERVER`] to stop a running server first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The body of `reinstallos`: `{"os-reinstall":{...}}`.
///
/// ```
/// use reimage_wire::ecs::ReinstallBody;
///
/// let body: ReinstallBody = serde_json::from_str(
///     r#"{"os-reinstall":{"keyname":"KeyPair-350b","userid":"7e25b1da389f4697a79df3a0e5bd494e"}}"#,
/// )?;
/// assert_eq!(body.os_reinstall.keyname.as_deref(), Some("KeyPair-350b"));
/// assert!(body.to_input().is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReinstallBody {
    /// `os-reinstall`.
    #[serde(rename = "os-reinstall")]
    pub os_reinstall: OsReinstall,
}

impl ReinstallBody {
    /// The body for `input`. User data over [`USER_DATA_LIMIT`] is refused.
    pub fn new(input: &EcsReinstall) -> Result<Self, EncodeError> {
        let c = Common::from_spec(input.spec())?;
        Ok(Self {
            os_reinstall: OsReinstall {
                adminpass: c.adminpass,
                keyname: c.keyname,
                userid: c.userid,
                metadata: c.metadata,
                mode: c.mode,
            },
        })
    }

    /// Reads the body back into the input it encodes, checking every rule reimage checks (the
    /// emulator's view of the request).
    pub fn to_input(&self) -> Result<EcsReinstall, ValidationError> {
        let o = &self.os_reinstall;
        spec_from_wire(
            o.adminpass.as_ref(),
            o.keyname.as_deref(),
            o.userid.as_deref(),
            o.metadata.as_ref(),
            o.mode.as_deref(),
        )
        .map(EcsReinstall::new)
    }
}

/// The fields of `os-change`.
///
/// `Debug` never shows the password or the user data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsChange {
    /// `adminpass`: the new administrator password.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret_opt")]
    pub adminpass: Option<SecretString>,
    /// `keyname`: the key pair to log in with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyname: Option<String>,
    /// `userid`: the IAM user that owns the key pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// `imageid`: the new image.
    pub imageid: String,
    /// `metadata`: BYOL and user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// `mode`: [`MODE_WITH_STOP_SERVER`] to stop a running server first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `isAutoPay`: `"true"` pays the order a yearly/monthly server's change of OS may make at
    /// once (the SDK's `ChangeServerOsWithCloudInitOption.is_auto_pay`, in `os-change`).
    #[serde(default, rename = "isAutoPay", skip_serializing_if = "Option::is_none")]
    pub is_auto_pay: Option<String>,
}

impl ReinstallBody {
    /// The body as a dry run shows it: `adminpass` and user data, when there, are
    /// [`crate::REDACTED`].
    #[must_use]
    pub fn redacted(mut self) -> Self {
        redact_secret(&mut self.os_reinstall.adminpass);
        redact_user_data(self.os_reinstall.metadata.as_mut());
        self
    }

    /// The body of the reinstall for images without cloud-init
    /// ([`ReinstallOsWithoutCloudInit`](super::ReinstallOsWithoutCloudInit)): the same
    /// `os-reinstall` object, with a password or a key pair and never user data, since nothing on
    /// such an image would read it.
    pub fn without_cloud_init(input: &EcsReinstall) -> Result<Self, EncodeError> {
        if input.spec().user_data().is_some_and(|d| !d.is_empty()) {
            return Err(EncodeError::Invalid(ValidationError::new(
                "user_data",
                "cannot go with a reinstall for an image without cloud-init: nothing on it reads \
                 user data",
                "leave the user data out, or use an image with cloud-init and the ordinary \
                 reinstall",
            )));
        }
        Self::new(input)
    }
}

/// The body of `changeos`: `{"os-change":{...,"imageid":...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChangeOsBody {
    /// `os-change`.
    #[serde(rename = "os-change")]
    pub os_change: OsChange,
}

impl ChangeOsBody {
    /// The body as a dry run shows it: `adminpass` and user data, when there, are
    /// [`crate::REDACTED`].
    #[must_use]
    pub fn redacted(mut self) -> Self {
        redact_secret(&mut self.os_change.adminpass);
        redact_user_data(self.os_change.metadata.as_mut());
        self
    }

    /// The body for `input`. User data over [`USER_DATA_LIMIT`] is refused.
    pub fn new(input: &EcsChangeOs) -> Result<Self, EncodeError> {
        let c = Common::from_spec(input.spec())?;
        Ok(Self {
            os_change: OsChange {
                adminpass: c.adminpass,
                keyname: c.keyname,
                userid: c.userid,
                imageid: input.image_id().as_str().to_owned(),
                metadata: c.metadata,
                mode: c.mode,
                is_auto_pay: input.auto_pay().then(|| "true".to_owned()),
            },
        })
    }

    /// The body of the change of OS for images without cloud-init
    /// ([`ChangeOsWithoutCloudInit`](super::ChangeOsWithoutCloudInit)): the same `os-change`
    /// object, never with user data, since nothing on such an image would read it.
    pub fn without_cloud_init(input: &EcsChangeOs) -> Result<Self, EncodeError> {
        if input.spec().user_data().is_some_and(|d| !d.is_empty()) {
            return Err(EncodeError::Invalid(ValidationError::new(
                "user_data",
                "cannot go with a change of OS to an image without cloud-init: nothing on it \
                 reads user data",
                "leave the user data out, or use an image with cloud-init and the ordinary \
                 change of OS",
            )));
        }
        Self::new(input)
    }

    /// Reads the body back into the input it encodes, checking every rule reimage checks.
    pub fn to_input(&self) -> Result<EcsChangeOs, ValidationError> {
        let o = &self.os_change;
        let image_id = ImageId::new(o.imageid.as_str())?;
        spec_from_wire(
            o.adminpass.as_ref(),
            o.keyname.as_deref(),
            o.userid.as_deref(),
            o.metadata.as_ref(),
            o.mode.as_deref(),
        )
        .map(|spec| {
            EcsChangeOs::new(image_id, spec).with_auto_pay(o.is_auto_pay.as_deref() == Some("true"))
        })
    }
}

/// How [`BatchStop`] stops the servers (`os-stop.type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StopType {
    /// `SOFT`: a normal shutdown (the default).
    #[default]
    #[serde(rename = "SOFT")]
    Soft,
    /// `HARD`: a forced power-off.
    #[serde(rename = "HARD")]
    Hard,
}

impl StopType {
    /// The value as ECS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Soft => "SOFT",
            Self::Hard => "HARD",
        }
    }
}

/// One entry of `servers` in `os-stop` and `os-start`: `{"id":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerRef {
    /// `id`: the server id.
    pub id: String,
}

impl ServerRef {
    /// The entry for `id`.
    pub fn new(id: &ServerId) -> Self {
        Self {
            id: id.as_str().to_owned(),
        }
    }
}

pub(super) fn server_refs(servers: &[ServerId]) -> Result<Vec<ServerRef>, EncodeError> {
    if servers.is_empty() {
        return Err(EncodeError::Invalid(ValidationError::new(
            "servers",
            "is empty",
            "give at least one server id",
        )));
    }
    Ok(servers.iter().map(ServerRef::new).collect())
}

/// The fields of `os-stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsStop {
    /// `type`: SOFT or HARD; ECS takes SOFT when it is absent. reimage always sends it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub stop_type: Option<StopType>,
    /// `servers`.
    pub servers: Vec<ServerRef>,
}

/// The body of a batch stop: `{"os-stop":{"type":...,"servers":[{"id":...}]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchStopBody {
    /// `os-stop`.
    #[serde(rename = "os-stop")]
    pub os_stop: OsStop,
}

impl BatchStopBody {
    /// The body that stops `servers` (at least one) the `stop_type` way.
    pub fn new(servers: &[ServerId], stop_type: StopType) -> Result<Self, EncodeError> {
        Ok(Self {
            os_stop: OsStop {
                stop_type: Some(stop_type),
                servers: server_refs(servers)?,
            },
        })
    }
}

/// The fields of `os-start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OsStart {
    /// `servers`.
    pub servers: Vec<ServerRef>,
}

/// The body of a batch start: `{"os-start":{"servers":[{"id":...}]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchStartBody {
    /// `os-start`.
    #[serde(rename = "os-start")]
    pub os_start: OsStart,
}

impl BatchStartBody {
    /// The body that starts `servers` (at least one).
    pub fn new(servers: &[ServerId]) -> Result<Self, EncodeError> {
        Ok(Self {
            os_start: OsStart {
                servers: server_refs(servers)?,
            },
        })
    }
}

/// The body of an ECS action call (`/v1/{project_id}/cloudservers/action`), whichever it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ActionBody {
    /// `os-stop`.
    Stop(BatchStopBody),
    /// `os-start`.
    Start(BatchStartBody),
}
