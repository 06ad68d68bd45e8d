//! What cloud-init writes to a server's console, read back.
//!
//! The formats come from cloud-init's own code (26.2, and 22.4 alike):
//!
//! - **Host keys.** `cc_keys_to_console` runs the helper `write-ssh-key-fingerprints` and writes
//!   its output to the console. The helper sends its fingerprint lines through `logger -s -t
//!   cloud-init` (so each carries a syslog prefix such as `<14>Dec  7 04:10:00 cloud-init: `)
//!   between a line of `#` and `-----BEGIN SSH HOST KEY FINGERPRINTS-----` / `-----END SSH HOST
//!   KEY FINGERPRINTS-----`, one `ssh-keygen -l` line per key (`256 SHA256:… root@host
//!   (ED25519)`); then it echoes the public keys as they are, between `-----BEGIN SSH HOST KEY
//!   KEYS-----` and `-----END SSH HOST KEY KEYS-----`.
//! - **The final message** (`cc_final_message`, unless the user set `final_message`): `Cloud-init
//!   v. VERSION finished at TIMESTAMP. Datasource DATASOURCE.  Up UPTIME seconds`.
//! - **Module failures.** A module that raises is logged at `WARNING` as `Running module NAME
//!   (MODULE) failed`; the console handler of cloud-init's default logging writes warnings and
//!   worse as `ASCTIME - FILE.py[LEVEL]: MESSAGE`.
//! - **Boots.** The kernel's banner (`Linux version …`) and cloud-init's first stage (`Cloud-init
//!   v. VERSION running 'init-local' at …`) start a boot; only what follows the last of them
//!   counts, so what an earlier boot (an earlier install) left in the log is ignored.
//!
//! Lines may carry any prefix (a kernel timestamp, `cloud-init[PID]: ` from the journal): each
//! marker is looked for anywhere in its line.

use ssh_key::PublicKey;

use crate::keys;

/// The line that opens the fingerprint block.
pub const BEGIN_FINGERPRINTS: &str = "-----BEGIN SSH HOST KEY FINGERPRINTS-----";
/// The line that closes the fingerprint block.
pub const END_FINGERPRINTS: &str = "-----END SSH HOST KEY FINGERPRINTS-----";
/// The line that opens the key block.
pub const BEGIN_KEYS: &str = "-----BEGIN SSH HOST KEY KEYS-----";
/// The line that closes the key block.
pub const END_KEYS: &str = "-----END SSH HOST KEY KEYS-----";

/// One line of the fingerprint block, as `ssh-keygen -l` wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsoleFingerprint {
    /// The key's size in bits (`256`).
    pub bits: u32,
    /// The fingerprint with its hash name (`SHA256:…`, or `MD5:…` from an old `ssh-keygen`).
    pub fingerprint: String,
    /// The key type, upper case (`ED25519`, `ECDSA`, `RSA`).
    pub key_type: String,
}

/// The final message of cloud-init's last stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinalMessage {
    /// cloud-init's version (`26.2`).
    pub version: String,
    /// When it finished, as cloud-init wrote it (RFC 2822: `Mon, 07 Dec 2026 04:10:00 +0000`).
    pub finished_at: String,
    /// The datasource (`DataSourceOpenStack [net,ver=2]`).
    pub datasource: String,
}

/// A warning or error that cloud-init logged on the console.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedProblem {
    /// `WARNING`, `ERROR` or `CRITICAL`.
    pub level: String,
    /// The file that logged it (`util.py`, `cc_scripts_user.py`).
    pub source: String,
    /// The message.
    pub message: String,
    /// The module whose run failed, for `Running module NAME (…) failed`.
    pub failed_module: Option<String>,
}

/// What the last boot wrote to the console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BootConsole {
    /// Whether a boot's start was seen at all. Without it, nothing in the log can be told apart
    /// from what an earlier boot left, and [`crate::verify`] trusts none of it.
    pub boot_seen: bool,
    /// The fingerprint block's lines (empty until cloud-init's last stage wrote them).
    pub fingerprints: Vec<ConsoleFingerprint>,
    /// The key block's keys.
    pub keys: Vec<PublicKey>,
    /// Whether a block was written and every block begun was closed (a log cut in the middle of
    /// a block is not the whole list). cloud-init may be told to leave one of the two out
    /// (`ssh_fp_console_blacklist`, `ssh_key_console_blacklist`).
    pub blocks_complete: bool,
    /// The final message, once cloud-init wrote it.
    pub finished: Option<FinalMessage>,
    /// Warnings and errors cloud-init logged, in order.
    pub problems: Vec<LoggedProblem>,
}

