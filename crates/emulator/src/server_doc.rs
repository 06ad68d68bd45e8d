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

use time::OffsetDateTime;

use crate::state::{Server, World, server_view};
use crate::util::{launch_time, push_u64, second_time};

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

/// The document of `server` as ECS shows it at `now`.
pub(crate) fn server_doc<'a>(
    world: &'a World,
    server: &'a Server,
    now: OffsetDateTime,
) -> ServerDoc<'a> {
    let f = &server.fixture;
    let id = f.id.as_str();
    let view = server_view(server, &world.jobs, now);
    let ecs = &world.fixtures.ecs;
    let image = world.fixtures.image(server.image.as_str());
    let tail = id.get(9..).unwrap_or_default();
    let mut compact = String::with_capacity(id.len());
    id.split('-').for_each(|part| compact.push_str(part));
    let mac = concat(&[
        "fa:16:3e:",
        compact.get(26..28).unwrap_or("00"),
        ":",
        compact.get(28..30).unwrap_or("00"),
        ":",
        compact.get(30..32).unwrap_or("00"),
    ]);
    let mut addresses = Vec::new();
    if let Some(ip) = &f.private_ip {
        addresses.push(Address {
            mac_addr: mac.clone(),
            port_id: concat(&["0a0b0c0d-", tail]),
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
            port_id: concat(&["0a0b0c0d-", tail]),
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
        availability_zone: concat(&[&ecs.project_name, "-01"]),
        host: "emulator.az1",
        hostname: &f.name,
        hypervisor_hostname: "emulator",
        instance_name: concat(&["instance-", compact.get(..8).unwrap_or_default()]),
        kernel_id: "",
        launch_index: 0,
        ramdisk_id: "",
        reservation_id: concat(&["r-", compact.get(..8).unwrap_or_default()]),
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
        host_id: concat(&[&compact, &compact])
            .get(..56)
            .map(str::to_owned)
            .unwrap_or_default(),
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
            id: {
                let disk = hex4(server.system_disk & 0xffff);
                concat(&[
                    "0d15",
                    std::str::from_utf8(&disk).unwrap_or_default(),
                    "-",
                    tail,
                ])
            },
        }],
        scheduler_hints: Empty {},
        progress: view.progress,
        security_groups: [SecurityGroup {
            id: concat(&["5ec0a000-", tail]),
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

// ---------------------------------------------------------------------------------------------
// The documents as bytes, written by hand: the server details are the emulator's second hottest
// call, and `serde_json` spent most of it checking the field names for escapes. Same bytes as
// `serde_json::to_vec` of the same document (the test `hand_written_documents_are_serde_json`).
// ---------------------------------------------------------------------------------------------

impl ShowServerDoc<'_> {
    /// The answer's bytes.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"server\":");
        self.server.write_json(&mut out);
        out.push(b'}');
        out
    }
}

impl ListServersDoc<'_> {
    /// The answer's bytes.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 3072 * self.servers.len());
        out.extend_from_slice(b"{\"count\":");
        push_u64(&mut out, self.count as u64);
        out.extend_from_slice(b",\"servers\":[");
        for (i, server) in self.servers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            server.write_json(&mut out);
        }
        out.extend_from_slice(b"]}");
        out
    }
}

fn push_bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

