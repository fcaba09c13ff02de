//! The `edgecite` binary: command line, logging, signals. Library errors become `anyhow`
//! here, at the edge.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use edgecite::config::Config;
use edgecite::sources::modbus::link::{Connector, RealConnector};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "edgecite", version, about = "Edge daemon: equipment data to cited inspection findings")]
struct Cli {
    /// Log format on stderr (`json` for log collectors; journald takes either).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config and print what it sets up; exits non-zero with the error.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run only the plant simulator of a config's [simulator] section.
    Simulate {
        #[arg(long, short)]
        config: PathBuf,
        /// Print the simulator's channels, values and registers as JSON and exit.
        #[arg(long)]
        dump: bool,
    },
    /// Ask the running daemon (at the config's api.listen) for its status: sources with
    /// their counters, models, disabled criteria.
    Status {
        #[arg(long, short)]
        config: PathBuf,
        /// Print the raw JSON of /healthz.
        #[arg(long)]
        json: bool,
        /// Read the API token (a viewer's, for the models list) from this file instead of
        /// the EDGECITE_TOKEN variable.
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
    },
    /// Modbus tools.
    Modbus {
        #[command(subcommand)]
        command: ModbusCommand,
    },
    /// Model tools.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Per-asset baselines: evaluation on labelled runs.
    Baseline {
        #[command(subcommand)]
        command: edgecite::cli::baseline::BaselineCommand,
    },
    /// API users (for the web app and API tokens).
    User {
        #[command(subcommand)]
        command: edgecite::cli::user::UserCommand,
    },
    /// API tokens for scripts and handheld apps.
    Token {
        #[command(subcommand)]
        command: edgecite::cli::user::TokenCommand,
    },
    /// Diagnose lab DGA results (one sample from flags, or --csv FILE) through the transformer-dga pack.
    Dga(edgecite::cli::DgaArgs),
    /// Search the reference library (passages with citations, or "no supported answer").
    Ask(edgecite::cli::AskArgs),
    /// Reference library: import plant documents and failure cases.
    Refs {
        #[command(subcommand)]
        command: edgecite::cli::RefsCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Score a CSV through a model as the daemon would and print each row's score and alert.
    /// Columns: a timestamp column plus one column per role of the model (extra columns are
    /// ignored; an empty cell is a missing value).
    Eval {
        /// Model directory, or the name of a model under the models directory.
        #[arg(long)]
        model: String,
        #[arg(long)]
        csv: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Take models_dir, runtime_path and providers from this config's [inference].
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where to look for `--model NAME` (default: the config's, else `models`).
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// Read a role from a differently named column: `--map temperature=value`.
        #[arg(long, value_parser = parse_map)]
        map: Vec<(String, String)>,
    },
    /// Score the model's parity.csv (reference scores from ONNX Runtime on CPU) on the
    /// configured execution providers and compare; exits 1 when a score differs by more than
    /// the tolerance. For checking a vendor's accelerator build on the gateway.
    Parity {
        /// Model directory, or the name of a model under the models directory.
        #[arg(long)]
        model: String,
        /// Take models_dir, runtime_path, providers and provider_options from this config.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where to look for `--model NAME` (default: the config's, else `models`).
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ModbusCommand {
    /// Print the read plan of every Modbus device: requests per cycle, registers read, and
    /// what one request per point would take.
    Plan {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Write one value to a point marked `writable = true`, then read it back. Opens its own
    /// connection: on a serial line the daemon holds, stop the daemon first.
    Write {
        #[arg(long, short)]
        config: PathBuf,
        /// `<source id>.<point id>`
        #[arg(long)]
        point: String,
        /// Engineering value (scale and offset are undone before writing).
        #[arg(long, allow_negative_numbers = true)]
        value: f64,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDGECITE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. } | Command::Simulate { dump: false, .. }) {
        // One-shot commands end quietly when their reader goes away (`edgecite check | head`),
        // as Unix tools do. The daemon keeps Rust's default of ignoring SIGPIPE.
        // SAFETY: setting a signal disposition before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Version => {
            println!("edgecite {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Check { config } => check(&config),
        Command::Run { config } => run(&config),
        Command::Simulate { config, dump } => simulate(&config, dump),
        Command::Modbus { command: ModbusCommand::Plan { config } } => modbus_plan(&config),
        Command::Modbus { command: ModbusCommand::Write { config, point, value } } => {
            modbus_write(&config, &point, value)
        }
        Command::Status { config, json, token_file } => status(&config, json, token_file.as_deref()),
        Command::Model { command: ModelCommand::Eval { model, csv, json, config, models_dir, map } } => {
            model_eval(&model, &csv, json, config.as_deref(), models_dir, &map)
        }
        Command::Model { command: ModelCommand::Parity { model, config, models_dir, json } } => {
            model_parity(&model, config.as_deref(), models_dir, json)
        }
        Command::Baseline { command } => edgecite::cli::baseline::run(command),
        Command::User { command } => edgecite::cli::user::user(command),
        Command::Token { command } => edgecite::cli::user::token(command),
        Command::Ask(args) => edgecite::cli::ask(&args),
        Command::Refs { command } => edgecite::cli::refs(&command),
        Command::Dga(args) => edgecite::cli::dga(&args)
            .and_then(|ok| ok.then_some(()).context("some rows could not be read (see their error lines)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Store queries, argon2 checks and model runs: bounded, well below the unit's
        // TasksMax=256 (tokio's default allows 512 threads).
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Cancel the token on SIGTERM or SIGINT.
async fn cancel_on_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "signal received; shutting down");
    cancel.cancel();
}

fn run(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_signal(cancel.clone()));
        edgecite::daemon::run(config, cancel).await
    })
}

fn simulate(path: &Path, dump: bool) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let sim = config.simulator.clone().with_context(|| format!("{}: no [simulator] section to run", path.display()))?;
    let plant = std::sync::Arc::new(edgecite::simulator::Plant::new(sim.clone()));
    if dump {
        println!("{}", serde_json::to_string_pretty(&plant.snapshot())?);
        return Ok(());
    }
    runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_signal(cancel.clone()));
        let listener = edgecite::simulator::bind(sim.listen)
            .await
            .with_context(|| format!("simulator: cannot listen on {} (key simulator.listen)", sim.listen))?;
        edgecite::simulator::serve(listener, plant, cancel).await?;
        Ok(())
    })
}