impl BootConsole {
    /// The modules whose run failed.
    pub fn failed_modules(&self) -> Vec<&str> {
        self.problems
            .iter()
            .filter_map(|p| p.failed_module.as_deref())
            .collect()
    }

    /// The problems that make cloud-init's status an error (cloud-init counts a failed module
    /// and anything logged at `ERROR` or `CRITICAL`); warnings are recoverable.
    pub fn errors(&self) -> Vec<&LoggedProblem> {
        self.problems
            .iter()
            .filter(|p| p.failed_module.is_some() || p.level != "WARNING")
            .collect()
    }
}

/// Reads a console log: the part after the last boot's start.
///
/// ```
/// use reimage_hostkeys::console::read;
///
/// let log = "[    0.000000] Linux version 6.1.0-9-amd64\n\
///            [   40.1] cloud-init[612]: Cloud-init v. 26.2 finished at Mon, 07 Dec 2026 04:10:00 +0000. Datasource DataSourceOpenStack [net,ver=2].  Up 40.10 seconds\n";
/// let boot = read(log);
/// assert!(boot.boot_seen);
/// assert_eq!(boot.finished.map(|f| f.version), Some("26.2".to_owned()));
/// ```
pub fn read(log: &str) -> BootConsole {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.iter().rposition(|line| starts_a_boot(line));
    let mut boot = BootConsole {
        boot_seen: start.is_some(),
        ..BootConsole::default()
    };
    let tail = &lines[start.map_or(0, |i| i + 1)..];
    let mut block = Block::None;
    let mut closed = (false, false);
    let mut opened = (false, false);
    for line in tail {
        if line.contains(BEGIN_FINGERPRINTS) {
            // A second block in one boot (the module run again) replaces the first.
            boot.fingerprints.clear();
            closed.0 = false;
            opened.0 = true;
            block = Block::Fingerprints;
            continue;
        }
        if line.contains(BEGIN_KEYS) {
            boot.keys.clear();
            closed.1 = false;
            opened.1 = true;
            block = Block::Keys;
            continue;
        }
        if line.contains(END_FINGERPRINTS) {
            closed.0 = block == Block::Fingerprints;
            block = Block::None;
            continue;
        }
        if line.contains(END_KEYS) {
            closed.1 = block == Block::Keys;
            block = Block::None;
            continue;
        }
        match block {
            Block::Fingerprints => {
                if let Some(fp) = fingerprint_line(line) {
                    boot.fingerprints.push(fp);
                }
            }
            Block::Keys => {
                if let Some(key) = key_line(line) {
                    boot.keys.push(key);
                }
            }
            Block::None => {}
        }
        if let Some(done) = final_message(line) {
            boot.finished = Some(done);
        } else if let Some(problem) = logged_problem(line) {
            boot.problems.push(problem);
        }
    }
    boot.blocks_complete =
        (opened.0 || opened.1) && (!opened.0 || closed.0) && (!opened.1 || closed.1);
    boot
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Fingerprints,
    Keys,
}

/// The kernel's banner, or cloud-init's first stage starting.
fn starts_a_boot(line: &str) -> bool {
    let kernel = line
        .find("Linux version ")
        .is_some_and(|at| line[..at].trim().is_empty() || line[..at].trim_end().ends_with(']'));
    kernel || (line.contains("Cloud-init v. ") && line.contains(" running 'init-local' at "))
}

/// `… 256 SHA256:xxxx comment words (ED25519)`.
fn fingerprint_line(line: &str) -> Option<ConsoleFingerprint> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.starts_with("SHA256:") || w.starts_with("MD5:"))?;
    let bits = words.get(at.checked_sub(1)?)?.parse().ok()?;
    let last = words.last()?;
    let key_type = last.strip_prefix('(')?.strip_suffix(')')?;
    if at + 1 >= words.len() {
        return None;
    }
    Some(ConsoleFingerprint {
        bits,
        fingerprint: words[at].to_owned(),
        key_type: key_type.to_owned(),
    })
}

/// A public key in OpenSSH's one-line form, after any prefix.
fn key_line(line: &str) -> Option<PublicKey> {
    let mut offset = 0;
    for word in line.split_whitespace() {
        let at = line[offset..].find(word).map(|i| i + offset)?;
        offset = at + word.len();
        if word.starts_with("ssh-") || word.starts_with("ecdsa-") || word.starts_with("sk-") {
            return PublicKey::from_openssh(line[at..].trim_end()).ok();
        }
    }
    None
}

