//! `edgecite model eval`: score a CSV through a model exactly as the daemon would, row by
//! row. Each row is one sample per role at its timestamp; each feature is the manifest's
//! statistic over the last `window` rows of its role; a window with a missing or unparsable
//! value (bad quality), too few rows, or a feature outside the domain of validity gives no
//! score and the reason. `alert` is `score >= threshold` (the daemon additionally waits for
//! `diagnose.open_after` consecutive alerts before it opens a finding).
//! `models/train/eval_reference.py` is the Python reference the tests compare with.

use super::{compute_features, FeatureProblem, InferenceError, Manifest, Model};
use crate::pipeline::WindowProblem;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{file}: cannot read: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{file}:{line}: {message}")]
    Csv { file: PathBuf, line: usize, message: String },
    #[error("model `{name}` not found: looked for {looked}")]
    NoModel { name: String, looked: String },
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

/// One CSV row's result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RowResult {
    /// 1-based line number in the CSV.
    pub line: usize,
    pub timestamp: String,
    pub score: Option<f64>,
    pub alert: Option<bool>,
    /// Why there is no score.
    pub abstain: Option<String>,
}

/// A parsed CSV: timestamps and, per role in manifest order, one value per row (None =
/// missing or bad).
pub struct Table {
    pub lines: Vec<usize>,
    pub timestamps: Vec<String>,
    pub columns: Vec<(String, Vec<Option<f64>>)>,
}

const TIME_COLUMNS: [&str; 5] = ["timestamp", "ts", "time", "datetime", "date"];

/// Read `file`: a header row with a timestamp column and one column per role of the model
/// (other columns are ignored); `,` or `;` separated.
pub fn read_csv(file: &Path, roles: &[String]) -> Result<Table, EvalError> {
    read_csv_mapped(file, roles, &[])
}

/// As [`read_csv`], with `(role, column)` pairs naming the column a role is read from.
pub fn read_csv_mapped(file: &Path, roles: &[String], map: &[(String, String)]) -> Result<Table, EvalError> {
    let text = std::fs::read_to_string(file).map_err(|source| EvalError::Read { file: file.into(), source })?;
    let csv_err = |line: usize, message: String| EvalError::Csv { file: file.into(), line, message };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        return Err(csv_err(1, "empty file: expected a header row".into()));
    };
    let sep = if header.contains(',') || !header.contains(';') { ',' } else { ';' };
    let names: Vec<&str> = header.split(sep).map(|c| c.trim().trim_matches('"')).collect();
    let tcol = names.iter().position(|n| TIME_COLUMNS.contains(&n.to_ascii_lowercase().as_str())).ok_or_else(|| {
        csv_err(
            hline + 1,
            format!("no timestamp column: expected one named {} (header: {header})", TIME_COLUMNS.join(" or ")),
        )
    })?;
    let column = |r: &String| map.iter().find(|(role, _)| role == r).map(|(_, c)| c.clone()).unwrap_or(r.clone());
    let mut idx = Vec::new();
    let missing: Vec<String> = roles.iter().map(column).filter(|c| !names.contains(&c.as_str())).collect();
    if !missing.is_empty() {
        return Err(csv_err(
            hline + 1,
            format!(
                "missing column(s) for the model's role(s): {}; the header has: {}",
                missing.join(", "),
                names.join(", ")
            ),
        ));
    }
    for r in roles {
        let c = column(r);
        idx.push(names.iter().position(|n| *n == c).unwrap());
    }
    let mut table = Table {
        lines: Vec::new(),
        timestamps: Vec::new(),
        columns: roles.iter().map(|r| (r.clone(), Vec::new())).collect(),
    };
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(sep).map(|c| c.trim().trim_matches('"')).collect();
        if cells.len() != names.len() {
            return Err(csv_err(i + 1, format!("{} field(s), the header has {}", cells.len(), names.len())));
        }
        table.lines.push(i + 1);
        table.timestamps.push(cells[tcol].to_string());
        for (k, &c) in idx.iter().enumerate() {
            let cell = cells[c];
            let v = if cell.is_empty() || cell.eq_ignore_ascii_case("nan") {
                None
            } else {
                match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => Some(v),
                    Ok(_) => None,
                    Err(_) => {
                        return Err(csv_err(
                            i + 1,
                            format!(
                                "column `{}`: value {cell:?} is not a number (leave it empty for a missing value)",
                                names[c]
                            ),
                        ))
                    }
                }
            };
            table.columns[k].1.push(v);
        }
    }
    if table.lines.is_empty() {
        return Err(csv_err(hline + 1, "no data rows after the header".into()));
    }
    Ok(table)
}

