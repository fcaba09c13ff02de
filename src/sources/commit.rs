//! Samples a source may only acknowledge upstream once they are stored (MQTT QoS 1 ingest).
//! The source sends a [`Durable`] batch; the daemon loop commits it to SQLite and then calls
//! [`Commit::done`], which tells the source it may send its acknowledgement. Sources still
//! never touch the store; they only learn that a batch of theirs is committed.

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

/// Samples with the commit they wait for.
#[derive(Debug)]
pub struct Durable {
    pub samples: Vec<Sample>,
    pub commit: Commit,
}
