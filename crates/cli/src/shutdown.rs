//! The signals that stop long-running commands (`serve`, `demo`): SIGTERM,
//! which systemd, Docker and Kubernetes send, and SIGINT (Ctrl-C). Both are
//! caught, so the command can answer what is under way, flush what it holds
//! and stop its embedded nats-server instead of dying with it orphaned.

use anyhow::{Context, Result};
use tokio::sync::watch;

/// Bound on the whole stop after SIGTERM or SIGINT: the roles get
/// [`ROLES_STOP_TIMEOUT_MS`] of it, the embedded nats-server the rest (then SIGKILL).
/// ops/systemd's `TimeoutStopSec` is above it.
pub const STOP_TIMEOUT_MS: u64 = 10_000;
/// Bound on answering the requests under way and stopping the writer,
/// checkpointer, projector and query API.
pub const ROLES_STOP_TIMEOUT_MS: u64 = 7_000;
/// Bound on the embedded nats-server's own graceful stop, before it is killed.
pub const NATS_STOP_TIMEOUT_MS: u64 = STOP_TIMEOUT_MS - ROLES_STOP_TIMEOUT_MS;
/// The stop signals, caught from [`StopSignals::install`] on.
pub struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Catches SIGTERM and SIGINT from now on (their default action, exiting
    /// at once, no longer applies).
    pub fn install() -> Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                terminate: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
                interrupt: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for the next stop signal and names it.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => "SIGTERM",
                _ = self.interrupt.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Tells the roles of a command to stop; each waits on [`Stop::requested`].
#[derive(Clone)]
pub struct Stop {
    sender: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Stop {
    fn default() -> Stop {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        Stop { sender: std::sync::Arc::new(watch::Sender::new(false)) }
    }

    pub fn request(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_requested(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once [`Stop::request`] was called.
    pub fn requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            // An error means the sender is gone, which also means stop.
            let _ = receiver.wait_for(|stop| *stop).await;
        }
    }
}