/// GET `path` from the daemon's API (over TLS, trusting the configured certificate, when
/// `[api] tls` is set); returns the JSON body. Sends `token` as a bearer token when given
/// (routes under `/api/v1` need one).
fn api_get(api: &edgecite::config::ApiConfig, path: &str, token: Option<&str>) -> anyhow::Result<serde_json::Value> {
    use std::io::{Read, Write};
    let mut addr = api.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if api.tls.is_some() { "https" } else { "http" };
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)).with_context(|| {
        format!("no edgecite answering at {scheme}://{addr} (is the daemon running with this config?)")
    })?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n");
    let mut buf = String::new();
    if let Some(tls) = &api.tls {
        let cfg = edgecite::sinks::api::server::pinned_client_config(&tls.cert)?;
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name)?;
        let mut tls = rustls::StreamOwned::new(conn, s);
        tls.write_all(request.as_bytes())?;
        // The server may close without a TLS close_notify; what was read is kept.
        let _ = tls.read_to_string(&mut buf);
    } else {
        s.write_all(request.as_bytes())?;
        s.read_to_string(&mut buf)?;
    }
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).with_context(|| format!("http://{addr}{path} did not answer JSON"))
}

/// The API token for `edgecite status`: `--token-file` (first line, trimmed), else
/// `EDGECITE_TOKEN`; None when neither is given.
fn status_token(token_file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    if let Some(f) = token_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("--token-file {}: cannot read", f.display()))?;
        let t = text.lines().next().unwrap_or("").trim();
        if t.is_empty() {
            anyhow::bail!("--token-file {}: empty; expected an API token (`edgecite token create USER`)", f.display());
        }
        return Ok(Some(t.to_string()));
    }
    Ok(std::env::var("EDGECITE_TOKEN").ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
}

