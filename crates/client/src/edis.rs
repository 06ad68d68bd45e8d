//! [`EdisClient`]: sessions, images, reinstall, power, details and the mounted ISO of EDIS Global
//! KVMs.
//!
//! The client keeps one session per KVM and renews it before its `valid_until` (a minute
//! ahead by default), so an expired session is never sent; a session refused anyway (revoked,
//! or the clock was off) is renewed once and the call repeated, which is safe because EDIS
//! checks the session before it does anything.
//!
//! The session calls go to the session's `api_host` with the auth URL's scheme: HTTPS in
//! production, plain HTTP only when the auth URL is a loopback HTTP address (the emulator).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reimage_auth::edis::{DEFAULT_FRESHNESS_MARGIN, EdisCredentials, EdisSession};
use reimage_core::{EdisReinstall, KvmId, Timestamp};

use crate::clock::{Clock, SystemClock};
use crate::evidence::{self, Destructive, Evidence, Sent, safe_send};
use crate::poll::{Step, poll_until};
use reimage_wire::edis::{
    CreateSession, GetDetails, GetImages, GetMount, GetPower, HardReset, ImageList, KvmDetails,
    MountStatus, PowerOff, PowerOn, PowerState, PowerStatus, Reinstall,
};
use reimage_wire::{Endpoint, Operation, Provider};
use tokio::sync::Mutex;

use crate::retry::PollSchedule;
use crate::transport::{DryRun, RequestAuth, Transport, is_loopback};
use crate::{Error, Progress, ProgressEvent};

/// Runs a session call on `$kvm`: `$make` builds the operation from a fresh session. A refused
/// session is renewed once. (A macro, since the operation borrows the session it is built from.)
macro_rules! session_call {
    ($client:expr, $kvm:expr, |$fresh:ident| $make:expr) => {{
        let client: &EdisClient = $client;
        let kvm_id: &KvmId = $kvm;
        let mut renewed = false;
        loop {
            let session = client.session(kvm_id).await?;
            let endpoint = client.api_endpoint(&session)?;
            let $fresh = client.fresh(&session)?;
            let op = $make;
            match client
                .transport
                .execute(
                    &op,
                    &endpoint,
                    Provider::Edis,
                    &RequestAuth::None,
                    &*client.clock,
                )
                .await
            {
                Err(Error::Provider(e)) if !renewed && e.status == 401 => {
                    tracing::info!(
                        operation = op_name(&op),
                        "session refused; getting a new one"
                    );
                    client.forget_session(kvm_id).await;
                    renewed = true;
                }
                other => break other,
            }
        }
    }};
}

/// One KVM's cached session, locked while it is read or renewed.
type SessionSlot = std::sync::Arc<Mutex<Option<EdisSession>>>;

/// The name of an operation value's type.
fn op_name<O: Operation>(_: &O) -> &'static str {
    O::NAME
}

/// A client for the KVMs of one EDIS account.
///
/// ```no_run
/// use reimage_auth::EdisCredentials;
/// use reimage_client::{EdisClient, Transport, TransportConfig};
/// use reimage_core::{EdisImage, EdisReinstall, KvmId, RootPassword};
///
/// # async fn run(credentials: EdisCredentials, password: RootPassword) -> Result<(), Box<dyn std::error::Error>> {
/// let client = EdisClient::new(Transport::new(TransportConfig::default())?, credentials);
/// let kvm = KvmId::new("kvm_100001_200001")?;
/// let image = EdisImage::new("cloudinit_debian-bookworm")?;
/// let started = client.reinstall(&kvm, EdisReinstall::new(image, password)).await?;
/// client.wait_reinstalled(&started, &Default::default(), &mut |event| println!("{event}")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EdisClient {
    transport: Transport,
    auth_endpoint: Endpoint,
    credentials: EdisCredentials,
    /// One slot per KVM, each with its own lock: a session being created for one KVM holds up
    /// the calls of that KVM only (its request may wait behind many others in the rate limit).
    sessions: std::sync::Mutex<BTreeMap<KvmId, SessionSlot>>,
    margin: Duration,
    clock: Arc<dyn Clock>,
}

/// A reinstall that EDIS accepted, or whose effect was seen.
#[derive(Debug, Clone)]
pub struct EdisStarted {
    /// The KVM.
    pub kvm_id: KvmId,
    /// The power state just before the request.
    pub before: PowerState,
    /// When the answer was lost: the evidence that the reinstall began anyway.
    pub evidence: Option<Evidence>,
}

