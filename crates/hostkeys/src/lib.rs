//! SSH host keys after a reinstall, for reimage and any Rust program.
//!
//! A reinstall gives a server new SSH host keys. This crate closes the loop without trusting the
//! first key that answers:
//!
//! - [`console`] reads what cloud-init writes to a server's console: the host key fingerprints
//!   and keys (`cc_keys_to_console` and its `write-ssh-key-fingerprints` helper), the final
//!   message (`cc_final_message`), and module failures, counting only what the last boot wrote.
//! - [`verify`] checks the keys an SSH server presents against that console (out of band).
//! - [`known_hosts`] edits a `known_hosts` file's bytes: stale entries of the host removed (plain,
//!   `[host]:port` and hashed `|1|salt|hash` forms), the verified keys added, every other line
//!   kept byte for byte; [`file`](mod@file) writes it atomically (temporary file, fsync, rename).
//! - [`inject`] adds a generated host key to a cloud-config as cloud-init's `ssh_keys`, so the
//!   key is known before the server boots.
//! - [`scan`] reads the keys a server presents with OpenSSH's own `ssh-keyscan`.
//! - [`keys`] holds fingerprints in `ssh-keygen -l`'s form, and the generation of host keys
//!   (randomness passed in) for an emulator or for keys injected through cloud-config.
//!
//! No tokio, no hyper: [`file`](mod@file) and [`scan`] do blocking IO (a file, a child process); the other
//! modules do none.

pub mod console;
pub mod file;
pub mod inject;
pub mod keys;
pub mod known_hosts;
pub mod scan;
pub mod verify;

pub use ssh_key::PublicKey;
pub use ssh_key::rand_core;
