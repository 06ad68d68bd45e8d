//! EDIS Global KVM: the auth session, the autoinstall images, reinstall, power, details and the
//! mounted ISO, each an [`Operation`].
//!
//! Every call is a `POST` with an `application/x-www-form-urlencoded` body. [`CreateSession`]
//! goes to `https://session.edisglobal.com` ([`session_endpoint`]) with the account's email and
//! password; every other call goes to the session's own host ([`api_endpoint`]) and starts its
//! body with the session: `signature`, `kvm_id` and `valid_until` (verbatim, as the auth answer
//! gave it). Those calls take a [`FreshSession`], the guard that
//! [`EdisSession::ensure_fresh`] returns, so a session that was never checked cannot be encoded.
//!
//! **Bodies carry secrets** (the password, the signature, the root password and user data); no
//! header does, so none is marked sensitive. Never log a body.
//!
//! Answers are `{"status":"success",...}`; anything else is a [`ResponseError`]: what EDIS said
//! (an error status, or a `status` other than `success`) or why the answer could not be read.
//! [`decode_success`] reads that envelope for every operation, and [`decode_sessions`] reads the
//! auth answer into [`EdisSessions`] (the session itself, [`EdisSession`], is `reimage-auth`'s).
//!
//! For the emulator, every operation also reads its form body back (`from_form`), refusing
//! missing, repeated and unknown fields.
//!
//! The whole flow, from the auth answer to the reinstall request:
//!
//! ```
//! use bytes::Bytes;
//! use reimage_auth::EdisCredentials;
//! use reimage_auth::edis::DEFAULT_FRESHNESS_MARGIN;
//! use reimage_core::{EdisImage, EdisReinstall, KvmId, RootPassword, Timestamp};
//! use reimage_wire::Operation;
//! use reimage_wire::edis::{CreateSession, Reinstall, api_endpoint, session_endpoint};
//!
//! let kvm = KvmId::new("kvm_12345_67890")?;
//! let auth = CreateSession::new(EdisCredentials::new("ops@example.com", "account password")?)
//!     .with_kvm_id(kvm.clone());
//! let request = auth.to_request(&session_endpoint())?;
//! assert_eq!(request.uri(), "https://session.edisglobal.com/kvm/v2/get/auth");
//!
//! // The transport sends it; EDIS answers:
//! let answer = http::Response::builder().status(200).body(Bytes::from_static(
//!     br#"{"data":{"kvm_12345_67890":{"api_host":"12345.edisglobal.com","kvm_id":"kvm_12345_67890",
//!         "valid_until":1737476000,"signature":"session_signature_12345"}},"status":"success"}"#,
//! ))?;
//! let sessions = auth.decode_response(answer)?;
//! let session = sessions.pick(&kvm)?;
//!
//! // Checked against the clock just before use: more than a minute must be left.
//! let now = Timestamp::from_unix_seconds(1_737_472_400).ok_or("out of range")?;
//! let fresh = session.ensure_fresh(now, DEFAULT_FRESHNESS_MARGIN)?;
//!
//! let input = EdisReinstall::new(
//!     EdisImage::new("cloudinit_debian-bookworm")?,
//!     RootPassword::new("correct horse")?,
//! )
//! .with_user_data("#cloud-config\nssh_pwauth: false\n".into());
//! let request = Reinstall::new(fresh, input).to_request(&api_endpoint(session)?)?;
//! assert_eq!(request.uri(), "https://12345.edisglobal.com/kvm/v2/set/reinstall");
//! assert!(request.body().starts_with(
//!     b"signature=session_signature_12345&kvm_id=kvm_12345_67890&valid_until=1737476000&\
//!       image=cloudinit_debian-bookworm&password=correct+horse&cloudinit_user_data="
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use http::{Method, Request, Response};
use reimage_auth::edis::{EdisCredentials, EdisSession, FreshSession, parse_valid_until};
use reimage_core::{
    EdisImage, EdisReinstall, KvmId, RootPassword, Timestamp, UserData, ValidationError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::{
    AuthScheme, EncodeError, Endpoint, FORM_CONTENT_TYPE, Operation, ResponseError, build_request,
};

mod answer;

pub use answer::{EdisSessions, decode_sessions, decode_success};

/// The name of the auth call in logs and errors.
pub const AUTH_OPERATION: &str = "edis.create_session";

/// The host of the auth call.
pub const SESSION_HOST: &str = "session.edisglobal.com";

/// `https://session.edisglobal.com`, where [`CreateSession`] goes unless the caller points it at
/// an emulator.
pub fn session_endpoint() -> Endpoint {
    Endpoint {
        scheme: http::uri::Scheme::HTTPS,
        authority: http::uri::Authority::from_static(SESSION_HOST),
        prefix: String::new(),
    }
}

/// `https://{api_host}`: where the calls of `session` go.
///
/// ```
/// use reimage_auth::EdisSession;
/// use reimage_core::KvmId;
///
/// let session = EdisSession::new("12345.edisglobal.com", KvmId::new("kvm_1_2")?, "sig", "1737476000")?;
/// let endpoint = reimage_wire::edis::api_endpoint(&session)?;
/// assert_eq!(endpoint.to_string(), "https://12345.edisglobal.com");
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
pub fn api_endpoint(session: &EdisSession) -> Result<Endpoint, ValidationError> {
    Endpoint::from_host(true, session.api_host())
}

// ---------------------------------------------------------------------------------------------
// The auth call.

/// `POST {endpoint}/kvm/v2/get/auth`: a session for one KVM (with [`with_kvm_id`]), or for
/// every KVM of the account.
///
/// The form carries `email`, `pw` and, optionally, `kvm_id`. The answer is [`EdisSessions`].
/// Idempotent: a second call only opens a second session. `Debug` never shows the password.
///
/// [`with_kvm_id`]: CreateSession::with_kvm_id
#[derive(Debug, Clone)]
pub struct CreateSession {
    credentials: EdisCredentials,
    kvm_id: Option<KvmId>,
}

impl CreateSession {
    /// The path of the auth call.
    pub const PATH: &'static str = "/kvm/v2/get/auth";

    /// A session for every KVM of the account.
    pub fn new(credentials: EdisCredentials) -> Self {
        Self {
            credentials,
            kvm_id: None,
        }
    }

    /// Limits the session to `kvm_id`.
    #[must_use]
    pub fn with_kvm_id(mut self, kvm_id: KvmId) -> Self {
        self.kvm_id = Some(kvm_id);
        self
    }

    /// The credentials.
    pub fn credentials(&self) -> &EdisCredentials {
        &self.credentials
    }

    /// The KVM the session is limited to, if any.
    pub fn kvm_id(&self) -> Option<&KvmId> {
        self.kvm_id.as_ref()
    }

    /// Reads an auth form body back (the emulator's side): `email` and `pw` are required,
    /// `kvm_id` is optional, and any other field is refused.
    ///
    /// ```
    /// use reimage_wire::edis::CreateSession;
    ///
    /// let op = CreateSession::from_form(b"email=ops%40example.com&pw=a+%2B%26%3D&kvm_id=kvm_1_2")?;
    /// assert_eq!(op.credentials().email(), "ops@example.com");
    /// assert_eq!(op.kvm_id().map(|k| k.as_str()), Some("kvm_1_2"));
    /// assert_eq!(CreateSession::from_form(b"email=ops%40example.com").unwrap_err().field(), "pw");
    /// # Ok::<(), reimage_core::ValidationError>(())
    /// ```
    pub fn from_form(body: &[u8]) -> Result<Self, ValidationError> {
        let mut form = Form::parse(AUTH_OPERATION, body, &["email", "pw", "kvm_id"])?;
        let email = form.require("email", "the account's email")?;
        let pw = form.require("pw", "the account's password")?;
        let credentials = EdisCredentials::new(email, pw)?;
        let kvm_id = form.take("kvm_id").map(KvmId::new).transpose()?;
        Ok(Self {
            credentials,
            kvm_id,
        })
    }
}

impl CreateSession {
    fn encode(
        &self,
        endpoint: &Endpoint,
        exposure: Exposure,
    ) -> Result<Request<Bytes>, EncodeError> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("email", self.credentials.email())
            .append_pair("pw", exposure.show(self.credentials.pw()));
        if let Some(kvm_id) = &self.kvm_id {
            form.append_pair("kvm_id", kvm_id.as_str());
        }
        post_form(Self::NAME, endpoint, Self::PATH, form.finish())
    }
}

