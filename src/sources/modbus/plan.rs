//! Request planning: the fewest read requests that fetch a device's points.
//!
//! Points are grouped by poll interval and function (register kind). Within a group, points
//! sorted by address are merged greedily into one request while the request stays within
//! the device's cap (registers or bits) and no run of unread addresses inside it exceeds
//! `max_gap`. Each point belongs to exactly one request.

use crate::config::{ModbusDeviceConfig, PointConfig, RegisterKind};

/// Protocol limits for one request: functions 03/04 (registers), 01/02 (bits).
pub const MAX_REGISTERS_PER_READ: u16 = 125;
pub const MAX_BITS_PER_READ: u16 = 2000;

/// One read request and the points it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    pub kind: RegisterKind,
    pub interval_ms: u64,
    pub start: u16,
    pub count: u16,
    /// Indices into the device's point list.
    pub points: Vec<usize>,
}

/// What limits a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_registers: u16,
    pub max_bits: u16,
    pub max_gap: u16,
}

impl Limits {
    pub fn of(device: &ModbusDeviceConfig) -> Self {
        Limits {
            max_registers: device.max_registers_per_request.min(MAX_REGISTERS_PER_READ),
            max_bits: device.max_bits_per_request.min(MAX_BITS_PER_READ),
            max_gap: device.max_gap,
        }
    }

    pub fn cap(&self, kind: RegisterKind) -> u32 {
        if kind.is_bits() {
            self.max_bits as u32
        } else {
            self.max_registers as u32
        }
    }
}

/// Plan the reads of one device.
pub fn plan_device(device: &ModbusDeviceConfig) -> Vec<ReadBlock> {
    let intervals: Vec<u64> = device.points.iter().map(|p| p.interval_ms(device)).collect();
    plan(&device.points, &intervals, Limits::of(device))
}

