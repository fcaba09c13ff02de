//! `edgecite baseline eval`: the SKAB protocol (Katser & Kozitsin, Skoltech Anomaly Benchmark,
//! outlier-detection track): in each run the first `train_rows` rows learn the baseline and
//! the rest are scored, every row against its `anomaly` label; the confusion counts are
//! pooled over the runs. A row counts as alarmed when the daemon would hold a departure
//! finding open for it: the same features, limits and hysteresis (the criterion clears below
//! [`CLEAR_FRACTION`](super::CLEAR_FRACTION) of the limits, the tracker opens after
//! `open_after` and clears after `clear_after` consecutive evaluations; an abstention holds
//! the state). The tool sits at the binary's edge: it drives the diagnose layer's tracker.
//!
//! SKAB's columns are read as the pump-skid roles in [`SKAB_ROLES`]; a role's unit picks the
//! feature (temperatures: rate, others: level, see [`FeatureKind::default_for_unit`]).
//! Columns not in the table are level features.

use crate::baseline::{fit, FeatureKind, FitOptions, Fitted, CLEAR_FRACTION};
use crate::diagnose::tracker::Tracker;
use crate::diagnose::{AbstainReason, Evidence, FaultReport, Outcome, Severity, Text};
use crate::inference::eval::{read_csv_mapped, EvalError};
use crate::knowledge::classes::AssetClass;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// SKAB's sensor columns and the pump-skid roles they measure (SKAB README: accelerometers on
/// the pump and the motor, motor current, pressure after the pump, motor body temperature,
/// fluid temperature (thermocouple), motor voltage, circulation flow rate).
pub const SKAB_ROLES: &[(&str, &str)] = &[
    ("Accelerometer1RMS", "vib_accel_rms"),
    ("Accelerometer2RMS", "vib_accel2_rms"),
    ("Current", "motor_current"),
    ("Pressure", "pressure"),
    ("Temperature", "motor_temp"),
    ("Thermocouple", "fluid_temp"),
    ("Voltage", "v_ab"),
    ("Volume Flow RateRMS", "flow"),
];

/// Label columns, never signals.
const LABELS: [&str; 2] = ["anomaly", "changepoint"];
const TIME_COLUMNS: [&str; 5] = ["timestamp", "ts", "time", "datetime", "date"];

#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    pub train_rows: usize,
    pub window: usize,
    pub fit: FitOptions,
    pub open_after: u32,
    pub clear_after: u32,
    /// A file without an `anomaly` column is all normal (an anomaly-free run: FAR only).
    pub unlabelled_normal: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            train_rows: 400,
            window: crate::baseline::DEFAULT_WINDOW,
            fit: FitOptions::default(),
            open_after: 3,
            clear_after: 3,
            unlabelled_normal: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
}

