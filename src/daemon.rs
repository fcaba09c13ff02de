//! Wiring: starts the simulator (if configured), the sources, the API, and runs the loop
//! that stores samples, feeds the pipeline, evaluates criteria and records findings.
//! Cancelling the token shuts everything down in order: sources stop, the samples still
//! in flight are stored, the API stops, the store is closed.

use crate::config::Config;
use crate::diagnose::model_score::ModelSet;
use crate::diagnose::tracker::{Tracker, Transition};
use crate::diagnose::{Assessment, Diagnoser, Outcome};
use crate::fleet::bundle::Kind;
use crate::fleet::deploy::{Check, Fleet, Start};
use crate::inference::{self, Model};
use crate::pipeline::Pipeline;
use crate::service::knowledge::Knowledge;
use crate::simulator::{self, Plant};
use crate::sinks::api;
use crate::sinks::live::{Live, ModelStatus, SharedLive, SourceHandle};
use crate::sinks::mqtt::sender::DeployRequest;
use crate::sources::commit::{Batch, Commit};
use crate::store::Store;
use anyhow::Context;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// When the first assembly of this process started.
static PROCESS_STARTED: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
/// Samples stored per transaction at most, when batches queue up under load.
const MAX_BATCH: usize = 20_000;

/// What `edgecite run` and `edgecite check` build from a config, the same way: the knowledge
/// (packs, glossaries, reference index, asset context), the models, the diagnoser with every
/// criterion of every asset, and how long sample history lasts.
pub struct Assembly {
    pub knowledge: Arc<Knowledge>,
    pub models: ModelSet,
    pub diagnoser: Diagnoser,
    pub history: crate::store::history::HistoryEstimate,
}

/// Where the reference index lives: `run` opens (or rebuilds) its file; `check` builds it in
/// memory, so that checking a config never writes the service's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refs {
    OnDisk,
    InMemory,
}

impl Assembly {
    pub fn new(config: &Config, refs: Refs) -> anyhow::Result<Assembly> {
        let knowledge = Arc::new(
            Knowledge::open(&config.packs, refs == Refs::InMemory)
                .map(|k| k.with_assets(&config.assets))
                .with_context(|| format!("packs and references ([packs] in {})", config.file.display()))?,
        );
        let models = ModelSet::load(&config.inference);
        let diagnoser = Diagnoser::new(config, &knowledge.packs, &models.models, &models.unavailable)?;
        Ok(Assembly { knowledge, models, diagnoser, history: crate::store::history::HistoryEstimate::of(config) })
    }

    /// What the operator should hear before the daemon starts: secrets in the config file,
    /// history cut short by `max_samples`.
    pub fn warnings(&self, config: &Config) -> Vec<String> {
        config.exposed_secrets().into_iter().chain(self.history.warning()).collect()
    }
}

fn model_statuses(models: &[Arc<Model>]) -> Vec<ModelStatus> {
    models
        .iter()
        .map(|m| ModelStatus {
            name: m.manifest.name.clone(),
            version: m.manifest.version.clone(),
            provider: m.provider.to_string(),
            threshold: m.manifest.output.threshold,
        })
        .collect()
}

/// Whether what a deploy put in place is what the daemon now runs: a pack at its version, a
/// model at its version and loaded (`Ok` for a config: it assembled).
pub fn deployed_is_loaded(assembly: &Assembly, kind: Kind, name: &str, version: &str) -> Result<(), String> {
    match kind {
        Kind::Config => Ok(()),
        Kind::Pack => match assembly.knowledge.packs.packs.iter().find(|p| p.id == name) {
            Some(p) if p.version == version => Ok(()),
            Some(p) => Err(format!("pack `{name}` loaded at version {}, not {version}", p.version)),
            None => Err(format!("no pack `{name}` loaded (is `name` the pack's id?)")),
        },
        Kind::Model => match assembly.models.models.iter().find(|m| m.manifest.name == name) {
            Some(m) if m.manifest.version == version => Ok(()),
            Some(m) => Err(format!("model `{name}` loaded at version {}, not {version}", m.manifest.version)),
            None => Err(format!(
                "model `{name}` not loaded{}",
                if assembly.models.errors.is_empty() {
                    " (is `name` the model's name?)".to_string()
                } else {
                    format!(": {}", assembly.models.errors.join("; "))
                }
            )),
        },
    }
}