impl ServerDoc<'_> {
    /// Appends the server's object.
    fn write_json(&self, out: &mut Vec<u8>) {
        use crate::util::{push_json_name, push_json_opt, push_json_str};
        // A text from the fixtures or the world, checked for what needs escaping.
        let s = |out: &mut Vec<u8>, key: &[u8], value: &str| {
            out.extend_from_slice(key);
            push_json_str(out, value);
        };
        // One of the emulator's own constant texts, which need no escaping (the test below holds
        // every document to `serde_json`'s bytes).
        fn n(out: &mut Vec<u8>, key: &[u8], value: &'static str) {
            out.extend_from_slice(key);
            push_json_name(out, value);
        }
        n(out, b"{\"OS-DCF:diskConfig\":", self.disk_config);
        s(
            out,
            b",\"OS-EXT-AZ:availability_zone\":",
            &self.availability_zone,
        );
        n(out, b",\"OS-EXT-SRV-ATTR:host\":", self.host);
        s(out, b",\"OS-EXT-SRV-ATTR:hostname\":", self.hostname);
        n(
            out,
            b",\"OS-EXT-SRV-ATTR:hypervisor_hostname\":",
            self.hypervisor_hostname,
        );
        s(
            out,
            b",\"OS-EXT-SRV-ATTR:instance_name\":",
            &self.instance_name,
        );
        n(out, b",\"OS-EXT-SRV-ATTR:kernel_id\":", self.kernel_id);
        out.extend_from_slice(b",\"OS-EXT-SRV-ATTR:launch_index\":");
        push_u64(out, u64::from(self.launch_index));
        n(out, b",\"OS-EXT-SRV-ATTR:ramdisk_id\":", self.ramdisk_id);
        s(
            out,
            b",\"OS-EXT-SRV-ATTR:reservation_id\":",
            &self.reservation_id,
        );
        n(
            out,
            b",\"OS-EXT-SRV-ATTR:root_device_name\":",
            self.root_device_name,
        );
        out.extend_from_slice(b",\"OS-EXT-SRV-ATTR:user_data\":");
        push_json_opt(out, self.user_data.as_deref());
        out.extend_from_slice(b",\"OS-EXT-STS:power_state\":");
        push_u64(out, self.power_state);
        out.extend_from_slice(b",\"OS-EXT-STS:task_state\":");
        push_json_opt(out, self.task_state);
        n(out, b",\"OS-EXT-STS:vm_state\":", self.vm_state);
        s(out, b",\"OS-SRV-USG:launched_at\":", &self.launched_at);
        // `Option<()>` shows as `null` either way.
        let _: Option<()> = self.terminated_at;
        out.extend_from_slice(b",\"OS-SRV-USG:terminated_at\":null");
        n(out, b",\"accessIPv4\":", self.access_ipv4);
        n(out, b",\"accessIPv6\":", self.access_ipv6);
        out.extend_from_slice(b",\"addresses\":{");
        push_json_str(out, self.addresses.vpc_id);
        out.extend_from_slice(b":[");
        for (i, a) in self.addresses.list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            s(out, b"{\"OS-EXT-IPS-MAC:mac_addr\":", &a.mac_addr);
            s(out, b",\"OS-EXT-IPS:port_id\":", &a.port_id);
            n(out, b",\"OS-EXT-IPS:type\":", a.kind);
            s(out, b",\"addr\":", a.addr);
            out.extend_from_slice(b",\"primary\":");
            push_bool(out, a.primary);
            n(out, b",\"version\":", a.version);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        n(out, b",\"config_drive\":", self.config_drive);
        s(out, b",\"created\":", &self.created);
        n(out, b",\"description\":", self.description);
        n(
            out,
            b",\"enterprise_project_id\":",
            self.enterprise_project_id,
        );
        if let Some(fault) = &self.fault {
            out.extend_from_slice(b",\"fault\":{\"code\":");
            push_u64(out, u64::from(fault.code));
            s(out, b",\"created\":", &fault.created);
            n(out, b",\"details\":", fault.details);
            s(out, b",\"message\":", fault.message);
            out.push(b'}');
        }
        n(out, b",\"flavor\":{\"disk\":", self.flavor.disk);
        s(out, b",\"id\":", self.flavor.id);
        s(out, b",\"name\":", self.flavor.name);
        n(out, b",\"ram\":", self.flavor.ram);
        n(out, b",\"vcpus\":", self.flavor.vcpus);
        out.push(b'}');
        s(out, b",\"hostId\":", &self.host_id);
        n(out, b",\"host_status\":", self.host_status);
        let _: Option<()> = self.hypervisor;
        out.extend_from_slice(b",\"hypervisor\":null");
        s(out, b",\"id\":", self.id);
        s(out, b",\"image\":{\"id\":", self.image.id);
        out.extend_from_slice(b"},\"key_name\":");
        push_json_opt(out, self.key_name);
        out.extend_from_slice(b",\"locked\":");
        push_bool(out, self.locked);
        out.extend_from_slice(b",\"metadata\":{");
        let m = &self.metadata;
        if let Some(cmkid) = m.system_cmkid {
            s(out, b"\"__system__cmkid\":", cmkid);
            out.push(b',');
        }
        if let Some(encrypted) = m.system_encrypted {
            s(out, b"\"__system__encrypted\":", encrypted);
            out.push(b',');
        }
        n(out, b"\"charging_mode\":", m.charging_mode);
        s(out, b",\"image_name\":", m.image_name);
        s(out, b",\"metering.image_id\":", m.image_id);
        n(out, b",\"metering.imagetype\":", m.imagetype);
        s(out, b",\"metering.resourcespeccode\":", m.resourcespeccode);
        n(out, b",\"metering.resourcetype\":", m.resourcetype);
        n(out, b",\"os_bit\":", m.os_bit);
        s(out, b",\"os_type\":", m.os_type);
        s(out, b",\"vpc_id\":", m.vpc_id);
        out.push(b'}');
        s(out, b",\"name\":", self.name);
        let [volume] = &self.volumes_attached;
        n(
            out,
            b",\"os-extended-volumes:volumes_attached\":[{\"bootIndex\":",
            volume.boot_index,
        );
        n(
            out,
            b",\"delete_on_termination\":",
            volume.delete_on_termination,
        );
        n(out, b",\"device\":", volume.device);
        s(out, b",\"id\":", &volume.id);
        let Empty {} = self.scheduler_hints;
        out.extend_from_slice(b"}],\"os:scheduler_hints\":{},\"progress\":");
        push_u64(out, self.progress);
        let [group] = &self.security_groups;
        s(out, b",\"security_groups\":[{\"id\":", &group.id);
        n(out, b",\"name\":", group.name);
        n(out, b"}],\"status\":", self.status);
        let [tag] = &self.sys_tags;
        n(out, b",\"sys_tags\":[{\"key\":", tag.key);
        n(out, b",\"value\":", tag.value);
        let [] = self.tags;
        out.extend_from_slice(b"}],\"tags\":[]");
        s(out, b",\"tenant_id\":", self.tenant_id);
        s(out, b",\"updated\":", &self.updated);
        s(out, b",\"user_id\":", self.user_id);
        out.push(b'}');
    }
}