impl Counts {
    pub fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
    /// False-alarm rate: alarmed normal rows over normal rows.
    pub fn far(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }
    /// Missed-alarm rate: unalarmed anomalous rows over anomalous rows.
    pub fn mar(&self) -> f64 {
        ratio(self.fn_, self.fn_ + self.tp)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// One run's result.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub file: String,
    pub rows: usize,
    pub learned: usize,
    pub scored: usize,
    pub components: usize,
    /// Scored rows the criterion abstained on (out of domain, missing values).
    pub abstained: usize,
    #[serde(flatten)]
    pub counts: Counts,
    pub f1: f64,
    pub far: f64,
    pub mar: f64,
}

/// Pooled result, the JSON line `--json` ends with.
#[derive(Debug, Clone, Serialize)]
pub struct Pooled {
    pub runs: usize,
    #[serde(flatten)]
    pub counts: Counts,
    pub f1: f64,
    pub far: f64,
    pub mar: f64,
}

impl Pooled {
    pub fn of(runs: &[RunResult]) -> Pooled {
        let mut c = Counts::default();
        runs.iter().for_each(|r| c.add(r.counts));
        Pooled { runs: runs.len(), counts: c, f1: c.f1(), far: c.far(), mar: c.mar() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineEvalError {
    #[error(transparent)]
    Csv(#[from] EvalError),
    #[error("{file}: {message}")]
    Input { file: PathBuf, message: String },
    #[error("{file}: cannot learn the baseline from the first {rows} rows: {source}")]
    Fit { file: PathBuf, rows: usize, source: crate::baseline::FitError },
}

/// The CSV files to evaluate: files as given, directories' `*.csv` in natural order
/// (`2.csv` before `10.csv`).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, BaselineEvalError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| BaselineEvalError::Input {
                file: p.clone(),
                message: format!("cannot read the directory: {e}"),
            })?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
                .collect();
            files.sort_by_key(|f| natural_key(f));
            if files.is_empty() {
                return Err(BaselineEvalError::Input {
                    file: p.clone(),
                    message: "no .csv files in the directory".into(),
                });
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn natural_key(p: &Path) -> (u64, String) {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    (stem.parse::<u64>().unwrap_or(u64::MAX), p.display().to_string())
}

/// Seconds of a SKAB `datetime` (`2020-03-09 10:14:33`) or RFC 3339 timestamp.
fn seconds(ts: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(ts.trim()).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}

/// Evaluate one SKAB-style CSV.
pub fn evaluate_file(file: &Path, opts: &EvalOptions) -> Result<RunResult, BaselineEvalError> {
    let input = |message: String| BaselineEvalError::Input { file: file.into(), message };
    let text = std::fs::read_to_string(file).map_err(|source| EvalError::Read { file: file.into(), source })?;
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let sep = if header.contains(',') || !header.contains(';') { ',' } else { ';' };
    let names: Vec<String> = header.split(sep).map(|c| c.trim().trim_matches('"').to_string()).collect();
    let labelled = names.iter().any(|n| n == "anomaly");
    if !labelled && !opts.unlabelled_normal {
        return Err(input(format!(
            "no `anomaly` label column (header: {header}); --unlabelled-normal scores an anomaly-free run as all normal"
        )));
    }
    let signals: Vec<String> = names
        .iter()
        .filter(|n| !LABELS.contains(&n.as_str()) && !TIME_COLUMNS.contains(&n.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    let mut columns = signals.clone();
    if labelled {
        columns.push("anomaly".into());
    }
    let table = read_csv_mapped(file, &columns, &[])?;
    let kinds: Vec<(String, FeatureKind)> = signals
        .iter()
        .map(|c| {
            let unit = SKAB_ROLES
                .iter()
                .find(|(col, _)| col == c)
                .and_then(|(_, role)| AssetClass::PumpSkid.role(role))
                .map(|r| r.unit)
                .unwrap_or("");
            (c.clone(), FeatureKind::default_for_unit(unit))
        })
        .collect();
    let n = table.lines.len();
    let w = opts.window.max(1);
    if opts.train_rows >= n {
        return Err(input(format!("{n} rows: nothing left to score after the {} learning rows", opts.train_rows)));
    }
    let times: Vec<f64> = table.timestamps.iter().enumerate().map(|(i, t)| seconds(t).unwrap_or(i as f64)).collect();
    let all_normal = vec![Some(0.0); n];
    let labels = if labelled { &table.columns.last().expect("anomaly column").1 } else { &all_normal };
    // The feature vector of row i over rows i-w+1..=i; None when a value is missing.
    let features = |i: usize| -> Option<Vec<f64>> {
        if i + 1 < w {
            return None;
        }
        kinds
            .iter()
            .enumerate()
            .map(|(j, (_, kind))| {
                let col = &table.columns[j].1;
                let xs: Option<Vec<(f64, f64)>> = (i + 1 - w..=i).map(|r| col[r].map(|v| (times[r], v))).collect();
                xs.map(|xs| kind.compute(&xs))
            })
            .collect()
    };
    let learn: Vec<Vec<f64>> = (0..opts.train_rows).filter_map(features).collect();
    let fitted = fit(&kinds, &learn, opts.fit).map_err(|source| BaselineEvalError::Fit {
        file: file.into(),
        rows: opts.train_rows,
        source,
    })?;
    let mut tracker = Tracker::new(opts.open_after, opts.clear_after);
    let mut counts = Counts::default();
    let mut abstained = 0;
    for (i, label) in labels.iter().enumerate().skip(opts.train_rows) {
        let open = tracker.open_code("run", "baseline").is_some();
        let outcome = match features(i) {
            Some(x) if fitted.out_of_domain(&x).is_empty() => decide(&fitted, &x, open),
            _ => {
                abstained += 1;
                Outcome::abstain(AbstainReason::OutOfDomain, Text::same(""), Evidence::default(), vec![])
            }
        };
        tracker.observe("run", "baseline", &outcome, (i as i64) * 1000);
        let alarmed = tracker.open_code("run", "baseline").is_some();
        let anomalous = label.is_some_and(|v| v > 0.0);
        match (alarmed, anomalous) {
            (true, true) => counts.tp += 1,
            (true, false) => counts.fp += 1,
            (false, true) => counts.fn_ += 1,
            (false, false) => counts.tn += 1,
        }
    }
    Ok(RunResult {
        file: file.display().to_string(),
        rows: n,
        learned: learn.len(),
        scored: n - opts.train_rows,
        components: fitted.components,
        abstained,
        counts,
        f1: counts.f1(),
        far: counts.far(),
        mar: counts.mar(),
    })
}

/// The criterion's decision for the tracker: a departure when either statistic reaches its
/// limit (an open one holds until both are below [`CLEAR_FRACTION`] of theirs).
fn decide(f: &Fitted, x: &[f64], open: bool) -> Outcome {
    let s = f.score(x);
    if s.exceeds(f, if open { CLEAR_FRACTION } else { 1.0 }) {
        Outcome::Fault(FaultReport {
            code: "BASELINE.DEPARTURE".into(),
            title: Text::same("departure"),
            severity: Severity::Medium,
            evidence: Evidence::default(),
            citations: vec![],
            recommended_action: Text::same(""),
        })
    } else {
        Outcome::Normal { evidence: Evidence::default(), note: Text::same("") }
    }
}

/// The table `edgecite baseline eval` prints.
pub fn render(runs: &[RunResult], pooled: &Pooled) -> String {
    let pct = |x: f64| if x.is_nan() { "-".to_string() } else { format!("{:.1} %", x * 100.0) };
    let mut s = format!(
        "{:<12} {:>5} {:>6} {:>2} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6} {:>7} {:>7}\n",
        "run", "rows", "scored", "k", "tp", "fp", "fn", "tn", "abst", "F1", "FAR", "MAR"
    );
    for r in runs {
        let name = Path::new(&r.file).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        s += &format!(
            "{:<12} {:>5} {:>6} {:>2} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6.3} {:>7} {:>7}\n",
            name,
            r.rows,
            r.scored,
            r.components,
            r.counts.tp,
            r.counts.fp,
            r.counts.fn_,
            r.counts.tn,
            r.abstained,
            r.f1,
            pct(r.far),
            pct(r.mar)
        );
    }
    let c = pooled.counts;
    s += &format!(
        "{:<12} {:>5} {:>6} {:>2} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6.3} {:>7} {:>7}\n",
        format!("pooled ({})", pooled.runs),
        runs.iter().map(|r| r.rows).sum::<usize>(),
        runs.iter().map(|r| r.scored).sum::<usize>(),
        "",
        c.tp,
        c.fp,
        c.fn_,
        c.tn,
        runs.iter().map(|r| r.abstained).sum::<usize>(),
        pooled.f1,
        pct(pooled.far),
        pct(pooled.mar)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic SKAB-format run: flow and current correlated, a temperature that drifts;
    /// rows `from..to` have the flow dropped by 10 sd and are labelled anomalous.
    fn write_run(dir: &Path, name: &str, n: usize, from: usize, to: usize, seed: u64) -> PathBuf {
        let mut g = crate::baseline::tests::Gauss::new(seed);
        let mut s = String::from("datetime;Current;Temperature;Volume Flow RateRMS;anomaly;changepoint\n");
        for i in 0..n {
            let f = g.next();
            let anomalous = (from..to).contains(&i);
            let flow = 32.0 + 0.3 * f + 0.1 * g.next() - if anomalous { 3.0 } else { 0.0 };
            let cur = 1.3 + 0.02 * f + 0.01 * g.next();
            let temp = 80.0 + 0.004 * i as f64 + 0.05 * g.next();
            let (h, m, sec) = (10 + i / 3600, (i / 60) % 60, i % 60);
            s += &format!(
                "2020-03-09 {h:02}:{m:02}:{sec:02};{cur};{temp};{flow};{};0\n",
                if anomalous { 1.0 } else { 0.0 }
            );
        }
        let p = dir.join(name);
        std::fs::write(&p, s).unwrap();
        p
    }

    #[test]
    fn skab_protocol_counts_rows_after_the_learning_rows() {
        let dir = tempfile::tempdir().unwrap();
        write_run(dir.path(), "10.csv", 1000, 600, 800, 3);
        write_run(dir.path(), "2.csv", 1000, 500, 700, 4);
        let files = expand(&[dir.path().to_path_buf()]).unwrap();
        assert!(files[0].ends_with("2.csv") && files[1].ends_with("10.csv"), "natural order: {files:?}");
        let runs: Vec<RunResult> = files.iter().map(|f| evaluate_file(f, &EvalOptions::default()).unwrap()).collect();
        for r in &runs {
            assert_eq!(r.scored, 600);
            assert_eq!(r.counts.tp + r.counts.fp + r.counts.fn_ + r.counts.tn, 600);
            assert_eq!(r.counts.tp + r.counts.fn_, 200, "200 labelled rows");
            // A 10-sd drop is found, late by at most the window and open_after.
            assert!(r.counts.tp >= 190 && r.f1 > 0.9, "{r:?}");
            // The drifting temperature is a rate feature: no false alarms from its drift.
            assert!(r.far < 0.05, "{r:?}");
        }
        let p = Pooled::of(&runs);
        assert_eq!(p.counts.tp, runs[0].counts.tp + runs[1].counts.tp);
        let table = render(&runs, &p);
        assert!(table.contains("pooled (2)") && table.lines().count() == 4, "{table}");
        let json = serde_json::to_value(&p).unwrap();
        for k in ["tp", "fp", "fn", "tn", "f1", "far", "mar"] {
            assert!(json.get(k).is_some(), "{k} in {json}");
        }
    }

    #[test]
    fn bad_inputs_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let f = write_run(dir.path(), "a.csv", 300, 0, 0, 1);
        let e = evaluate_file(&f, &EvalOptions::default()).unwrap_err().to_string();
        assert!(e.contains("a.csv") && e.contains("nothing left to score"), "{e}");
        let g = dir.path().join("b.csv");
        std::fs::write(&g, "datetime;x\n2020-01-01 00:00:00;1\n").unwrap();
        let e = evaluate_file(&g, &EvalOptions::default()).unwrap_err().to_string();
        assert!(e.contains("b.csv") && e.contains("anomaly"), "{e}");
        let o = EvalOptions { train_rows: 8, ..Default::default() };
        let e = evaluate_file(&f, &o).unwrap_err().to_string();
        assert!(e.contains("cannot learn") && e.contains("need at least"), "{e}");
    }
}
