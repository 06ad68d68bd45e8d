//! A server as ECS shows it (`GET /v1/{project_id}/cloudservers/{server_id}` and the list of
//! servers), as a typed document that serializes itself: no `serde_json::Value` tree in between,
//! which cost four fifths of a server-details request (`docs/benchmarks.md`).
//!
//! Every object's fields are declared in byte order of their names, so the bytes on the wire are
//! the ones a sorted JSON map gives, as before: key order reaches the bytes, and it stays
//! deterministic (the unit test `the_fields_are_in_byte_order` holds every struct to it).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::handler::Ctx;
use crate::state::{Server, World, server_view};
use crate::util::{launch_time, second_time};

/// `{"server": …}`.
#[derive(Debug, Serialize)]
pub(crate) struct ShowServerDoc<'a> {
    pub(crate) server: ServerDoc<'a>,
}

/// `{"count": N, "servers": […]}`.
#[derive(Debug, Serialize)]
pub(crate) struct ListServersDoc<'a> {
    pub(crate) count: usize,
    pub(crate) servers: Vec<ServerDoc<'a>>,
}

/// One server, with the fields of the documented example.
#[derive(Debug, Serialize)]
pub(crate) struct ServerDoc<'a> {
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: &'static str,
    #[serde(rename = "OS-EXT-AZ:availability_zone")]
    availability_zone: String,
    #[serde(rename = "OS-EXT-SRV-ATTR:host")]
    host: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:hostname")]
    hostname: &'a str,
    #[serde(rename = "OS-EXT-SRV-ATTR:hypervisor_hostname")]
    hypervisor_hostname: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:instance_name")]
    instance_name: String,
    #[serde(rename = "OS-EXT-SRV-ATTR:kernel_id")]
    kernel_id: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:launch_index")]
    launch_index: u32,
    #[serde(rename = "OS-EXT-SRV-ATTR:ramdisk_id")]
    ramdisk_id: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:reservation_id")]
    reservation_id: String,
    #[serde(rename = "OS-EXT-SRV-ATTR:root_device_name")]
    root_device_name: &'static str,
    #[serde(rename = "OS-EXT-SRV-ATTR:user_data")]
    user_data: Option<String>,
    #[serde(rename = "OS-EXT-STS:power_state")]
    power_state: u64,
    #[serde(rename = "OS-EXT-STS:task_state")]
    task_state: Option<&'static str>,
    #[serde(rename = "OS-EXT-STS:vm_state")]
    vm_state: &'static str,
    #[serde(rename = "OS-SRV-USG:launched_at")]
    launched_at: String,
    #[serde(rename = "OS-SRV-USG:terminated_at")]
    terminated_at: Option<()>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: &'static str,
    #[serde(rename = "accessIPv6")]
    access_ipv6: &'static str,
    addresses: Addresses<'a>,
    config_drive: &'static str,
    created: String,
    description: &'static str,
    enterprise_project_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<Fault<'a>>,
    flavor: Flavor<'a>,
    #[serde(rename = "hostId")]
    host_id: String,
    host_status: &'static str,
    hypervisor: Option<()>,
    id: &'a str,
    image: ImageRef<'a>,
    key_name: Option<&'a str>,
    locked: bool,
    metadata: Metadata<'a>,
    name: &'a str,
    #[serde(rename = "os-extended-volumes:volumes_attached")]
    volumes_attached: [Volume; 1],
    #[serde(rename = "os:scheduler_hints")]
    scheduler_hints: Empty,
    progress: u64,
    security_groups: [SecurityGroup; 1],
    status: &'static str,
    sys_tags: [SysTag; 1],
    tags: [(); 0],
    tenant_id: &'a str,
    updated: String,
    user_id: &'a str,
}

/// `{VPC_ID: [address, …]}`: one key, the VPC's id.
#[derive(Debug)]
struct Addresses<'a> {
    vpc_id: &'a str,
    list: Vec<Address<'a>>,
}

impl Serialize for Addresses<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.vpc_id, &self.list)?;
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct Address<'a> {
    #[serde(rename = "OS-EXT-IPS-MAC:mac_addr")]
    mac_addr: String,
    #[serde(rename = "OS-EXT-IPS:port_id")]
    port_id: String,
    #[serde(rename = "OS-EXT-IPS:type")]
    kind: &'static str,
    addr: &'a str,
    primary: bool,
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct Fault<'a> {
    code: u32,
    created: String,
    details: &'static str,
    message: &'a str,
}

