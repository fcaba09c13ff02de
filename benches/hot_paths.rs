//! Criterion benchmarks of the per-sample and per-evaluation hot paths:
//! one pump-model inference through ONNX Runtime, register decoding, a Duval evaluation.
//! Run: `ORT_DYLIB_PATH=... cargo bench --bench hot_paths` (scripts/setup.sh sets it).

use criterion::{criterion_group, criterion_main, Criterion};
use edgecite::config::{ByteOrder, DataType};
use edgecite::inference::{self, Model};
use std::hint::black_box;
use std::path::Path;

fn inference_latency(c: &mut Criterion) {
    let lib = std::env::var("ORT_DYLIB_PATH").expect("set ORT_DYLIB_PATH (scripts/setup.sh does)");
    inference::init_runtime(Some(Path::new(&lib))).unwrap();
    let model = Model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/pump_anomaly")).unwrap();
    let x = [0.213f32, 0.268, 2.40, 0.11, 89.5, 125.2];
    c.bench_function("pump_anomaly: one inference (1 x 6 features)", |b| {
        b.iter(|| model.score(black_box(&x)).unwrap())
    });
    let batch: Vec<f32> = x.iter().copied().cycle().take(6 * 64).collect();
    c.bench_function("pump_anomaly: batch of 64", |b| b.iter(|| model.score_batch(black_box(&batch), 64).unwrap()));
}

fn decoding(c: &mut Criterion) {
    let regs = [0xF5C3u16, 0x4048];
    c.bench_function("decode f32 CDAB with scale and offset", |b| {
        b.iter(|| {
            edgecite::sources::modbus::decode::decode(black_box(&regs), DataType::F32, ByteOrder::CDAB, None, 0.1, 2.0)
                .unwrap()
        })
    });
}

fn duval(c: &mut Criterion) {
    c.bench_function("duval triangle 1: percentages + zone", |b| {
        b.iter(|| {
            edgecite::diagnose::duval::zone(
                edgecite::diagnose::duval::percentages(black_box(400.0), 600.0, 2.0).unwrap(),
            )
        })
    });
}

criterion_group!(benches, inference_latency, decoding, duval);
criterion_main!(benches);