/// Whether a form shows its secrets (to send) or [`crate::REDACTED`] in their place (to show);
/// user data counts as a secret, since it often holds passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exposure {
    Exposed,
    Redacted,
}

impl Exposure {
    fn show(self, secret: &SecretString) -> &str {
        match self {
            Self::Exposed => secret.expose_secret(),
            Self::Redacted => crate::REDACTED,
        }
    }
}

impl Operation for CreateSession {
    type Output = EdisSessions;

    const NAME: &'static str = AUTH_OPERATION;
    const AUTH: AuthScheme = AuthScheme::Credentials;
    const IDEMPOTENT: bool = true;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        self.encode(endpoint, Exposure::Exposed)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        self.encode(endpoint, Exposure::Redacted)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<EdisSessions, ResponseError> {
        decode_sessions(&response)
    }
}

// ---------------------------------------------------------------------------------------------
// The session calls.

/// The session part of a form body, as the emulator reads it: `signature`, `kvm_id` and
/// `valid_until`. `Debug` never shows the signature.
#[derive(Clone)]
pub struct SessionFields {
    signature: SecretString,
    kvm_id: KvmId,
    valid_until_text: String,
    valid_until: Timestamp,
}

impl SessionFields {
    /// Checks the three fields: a signature that is not empty, a KVM id, and a `valid_until` of
    /// digits.
    pub fn new(
        signature: impl Into<SecretString>,
        kvm_id: KvmId,
        valid_until: impl Into<String>,
    ) -> Result<Self, ValidationError> {
        let signature = signature.into();
        if signature.expose_secret().is_empty() {
            return Err(ValidationError::new(
                "signature",
                "is empty",
                "send the signature of the auth session",
            ));
        }
        let valid_until_text = valid_until.into();
        let valid_until = parse_valid_until(&valid_until_text)?;
        Ok(Self {
            signature,
            kvm_id,
            valid_until_text,
            valid_until,
        })
    }

