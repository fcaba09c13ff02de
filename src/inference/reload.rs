//! Hot reload: on SIGHUP (and, with `[inference] watch_ms`, when a file under the models
//! directory changes and then stays unchanged for one more poll) the configured models are
//! loaded again on the blocking pool and
//! handed to the daemon loop, which swaps them in between two evaluations. The pipeline's
//! windows and the samples in flight are untouched, so nothing is dropped; a model that now
//! fails to load is reported and its criterion abstains, the others run.

use super::Loaded;
use crate::config::inference::InferenceConfig;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Size and modification time of every file in every model directory: a change means the
/// models on disk changed.
pub fn fingerprint(models_dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(models_dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            if let Ok(m) = f.metadata() {
                out.push((f.path(), m.len(), m.modified().ok()));
            }
        }
    }
    out.sort();
    out
}

/// Start the SIGHUP listener (and the models-directory watcher when `watch_ms > 0`); each
/// trigger yields one freshly loaded model set.
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
        let watching = cfg.watch_ms > 0;
        let mut poll = tokio::time::interval(std::time::Duration::from_millis(cfg.watch_ms.max(100)));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let dir = cfg.models_dir.clone();
        let fp = move || {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || fingerprint(&d))
        };
        let mut loaded_fp = if watching { fp().await.unwrap_or_default() } else { Vec::new() };
        let mut pending: Option<Vec<_>> = None;
        loop {
            let why = tokio::select! {
                _ = cancel.cancelled() => return,
                got = hup.recv() => if got.is_none() { return } else { "SIGHUP" },
                _ = poll.tick(), if watching => {
                    let now = fp().await.unwrap_or_default();
                    // Reload once a change has held still for a whole poll (copies finished).
                    let settled = pending.as_ref() == Some(&now);
                    if now == loaded_fp {
                        pending = None;
                        continue;
                    }
                    if !settled {
                        pending = Some(now);
                        continue;
                    }
                    "models directory changed"
                }
            };
            if watching {
                loaded_fp = fp().await.unwrap_or_default();
                pending = None;
            }
            tracing::info!(models_dir = %cfg.models_dir.display(), trigger = why, "reloading models");
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
