//! Alarm outputs of the gateway: relays and beacons on GPIO lines, driven by the worst
//! severity among open findings through a configurable mapping, and a heartbeat LED that
//! the evaluation loop toggles. Written against embedded-hal 1.0 `OutputPin`
//! (linux-embedded-hal's `CdevPin` on the gateway).

use crate::diagnose::Severity;
use embedded_hal::digital::OutputPin;

/// One output and the lowest severity that switches it on.
pub struct AlarmOutput<P> {
    pub name: String,
    pub pin: P,
    pub min_severity: Severity,
    on: Option<bool>,
}

impl<P: OutputPin> AlarmOutput<P> {
    pub fn new(name: &str, pin: P, min_severity: Severity) -> Self {
        AlarmOutput { name: name.into(), pin, min_severity, on: None }
    }
}

pub struct Alarms<P> {
    pub outputs: Vec<AlarmOutput<P>>,
    heartbeat: Option<(P, bool)>,
}

impl<P: OutputPin> Alarms<P> {
    pub fn new(outputs: Vec<AlarmOutput<P>>, heartbeat: Option<P>) -> Self {
        Alarms { outputs, heartbeat: heartbeat.map(|p| (p, false)) }
    }

    /// Drive every output from the worst open severity (`None`: no open finding). Pins are
    /// written only when their state changes. Returns the outputs that failed.
    pub fn apply(&mut self, worst: Option<Severity>) -> Vec<(String, P::Error)> {
        let mut failed = Vec::new();
        for o in &mut self.outputs {
            let want = worst.is_some_and(|w| w >= o.min_severity);
            if o.on == Some(want) {
                continue;
            }
            let r = if want { o.pin.set_high() } else { o.pin.set_low() };
            match r {
                Ok(()) => {
                    tracing::info!(output = %o.name, on = want, worst = worst.map(|w| w.as_str()).unwrap_or("none"), "alarm output switched");
                    o.on = Some(want);
                }
                Err(e) => failed.push((o.name.clone(), e)),
            }
        }
        failed
    }

    /// Toggle the heartbeat LED (called once per evaluation: a stalled loop stops blinking).
    pub fn beat(&mut self) -> Result<(), P::Error> {
        if let Some((pin, state)) = &mut self.heartbeat {
            *state = !*state;
            if *state {
                pin.set_high()?
            } else {
                pin.set_low()?
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    #[test]
    fn outputs_follow_the_worst_open_severity_and_change_only_when_needed() {
        use Severity::*;
        // Relay from `high`, beacon only for `critical`.
        let relay = Mock::new(&[
            Transaction::set(State::Low),  // nothing open
            Transaction::set(State::High), // high
            Transaction::set(State::Low),  // cleared
        ]);
        let beacon = Mock::new(&[
            Transaction::set(State::Low),  // nothing open
            Transaction::set(State::High), // critical
            Transaction::set(State::Low),  // back to high
        ]);
        let led =
            Mock::new(&[Transaction::set(State::High), Transaction::set(State::Low), Transaction::set(State::High)]);
        let (mut r, mut b, mut l) = (relay.clone(), beacon.clone(), led.clone());
        let mut alarms = Alarms::new(
            vec![AlarmOutput::new("relay", relay, High), AlarmOutput::new("beacon", beacon, Critical)],
            Some(led),
        );
        for worst in [None, None, Some(Medium), Some(High), Some(Critical), Some(High), Some(High), None] {
            assert!(alarms.apply(worst).is_empty());
        }
        for _ in 0..3 {
            alarms.beat().unwrap();
        }
        drop(alarms);
        r.done();
        b.done();
        l.done();
    }

    #[test]
    fn a_failing_output_is_reported_and_retried() {
        use embedded_hal_mock::eh1::MockError;
        let pin = Mock::new(&[
            Transaction::set(State::High).with_error(MockError::Io(std::io::ErrorKind::PermissionDenied)),
            Transaction::set(State::High),
        ]);
        let mut p = pin.clone();
        let mut alarms = Alarms::new(vec![AlarmOutput::new("relay", pin, Severity::Low)], None);
        let failed = alarms.apply(Some(Severity::Critical));
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "relay");
        // Not marked as switched, so the next evaluation tries again.
        assert!(alarms.apply(Some(Severity::Critical)).is_empty());
        drop(alarms);
        p.done();
    }
}
