//! `edgecite simulate`: the plant simulator of a config's `[simulator]` section. The binary
//! starts the runtime and the signal handling and then calls [`Simulator::serve`].

use crate::config::simulator::SimulatorConfig;
use crate::config::Config;
use crate::simulator::Plant;
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The simulator of a config, ready to serve.
pub struct Simulator {
    sim: SimulatorConfig,
    plant: Arc<Plant>,
}

/// Load the config's `[simulator]` section; with `dump`, print the simulator's channels,
/// values and registers as JSON and return None (nothing to serve).
pub fn simulate(path: &Path, dump: bool) -> anyhow::Result<Option<Simulator>> {
    let config = Config::load(path)?;
    let sim = config.simulator.clone().with_context(|| format!("{}: no [simulator] section to run", path.display()))?;
    let plant = Arc::new(Plant::new(sim.clone()));
    if dump {
        println!("{}", serde_json::to_string_pretty(&plant.snapshot())?);
        return Ok(None);
    }
    Ok(Some(Simulator { sim, plant }))
}

impl Simulator {
    /// Listen on `simulator.listen` and serve Modbus TCP until `cancel`.
    pub async fn serve(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let Simulator { sim, plant } = self;
        let listener = crate::simulator::bind(sim.listen)
            .await
            .with_context(|| format!("simulator: cannot listen on {} (key simulator.listen)", sim.listen))?;
        crate::simulator::serve(listener, plant, cancel).await?;
        Ok(())
    }
}