#[derive(Debug, Serialize)]
struct Flavor<'a> {
    disk: &'static str,
    id: &'a str,
    name: &'a str,
    ram: &'static str,
    vcpus: &'static str,
}

#[derive(Debug, Serialize)]
struct ImageRef<'a> {
    id: &'a str,
}

#[derive(Debug, Serialize)]
struct Metadata<'a> {
    #[serde(rename = "__system__cmkid", skip_serializing_if = "Option::is_none")]
    system_cmkid: Option<&'a str>,
    #[serde(
        rename = "__system__encrypted",
        skip_serializing_if = "Option::is_none"
    )]
    system_encrypted: Option<&'a str>,
    charging_mode: &'static str,
    image_name: &'a str,
    #[serde(rename = "metering.image_id")]
    image_id: &'a str,
    #[serde(rename = "metering.imagetype")]
    imagetype: &'static str,
    #[serde(rename = "metering.resourcespeccode")]
    resourcespeccode: &'a str,
    #[serde(rename = "metering.resourcetype")]
    resourcetype: &'static str,
    os_bit: &'static str,
    os_type: &'a str,
    vpc_id: &'a str,
}

#[derive(Debug, Serialize)]
struct Volume {
    #[serde(rename = "bootIndex")]
    boot_index: &'static str,
    delete_on_termination: &'static str,
    device: &'static str,
    id: String,
}

#[derive(Debug, Serialize)]
struct SecurityGroup {
    id: String,
    name: &'static str,
}

#[derive(Debug, Serialize)]
struct SysTag {
    key: &'static str,
    value: &'static str,
}

/// `{}`.
#[derive(Debug, Serialize)]
struct Empty {}

/// The document of `server` as ECS shows it at `ctx.now`.
pub(crate) fn server_doc<'a>(world: &'a World, server: &'a Server, ctx: &Ctx<'_>) -> ServerDoc<'a> {
    let f = &server.fixture;
    let id = f.id.as_str();
    let view = server_view(server, &world.jobs, ctx.now);
    let ecs = &world.fixtures.ecs;
    let image = world.fixtures.image(server.image.as_str());
    let tail = id.get(9..).unwrap_or_default();
    let compact: String = id.chars().filter(|c| *c != '-').collect();
    let mac = format!(
        "fa:16:3e:{}:{}:{}",
        compact.get(26..28).unwrap_or("00"),
        compact.get(28..30).unwrap_or("00"),
        compact.get(30..32).unwrap_or("00")
    );
    let mut addresses = Vec::new();
    if let Some(ip) = &f.private_ip {
        addresses.push(Address {
            mac_addr: mac.clone(),
            port_id: format!("0a0b0c0d-{tail}"),
            kind: "fixed",
            addr: ip,
            primary: true,
            version: "4",
        });
    }
    // A server with a real SSH endpoint is reached on loopback, never on its fixture address.
    let loopback = world.ssh.iter().any(|e| e.server_id == id);
    let public = if loopback {
        Some(crate::sshd::LOOPBACK)
    } else {
        f.public_ip.as_deref()
    };
    if let Some(ip) = public {
        addresses.push(Address {
            mac_addr: mac,
            port_id: format!("0a0b0c0d-{tail}"),
            kind: "floating",
            addr: ip,
            primary: false,
            version: "4",
        });
    }
    let owner = world
        .fixtures
        .iam
        .users
        .first()
        .map(|u| u.id.as_str())
        .unwrap_or_default();
    // The SDK's ServerFault: why a server is in ERROR.
    let fault = match &server.fault {
        Some((reason, at)) if view.status == "ERROR" => Some(Fault {
            code: 500,
            created: second_time(*at),
            details: "The reinstallation or OS change of the ECS failed.",
            message: reason,
        }),
        _ => None,
    };
    ServerDoc {
        disk_config: "MANUAL",
        availability_zone: format!("{}-01", ecs.project_name),
        host: "emulator.az1",
        hostname: &f.name,
        hypervisor_hostname: "emulator",
        instance_name: format!("instance-{}", compact.get(..8).unwrap_or_default()),
        kernel_id: "",
        launch_index: 0,
        ramdisk_id: "",
        reservation_id: format!("r-{}", compact.get(..8).unwrap_or_default()),
        root_device_name: "/dev/vda",
        user_data: server.user_data.as_ref().map(|d| STANDARD.encode(d)),
        power_state: view.power_state,
        task_state: view.task_state,
        vm_state: view.vm_state,
        launched_at: launch_time(server.launched_at),
        terminated_at: None,
        access_ipv4: "",
        access_ipv6: "",
        addresses: Addresses {
            vpc_id: &ecs.vpc_id,
            list: addresses,
        },
        config_drive: "",
        created: second_time(f.created.to_offset_date_time()),
        description: "",
        enterprise_project_id: "0",
        fault,
        flavor: Flavor {
            disk: "0",
            id: &f.flavor,
            name: &f.flavor,
            ram: "4096",
            vcpus: "2",
        },
        host_id: format!("{compact}{compact}")
            .get(..56)
            .unwrap_or_default()
            .to_owned(),
        host_status: "UP",
        hypervisor: None,
        id,
        image: ImageRef {
            id: server.image.as_str(),
        },
        key_name: server.key_name.as_deref(),
        locked: server.locked,
        metadata: Metadata {
            // The new system disk's encryption, as the reinstall or change of OS asked for it.
            system_cmkid: server.system_cmkid.as_deref(),
            system_encrypted: server.system_encrypted.as_deref(),
            charging_mode: if f.prepaid { "1" } else { "0" },
            image_name: image.map(|i| i.name.as_str()).unwrap_or_default(),
            image_id: server.image.as_str(),
            imagetype: "gold",
            resourcespeccode: &f.flavor,
            resourcetype: "1",
            os_bit: "64",
            os_type: image.map(|i| i.os_type.as_str()).unwrap_or("Linux"),
            vpc_id: &ecs.vpc_id,
        },
        name: &f.name,
        volumes_attached: [Volume {
            boot_index: "0",
            delete_on_termination: "true",
            device: "/dev/vda",
            // A new system disk for each reinstall or change of OS.
            id: format!("0d15{:04x}-{tail}", server.system_disk & 0xffff),
        }],
        scheduler_hints: Empty {},
        progress: view.progress,
        security_groups: [SecurityGroup {
            id: format!("5ec0a000-{tail}"),
            name: "default",
        }],
        status: view.status,
        sys_tags: [SysTag {
            key: "_sys_enterprise_project_id",
            value: "0",
        }],
        tags: [],
        tenant_id: &ecs.project_id,
        updated: second_time(server.updated),
        user_id: owner,
    }
}

