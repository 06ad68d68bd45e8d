//! The image service's query of one image (IMS, `GET /v2/images/{image_id}`), and the choice it
//! makes: an image whose `__support_fc_inject` is `"true"` has no cloud-init to inject a password
//! or key pair, so ECS's reinstall and change of OS *without* cloud-init (the `/v1/` calls) are
//! the ones for it; any other image takes the cloud-init calls (`/v2/`).
//!
//! The attribute and its meaning are IMS's: the image details of the official Go SDK
//! (`huaweicloud-sdk-go-v3`, `services/ims/v2/model/model_glance_show_image_response.go`,
//! field `SupportFcInject`) and terraform-provider-huaweicloud's `docs/resources/ims_image_metadata.md`
//! ("If the value is **true**, password/private key injection using Cloud-Init is not
//! supported").

#[allow(clippy::wildcard_imports)]
use super::*;

/// The IMS image attribute that says an image has no cloud-init: `"true"` there means password
/// and key pair injection by cloud-init is not supported; any other value, or none, means it is.
pub const SUPPORT_FC_INJECT: &str = "__support_fc_inject";

/// Which of ECS's two reinstall (and change of OS) APIs a call takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebuildApi {
    /// The cloud-init calls (`POST /v2/…/reinstallos`, `/v2/…/changeos`): a password, a key
    /// pair and user data.
    CloudInit,
    /// The calls for an image without cloud-init (`POST /v1/…/reinstallos`, `/v1/…/changeos`):
    /// a password or a key pair, no user data.
    Plain,
}

impl RebuildApi {
    /// `cloud-init` or `plain`, as the command line and the fleet plan spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudInit => "cloud-init",
            Self::Plain => "plain",
        }
    }
}

impl fmt::Display for RebuildApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The IMS path of one image, declared once: [`ImsRoute::path`] writes it and
/// [`ImsRoute::parse`] reads it back (the emulator's dispatch).
///
/// ```
/// use reimage_core::ImageId;
/// use reimage_wire::ecs::ImsRoute;
///
/// let route = ImsRoute::ShowImage { image_id: ImageId::new("e215580f-73ad-429d-b6f2-5433947433b0")? };
/// assert_eq!(route.path(), "/v2/images/e215580f-73ad-429d-b6f2-5433947433b0");
/// assert_eq!(ImsRoute::parse(&route.path()), Some(route));
/// assert_eq!(ImsRoute::parse("/v2/images/not-a-uuid"), None);
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImsRoute {
    /// `GET /v2/images/{image_id}`: one image, as OpenStack Glance shows it, with IMS's own
    /// `__…` attributes.
    ShowImage {
        /// The image.
        image_id: ImageId,
    },
}

impl ImsRoute {
    /// Reads a path (a query string is ignored, one trailing `/` allowed). `None` when it is not
    /// one of these routes or the id is not of the right form.
    pub fn parse(path: &str) -> Option<Self> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let path = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["v2", "images", id] => Some(Self::ShowImage {
                image_id: ImageId::new(*id).ok()?,
            }),
            _ => None,
        }
    }

    /// The path of the route.
    pub fn path(&self) -> String {
        match self {
            Self::ShowImage { image_id } => format!("/v2/images/{image_id}"),
        }
    }

    /// The method the route takes.
    pub fn method(&self) -> Method {
        match self {
            Self::ShowImage { .. } => Method::GET,
        }
    }
}

/// One image as IMS shows it: what reimage reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageDetails {
    /// The image.
    pub id: ImageId,
    /// Its name.
    pub name: Option<String>,
    /// Its IMS status (`active`, `queued`, `saving`, `deleted`, `killed`).
    pub status: Option<String>,
    /// `__os_type`: `Linux`, `Windows` or `Other`.
    pub os_type: Option<String>,
    /// `__platform`: `Debian`, `Ubuntu`, `Windows`, ….
    pub platform: Option<String>,
    /// [`SUPPORT_FC_INJECT`] as IMS wrote it.
    pub support_fc_inject: Option<String>,
}

impl ImageDetails {
    /// An image with only its id known.
    pub fn new(id: ImageId) -> Self {
        Self {
            id,
            name: None,
            status: None,
            os_type: None,
            platform: None,
            support_fc_inject: None,
        }
    }

    /// Whether the image has cloud-init (or Cloudbase-Init) to take a password, key pair and
    /// user data: false only when [`SUPPORT_FC_INJECT`] is `"true"`, as IMS documents it.
    pub fn has_cloud_init(&self) -> bool {
        !self
            .support_fc_inject
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The API a reinstall or change of OS to this image takes.
    pub fn rebuild_api(&self) -> RebuildApi {
        if self.has_cloud_init() {
            RebuildApi::CloudInit
        } else {
            RebuildApi::Plain
        }
    }

    /// Why [`rebuild_api`](Self::rebuild_api) chose what it did, in one phrase naming the
    /// attribute: `"__support_fc_inject is \"true\""` or `"__support_fc_inject is absent"`.
    pub fn reason(&self) -> String {
        match &self.support_fc_inject {
            Some(v) => format!("{SUPPORT_FC_INJECT} is {v:?}"),
            None => format!("{SUPPORT_FC_INJECT} is absent"),
        }
    }

    /// Whether the image is Windows (`__os_type`), whose user data Cloudbase-Init reads.
    pub fn is_windows(&self) -> bool {
        self.os_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("windows"))
    }
}