fn status(path: &Path, raw: bool, token_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let token = status_token(token_file)?;
    let h = api_get(&config.api, "/healthz", token.as_deref())?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&h)?);
        return Ok(());
    }
    let health: edgecite::sinks::api::health::Health =
        serde_json::from_value(h).context("/healthz answered a document this edgecite does not understand")?;
    let Some(d) = health.detail else {
        // Without credentials /healthz says only healthy, degraded or down.
        println!(
            "edgecite at {}: {} (the detail needs a viewer's API token: --token-file PATH or EDGECITE_TOKEN)",
            config.api.listen, health.status
        );
        if token.is_some() {
            println!(
                "models: not shown (unauthenticated: /healthz did not accept the token); the token from {} was refused: create a viewer's token (`edgecite token create USER`)",
                if token_file.is_some() { "--token-file" } else { "EDGECITE_TOKEN" }
            );
        }
        return Ok(());
    };
    for r in &d.reasons {
        println!("degraded: {r}");
    }
    let s = |v: &serde_json::Value| v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "null".into());
    println!(
        "edgecite {} at {}://{}: {}, up {} s, last evaluation {}, {} samples stored",
        d.version,
        if config.api.tls.is_some() { "https" } else { "http" },
        config.api.listen,
        health.status,
        d.uptime_s,
        or_none(d.last_evaluation.clone()),
        d.store.samples.map(|n| n.to_string()).unwrap_or_else(|| "null".into())
    );
    println!(
        "{:<10} {:<44} {:<5} {:>9} {:>8} {:>8} {:>9} {:>10} {:>8} {:>8}  last success",
        "source", "endpoint", "link", "requests", "timeouts", "transp.", "exception", "skipped", "backoff", "mean us"
    );
    for src in &d.sources {
        println!(
            "{:<10} {:<44} {:<5} {:>9} {:>8} {:>8} {:>9} {:>10} {:>8} {:>8}  {}",
            src.id,
            src.endpoint,
            if src.connected { "up" } else { "down" },
            src.requests,
            src.timeouts,
            src.transport_errors,
            src.exceptions,
            src.skipped,
            src.backoff_ms,
            or_none(src.latency_mean_us.map(|n| n.to_string())),
            or_none(src.last_success.clone())
        );
    }
    println!(
        "{:<10} {:<10} {:<8} {:<8} {:>10} {:>10} {:>8} {:>8}",
        "component", "id", "kind", "health", "received", "sent", "errors", "dropped"
    );
    for c in &d.components {
        println!(
            "{:<10} {:<10} {:<8} {:<8} {:>10} {:>10} {:>8} {:>8}{}",
            c.role.as_str(),
            c.id,
            c.kind,
            if c.healthy { "ok" } else { "PROBLEM" },
            c.received,
            c.sent,
            c.errors,
            c.dropped,
            c.problem.as_ref().map(|p| format!("  {p}")).unwrap_or_default()
        );
    }
    let models = match &token {
        None => {
            println!(
                "models: not shown: /api/v1/models needs an API token; pass --token-file PATH or set EDGECITE_TOKEN to a viewer's token (`edgecite token create USER`)"
            );
            serde_json::Value::Null
        }
        Some(t) => api_get(&config.api, "/api/v1/models", Some(t))?,
    };
    if let Some(e) = models.get("error") {
        println!(
            "models: not shown ({}: {}); the token from {} was refused: create a viewer's token (`edgecite token create USER`)",
            s(&e["code"]),
            s(&e["message"]),
            if token_file.is_some() { "--token-file" } else { "EDGECITE_TOKEN" }
        );
    }
    for m in models["models"].as_array().into_iter().flatten() {
        if m["status"] == "loaded" {
            let l = &m["latency"];
            println!(
                "model {} {} on {} ({} nodes): {} run(s), {} row(s), mean {:.0} us, p99 <= {} us, {} error(s), {} non-finite score(s); roles {}",
                s(&m["name"]),
                s(&m["version"]),
                s(&m["provider"]),
                s(&m["provider_nodes"]),
                l["runs"],
                l["rows"],
                l["mean_us"].as_f64().unwrap_or(0.0),
                l["p99_us"],
                l["errors"],
                l["non_finite_scores"],
                m["input_roles"].as_array().into_iter().flatten().map(s).collect::<Vec<_>>().join(",")
            );
        } else {
            println!("model {} REJECTED: {}", s(&m["name"]), s(&m["error"]));
        }
        for f in m["provider_fallbacks"].as_array().into_iter().flatten() {
            println!("  provider skipped: {}", s(f));
        }
    }
    for e in &d.model_errors {
        println!("model error: {e}");
    }
    for c in &d.disabled_criteria {
        println!("disabled: {} {}: {}", c.asset, c.criterion, c.reason);
    }
    edgecite::sinks::mqtt::MqttStatusView::print_status(d.mqtt.as_ref());
    Ok(())
}