#[cfg(test)]
mod tests {
    /// Every struct of this module declares its fields in byte order of their JSON names, so the
    /// documents come out as sorted maps did. Read from this file's own source.
    #[test]
    fn the_fields_are_in_byte_order() {
        let source = include_str!("server_doc.rs");
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        let mut checked = 0;
        for block in code.split("#[derive(Debug, Serialize)]").skip(1) {
            let Some(body) = block.split_once('{').map(|(_, b)| b) else {
                continue;
            };
            if body.starts_with('}') {
                continue; // `struct Empty {}`
            }
            let Some(body) = body.split_once("\n}").map(|(b, _)| b) else {
                continue;
            };
            // Attributes as one line each, however rustfmt wrapped them.
            let mut lines: Vec<String> = Vec::new();
            let mut open: Option<String> = None;
            for line in body.lines().map(str::trim) {
                match open.take() {
                    Some(mut attr) => {
                        attr.push_str(line);
                        if line.ends_with(']') {
                            lines.push(attr);
                        } else {
                            open = Some(attr);
                        }
                    }
                    None if line.starts_with("#[") && !line.ends_with(']') => {
                        open = Some(line.to_owned());
                    }
                    None => lines.push(line.to_owned()),
                }
            }
            let mut names = Vec::new();
            let mut rename: Option<String> = None;
            for line in &lines {
                if line.starts_with("#[") {
                    if let Some((_, rest)) = line.split_once("rename = \"") {
                        rename = rest.split('"').next().map(str::to_owned);
                    }
                    continue;
                }
                if line.starts_with("//") || line.is_empty() {
                    continue;
                }
                if let Some((field, _)) = line.split_once(':') {
                    let name = rename.take().unwrap_or_else(|| field.to_owned());
                    names.push(name);
                }
            }
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "fields out of byte order in:{body}");
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} structs checked");
    }
}