/// Queries one image: `GET /v2/images/{image_id}` on the image service's endpoint
/// (`https://ims.{region}.myhuaweicloud.com`), answered by the image as a flat JSON object.
///
/// ```
/// use reimage_core::ImageId;
/// use reimage_wire::{Endpoint, Operation, ecs::{RebuildApi, ShowImage}};
///
/// let op = ShowImage::new(ImageId::new("1a2b3c4d-0000-4000-8000-000000000002")?);
/// let request = op.to_request(&Endpoint::parse("https://ims.eu-de.otc.t-systems.com")?)?;
/// assert_eq!(request.uri().path(), "/v2/images/1a2b3c4d-0000-4000-8000-000000000002");
///
/// let answer = http::Response::builder()
///     .status(200)
///     .body(bytes::Bytes::from_static(
///         br#"{"id":"1a2b3c4d-0000-4000-8000-000000000002","name":"plain","status":"active","__support_fc_inject":"true"}"#,
///     ))?;
/// let image = op.decode_response(answer)?;
/// assert_eq!(image.rebuild_api(), RebuildApi::Plain);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShowImage {
    image_id: ImageId,
}

impl ShowImage {
    /// Queries `image_id`.
    pub fn new(image_id: ImageId) -> Self {
        Self { image_id }
    }
}

impl Operation for ShowImage {
    type Output = ImageDetails;

    const NAME: &'static str = "ims.show_image";
    const AUTH: AuthScheme = AuthScheme::EcsProject;
    const IDEMPOTENT: bool = true;

    fn to_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        let path = ImsRoute::ShowImage {
            image_id: self.image_id.clone(),
        }
        .path();
        get(Self::NAME, endpoint, &path)
    }

    fn to_redacted_request(&self, endpoint: &Endpoint) -> Result<Request<Bytes>, EncodeError> {
        // No secret in the request: the signature or token is added by the client.
        self.to_request(endpoint)
    }

    /// Reads the image. Its `id` must be the one asked for (an absent id is taken as it).
    fn decode_response(&self, response: Response<Bytes>) -> Result<ImageDetails, ResponseError> {
        let answer = success_json(Self::NAME, response)?;
        let fail = |problem: String| answer.fail(Self::NAME, problem);
        let top = Obj::root(&answer.value).map_err(fail)?;
        if top.is_error_only("id") {
            return Err(answer.refusal());
        }
        if let Some(id) = top.text("id").map_err(fail)?
            && !id.eq_ignore_ascii_case(self.image_id.as_str())
        {
            return Err(fail(format!(
                "id is another image than the one asked for ({})",
                self.image_id
            )));
        }
        let mut image = ImageDetails::new(self.image_id.clone());
        image.name = top.text("name").map_err(fail)?;
        image.status = top.text("status").map_err(fail)?;
        image.os_type = top.text("__os_type").map_err(fail)?;
        image.platform = top.text("__platform").map_err(fail)?;
        image.support_fc_inject = top.text(SUPPORT_FC_INJECT).map_err(fail)?;
        Ok(image)
    }
}

/// The image service's endpoint beside an ECS endpoint: the same URL with its first host label
/// `ecs` changed to `ims` (`https://ecs.eu-de.otc.t-systems.com` gives
/// `https://ims.eu-de.otc.t-systems.com`, as both clouds name them). Any other endpoint (a proxy,
/// a private cloud, the emulator, which serves both) is kept as it is.
///
/// ```
/// use reimage_wire::{Endpoint, ecs::ims_endpoint};
///
/// let ecs = Endpoint::parse("https://ecs.ap-southeast-1.myhuaweicloud.com")?;
/// assert_eq!(ims_endpoint(&ecs).to_string(), "https://ims.ap-southeast-1.myhuaweicloud.com");
/// let local = Endpoint::parse("http://127.0.0.1:8080")?;
/// assert_eq!(ims_endpoint(&local), local);
/// # Ok::<(), reimage_core::ValidationError>(())
/// ```
pub fn ims_endpoint(ecs: &Endpoint) -> Endpoint {
    let text = ecs.to_string();
    text.split_once("://")
        .and_then(|(scheme, rest)| {
            let rest = rest.strip_prefix("ecs.")?;
            Endpoint::parse(&format!("{scheme}://ims.{rest}")).ok()
        })
        .unwrap_or_else(|| ecs.clone())
}
