//! Runs the emulator with the default fixtures on loopback until Ctrl-C, for load tests and
//! manual poking: `cargo run --release -p reimage-emulator --example serve [-- OPTIONS]`.
//!
//! Prints `listening on http://ADDR` on the first line of stdout once it accepts calls, so a
//! script can read the address. Options: `--port N` (default 0, a free port) and
//! `--time-scale F` (default 1, real-world job durations). `cargo xtask bench` runs it, so the
//! benchmark does not depend on the CLI.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use reimage_emulator::{Config, Fixtures};

#[tokio::main]
async fn main() -> ExitCode {
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let mut port = 0u16;
    let mut time_scale = 1.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?;
            }
            "--time-scale" => {
                time_scale = value("--time-scale")?
                    .parse()
                    .map_err(|e| format!("--time-scale: {e}"))?;
            }
            other => {
                return Err(format!(
                    "unknown option {other:?}; options: --port N, --time-scale F"
                ));
            }
        }
    }
    let config = Config::builder()
        .listen(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .time_scale(time_scale)
        .fixtures(Fixtures::default())
        .build()
        .map_err(|e| e.to_string())?;
    let running = reimage_emulator::start(config)
        .await
        .map_err(|e| e.to_string())?;
    println!("listening on {}", running.base_url());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    running.shutdown().await;
    Ok(())
}