impl EdisClient {
    /// A client that creates its sessions at `https://session.edisglobal.com`.
    pub fn new(transport: Transport, credentials: EdisCredentials) -> Self {
        Self {
            transport,
            auth_endpoint: reimage_wire::edis::session_endpoint(),
            credentials,
            sessions: std::sync::Mutex::new(BTreeMap::new()),
            margin: DEFAULT_FRESHNESS_MARGIN,
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads the time from `clock` (for the sessions' freshness) instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Creates sessions at `endpoint` instead (the emulator, `http://127.0.0.1:PORT`).
    pub fn with_auth_endpoint(mut self, endpoint: Endpoint) -> Result<Self, Error> {
        self.transport.check_endpoint(&endpoint)?;
        self.auth_endpoint = endpoint;
        Ok(self)
    }

    /// Renews a session this long before its `valid_until` (default a minute).
    #[must_use]
    pub fn with_freshness_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Where the calls of `session` go: its `api_host`, over HTTPS unless the auth endpoint is
    /// plain HTTP on loopback (the emulator).
    pub fn api_endpoint(&self, session: &EdisSession) -> Result<Endpoint, Error> {
        let plain = !self.auth_endpoint.is_https() && is_loopback(self.auth_endpoint.authority());
        let endpoint = Endpoint::from_host(!plain, session.api_host())?;
        self.transport.check_endpoint(&endpoint)?;
        Ok(endpoint)
    }

    /// A session for `kvm_id` that stays valid for more than the freshness margin: the cached
    /// one, or a new one.
    pub async fn session(&self, kvm_id: &KvmId) -> Result<EdisSession, Error> {
        let slot = self.slot(kvm_id);
        let mut slot = slot.lock().await;
        if let Some(session) = slot.as_ref()
            && session.ensure_fresh(self.clock.now(), self.margin).is_ok()
        {
            return Ok(session.clone());
        }
        let op = CreateSession::new(self.credentials.clone()).with_kvm_id(kvm_id.clone());
        let all = self
            .transport
            .execute(
                &op,
                &self.auth_endpoint,
                Provider::Edis,
                &RequestAuth::None,
                &*self.clock,
            )
            .await?;
        let session = all.pick(kvm_id)?.clone();
        if let Err(expired) = session.ensure_fresh(self.clock.now(), self.margin) {
            return Err(Error::Invalid(reimage_core::ValidationError::new(
                "valid_until",
                format!("a new session is already stale: {expired}"),
                "check this machine's clock; EDIS sessions are checked against it",
            )));
        }
        *slot = Some(session.clone());
        Ok(session)
    }

    async fn forget_session(&self, kvm_id: &KvmId) {
        let slot = self.slot(kvm_id);
        *slot.lock().await = None;
    }

    /// The session slot of `kvm_id`, made empty on first use.
    fn slot(&self, kvm_id: &KvmId) -> SessionSlot {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(kvm_id.clone())
            .or_default()
            .clone()
    }

    fn fresh<'a>(
        &self,
        session: &'a EdisSession,
    ) -> Result<reimage_auth::edis::FreshSession<'a>, Error> {
        session
            .ensure_fresh(self.clock.now(), self.margin)
            .map_err(|e| {
                Error::Invalid(reimage_core::ValidationError::new(
                    "valid_until",
                    e.to_string(),
                    "the session expired while it was in use; run the command again",
                ))
            })
    }

    /// The KVMs of the account: an auth call without a `kvm_id` answers with a session for each.
    pub async fn kvms(&self) -> Result<Vec<KvmId>, Error> {
        let op = CreateSession::new(self.credentials.clone());
        let all = self
            .transport
            .execute(
                &op,
                &self.auth_endpoint,
                Provider::Edis,
                &RequestAuth::None,
                &*self.clock,
            )
            .await?;
        Ok(all.iter().map(|s| s.kvm_id().clone()).collect())
    }

    /// The KVM that `id_or_name` names: its id, or else its exact host name among the account's
    /// KVMs ([`kvms`](Self::kvms), then each one's details). No KVM of that name, or more than
    /// one, is an [`Error::Invalid`] that lists what was found.
    pub async fn find_kvm(&self, id_or_name: &str) -> Result<KvmId, Error> {
        if let Ok(id) = KvmId::new(id_or_name) {
            return Ok(id);
        }
        let mut found = Vec::new();
        for kvm in self.kvms().await? {
            if self.details(&kvm).await?.hostname.as_deref() == Some(id_or_name) {
                found.push(kvm);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::Invalid(reimage_core::ValidationError::new(
                "kvm",
                format!(
                    "{id_or_name:?} is neither a KVM id nor the host name of a KVM of this account"
                ),
                "give the KVM's id (kvm_<digits>_<digits>) or its exact host name (reimage edis kvms lists them)",
            ))),
            _ => {
                let ids: Vec<&str> = found.iter().map(KvmId::as_str).collect();
                Err(Error::Invalid(reimage_core::ValidationError::new(
                    "kvm",
                    format!(
                        "{id_or_name:?} is the host name of {} KVMs: {}",
                        found.len(),
                        ids.join(", ")
                    ),
                    "give the id of the one you mean",
                )))
            }
        }
    }

    /// The images that can be installed.
    pub async fn images(&self, kvm_id: &KvmId) -> Result<ImageList, Error> {
        session_call!(self, kvm_id, |fresh| GetImages::new(fresh))
    }

    /// The power state.
    pub async fn power(&self, kvm_id: &KvmId) -> Result<PowerStatus, Error> {
        session_call!(self, kvm_id, |fresh| GetPower::new(fresh))
    }

    /// Powers the KVM on.
    pub async fn power_on(&self, kvm_id: &KvmId) -> Result<(), Error> {
        session_call!(self, kvm_id, |fresh| PowerOn::new(fresh))
    }

    /// Powers the KVM off.
    pub async fn power_off(&self, kvm_id: &KvmId) -> Result<(), Error> {
        session_call!(self, kvm_id, |fresh| PowerOff::new(fresh))
    }

    /// Resets the KVM hard, as a power cut would; returns when EDIS says it happened, if it
    /// says. Not retried after an ambiguous failure: a second reset would reset it again.
    pub async fn hard_reset(&self, kvm_id: &KvmId) -> Result<Option<Timestamp>, Error> {
        session_call!(self, kvm_id, |fresh| HardReset::new(fresh))
    }

    /// The KVM's details: host name, hardware and addresses.
    pub async fn details(&self, kvm_id: &KvmId) -> Result<KvmDetails, Error> {
        session_call!(self, kvm_id, |fresh| GetDetails::new(fresh))
    }

    /// The ISO mounted on the KVM, if any. A read: retried like every idempotent call.
    pub async fn mount(&self, kvm_id: &KvmId) -> Result<MountStatus, Error> {
        session_call!(self, kvm_id, |fresh| GetMount::new(fresh))
    }

    /// The request [`reinstall`](Self::reinstall) would send now, and the same with its secrets
    /// redacted: a dry run. It gets a session (a read, nothing changes), then makes the request
    /// with the function that sends ([`Transport::prepare`]).
    pub async fn dry_run_reinstall(
        &self,
        kvm_id: &KvmId,
        input: EdisReinstall,
    ) -> Result<DryRun, Error> {
        let session = self.session(kvm_id).await?;
        let endpoint = self.api_endpoint(&session)?;
        let op = Reinstall::new(self.fresh(&session)?, input);
        self.transport
            .dry_run(&op, &endpoint, &RequestAuth::None, self.clock.now())
    }

    /// Reinstalls the KVM. Reads the power state first: it is the baseline for the evidence
    /// check if the answer is lost.
    pub async fn reinstall(
        &self,
        kvm_id: &KvmId,
        input: EdisReinstall,
    ) -> Result<EdisStarted, Error> {
        let before = self.power(kvm_id).await?.state;
        let target = format!("KVM {kvm_id}");
        let call = Destructive {
            target: &target,
            // A refusal is sent again only if the power state could show the first call.
            resend_after_refusal: before == PowerState::On,
            no_sign: if before == PowerState::On {
                "the KVM is still powered on, so the install did not visibly start"
            } else {
                "the KVM was powered off already, so its power state cannot tell"
            },
        };
        let sent = safe_send(
            &call,
            || async { session_call!(self, kvm_id, |fresh| Reinstall::new(fresh, input.clone())) },
            || self.look_for_evidence(kvm_id, &before),
        )
        .await?;
        Ok(EdisStarted {
            kvm_id: kvm_id.clone(),
            before,
            evidence: match sent {
                Sent::Answered(()) => None,
                Sent::Seen(evidence) => Some(evidence),
            },
        })
    }

    /// Reads the power state up to twice, a second apart: a KVM that was on and is now off has
    /// begun its install ([`evidence::edis`], the rule the fleet's resume uses too).
    async fn look_for_evidence(
        &self,
        kvm_id: &KvmId,
        before: &PowerState,
    ) -> Result<Option<Evidence>, Error> {
        if *before != PowerState::On {
            return Ok(None);
        }
        for round in 0..2 {
            if round > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let now = self.power(kvm_id).await?.state;
            if let Some(evidence) = evidence::edis(before, &now) {
                return Ok(Some(evidence));
            }
        }
        Ok(None)
    }

    /// Waits until the new system runs: the KVM powers off while it installs, and on again
    /// when it is done. A KVM that was off before the reinstall is done when it is on.
    ///
    /// EDIS has no job to ask, so a failed install shows only as a KVM that stays off: the
    /// wait then ends at its deadline with what it saw.
    pub async fn wait_reinstalled(
        &self,
        started: &EdisStarted,
        schedule: &PollSchedule,
        on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    ) -> Result<KvmDetails, Error> {
        let seen_off =
            AtomicBool::new(started.before != PowerState::On || started.evidence.is_some());
        let seen_off = &seen_off;
        let what = format!("KVM {} to run its new system", started.kvm_id);
        poll_until(
            schedule,
            Instant::now(),
            &what,
            on_progress,
            || async move {
                let power = self.power(&started.kvm_id).await?;
                let progress = Some(Progress::Power {
                    kvm_id: started.kvm_id.clone(),
                    state: power.state.to_string(),
                });
                match power.state {
                    PowerState::On if seen_off.load(Ordering::Relaxed) => {
                        return Ok((Step::Done(self.details(&started.kvm_id).await?), progress));
                    }
                    PowerState::On => {}
                    _ => seen_off.store(true, Ordering::Relaxed),
                }
                let last = format!("the KVM is {}", power.state);
                let last = if seen_off.load(Ordering::Relaxed) {
                    format!("{last}; the install may have failed, see the EDIS panel")
                } else {
                    last
                };
                Ok((Step::Wait(last), progress))
            },
        )
        .await
    }
}
