//! `edgecite check`: validate a config and print what it sets up.

use crate::config::Config;
use crate::sources::modbus::link::{Connector, RealConnector};
use std::path::Path;

pub fn check(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    // The same assembly as `run`, with the reference index in memory (check writes nothing).
    let assembly = crate::daemon::Assembly::new(&config, crate::daemon::Refs::InMemory)?;
    let (packs, diagnoser, history) = (&assembly.knowledge.packs, &assembly.diagnoser, &assembly.history);
    let (models, model_errors) = (&assembly.models.models, &assembly.models.errors);
    let library = &packs.library;
    println!("config {}: OK", path.display());
    for w in assembly.warnings(&config) {
        println!("warning: {w}");
    }
    println!("site: {} ({})", config.site.id, config.site.name);
    let points: usize = config.sources.modbus.iter().map(|d| d.points.len()).sum();
    let subs = if config.mqtt.enabled { config.mqtt.subscriptions.len() } else { 0 };
    println!(
        "sources: {} modbus device(s), {points} point(s); {} I2C sensor(s); {subs} MQTT subscription(s)",
        config.sources.modbus.len(),
        config.sources.i2c.len()
    );
    for d in &config.sources.modbus {
        println!(
            "  {:<10} {}/{}  every {} ms, {} point(s) in {} request(s) per cycle",
            d.id,
            RealConnector::of(d).endpoint(),
            d.unit,
            d.interval_ms,
            d.points.len(),
            crate::sources::modbus::plan::plan_device(d).len()
        );
    }
    for s in &config.sources.i2c {
        println!("  {:<10} i2c {} address {:#04x} ({:?}) every {} ms", s.id, s.bus, s.address, s.sensor, s.interval_ms);
    }
    for t in config.mqtt.subscriptions.iter().filter(|_| config.mqtt.enabled) {
        println!("  mqtt       {} -> {} ({:?})", t.topic, t.point, t.format);
    }
    println!("assets: {}", config.assets.len());
    for a in &config.assets {
        println!("  {:<10} {:<12} {} role(s) bound", a.id, a.class.as_str(), a.roles.len());
    }
    println!("criteria: {}", diagnoser.criteria().count());
    for (asset, c) in diagnoser.criteria() {
        println!("  {asset:<10} {} v{} ({:?})", c.id, c.version, c.verification);
    }
    for d in &diagnoser.disabled {
        println!("  {:<10} {} DISABLED: {}", d.asset, d.criterion, d.reason);
    }
    if let Some(lib) = crate::inference::runtime_path() {
        let version = crate::inference::runtime_version().unwrap_or_else(|| "unknown".into());
        let have: Vec<&str> = crate::inference::providers::available().iter().map(|p| p.as_str()).collect();
        println!("runtime: ONNX Runtime {version} from {} (providers: {})", lib.display(), have.join(", "));
        // Built for API level 22: every runtime that loads (1.22 and later) has all that
        // edgecite uses, so no feature is switched off by the version.
        println!(
            "runtime features: all on (edgecite needs ONNX Runtime {} or later; older ones are refused)",
            crate::inference::MIN_RUNTIME
        );
    }
    println!("models: {}", models.len());
    for m in models {
        let options: Vec<String> = m.provider_options.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  {} {} on {} (threshold {}; {} nodes on {}{})",
            m.manifest.name,
            m.manifest.version,
            m.provider,
            m.manifest.output.threshold,
            m.placement,
            m.provider,
            if options.is_empty() { String::new() } else { format!("; options {}", options.join(" ")) }
        );
        for f in &m.fallbacks {
            println!("    provider skipped: {f}");
        }
    }
    for e in model_errors {
        println!("  ERROR: {e}");
    }
    if let Some(sim) = &config.simulator {
        println!("simulator: Modbus TCP on {} (time factor {}, seed {})", sim.listen, sim.time_factor, sim.seed);
    }
    println!("store: {}", config.store.path.display());
    println!("  {}", history.describe());
    if let Some(d) = history.on_disk(&config.store.path) {
        println!("  {d}");
    }
    if config.api.enabled {
        println!("api: {}://{}", if config.api.tls.is_some() { "https" } else { "http" }, config.api.listen);
    }
    println!("references: {} document(s), {} passage(s)", library.documents().count(), library.passage_count());
    for p in &packs.packs {
        println!("pack: {} {} ({} criteria) from {}", p.id, p.version, p.criteria.len(), p.source);
    }
    Ok(())
}