fn model_eval(
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
    edgecite::inference::eval::run(model, csv, json, map, &cfg)?;
    Ok(())
}

fn model_parity(model: &str, config: Option<&Path>, models_dir: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let mut cfg = match config {
        Some(p) => Config::load(p)?.inference,
        None => Default::default(),
    };
    if let Some(d) = models_dir {
        cfg.models_dir = d;
    }
    let r = edgecite::inference::parity::run(model, &cfg)?;
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

fn parse_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((r, c)) if !r.is_empty() && !c.is_empty() => Ok((r.to_string(), c.to_string())),
        _ => Err(format!("`{s}`: expected ROLE=COLUMN")),
    }
}

fn modbus_write(path: &Path, point: &str, value: f64) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let (dev_id, pt_id) =
        point.split_once('.').with_context(|| format!("--point `{point}`: expected `<source id>.<point id>`"))?;
    let device = config.sources.modbus.iter().find(|d| d.id == dev_id).with_context(|| {
        format!("--point `{point}`: {} has no [[sources.modbus]] with id `{dev_id}`", path.display())
    })?;
    let read = runtime()?.block_on(async {
        let mut connector = RealConnector::of(device);
        edgecite::sources::modbus::write::write_point(&mut connector, device, pt_id, value).await
    })?;
    println!("wrote {value} to {point}; read back {read}");
    Ok(())
}

fn modbus_plan(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let (mut total, mut naive) = (0, 0);
    for d in &config.sources.modbus {
        let blocks = edgecite::sources::modbus::plan::plan_device(d);
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

fn check(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    // The same assembly as `run`, with the reference index in memory (check writes nothing).
    let assembly = edgecite::daemon::Assembly::new(&config, edgecite::daemon::Refs::InMemory)?;
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
            edgecite::sources::modbus::plan::plan_device(d).len()
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
    if let Some(lib) = edgecite::inference::runtime_path() {
        let version = edgecite::inference::runtime_version().unwrap_or_else(|| "unknown".into());
        let have: Vec<&str> = edgecite::inference::providers::available().iter().map(|p| p.as_str()).collect();
        println!("runtime: ONNX Runtime {version} from {} (providers: {})", lib.display(), have.join(", "));
        // Built for API level 22: every runtime that loads (1.22 and later) has all that
        // edgecite uses, so no feature is switched off by the version.
        println!(
            "runtime features: all on (edgecite needs ONNX Runtime {} or later; older ones are refused)",
            edgecite::inference::MIN_RUNTIME
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
    if config.api.enabled {
        println!("api: {}://{}", if config.api.tls.is_some() { "https" } else { "http" }, config.api.listen);
    }
    println!("references: {} document(s), {} passage(s)", library.documents().count(), library.passage_count());
    for p in &packs.packs {
        println!("pack: {} {} ({} criteria) from {}", p.id, p.version, p.criteria.len(), p.source);
    }
    Ok(())
}
