//! `edgecite user ...` and `edgecite token ...`: manage API users and tokens in the store
//! named by a config (works while the daemon runs: SQLite WAL).

use crate::config::Config;
use crate::service::accounts::{create_token, hash_secret};
use crate::store::auth::AuditEntry;
use crate::store::Store;
use anyhow::{bail, Context};
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user, or set a new role and password for an existing one.
    Add {
        name: String,
        #[arg(long, value_parser = ["viewer", "technician", "admin"])]
        role: String,
        #[arg(long, short)]
        config: PathBuf,
        /// Read the password from the first line of stdin instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: their sessions end and their tokens stop working.
    Disable {
        name: String,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List users and roles.
    List {
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; prints it once (only its hash is stored).
    Create {
        user: String,
        #[arg(long, short)]
        config: PathBuf,
        /// What the token is for (shown by `token list`).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Revoke a token by id; it stops working at once.
    Revoke {
        id: i64,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// List tokens (ids, users, labels, revocation), never their secrets.
    List {
        #[arg(long, short)]
        config: PathBuf,
    },
}

pub(crate) fn open(config: &std::path::Path) -> anyhow::Result<Store> {
    let c = Config::load(config)?;
    // Root must not leave root-owned WAL/SHM files in the service's state directory.
    crate::store::owner::refuse_root_on_foreign_db(&c.store.path, &std::env::args().collect::<Vec<_>>())?;
    Ok(Store::open(&c.store.path)?)
}

pub(crate) fn audit(store: &Store, action: &str, target: &str, detail: &str) -> anyhow::Result<()> {
    let actor = format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "?".into()));
    store.audit(
        &AuditEntry { actor: &actor, role: None, action, target, status: 0, remote: None, detail },
        crate::time::now_ms(),
    )?;
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("password: ");
        // Hide the typed password when a terminal is attached.
        let _ = std::process::Command::new("stty").arg("-echo").stdin(std::process::Stdio::inherit()).status();
        let mut line = String::new();
        let r = stdin.lock().read_line(&mut line);
        let _ = std::process::Command::new("stty").arg("echo").stdin(std::process::Stdio::inherit()).status();
        eprintln!();
        r.context("reading the password")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { name, role, config, password_stdin } => {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c)) {
                bail!("user name `{name}`: expected letters, digits, `_`, `-`, `.` or `@`");
            }
            // Opened first: a refused root learns it before typing a password.
            let mut store = open(&config)?;
            let pw = read_password(password_stdin)?;
            if pw.chars().count() < 8 {
                bail!("password too short: expected at least 8 characters");
            }
            let new = store.upsert_user(&name, &role, &hash_secret(&pw)?, crate::time::now_ms())?;
            audit(&store, if new { "USER_ADD" } else { "USER_UPDATE" }, &name, &role)?;
            println!("{} user {name} ({role})", if new { "created" } else { "updated" });
        }
        UserCommand::Disable { name, config } => {
            let mut store = open(&config)?;
            if !store.disable_user(&name, crate::time::now_ms())? {
                bail!("no enabled user `{name}`");
            }
            audit(&store, "USER_DISABLE", &name, "")?;
            println!("disabled user {name}; their sessions and tokens no longer work");
        }
        UserCommand::List { config } => {
            for (name, role) in open(&config)?.users()? {
                println!("{name:<24} {role}");
            }
        }
    }
    Ok(())
}

pub fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { user, config, label } => {
            let mut store = open(&config)?;
            let (id, token) = create_token(&mut store, &user, &label)?;
            audit(&store, "TOKEN_CREATE", &user, &format!("token {id} {label}"))?;
            eprintln!("token {id} for {user}; shown only now, keep it secret:");
            println!("{token}");
        }
        TokenCommand::Revoke { id, config } => {
            let mut store = open(&config)?;
            if !store.revoke_token(id, crate::time::now_ms())? {
                bail!("no unrevoked token {id}");
            }
            audit(&store, "TOKEN_REVOKE", &id.to_string(), "")?;
            println!("revoked token {id}");
        }
        TokenCommand::List { config } => {
            for (id, user, label, created, revoked) in open(&config)?.tokens()? {
                let state = revoked.map(|r| format!("revoked {r}")).unwrap_or_else(|| "active".into());
                println!("{id:>5} {user:<20} {created} {state:<32} {label}");
            }
        }
    }
    Ok(())
}