    /// The session signature, to compare with the one the emulator issued.
    pub fn signature(&self) -> &SecretString {
        &self.signature
    }

    /// The KVM the call is for.
    pub fn kvm_id(&self) -> &KvmId {
        &self.kvm_id
    }

    /// `valid_until` exactly as it was sent.
    pub fn valid_until_text(&self) -> &str {
        &self.valid_until_text
    }

    /// When the session expires.
    pub fn valid_until(&self) -> Timestamp {
        self.valid_until
    }
}

impl fmt::Debug for SessionFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionFields")
            .field("signature", &format_args!("[REDACTED]"))
            .field("kvm_id", &self.kvm_id)
            .field("valid_until", &self.valid_until_text)
            .finish()
    }
}

/// `POST {api_host}/kvm/v2/set/reinstall`: reinstalls the KVM with an image, a new root password
/// and, optionally, cloud-init user data.
///
/// The form carries the session, then `image`, `password` and, when there is user data,
/// `cloudinit_user_data` (as text: user data that is not UTF-8 is refused). With user data, EDIS
/// may ignore `password`, depending on the cloud-config.
///
/// **Not idempotent**: a reinstall wipes the disk, and is never re-sent blindly.
#[derive(Debug, Clone)]
pub struct Reinstall<'a> {
    session: FreshSession<'a>,
    input: EdisReinstall,
}

impl<'a> Reinstall<'a> {
    /// The path of the reinstall call.
    pub const PATH: &'static str = "/kvm/v2/set/reinstall";

    /// A reinstall with `input`, in a session checked fresh.
    pub fn new(session: FreshSession<'a>, input: EdisReinstall) -> Self {
        Self { session, input }
    }

    /// The session.
    pub fn session(&self) -> FreshSession<'a> {
        self.session
    }

    /// The image, password and user data.
    pub fn input(&self) -> &EdisReinstall {
        &self.input
    }

    /// Reads a reinstall form body back (the emulator's side): the session, `image`, `password`
    /// and an optional `cloudinit_user_data`; any other field is refused.
    pub fn from_form(body: &[u8]) -> Result<(SessionFields, EdisReinstall), ValidationError> {
        parse_session_form(
            Self::NAME,
            body,
            &["image", "password", "cloudinit_user_data"],
            |form| {
                let image = EdisImage::new(
                    form.require("image", "the image name, as the images call lists it")?,
                )?;
                let password =
                    RootPassword::new(form.require("password", "the new root password")?)?;
                let input = EdisReinstall::new(image, password);
                Ok(match form.take("cloudinit_user_data") {
                    Some(user_data) => input.with_user_data(UserData::from(user_data)),
                    None => input,
                })
            },
        )
    }
}

impl Reinstall<'_> {
    fn encode(
        &self,
        endpoint: &Endpoint,
        exposure: Exposure,
    ) -> Result<Request<Bytes>, EncodeError> {
        let user_data = self.input.user_data().map(user_data_text).transpose()?;
        let mut form = session_form(self.session, exposure);
        form.append_pair("image", self.input.image().as_str())
            .append_pair("password", exposure.show(self.input.password().secret()));
        if let Some(user_data) = user_data {
            // User data often holds passwords: a dry run shows it apart, with them hidden.
            let shown = match exposure {
                Exposure::Exposed => user_data,
                Exposure::Redacted => crate::REDACTED,
            };
            form.append_pair("cloudinit_user_data", shown);
        }
        post_form(Self::NAME, endpoint, Self::PATH, form.finish())
    }
}

impl Operation for Reinstall<'_> {
    type Output = ();

    const NAME: &'static str = "edis.reinstall";
    const AUTH: AuthScheme = AuthScheme::EdisSession;
    const IDEMPOTENT: bool = false;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        self.encode(endpoint, Exposure::Exposed)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        self.encode(endpoint, Exposure::Redacted)
    }

    fn decode_response(&self, response: Response<Bytes>) -> Result<(), ResponseError> {
        decode_done(Self::NAME, &response)
    }
}

/// User data as the text `cloudinit_user_data` carries, or an error if it is not UTF-8.
fn user_data_text(user_data: &UserData) -> Result<&str, ValidationError> {
    std::str::from_utf8(user_data.as_bytes()).map_err(|e| {
        ValidationError::new(
            "cloudinit_user_data",
            format!(
                "is not UTF-8 text (the first bad byte is at offset {})",
                e.valid_up_to()
            ),
            "EDIS takes user data as text: give a #cloud-config or a script in UTF-8, not a \
             binary or gzip file",
        )
    })
}