/// Plan reads for `points`, `intervals[i]` being point i's poll interval.
pub fn plan(points: &[PointConfig], intervals: &[u64], limits: Limits) -> Vec<ReadBlock> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (intervals[i], points[i].register, points[i].address, points[i].registers()));
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for i in order {
        let p = &points[i];
        let start = p.address as u32;
        let end = start + p.registers() as u32; // exclusive
        if let Some(b) = blocks.last_mut() {
            let b_end = b.start as u32 + b.count as u32;
            let new_count = end.max(b_end) - b.start as u32;
            if b.kind == p.register
                && b.interval_ms == intervals[i]
                && start <= b_end + limits.max_gap as u32
                && new_count <= limits.cap(p.register)
            {
                b.count = new_count as u16;
                b.points.push(i);
                continue;
            }
        }
        blocks.push(ReadBlock {
            kind: p.register,
            interval_ms: intervals[i],
            start: p.address,
            count: p.registers(),
            points: vec![i],
        });
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataType;
    use proptest::prelude::*;

    fn pt(kind: RegisterKind, address: u16, t: DataType) -> PointConfig {
        PointConfig::new(&format!("p{address}"), kind, address, t)
    }

    const WIDE: Limits = Limits { max_registers: 125, max_bits: 2000, max_gap: 0 };

    #[test]
    fn contiguous_points_share_a_request_and_kinds_never_mix() {
        use DataType::*;
        use RegisterKind::*;
        let pts = vec![
            pt(Holding, 2, F32),
            pt(Holding, 0, F32),
            pt(Input, 0, I16),
            pt(Holding, 4, U16),
            pt(Holding, 10, U16), // gap: separate request
            pt(Input, 1, U32),
            pt(Coil, 3, Bit),
            pt(Coil, 4, Bit),
        ];
        let blocks = plan(&pts, &[1000; 8], WIDE);
        let b = |kind, start, count, points: Vec<usize>| ReadBlock { kind, interval_ms: 1000, start, count, points };
        assert_eq!(
            blocks,
            vec![
                b(Coil, 3, 2, vec![6, 7]),
                b(Holding, 0, 5, vec![1, 0, 3]),
                b(Holding, 10, 1, vec![4]),
                b(Input, 0, 3, vec![2, 5]),
            ]
        );
        // Bridging the 5-register gap joins the two holding requests.
        let bridged = plan(&pts, &[1000; 8], Limits { max_gap: 5, ..WIDE });
        assert_eq!(bridged.len(), 3);
        // Different intervals never share a request: the 100 ms point splits the holding run.
        let mut intervals = [1000; 8];
        intervals[0] = 100;
        assert_eq!(plan(&pts, &intervals, WIDE).len(), 6);
    }

    #[test]
    fn requests_respect_the_protocol_limit_and_device_caps() {
        let pts: Vec<_> = (0..100).map(|i| pt(RegisterKind::Holding, i * 2, DataType::F32)).collect();
        let blocks = plan(&pts, &[1000; 100], WIDE);
        assert!(blocks.iter().all(|b| b.count <= MAX_REGISTERS_PER_READ));
        assert_eq!(blocks.len(), 2);
        let capped = plan(&pts, &[1000; 100], Limits { max_registers: 16, ..WIDE });
        assert_eq!(capped.len(), 13); // 200 registers, 16 per request
    }

    /// The fewest requests over all partitions of the address-sorted points into
    /// consecutive runs that fit (brute force, for small inputs).
    fn minimum(points: &[PointConfig], limits: Limits) -> usize {
        let mut idx: Vec<usize> = (0..points.len()).collect();
        idx.sort_by_key(|&i| (points[i].register, points[i].address, points[i].registers()));
        let n = idx.len();
        let fits = |a: usize, b: usize| -> bool {
            // Run idx[a..b] as one request.
            let first = &points[idx[a]];
            let mut end = first.address as u32 + first.registers() as u32;
            for &i in &idx[a + 1..b] {
                let p = &points[i];
                if p.register != first.register || p.address as u32 > end + limits.max_gap as u32 {
                    return false;
                }
                end = end.max(p.address as u32 + p.registers() as u32);
            }
            end - first.address as u32 <= limits.cap(first.register)
        };
        let mut best = vec![usize::MAX; n + 1];
        best[0] = 0;
        for b in 1..=n {
            for a in 0..b {
                if best[a] != usize::MAX && fits(a, b) {
                    best[b] = best[b].min(best[a] + 1);
                }
            }
        }
        best[n]
    }

    fn arb_point() -> impl Strategy<Value = PointConfig> {
        let kinds = prop_oneof![Just(RegisterKind::Holding), Just(RegisterKind::Input), Just(RegisterKind::Coil)];
        let types = prop_oneof![Just(DataType::U16), Just(DataType::F32), Just(DataType::F64)];
        (kinds, types, 0u16..300).prop_map(|(k, t, a)| {
            let t = if k.is_bits() { DataType::Bit } else { t };
            pt(k, a, t)
        })
    }

    proptest! {
        #[test]
        fn every_point_once_within_limits_and_minimal(
            points in prop::collection::vec(arb_point(), 1..14),
            max_registers in 4u16..=125,
            max_bits in 4u16..=64,
            max_gap in 0u16..12,
        ) {
            let limits = Limits { max_registers, max_bits, max_gap };
            let intervals = vec![1000; points.len()];
            let blocks = plan(&points, &intervals, limits);
            let mut seen = vec![0; points.len()];
            for b in &blocks {
                prop_assert!(b.count as u32 <= limits.cap(b.kind), "{b:?} over the cap");
                let mut covered_to = b.start as u32;
                for &i in &b.points {
                    let p = &points[i];
                    seen[i] += 1;
                    prop_assert_eq!(p.register, b.kind);
                    let (s, e) = (p.address as u32, p.address as u32 + p.registers() as u32);
                    prop_assert!(s >= b.start as u32 && e <= b.start as u32 + b.count as u32, "point {i} outside {b:?}");
                    prop_assert!(s <= covered_to + max_gap as u32, "a gap over {max_gap} inside {b:?}");
                    covered_to = covered_to.max(e);
                }
                prop_assert_eq!(covered_to, b.start as u32 + b.count as u32, "request reads past its last point");
            }
            prop_assert!(seen.iter().all(|&n| n == 1), "coverage {seen:?}");
            prop_assert_eq!(blocks.len(), minimum(&points, limits));
        }
    }
}
