//! Each ECS server's console log, in the formats a Debian cloud image with cloud-init writes: the
//! kernel's banner, cloud-init's stages, the host key fingerprints and keys
//! (`reimage_hostkeys::console::write_key_blocks`, the helper's exact shape), module failures
//! as cloud-init's console handler logs them, and the final message.
//!
//! Every install boots with new, real host keys (Ed25519). A key is made when it is first needed
//! (the console shows it, an SSH endpoint serves it, the admin state lists its fingerprint), then
//! stays the install's key: start-up with 100,000 servers makes none. The
//! log is derived from the boots when someone reads it: a boot shows its kernel and first
//! stages at once, and its last stage (keys, failures, final message) once [`CLOUD_INIT_BOOT`]
//! (scaled) has passed. The `cloud_init_error` fault puts a module failure on that boot's
//! console; `cloud_init_hangs` stops it in its last stage, before the keys and the final message.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reimage_hostkeys::keys::HostKeyPair;
use reimage_hostkeys::rand_core::OsRng;
use time::OffsetDateTime;

/// How long after its start a boot takes to reach cloud-init's final message (before the time
/// scale): 40 s, as a small Debian image on ECS does.
pub(crate) const CLOUD_INIT_BOOT: Duration = Duration::from_secs(40);

/// cloud-init's version on the emulated images.
const CLOUD_INIT_VERSION: &str = "26.2";

/// The host key of one install of `root@host`, made when it is first needed and the same from
/// then on, whoever asks (clones share it).
///
/// Making an Ed25519 key costs tens of microseconds: a fleet of 100,000 servers would pay
/// seconds at start-up (minutes under valgrind) for keys nobody reads.
#[derive(Debug, Clone)]
pub(crate) struct HostKey(Arc<HostKeyCell>);

#[derive(Debug)]
struct HostKeyCell {
    /// `root@host`, the key's comment; empty once the key is given.
    comment: Box<str>,
    /// `None` inside: none could be made (the system's random source failed).
    key: OnceLock<Option<Arc<HostKeyPair>>>,
}

impl HostKey {
    /// A key for `root@host`, to be made when first needed.
    pub(crate) fn new(host: &str) -> Self {
        let mut comment = String::with_capacity(5 + host.len());
        comment.push_str("root@");
        comment.push_str(host);
        Self(Arc::new(HostKeyCell {
            comment: comment.into_boxed_str(),
            key: OnceLock::new(),
        }))
    }

    /// A key given (one that user data installs).
    pub(crate) fn given(key: HostKeyPair) -> Self {
        Self(Arc::new(HostKeyCell {
            comment: Box::default(),
            key: OnceLock::from(Some(Arc::new(key))),
        }))
    }

    /// The key, made now if it was not yet; `None` if none could be made.
    pub(crate) fn get(&self) -> Option<&Arc<HostKeyPair>> {
        self.0
            .key
            .get_or_init(|| {
                HostKeyPair::generate(&mut OsRng, &self.0.comment)
                    .ok()
                    .map(Arc::new)
            })
            .as_ref()
    }

    /// Whether the key was made (or given) already.
    #[cfg(test)]
    pub(crate) fn is_made(&self) -> bool {
        self.0.key.get().is_some()
    }
}

/// How a boot goes wrong, by the faults of the call that started its install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BootFaults {
    /// `cloud_init_error`: this module fails.
    pub(crate) failing_module: Option<String>,
    /// `cloud_init_hangs`: the last stage never ends.
    pub(crate) hangs: bool,
}

/// One boot of a server: an install, or the fixture's first.
#[derive(Debug, Clone)]
pub(crate) struct Boot {
    pub(crate) at: OffsetDateTime,
    /// The install's host key (shared with the SSH endpoint that serves it), made when first
    /// needed.
    pub(crate) key: HostKey,
    /// Whether the image runs cloud-init (not the `--without-cloud-init` operations' images).
    pub(crate) cloud_init: bool,
    /// How long (scaled) until the last stage.
    pub(crate) takes: Duration,
    pub(crate) faults: BootFaults,
}

/// A server's boots, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Console {
    pub(crate) boots: Vec<Boot>,
}

