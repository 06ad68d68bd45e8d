//! Server details (`GET /v1/{project_id}/cloudservers/{server_id}`): statuses, addresses, and a
//! field-by-field reader that leaves what it cannot read empty.

#[allow(clippy::wildcard_imports)]
use super::*;

/// An ECS server status (`server.status`), as the ECS statuses page lists them.
///
/// ```
/// use reimage_wire::ecs::ServerStatus;
///
/// assert_eq!(ServerStatus::from_wire("SHUTOFF"), ServerStatus::Shutoff);
/// assert_eq!(ServerStatus::from_wire("HIBERNATED").as_str(), "HIBERNATED");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerStatus {
    /// `ACTIVE`: running.
    Active,
    /// `BUILD`: created, not yet running.
    Build,
    /// `REBOOT`: restarting.
    Reboot,
    /// `HARD_REBOOT`: restarting forcibly.
    HardReboot,
    /// `REBUILD`: being rebuilt (reinstall and change of OS show this).
    Rebuild,
    /// `MIGRATING`: being live-migrated.
    Migrating,
    /// `RESIZE`: being resized.
    Resize,
    /// `VERIFY_RESIZE`: a resize waits to be confirmed.
    VerifyResize,
    /// `REVERT_RESIZE`: a resize is being rolled back.
    RevertResize,
    /// `SHUTOFF`: stopped.
    Shutoff,
    /// `ERROR`: an error occurred.
    Error,
    /// `DELETED`: deleted.
    Deleted,
    /// `SHELVED`: shelved (booted from an image).
    Shelved,
    /// `SHELVED_OFFLOADED`: shelved (booted from a volume).
    ShelvedOffloaded,
    /// Any other status, including the documented `UNKNOWN`, as ECS wrote it.
    Unknown(String),
}

impl ServerStatus {
    /// The status as ECS writes it.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "ACTIVE" => Self::Active,
            "BUILD" => Self::Build,
            "REBOOT" => Self::Reboot,
            "HARD_REBOOT" => Self::HardReboot,
            "REBUILD" => Self::Rebuild,
            "MIGRATING" => Self::Migrating,
            "RESIZE" => Self::Resize,
            "VERIFY_RESIZE" => Self::VerifyResize,
            "REVERT_RESIZE" => Self::RevertResize,
            "SHUTOFF" => Self::Shutoff,
            "ERROR" => Self::Error,
            "DELETED" => Self::Deleted,
            "SHELVED" => Self::Shelved,
            "SHELVED_OFFLOADED" => Self::ShelvedOffloaded,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The status as ECS writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "ACTIVE",
            Self::Build => "BUILD",
            Self::Reboot => "REBOOT",
            Self::HardReboot => "HARD_REBOOT",
            Self::Rebuild => "REBUILD",
            Self::Migrating => "MIGRATING",
            Self::Resize => "RESIZE",
            Self::VerifyResize => "VERIFY_RESIZE",
            Self::RevertResize => "REVERT_RESIZE",
            Self::Shutoff => "SHUTOFF",
            Self::Error => "ERROR",
            Self::Deleted => "DELETED",
            Self::Shelved => "SHELVED",
            Self::ShelvedOffloaded => "SHELVED_OFFLOADED",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `OS-EXT-STS:power_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PowerState {
    /// `0`: no state.
    NoState,
    /// `1`: running.
    Running,
    /// `4`: shut down.
    Shutdown,
    /// Any other value.
    Other(u64),
}

impl PowerState {
    /// The state for ECS's number.
    pub fn from_code(code: u64) -> Self {
        match code {
            0 => Self::NoState,
            1 => Self::Running,
            4 => Self::Shutdown,
            other => Self::Other(other),
        }
    }

    /// ECS's number for the state.
    pub fn code(self) -> u64 {
        match self {
            Self::NoState => 0,
            Self::Running => 1,
            Self::Shutdown => 4,
            Self::Other(code) => code,
        }
    }
}

/// One address of a server, from `server.addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerAddress {
    /// `addr`: the IP address.
    pub addr: String,
    /// `version`: 4 or 6.
    pub version: Option<u8>,
    /// `OS-EXT-IPS:type`: `fixed` (private) or `floating`.
    pub kind: Option<String>,
    /// `OS-EXT-IPS-MAC:mac_addr`.
    pub mac: Option<String>,
    /// `OS-EXT-IPS:port_id`.
    pub port_id: Option<String>,
    /// `primary`: whether it is the primary address.
    pub primary: Option<bool>,
}

impl ServerAddress {
    /// An address with only `addr` set.
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            version: None,
            kind: None,
            mac: None,
            port_id: None,
            primary: None,
        }
    }
}

