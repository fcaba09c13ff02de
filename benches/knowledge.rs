//! Knowledge-side benchmarks, printed as numbers (no thresholds):
//! 1. reference search latency p50/p99 over 10,000 passages (English and Chinese
//!    questions, short CJK terms, questions with no supported answer), on a SQLite file;
//! 2. diagnosis throughput: samples/s through every criterion of every shipped pack;
//! 3. `edgecite dga --csv --json` rows/s on a generated CSV (the real binary, output to
//!    /dev/null).
//!
//! `cargo bench --bench knowledge [-- search|diagnosis|dga]` measures; under `cargo test` it
//! runs a small smoke.

use edgecite::diagnose::pack::eval::{Compiled, EvalCtx, Params, Snapshot};
use edgecite::diagnose::pack::{Kind, PackSet, Status};
use edgecite::diagnose::{Evidence, EvidenceValue};
use edgecite::knowledge::classes::AssetClass;
use edgecite::knowledge::search::import::{ImportedDoc, ImportedPassage};
use edgecite::knowledge::search::{RefIndex, RefVerification};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
    fn f(&mut self, max: f64) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 * max
    }
}

const EN: &[&str] = &[
    "Check the bearing temperature after regreasing and record it in the log.",
    "The transformer top-oil temperature rose during the heat wave while the fans ran.",
    "Take an oil sample from the bottom valve and send it to the laboratory for gas analysis.",
    "Vibration on the pump drive end increased after the coupling was replaced.",
    "Acetylene appeared in the sample after the tap changer operation count rose.",
    "Thermal image of the disconnector clamp showed a hot spot on phase B.",
    "Measure the insulation resistance of the motor winding before restarting.",
    "The battery string failed its discharge test at seventy minutes.",
    "Voltage unbalance at the motor terminals was traced to a loose cable lug.",
    "Partial discharge activity was detected at the cable termination.",
];
const ZH: &[&str] = &[
    "补充润滑脂后检查轴承温度并记录。",
    "高温天气期间变压器顶层油温升高，冷却风扇运行正常。",
    "从底部阀门取油样，送实验室做色谱分析。",
    "更换联轴器后泵驱动端振动增大。",
    "分接开关动作次数增加后油样中出现乙炔。",
    "隔离开关线夹红外热像显示 B 相存在发热点。",
    "电动机重新启动前测量绕组绝缘电阻。",
    "蓄电池组放电试验在七十分钟时不合格。",
    "电动机端子处电压不平衡，原因是电缆接线端子松动。",
    "电缆终端检测到局部放电。",
];