/// `edgecite check` of the files as a deploy left them: the config loads, the daemon
/// assembles, the deployed pack or model is what loads, and a deployed config keeps the
/// fleet able to reach and check it.
fn check_deploy(running: &Config, kind: Kind, name: &str, version: &str) -> Result<(), String> {
    let config = Config::load(&running.file).map_err(|e| e.to_string())?;
    if kind == Kind::Config && (!config.fleet.accept_deploys || config.fleet.state_dir != running.fleet.state_dir) {
        return Err("a deployed config must keep [fleet] accept_deploys = true and the same [fleet] state_dir \
                    (the fleet could not check it, or roll it back); change those on the gateway"
            .into());
    }
    let assembly = Assembly::new(&config, Refs::InMemory).map_err(|e| format!("{e:#}"))?;
    deployed_is_loaded(&assembly, kind, name, version)
}

/// Hand the deploy outcomes not yet queued to the MQTT outbox (each file is removed once its
/// messages are committed there).
fn queue_outcomes(fleet: Option<&Fleet>, mqtt: Option<&crate::sinks::mqtt::MqttSink>) {
    let (Some(f), Some(m)) = (fleet, mqtt) else { return };
    for (path, o) in f.outcomes() {
        match m.queue_outcome(&o) {
            Ok(()) => {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::error!(file = %path.display(), error = %e, "deploy outcome queued but its file stays (it may be sent twice)");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, deploy = %o.deploy_id, "cannot queue the deploy outcome; tried again later");
                return;
            }
        }
    }
}

/// Sleep until a Unix-ms time (at once when it is past; forever when there is none).
async fn sleep_until_ms(at: Option<i64>) {
    match at {
        Some(t) => tokio::time::sleep(Duration::from_millis((t - crate::time::now_ms()).max(0) as u64)).await,
        None => std::future::pending().await,
    }
}

async fn next_deploy(rx: &mut Option<mpsc::Receiver<DeployRequest>>) -> Option<DeployRequest> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// How `run` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop (a signal).
    Stopped,
    /// A deploy changed what the daemon runs, or rolled it back: assemble again from the
    /// files, in the same process (the service does not restart).
    Reassemble,
}