/// A server, as `GET /v1/{project_id}/cloudservers/{server_id}` shows it.
///
/// Everything but the id is optional. A field that is present but cannot be read (a time that is
/// not a time, an object where a string was expected, user data that is not base64) is left
/// empty and its wire name listed in [`unreadable`](Self::unreadable). `Debug` shows the length
/// of the user data, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerDetails {
    /// `id`.
    pub id: ServerId,
    /// `name`.
    pub name: Option<String>,
    /// `status`.
    pub status: Option<ServerStatus>,
    /// `OS-EXT-STS:task_state`: the operation under way (`rebuilding`, `powering-off`, …), if any.
    pub task_state: Option<String>,
    /// `OS-EXT-STS:vm_state`: `active`, `stopped`, `error`, …
    pub vm_state: Option<String>,
    /// `OS-EXT-STS:power_state`.
    pub power_state: Option<PowerState>,
    /// `image.id`: the image the system disk came from. Empty for a server booted from a volume
    /// (`"image": ""`); an id that is not a UUID is listed in [`unreadable`](Self::unreadable) as
    /// `image.id`.
    pub image_id: Option<ImageId>,
    /// `flavor.id`.
    pub flavor_id: Option<String>,
    /// `key_name`.
    pub key_name: Option<String>,
    /// `locked`.
    pub locked: Option<bool>,
    /// `progress`, 0 to 100.
    pub progress: Option<u64>,
    /// `created`.
    pub created: Option<Timestamp>,
    /// `updated`.
    pub updated: Option<Timestamp>,
    /// `OS-SRV-USG:launched_at` (written without a zone; UTC).
    pub launched_at: Option<Timestamp>,
    /// `OS-EXT-SRV-ATTR:user_data`, base64-decoded.
    pub user_data: Option<UserData>,
    /// `addresses`: network name (or id) → its addresses.
    pub addresses: BTreeMap<String, Vec<ServerAddress>>,
    /// `metadata`, the entries whose values are strings.
    pub metadata: BTreeMap<String, String>,
    /// The id of the system disk: the volume of `os-extended-volumes:volumes_attached` at
    /// `bootIndex` 0. A reinstall or change of OS attaches a new one, so a new id is evidence
    /// of a rebuild even where `updated` and `launched_at` do not move.
    pub system_disk: Option<String>,
    /// The wire names of fields that were present but could not be read.
    pub unreadable: Vec<String>,
}

impl ServerDetails {
    /// Whether a reinstall or change of OS is running on the server: `status` `REBUILD`, or a
    /// task state of the rebuild (`rebuilding`, `rebuild_block_device_mapping`,
    /// `rebuild_spawning`). A `withStopServer` job first shows `ACTIVE`/`powering-off` and then
    /// `SHUTOFF`, which this does not tell apart from a plain stop.
    ///
    /// ```
    /// use reimage_core::ServerId;
    /// use reimage_wire::ecs::{ServerDetails, ServerStatus};
    ///
    /// let id = ServerId::new("11111111-2222-3333-4444-555555555555").unwrap();
    /// let mut server = ServerDetails::new(id);
    /// assert!(!server.is_rebuilding());
    /// server.task_state = Some("rebuild_spawning".to_owned());
    /// assert!(server.is_rebuilding());
    /// server.task_state = None;
    /// server.status = Some(ServerStatus::Rebuild);
    /// assert!(server.is_rebuilding());
    /// ```
    pub fn is_rebuilding(&self) -> bool {
        self.status == Some(ServerStatus::Rebuild)
            || self.task_state.as_deref().is_some_and(|t| {
                t.get(..7)
                    .is_some_and(|head| head.eq_ignore_ascii_case("rebuild"))
            })
    }

    /// Details with only the id; the rest is empty.
    pub fn new(id: ServerId) -> Self {
        Self {
            id,
            name: None,
            status: None,
            task_state: None,
            vm_state: None,
            power_state: None,
            image_id: None,
            flavor_id: None,
            key_name: None,
            locked: None,
            progress: None,
            created: None,
            updated: None,
            launched_at: None,
            system_disk: None,
            user_data: None,
            addresses: BTreeMap::new(),
            metadata: BTreeMap::new(),
            unreadable: Vec::new(),
        }
    }
}

