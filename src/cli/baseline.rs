//! `edgecite baseline ...`: the binary's edge for baselines (anyhow, printing).

use crate::baseline::{FitOptions, LimitBasis};
use crate::diagnose::baseline::eval::{evaluate_file, expand, render, EvalOptions, Pooled};
use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum BaselineCommand {
    /// Learn a baseline from each run's first rows and score the rest against its `anomaly`
    /// labels (the SKAB protocol); prints per run and pooled F1, false-alarm rate (FAR) and
    /// missed-alarm rate (MAR). Rows are alarmed as the daemon's finding would be (same
    /// features, limits and hysteresis).
    Eval {
        /// SKAB-style CSV files (`;` or `,` separated, a `datetime` column, an `anomaly`
        /// column) or directories of them.
        #[arg(long, required = true, num_args = 1..)]
        csv: Vec<PathBuf>,
        /// Rows of each run that learn the baseline.
        #[arg(long, default_value_t = 400)]
        train_rows: usize,
        /// Samples per window feature.
        #[arg(long, default_value_t = crate::baseline::DEFAULT_WINDOW)]
        window: usize,
        /// Confidence level of the T² and Q limits.
        #[arg(long, default_value_t = crate::baseline::DEFAULT_CONFIDENCE)]
        confidence: f64,
        /// Cumulative explained variance that sets the number of components.
        #[arg(long, default_value_t = crate::baseline::DEFAULT_VARIANCE)]
        variance: f64,
        /// Limits from the published distributions or the learning rows' own quantiles.
        #[arg(long, value_enum, default_value_t = Limits::Distribution)]
        limits: Limits,
        /// Consecutive departures before a finding opens (the daemon's `diagnose.open_after`).
        #[arg(long, default_value_t = 3)]
        open_after: u32,
        /// Consecutive normal evaluations before it clears (`diagnose.clear_after`).
        #[arg(long, default_value_t = 3)]
        clear_after: u32,
        /// Score files without an `anomaly` column as all normal (anomaly-free runs).
        #[arg(long)]
        unlabelled_normal: bool,
        /// Print one JSON object per run, then the pooled object as the last line.
        #[arg(long)]
        json: bool,
    },
    /// Re-learn an asset's baseline after maintenance: the running daemon drops what it
    /// learned and learns again from its next evaluation (audited here and by the daemon).
    Relearn {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        asset: String,
        /// The baseline's name (`[[assets.baselines]] name`).
        #[arg(long)]
        name: String,
    },
    /// List the baselines in the store: state, time range, samples, limits.
    Status {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Limits {
    Distribution,
    Empirical,
}

pub fn run(cmd: BaselineCommand) -> anyhow::Result<()> {
    match cmd {
        BaselineCommand::Relearn { config, asset, name } => {
            let c = crate::config::Config::load(&config)?;
            let configured = c.assets.iter().any(|a| a.id == asset && a.baselines.iter().any(|b| b.name == name));
            anyhow::ensure!(configured, "{}: asset `{asset}` has no baseline `{name}`", config.display());
            let store = super::user::open(&config)?;
            let by = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "?".into()));
            anyhow::ensure!(
                store.request_relearn(&asset, &name, &by, crate::time::now_ms())?,
                "{}: baseline `{name}` of {asset} is not in the store yet: start the daemon once so it writes its baselines",
                c.store.path.display()
            );
            super::user::audit(&store, "BASELINE_RELEARN_REQUEST", &format!("{asset}/{name}"), "")?;
            println!(
                "re-learn of baseline `{name}` on {asset} requested; the daemon takes it up at its next evaluation"
            );
            Ok(())
        }
        BaselineCommand::Status { config, json } => {
            let store = super::user::open(&config)?;
            let rows = store.baselines(None, crate::time::now_ms())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            for r in rows {
                println!(
                    "{:<12} {:<12} {:<8} {} {}",
                    r.asset,
                    r.name,
                    r.state,
                    match (&r.learned_from, &r.learned_to, r.samples) {
                        (Some(a), Some(b), Some(n)) => format!("learned {a} .. {b} ({n} samples)"),
                        _ => format!("since {}: {} of {}", r.learn_started, r.progress, r.learn),
                    },
                    r.relearn_requested.map(|t| format!("(re-learn requested {t})")).unwrap_or_default()
                );
            }
            Ok(())
        }
        BaselineCommand::Eval {
            csv,
            train_rows,
            window,
            confidence,
            variance,
            limits,
            open_after,
            clear_after,
            unlabelled_normal,
            json,
        } => {
            let limits = match limits {
                Limits::Distribution => LimitBasis::Distribution,
                Limits::Empirical => LimitBasis::Empirical,
            };
            anyhow::ensure!(window >= 1, "--window {window}: expected at least 1");
            let opts = EvalOptions {
                train_rows,
                window,
                fit: FitOptions { confidence, variance, limits },
                open_after,
                clear_after,
                unlabelled_normal,
            };
            let mut runs = Vec::new();
            for f in expand(&csv)? {
                let r = evaluate_file(&f, &opts).with_context(|| format!("baseline eval of {}", f.display()))?;
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                }
                runs.push(r);
            }
            let pooled = Pooled::of(&runs);
            if json {
                println!("{}", serde_json::to_string(&pooled)?);
            } else {
                println!(
                    "baseline: PCA T²+Q, window {window}, confidence {confidence}, variance {variance}, limits {}, learning rows {train_rows}, open_after {open_after}, clear_after {clear_after}",
                    match limits {
                        LimitBasis::Distribution => "F / Jackson-Mudholkar",
                        LimitBasis::Empirical => "empirical",
                    }
                );
                print!("{}", render(&runs, &pooled));
            }
            Ok(())
        }
    }
}