/// Declares a session call whose form is the session alone. It is idempotent unless it says
/// `idempotent: false`.
macro_rules! session_call {
    (@idempotent) => {
        true
    };
    (@idempotent $idempotent:literal) => {
        $idempotent
    };
    (
        $(#[$meta:meta])*
        $name:ident {
            path: $path:literal,
            name: $op:literal,
            output: $output:ty,
            decode: $decode:expr
            $(, idempotent: $idempotent:literal)? $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<'a> {
            session: FreshSession<'a>,
        }

        impl<'a> $name<'a> {
            /// The path of the call.
            pub const PATH: &'static str = $path;

            /// The call, in a session checked fresh.
            pub fn new(session: FreshSession<'a>) -> Self {
                Self { session }
            }

            /// The session.
            pub fn session(&self) -> FreshSession<'a> {
                self.session
            }

            /// Reads the form body back (the emulator's side): the session fields, and nothing
            /// else.
            pub fn from_form(body: &[u8]) -> Result<SessionFields, ValidationError> {
                parse_session_form(Self::NAME, body, &[], |_| Ok(())).map(|(session, ())| session)
            }
        }

        impl Operation for $name<'_> {
            type Output = $output;

            const NAME: &'static str = $op;
            const AUTH: AuthScheme = AuthScheme::EdisSession;
            const IDEMPOTENT: bool = session_call!(@idempotent $($idempotent)?);

            fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
                let form = session_form(self.session, Exposure::Exposed).finish();
                post_form(Self::NAME, endpoint, Self::PATH, form)
            }

            fn to_redacted_request(
                &self,
                endpoint: &Endpoint,
            ) -> Result<Request<Bytes>, EncodeError> {
                let form = session_form(self.session, Exposure::Redacted).finish();
                post_form(Self::NAME, endpoint, Self::PATH, form)
            }

            fn decode_response(&self, response: Response<Bytes>) -> Result<$output, ResponseError> {
                let decode: fn(&'static str, &Response<Bytes>) -> Result<$output, ResponseError> =
                    $decode;
                decode(Self::NAME, &response)
            }
        }
    };
}

session_call! {
    /// `POST {api_host}/kvm/v2/get/images`: the images this KVM can be reinstalled with.
    GetImages {
        path: "/kvm/v2/get/images",
        name: "edis.get_images",
        output: ImageList,
        decode: |name, response| {
            #[derive(Deserialize)]
            struct Answer {
                data: Vec<String>,
            }
            let answer: Answer = decode_success(name, response)?;
            Ok(ImageList::from_names(answer.data))
        },
    }
}

session_call! {
    /// `POST {api_host}/kvm/v2/get/power`: whether the KVM is running.
    GetPower {
        path: "/kvm/v2/get/power",
        name: "edis.get_power",
        output: PowerStatus,
        decode: |name, response| {
            #[derive(Deserialize)]
            struct Answer {
                data: String,
                #[serde(default, deserialize_with = "lenient::flag")]
                traffic_suspended: Option<bool>,
            }
            let answer: Answer = decode_success(name, response)?;
            Ok(PowerStatus {
                state: PowerState::parse(&answer.data),
                traffic_suspended: answer.traffic_suspended,
            })
        },
    }
}

session_call! {
    /// `POST {api_host}/kvm/v2/set/poweron`: starts the KVM. Idempotent: starting a running KVM
    /// leaves it running.
    PowerOn {
        path: "/kvm/v2/set/poweron",
        name: "edis.power_on",
        output: (),
        decode: decode_done,
    }
}

session_call! {
    /// `POST {api_host}/kvm/v2/set/poweroff`: stops the KVM. Idempotent: stopping a stopped KVM
    /// leaves it stopped.
    PowerOff {
        path: "/kvm/v2/set/poweroff",
        name: "edis.power_off",
        output: (),
        decode: decode_done,
    }
}

session_call! {
    /// `POST {api_host}/kvm/v2/set/reset`: a hard reset, as a power cut would do. Not idempotent:
    /// a second one resets the KVM again. The answer may say when the reset happened.
    HardReset {
        path: "/kvm/v2/set/reset",
        name: "edis.hard_reset",
        output: Option<Timestamp>,
        decode: |name, response| {
            #[derive(Deserialize)]
            struct Answer {
                #[serde(default)]
                reset_time: Option<String>,
            }
            let answer: Answer = decode_success(name, response)?;
            // An unreadable time is no reason to call a done reset failed.
            Ok(answer.reset_time.and_then(|t| Timestamp::parse(&t).ok()))
        },
        idempotent: false,
    }
}

session_call! {
    /// `POST {api_host}/kvm/v2/get/details`: the KVM's hardware, addresses, host name and
    /// whether it is suspended.
    GetDetails {
        path: "/kvm/v2/get/details",
        name: "edis.get_details",
        output: KvmDetails,
        decode: |name, response| {
            #[derive(Deserialize)]
            struct Answer {
                data: KvmDetails,
            }
            let answer: Answer = decode_success(name, response)?;
            Ok(answer.data)
        },
    }
}