/// Features of every row (or why not), as the daemon computes them.
pub fn row_features(manifest: &Manifest, table: &Table) -> Vec<Result<Vec<f32>, FeatureProblem>> {
    (0..table.lines.len())
        .map(|row| {
            compute_features(manifest, |spec| {
                let (_, col) = table.columns.iter().find(|(r, _)| *r == spec.role).expect("role column read");
                if row + 1 < spec.window {
                    return Err(FeatureProblem::Window {
                        role: spec.role.clone(),
                        problem: WindowProblem::TooShort { have: row + 1, need: spec.window },
                    });
                }
                let w = &col[row + 1 - spec.window..=row];
                match w.iter().copied().collect::<Option<Vec<f64>>>() {
                    Some(xs) => Ok(xs),
                    None => Err(FeatureProblem::Missing { role: spec.role.clone() }),
                }
            })
            .map(|f| f.values)
        })
        .collect()
}

/// Score every row of `table` with `model` (batched).
pub fn evaluate(model: &Model, table: &Table) -> Result<Vec<RowResult>, InferenceError> {
    let feats = row_features(&model.manifest, table);
    let ok: Vec<usize> = feats.iter().enumerate().filter(|(_, f)| f.is_ok()).map(|(i, _)| i).collect();
    let mut scores = vec![None; feats.len()];
    for chunk in ok.chunks(1024) {
        let flat: Vec<f32> = chunk.iter().flat_map(|&i| feats[i].as_ref().unwrap().iter().copied()).collect();
        let s = model.score_batch(&flat, chunk.len())?;
        for (&i, v) in chunk.iter().zip(s) {
            scores[i] = Some(v);
        }
    }
    let threshold = model.manifest.output.threshold;
    Ok(feats
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (score, abstain) = match (f, scores[i]) {
                (Err(p), _) => (None, Some(p.to_string())),
                (Ok(_), Some(s)) if s.is_finite() => (Some(s as f64), None),
                (Ok(_), s) => (None, Some(format!("model returned {:?}", s.unwrap_or(f32::NAN)))),
            };
            RowResult {
                line: table.lines[i],
                timestamp: table.timestamps[i].clone(),
                score,
                alert: score.map(|s| s >= threshold),
                abstain,
            }
        })
        .collect())
}

/// Find a model directory: a path with a manifest.toml, or a model under `models_dir`
/// whose directory or manifest name is `name`.
pub fn find_model(name: &str, models_dir: &Path) -> Result<PathBuf, EvalError> {
    let p = Path::new(name);
    if p.join("manifest.toml").is_file() {
        return Ok(p.to_path_buf());
    }
    for d in super::model_dirs(models_dir) {
        let by_dir = d.file_name().is_some_and(|n| n == name);
        if by_dir || Manifest::load(&d.join("manifest.toml")).is_ok_and(|m| m.name == name) {
            return Ok(d);
        }
    }
    Err(EvalError::NoModel {
        name: name.into(),
        looked: format!("{name}/manifest.toml and the models in {}", models_dir.display()),
    })
}

/// Print results as an aligned table (or JSON) with a summary line.
pub fn print(model: &Model, rows: &[RowResult], json: bool) {
    if json {
        let body = serde_json::json!({
            "model": model.manifest.name,
            "version": model.manifest.version,
            "provider": model.provider,
            "threshold": model.manifest.output.threshold,
            "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
        return;
    }
    println!("{:>6}  {:<26} {:>12}  {:<6} reason", "line", "timestamp", "score", "alert");
    for r in rows {
        let score = r.score.map(|s| format!("{s:.6}")).unwrap_or_else(|| "-".into());
        let alert = match r.alert {
            Some(true) => "ALERT",
            Some(false) => "ok",
            None => "-",
        };
        println!(
            "{:>6}  {:<26} {:>12}  {:<6} {}",
            r.line,
            r.timestamp,
            score,
            alert,
            r.abstain.as_deref().unwrap_or("")
        );
    }
    let scored = rows.iter().filter(|r| r.score.is_some()).count();
    let alerts = rows.iter().filter(|r| r.alert == Some(true)).count();
    println!(
        "model {} {} on {} (threshold {}): {} row(s), {scored} scored, {alerts} alert(s), {} abstained",
        model.manifest.name,
        model.manifest.version,
        model.provider,
        model.manifest.output.threshold,
        rows.len(),
        rows.len() - scored
    );
}

/// The whole command: load the runtime and the model, read the CSV, score, print.
pub fn run(
    name: &str,
    csv: &Path,
    json: bool,
    map: &[(String, String)],
    cfg: &crate::config::inference::InferenceConfig,
) -> Result<Vec<RowResult>, EvalError> {
    let dir = find_model(name, &cfg.models_dir)?;
    super::init_runtime(cfg.runtime_path.as_deref())?;
    super::set_rknn_runtime(cfg.rknn_runtime_path.as_deref());
    if let Some(e) = super::register_ep_libraries(&cfg.ep_libraries).into_iter().next() {
        tracing::warn!(error = %e, "plugin EP library not used");
    }
    let model = Model::load_with(&dir, &cfg.providers, &cfg.provider_options)?;
    let table = read_csv_mapped(csv, &model.roles(), map)?;
    let rows = evaluate(&model, &table)?;
    print(&model, &rows, json);
    Ok(rows)
}
