//! ISO 10816-3:2009 (now ISO 20816-3:2022) evaluation zones of broadband RMS vibration
//! velocity, by machine group and foundation: a reference implementation in code. The
//! shipped criterion is declared in the `rotating` pack; a test checks the pack's bands
//! against `boundaries`.
//!
//! Edge convention (recorded in the cited passages): a boundary value belongs to the higher
//! zone, e.g. group 2 rigid: A < 1.4 <= B < 2.8 <= C < 4.5 <= D (mm/s).
//! Hysteresis: while a finding is open the boundaries are 5 % lower, so a value hovering
//! at a boundary does not open and clear the finding over and over.
//! Status (criteria.md A2): group 2 rigid is V2 (verified); the other three are V1 and are
//! cited as secondary.

use crate::config::assets::{Foundation, MachineGroup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Zone {
    A,
    B,
    C,
    D,
}

/// Zone boundaries A/B, B/C, C/D in mm/s (criteria.md A2).
pub fn boundaries(group: MachineGroup, foundation: Foundation) -> [f64; 3] {
    match (group, foundation) {
        (MachineGroup::Group1, Foundation::Rigid) => [2.3, 4.5, 7.1],
        (MachineGroup::Group1, Foundation::Flexible) => [3.5, 7.1, 11.0],
        (MachineGroup::Group2, Foundation::Rigid) => [1.4, 2.8, 4.5],
        (MachineGroup::Group2, Foundation::Flexible) => [2.3, 4.5, 7.1],
    }
}

/// The zone of a velocity, boundary values belonging to the higher zone.
pub fn zone(v: f64, b: [f64; 3]) -> Zone {
    if v < b[0] {
        Zone::A
    } else if v < b[1] {
        Zone::B
    } else if v < b[2] {
        Zone::C
    } else {
        Zone::D
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Foundation::*;
    use MachineGroup::*;

    /// Every boundary of criteria.md A2, on both sides, for every group and foundation.
    #[test]
    fn band_edges() {
        let table = [
            (Group1, Rigid, [2.3, 4.5, 7.1]),
            (Group1, Flexible, [3.5, 7.1, 11.0]),
            (Group2, Rigid, [1.4, 2.8, 4.5]),
            (Group2, Flexible, [2.3, 4.5, 7.1]),
        ];
        for (g, f, want) in table {
            let b = boundaries(g, f);
            assert_eq!(b, want, "{g:?} {f:?}");
            let below = |x: f64| x - 1e-9;
            assert_eq!(zone(0.0, b), Zone::A);
            assert_eq!(zone(below(b[0]), b), Zone::A, "{g:?} {f:?} below A/B");
            assert_eq!(zone(b[0], b), Zone::B, "{g:?} {f:?} at A/B belongs to B");
            assert_eq!(zone(below(b[1]), b), Zone::B);
            assert_eq!(zone(b[1], b), Zone::C, "{g:?} {f:?} at B/C belongs to C");
            assert_eq!(zone(below(b[2]), b), Zone::C);
            assert_eq!(zone(b[2], b), Zone::D, "{g:?} {f:?} at C/D belongs to D");
            assert_eq!(zone(100.0, b), Zone::D);
        }
    }
}
