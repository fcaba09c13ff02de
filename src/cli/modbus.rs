//! `edgecite modbus plan` and `edgecite modbus write`.

use crate::config::Config;
use crate::sources::modbus::link::{Connector, RealConnector};
use anyhow::Context;
use std::path::Path;

/// `edgecite modbus plan`: the read plan of every Modbus device.
pub fn plan(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let (mut total, mut naive) = (0, 0);
    for d in &config.sources.modbus {
        let blocks = crate::sources::modbus::plan::plan_device(d);
        let used: u32 = d.points.iter().map(|p| p.registers() as u32).sum();
        let read: u32 = blocks.iter().map(|b| b.count as u32).sum();
        println!(
            "{} ({}/{}): {} point(s) in {} request(s) per cycle; {} register(s)/bit(s) read for {} used; one request per point: {}",
            d.id,
            RealConnector::of(d).endpoint(),
            d.unit,
            d.points.len(),
            blocks.len(),
            read,
            used,
            d.points.len()
        );
        for b in &blocks {
            let names: Vec<&str> = b.points.iter().map(|&i| d.points[i].id.as_str()).collect();
            println!(
                "  every {:>6} ms  fc {:02}  {:<14} {:>5}..{:<5} ({:>3})  {}",
                b.interval_ms,
                b.kind.function_code(),
                b.kind.as_str(),
                b.start,
                b.start as u32 + b.count as u32 - 1,
                b.count,
                names.join(" ")
            );
        }
        total += blocks.len();
        naive += d.points.len();
    }
    println!("total: {total} request(s) per cycle; one request per point: {naive}");
    Ok(())
}

/// `edgecite modbus write`: one value to a point marked `writable = true`, then read back.
/// `runtime` starts the async runtime (the binary's own).
pub fn write(
    path: &Path,
    point: &str,
    value: f64,
    runtime: impl FnOnce() -> anyhow::Result<tokio::runtime::Runtime>,
) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let (dev_id, pt_id) =
        point.split_once('.').with_context(|| format!("--point `{point}`: expected `<source id>.<point id>`"))?;
    let device = config.sources.modbus.iter().find(|d| d.id == dev_id).with_context(|| {
        format!("--point `{point}`: {} has no [[sources.modbus]] with id `{dev_id}`", path.display())
    })?;
    let read = runtime()?.block_on(async {
        let mut connector = RealConnector::of(device);
        crate::sources::modbus::write::write_point(&mut connector, device, pt_id, value).await
    })?;
    println!("wrote {value} to {point}; read back {read}");
    Ok(())
}