fn build_index(path: &std::path::Path, n: usize) -> RefIndex {
    let mut ix = RefIndex::open(path).unwrap();
    ix.load_library(&PackSet::builtin().unwrap().library).unwrap();
    let mut rng = Rng(42);
    let per_doc = 100;
    for d in 0..n.div_ceil(per_doc) {
        let zh = d % 2 == 1;
        let mut passages = Vec::new();
        for p in 0..per_doc.min(n - d * per_doc) {
            let src = if zh { ZH } else { EN };
            let text: Vec<&str> = (0..4).map(|_| *rng.pick(src)).collect();
            passages.push(ImportedPassage {
                id: format!("doc{d}#s{p}"),
                clause: format!("{}.{}", d, p),
                kind: "section".into(),
                text: format!("{} (record {d}-{p}, {:.1})", text.join(if zh { "" } else { " " }), rng.f(100.0)),
            });
        }
        let doc = ImportedDoc {
            id: format!("doc{d}"),
            title: format!("Plant log {d}"),
            edition: "2024".into(),
            language: if zh { "zh" } else { "en" }.into(),
            verification: RefVerification::Plant,
            passages,
        };
        ix.put_document(&doc, "plant").unwrap();
    }
    ix
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn bench_search(measuring: bool) {
    let n = if measuring { 10_000 } else { 500 };
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let ix = build_index(&dir.path().join("refs.db"), n);
    let built = t.elapsed();
    let queries = [
        "bearing temperature after regreasing",
        "acetylene tap changer",
        "Duval triangle thermal fault",
        "voltage unbalance derating",
        "轴承温度",
        "乙炔",
        "变压器顶层油温升高",
        "局部放电",
        "warranty claim procedure",
        "电池保修流程",
        "铁",
        "hot spot clamp phase",
    ];
    // Warm-up, then measure.
    for q in &queries {
        ix.search(q, "en", 5, &[]).unwrap();
    }
    let rounds = if measuring { 200 } else { 5 };
    let mut lat = Vec::new();
    let mut supported = 0;
    for _ in 0..rounds {
        for q in &queries {
            let t = Instant::now();
            let r = ix.search(q, "en", 5, &[]).unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            supported += r.supported as usize;
        }
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "search: {} passages (+ built-in, en and zh rows), index built in {:.1} s; {} queries: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} supported)",
        n,
        built.as_secs_f64(),
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().unwrap(),
        supported
    );
    // The repository's question set on this index, the 10,000 plant rows included: a
    // faster candidate search must leave these counts as they are on the bare library
    // (a plant row cited first counts as a wrong citation here).
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ask_questions.toml");
    let qs = edgecite::service::ask::load_questions(file, &std::fs::read_to_string(file).unwrap()).unwrap();
    let mut failures = Vec::new();
    let c = edgecite::service::ask::evaluate(&ix, &qs, &mut failures).unwrap();
    println!(
        "  question set on this index: {} questions, {} supported, {} wrong citation, {} correct abstention, {} wrong abstention",
        c.questions, c.supported, c.wrong_citation, c.correct_abstention, c.wrong_abstention
    );
    for f in &failures {
        println!("    {f}");
    }
    for q in &queries {
        let mut l = Vec::new();
        for _ in 0..if measuring { 50 } else { 2 } {
            let t = Instant::now();
            ix.search(q, "en", 5, &[]).unwrap();
            l.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        l.sort_by(f64::total_cmp);
        // What the question gets, so a faster search can be checked for the same answers.
        let r = ix.search(q, "en", 5, &[]).unwrap();
        let top: Vec<&str> = r.results.iter().take(3).map(|h| h.passage_id.as_str()).collect();
        println!(
            "  {:<40} p50 {:.2} ms  max {:.2} ms  {} {}",
            q,
            pct(&l, 0.5),
            l.last().unwrap(),
            if r.supported { "supported:" } else { "nearest:" },
            top.join(", ")
        );
    }
}

fn bench_diagnosis(measuring: bool) {
    let set = PackSet::builtin().unwrap();
    let mut by_class: Vec<(AssetClass, Vec<Compiled>)> = Vec::new();
    for (pack, def) in set.criteria() {
        if def.status == Status::U || def.kind == Kind::ModelScore {
            continue;
        }
        let class: AssetClass = serde_json::from_value(serde_json::Value::String(def.class.get_ref().clone())).unwrap();
        let c = Compiled::new(pack, def, &set.library).unwrap();
        match by_class.iter_mut().find(|(k, _)| *k == class) {
            Some((_, v)) => v.push(c),
            None => by_class.push((class, vec![c])),
        }
    }
    let mut params = Params::new();
    for (k, v) in [("vibration", "group2.rigid"), ("insulation_class", "F"), ("voltage_class", "le220kv")] {
        params.insert(k.into(), edgecite::diagnose::pack::eval::Param::Str(v.into()));
    }
    params.insert("ohmic_baseline".into(), edgecite::diagnose::pack::eval::Param::Num(1.0));
    params.insert("age_years".into(), edgecite::diagnose::pack::eval::Param::Num(15.0));
    let mut rng = Rng(7);
    let samples = if measuring { 20_000 } else { 200 };
    let history: Vec<Snapshot> = (0..3)
        .map(|i| Snapshot {
            ts_ms: Some(i * 120 * 86_400_000),
            values: ["h2", "ch4", "c2h6", "c2h4", "c2h2", "co", "co2", "o2", "n2"]
                .iter()
                .map(|g| (g.to_string(), 10.0 + i as f64 * 5.0))
                .collect(),
        })
        .collect();
    let t = Instant::now();
    let (mut evals, mut faults) = (0u64, 0u64);
    for i in 0..samples {
        for (class, criteria) in &by_class {
            let values: Vec<EvidenceValue> = class
                .roles()
                .iter()
                .map(|r| EvidenceValue {
                    role: r.name.into(),
                    point: format!("b.{}", r.name),
                    value: match r.name {
                        "o2" => 2000.0,
                        "n2" => 50000.0,
                        "v_ab" | "v_bc" | "v_ca" => 400.0 - rng.f(20.0),
                        "capacity_pct" => 70.0 + rng.f(40.0),
                        _ => rng.f(if *class == AssetClass::Transformer { 800.0 } else { 120.0 }),
                    },
                    unit: r.unit.into(),
                    ts: String::new(),
                    ts_ms: 400 * 86_400_000,
                    quality: "good".into(),
                    below: None,
                })
                .collect();
            for c in criteria {
                let ev = Evidence { values: values.clone(), ..Default::default() };
                let o = c.evaluate(
                    ev,
                    &EvalCtx { params: &params, history: &history, now_ts: Some(400 * 86_400_000), open: None },
                );
                evals += 1;
                faults += (o.status() == "fault") as u64;
            }
        }
        let _ = i;
    }
    let secs = t.elapsed().as_secs_f64();
    let per_sample: usize = by_class.iter().map(|(_, c)| c.len()).sum();
    println!(
        "diagnosis: {} samples x {} classes through all packs ({per_sample} criteria per round): {:.0} samples/s (one sample of every class per round: {:.0} rounds/s), {:.0} criterion evaluations/s, {faults} faults",
        samples * by_class.len(),
        by_class.len(),
        (samples * by_class.len()) as f64 / secs,
        samples as f64 / secs,
        evals as f64 / secs
    );
}

fn bench_dga_cli(measuring: bool) {
    let rows = if measuring { 200_000 } else { 2_000 };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lab.csv");
    let mut rng = Rng(11);
    let mut text = String::from("id,date,age_years,H2,CH4,C2H6,C2H4,C2H2,CO,CO2,O2,N2\n");
    for i in 0..rows {
        let t = i / 10; // series of 10 samples per transformer, a month apart
        let month = i % 10;
        let cell =
            |rng: &mut Rng, max: f64| if rng.next() % 20 == 0 { String::new() } else { format!("{:.1}", rng.f(max)) };
        text.push_str(&format!(
            "T{t},{}-{:02}-01,{},{},{},{},{},{},{},{},{},{}\n",
            2015 + month / 12,
            month % 12 + 1,
            t % 40,
            cell(&mut rng, 500.0),
            cell(&mut rng, 400.0),
            cell(&mut rng, 200.0),
            cell(&mut rng, 600.0),
            cell(&mut rng, 30.0),
            cell(&mut rng, 1200.0),
            cell(&mut rng, 12000.0),
            cell(&mut rng, 20000.0),
            cell(&mut rng, 60000.0),
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let t = Instant::now();
    let st = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["dga", "--json", "--csv"])
        .arg(&csv)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(st.success());
    println!(
        "edgecite dga --csv --json: {rows} rows in {:.2} s = {:.0} rows/s (7 methods per row, series of 10, ~5 % empty cells; {} binary)",
        secs,
        rows as f64 / secs,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    // `cargo bench --bench knowledge -- search` runs only the named parts.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    if run("search") {
        bench_search(measuring);
    }
    if run("diagnosis") {
        bench_diagnosis(measuring);
    }
    if run("dga") {
        bench_dga_cli(measuring);
    }
}