session_call! {
    /// `POST {api_host}/kvm/v2/get/mount`: the ISO mounted on the KVM, if any. A read:
    /// idempotent.
    GetMount {
        path: "/kvm/v2/get/mount",
        name: "edis.get_mount",
        output: MountStatus,
        decode: |name, response| {
            #[derive(Deserialize)]
            struct Answer {
                #[serde(deserialize_with = "lenient::text")]
                current_iso: Option<String>,
            }
            let answer: Answer = decode_success(name, response)?;
            Ok(MountStatus::from_current_iso(answer.current_iso.as_deref()))
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Answers.

/// The images of `/kvm/v2/get/images`.
///
/// Names that are not valid [`EdisImage`]s are kept apart in [`unusable`](Self::unusable)
/// rather than failing the whole list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageList {
    /// The images, in the answer's order.
    pub images: Vec<EdisImage>,
    /// The names that are not image names reimage can send, as EDIS wrote them.
    pub unusable: Vec<String>,
}

impl ImageList {
    /// Sorts `names` into images and unusable names, keeping their order.
    pub fn from_names(names: impl IntoIterator<Item = String>) -> Self {
        let mut list = Self::default();
        for name in names {
            match EdisImage::new(name.as_str()) {
                Ok(image) => list.images.push(image),
                Err(_) => list.unusable.push(name),
            }
        }
        list
    }

    /// Whether `image` is offered.
    pub fn contains(&self, image: &EdisImage) -> bool {
        self.images.contains(image)
    }
}

/// The answer of `/kvm/v2/get/power`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PowerStatus {
    /// Whether the KVM is running.
    pub state: PowerState,
    /// Whether the KVM's traffic is suspended (`traffic_suspended`), when EDIS says.
    pub traffic_suspended: Option<bool>,
}

impl PowerStatus {
    /// A status with `state` and nothing said about traffic.
    pub fn new(state: PowerState) -> Self {
        Self {
            state,
            traffic_suspended: None,
        }
    }
}

/// The power state, from the `data` text of `/kvm/v2/get/power`.
///
/// EDIS documents `"server powered on"`; reimage also reads its counterpart
/// `"server powered off"` and the hypervisor's own `"running"` and `"shut off"`. Any other text
/// is kept as [`Other`](Self::Other), so a new wording never breaks decoding.
///
/// ```
/// use reimage_wire::edis::PowerState;
///
/// assert_eq!(PowerState::parse("server powered on"), PowerState::On);
/// assert_eq!(PowerState::parse("Server Powered Off"), PowerState::Off);
/// assert_eq!(PowerState::parse("paused"), PowerState::Other("paused".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PowerState {
    /// Running.
    On,
    /// Stopped.
    Off,
    /// A text reimage does not know, as EDIS wrote it.
    Other(String),
}

impl PowerState {
    /// Reads the `data` text, ignoring case and surrounding spaces.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "server powered on" | "running" => Self::On,
            "server powered off" | "shut off" => Self::Off,
            _ => Self::Other(text.to_owned()),
        }
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::On => f.write_str("powered on"),
            Self::Off => f.write_str("powered off"),
            Self::Other(text) => write!(f, "unknown ({text:?})"),
        }
    }
}

/// The answer of `/kvm/v2/get/details`. Unknown fields are ignored; each field is optional, and
/// numbers may come as numbers or strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct KvmDetails {
    /// The host name (`hostname`).
    #[serde(default, deserialize_with = "lenient::text")]
    pub hostname: Option<String>,
    /// Whether the KVM is suspended (`suspended`: `"y"` or `"n"`).
    #[serde(default, deserialize_with = "lenient::flag")]
    pub suspended: Option<bool>,
    /// The hardware (`hw`).
    #[serde(default, rename = "hw", deserialize_with = "lenient::object")]
    pub hardware: Hardware,
    /// The addresses (`ip`).
    #[serde(default, rename = "ip", deserialize_with = "lenient::object")]
    pub network: Network,
}

/// The hardware of a KVM (`hw`). EDIS does not document the units; its example (`ram` 5120,
/// `disk` 46080) reads as MiB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Hardware {
    /// Memory (`ram`).
    #[serde(default, deserialize_with = "lenient::number")]
    pub ram: Option<u64>,
    /// Disk size (`disk`).
    #[serde(default, deserialize_with = "lenient::number")]
    pub disk: Option<u64>,
    /// How the CPU cores are presented to the guest (`cpu_set_cores`, e.g. `socket`).
    #[serde(default, deserialize_with = "lenient::text")]
    pub cpu_set_cores: Option<String>,
    /// The disk speed boost (`drive_boost`).
    #[serde(default, deserialize_with = "lenient::number")]
    pub drive_boost: Option<u64>,
}

/// The addresses of a KVM (`ip`), as EDIS writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Network {
    /// The IPv4 addresses, each `address/netmask` (`ipv4`: a list, or one text).
    #[serde(default, deserialize_with = "lenient::texts")]
    pub ipv4: Vec<String>,
    /// The IPv4 gateway (`ipv4_gw`).
    #[serde(default, rename = "ipv4_gw", deserialize_with = "lenient::text")]
    pub ipv4_gateway: Option<String>,
    /// The IPv4 netmask (`ipv4_nm`).
    #[serde(default, rename = "ipv4_nm", deserialize_with = "lenient::text")]
    pub ipv4_netmask: Option<String>,
    /// The IPv6 gateway (`ipv6_gw`).
    #[serde(default, rename = "ipv6_gw", deserialize_with = "lenient::text")]
    pub ipv6_gateway: Option<String>,
    /// The routed IPv6 /64 (`ipv6_64`).
    #[serde(default, rename = "ipv6_64", deserialize_with = "lenient::text")]
    pub ipv6_64: Option<String>,
}

