//! `reimage edis`: images, reinstall, power, status and the mounted ISO of EDIS Global KVMs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use reimage_client::auth::edis::EdisCredentials;
use reimage_client::wire::edis::{KvmDetails, PowerState, Reinstall};
use reimage_client::wire::{Endpoint, Operation};
use reimage_client::{EdisClient, EdisStarted, PollSchedule};
use reimage_config::{Flags, Resolved};
use reimage_core::{EdisImage, EdisReinstall, KvmId, RootPassword};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::common::{self, Behaviour, Connection, Failure, Output, Progress, WaitFor, exit};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Connection,

    /// Where sessions are created: `https://session.edisglobal.com/kvm/v2/get/auth` (the
    /// default), or a base such as the emulator's `http://127.0.0.1:8080` (else `EDIS_AUTH_URL`
    /// or the profile's `edis_auth_url`).
    #[arg(long = "auth-url", global = true, value_name = "URL")]
    auth_url: Option<String>,

    /// Read the EDIS account password from this file (`-`: stdin) instead of `EDIS_PASSWORD`.
    /// The account's email comes from `EDIS_EMAIL` or the profile.
    #[arg(long = "password-file", global = true, value_name = "FILE")]
    password_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the account's KVMs: id, host name, power state.
    Kvms {
        /// `text`: one line per KVM; `json`: a list.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// List the images a KVM can be reinstalled with. Only `cloudinit_*` images run cloud-init.
    Images {
        /// The KVM: its id (`kvm_<digits>_<digits>`), or its exact host name.
        #[arg(long, value_name = "ID|NAME")]
        kvm: String,
        /// `text` or `json`.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Reinstall a KVM with an image. Destroys its data.
    Reinstall(ReinstallArgs),
    /// Follow an install started earlier (by reimage or anything else) until the KVM runs its
    /// new system: the KVM is off while it installs and on when it is done. A KVM that is on
    /// already has finished (the power state cannot tell an install that never began).
    Wait {
        /// The KVM: its id, or its exact host name.
        #[arg(long, value_name = "ID|NAME")]
        kvm: String,
        #[command(flatten)]
        behaviour: Behaviour,
    },
    /// Show the power state, or switch it with `on`, `off` or `reset` (a hard reset, as a power
    /// cut would do; it is never sent twice).
    Power {
        /// The KVM: its id, or its exact host name.
        #[arg(long, value_name = "ID|NAME")]
        kvm: String,
        /// `on`, `off` or `reset`; without it, the state is shown.
        #[arg(value_enum, value_name = "STATE")]
        state: Option<Switch>,
        /// `text` or `json`.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Show a KVM's power state, host name, hardware and addresses.
    Status {
        /// The KVM: its id, or its exact host name.
        #[arg(long, value_name = "ID|NAME")]
        kvm: String,
        /// `text` or `json`.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Show which ISO is mounted on a KVM, if any.
    Mount {
        /// The KVM: its id, or its exact host name.
        #[arg(long, value_name = "ID|NAME")]
        kvm: String,
        /// `text` or `json`.
        #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    /// Power on.
    On,
    /// Power off.
    Off,
    /// Hard reset.
    Reset,
}

#[derive(Debug, clap::Args)]
struct ReinstallArgs {
    /// The KVM: its id (`kvm_<digits>_<digits>`), or its exact host name.
    #[arg(long, value_name = "ID|NAME")]
    kvm: String,

    /// The image, as `reimage edis images` lists it (such as `cloudinit_debian-bookworm`).
    #[arg(long, value_name = "NAME")]
    image: String,

    /// The new system's root password, read from this file (`-`: stdin). Never on the command
    /// line. One trailing newline is removed. EDIS documents no rules, so reimage refuses only
    /// what no reasonable policy accepts: under 8 characters, or a single class of characters.
    #[arg(long = "root-password-file", value_name = "FILE", required = true)]
    root_password_file: PathBuf,

    /// Accept a root password under 8 characters or of a single class of characters.
    #[arg(long = "weak-password")]
    weak_password: bool,

    /// cloud-init user data, checked before it is sent. Only `cloudinit_*` images use it.
    #[arg(long = "user-data", value_name = "FILE")]
    user_data: Option<PathBuf>,

    /// Send user data even if validation finds errors.
    #[arg(long = "no-validate")]
    no_validate: bool,

    /// Answer the confirmation with yes (required without a terminal).
    #[arg(long, short = 'y')]
    yes: bool,

    /// Print the exact request (secrets redacted) and send nothing but the auth call that the
    /// request needs.
    #[arg(long = "dry-run")]
    dry_run: bool,

    /// `inject`: reimage generates the new system's SSH host key (Ed25519) and adds it to the
    /// cloud-config as cloud-init's `ssh_keys`, so that `--wait=ssh` verifies the key the KVM
    /// presents (EDIS has no console to read it from) and writes it to known_hosts. The private
    /// key travels through EDIS's API inside the user data and stays in the instance's user
    /// data. Needs a `cloudinit_*` image and a `#cloud-config` (or no) `--user-data`.
    #[arg(long = "host-keys", value_enum, value_name = "HOW")]
    host_keys: Option<HostKeys>,

    #[command(flatten)]
    behaviour: Behaviour,

    #[command(flatten)]
    after: crate::after::AfterArgs,
}

/// Where the new system's host keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HostKeys {
    /// Generated by reimage and sent in the cloud-config's `ssh_keys`.
    Inject,
}

/// Runs `reimage edis …`.
pub(crate) fn run(args: &Args) -> u8 {
    let name = match &args.command {
        Command::Images { .. } => "edis images",
        Command::Kvms { .. } => "edis kvms",
        Command::Reinstall(_) => "edis reinstall",
        Command::Wait { .. } => "edis wait",
        Command::Power { .. } => "edis power",
        Command::Status { .. } => "edis status",
        Command::Mount { .. } => "edis mount",
    };
    let output = match &args.command {
        Command::Kvms { output }
        | Command::Images { output, .. }
        | Command::Power { output, .. }
        | Command::Status { output, .. }
        | Command::Mount { output, .. } => *output,
        Command::Reinstall(r) => r.behaviour.output,
        Command::Wait { behaviour, .. } => behaviour.output,
    };
    match common::block_on(dispatch(args)) {
        Ok(()) => exit::OK,
        Err(failure) => failure.for_edis().report(name, output),
    }
}

fn client(args: &Args, resolved: &Resolved) -> Result<EdisClient, Failure> {
    let transport = args.conn.transport(resolved.edis.ca_file.as_ref())?;
    client_on(transport, resolved)
}

/// The client of `resolved`'s settings on `transport` (a fleet shares one).
pub(crate) fn client_on(
    transport: reimage_client::Transport,
    resolved: &Resolved,
) -> Result<EdisClient, Failure> {
    let (email, password) = resolved.edis_credentials()?;
    let credentials = EdisCredentials::new(email, password.clone())?;
    let endpoint = Endpoint::parse(&resolved.edis.auth_base)?;
    Ok(EdisClient::new(transport, credentials).with_auth_endpoint(endpoint)?)
}

async fn dispatch(args: &Args) -> Result<(), Failure> {
    let mut flags = Flags::default();
    flags.edis_auth_url.clone_from(&args.auth_url);
    flags.edis_password_file.clone_from(&args.password_file);
    let wait = match &args.command {
        Command::Reinstall(r) => r.behaviour.wait,
        Command::Wait { behaviour, .. } => behaviour.wait,
        _ => None,
    };
    if wait == Some(WaitFor::CloudInit) {
        // Refused before anything is sent.
        return Err(Failure::usage(
            "--wait=cloud-init is for ECS only so far: EDIS has no console to read cloud-init's \
             verdict from",
        )
        .hint("use --wait=ssh (the SSH port answers) or --wait=job"));
    }
    let resolved = args.conn.resolve(flags)?;
    match &args.command {
        Command::Images { kvm, output } => {
            let client = client(args, &resolved)?;
            let kvm = client.find_kvm(kvm).await?;
            let list = client.images(&kvm).await?;
            match output {
                Output::Json => common::print_json(&json!({
                    "kvm_id": kvm.as_str(),
                    "images": list.images.iter().map(|i| json!({
                        "name": i.as_str(),
                        "cloud_init": i.runs_cloud_init(),
                    })).collect::<Vec<_>>(),
                    "unusable": list.unusable,
                })),
                Output::Text => {
                    for image in &list.images {
                        let note = if image.runs_cloud_init() {
                            "  (cloud-init)"
                        } else {
                            ""
                        };
                        crate::say(&format!("{image}{note}"));
                    }
                }
            }
            Ok(())
        }
        Command::Kvms { output } => {
            let client = client(args, &resolved)?;
            let mut rows = Vec::new();
            for kvm in client.kvms().await? {
                let details = client.details(&kvm).await?;
                let power = client.power(&kvm).await?;
                rows.push((kvm, details, power.state));
            }
            match output {
                Output::Json => common::print_json(&Value::Array(
                    rows.iter()
                        .map(|(kvm, details, power)| {
                            let mut value = details_json(kvm, details);
                            value["power"] = json!(power.to_string());
                            value
                        })
                        .collect(),
                )),
                Output::Text => {
                    for (kvm, details, power) in &rows {
                        crate::say(&format!("{}, {power}", summary(kvm, details)));
                    }
                }
            }
            Ok(())
        }
        Command::Wait { kvm, behaviour } => {
            let client = client(args, &resolved)?;
            let kvm = client.find_kvm(kvm).await?;
            let started = EdisStarted {
                kvm_id: kvm,
                // Not known: the wait ends when the KVM runs.
                before: PowerState::Other("unknown".to_owned()),
                evidence: None,
            };
            follow_install(
                &client,
                &started,
                behaviour,
                behaviour.wait.unwrap_or(WaitFor::Job),
                None,
                crate::after::KeyCheck::PortOnly,
            )
            .await
        }
        Command::Power { kvm, state, output } => {
            let client = client(args, &resolved)?;
            let kvm = client.find_kvm(kvm).await?;
            match state {
                Some(Switch::On) => client.power_on(&kvm).await?,
                Some(Switch::Off) => client.power_off(&kvm).await?,
                Some(Switch::Reset) => {
                    client.hard_reset(&kvm).await?;
                }
                None => {}
            }
            let power = client.power(&kvm).await?;
            match output {
                Output::Json => common::print_json(&json!({
                    "kvm_id": kvm.as_str(),
                    "power": power.state.to_string(),
                    "traffic_suspended": power.traffic_suspended,
                })),
                Output::Text => crate::say(&format!("KVM {kvm}: {}", power.state)),
            }
            Ok(())
        }
        Command::Status { kvm, output } => {
            let client = client(args, &resolved)?;
            let kvm = client.find_kvm(kvm).await?;
            let power = client.power(&kvm).await?;
            let details = client.details(&kvm).await?;
            match output {
                Output::Json => {
                    let mut value = details_json(&kvm, &details);
                    value["power"] = json!(power.state.to_string());
                    common::print_json(&value);
                }
                Output::Text => {
                    crate::say(&format!("{}, {}", summary(&kvm, &details), power.state))
                }
            }
            Ok(())
        }
        Command::Mount { kvm, output } => {
            let client = client(args, &resolved)?;
            let kvm = client.find_kvm(kvm).await?;
            let mount = client.mount(&kvm).await?;
            match output {
                Output::Json => common::print_json(&json!({
                    "kvm_id": kvm.as_str(),
                    "mounted": mount.is_mounted(),
                    "current_iso": mount.current_iso,
                })),
                Output::Text => match &mount.current_iso {
                    Some(iso) => crate::say(&format!("KVM {kvm}: ISO {iso} is mounted")),
                    None => crate::say(&format!("KVM {kvm}: no ISO is mounted")),
                },
            }
            Ok(())
        }
        Command::Reinstall(r) => reinstall(args, &resolved, r).await,
    }
}

async fn reinstall(args: &Args, resolved: &Resolved, r: &ReinstallArgs) -> Result<(), Failure> {
    let image = EdisImage::new(r.image.as_str())?;
    let secret = reimage_config::read_secret_source(&r.root_password_file, std::io::stdin)?;
    let password = RootPassword::new(secret.expose_secret())?;
    if !r.weak_password {
        password.check_strength().map_err(|e| {
            Failure::usage(format!("--root-password-file: {}", e.problem())).hint(format!(
                "{}; or pass --weak-password if you mean it",
                e.fix()
            ))
        })?;
    }
    let mut input = EdisReinstall::new(image.clone(), password);
    let injected = match r.host_keys {
        Some(HostKeys::Inject) => {
            if !image.runs_cloud_init() {
                return Err(Failure::usage(format!(
                    "--host-keys inject: the image {image} does not run cloud-init (only \
                     cloudinit_* images do), so nothing would install the key"
                ))
                .hint("choose a cloudinit_* image, or leave out --host-keys"));
            }
            let pair = reimage_hostkeys::keys::HostKeyPair::generate(
                &mut reimage_hostkeys::rand_core::OsRng,
                &format!("root@{}", r.kvm),
            )
            .map_err(|e| Failure::new(exit::FAILED, format!("--host-keys inject: {e}")))?;
            crate::note(&format!(
                "--host-keys inject: the new system's host key will be ED25519 {}; its private \
                 key goes to EDIS in the user data and stays in the instance's user data",
                reimage_hostkeys::keys::fingerprint(&pair.public())
            ));
            Some(pair)
        }
        None => None,
    };
    if r.user_data.is_none()
        && let Some(pair) = &injected
    {
        let merged = reimage_hostkeys::inject::add_ssh_keys(None, pair)
            .map_err(|e| Failure::usage(e.to_string()))?;
        input = input.with_user_data(common::check_user_data(
            merged.expose_secret().as_bytes().to_vec(),
            "(the generated cloud-config)",
            common::UserDataCheck {
                target: reimage_core::Provider::Edis,
                provider_login: true,
                no_validate: r.no_validate,
                allow_lockout: false,
            },
            // EDIS does not document the instance id cloud-init sees: nothing is known.
            reimage_cloudinit::jinja::InstanceData::empty(),
        )?);
    }
    if let Some(path) = &r.user_data {
        if !image.runs_cloud_init() {
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "--user-data: the image {image} does not run cloud-init (only cloudinit_* \
                     images do), so the user data would be ignored and the server would boot \
                     without it"
                ),
            )
            .hint("choose a cloudinit_* image (reimage edis images --kvm …), or leave out --user-data"));
        }
        let mut bytes = common::read_user_data(path)?;
        if let Some(pair) = &injected {
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                Failure::usage(format!(
                    "--host-keys inject: --user-data {} is not text, so ssh_keys cannot be added",
                    path.display()
                ))
            })?;
            let merged = reimage_hostkeys::inject::add_ssh_keys(Some(text), pair)
                .map_err(|e| Failure::usage(format!("{e} (--user-data {})", path.display())))?;
            bytes = merged.expose_secret().as_bytes().to_vec();
        }
        // The root password is a way in, for the lockout check.
        input = input.with_user_data(common::check_user_data(
            bytes,
            &path.display().to_string(),
            common::UserDataCheck {
                target: reimage_core::Provider::Edis,
                provider_login: true,
                no_validate: r.no_validate,
                allow_lockout: false,
            },
            // EDIS does not document the instance id cloud-init sees: nothing is known.
            reimage_cloudinit::jinja::InstanceData::empty(),
        )?);
    }
    let client = client(args, resolved)?;
    // The online checks, before anything is shown or asked (reads only): the KVM (by id or host
    // name) and its images.
    let kvm = client.find_kvm(&r.kvm).await?;
    let offered = client.images(&kvm).await?;
    if !offered.contains(&image) {
        return Err(Failure::usage(format!(
            "--image {image}: this KVM does not offer that image"
        ))
        .hint(format!("list them with: reimage edis images --kvm {kvm}")));
    }
    if r.dry_run {
        crate::note(&format!(
            "checked: KVM {kvm} offers {image}; it can be sent"
        ));
        let dry = client.dry_run_reinstall(&kvm, input.clone()).await?;
        common::print_dry_run(r.behaviour.output, &dry, input.user_data());
        return Ok(());
    }
    let details = client.details(&kvm).await?;
    let power = client.power(&kvm).await?;
    crate::note(&format!(
        "about to reinstall {}, {}, with {image}",
        summary(&kvm, &details),
        power.state
    ));
    for line in common::edis_account(resolved) {
        crate::note(&line);
    }
    common::confirm(
        &format!(
            "reinstall KVM {kvm} ({})",
            details.hostname.as_deref().unwrap_or("?")
        ),
        r.yes,
    )?;
    // The keys the KVM presents now, before the reinstall: after it, a different key is the
    // evidence that the new system answers (`--wait=ssh` without `--host-keys inject`).
    let keys_before = match (r.behaviour.wait, &injected) {
        (Some(WaitFor::Ssh), None) => match details.network.ipv4.first() {
            Some(a) => {
                let address = a.split('/').next().unwrap_or(a).to_owned();
                let port = r.after.ssh_port;
                tokio::task::spawn_blocking(move || {
                    reimage_hostkeys::scan::keyscan(&address, port, Duration::from_secs(3))
                        .unwrap_or_default()
                })
                .await
                .unwrap_or_default()
            }
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    let started = client.reinstall(&kvm, input).await.map_err(|e| {
        Failure::from(e)
            .for_edis()
            .next_step(&format!("reimage edis status --kvm {kvm}"))
    })?;
    if let Some(evidence) = &started.evidence {
        crate::note(&format!(
            "the answer was lost, but {evidence}; following it instead of sending again"
        ));
    }
    let Some(wait) = r.behaviour.wait else {
        match r.behaviour.output {
            Output::Json => common::print_json(&json!({
                "operation": Reinstall::NAME,
                "kvm_id": kvm.as_str(),
                "image": image.as_str(),
                "evidence": started.evidence.as_ref().map(ToString::to_string),
                "done": false,
            })),
            Output::Text => crate::say(&format!(
                "reinstall of KVM {kvm} with {image} started (follow it with: reimage edis wait --kvm {kvm})"
            )),
        }
        return Ok(());
    };
    let expected = injected
        .as_ref()
        .map(reimage_hostkeys::keys::HostKeyPair::public);
    let check = match &expected {
        Some(key) => crate::after::KeyCheck::Injected(key, &r.after),
        None => crate::after::KeyCheck::Changed(keys_before, r.after.ssh_port),
    };
    follow_install(&client, &started, &r.behaviour, wait, Some(&image), check).await
}

/// Follows an install to its end (the KVM runs its new system), then prints it; Ctrl-C or a
/// deadline says how to follow it again.
async fn follow_install(
    client: &EdisClient,
    started: &EdisStarted,
    behaviour: &Behaviour,
    wait: WaitFor,
    image: Option<&EdisImage>,
    check: crate::after::KeyCheck<'_>,
) -> Result<(), Failure> {
    let kvm = &started.kvm_id;
    let schedule = PollSchedule {
        deadline: Duration::from_secs(behaviour.deadline),
        ..PollSchedule::default()
    };
    let mut progress = Progress::new(&format!("reinstall of KVM {kvm}"));
    let after = common::interruptible(
        client.wait_reinstalled(started, &schedule, &mut |e| progress.event(e)),
        &format!("reimage edis wait --kvm {kvm}"),
    )
    .await;
    let after = match after {
        Ok(after) => after,
        Err(e) => {
            progress.finish("failed");
            return Err(e);
        }
    };
    progress.end();
    let mut stages = None;
    if wait == WaitFor::Ssh {
        let address = after
            .network
            .ipv4
            .first()
            .map(|a| a.split('/').next().unwrap_or(a).to_owned())
            .ok_or_else(|| {
                Failure::new(exit::FAILED, "the KVM has no IPv4 address to reach SSH on")
            })?;
        match check {
            // The key is known: the one reimage injected must be the one presented.
            crate::after::KeyCheck::Injected(expected, args) => {
                let deadline = std::time::Instant::now() + Duration::from_secs(behaviour.deadline);
                stages = Some((
                    crate::after::injected_stage(&address, expected, args, deadline, kvm.as_str())
                        .await?,
                    address,
                    args.ssh_port,
                ));
            }
            // A key from before: a different one proves a new system answers.
            crate::after::KeyCheck::Changed(before, port) => {
                let deadline = std::time::Instant::now() + Duration::from_secs(behaviour.deadline);
                stages = Some((
                    crate::after::changed_stage(&address, port, &before, deadline, kvm.as_str())
                        .await?,
                    address,
                    port,
                ));
            }
            crate::after::KeyCheck::PortOnly => {
                common::wait_ssh(&address, Duration::from_secs(behaviour.deadline)).await?;
            }
        }
    }
    match behaviour.output {
        Output::Json => {
            let mut value = details_json(kvm, &after);
            if let Some((outcome, address, port)) = &stages {
                value["ssh"] = outcome.to_json(address, *port)["ssh"].clone();
            }
            value["operation"] = json!(Reinstall::NAME);
            value["image"] = json!(image.map(EdisImage::as_str));
            value["evidence"] = json!(started.evidence.as_ref().map(ToString::to_string));
            value["done"] = json!(true);
            common::print_json(&value);
        }
        Output::Text => match image {
            _ if stages.is_some() => {
                if let Some((outcome, _, _)) = &stages {
                    for line in outcome.lines() {
                        crate::say(&line);
                    }
                }
                crate::say(&format!(
                    "reinstall of KVM {kvm} done: {}",
                    summary(kvm, &after)
                ));
            }
            Some(image) => crate::say(&format!(
                "reinstall of KVM {kvm} with {image} done: {}",
                summary(kvm, &after)
            )),
            None => crate::say(&format!(
                "reinstall of KVM {kvm} done: {}",
                summary(kvm, &after)
            )),
        },
    }
    Ok(())
}

fn summary(kvm: &KvmId, d: &KvmDetails) -> String {
    format!(
        "KVM {kvm} ({}): addresses {}",
        d.hostname.as_deref().unwrap_or("?"),
        if d.network.ipv4.is_empty() {
            "none".to_owned()
        } else {
            d.network.ipv4.join(", ")
        }
    )
}

fn details_json(kvm: &KvmId, d: &KvmDetails) -> Value {
    json!({
        "kvm_id": kvm.as_str(),
        "hostname": d.hostname,
        "suspended": d.suspended,
        "ram": d.hardware.ram,
        "disk": d.hardware.disk,
        "ipv4": d.network.ipv4,
        "ipv6_64": d.network.ipv6_64,
    })
}