impl Console {
    /// A new boot at `at` with a new host key for `host` (made when first needed).
    pub(crate) fn boot(
        &mut self,
        host: &str,
        at: OffsetDateTime,
        cloud_init: bool,
        takes: Duration,
        faults: BootFaults,
    ) {
        self.boots.push(Boot {
            at,
            key: HostKey::new(host),
            cloud_init,
            takes,
            faults,
        });
    }

    /// The host key of the install that runs now (made now if it was not yet).
    pub(crate) fn current_key(&self) -> Option<&Arc<HostKeyPair>> {
        self.boots.last().and_then(|b| b.key.get())
    }

    /// The whole log as it reads at `now`.
    pub(crate) fn render(&self, host: &str, now: OffsetDateTime) -> String {
        let mut out = String::new();
        for boot in self.boots.iter().filter(|b| b.at <= now) {
            render_boot(&mut out, boot, host, now);
        }
        out
    }
}

fn render_boot(out: &mut String, boot: &Boot, host: &str, now: OffsetDateTime) {
    // Uptimes are written as on a real boot of [`CLOUD_INIT_BOOT`]; the clock runs at the
    // emulator's time scale, so a line appears at its uptime scaled.
    let scale = boot.takes.as_secs_f64() / CLOUD_INIT_BOOT.as_secs_f64();
    let at = |secs: f64| boot.at + Duration::from_secs_f64(secs * scale);
    out.push_str(
        "[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) \
         (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP \
         PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)\n\
         [    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-cloud-amd64 \
         root=PARTUUID=6e2b8f2c-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200\n",
    );
    if !boot.cloud_init {
        out.push_str(&format!(
            "\nDebian GNU/Linux 12 {host} ttyS0\n\n{host} login: \n"
        ));
        return;
    }
    let stage = |out: &mut String, secs: f64, pid: u32, name: &str| {
        out.push_str(&format!(
            "[{secs:12.6}] cloud-init[{pid}]: Cloud-init v. {CLOUD_INIT_VERSION} running \
             '{name}' at {}. Up {secs:.2} seconds.\n",
            rfc2822(at(secs))
        ));
    };
    stage(out, 3.12, 402, "init-local");
    stage(out, 6.48, 455, "init");
    out.push_str(&format!(
        "[{:12.6}] cloud-init[455]: ci-info: ++++++++++++++++++++++++++++Net device info++++++++++++++++++++++++++++\n",
        6.9
    ));
    stage(out, 12.30, 590, "modules:config");
    let total = CLOUD_INIT_BOOT.as_secs_f64();
    let final_at = total * 0.8;
    if now < at(final_at) {
        return;
    }
    stage(out, final_at, 612, "modules:final");
    if now < at(total) {
        return;
    }
    let up = total;
    if let Some(module) = &boot.faults.failing_module {
        let when = asctime(at(up - 1.0));
        out.push_str(&format!(
            "[{up:12.6}] cloud-init[612]: {when} - cc_{module}.py[WARNING]: Failed to run module \
             {module} (scripts in /var/lib/cloud/instance/scripts)\n\
             [{up:12.6}] cloud-init[612]: {when} - log_util.py[WARNING]: Running module {module} \
             (<module 'cloudinit.config.cc_{module}' from \
             '/usr/lib/python3/dist-packages/cloudinit/config/cc_{module}.py'>) failed\n"
        ));
    }
    if boot.faults.hangs {
        return;
    }
    if let Some(key) = boot.key.get() {
        out.push_str(&reimage_hostkeys::console::write_key_blocks(
            &[key.public()],
            &syslog_time(at(up)),
        ));
    }
    out.push_str(&format!(
        "[{up:12.6}] cloud-init[612]: Cloud-init v. {CLOUD_INIT_VERSION} finished at {}. \
         Datasource DataSourceOpenStackLocal [net,ver=2].  Up {up:.2} seconds\n",
        rfc2822(at(up))
    ));
    out.push_str(&format!(
        "\nDebian GNU/Linux 12 {host} ttyS0\n\n{host} login: \n"
    ));
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(t: OffsetDateTime) -> &'static str {
    MONTHS[usize::from(u8::from(t.month())) - 1]
}

