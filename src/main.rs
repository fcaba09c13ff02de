//! The `edgecite` binary: command line (clap types and dispatch; the commands' bodies are in
//! `edgecite::cli`), logging, signals, the async runtime and `run`. Library errors become
//! `anyhow` here, at the edge.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use edgecite::config::Config;
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
    /// Fleet bundles: signing keys, build, sign, verify, deploy requests.
    Bundle {
        #[command(subcommand)]
        command: edgecite::cli::bundle::BundleCommand,
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
        #[arg(long, value_parser = edgecite::cli::model::parse_map)]
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
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDGECITE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // The newest error is kept for `_gateway/info` beside the log output.
    let registry = tracing_subscriber::registry().with(filter).with(edgecite::status::LastErrorLayer);
    match format {
        LogFormat::Json => registry.with(fmt.json()).init(),
        LogFormat::Text => registry.with(fmt.with_ansi(std::io::stderr().is_terminal())).init(),
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
        Command::Version => edgecite::cli::version(),
        Command::Check { config } => edgecite::cli::check::check(&config),
        Command::Run { config } => run(&config),
        Command::Simulate { config, dump } => simulate(&config, dump),
        Command::Modbus { command: ModbusCommand::Plan { config } } => edgecite::cli::modbus::plan(&config),
        Command::Modbus { command: ModbusCommand::Write { config, point, value } } => {
            edgecite::cli::modbus::write(&config, &point, value, runtime)
        }
        Command::Status { config, json, token_file } => {
            edgecite::cli::status::status(&config, json, token_file.as_deref())
        }
        Command::Model { command: ModelCommand::Eval { model, csv, json, config, models_dir, map } } => {
            edgecite::cli::model::eval(&model, &csv, json, config.as_deref(), models_dir, &map)
        }
        Command::Model { command: ModelCommand::Parity { model, config, models_dir, json } } => {
            edgecite::cli::model::parity(&model, config.as_deref(), models_dir, json)
        }
        Command::Baseline { command } => edgecite::cli::baseline::run(command),
        Command::Bundle { command } => edgecite::cli::bundle::run(command),
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

/// Run the daemon; after a deploy, read the files again and assemble it again, in the same
/// process.
fn run(path: &Path) -> anyhow::Result<()> {
    let load = || match Config::load(path) {
        // A deployed config that does not load now (it did when it was checked) is undone
        // at once; the deploy's record then reports the rollback.
        Err(e) if edgecite::fleet::deploy::recover_config(path) => {
            tracing::error!(error = %e, "the deployed config does not load; the previous one is back");
            Config::load(path)
        }
        r => r,
    };
    let mut config = load()?;
    runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_signal(cancel.clone()));
        while edgecite::daemon::run(config, cancel.clone()).await? == edgecite::daemon::Exit::Reassemble {
            config = load()?;
        }
        Ok(())
    })
}

fn simulate(path: &Path, dump: bool) -> anyhow::Result<()> {
    let Some(simulator) = edgecite::cli::simulate::simulate(path, dump)? else {
        return Ok(());
    };
    runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_signal(cancel.clone()));
        simulator.serve(cancel).await
    })
}
