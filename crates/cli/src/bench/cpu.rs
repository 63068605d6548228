//! CPU time spent during a measurement, by this process and by the embedded
//! nats-server beside it.
//!
//! Why: on a machine whose cores the broker shares, wall time alone cannot
//! say whether a slow figure is ours or the server's. Core-seconds can: they
//! show what each side spent, and whether a target is within reach of the
//! cores at all (`bench verify`'s JetStream budget).

use std::time::Duration;

use fundledger_nats::process_cpu_time;

/// CPU time used between [`CpuClock::start`] and [`CpuClock::read`].
#[derive(Clone, Copy, Debug)]
pub struct CpuUsed {
    /// By this process (every thread).
    pub process: Duration,
    /// By the embedded nats-server, when there is one and its time could be read.
    pub server: Option<Duration>,
}

/// Counts CPU time from now, for this process and the server.
pub struct CpuClock {
    process: Duration,
    server: Option<(u32, Duration)>,
}

impl CpuClock {
    pub fn start(server_pid: Option<u32>) -> CpuClock {
        CpuClock { process: own_cpu_time(), server: server_pid.and_then(|pid| process_cpu_time(pid).map(|used| (pid, used))) }
    }

    pub fn read(&self) -> CpuUsed {
        CpuUsed {
            process: own_cpu_time().saturating_sub(self.process),
            server: self.server.and_then(|(pid, before)| process_cpu_time(pid).map(|now| now.saturating_sub(before))),
        }
    }
}

/// This process's CPU time so far (zero where it cannot be read: the figures then say 0, never a wrong share).
fn own_cpu_time() -> Duration {
    process_cpu_time(std::process::id()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_seen_spending_cpu() {
        let clock = CpuClock::start(Some(std::process::id()));
        // Busy until this process has used 150 ms of CPU (the clocks move in
        // ticks of 10 ms), however loaded the machine is, for at most 20 s.
        let (started, cpu_at_start) = (std::time::Instant::now(), own_cpu_time());
        let mut state = 1u64;
        while own_cpu_time().saturating_sub(cpu_at_start) < Duration::from_millis(150) && started.elapsed() < Duration::from_secs(20) {
            for _ in 0..100_000 {
                state = std::hint::black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        let used = clock.read();
        assert!(used.process >= Duration::from_millis(100), "{used:?}");
        assert!(used.server.is_some_and(|server| server >= Duration::from_millis(100)), "{used:?}");
    }
}
