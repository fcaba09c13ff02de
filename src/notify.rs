//! systemd's notify protocol (sd_notify): READY when the daemon runs, WATCHDOG pings from
//! its main loop, STOPPING on shutdown. Without `NOTIFY_SOCKET` (not under systemd) every
//! call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

pub struct Notifier {
    socket: Option<(UnixDatagram, std::path::PathBuf)>,
    watchdog: Option<Duration>,
    last_ping: Option<Instant>,
}

impl Notifier {
    /// From the environment systemd sets: `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|p| {
            let path = std::path::PathBuf::from(p);
            if path.to_string_lossy().starts_with('@') {
                tracing::warn!(
                    "NOTIFY_SOCKET is an abstract socket, which edgecite does not support; not notifying systemd"
                );
                return None;
            }
            UnixDatagram::unbound().ok().map(|s| (s, path))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|us| *us > 0 && for_us)
            .map(Duration::from_micros);
        Notifier { socket, watchdog, last_ping: None }
    }

    fn send(&self, msg: &str) {
        if let Some((s, path)) = &self.socket {
            if let Err(e) = s.send_to(msg.as_bytes(), path) {
                tracing::warn!(error = %e, socket = %path.display(), "cannot notify systemd");
            }
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}\nMAINPID={}\n", std::process::id()));
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping\n");
    }

    /// A deploy: the daemon assembles again in the same process; the next `ready` ends it.
    /// (Not STOPPING: systemd would take the service for one going away.)
    pub fn reloading(&self) {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let usec = ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000;
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=assembling again after a deploy\n"));
    }

    /// The interval at which the main loop should call [`Notifier::ping`], if a watchdog is set.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Tell systemd the main loop is alive; sent at most every half watchdog period.
    pub fn ping(&mut self) {
        let Some(period) = self.watchdog else { return };
        if self.last_ping.is_some_and(|t| t.elapsed() < period / 2) {
            return;
        }
        self.send("WATCHDOG=1\n");
        self.last_ping = Some(Instant::now());
    }
}