/// `Cloud-init v. VERSION finished at TIMESTAMP. Datasource DATASOURCE.  Up UPTIME seconds`.
fn final_message(line: &str) -> Option<FinalMessage> {
    let rest = &line[line.find("Cloud-init v. ")? + "Cloud-init v. ".len()..];
    let (version, rest) = rest.split_once(" finished at ")?;
    let (finished_at, rest) = rest.split_once(". Datasource ")?;
    let datasource = rest.rsplit_once(".  Up ").map_or(rest, |(ds, _)| ds);
    Some(FinalMessage {
        version: version.to_owned(),
        finished_at: finished_at.to_owned(),
        datasource: datasource.to_owned(),
    })
}

/// `… FILE.py[LEVEL]: MESSAGE` for the levels the console handler shows.
fn logged_problem(line: &str) -> Option<LoggedProblem> {
    for level in ["WARNING", "ERROR", "CRITICAL"] {
        let marker = format!("[{level}]: ");
        let Some(at) = line.find(&marker) else {
            continue;
        };
        let before = &line[..at];
        let source = before.rsplit(' ').next().unwrap_or_default();
        if !source.ends_with(".py") {
            continue;
        }
        let message = line[at + marker.len()..].trim_end().to_owned();
        let failed_module = message
            .strip_prefix("Running module ")
            .filter(|m| m.ends_with(" failed"))
            .and_then(|m| m.split_whitespace().next())
            .map(str::to_owned);
        return Some(LoggedProblem {
            level: level.to_owned(),
            source: source.to_owned(),
            message,
            failed_module,
        });
    }
    None
}

