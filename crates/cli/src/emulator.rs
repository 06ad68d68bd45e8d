//! `reimage emulator`: the local EDIS + ECS + IAM emulator, in the foreground.

use std::net::SocketAddr;
use std::path::PathBuf;

use reimage_emulator::{Config, Fixtures};

/// Exit codes of `reimage emulator`.
mod exit {
    /// Stopped cleanly (SIGINT or SIGTERM).
    pub(super) const OK: u8 = 0;
    /// It could not start: a bad flag value, a fixture file that does not parse, a busy port.
    pub(super) const USAGE: u8 = 2;
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The address to listen on. Port 0 picks a free port; the first line on stdout says which.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Multiplies every duration (an ECS reinstall takes about 90 s at 1.0; 0.01 suits tests).
    #[arg(long = "time-scale", value_name = "F", default_value_t = 1.0)]
    time_scale: f64,

    /// A TOML file that replaces the default fixtures (servers, images, credentials).
    #[arg(long, value_name = "FILE")]
    fixtures: Option<PathBuf>,

    /// Allow a non-loopback listen address. The emulator speaks plain HTTP with well-known
    /// credentials: expose it only on a network you trust.
    #[arg(long = "allow-remote")]
    allow_remote: bool,

    /// How long a finished ECS job can still be queried, in emulated time (scaled like every
    /// duration): ECS deletes a job a day later, then answers `Common.0011`. Seconds or a
    /// duration (`90s`, `1h`).
    #[arg(
        long = "job-retention",
        value_name = "DURATION",
        default_value = "24h",
        value_parser = crate::common::parse_duration_secs
    )]
    job_retention: u64,

    /// Throttle ECS as its API gateway does: at most COUNT calls per user (AK or token) in each
    /// window, in emulated time (scaled like every duration), then 429 `APIGW.0308` until the
    /// window ends. `200/5m` is a limit real users have met.
    #[arg(long = "rate-limit", value_name = "COUNT/WINDOW", value_parser = reimage_emulator::RateLimit::parse)]
    rate_limit: Option<reimage_emulator::RateLimit>,

    /// With `--rate-limit`, answer a throttled call with `Retry-After` (the window's rest);
    /// without it, as real answers do, there is none.
    #[arg(long = "rate-limit-retry-after", requires = "rate_limit")]
    rate_limit_retry_after: bool,
}

/// Runs the emulator until SIGINT or SIGTERM and returns the exit code.
pub(crate) fn run(args: &Args) -> u8 {
    let fixtures = match &args.fixtures {
        None => Fixtures::default(),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => return fail(&format!("cannot read fixtures {}: {e}", path.display())),
            };
            match Fixtures::from_toml_str(&text) {
                Ok(fixtures) => fixtures,
                Err(e) => return fail(&format!("fixtures {}: {e}", path.display())),
            }
        }
    };
    let mut timings = reimage_emulator::Timings::default();
    timings.job_retention = std::time::Duration::from_secs(args.job_retention);
    let mut builder = Config::builder()
        .listen(args.listen)
        .allow_remote(args.allow_remote)
        .time_scale(args.time_scale)
        .fixtures(fixtures)
        .timings(timings);
    if let Some(rule) = args.rate_limit {
        builder = builder.rate_limit(rule.with_retry_after(args.rate_limit_retry_after));
    }
    let config = match builder.build() {
        Ok(config) => config,
        Err(e) => return fail(&e.to_string()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        // Listen for the stop signals before saying "listening", so a supervisor that signals as
        // soon as it reads that line always gets a clean stop.
        let stop = match stop_signal() {
            Ok(stop) => stop,
            Err(e) => return fail(&format!("cannot listen for SIGINT and SIGTERM: {e}")),
        };
        let running = match reimage_emulator::start(config).await {
            Ok(running) => running,
            Err(e) => return fail(&e.to_string()),
        };
        crate::say(&format!("listening on http://{}", running.local_addr()));
        crate::note(&format!(
            "reimage emulator: fixtures and faults at http://{}/_emulator; stop with Ctrl-C",
            running.local_addr()
        ));
        stop.await;
        running.shutdown().await;
        crate::note("reimage emulator: stopped");
        exit::OK
    })
}

/// A future that ends at the first SIGINT or SIGTERM; the handlers are installed when this is
/// called, not when it is first polled.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn fail(message: &str) -> u8 {
    crate::note(&format!("reimage emulator: {message}"));
    exit::USAGE
}
