//! What storing a sample costs the gateway's flash and CPU (issue 21): bytes written to
//! storage per stored sample (this process's `write_bytes` in /proc/self/io, the kernel's
//! count of bytes it sends towards the device, WAL checkpoints included) and CPU time per
//! sample, for the store's block layout and, side by side in the same run, for the row per
//! sample layout it replaced (a row and two indexes per sample, in raw SQL).
//!
//! Workload: 1,000 points polled at 10 Hz (10,000 samples/s, f32 values with their two
//! registers), committed once per `[store] commit_interval_ms` (1 s, the default; and per
//! poll of a 50-point device, 0 ms), with the daemon's prune pass every minute of simulated
//! time and a retention short enough that deletion is in steady state. Time is simulated:
//! the store is driven as fast as it goes.
//!
//! `cargo bench --bench store_io [-- blocks|rows]` runs 10 simulated minutes (6 million
//! samples) per case;
//! under `cargo test` 1 minute as a smoke test. It also states the daily write volume and
//! how long an 8 GB eMMC rated for 3,000 program/erase cycles lasts at that rate (wear
//! levelling assumed perfect, no other writes). No thresholds.

use edgecite::sample::Sample;
use edgecite::store::Store;

const POINTS: usize = 1000;
const HZ: i64 = 10;
const DEVICE_POINTS: usize = 50;
const EMMC_BYTES: f64 = 8e9;
const EMMC_CYCLES: f64 = 3000.0;

fn write_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("write_bytes: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn cpu_s() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// One poll cycle's samples: every point once, its value and the two registers of an f32.
fn cycle(names: &[edgecite::sample::PointId], ts: i64, step: i64) -> Vec<Sample> {
    names
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let v = ((step * 7 + i as i64 * 13) % 1000) as f32 / 10.0;
            let bits = v.to_bits();
            Sample::good(p.clone(), ts, v as f64).with_raw(&[(bits >> 16) as u16, bits as u16])
        })
        .collect()
}

struct Case {
    name: &'static str,
    samples: u64,
    bytes: u64,
    cpu: f64,
    file: u64,
}

fn sync_dir(dir: &std::path::Path) {
    for f in std::fs::read_dir(dir).unwrap().flatten() {
        if let Ok(h) = std::fs::File::open(f.path()) {
            let _ = h.sync_all();
        }
    }
}

fn file_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).unwrap().flatten().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum()
}

/// The block store, committing every `commit_ms` of simulated time (0: per device poll).
fn blocks(minutes: i64, retention_h: f64, commit_ms: i64) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let names: Vec<edgecite::sample::PointId> =
        (0..POINTS).map(|i| format!("dev{}.p{}", i / 50, i % 50).into()).collect();
    let t0 = 1_800_000_000_000i64;
    let (w0, c0) = (write_bytes(), cpu_s());
    let mut held: Vec<Sample> = Vec::new();
    let mut n = 0u64;
    let (mut last_commit, mut last_prune) = (t0, t0);
    for step in 0..minutes * 60 * HZ {
        let ts = t0 + step * 1000 / HZ;
        let c = cycle(&names, ts, step);
        if commit_ms == 0 {
            for dev in c.chunks(DEVICE_POINTS) {
                n += store.insert_samples(dev).unwrap() as u64;
            }
        } else {
            held.extend(c);
            if ts - last_commit >= commit_ms {
                n += store.insert_samples(&held).unwrap() as u64;
                held.clear();
                last_commit = ts;
            }
        }
        if ts - last_prune >= 60_000 {
            store.prune(ts, retention_h, u64::MAX).unwrap();
            last_prune = ts;
        }
    }
    n += store.insert_samples(&held).unwrap() as u64;
    drop(store);
    sync_dir(dir.path());
    let name = if commit_ms == 0 {
        "blocks, a commit per device poll (commit_interval_ms = 0)"
    } else {
        "blocks, a commit per second (commit_interval_ms = 1000, default)"
    };
    Case { name, samples: n, bytes: write_bytes() - w0, cpu: cpu_s() - c0, file: file_bytes(dir.path()) }
}