/// The answer of `/kvm/v2/get/mount`: which ISO is mounted on the KVM.
///
/// EDIS writes `"current_iso": "empty"` when no ISO is mounted; that, an empty text and `null`
/// read as [`None`].
///
/// ```
/// use reimage_wire::edis::MountStatus;
///
/// assert_eq!(MountStatus::from_current_iso(Some("empty")).current_iso, None);
/// assert_eq!(MountStatus::from_current_iso(Some("")), MountStatus::new(None));
/// let mounted = MountStatus::from_current_iso(Some("debian-12.iso"));
/// assert_eq!(mounted.current_iso.as_deref(), Some("debian-12.iso"));
/// assert!(mounted.is_mounted());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountStatus {
    /// The mounted ISO (`current_iso`), as EDIS names it; `None` when none is mounted.
    pub current_iso: Option<String>,
}

impl MountStatus {
    /// The text EDIS writes in `current_iso` when no ISO is mounted.
    pub const EMPTY: &'static str = "empty";

    /// A status with `current_iso` mounted, or none.
    pub fn new(current_iso: Option<String>) -> Self {
        Self { current_iso }
    }

    /// Reads `current_iso` as EDIS writes it: `"empty"` (any case), blank or absent is none.
    pub fn from_current_iso(text: Option<&str>) -> Self {
        let iso = text
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(Self::EMPTY));
        Self::new(iso.map(str::to_owned))
    }

    /// Whether an ISO is mounted.
    pub fn is_mounted(&self) -> bool {
        self.current_iso.is_some()
    }

    /// `current_iso` as EDIS writes it: the ISO's name, or `"empty"`.
    pub fn current_iso_text(&self) -> &str {
        self.current_iso.as_deref().unwrap_or(Self::EMPTY)
    }
}

/// Field readers that take what PHP writes: numbers as strings, flags as `"y"`/`"n"`, `null` or
/// `[]` for an empty object. Their errors never quote the value.
mod lenient {
    use serde::de::{Deserialize, DeserializeOwned, Deserializer, Error};
    use serde_json::Value;

    /// A whole number, or a string of digits; `null` and `""` are absent.
    pub(super) fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::custom("expected a whole number")),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::custom("expected a whole number or a string of digits")),
            _ => Err(Error::custom(
                "expected a whole number or a string of digits",
            )),
        }
    }

    /// A text, or a number or flag written as one; `null` is absent.
    pub(super) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            _ => Err(Error::custom("expected a text or a number")),
        }
    }

    /// A list of texts, or one text; `null` and `""` are an empty list.
    pub(super) fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let item = |v: Value| match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(Error::custom("expected a list of texts")),
        };
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::String(s) if s.is_empty() => Ok(Vec::new()),
            Value::Array(items) => items.into_iter().map(item).collect(),
            other => item(other).map(|s| vec![s]),
        }
    }

    /// A flag: `true`/`false`, `"y"`/`"n"`, `"yes"`/`"no"`, `"true"`/`"false"`, `1`/`0`; `null`
    /// is absent.
    pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        const EXPECTED: &str = "expected a flag: true or false, \"y\" or \"n\", 1 or 0";
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b)),
            Value::Number(n) => match n.as_u64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(Error::custom(EXPECTED)),
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" | "true" | "1" => Ok(Some(true)),
                "n" | "no" | "false" | "0" => Ok(Some(false)),
                _ => Err(Error::custom(EXPECTED)),
            },
            _ => Err(Error::custom(EXPECTED)),
        }
    }

    /// An object, or `null` or `[]` (PHP's empty object) for the default.
    pub(super) fn object<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
        d: D,
    ) -> Result<T, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(T::default()),
            Value::Array(items) if items.is_empty() => Ok(T::default()),
            value @ Value::Object(_) => T::deserialize(value).map_err(Error::custom),
            _ => Err(Error::custom("expected an object")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared encoding and form reading.

/// A form that starts with the session: `signature`, `kvm_id`, `valid_until` (verbatim).
fn session_form(
    session: FreshSession<'_>,
    exposure: Exposure,
) -> form_urlencoded::Serializer<'static, String> {
    let session = session.session();
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("signature", exposure.show(session.signature()))
        .append_pair("kvm_id", session.kvm_id().as_str())
        .append_pair("valid_until", session.valid_until_text());
    form
}

/// Reads an answer that says only `"status": "success"` (reinstall, power on, power off).
fn decode_done(operation: &'static str, response: &Response<Bytes>) -> Result<(), ResponseError> {
    decode_success::<IgnoredAny, _>(operation, response).map(drop)
}

/// `POST {endpoint}{path}` with the form `body`.
fn post_form(
    operation: &'static str,
    endpoint: &Endpoint,
    path: &str,
    body: String,
) -> Result<Request<Bytes>, EncodeError> {
    build_request(
        operation,
        Method::POST,
        endpoint.uri(operation, path)?,
        Some(FORM_CONTENT_TYPE),
        Bytes::from(body),
    )
}