/// The texts `parts`, one after the other, in one allocation.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    parts.iter().for_each(|p| out.push_str(p));
    out
}

/// `{:04x}` of `n` (at most `0xffff`).
fn hex4(n: u32) -> [u8; 4] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Each shift leaves a nibble: always below 16.
    [12, 8, 4, 0].map(|shift| DIGITS[((n >> shift) & 0xf) as usize])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Config;

    /// The hand-written bytes are `serde_json`'s of the same documents, for servers in every
    /// shape a document takes: with and without addresses, user data, a fault, disk encryption,
    /// a key pair; locked, running or not; texts that need escaping; one server or many.
    #[test]
    fn hand_written_documents_are_serde_json() {
        let config = Config::default();
        let mut world = World::new(&config);
        let now = config.clock.now().to_offset_date_time();
        let check = |world: &World| {
            for server in &world.servers {
                let doc = ShowServerDoc {
                    server: server_doc(world, server, now),
                };
                let fast = doc.to_json();
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    serde_json::to_string(&doc).unwrap()
                );
            }
            let servers: Vec<ServerDoc<'_>> = world
                .servers
                .iter()
                .map(|s| server_doc(world, s, now))
                .collect();
            let list = ListServersDoc {
                count: servers.len(),
                servers,
            };
            assert_eq!(
                String::from_utf8(list.to_json()).unwrap(),
                serde_json::to_string(&list).unwrap()
            );
        };
        check(&world);
        for (i, server) in world.servers.iter_mut().enumerate() {
            server.user_data = Some(b"#cloud-config\n".to_vec());
            server.failed_os_job = i % 2 == 0;
            server.fault = Some(("disk \"full\"\n\u{1}".to_owned(), now));
            server.system_encrypted = Some("1".to_owned());
            server.system_cmkid = (i % 2 == 1).then(|| "cmk-\\id".to_owned());
            server.key_name = None;
            server.locked = !server.locked;
            server.running = !server.running;
            server.system_disk = 0x1_2345 + i as u32;
            server.fixture.name = format!("n\u{e9}\t\"{i}\"");
            server.fixture.private_ip = None;
            server.fixture.public_ip = (i % 2 == 0).then(|| "203.0.113.9".to_owned());
        }
        check(&world);
        world.servers.truncate(1);
        check(&world);
        world.servers.clear();
        check(&world);
    }

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