/// Run the daemon until `stop` is triggered, or until a deploy asks for a new assembly.
pub async fn run(config: Config, stop: CancellationToken) -> anyhow::Result<Exit> {
    let started = crate::time::now_ms();
    // A deploy ends this assembly through its own token; `stop` ends the process.
    let cancel = stop.child_token();
    let mut store = Store::open_with_cache(&config.store.path, config.store.cache_kib)?;
    let fleet = Fleet::new(&config);
    let mut health = match fleet.as_ref().map(|f| f.start(&store, started)).transpose()? {
        Some(Start::RolledBack) => return Ok(Exit::Reassemble),
        Some(Start::Checking(h)) => Some(h),
        Some(Start::Clean) | None => None,
    };
    let assembled = Assembly::new(&config, Refs::OnDisk).and_then(|a| match &health {
        Some(h) => deployed_is_loaded(&a, h.pending.kind(), h.pending.name(), h.pending.version())
            .map(|()| a)
            .map_err(anyhow::Error::msg),
        None => Ok(a),
    });
    let assembly = match (assembled, health.take(), &fleet) {
        (Ok(a), h, _) => {
            health = h;
            a
        }
        (Err(e), Some(h), Some(f)) => {
            f.assembly_failed(h, &format!("{e:#}"), &store)?;
            return Ok(Exit::Reassemble);
        }
        (Err(e), _, _) => return Err(e),
    };
    for w in assembly.warnings(&config) {
        tracing::warn!("{w}");
    }
    tracing::info!("{}", assembly.history.describe());
    let Assembly { knowledge, models: loaded, diagnoser, .. } = assembly;
    let packs = &knowledge.packs;
    // Disk watermark, failed sample writes, periodic quick_check (issue 13).
    let mut guard = crate::store::guard::SampleGuard::new(&config.store);
    guard.health.references_degraded = knowledge.refs_degraded.clone();
    tracing::info!(db = %config.store.path.display(), schema = store.schema_version()?, "store open");

    // What this gateway runs, for `_gateway/info` (asked only when MQTT is on).
    // Uptime counts from the process's start, not from this assembly's (a deploy assembles
    // again in the same process).
    let process_started = *PROCESS_STARTED.get_or_init(|| started);
    let runs =
        config.mqtt.enabled.then(|| crate::sinks::mqtt::info::Runs::new(&config, packs, &loaded, process_started));
    let (models, model_errors) = (loaded.models, loaded.errors);
    let registry = Arc::new(inference::registry::Registry::new(models.clone(), loaded.rejected));
    // Per-asset baselines: their learned state outlives a Diagnoser rebuilt on reload.
    let baselines = crate::diagnose::baseline::online::Registry::from_config(&config, started);
    baselines.restore(store.load_baselines()?, started);
    let mut diagnoser = diagnoser.with_baselines(&baselines);
    let mut reloads = inference::reload::on_sighup(config.inference.clone(), cancel.clone());
    for d in &diagnoser.disabled {
        tracing::warn!(asset = %d.asset, criterion = %d.criterion, reason = %d.reason, "criterion disabled");
    }
    let mut tracker = Tracker::new(config.diagnose.open_after, config.diagnose.clear_after);
    let verdicts = diagnoser.verdicts();
    for (asset, criterion, code, severity) in store.open_findings()? {
        if !criterion.starts_with("verdict.") && !verdicts.iter().any(|(a, v)| *a == asset && *v == criterion) {
            // A finding from before the verdict layer (one per criterion): the criterion now
            // feeds its domain's verdict, so the old finding is cleared with the reason; its
            // rows, events and notes stay.
            let ev = crate::diagnose::Evidence {
                summary: crate::diagnose::Text::new(
                    format!(
                        "cleared at start-up: `{criterion}` no longer gives a finding of its own for {asset}: \
                         findings are one verdict per asset and domain, which shows its result"
                    ),
                    format!(
                        "启动时关闭：`{criterion}` 不再单独给出发现：每台设备每个领域一个结论，其中列出该判据的结果"
                    ),
                ),
                ..Default::default()
            };
            store.clear_finding(&asset, &criterion, &ev, started)?;
            tracing::warn!(%asset, %criterion, %code, "open finding from before the verdict layer: cleared (its domain's verdict takes over)");
            continue;
        }
        tracing::info!(%asset, %criterion, %code, "resuming open finding");
        tracker.restore(&asset, &criterion, &code, severity, started);
    }

    let mut tasks = JoinSet::new();
    // Sources get their own token so they stop first and the loop can drain their samples.
    let sources_cancel = CancellationToken::new();

    if let Some(sim) = &config.simulator {
        let listener = simulator::bind(sim.listen)
            .await
            .with_context(|| format!("simulator: cannot listen on {} (key simulator.listen)", sim.listen))?;
        let plant = Arc::new(Plant::new(sim.clone()));
        let c = cancel.clone();
        tasks.spawn(async move {
            if let Err(e) = simulator::serve(listener, plant, c).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
    }

    // One ingest channel for every source (batches with an optional commit).
    let (tx, mut rx) = mpsc::channel::<Batch>(1024);
    let mut handles = Vec::new();
    for bus in crate::sources::modbus::buses(&config.sources.modbus) {
        for h in bus.handles() {
            handles.push(SourceHandle { id: h.id, kind: "modbus", endpoint: h.endpoint, counters: h.counters });
        }
        tasks.spawn(bus.run(tx.clone(), sources_cancel.clone()));
    }
    for s in &config.sources.i2c {
        let counters = Arc::new(crate::sources::SourceCounters::default());
        let endpoint = format!("i2c://{}/0x{:02x}", s.bus, s.address);
        handles.push(SourceHandle { id: s.id.clone(), kind: "i2c", endpoint, counters: counters.clone() });
        tasks.spawn(crate::local_hw::run_i2c_sensor(s.clone(), counters, tx.clone(), sources_cancel.clone()));
    }
    // MQTT ingest acknowledges a message only after its samples are committed: its batches
    // carry a commit.
    if let Some(counters) = crate::sources::mqtt::spawn(&config, &mut tasks, tx.clone(), sources_cancel.clone())? {
        let endpoint = format!("mqtt://{}:{}", config.mqtt.host, config.mqtt.port);
        handles.push(SourceHandle { id: "mqtt".into(), kind: "mqtt", endpoint, counters });
    }
    drop(tx);
    let (mut alarms, alarm_errors) = crate::local_hw::open_alarms(&config.alarm);

    let mut pipeline = Pipeline::new(&config);
    let mut deadband = crate::deadband::Deadband::new(&config);
    // Each asset's points: what its findings' methods may cite.
    let asset_points: HashMap<String, Vec<String>> =
        config.assets.iter().map(|a| (a.id.clone(), a.roles.values().cloned().collect())).collect();
    let live: SharedLive = Arc::new(RwLock::new(Live {
        site_id: config.site.id.clone(),
        site_name: config.site.name.clone(),
        started_ms: started,
        sources: handles,
        models: model_statuses(&models),
        model_errors,
        registry: registry.clone(),
        alarm_errors,
        disabled: diagnoser.disabled.clone(),
        ..Default::default()
    }));
    live.write().unwrap().refresh(&pipeline, None, started);

    // MQTT publish sink (store-and-forward outbox + sender task); None when [mqtt] is off.
    let mut mqtt = crate::sinks::mqtt::MqttSink::start(&config, &mut tasks, cancel.clone()).context("mqtt")?;
    live.write().unwrap().mqtt = mqtt.as_ref().map(|m| m.status.clone());
    if let (Some(m), Some(runs)) = (mqtt.as_mut(), runs) {
        m.set_runs(runs);
    }
    let mut deploys = mqtt.as_mut().and_then(|m| m.take_deploys());
    queue_outcomes(fleet.as_ref(), mqtt.as_ref());
    let mut reassemble = false;

    if config.api.enabled {
        tasks.spawn(api::spawn(&config.api, &config.store, live.clone(), knowledge.clone(), cancel.clone()).await?);
    }

    let mut eval = tokio::time::interval(Duration::from_millis(config.diagnose.interval_ms));
    eval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    let mut last_status: HashMap<(String, String), String> = HashMap::new();
    let mut sources_stopping = false;
    // All sources have ended (or there are none: an API-only gateway). Only a shutdown
    // request ends the loop; a closed channel alone does not.
    let mut sources_done = false;
    let mut notifier = crate::notify::Notifier::from_env();
    if let Some(w) = notifier.watchdog() {
        tracing::info!(watchdog_ms = w.as_millis() as u64, "systemd watchdog enabled; pinged from the evaluation loop");
        if w < Duration::from_millis(config.diagnose.interval_ms * 2) {
            tracing::warn!(
                watchdog_ms = w.as_millis() as u64,
                interval_ms = config.diagnose.interval_ms,
                "WatchdogSec is shorter than two evaluation intervals; systemd may restart a healthy daemon"
            );
        }
    }
    notifier.ready(&format!("{} assets, {} sources", config.assets.len(), config.sources.modbus.len()));
    notifier.ping();
    tracing::info!(site = %config.site.id, assets = config.assets.len(), sources = config.sources.modbus.len(),
        criteria = diagnoser.criteria().count(), "edgecite running");

    loop {
        if sources_stopping && sources_done {
            break;
        }
        // When the next telemetry is due (once per turn of the loop).
        let telemetry_due = mqtt.as_ref().and_then(|m| m.telemetry_due_ms(&pipeline));
        tokio::select! {
            _ = cancel.cancelled(), if !sources_stopping => {
                if stop.is_cancelled() {
                    tracing::info!("shutting down: stopping sources, storing samples in flight");
                    notifier.stopping();
                } else {
                    tracing::info!("stopping for a new assembly (deploy): stopping sources, storing samples in flight");
                    notifier.reloading();
                }
                sources_cancel.cancel();
                sources_stopping = true;
            }
            batch = rx.recv(), if !sources_done => {
                let Some(first) = batch else {
                    sources_done = true;
                    continue;
                };
                // Whatever else is queued goes into the same transaction.
                let mut samples = first.samples;
                let mut commits: Vec<Commit> = first.commit.into_iter().collect();
                while samples.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(more) => {
                            samples.extend(more.samples);
                            commits.extend(more.commit);
                        }
                        Err(_) => break,
                    }
                }
                let keep = deadband.filter(&samples);
                // Polled samples wait for `[store] commit_interval_ms` and go in one
                // transaction; below the watermark or on a failed write they are counted, not
                // stored; acquisition and evaluation go on (the daemon never exits for it).
                // Samples a peer will be told are stored are committed now, FULL-synced.
                guard.hold(keep.iter().copied());
                if !commits.is_empty() || guard.due() {
                    // A failed write is counted and logged by the guard.
                    let _ = tokio::task::block_in_place(|| guard.commit(&mut store, !commits.is_empty()));
                }
                commits.into_iter().for_each(Commit::done);
                pipeline.ingest(&samples);
                if let Some(m) = mqtt.as_mut() {
                    m.on_ingest(&pipeline, &samples, crate::time::now_ms());
                }
            }
            _ = sleep_until_ms(telemetry_due), if !sources_stopping && telemetry_due.is_some() => {
                // Telemetry when the data arrives, not with the evaluation pass.
                if let Some(m) = mqtt.as_mut() {
                    if let Err(e) = tokio::task::block_in_place(|| m.flush_telemetry(&pipeline, crate::time::now_ms())) {
                        tracing::error!(error = %e, "MQTT: cannot queue telemetry in the outbox");
                    }
                }
            }
            _ = tokio::time::sleep(guard.due_in().unwrap_or(PRUNE_EVERY)), if guard.due_in().is_some() => {
                let _ = tokio::task::block_in_place(|| guard.commit(&mut store, false));
            }
            _ = eval.tick(), if !sources_stopping => {
                let now = crate::time::now_ms();
                // Models run batched on the blocking pool; the criteria then read their scores.
                inference::batch::prescore(&registry.models(), &pipeline, now).await;
                let assessments = tokio::task::block_in_place(|| {
                    diagnoser.evaluate(&pipeline, now, &|a, c| tracker.open_code(a, c))
                });
                if let Err(e) = tokio::task::block_in_place(|| record(&mut store, &mut tracker, &mut deadband, &mut guard, &asset_points, &assessments, &mut last_status, now)) {
                    // A full disk or an I/O error: said loudly, and tried again next pass.
                    tracing::error!(error = %e, "cannot record findings and assessments");
                    // The tracker may now be ahead of the store: start it again from what is
                    // stored, so a finding that could not be stored opens again once it can.
                    tracker = Tracker::new(config.diagnose.open_after, config.diagnose.clear_after);
                    for (asset, criterion, code, severity) in store.open_findings().unwrap_or_default() {
                        tracker.restore(&asset, &criterion, &code, severity, now);
                    }
                }
                if let Err(e) = tokio::task::block_in_place(|| store.sync_baselines(&baselines, now)) {
                    tracing::error!(error = %e, "cannot store baseline state");
                }
                tokio::task::block_in_place(|| guard.maybe_check(&store, now));
                {
                    let mut lv = live.write().unwrap_or_else(|p| p.into_inner());
                    lv.refresh(&pipeline, Some(&assessments), now);
                    lv.store_health = guard.health.clone();
                }
                if let Some(m) = mqtt.as_mut() {
                    if let Err(e) = tokio::task::block_in_place(|| m.after_evaluation(&store, &pipeline, &assessments, now)) {
                        tracing::error!(error = %e, "MQTT: cannot queue messages in the outbox");
                    }
                }
                if let (Some(h), Some(f)) = (health.as_mut(), fleet.as_ref()) {
                    let model = (h.pending.kind() == Kind::Model).then(|| {
                        registry.models().iter().find(|m| m.manifest.name == h.pending.name()).map(|m| {
                            let s = m.stats.snapshot();
                            (s.runs, s.errors, s.non_finite_scores)
                        })
                    });
                    let verdict = h.evaluated(now, model);
                    let done = match verdict {
                        Check::Wait => Ok(()),
                        Check::Passed => health.take().map_or(Ok(()), |h| tokio::task::block_in_place(|| f.confirm(h, &store))),
                        Check::Failed(why) => {
                            reassemble = true;
                            cancel.cancel();
                            health.take().map_or(Ok(()), |h| tokio::task::block_in_place(|| f.roll_back(h.pending, &why, &store)))
                        }
                    };
                    if let Err(e) = done {
                        tracing::error!(error = %e, "deploy: cannot record the health check's outcome");
                    }
                    queue_outcomes(fleet.as_ref(), mqtt.as_ref());
                }
                // Only a loop that gets this far keeps systemd's watchdog content.
                notifier.ping();
                if let Some(a) = alarms.as_mut() {
                    for (name, e) in a.apply(tracker.worst_open()) {
                        tracing::error!(output = %name, error = %e, "cannot switch alarm output");
                    }
                    if let Err(e) = a.beat() {
                        tracing::warn!(error = %e, "cannot toggle heartbeat LED");
                    }
                }
            }
            Some(l) = reloads.recv(), if !sources_stopping => {
                // Swapped between evaluations; the pipeline and queued samples stay as they are.
                let l = ModelSet::from(l);
                match Diagnoser::new(&config, packs, &l.models, &l.unavailable) {
                    Ok(d) => {
                        if let Some(m) = mqtt.as_mut() {
                            m.set_runs(crate::sinks::mqtt::info::Runs::new(&config, packs, &l, process_started));
                        }
                        diagnoser = d.with_baselines(&baselines);
                        let generation = registry.replace(l.models.clone(), l.rejected);
                        let mut lv = live.write().unwrap_or_else(|p| p.into_inner());
                        lv.models = model_statuses(&l.models);
                        lv.model_errors = l.errors;
                        lv.disabled = diagnoser.disabled.clone();
                        tracing::info!(generation, loaded = l.models.len(), rejected = l.unavailable.len(), "models reloaded");
                    }
                    Err(e) => tracing::error!(error = %e, "model reload rejected; the running models stay"),
                }
            }
            Some(req) = next_deploy(&mut deploys), if !sources_stopping => {
                let Some(f) = fleet.as_ref() else { continue };
                let busy = health.as_ref().map(|h| h.pending.deploy_id().to_string());
                let reply = crate::fleet::deploy::ReplyTo::from_mqtt(req.reply);
                let check = |kind: Kind, name: &str, version: &str| check_deploy(&config, kind, name, version);
                match tokio::task::block_in_place(|| f.apply(&req.payload, reply, busy.as_deref(), &store, &check)) {
                    Ok(false) => {}
                    Ok(true) => {
                        reassemble = true;
                        cancel.cancel();
                    }
                    Err(e) => {
                        // Half done: the next assembly finds the deploy in progress and puts
                        // the previous version back.
                        tracing::error!(error = %e, "deploy failed while putting the new version in place; rolling back");
                        reassemble = true;
                        cancel.cancel();
                    }
                }
                queue_outcomes(fleet.as_ref(), mqtt.as_ref());
            }
            _ = prune.tick(), if !sources_stopping => {
                let now = crate::time::now_ms();
                match tokio::task::block_in_place(|| store.prune(now, config.store.sample_retention_hours, config.store.max_samples)) {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "old samples pruned"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "pruning samples failed"),
                }
                tokio::task::block_in_place(|| store.apply_api_retention(now, &(&config.api).into()));
            }
        }
    }
    cancel.cancel();
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "task failed during shutdown");
        }
    }
    if let Err(e) = tokio::task::block_in_place(|| guard.commit(&mut store, false)) {
        tracing::error!(error = %e, "cannot store the last samples at shutdown");
    }
    drop(store);
    if reassemble && !stop.is_cancelled() {
        tracing::info!("edgecite stopped for a new assembly (deploy); starting again");
        return Ok(Exit::Reassemble);
    }
    tracing::info!("edgecite stopped; store closed");
    Ok(Exit::Stopped)
}