/// What cloud-init would write to the console for `keys` (the helper's output as
/// `cc_keys_to_console` passes it on), with `syslog_time` in the `logger` prefix (`Dec  7
/// 04:10:00`). For an emulator; [`read`] reads it back.
pub fn write_key_blocks(keys_: &[PublicKey], syslog_time: &str) -> String {
    let prefix = format!("<14>{syslog_time} cloud-init: ");
    let mut out = String::new();
    let hashes = "#".repeat(61);
    out.push_str(&format!("{prefix}{hashes}\n{prefix}{BEGIN_FINGERPRINTS}\n"));
    for key in keys_ {
        out.push_str(&format!("{prefix}{}\n", keys::keygen_line(key)));
    }
    out.push_str(&format!("{prefix}{END_FINGERPRINTS}\n{prefix}{hashes}\n"));
    out.push_str(BEGIN_KEYS);
    out.push('\n');
    for key in keys_ {
        if let Ok(text) = key.to_openssh() {
            out.push_str(&text);
            out.push('\n');
        }
    }
    out.push_str(END_KEYS);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE3ygFTurvB8NwJk1JJOhiRj6fYeEo8cU7N1bXbfw40 root@web-1";

    /// A console as a Debian cloud image writes it on ECS: the kernel, the journal's prefix on
    /// cloud-init's stderr, the helper's `logger -s` lines, the echoed keys.
    fn boot(fp: &str, final_line: bool, failure: bool) -> String {
        let mut log = String::from(
            "[    0.000000] Linux version 6.1.0-9-cloud-amd64 (debian-kernel@lists.debian.org)\n\
             [    3.2] cloud-init[401]: Cloud-init v. 26.2 running 'init-local' at Mon, 07 Dec 2026 04:09:30 +0000. Up 3.20 seconds.\n\
             [    6.1] cloud-init[455]: Cloud-init v. 26.2 running 'init' at Mon, 07 Dec 2026 04:09:33 +0000. Up 6.10 seconds.\n",
        );
        if failure {
            log.push_str(
                "[   30.5] cloud-init[612]: 2026-12-07 04:09:58,120 - cc_scripts_user.py[WARNING]: Failed to run module scripts_user (scripts in /var/lib/cloud/instance/scripts)\n\
                 [   30.5] cloud-init[612]: 2026-12-07 04:09:58,121 - log_util.py[WARNING]: Running module scripts_user (<module 'cloudinit.config.cc_scripts_user' from '/usr/lib/python3/dist-packages/cloudinit/config/cc_scripts_user.py'>) failed\n",
            );
        }
        log.push_str(&format!(
            "<14>Dec  7 04:09:59 cloud-init: #############################################################\n\
             <14>Dec  7 04:09:59 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n\
             <14>Dec  7 04:09:59 cloud-init: 256 {fp} root@web-1 (ED25519)\n\
             <14>Dec  7 04:09:59 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----\n\
             <14>Dec  7 04:09:59 cloud-init: #############################################################\n\
             -----BEGIN SSH HOST KEY KEYS-----\n{ED}\n-----END SSH HOST KEY KEYS-----\n"
        ));
        if final_line {
            log.push_str("[   40.1] cloud-init[612]: Cloud-init v. 26.2 finished at Mon, 07 Dec 2026 04:10:00 +0000. Datasource DataSourceOpenStack [net,ver=2].  Up 40.10 seconds\n");
        }
        log
    }

    #[test]
    fn reads_the_blocks_the_final_message_and_failures() {
        let key = PublicKey::from_openssh(ED).unwrap();
        let fp = keys::fingerprint(&key);
        let read = read(&boot(&fp, true, true));
        assert!(read.boot_seen);
        assert!(read.blocks_complete);
        assert_eq!(
            read.fingerprints,
            vec![ConsoleFingerprint {
                bits: 256,
                fingerprint: fp,
                key_type: "ED25519".to_owned()
            }]
        );
        assert_eq!(read.keys, vec![key]);
        let done = read.finished.clone().unwrap();
        assert_eq!(done.version, "26.2");
        assert_eq!(done.finished_at, "Mon, 07 Dec 2026 04:10:00 +0000");
        assert_eq!(done.datasource, "DataSourceOpenStack [net,ver=2]");
        assert_eq!(read.failed_modules(), vec!["scripts_user"]);
        assert_eq!(read.problems.len(), 2);
        assert_eq!(read.errors().len(), 1);
        assert_eq!(read.problems[0].source, "cc_scripts_user.py");
    }

    #[test]
    fn only_the_last_boot_counts() {
        let old = boot(
            "SHA256:oldoldoldoldoldoldoldoldoldoldoldoldoldoldo",
            true,
            true,
        );
        // The new boot has begun; cloud-init has not reached its last stage yet.
        let log = format!(
            "{old}[    0.000000] Linux version 6.1.0-9-cloud-amd64\n[    3.2] cloud-init[401]: Cloud-init v. 26.2 running 'init-local' at Mon, 07 Dec 2026 05:00:00 +0000. Up 3.20 seconds.\n"
        );
        let read = read(&log);
        assert!(read.boot_seen);
        assert!(read.fingerprints.is_empty());
        assert!(read.keys.is_empty());
        assert!(!read.blocks_complete);
        assert_eq!(read.finished, None);
        assert!(read.problems.is_empty());
        // A log without any boot's start says so.
        let no_boot = super::read("login: \n");
        assert!(!no_boot.boot_seen);
    }

    #[test]
    fn a_block_cut_off_is_not_complete_and_junk_lines_are_skipped() {
        let log = "Linux version 6.1\n\
                   <14>Dec  7 04:09:59 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n\
                   <14>Dec  7 04:09:59 cloud-init: not a fingerprint\n\
                   [   12.0] random: crng init done\n\
                   <14>Dec  7 04:09:59 cloud-init: 256 SHA256:abc root@x (ED25519)\n";
        let read = read(log);
        assert_eq!(read.fingerprints.len(), 1);
        assert!(!read.blocks_complete);
        // A custom final message, or a line that only mentions cloud-init, is not the final one.
        assert_eq!(
            final_message("Cloud-init v. 26.2 running 'modules:final' at x"),
            None
        );
    }

    #[test]
    fn a_fingerprint_block_alone_is_complete_and_verifies() {
        let key = PublicKey::from_openssh(ED).unwrap();
        let fp = keys::fingerprint(&key);
        // The keys block left out (ssh_key_console_blacklist), the fingerprints kept.
        let full = boot(&fp, true, false);
        let without_keys: String = full
            .lines()
            .filter(|l| !l.contains("SSH HOST KEY KEYS") && !l.starts_with("ssh-ed25519"))
            .map(|l| format!("{l}\n"))
            .collect();
        let read = read(&without_keys);
        assert!(read.blocks_complete);
        assert!(read.keys.is_empty());
        let ok = crate::verify::against_console(std::slice::from_ref(&key), &read).unwrap();
        assert_eq!(ok.keys, vec![key]);
        // Nothing at all is not complete.
        assert!(!super::read("Linux version 6.1\n").blocks_complete);
    }

    #[test]
    fn the_writer_writes_what_the_reader_reads() {
        let key = PublicKey::from_openssh(ED).unwrap();
        let text = format!(
            "Linux version 6.1\n{}",
            write_key_blocks(std::slice::from_ref(&key), "Dec  7 04:09:59")
        );
        // Byte for byte the helper's shape, as the hand-written console above has it.
        let expected = boot(&keys::fingerprint(&key), false, false);
        let expected_blocks = &expected[expected.find("<14>").unwrap()..];
        assert!(text.ends_with(expected_blocks), "{text}");
        let read = read(&text);
        assert_eq!(read.keys, vec![key]);
        assert!(read.blocks_complete);
    }
}