/// Reads a session call's form: the session fields, then the operation's own `fields` through
/// `rest`. Missing, repeated and unknown fields are refused.
fn parse_session_form<T>(
    operation: &'static str,
    body: &[u8],
    fields: &[&'static str],
    rest: impl FnOnce(&mut Form) -> Result<T, ValidationError>,
) -> Result<(SessionFields, T), ValidationError> {
    let allowed: Vec<&'static str> = ["signature", "kvm_id", "valid_until"]
        .iter()
        .chain(fields)
        .copied()
        .collect();
    let mut form = Form::parse(operation, body, &allowed)?;
    let signature = form.require("signature", "the signature of the auth session")?;
    let kvm_id = KvmId::new(form.require("kvm_id", "the KVM id of the auth session")?)?;
    let valid_until = form.require(
        "valid_until",
        "valid_until exactly as the auth session gave it",
    )?;
    let session = SessionFields::new(signature, kvm_id, valid_until)?;
    let rest = rest(&mut form)?;
    Ok((session, rest))
}

/// A form body's fields, each given once.
struct Form {
    operation: &'static str,
    fields: BTreeMap<String, String>,
}

impl Form {
    /// Parses `body`, refusing a field that is not in `allowed` or is given twice. Field values
    /// are never shown in the errors.
    fn parse(
        operation: &'static str,
        body: &[u8],
        allowed: &[&'static str],
    ) -> Result<Self, ValidationError> {
        let mut fields = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            let Some(&known) = allowed.iter().find(|&&a| a == name) else {
                let shown: String = name.chars().take(40).collect();
                return Err(ValidationError::new(
                    "form",
                    format!("has a field {shown:?} that {operation} does not take"),
                    format!("send only {}", allowed.join(", ")),
                ));
            };
            if fields
                .insert(known.to_owned(), value.into_owned())
                .is_some()
            {
                return Err(ValidationError::new(
                    known,
                    "is given twice",
                    "send each field once",
                ));
            }
        }
        Ok(Self { operation, fields })
    }

    /// The field `name`, if given.
    fn take(&mut self, name: &'static str) -> Option<String> {
        self.fields.remove(name)
    }

    /// The field `name`, or an error saying that `what` must be sent.
    fn require(
        &mut self,
        name: &'static str,
        what: &'static str,
    ) -> Result<String, ValidationError> {
        self.take(name).ok_or_else(|| {
            ValidationError::new(
                name,
                format!("is missing from the {} form", self.operation),
                format!("send {what}"),
            )
        })
    }
}

/// An EDIS call, as its path names it: what the emulator dispatches on. Each path is the
/// operation's own `PATH`, so it is declared once.
///
/// ```
/// use reimage_wire::edis::{EdisRoute, Reinstall};
///
/// assert_eq!(EdisRoute::parse("/kvm/v2/set/reinstall/"), Some(EdisRoute::Reinstall));
/// assert_eq!(EdisRoute::Reinstall.path(), Reinstall::PATH);
/// assert_eq!(EdisRoute::Reinstall.name(), "edis.reinstall");
/// assert_eq!(EdisRoute::parse("/kvm/v2/get/nothing"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EdisRoute {
    /// [`CreateSession`].
    CreateSession,
    /// [`GetImages`].
    GetImages,
    /// [`Reinstall`].
    Reinstall,
    /// [`GetPower`].
    GetPower,
    /// [`PowerOn`].
    PowerOn,
    /// [`PowerOff`].
    PowerOff,
    /// [`HardReset`].
    HardReset,
    /// [`GetDetails`].
    GetDetails,
    /// [`GetMount`].
    GetMount,
}

impl EdisRoute {
    /// Every route.
    pub const ALL: [EdisRoute; 9] = [
        Self::CreateSession,
        Self::GetImages,
        Self::Reinstall,
        Self::GetPower,
        Self::PowerOn,
        Self::PowerOff,
        Self::HardReset,
        Self::GetDetails,
        Self::GetMount,
    ];

    /// The route of a path (one trailing `/` allowed), if it is one.
    pub fn parse(path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        Self::ALL.into_iter().find(|route| route.path() == path)
    }

