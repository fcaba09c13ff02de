//! Hot reload: on SIGHUP the configured models are loaded again on the blocking pool and
//! handed to the daemon loop, which swaps them in between two evaluations. The pipeline's
//! windows and the samples in flight are untouched, so nothing is dropped; a model that now
//! fails to load is reported and its criterion abstains, the others run.

use super::Loaded;
use crate::config::InferenceConfig;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Start the SIGHUP listener; each signal yields one freshly loaded model set.
pub fn on_sighup(cfg: InferenceConfig, cancel: CancellationToken) -> mpsc::Receiver<Loaded> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot install the SIGHUP handler; model hot reload is off");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            tracing::info!(models_dir = %cfg.models_dir.display(), "SIGHUP: reloading models");
            let c = cfg.clone();
            let loaded = match tokio::task::spawn_blocking(move || super::load_configured(&c)).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "model reload task failed; keeping the running models");
                    continue;
                }
            };
            if tx.send(loaded).await.is_err() {
                return;
            }
        }
    });
    rx
}
