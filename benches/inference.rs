//! Inference benchmark harness (prints numbers; no thresholds). For each shipped model:
//! per-inference latency and throughput through edgecite (`Model::score_batch`: tensor,
//! session lock, run, extraction, stats) and through a bare `ort` session (the difference is
//! edgecite's overhead per inference), and through Python onnxruntime on the same machine in
//! the same run (benches/ort_python.py); a batch-size curve; memory per loaded session (RSS
//! growth over 20 sessions); and the async runtime's scheduling delay (a 1 ms probe task)
//! while models run on the blocking pool, compared with running them inline on a worker.
//!
//!   source scripts/setup.sh && cargo bench --bench inference
//!
//! Under `cargo test --benches` it runs as a short smoke (tiny counts, Python skipped).

use edgecite::inference::{self, Model};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
#[repr(align(64))]
struct Aligned(#[allow(dead_code)] [f32; 16]);

const BATCHES: [usize; 6] = [1, 8, 64, 256, 1024, 4096];

struct Lat {
    p50_us: f64,
    p99_us: f64,
}

fn measure(rows: usize, iters: usize, mut f: impl FnMut()) -> Lat {
    for _ in 0..iters.min(200) {
        f();
    }
    let mut v: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / 1e3
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let _ = rows;
    Lat { p50_us: v[iters / 2], p99_us: v[(iters * 99 / 100).min(iters - 1)] }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4
}

fn mid_row(m: &Model) -> Vec<f32> {
    m.manifest.features.iter().map(|f| ((f.valid_min + f.valid_max) / 2.0) as f32).collect()
}

fn python(dir: &Path, iters: usize) -> Option<serde_json::Value> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ort_python.py");
    let batches: Vec<String> = BATCHES.iter().map(|b| b.to_string()).collect();
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(dir)
        .arg(iters.to_string())
        .arg(batches.join(","))
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("python side failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Probe: a plain thread sends a timestamp every 1 ms through a tokio channel; an async task
/// receives them and records how long each waited to be scheduled, while `load` (if any)
/// runs batches back to back on as many tasks as the runtime has workers.
fn probe_delay(load: Option<(bool, Arc<Model>, usize)>, dur: Duration) -> (f64, f64, f64, usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let s1 = stop.clone();
        let ticker = std::thread::spawn(move || {
            while !s1.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                let _ = tx.send(Instant::now());
            }
        });
        let probe = tokio::spawn(async move {
            let mut late = Vec::new();
            while let Some(t) = rx.recv().await {
                late.push(t.elapsed().as_secs_f64() * 1e3);
            }
            late
        });
        let mut workers = Vec::new();
        if let Some((inline, model, rows)) = load {
            let row = mid_row(&model);
            let flat: Vec<f32> = row.iter().copied().cycle().take(row.len() * rows).collect();
            for _ in 0..2 {
                let (m, f, stop) = (model.clone(), flat.clone(), stop.clone());
                workers.push(tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        if inline {
                            m.score_batch(&f, rows).unwrap();
                        } else {
                            inference::batch::score_blocking(m.clone(), f.clone(), rows).await.unwrap();
                        }
                        n += 1;
                        tokio::task::yield_now().await;
                    }
                    n
                }));
            }
        }
        tokio::time::sleep(dur).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut runs = 0;
        for w in workers {
            runs += w.await.unwrap();
        }
        ticker.join().unwrap();
        let mut late = probe.await.unwrap();
        late.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = late.len().max(1);
        (late[n / 2], late[(n * 99 / 100).min(n - 1)], *late.last().unwrap_or(&0.0), runs)
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let iters = if full { 20_000 } else { 50 };
    // ORT_DYLIB_PATH, else the standard places (inference::runtime_candidates).
    let lib = inference::init_runtime(None).expect("ONNX Runtime: source scripts/setup.sh (sets ORT_DYLIB_PATH)");
    let lib = lib.display().to_string();
    let dirs: Vec<PathBuf> = inference::model_dirs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
    println!("inference bench ({}; ORT {lib})", if full { "full" } else { "smoke" });
    for dir in &dirs {
        let model = Arc::new(Model::load(dir).unwrap());
        let name = model.manifest.name.clone();
        let row = mid_row(&model);
        let n = row.len();
        // A bare ort session on the same bytes, same options.
        let bytes = std::fs::read(dir.join(&model.manifest.file)).unwrap();
        let mut bare = ort::session::Session::builder(inference::environment().unwrap())
            .unwrap()
            .with_intra_threads(1)
            .unwrap()
            .commit_from_memory(&bytes)
            .unwrap();
        let (inp, outp) = (model.manifest.input.name.clone(), model.manifest.output.name.clone());
        let py = if full { python(dir, iters) } else { None };
        println!("\n{name} {} ({n} features) on {}", model.manifest.version, model.provider);
        println!("  medians (p50) in us; rows/s = batch / p50; overhead = edgecite p50 - bare ort p50");
        println!(
            "{:>6} | {:>9} {:>9} {:>11} | {:>9} {:>9} {:>9} | {:>9} {:>9} {:>11}",
            "batch", "edgecite", "p99", "rows/s", "bare ort", "aligned", "overhead", "python", "p99", "rows/s"
        );
        for b in BATCHES {
            let flat: Vec<f32> = row.iter().copied().cycle().take(n * b).collect();
            let k = (iters / b).max(if full { 200 } else { 5 });
            let e = measure(b, k, || {
                model.score_batch(&flat, b).unwrap();
            });
            let r = measure(b, k, || {
                let t = ort::value::TensorRef::from_array_view(([b, n], &flat[..])).unwrap();
                let o = bare.run(ort::inputs![inp.as_str() => t]).unwrap();
                let (_, d) = o[outp.as_str()].try_extract_tensor::<f32>().unwrap();
                std::hint::black_box(d.len());
            });
            // The same bare run with the batch in a 64-byte aligned buffer (numpy aligns its arrays).
            let mut aligned: Vec<Aligned> = vec![Aligned([0.0; 16]); (n * b).div_ceil(16)];
            let view: &mut [f32] =
                unsafe { std::slice::from_raw_parts_mut(aligned.as_mut_ptr() as *mut f32, aligned.len() * 16) };
            view[..n * b].copy_from_slice(&flat);
            let view = &view[..n * b];
            let ra = measure(b, k, || {
                let t = ort::value::TensorRef::from_array_view(([b, n], view)).unwrap();
                let o = bare.run(ort::inputs![inp.as_str() => t]).unwrap();
                let (_, d) = o[outp.as_str()].try_extract_tensor::<f32>().unwrap();
                std::hint::black_box(d.len());
            });
            let (pm, pp) = py
                .as_ref()
                .and_then(|p| p.get(b.to_string()))
                .map(|p| (p["p50_us"].as_f64().unwrap(), p["p99_us"].as_f64().unwrap()))
                .unwrap_or((f64::NAN, f64::NAN));
            println!(
                "{b:>6} | {:>9.2} {:>9.2} {:>11.0} | {:>9.2} {:>9.2} {:>9.2} | {:>9.2} {:>9.2} {:>11.0}",
                e.p50_us,
                e.p99_us,
                b as f64 / e.p50_us * 1e6,
                r.p50_us,
                ra.p50_us,
                e.p50_us - r.p50_us,
                pm,
                pp,
                b as f64 / pm * 1e6
            );
        }
        let snap = model.stats.snapshot();
        println!("  edgecite histogram: {} runs, p50 <= {} us, p99 <= {} us", snap.runs, snap.p50_us, snap.p99_us);
    }

    // Memory per loaded session.
    let k = if full { 20 } else { 3 };
    for dir in &dirs {
        let before = rss_kib();
        let held: Vec<Model> = (0..k).map(|_| Model::load(dir).unwrap()).collect();
        for m in &held {
            m.score(&mid_row(m)).unwrap();
        }
        let after = rss_kib();
        println!(
            "\nmemory: {} sessions of {}: RSS +{} KiB, {:.0} KiB per session",
            k,
            dir.file_name().unwrap().to_string_lossy(),
            after.saturating_sub(before),
            after.saturating_sub(before) as f64 / k as f64
        );
        drop(held);
    }

    // Async runtime probe while models run.
    let model = Arc::new(Model::load(&dirs[0]).unwrap());
    let dur = Duration::from_millis(if full { 3000 } else { 200 });
    let (p50, p99, max, _) = probe_delay(None, dur);
    println!("\nprobe (thread -> channel -> task every 1 ms, 2 workers), idle: scheduling delay p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms");
    for rows in [64, 4096, 65536] {
        for inline in [false, true] {
            let (p50, p99, max, runs) = probe_delay(Some((inline, model.clone(), rows)), dur);
            println!(
                "probe while {runs} runs of {rows} rows {}: scheduling delay p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms",
                if inline { "INLINE on the async workers".to_string() } else { format!("on the inference threads ({} at nice {})", inference::batch::permits(), inference::batch::WORKER_NICE) }
            );
        }
    }
}
