//! `edgecite model eval` and `edgecite model parity`.

use crate::config::Config;
use std::path::{Path, PathBuf};

/// `edgecite model eval`: score a CSV through a model as the daemon would.
pub fn eval(
    model: &str,
    csv: &std::path::Path,
    json: bool,
    config: Option<&std::path::Path>,
    models_dir: Option<PathBuf>,
    map: &[(String, String)],
) -> anyhow::Result<()> {
    let mut cfg = match config {
        Some(p) => Config::load(p)?.inference,
        None => Default::default(),
    };
    if let Some(d) = models_dir {
        cfg.models_dir = d;
    }
    crate::inference::eval::run(model, csv, json, map, &cfg)?;
    Ok(())
}

/// `edgecite model parity`: the model's parity.csv on the configured execution providers.
pub fn parity(model: &str, config: Option<&Path>, models_dir: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let mut cfg = match config {
        Some(p) => Config::load(p)?.inference,
        None => Default::default(),
    };
    if let Some(d) = models_dir {
        cfg.models_dir = d;
    }
    let r = crate::inference::parity::run(model, &cfg)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} {} on {} ({} nodes), ONNX Runtime {}: {} rows, max |diff| {:.3e}, max |diff|/max(|ref|,1) {:.3e} (row {}), tolerance {:.0e}: {}",
            r.model,
            r.version,
            r.provider,
            r.provider_nodes,
            r.runtime.as_deref().unwrap_or("unknown"),
            r.rows,
            r.max_abs_diff,
            r.max_scaled_diff,
            r.worst_row,
            r.tolerance,
            if r.agrees { "agrees with the reference" } else { "DIFFERS from the reference" }
        );
    }
    if !r.agrees {
        anyhow::bail!("model {}: scores on {} differ from parity.csv beyond the tolerance", r.model, r.provider);
    }
    Ok(())
}

/// `--map ROLE=COLUMN` of `edgecite model eval`.
pub fn parse_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((r, c)) if !r.is_empty() && !c.is_empty() => Ok((r.to_string(), c.to_string())),
        _ => Err(format!("`{s}`: expected ROLE=COLUMN")),
    }
}