/// Apply assessments: finding transitions to the store, status changes to the log and the
/// assessments table.
#[allow(clippy::too_many_arguments)]
fn record(
    store: &mut Store,
    tracker: &mut Tracker,
    deadband: &mut crate::deadband::Deadband,
    guard: &mut crate::store::guard::SampleGuard,
    asset_points: &HashMap<String, Vec<String>>,
    assessments: &[Assessment],
    last_status: &mut HashMap<(String, String), String>,
    now: i64,
) -> anyhow::Result<()> {
    for a in assessments {
        let cid = a.criterion.id.as_str();
        let (code, reason, detail) = match &a.outcome {
            Outcome::Fault(r) => (Some(r.code.as_str()), None, r.evidence.summary.en.as_str()),
            Outcome::Normal { evidence, .. } => (None, None, evidence.summary.en.as_str()),
            Outcome::Abstain { reason, detail, .. } => (None, Some(*reason), detail.en.as_str()),
        };
        let reason_s = reason.map(|r| r.as_str());
        let key = format!("{}|{}|{}", a.outcome.status(), code.unwrap_or(""), reason_s.unwrap_or(""));
        if last_status.get(&(a.asset.clone(), cid.to_string())) != Some(&key) {
            match &a.outcome {
                Outcome::Abstain { .. } => {
                    tracing::warn!(asset = %a.asset, criterion = cid, reason = reason_s.unwrap_or(""), detail, "diagnosis abstains")
                }
                _ => {
                    tracing::info!(asset = %a.asset, criterion = cid, status = a.outcome.status(), code = code.unwrap_or(""), detail, "assessment changed")
                }
            }
            store.record_assessment(&a.asset, cid, now, a.outcome.status(), code, reason_s, detail)?;
            last_status.insert((a.asset.clone(), cid.to_string()), key);
        }
        let transition = tracker.observe(&a.asset, cid, &a.outcome, now);
        // Every value a stored finding cites (its evidence values and the values its methods'
        // summaries quote: the asset's newest samples) is in the sample history: the
        // asset's samples the deadband held back are stored with it.
        if transition.is_some() {
            let own = asset_points.get(&a.asset).into_iter().flatten();
            let released: Vec<crate::sample::Sample> = own.filter_map(|p| deadband.release(p)).collect();
            guard.hold(released.iter());
            guard.commit(store, false)?;
        }
        match transition {
            None => {}
            Some(Transition::Opened(r)) => {
                let id = store.open_finding(&a.asset, &a.criterion, &r, now)?;
                tracing::warn!(finding = id, asset = %a.asset, criterion = cid, code = %r.code, severity = r.severity.as_str(), evidence = %r.evidence.summary.en, "finding opened");
            }
            Some(Transition::Changed(r)) => {
                store.update_finding(&a.asset, cid, &r, now, true)?;
                tracing::warn!(asset = %a.asset, criterion = cid, code = %r.code, severity = r.severity.as_str(), "finding changed");
            }
            Some(Transition::Refreshed(r)) => store.update_finding(&a.asset, cid, &r, now, false)?,
            Some(Transition::Cleared(ev)) => {
                store.clear_finding(&a.asset, cid, &ev, now)?;
                tracing::info!(asset = %a.asset, criterion = cid, evidence = %ev.summary.en, "finding cleared");
            }
        }
    }
    Ok(())
}