/// The layout before blocks: a row per sample, indexed by (point, time) and by time; the
/// same pragmas, commits and retention.
fn rows(minutes: i64, retention_h: f64, commit_ms: i64) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let c = rusqlite::Connection::open(dir.path().join("r.db")).unwrap();
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-512;
         CREATE TABLE points(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
         CREATE TABLE samples(id INTEGER PRIMARY KEY, point_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
           value REAL, quality TEXT NOT NULL, raw BLOB, text TEXT);
         CREATE INDEX samples_point_ts ON samples(point_id, ts_ms);
         CREATE INDEX samples_ts ON samples(ts_ms);",
    )
    .unwrap();
    let names: Vec<edgecite::sample::PointId> =
        (0..POINTS).map(|i| format!("dev{}.p{}", i / 50, i % 50).into()).collect();
    let t0 = 1_800_000_000_000i64;
    let (w0, c0) = (write_bytes(), cpu_s());
    let mut held: Vec<(usize, Sample)> = Vec::new();
    let mut n = 0u64;
    let insert = |batch: &[(usize, Sample)]| {
        c.execute_batch("BEGIN").unwrap();
        let mut st = c
            .prepare_cached(
                "INSERT INTO samples(point_id, ts_ms, value, quality, raw, text) VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            )
            .unwrap();
        for (pid, s) in batch {
            let raw: Vec<u8> = s.raw.as_ref().unwrap().iter().flat_map(|w| w.to_be_bytes()).collect();
            st.execute(rusqlite::params![*pid as i64, s.ts_ms, s.value, "good", raw]).unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
        batch.len() as u64
    };
    let (mut last_commit, mut last_prune) = (t0, t0);
    for step in 0..minutes * 60 * HZ {
        let ts = t0 + step * 1000 / HZ;
        let cyc: Vec<(usize, Sample)> = cycle(&names, ts, step).into_iter().enumerate().collect();
        if commit_ms == 0 {
            for dev in cyc.chunks(DEVICE_POINTS) {
                n += insert(dev);
            }
        } else {
            held.extend(cyc);
            if ts - last_commit >= commit_ms {
                n += insert(&held);
                held.clear();
                last_commit = ts;
            }
        }
        if ts - last_prune >= 60_000 {
            let cutoff = ts - (retention_h * 3_600_000.0) as i64;
            c.execute("DELETE FROM samples WHERE ts_ms < ?1", [cutoff]).unwrap();
            last_prune = ts;
        }
    }
    n += insert(&held);
    drop(c);
    sync_dir(dir.path());
    let name = if commit_ms == 0 {
        "rows + 2 indexes (before), a commit per device poll"
    } else {
        "rows + 2 indexes (before), a commit per second"
    };
    Case { name, samples: n, bytes: write_bytes() - w0, cpu: cpu_s() - c0, file: file_bytes(dir.path()) }
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (minutes, retention_h) = if measuring { (10, 3.0 / 60.0) } else { (1, 0.5 / 60.0) };
    println!(
        "store_io: {POINTS} points at {HZ} Hz ({} samples/s), {minutes} simulated min per case, retention {:.0} s, prune every 60 s",
        POINTS as i64 * HZ,
        retention_h * 3600.0
    );
    if write_bytes() == 0 && std::fs::read_to_string("/proc/self/io").is_err() {
        println!("store_io: /proc/self/io is not readable here; bytes written cannot be measured");
    }
    // `-- blocks` or `-- rows` runs only those cases.
    let only = std::env::args().find(|a| a == "blocks" || a == "rows");
    let mut cases = Vec::new();
    if only.as_deref() != Some("rows") {
        cases.extend([blocks(minutes, retention_h, 1000), blocks(minutes, retention_h, 0)]);
    }
    if only.as_deref() != Some("blocks") {
        cases.extend([rows(minutes, retention_h, 1000), rows(minutes, retention_h, 0)]);
    }
    let rate = (POINTS as i64 * HZ) as f64;
    for c in &cases {
        let per = c.bytes as f64 / c.samples as f64;
        let per_day = per * rate * 86_400.0;
        let days = EMMC_BYTES * EMMC_CYCLES / per_day;
        println!(
            "store_io: {:<66} {:>8.1} bytes written per sample, {:>5.2} us CPU per sample, files {:>5.1} MB, {:>6.1} GB written per day at {:.0} samples/s: an 8 GB eMMC of 3,000 cycles lasts {:.0} days ({:.1} years)",
            c.name,
            per,
            c.cpu / c.samples as f64 * 1e6,
            c.file as f64 / 1e6,
            per_day / 1e9,
            rate,
            days,
            days / 365.0
        );
        assert!(c.samples > 0);
    }
}
