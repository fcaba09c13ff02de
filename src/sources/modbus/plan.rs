//! Read planning: which requests fetch a device's points. For now, points of the same
//! register kind whose registers touch or overlap are merged into one request of at most
//! 125 registers; the full planner (gaps, per-device caps, intervals) replaces this later.

use crate::config::{PointConfig, RegisterKind};

/// Protocol limit for function codes 03 and 04.
pub const MAX_REGISTERS_PER_READ: u16 = 125;

/// One read request and the points it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    pub kind: RegisterKind,
    pub start: u16,
    pub count: u16,
    /// Indices into the device's point list.
    pub points: Vec<usize>,
}

/// Plan the reads for a device's points.
pub fn plan(points: &[PointConfig]) -> Vec<ReadBlock> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].register, points[i].address));
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for i in order {
        let p = &points[i];
        let end = p.address as u32 + p.data_type.registers() as u32; // exclusive
        if let Some(b) = blocks.last_mut() {
            let b_end = b.start as u32 + b.count as u32;
            let new_count = end.max(b_end) - b.start as u32;
            if b.kind == p.register && p.address as u32 <= b_end && new_count <= MAX_REGISTERS_PER_READ as u32 {
                b.count = new_count as u16;
                b.points.push(i);
                continue;
            }
        }
        blocks.push(ReadBlock { kind: p.register, start: p.address, count: p.data_type.registers(), points: vec![i] });
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataType;

    fn pt(kind: RegisterKind, address: u16, t: DataType) -> PointConfig {
        PointConfig::new(&format!("p{address}"), kind, address, t)
    }

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
        ];
        let blocks = plan(&pts);
        assert_eq!(
            blocks,
            vec![
                ReadBlock { kind: Holding, start: 0, count: 5, points: vec![1, 0, 3] },
                ReadBlock { kind: Holding, start: 10, count: 1, points: vec![4] },
                ReadBlock { kind: Input, start: 0, count: 3, points: vec![2, 5] },
            ]
        );
    }

    #[test]
    fn requests_respect_the_protocol_limit() {
        let pts: Vec<_> = (0..100).map(|i| pt(RegisterKind::Holding, i * 2, DataType::F32)).collect();
        let blocks = plan(&pts);
        assert!(blocks.iter().all(|b| b.count <= MAX_REGISTERS_PER_READ));
        assert_eq!(blocks.iter().map(|b| b.points.len()).sum::<usize>(), 100);
        assert_eq!(blocks.len(), 2);
    }
}
