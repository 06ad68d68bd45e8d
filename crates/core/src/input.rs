//! The inputs of every operation, with their cross-field rules enforced when they are built.
//!
//! The ECS rules, from seed 003 and the current official SDKs:
//! - `adminpass` and `keyname` are never both set;
//! - `userid` comes with `keyname`, and only with it;
//! - with neither `adminpass` nor `keyname`, user data is required, because it is then the only way
//!   to log in to the new OS. (The Open Telekom Cloud page shows an example with neither and no
//!   user data: that would bring up a server nobody can log in to, so reimage refuses it.)

use crate::error::ValidationError;
use crate::id::{EdisImage, ImageId, KeyPairName, UserId};
use crate::password::{AdminPassword, RootPassword};
use crate::user_data::UserData;

/// An EDIS reinstall: the image, the new root password and, optionally, cloud-init user data.
///
/// ```
/// use reimage_core::{EdisImage, EdisReinstall, RootPassword};
///
/// let input = EdisReinstall::new(
///     EdisImage::new("cloudinit_debian-bookworm")?,
///     RootPassword::new("correct horse battery staple")?,
/// )
/// .with_user_data("#cloud-config\n".into());
/// assert_eq!(input.image().as_str(), "cloudinit_debian-bookworm");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Debug, Clone)]
pub struct EdisReinstall {
    image: EdisImage,
    password: RootPassword,
    user_data: Option<UserData>,
}

impl EdisReinstall {
    /// A reinstall with `image` and the root `password`.
    pub fn new(image: EdisImage, password: RootPassword) -> Self {
        Self {
            image,
            password,
            user_data: None,
        }
    }

    /// Adds cloud-init user data (`cloudinit_user_data`).
    #[must_use]
    pub fn with_user_data(mut self, user_data: UserData) -> Self {
        self.user_data = Some(user_data);
        self
    }

    /// The image to install.
    pub fn image(&self) -> &EdisImage {
        &self.image
    }

    /// The new root password.
    pub fn password(&self) -> &RootPassword {
        &self.password
    }

    /// The cloud-init user data, if any.
    pub fn user_data(&self) -> Option<&UserData> {
        self.user_data.as_ref()
    }
}

/// How a person will log in to the new ECS operating system.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Login {
    /// `adminpass`: a password for root or Administrator.
    Password(AdminPassword),
    /// `keyname` and `userid`: an SSH key pair of that IAM user.
    KeyPair {
        /// The key pair's name.
        name: KeyPairName,
        /// The IAM user that owns the key pair.
        user_id: UserId,
    },
    /// Neither: the user data sets up the login (users, keys, passwords).
    UserData,
}

/// What an ECS reinstall or change of OS does with the new system: login, user data, whether to
/// stop a running server first, and BYOL.
///
/// Build it with [`EcsOsSpec::builder`]; the cross-field rules are checked by
/// [`EcsOsSpecBuilder::build`].
#[derive(Debug, Clone)]
pub struct EcsOsSpec {
    login: Login,
    user_data: Option<UserData>,
    stop_server: bool,
    byol: bool,
}

impl EcsOsSpec {
    /// A builder with nothing set.
    pub fn builder() -> EcsOsSpecBuilder {
        EcsOsSpecBuilder::default()
    }

    /// How a person will log in.
    pub fn login(&self) -> &Login {
        &self.login
    }

    /// The user data (`metadata.user_data`), before base64.
    pub fn user_data(&self) -> Option<&UserData> {
        self.user_data.as_ref()
    }

    /// `mode: withStopServer`: ECS stops a running server before it starts.
    pub fn stop_server(&self) -> bool {
        self.stop_server
    }

    /// `metadata.BYOL: "true"`: the user brings the image's licence.
    pub fn byol(&self) -> bool {
        self.byol
    }
}

/// Builds an [`EcsOsSpec`] and enforces the cross-field rules.
///
/// ```
/// use reimage_core::{AdminPassword, EcsOsSpec, KeyPairName};
///
/// let both = EcsOsSpec::builder()
///     .adminpass(AdminPassword::new("Sup3r-secret")?)
///     .keyname(KeyPairName::new("KeyPair-350b")?)
///     .build()
///     .unwrap_err();
/// assert_eq!(both.field(), "adminpass");
///
/// let neither = EcsOsSpec::builder().build().unwrap_err();
/// assert_eq!(neither.field(), "user_data");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct EcsOsSpecBuilder {
    adminpass: Option<AdminPassword>,
    keyname: Option<KeyPairName>,
    userid: Option<UserId>,
    user_data: Option<UserData>,
    stop_server: bool,
    byol: bool,
}

impl EcsOsSpecBuilder {
    /// Sets `adminpass`.
    #[must_use]
    pub fn adminpass(mut self, password: AdminPassword) -> Self {
        self.adminpass = Some(password);
        self
    }

    /// Sets `keyname`; [`userid`](Self::userid) must come with it.
    #[must_use]
    pub fn keyname(mut self, name: KeyPairName) -> Self {
        self.keyname = Some(name);
        self
    }

    /// Sets `userid`, the owner of the key pair.
    #[must_use]
    pub fn userid(mut self, user_id: UserId) -> Self {
        self.userid = Some(user_id);
        self
    }

    /// Sets the user data.
    #[must_use]
    pub fn user_data(mut self, user_data: UserData) -> Self {
        self.user_data = Some(user_data);
        self
    }

    /// Sets `mode: withStopServer` when `stop` is true.
    #[must_use]
    pub fn stop_server(mut self, stop: bool) -> Self {
        self.stop_server = stop;
        self
    }

