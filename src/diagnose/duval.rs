//! Duval Triangle 1 (IEC 60599:2022 Annex B; IEEE C57.104-2019 Table 6) on CH4, C2H4, C2H2:
//! a reference implementation in code. The shipped criterion is declared in the
//! `transformer-dga` pack; a property test checks that the pack's regions agree with `zone`.
//!
//! Edge convention (recorded in the cited passage too): a lower bound is inclusive (>=), an
//! upper bound exclusive (<); zones are tested in the order PD, T1, T2, T3, D1, D2, and the
//! remaining area is DT.
//!
//! Domain of validity: the triangle is applied only when at least one of the three gases is
//! above its IEC 60599 Table A.2 typical value (strictly greater); while a finding is open it
//! keeps being applied until all three are below 90 % of those values (hysteresis). Below
//! that the criterion abstains with `below_applicability`, citing the typical values.

pub const ID: &str = "iec60599.duval_triangle_1";
pub const ROLES: [&str; 3] = ["ch4", "c2h4", "c2h2"];
/// IEC 60599:2022 Table A.2, 90 % typical values in ppm: CH4, C2H4, C2H2 (no communicating OLTC).
pub const TYPICAL_PPM: [f64; 3] = [130.0, 280.0, 20.0];
/// An open finding stays applicable until every gas is below this fraction of typical.
pub const CLEAR_FRACTION: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    PD,
    T1,
    T2,
    T3,
    D1,
    D2,
    DT,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::PD => "PD",
            Zone::T1 => "T1",
            Zone::T2 => "T2",
            Zone::T3 => "T3",
            Zone::D1 => "D1",
            Zone::D2 => "D2",
            Zone::DT => "DT",
        }
    }
}

/// Percentages of CH4, C2H4 and C2H2 in their sum, or `None` if the sum is not positive.
pub fn percentages(ch4: f64, c2h4: f64, c2h2: f64) -> Option<[f64; 3]> {
    let sum = ch4 + c2h4 + c2h2;
    if !(sum > 0.0) || ch4 < 0.0 || c2h4 < 0.0 || c2h2 < 0.0 {
        return None;
    }
    Some([100.0 * ch4 / sum, 100.0 * c2h4 / sum, 100.0 * c2h2 / sum])
}

/// The zone of a point given as percentages (CH4, C2H4, C2H2).
pub fn zone(pct: [f64; 3]) -> Zone {
    let [ch4, c2h4, c2h2] = pct;
    if ch4 >= 98.0 {
        Zone::PD
    } else if c2h4 < 20.0 && c2h2 < 4.0 {
        Zone::T1
    } else if (20.0..50.0).contains(&c2h4) && c2h2 < 4.0 {
        Zone::T2
    } else if c2h4 >= 50.0 && c2h2 < 15.0 {
        Zone::T3
    } else if c2h4 < 23.0 && c2h2 >= 13.0 {
        Zone::D1
    } else if (c2h4 >= 23.0 && c2h2 >= 29.0) || ((23.0..40.0).contains(&c2h4) && (13.0..29.0).contains(&c2h2)) {
        Zone::D2
    } else {
        Zone::DT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every band edge from criteria.md A1 (Duval Triangle 1), on both sides, as
    /// (%CH4, %C2H4, %C2H2) -> zone. Points need not sum to 100: `zone` reads the
    /// percentages as given, which lets each edge be tested on its own.
    #[test]
    fn band_edges() {
        use Zone::*;
        let e = 1e-9;
        let cases: &[([f64; 3], Zone, &str)] = &[
            // PD: CH4 >= 98
            ([98.0, 1.0, 1.0], PD, "CH4 = 98 is PD (>=)"),
            ([98.0 - e, 1.0, 1.0], T1, "CH4 just below 98 falls to T1"),
            // T1: C2H4 < 20 and C2H2 < 4
            ([60.0, 20.0 - e, 3.0], T1, "C2H4 just below 20 is T1"),
            ([60.0, 20.0, 3.0], T2, "C2H4 = 20 is T2"),
            ([60.0, 10.0, 4.0 - e], T1, "C2H2 just below 4 is T1"),
            ([60.0, 10.0, 4.0], DT, "C2H2 = 4 leaves T1; C2H4 < 23 and C2H2 < 13 is DT"),
            // T2: 20 <= C2H4 < 50, C2H2 < 4
            ([40.0, 50.0 - e, 3.0], T2, "C2H4 just below 50 is T2"),
            ([40.0, 50.0, 3.0], T3, "C2H4 = 50 is T3"),
            ([40.0, 30.0, 4.0 - e], T2, "C2H2 just below 4 is T2"),
            ([40.0, 30.0, 4.0], DT, "C2H2 = 4 with C2H4 30 is neither T2 nor D2 (C2H2 < 13): DT"),
            // T3: C2H4 >= 50, C2H2 < 15
            ([30.0, 60.0, 15.0 - e], T3, "C2H2 just below 15 is T3"),
            ([30.0, 60.0, 15.0], DT, "C2H2 = 15 with C2H4 60 and C2H2 < 29 is DT"),
            // D1: C2H4 < 23, C2H2 >= 13
            ([50.0, 23.0 - e, 13.0], D1, "C2H2 = 13 with C2H4 just below 23 is D1"),
            ([50.0, 22.0, 13.0 - e], DT, "C2H2 just below 13 (and >= 4) is DT"),
            ([40.0, 23.0, 20.0], D2, "C2H4 = 23 with C2H2 in 13..29 is D2"),
            // D2: (C2H4 >= 23 and C2H2 >= 29) or (23 <= C2H4 < 40 and 13 <= C2H2 < 29)
            ([20.0, 23.0, 29.0], D2, "C2H4 = 23, C2H2 = 29 is D2"),
            ([20.0, 60.0, 29.0], D2, "C2H4 60, C2H2 = 29 is D2"),
            ([20.0, 60.0, 29.0 - e], DT, "C2H4 60 with C2H2 just below 29 is DT"),
            ([40.0, 40.0 - e, 13.0], D2, "C2H4 just below 40 with C2H2 = 13 is D2"),
            ([40.0, 40.0, 13.0], DT, "C2H4 = 40 with C2H2 13 is DT"),
            ([40.0, 30.0, 13.0], D2, "C2H2 = 13 with C2H4 30 is D2"),
            ([40.0, 30.0, 13.0 - e], DT, "C2H2 just below 13 with C2H4 30 is DT"),
            ([20.0, 23.0 - e, 29.0], D1, "C2H4 just below 23 with C2H2 29 is D1"),
        ];
        for (pct, want, why) in cases {
            assert_eq!(zone(*pct), *want, "{why}: {pct:?}");
        }
    }

    #[test]
    fn percentages_of_ppm() {
        let p = percentages(100.0, 300.0, 100.0).unwrap();
        assert_eq!(p, [20.0, 60.0, 20.0]);
        assert_eq!(zone(p), Zone::DT);
        assert_eq!(percentages(0.0, 0.0, 0.0), None);
        assert_eq!(percentages(-1.0, 5.0, 5.0), None);
        // A developed thermal fault as the simulator produces it: T3.
        assert_eq!(zone(percentages(400.0, 600.0, 2.0).unwrap()), Zone::T3);
    }
}
