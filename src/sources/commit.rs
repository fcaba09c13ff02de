//! The one way samples reach the daemon loop: a [`Batch`] on the ingest channel. A source
//! that may acknowledge upstream only once its samples are stored (MQTT QoS 1 ingest) puts a
//! [`Commit`] in the batch; the loop commits the batch to SQLite (FULL sync when any batch of
//! the transaction carries a commit) and then calls [`Commit::done`], which tells the source
//! it may send its acknowledgement. Sources never touch the store.

use crate::sample::Sample;
use tokio::sync::mpsc;

/// The store's answer to one batch: call `done` after the transaction holding the samples
/// committed. Dropped without `done` (the daemon died or gave up), nothing is acknowledged
/// and the peer sends the data again.
#[derive(Debug)]
pub struct Commit {
    tx: mpsc::UnboundedSender<u64>,
    token: u64,
}

impl Commit {
    pub fn new(tx: mpsc::UnboundedSender<u64>, token: u64) -> Commit {
        Commit { tx, token }
    }

    pub fn done(self) {
        // The source may have stopped already; its peer then re-sends, which is safe.
        let _ = self.tx.send(self.token);
    }
}

/// Samples, and the commit they wait for when their source acknowledges upstream.
#[derive(Debug)]
pub struct Batch {
    pub samples: Vec<Sample>,
    pub commit: Option<Commit>,
}

/// Samples nobody upstream waits for (polled sources: Modbus, I2C).
impl From<Vec<Sample>> for Batch {
    fn from(samples: Vec<Sample>) -> Batch {
        Batch { samples, commit: None }
    }
}