    /// Sets `metadata.BYOL: "true"` when `byol` is true.
    #[must_use]
    pub fn byol(mut self, byol: bool) -> Self {
        self.byol = byol;
        self
    }

    /// Checks the cross-field rules and builds the spec.
    pub fn build(self) -> Result<EcsOsSpec, ValidationError> {
        let login = match (self.adminpass, self.keyname, self.userid) {
            (Some(_), Some(_), _) => {
                return Err(ValidationError::new(
                    "adminpass",
                    "is set together with keyname",
                    "choose one way to log in: a password (adminpass) or a key pair (keyname)",
                ));
            }
            (Some(_), None, Some(_)) | (None, None, Some(_)) => {
                return Err(ValidationError::new(
                    "userid",
                    "is set without keyname",
                    "userid names the owner of a key pair: set keyname too, or drop userid",
                ));
            }
            (None, Some(_), None) => {
                return Err(ValidationError::new(
                    "userid",
                    "is missing, and keyname needs it",
                    "set userid to the IAM user id that owns the key pair",
                ));
            }
            (Some(password), None, None) => Login::Password(password),
            (None, Some(name), Some(user_id)) => Login::KeyPair { name, user_id },
            (None, None, None) => {
                if self.user_data.as_ref().is_none_or(UserData::is_empty) {
                    return Err(ValidationError::new(
                        "user_data",
                        "is missing, and neither adminpass nor keyname is set",
                        "give a password (adminpass), a key pair (keyname and userid), or user \
                         data that sets up a login; otherwise nobody can log in to the new OS",
                    ));
                }
                Login::UserData
            }
        };
        Ok(EcsOsSpec {
            login,
            user_data: self.user_data,
            stop_server: self.stop_server,
            byol: self.byol,
        })
    }
}

/// An ECS reinstall (`os-reinstall`): the same image again, with a new login and user data.
#[derive(Debug, Clone)]
pub struct EcsReinstall {
    spec: EcsOsSpec,
}

impl EcsReinstall {
    /// A reinstall with `spec`.
    pub fn new(spec: EcsOsSpec) -> Self {
        Self { spec }
    }

    /// Login, user data, mode and BYOL.
    pub fn spec(&self) -> &EcsOsSpec {
        &self.spec
    }
}

/// An ECS change of OS (`os-change`): a new image, with a new login and user data.
#[derive(Debug, Clone)]
pub struct EcsChangeOs {
    image_id: ImageId,
    spec: EcsOsSpec,
    auto_pay: bool,
}

impl EcsChangeOs {
    /// A change to the image `image_id`, with `spec`.
    pub fn new(image_id: ImageId, spec: EcsOsSpec) -> Self {
        Self {
            image_id,
            spec,
            auto_pay: false,
        }
    }

    /// Pays the order a yearly/monthly server's change of OS may make from the account at once
    /// (`isAutoPay: "true"`), instead of leaving its job in `PENDING_PAYMENT` until someone pays.
    #[must_use]
    pub fn with_auto_pay(mut self, auto_pay: bool) -> Self {
        self.auto_pay = auto_pay;
        self
    }

    /// Whether the order is paid at once (`isAutoPay`).
    pub fn auto_pay(&self) -> bool {
        self.auto_pay
    }

    /// The new image (`imageid`).
    pub fn image_id(&self) -> &ImageId {
        &self.image_id
    }

    /// Login, user data, mode and BYOL.
    pub fn spec(&self) -> &EcsOsSpec {
        &self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw() -> AdminPassword {
        AdminPassword::new("Sup3r-secret").unwrap()
    }
    fn key() -> KeyPairName {
        KeyPairName::new("KeyPair-350b").unwrap()
    }
    fn user() -> UserId {
        UserId::new("7e25b1da389f4697a79df3a0e5bd494e").unwrap()
    }

    /// Every combination of adminpass, keyname, userid and user data, with the expected verdict.
    #[test]
    fn cross_field_rules_table() {
        for mask in 0..16u8 {
            let (has_pw, has_key, has_user, has_ud) =
                (mask & 1 != 0, mask & 2 != 0, mask & 4 != 0, mask & 8 != 0);
            let mut b = EcsOsSpec::builder();
            if has_pw {
                b = b.adminpass(pw());
            }
            if has_key {
                b = b.keyname(key());
            }
            if has_user {
                b = b.userid(user());
            }
            if has_ud {
                b = b.user_data("#cloud-config\n".into());
            }
            let expected = match (has_pw, has_key, has_user, has_ud) {
                (true, true, _, _) => Err("adminpass"),
                (_, false, true, _) => Err("userid"),
                (false, true, false, _) => Err("userid"),
                (false, false, false, false) => Err("user_data"),
                _ => Ok(()),
            };
            match (b.build(), expected) {
                (Ok(spec), Ok(())) => {
                    let kind = match spec.login() {
                        Login::Password(_) => "password",
                        Login::KeyPair { .. } => "keypair",
                        Login::UserData => "userdata",
                    };
                    let want = if has_pw {
                        "password"
                    } else if has_key {
                        "keypair"
                    } else {
                        "userdata"
                    };
                    assert_eq!(kind, want, "mask {mask:04b}");
                }
                (Err(err), Err(field)) => assert_eq!(err.field(), field, "mask {mask:04b}: {err}"),
                (got, want) => panic!("mask {mask:04b}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn empty_user_data_is_no_login() {
        let err = EcsOsSpec::builder()
            .user_data(UserData::from(""))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "user_data");
    }
}
