//! Batched scoring on edgecite's own inference threads. Before each evaluation pass the daemon
//! computes the features of every asset of each model's class (cheap, on the loop), then runs
//! one session call per model with all of them as one batch on the inference threads, so the
//! async runtime's workers never wait for ONNX Runtime. The scores are kept with the features
//! they belong to; the model criterion takes its asset's score from there, and scores on its
//! own only when the features differ (e.g. a model loaded between prescoring and evaluation).
//!
//! The inference threads are `permits()` plain threads (one core fewer than the machine has)
//! running at a lower CPU priority (`WORKER_NICE`): a long batch then yields the core at once
//! when an acquisition or API task wakes, instead of holding it for a scheduler slice.

use super::{InferenceError, Model};
use crate::pipeline::Pipeline;
use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex, OnceLock};

/// The Linux nice value of the inference threads: 10 steps below the daemon's other threads,
/// whose async workers and acquisition then win the CPU whenever they are ready to run. On a
/// machine with spare cores it changes nothing; inference only waits when the cores are busy.
pub const WORKER_NICE: i32 = 10;

/// Session runs allowed at once: one core fewer than the machine has (at least one), so
/// inference can never take every core from the async runtime.
pub fn permits() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).saturating_sub(1).max(1)
}

type Job = Box<dyn FnOnce() + Send>;

/// The job queue of the inference threads, started on first use.
fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..permits() {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("edgecite-infer-{i}")).spawn(move || {
                lower_priority();
                loop {
                    // Hold the lock only while taking a job, not while running it.
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an inference thread");
            }
        }
        tracing::info!(threads = permits(), nice = WORKER_NICE, "inference threads started");
        Mutex::new(tx)
    })
}

/// Lower the calling thread's priority to nice `WORKER_NICE` (Linux: nice is per thread); a
/// daemon the operator already started nicer than that keeps its own value.
fn lower_priority() {
    // SAFETY: gettid, getpriority and setpriority take no pointers and act on the calling thread.
    let rc = unsafe {
        let tid = libc::gettid() as libc::id_t;
        let own = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, WORKER_NICE.max(own))
    };
    if rc != 0 {
        tracing::warn!(
            nice = WORKER_NICE,
            error = %std::io::Error::last_os_error(),
            "cannot lower the inference thread's priority; a long batch may delay acquisition by up to a scheduler slice"
        );
    }
}

/// Run `f` on an inference thread and wait for its result without blocking the async runtime.
/// Err says why it did not run to its end (it panicked, or no inference thread is running).
pub async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
            let why = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
            format!("the run panicked: {}", why.unwrap_or_else(|| "no message".into()))
        });
        let _ = tx.send(out);
    });
    let no_thread = || "no inference thread is running (see the log for why it could not start)".to_string();
    pool().lock().unwrap_or_else(|p| p.into_inner()).send(job).map_err(|_| no_thread())?;
    rx.await.map_err(|_| no_thread())?
}

/// Score `rows` feature vectors on the inference threads (at most `permits()` runs at a time).
pub async fn score_blocking(model: Arc<Model>, features: Vec<f32>, rows: usize) -> Result<Vec<f32>, InferenceError> {
    let name = model.manifest.name.clone();
    run(move || model.score_batch(&features, rows))
        .await
        .unwrap_or_else(|message| Err(InferenceError::Run { model: name, message }))
}

/// Scores computed ahead of an evaluation pass, per asset.
#[derive(Debug, Default)]
pub struct Prescored {
    /// Asset id -> (evaluation time, the features scored, the score).
    by_asset: Mutex<HashMap<String, Scored>>,
}

type Scored = (i64, Vec<f32>, f32);

impl Prescored {
    fn put(&self, asset: String, now_ms: i64, features: Vec<f32>, score: f32) {
        self.by_asset.lock().unwrap_or_else(|p| p.into_inner()).insert(asset, (now_ms, features, score));
    }

    /// The prescored value for exactly these features at this time, taken out.
    pub fn take(&self, asset: &str, now_ms: i64, features: &[f32]) -> Option<f32> {
        let mut m = self.by_asset.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(asset) {
            Some((t, f, _)) if *t == now_ms && f == features => m.remove(asset).map(|(_, _, s)| s),
            _ => None,
        }
    }
}

/// Feature batches for each model: `(model, asset ids, features row after row)`.
pub fn collect(models: &[Arc<Model>], pipeline: &Pipeline, now_ms: i64) -> Vec<(Arc<Model>, Vec<String>, Vec<f32>)> {
    let mut out = Vec::new();
    for m in models {
        let (mut ids, mut flat) = (Vec::new(), Vec::new());
        for a in pipeline.assets().iter().filter(|a| a.class == m.manifest.asset_class) {
            if let Ok(f) = m.features(a, now_ms) {
                ids.push(a.id.clone());
                flat.extend(f.values);
            }
        }
        if !ids.is_empty() {
            out.push((m.clone(), ids, flat));
        }
    }
    out
}

/// Run one batch per model on the inference threads (see `permits`) and keep the scores
/// for the criteria. Returns the number of rows scored.
pub async fn prescore(models: &[Arc<Model>], pipeline: &Pipeline, now_ms: i64) -> usize {
    let batches = collect(models, pipeline, now_ms);
    let mut rows = 0;
    for (model, ids, flat) in batches {
        let n = model.manifest.features.len();
        match score_blocking(model.clone(), flat.clone(), ids.len()).await {
            Ok(scores) => {
                rows += scores.len();
                for ((id, f), s) in ids.into_iter().zip(flat.chunks(n)).zip(scores) {
                    model.prescored.put(id, now_ms, f.to_vec(), s);
                }
            }
            // The criterion scores on its own, gets the same error, and abstains with it.
            Err(e) => tracing::warn!(model = %model.manifest.name, error = %e, "batched inference failed"),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> i32 {
        // SAFETY: as in lower_priority; getpriority may return -1 legitimately, errno is unused here.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[tokio::test]
    async fn jobs_run_on_named_threads_at_the_lower_priority() {
        let own = nice_of_this_thread();
        let (name, nice) =
            run(|| (std::thread::current().name().map(str::to_string), nice_of_this_thread())).await.unwrap();
        assert!(name.unwrap_or_default().starts_with("edgecite-infer-"));
        // Raised to WORKER_NICE unless the test itself already runs nicer than that.
        assert_eq!(nice, WORKER_NICE.max(own), "the inference thread's nice value");
        assert_eq!(nice_of_this_thread(), own, "the caller's priority is untouched");
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_threads_go_on() {
        for _ in 0..=permits() {
            let e = run(|| -> u32 { panic!("bad tensor") }).await.unwrap_err();
            assert!(e.contains("panicked: bad tensor"), "{e}");
        }
        assert_eq!(run(|| 6 * 7).await, Ok(42));
    }
}
