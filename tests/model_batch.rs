//! Batched inference on the blocking pool: all assets of a model's class are scored in one
//! session run, the criteria take those scores (no second run), and the scores equal
//! one-by-one runs.

use crate::common;

use edgecite::diagnose::{model_score::ModelCriterion, Criterion};
use edgecite::inference::{self, Model};
use edgecite::sample::Sample;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_pumps_are_scored_in_one_run_and_the_criteria_reuse_it() {
    inference::init_runtime(Some(&common::ort_library())).unwrap();
    // The demo config with two more pump skids bound to the same points.
    let text = std::fs::read_to_string(common::repo().join("configs/demo.toml")).unwrap();
    let p1 = text.find("[[assets]]\nid = \"P1\"").unwrap();
    let block_end = text[p1..].find("\n\n").map(|e| p1 + e).unwrap();
    let block = &text[p1..block_end];
    let mut extra = String::new();
    for id in ["P2", "P3"] {
        extra.push_str(&format!("\n\n{}", block.replace("id = \"P1\"", &format!("id = \"{id}\""))));
    }
    let text = format!("{}{}{}", &text[..block_end], extra, &text[block_end..]);
    let cfg = edgecite::config::Config::parse(&common::repo().join("configs/demo.toml"), &text).unwrap();
    let model = Arc::new(Model::load(&common::repo().join("models/pump_anomaly")).unwrap());
    let mut pipeline = edgecite::pipeline::Pipeline::new(&cfg);
    let roles = [
        ("vib_accel_rms", 0.213),
        ("vib_accel2_rms", 0.268),
        ("motor_current", 2.4),
        ("pressure", 0.11),
        ("motor_temp", 89.5),
        ("flow", 125.2),
    ];
    let asset = cfg.assets.iter().find(|a| a.id == "P1").unwrap();
    for t in 0..10 {
        let batch: Vec<_> = roles
            .iter()
            .map(|(r, v)| Sample::good(asset.roles[*r].as_str().into(), 1000 + t, v + 0.001 * t as f64))
            .collect();
        pipeline.ingest(&batch);
    }
    let rows = inference::batch::prescore(std::slice::from_ref(&model), &pipeline, 1010).await;
    assert_eq!(rows, 3, "P1, P2 and P3 in one batch");
    let s = model.stats.snapshot();
    assert_eq!((s.runs, s.rows), (1, 3));

    let crit = ModelCriterion::new(model.clone());
    let mut scores = Vec::new();
    for id in ["P1", "P2", "P3"] {
        let o = crit.evaluate(pipeline.asset(id).unwrap(), 1010, None);
        scores.push(o.evidence().derived.iter().find(|d| d.name.en == "anomaly score").unwrap().value);
    }
    assert_eq!(model.stats.snapshot().runs, 1, "the criteria used the batched scores");
    // A later evaluation time is not served from the batch: a run of its own.
    let _ = crit.evaluate(pipeline.asset("P1").unwrap(), 1011, None);
    assert_eq!(model.stats.snapshot().runs, 2);
    // Batched scores equal a single run on the same features.
    let f = model.features(pipeline.asset("P1").unwrap(), 1010).unwrap();
    let single = model.score(&f.values).unwrap() as f64;
    for s in scores {
        assert!((s - single).abs() <= 1e-5 * single.max(1.0), "{s} vs {single}");
    }
}