pub(super) fn read_server(server: &Obj<'_>) -> Result<ServerDetails, String> {
    let id = server
        .text("id")?
        .ok_or_else(|| "server.id is missing".to_owned())?;
    let id = ServerId::new(id.as_str()).map_err(|_| {
        format!(
            "server.id is not a server id ({} characters); expected a UUID",
            id.chars().count()
        )
    })?;
    let mut d = ServerDetails::new(id);
    let mut bad = Vec::new();
    // Keeps a readable value; names the field of an unreadable one.
    fn keep<T>(bad: &mut Vec<String>, field: &str, value: Result<Option<T>, String>) -> Option<T> {
        value.unwrap_or_else(|_| {
            bad.push(field.to_owned());
            None
        })
    }
    d.name = keep(&mut bad, "name", server.text("name"));
    d.status = keep(&mut bad, "status", server.text("status")).map(|s| ServerStatus::from_wire(&s));
    d.task_state = keep(
        &mut bad,
        "OS-EXT-STS:task_state",
        server.text("OS-EXT-STS:task_state"),
    );
    d.vm_state = keep(
        &mut bad,
        "OS-EXT-STS:vm_state",
        server.text("OS-EXT-STS:vm_state"),
    );
    d.power_state = keep(
        &mut bad,
        "OS-EXT-STS:power_state",
        server.uint("OS-EXT-STS:power_state"),
    )
    .map(PowerState::from_code);
    // `image` is an object, or an empty string for a server booted from a volume.
    d.image_id = match server.get("image") {
        None | Some(Value::String(_)) => None,
        Some(_) => {
            let id = server
                .object("image")
                .and_then(|image| image.map_or(Ok(None), |image| image.text("id")));
            match keep(&mut bad, "image", id).filter(|id| !id.is_empty()) {
                None => None,
                Some(id) => ImageId::new(id).ok().or_else(|| {
                    bad.push("image.id".to_owned());
                    None
                }),
            }
        }
    };
    let flavor_id = server
        .object("flavor")
        .and_then(|flavor| flavor.map_or(Ok(None), |flavor| flavor.text("id")));
    d.flavor_id = keep(&mut bad, "flavor", flavor_id);
    d.key_name = keep(&mut bad, "key_name", server.text("key_name"));
    d.locked = keep(&mut bad, "locked", server.boolean("locked"));
    d.progress = keep(&mut bad, "progress", server.uint("progress"));
    d.created = keep(&mut bad, "created", server.time("created"));
    d.updated = keep(&mut bad, "updated", server.time("updated"));
    d.launched_at = keep(
        &mut bad,
        "OS-SRV-USG:launched_at",
        server.time("OS-SRV-USG:launched_at"),
    );
    d.user_data = keep(
        &mut bad,
        "OS-EXT-SRV-ATTR:user_data",
        server
            .text("OS-EXT-SRV-ATTR:user_data")
            .and_then(|text| match text {
                None => Ok(None),
                Some(text) if text.is_empty() => Ok(None),
                Some(text) => {
                    let compact: String =
                        text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                    STANDARD
                        .decode(compact)
                        .map(|bytes| Some(UserData::from(bytes)))
                        .map_err(|_| String::new())
                }
            }),
    );
    match server.object("addresses") {
        Ok(None) => {}
        Ok(Some(networks)) => {
            for (network, entries) in networks.entries() {
                match read_addresses(entries) {
                    Some(list) => {
                        d.addresses.insert(network.clone(), list);
                    }
                    None => bad.push(format!("addresses.{network}")),
                }
            }
        }
        Err(_) => bad.push("addresses".to_owned()),
    }
    match server.object("metadata") {
        Ok(None) => {}
        Ok(Some(metadata)) => {
            for (key, value) in metadata.entries() {
                if let Value::String(s) = value {
                    d.metadata.insert(key.clone(), s.clone());
                }
            }
        }
        Err(_) => bad.push("metadata".to_owned()),
    }
    match server.get("os-extended-volumes:volumes_attached") {
        None | Some(Value::Null) => {}
        Some(Value::Array(volumes)) => d.system_disk = system_disk(volumes),
        Some(_) => bad.push("os-extended-volumes:volumes_attached".to_owned()),
    }
    d.unreadable = bad;
    Ok(d)
}

/// The id of the volume at boot index 0 (`"0"` as the service writes it, or `0`).
fn system_disk(volumes: &[Value]) -> Option<String> {
    volumes.iter().find_map(|volume| {
        let boot_index = volume.get("bootIndex")?;
        let first = boot_index.as_str() == Some("0") || boot_index.as_u64() == Some(0);
        first
            .then(|| volume.get("id")?.as_str().map(str::to_owned))
            .flatten()
    })
}

/// The addresses of one network, or `None` when they are not a list of objects with `addr`.
pub(super) fn read_addresses(entries: &Value) -> Option<Vec<ServerAddress>> {
    let mut list = Vec::new();
    for entry in entries.as_array()? {
        let entry = Obj::new(entry.as_object()?, String::new());
        let mut address = ServerAddress::new(entry.text("addr").ok()??);
        address.version = entry
            .uint("version")
            .ok()?
            .and_then(|v| u8::try_from(v).ok());
        address.kind = entry.text("OS-EXT-IPS:type").ok()?;
        address.mac = entry.text("OS-EXT-IPS-MAC:mac_addr").ok()?;
        address.port_id = entry.text("OS-EXT-IPS:port_id").ok()?;
        address.primary = entry.boolean("primary").ok()?;
        list.push(address);
    }
    Some(list)
}
