//! Samples whose arrival the daemon acknowledges to a peer (MQTT QoS 1 ingest): stored in a
//! transaction committed with `synchronous = FULL`, so an acknowledged message survives
//! power loss too, not only SIGKILL. The connection goes back to `NORMAL` afterwards; one
//! fsync per batch (the daemon loop groups every queued batch into one transaction).

use super::{Store, StoreError};
use crate::sample::Sample;

impl Store {
    /// `insert_samples`, durable against power loss when it returns.
    pub fn insert_samples_durable<'a>(
        &mut self,
        samples: impl IntoIterator<Item = &'a Sample>,
    ) -> Result<usize, StoreError> {
        self.insert_staged_durable(&samples.into_iter().collect())
    }

    /// `insert_staged`, durable against power loss when it returns.
    pub fn insert_staged_durable(&mut self, staged: &super::samples::Staged) -> Result<usize, StoreError> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let r = self.insert_staged(staged);
        let back = self.conn.pragma_update(None, "synchronous", "NORMAL");
        let n = r?;
        back?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_insert_stores_and_restores_normal() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("a.db")).unwrap();
        let x = Sample::good(crate::sample::PointId::from("m.x"), 5, 1.5);
        assert_eq!(s.insert_samples_durable([&x]).unwrap(), 1);
        assert_eq!(s.samples("m.x", 0, 10).unwrap().len(), 1);
        let sync: i64 = s.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 1, "back to NORMAL");
    }
}
