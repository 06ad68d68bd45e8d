//! The one poll loop behind every wait ([`crate::EcsClient::wait_job`],
//! [`crate::EcsClient::wait_rebuilt`], [`crate::EdisClient::wait_reinstalled`], and the CLI's
//! stages after a job): probe, report progress, poll through passing trouble, pause by the
//! [`PollSchedule`], and give up at its deadline with what was seen last.

use std::time::Instant;

use crate::retry::PollSchedule;
use crate::{Error, Progress, ProgressEvent, passing};

/// What one probe found.
#[derive(Debug)]
pub enum Step<T> {
    /// The wait is over.
    Done(T),
    /// Not yet: what was seen, for the timeout error if the deadline passes.
    Wait(String),
}

/// Polls `probe` until it says [`Step::Done`], returns an error that is not passing, or the
/// schedule's deadline passes ([`Error::WaitTimeout`] naming `what`). Each probe gives the
/// progress to report (if any); a passing error (a timeout, a gateway error) is reported as
/// [`Progress::Trouble`] and the wait goes on. Events carry the time since `origin`.
///
/// # Errors
///
/// The first error that is not passing, or [`Error::WaitTimeout`].
pub async fn poll_until<T, F, Fut>(
    schedule: &PollSchedule,
    origin: Instant,
    what: &str,
    on_progress: &mut (dyn FnMut(&ProgressEvent) + Send),
    mut probe: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(Step<T>, Option<Progress>), Error>>,
{
    let begun = Instant::now();
    let mut interval = schedule.initial;
    loop {
        let last = match probe().await {
            Ok((step, progress)) => {
                if let Some(progress) = progress {
                    on_progress(&ProgressEvent::new(origin.elapsed(), progress));
                }
                match step {
                    Step::Done(value) => return Ok(value),
                    Step::Wait(last) => last,
                }
            }
            Err(e) if passing(&e) => {
                let problem = e.to_string();
                on_progress(&ProgressEvent::new(
                    origin.elapsed(),
                    Progress::Trouble {
                        problem: problem.clone(),
                    },
                ));
                problem
            }
            Err(e) => return Err(e),
        };
        let Some(pause) = schedule.pause(begun, interval) else {
            return Err(Error::WaitTimeout {
                what: what.to_owned(),
                waited: origin.elapsed(),
                last,
            });
        };
        tokio::time::sleep(pause).await;
        interval = schedule.next(interval);
    }
}