    /// The path: the operation's `PATH`.
    pub fn path(self) -> &'static str {
        match self {
            Self::CreateSession => CreateSession::PATH,
            Self::GetImages => GetImages::PATH,
            Self::Reinstall => Reinstall::PATH,
            Self::GetPower => GetPower::PATH,
            Self::PowerOn => PowerOn::PATH,
            Self::PowerOff => PowerOff::PATH,
            Self::HardReset => HardReset::PATH,
            Self::GetDetails => GetDetails::PATH,
            Self::GetMount => GetMount::PATH,
        }
    }

    /// The operation's name, as logs and the emulator's faults know it (`edis.reinstall`).
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateSession => CreateSession::NAME,
            Self::GetImages => GetImages::NAME,
            Self::Reinstall => Reinstall::NAME,
            Self::GetPower => GetPower::NAME,
            Self::PowerOn => PowerOn::NAME,
            Self::PowerOff => PowerOff::NAME,
            Self::HardReset => HardReset::NAME,
            Self::GetDetails => GetDetails::NAME,
            Self::GetMount => GetMount::NAME,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session() -> EdisSession {
        EdisSession::new(
            "12345.edisglobal.com",
            KvmId::new("kvm_12345_67890").unwrap(),
            "sig-secret",
            "1737476000",
        )
        .unwrap()
    }

    #[test]
    fn session_fields_debug_is_redacted_exactly() {
        let fields =
            SessionFields::new("sig nature", KvmId::new("kvm_1_2").unwrap(), "1737476000").unwrap();
        assert_eq!(
            format!("{fields:?}"),
            r#"SessionFields { signature: [REDACTED], kvm_id: KvmId("kvm_1_2"), valid_until: "1737476000" }"#
        );
    }

    #[test]
    fn operations_never_show_secrets() {
        let session = session();
        let fresh = session
            .ensure_fresh(Timestamp::UNIX_EPOCH, Duration::ZERO)
            .unwrap();
        let input = EdisReinstall::new(
            EdisImage::new("debian-bullseye").unwrap(),
            RootPassword::new("root-secret").unwrap(),
        )
        .with_user_data("#cloud-config\npassword: ud-secret\n".into());
        let shown = format!(
            "{:?} {:?} {:?}",
            Reinstall::new(fresh, input),
            GetPower::new(fresh),
            CreateSession::new(EdisCredentials::new("ops@example.com", "account-secret").unwrap())
        );
        for secret in ["root-secret", "ud-secret", "account-secret", "sig-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("[REDACTED]"), "{shown}");
    }

    #[test]
    fn form_refuses_unknown_repeated_and_missing_fields() {
        let ok = b"signature=s&kvm_id=kvm_1_2&valid_until=5";
        assert!(GetPower::from_form(ok).is_ok());
        let cases: &[(&[u8], &str, &str)] = &[
            (
                b"signature=s&kvm_id=kvm_1_2&valid_until=5&image=x",
                "form",
                "has a field \"image\"",
            ),
            (
                b"signature=s&kvm_id=kvm_1_2&valid_until=5&signature=t",
                "signature",
                "is given twice",
            ),
            (
                b"kvm_id=kvm_1_2&valid_until=5",
                "signature",
                "is missing from the edis.get_power form",
            ),
            (b"signature=s&valid_until=5", "kvm_id", "is missing"),
            (b"signature=s&kvm_id=kvm_1_2", "valid_until", "is missing"),
            (
                b"signature=&kvm_id=kvm_1_2&valid_until=5",
                "signature",
                "is empty",
            ),
            (
                b"signature=s&kvm_id=kvm_1_2&valid_until=soon",
                "valid_until",
                "is not a Unix time",
            ),
            (
                b"signature=s&kvm_id=nope&valid_until=5",
                "kvm_id",
                "\"nope\" is not a KVM id",
            ),
        ];
        for (body, field, problem) in cases {
            let err = GetPower::from_form(body).unwrap_err();
            assert_eq!(err.field(), *field, "{err}");
            assert!(err.problem().starts_with(problem), "{err}");
        }
        let err =
            Reinstall::from_form(b"signature=s&kvm_id=kvm_1_2&valid_until=5&image=debian-bullseye")
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "password: is missing from the edis.reinstall form; send the new root password"
        );
    }

    #[test]
    fn non_utf8_user_data_is_refused() {
        let session = session();
        let fresh = session
            .ensure_fresh(Timestamp::UNIX_EPOCH, Duration::ZERO)
            .unwrap();
        let input = EdisReinstall::new(
            EdisImage::new("debian-bullseye").unwrap(),
            RootPassword::new("pw").unwrap(),
        )
        .with_user_data(UserData::from(vec![b'#', b'!', 0xff, 0xfe]));
        let err = Reinstall::new(fresh, input)
            .to_request(&api_endpoint(&session).unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cloudinit_user_data: is not UTF-8 text (the first bad byte is at offset 2); EDIS takes user \
             data as text: give a #cloud-config or a script in UTF-8, not a binary or gzip file"
        );
    }

    #[test]
    fn lenient_fields() {
        let details: KvmDetails = serde_json::from_str(
            r#"{"hw":{"ram":5120,"disk":"46080","cpu_set_cores":4,"drive_boost":""},"suspended":"Y",
                "ip":{"ipv4":"10.0.0.1/255.0.0.0","ipv6_gw":null},"hostname":"h","extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(details.hardware.ram, Some(5120));
        assert_eq!(details.hardware.disk, Some(46080));
        assert_eq!(details.hardware.cpu_set_cores.as_deref(), Some("4"));
        assert_eq!(details.hardware.drive_boost, None);
        assert_eq!(details.suspended, Some(true));
        assert_eq!(details.network.ipv4, ["10.0.0.1/255.0.0.0"]);
        assert_eq!(details.network.ipv6_gateway, None);
        let empty: KvmDetails = serde_json::from_str(r#"{"hw":[],"ip":null}"#).unwrap();
        assert_eq!(empty, KvmDetails::default());
        for bad in [
            r#"{"suspended":"maybe"}"#,
            r#"{"hw":{"ram":"lots"}}"#,
            r#"{"hw":{"ram":-1}}"#,
            r#"{"ip":{"ipv4":[{}]}}"#,
            r#"{"hw":"x"}"#,
        ] {
            assert!(serde_json::from_str::<KvmDetails>(bad).is_err(), "{bad}");
        }
    }
}