/// `Mon, 07 Dec 2026 04:10:00 +0000`, as cloud-init's `time_rfc2822` writes it.
fn rfc2822(t: OffsetDateTime) -> String {
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        month(t),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `Dec  7 04:10:00`, as `logger` writes its time.
fn syslog_time(t: OffsetDateTime) -> String {
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        month(t),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2026-12-07 04:10:00,123`, as Python's logging writes `asctime`.
fn asctime(t: OffsetDateTime) -> String {
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use reimage_hostkeys::console::read;
    use reimage_hostkeys::keys::fingerprint;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_796_616_000).unwrap()
    }

    #[test]
    fn a_boot_shows_its_keys_and_final_message_after_its_delay_and_hides_the_old_boot() {
        let mut console = Console::default();
        let takes = Duration::from_secs(40);
        console.boot("web-1", t0(), true, takes, BootFaults::default());
        let first = console.current_key().unwrap().public();
        let reinstall = t0() + Duration::from_secs(3600);
        console.boot("web-1", reinstall, true, takes, BootFaults::default());
        let second = console.current_key().unwrap().public();
        assert_ne!(fingerprint(&first), fingerprint(&second));

        // Before the new boot: the first install's keys and final message.
        let before = read(&console.render("web-1", reinstall - Duration::from_secs(1)));
        assert_eq!(before.keys, vec![first.clone()]);
        assert!(before.finished.is_some());
        // Early in the new boot: nothing of the old one counts, the new one is not done.
        let early = read(&console.render("web-1", reinstall + Duration::from_secs(5)));
        assert!(early.boot_seen);
        assert!(early.keys.is_empty());
        assert!(early.finished.is_none());
        // After its delay: the new keys, in the helper's format, and the final message.
        let done = read(&console.render("web-1", reinstall + takes));
        assert_eq!(done.keys, vec![second.clone()]);
        assert_eq!(done.fingerprints[0].fingerprint, fingerprint(&second));
        let finished = done.finished.unwrap();
        assert_eq!(finished.version, "26.2");
        assert_eq!(finished.finished_at, rfc2822(reinstall + takes));
        assert!(done.problems.is_empty());
    }

    #[test]
    fn a_host_key_is_made_when_first_needed_then_stays_the_same() {
        let mut console = Console::default();
        let takes = Duration::from_secs(40);
        console.boot("web-1", t0(), true, takes, BootFaults::default());
        let held = console.boots[0].key.clone();
        assert!(!held.is_made(), "a boot makes no key before one is needed");
        let key = Arc::clone(console.current_key().unwrap());
        // A clone made before the key shares it; every later look gives the same key.
        assert!(held.is_made());
        assert!(Arc::ptr_eq(&key, held.get().unwrap()));
        assert!(Arc::ptr_eq(&key, console.current_key().unwrap()));
        assert!(key.public().comment().ends_with("root@web-1"));
        let shown = read(&console.render("web-1", t0() + takes));
        assert_eq!(shown.keys, vec![key.public()]);
        let given = HostKey::given(HostKeyPair::generate(&mut OsRng, "root@x").unwrap());
        assert!(given.is_made());
    }

    #[test]
    fn faults_show_a_module_failure_or_a_boot_that_never_finishes() {
        let mut console = Console::default();
        let takes = Duration::from_secs(40);
        let failing = BootFaults {
            failing_module: Some("scripts_user".to_owned()),
            hangs: false,
        };
        console.boot("web-1", t0(), true, takes, failing);
        let read_ = read(&console.render("web-1", t0() + takes));
        assert_eq!(read_.failed_modules(), vec!["scripts_user"]);
        assert!(read_.finished.is_some());
        let hanging = BootFaults {
            failing_module: None,
            hangs: true,
        };
        console.boot("web-1", t0() + takes, true, takes, hanging);
        let read_ = read(&console.render("web-1", t0() + takes * 100));
        assert!(read_.boot_seen);
        assert!(read_.finished.is_none());
        assert!(read_.keys.is_empty());
    }

    #[test]
    fn times_are_written_as_cloud_init_and_logger_write_them() {
        let t = OffsetDateTime::from_unix_timestamp(1_796_616_000).unwrap();
        assert_eq!(rfc2822(t), "Mon, 07 Dec 2026 04:00:00 +0000");
        assert_eq!(syslog_time(t), "Dec  7 04:00:00");
        assert_eq!(asctime(t), "2026-12-07 04:00:00,000");
    }
}
