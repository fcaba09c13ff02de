//! Deploys: a signed bundle arrives (`…/_gateway/cmd/deploy`), is checked (signature with
//! a trusted key, archive hash and size), staged, swapped in place of what it replaces (the
//! previous version kept), checked the way `edgecite check` checks a config, and then
//! taken into use by assembling the daemon again in the same process. The new version must
//! pass a health check (`[fleet] health_evaluations` evaluations, a deployed model running
//! without error) within `health_timeout_s`; otherwise, or when the daemon did not come back
//! (a crash, systemd's watchdog), the previous version is put back.
//!
//! What is in progress is a file (`<state_dir>/pending.json`) written before the swap, so
//! that a crash at any point is recovered at the next start. Every outcome (refused,
//! applied, rolled back) is written to `<state_dir>/outcomes/` and to the audit log before
//! it is published, and removed only once it is in the MQTT outbox.

use super::bundle::{self, Kind, Manifest};
use crate::config::fleet::FleetConfig;
use crate::config::Config;
use crate::store::auth::AuditEntry;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a deploy record: {source}")]
    Record { path: PathBuf, source: serde_json::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |source| DeployError::Io { path: path.to_path_buf(), source }
}

/// A deploy request as it arrives on `…/_gateway/cmd/deploy` (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub manifest: Manifest,
    /// The archive inline: base64 pieces, joined in order.
    #[serde(default)]
    pub chunks: Vec<String>,
    /// Or where the archive already is on the gateway (copied there by other means).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// MQTT 3.1.1 (no request properties): where to send the result, and what to echo in it.
    #[serde(default)]
    pub response_topic: Option<String>,
    #[serde(default)]
    pub correlation: Option<String>,
}

/// Where a result goes besides `…/_gateway/deploy`: the request's MQTT 5 response topic and
/// correlation data, or the 3.1.1 fallback fields of the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub topic: Option<String>,
    /// Base64 of the correlation data.
    pub correlation: Option<String>,
}

impl ReplyTo {
    pub fn from_mqtt(reply: crate::mqtt::client::Reply) -> ReplyTo {
        ReplyTo {
            topic: reply.topic,
            correlation: reply
                .correlation
                .map(|c| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, c)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not taken: bad request, bad signature, failed check; nothing was changed.
    Refused,
    /// Swapped in and passed its health check.
    Applied,
    /// Swapped in, then failed; the previous version is back.
    RolledBack,
}

/// What happened to one deploy: published on `…/_gateway/deploy` (and the reply topic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub deploy_id: String,
    pub kind: Option<Kind>,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub state: State,
    pub detail: String,
    /// The version it replaced (`null`: nothing was there, or the request was refused).
    pub previous_version: Option<String>,
    /// The trusted key whose signature verified.
    pub key_id: Option<String>,
    pub ts_ms: i64,
    #[serde(default)]
    pub reply: ReplyTo,
}

impl Outcome {
    fn refused(m: Option<&Manifest>, reply: &ReplyTo, detail: String) -> Outcome {
        let s = m.map(|m| &m.signed);
        Outcome {
            deploy_id: s.map(deploy_id).unwrap_or_default(),
            kind: s.map(|s| s.kind),
            name: s.map(|s| s.name.clone()).unwrap_or_default(),
            version: s.map(|s| s.version.clone()).unwrap_or_default(),
            sha256: s.map(|s| s.sha256.clone()).unwrap_or_default(),
            state: State::Refused,
            detail,
            previous_version: None,
            key_id: None,
            ts_ms: crate::time::now_ms(),
            reply: reply.clone(),
        }
    }

    /// The audit row: actor `fleet`, action `DEPLOY`, status 200 applied, 400 refused, 409
    /// rolled back.
    pub fn audit(&self, store: &crate::store::Store) -> Result<(), crate::store::StoreError> {
        let target = format!("{} {}@{}", self.kind.map(Kind::as_str).unwrap_or("?"), self.name, self.version);
        let status = match self.state {
            State::Applied => 200,
            State::Refused => 400,
            State::RolledBack => 409,
        };
        let detail = format!(
            "{:?}: {}{}",
            self.state,
            self.detail,
            self.key_id.as_ref().map(|k| format!(" (signed by key {k})")).unwrap_or_default()
        );
        store.audit(
            &AuditEntry {
                actor: "fleet",
                role: None,
                action: "DEPLOY",
                target: &target,
                status,
                remote: self.reply.topic.as_deref(),
                detail: &detail,
            },
            self.ts_ms,
        )
    }
}

fn deploy_id(s: &bundle::Signed) -> String {
    format!("{}/{}@{}/{}", s.kind.as_str(), s.name, s.version, &s.sha256[..s.sha256.len().min(12)])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    /// The swap started: a crash now leaves it half done, so the next start puts the
    /// previous version back.
    Swapping,
    /// The new version is in place; it is being checked.
    Checking,
}

/// The deploy in progress (`pending.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    outcome: Outcome,
    phase: Phase,
    /// What was replaced: `target` is the installed path, `previous` where the old one is
    /// kept (`None`: nothing was installed there before).
    target: PathBuf,
    previous: Option<PathBuf>,
    /// Starts of the daemon with this deploy in place; a second one means the first did
    /// not pass the health check (it crashed or was killed).
    starts: u32,
    swapped_ms: i64,
}

impl Pending {
    pub fn kind(&self) -> Kind {
        self.outcome.kind.unwrap_or(Kind::Config)
    }
    pub fn name(&self) -> &str {
        &self.outcome.name
    }
    pub fn version(&self) -> &str {
        &self.outcome.version
    }
    pub fn deploy_id(&self) -> &str {
        &self.outcome.deploy_id
    }
}

/// What `start` found.
pub enum Start {
    /// No deploy in progress.
    Clean,
    /// A deploy waits for its health check in this run.
    Checking(Box<Health>),
    /// A deploy did not come through; the previous version is back. Assemble again.
    RolledBack,
}

/// A deploy's health check, run by the daemon loop after each evaluation.
pub struct Health {
    pub pending: Pending,
    evaluations: u32,
    need: u32,
    deadline_ms: i64,
}

/// The verdict of one check.
pub enum Check {
    Wait,
    Passed,
    Failed(String),
}

impl Health {
    /// After one evaluation: `model` is the deployed model's counters (runs, errors,
    /// non-finite scores) when the deploy is a model, `None` when it is not loaded.
    pub fn evaluated(&mut self, now_ms: i64, model: Option<Option<(u64, u64, u64)>>) -> Check {
        self.evaluations += 1;
        let ran = match model {
            Some(None) => {
                return Check::Failed(format!("model `{}` is not loaded", self.pending.name()));
            }
            Some(Some((runs, errors, non_finite))) => {
                if errors > 0 {
                    return Check::Failed(format!("model `{}`: {errors} run(s) failed", self.pending.name()));
                }
                if non_finite > 0 {
                    return Check::Failed(format!(
                        "model `{}` returned {non_finite} non-finite score(s)",
                        self.pending.name()
                    ));
                }
                runs > 0
            }
            None => true,
        };
        if self.evaluations >= self.need && ran {
            return Check::Passed;
        }
        if now_ms >= self.deadline_ms {
            return Check::Failed(format!(
                "health check not passed within its time ({} evaluation(s){})",
                self.evaluations,
                if ran { "" } else { "; the model never ran: its inputs were not available" }
            ));
        }
        Check::Wait
    }
}

/// One gateway's deploy state, under `[fleet] state_dir`.
pub struct Fleet {
    cfg: FleetConfig,
    config_file: PathBuf,
    models_dir: PathBuf,
}

impl Fleet {
    /// `None` unless `[fleet] accept_deploys`.
    pub fn new(config: &Config) -> Option<Fleet> {
        config.fleet.accept_deploys.then(|| Fleet {
            cfg: config.fleet.clone(),
            config_file: config.file.clone(),
            models_dir: config.inference.models_dir.clone(),
        })
    }

    fn pending_path(&self) -> PathBuf {
        self.cfg.state_dir.join("pending.json")
    }
    fn outcomes_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("outcomes")
    }

    fn load_pending(&self) -> Result<Option<Pending>, DeployError> {
        let p = self.pending_path();
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|source| DeployError::Record { path: p, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DeployError::Io { path: p, source: e }),
        }
    }

    fn save_pending(&self, p: &Pending) -> Result<(), DeployError> {
        write_durably(&self.pending_path(), &serde_json::to_vec_pretty(p).expect("pending serialises"))
    }

    fn clear_pending(&self) -> Result<(), DeployError> {
        let p = self.pending_path();
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DeployError::Io { path: p, source: e }),
            _ => Ok(()),
        }
    }

    /// Record an outcome (a file, removed once it is in the outbox) and audit it.
    fn record(&self, o: &Outcome, store: &crate::store::Store) -> Result<(), DeployError> {
        let dir = self.outcomes_dir();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // Named by time, then a counter: listed in the order they happened.
        let path = (0u32..)
            .map(|n| dir.join(format!("{:013}-{n:04}.json", o.ts_ms)))
            .find(|p| !p.exists())
            .expect("a free name");
        write_durably(&path, &serde_json::to_vec(o).expect("outcome serialises"))?;
        match o.state {
            State::Applied => tracing::info!(deploy = %o.deploy_id, detail = %o.detail, "deploy applied"),
            State::Refused => tracing::warn!(deploy = %o.deploy_id, detail = %o.detail, "deploy refused"),
            State::RolledBack => tracing::error!(deploy = %o.deploy_id, detail = %o.detail, "deploy rolled back"),
        }
        if let Err(e) = o.audit(store) {
            tracing::error!(error = %e, deploy = %o.deploy_id, "cannot write the deploy's audit row");
        }
        Ok(())
    }

    /// Outcomes not yet handed to the outbox, oldest first, with their files.
    pub fn outcomes(&self) -> Vec<(PathBuf, Outcome)> {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(self.outcomes_dir()).into_iter().flatten().flatten().map(|e| e.path()).collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|p| match std::fs::read(&p).map(|b| serde_json::from_slice::<Outcome>(&b)) {
                Ok(Ok(o)) => Some((p, o)),
                Ok(Err(e)) => {
                    tracing::error!(file = %p.display(), error = %e, "unreadable deploy outcome; left in place");
                    None
                }
                Err(_) => None,
            })
            .collect()
    }

    /// At the start of each assembly: finish what a crash interrupted, roll back a deploy
    /// that did not pass its check in the run before, or start checking the new one.
    pub fn start(&self, store: &crate::store::Store, now_ms: i64) -> Result<Start, DeployError> {
        let Some(mut p) = self.load_pending()? else { return Ok(Start::Clean) };
        let why = match (p.phase, p.starts) {
            (Phase::Swapping, _) => Some("the daemon stopped while the new version was being put in place".to_string()),
            (Phase::Checking, n) if n >= 1 => Some(
                "the daemon did not pass the health check with the new version (it stopped, crashed or was restarted by its watchdog)"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(why) = why {
            self.roll_back(p, &why, store)?;
            return Ok(Start::RolledBack);
        }
        p.starts += 1;
        self.save_pending(&p)?;
        tracing::info!(deploy = %p.deploy_id(), need = self.cfg.health_evaluations, timeout_s = self.cfg.health_timeout_s,
            "deploy in place; health check running");
        Ok(Start::Checking(Box::new(Health {
            need: self.cfg.health_evaluations,
            deadline_ms: now_ms + self.cfg.health_timeout_s as i64 * 1000,
            evaluations: 0,
            pending: p,
        })))
    }

    /// The health check passed: keep the new version.
    pub fn confirm(&self, h: Box<Health>, store: &crate::store::Store) -> Result<(), DeployError> {
        let mut o = h.pending.outcome.clone();
        o.state = State::Applied;
        o.ts_ms = crate::time::now_ms();
        o.detail = format!(
            "{} {} {} in use; health check passed after {} evaluation(s)",
            h.pending.kind().as_str(),
            o.name,
            o.version,
            h.evaluations
        );
        self.record(&o, store)?;
        self.clear_pending()
    }

    /// Put the previous version back (or remove what was installed where nothing was).
    pub fn roll_back(&self, p: Pending, why: &str, store: &crate::store::Store) -> Result<(), DeployError> {
        self.restore(&p.target, p.previous.as_deref())?;
        let mut o = p.outcome.clone();
        o.state = State::RolledBack;
        o.ts_ms = crate::time::now_ms();
        o.detail = format!("{why}; {} is back", o.previous_version.as_deref().unwrap_or("the state before it"));
        self.record(&o, store)?;
        self.clear_pending()
    }

    /// Put `previous` back at `target`; without one, nothing was installed there. A
    /// previous path that is gone was put back already (a config that did not load,
    /// `recover_config`) or never moved (the swap failed before).
    fn restore(&self, target: &Path, previous: Option<&Path>) -> Result<(), DeployError> {
        match previous {
            Some(prev) if prev.exists() => {
                remove(target)?;
                move_path(prev, target)
            }
            Some(_) => Ok(()),
            None => remove(target),
        }
    }

    /// The assembly with the new version failed: roll back.
    pub fn assembly_failed(&self, h: Box<Health>, error: &str, store: &crate::store::Store) -> Result<(), DeployError> {
        self.roll_back(h.pending, &format!("the daemon cannot start with the new version: {error}"), store)
    }

    /// Handle one request: check, stage, swap, check as `edgecite check` does (`check`
    /// gets the kind, name and version and answers whether the config now loads with it).
    /// `Ok(true)`: the new version is in place and the daemon must assemble again.
    pub fn apply(
        &self,
        payload: &[u8],
        reply: ReplyTo,
        busy: Option<&str>,
        store: &crate::store::Store,
        check: &dyn Fn(Kind, &str, &str) -> Result<(), String>,
    ) -> Result<bool, DeployError> {
        let request: Request = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => {
                let o = Outcome::refused(None, &reply, format!("not a deploy request: {e}"));
                self.record(&o, store)?;
                return Ok(false);
            }
        };
        let reply = ReplyTo {
            topic: reply.topic.or(request.response_topic.clone()),
            correlation: reply.correlation.or(request.correlation.clone()),
        };
        let m = &request.manifest;
        let refuse = |detail: String| -> Result<bool, DeployError> {
            self.record(&Outcome::refused(Some(m), &reply, detail), store)?;
            Ok(false)
        };
        if let Some(other) = busy {
            return refuse(format!("deploy {other} is still in its health check; try again when it has an outcome"));
        }
        let archive = match self.archive(&request) {
            Ok(a) => a,
            Err(e) => return refuse(e),
        };
        let key = match m.verify(&archive, &self.cfg.trust_dir, self.cfg.max_bundle_bytes) {
            Ok(k) => k,
            Err(e) => return refuse(format!("bundle not accepted: {e}")),
        };
        let s = &m.signed;
        let target = match s.kind {
            Kind::Pack if self.cfg.packs_dir.as_os_str().is_empty() => {
                return refuse("no directory for packs: set [packs] dirs (or [fleet] packs_dir)".into())
            }
            Kind::Pack => self.cfg.packs_dir.join(&s.name),
            Kind::Model => self.models_dir.join(&s.name),
            Kind::Config => self.config_file.clone(),
        };
        // Stage: unpack beside the state (never into the directories the daemon reads).
        let staging = self.cfg.state_dir.join("staging");
        remove(&staging)?;
        if let Err(e) = bundle::unpack(&archive, &staging, self.cfg.max_bundle_bytes.saturating_mul(8)) {
            remove(&staging)?;
            return refuse(format!("bundle not accepted: {e}"));
        }
        let staged = match s.kind {
            Kind::Config => {
                let f = staging.join(bundle::CONFIG_ENTRY);
                if !f.is_file() {
                    remove(&staging)?;
                    return refuse(format!("a config bundle holds `{}`; this one does not", bundle::CONFIG_ENTRY));
                }
                f
            }
            _ => staging.clone(),
        };
        let previous_version = installed_version(s.kind, &target);
        let previous = target.exists().then(|| match s.kind {
            Kind::Config => {
                let mut p = target.as_os_str().to_owned();
                p.push(".deploy-previous");
                PathBuf::from(p)
            }
            _ => self.cfg.state_dir.join("previous").join(format!("{}-{}", s.kind.as_str(), s.name)),
        });
        let mut outcome = Outcome::refused(Some(m), &reply, String::new());
        outcome.previous_version = previous_version;
        outcome.key_id = Some(key);
        let mut pending = Pending {
            outcome,
            phase: Phase::Swapping,
            target: target.clone(),
            previous: previous.clone(),
            starts: 0,
            swapped_ms: 0,
        };
        self.save_pending(&pending)?;
        let swapped = (|| {
            if let Some(prev) = &previous {
                remove(prev)?;
                if let Some(parent) = prev.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                move_path(&target, prev)?;
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            move_path(&staged, &target)
        })();
        remove(&staging)?;
        if let Err(e) = swapped {
            // A read-only directory, a full disk: undo what was moved, say so.
            self.roll_back(pending, &format!("cannot put the new version in place: {e}"), store)?;
            return Ok(false);
        }
        // The same check as `edgecite check`, on the files as they now are.
        if let Err(why) = check(s.kind, &s.name, &s.version) {
            self.restore(&target, previous.as_deref())?;
            self.clear_pending()?;
            return refuse(format!("the new version does not pass `edgecite check`: {why}; nothing was changed"));
        }
        pending.phase = Phase::Checking;
        pending.swapped_ms = crate::time::now_ms();
        self.save_pending(&pending)?;
        tracing::info!(deploy = %pending.deploy_id(), target = %target.display(), "deploy in place; assembling the daemon again");
        Ok(true)
    }

    fn archive(&self, r: &Request) -> Result<Vec<u8>, String> {
        match (&r.path, r.chunks.is_empty()) {
            (Some(_), false) => Err("a request carries either `chunks` or `path`, not both".into()),
            (None, true) => Err("a request carries the archive in `chunks` (base64) or names its `path`".into()),
            (Some(p), true) => {
                let len = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?.len();
                if len > self.cfg.max_bundle_bytes {
                    return Err(format!(
                        "{}: {len} bytes, above the limit of {} ([fleet] max_bundle_bytes)",
                        p.display(),
                        self.cfg.max_bundle_bytes
                    ));
                }
                std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
            }
            (None, false) => {
                let mut out = Vec::new();
                for (i, c) in r.chunks.iter().enumerate() {
                    let b = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, c)
                        .map_err(|e| format!("chunks[{i}]: not base64 ({e})"))?;
                    out.extend(b);
                    if out.len() as u64 > self.cfg.max_bundle_bytes {
                        return Err(format!(
                            "the archive is above the limit of {} bytes ([fleet] max_bundle_bytes)",
                            self.cfg.max_bundle_bytes
                        ));
                    }
                }
                Ok(out)
            }
        }
    }
}

/// Before the config is read: a config deploy whose file does not load is undone at once
/// (its previous file is beside it while the deploy is checked). True when it was.
pub fn recover_config(config_file: &Path) -> bool {
    let mut prev = config_file.as_os_str().to_owned();
    prev.push(".deploy-previous");
    let prev = PathBuf::from(prev);
    prev.exists() && std::fs::rename(&prev, config_file).is_ok()
}

/// The version installed at a target, read from its manifest (best effort, for reports).
fn installed_version(kind: Kind, target: &Path) -> Option<String> {
    let file = match kind {
        Kind::Pack => target.join("pack.toml"),
        Kind::Model => target.join("manifest.toml"),
        Kind::Config => return target.exists().then(|| "the previous config".to_string()),
    };
    let text = std::fs::read_to_string(file).ok()?;
    let v: toml::Value = toml::from_str(&text).ok()?;
    v.get("version")?.as_str().map(str::to_string)
}

fn remove(p: &Path) -> Result<(), DeployError> {
    let r = match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        // Not there (or a parent is not a directory: nothing can be there).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(io(p))
}

/// Rename, or copy and remove where the two are on different file systems.
fn move_path(from: &Path, to: &Path) -> Result<(), DeployError> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            copy_tree(from, to)?;
            remove(from)
        }
        Err(e) => Err(DeployError::Io { path: from.to_path_buf(), source: e }),
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), DeployError> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(io(to))?;
        for e in std::fs::read_dir(from).map_err(io(from))? {
            let e = e.map_err(io(from))?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ()).map_err(io(from))
    }
}

/// Write a file and make it durable (temporary file, fsync, rename).
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Setup {
        _dir: tempfile::TempDir,
        fleet: Fleet,
        store: crate::store::Store,
        key: PathBuf,
        models: PathBuf,
        root: PathBuf,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let trust = root.join("trust");
        std::fs::create_dir_all(&trust).unwrap();
        let key = root.join("key");
        bundle::keygen(&key).unwrap();
        std::fs::copy(bundle::public_path(&key), trust.join("ops.pub")).unwrap();
        let models = root.join("models");
        model(&models.join("m"), "1.0.0");
        let cfg = FleetConfig {
            accept_deploys: true,
            trust_dir: trust,
            state_dir: root.join("state"),
            health_evaluations: 2,
            health_timeout_s: 60,
            ..Default::default()
        };
        let fleet = Fleet { cfg, config_file: root.join("edgecite.toml"), models_dir: models.clone() };
        let store = crate::store::Store::open(&root.join("s.db")).unwrap();
        Setup { _dir: dir, fleet, store, key, models, root }
    }

    fn model(dir: &Path, version: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("manifest.toml"), format!("name = \"m\"\nversion = \"{version}\"\n")).unwrap();
    }

    fn request(s: &Setup, version: &str) -> Vec<u8> {
        let src = s.root.join(format!("src-{version}"));
        model(&src, version);
        let (archive, mut m) = bundle::build(Kind::Model, "m", version, &src).unwrap();
        m.sign(&s.key).unwrap();
        let chunks = vec![base64::Engine::encode(&base64::engine::general_purpose::STANDARD, archive)];
        serde_json::to_vec(&serde_json::json!({ "manifest": m, "chunks": chunks })).unwrap()
    }

    fn installed(s: &Setup) -> String {
        installed_version(Kind::Model, &s.models.join("m")).unwrap()
    }

    fn states(s: &Setup) -> Vec<State> {
        s.fleet.outcomes().into_iter().map(|(_, o)| o.state).collect()
    }

    #[test]
    fn a_deploy_that_never_passes_its_health_check_is_rolled_back_at_the_next_start() {
        let s = setup();
        let ok = |_: Kind, _: &str, _: &str| Ok(());
        assert!(s.fleet.apply(&request(&s, "2.0.0"), ReplyTo::default(), None, &s.store, &ok).unwrap());
        assert_eq!(installed(&s), "2.0.0");
        // The assembly with the new version starts its check...
        let Start::Checking(h) = s.fleet.start(&s.store, 0).unwrap() else { panic!("checking") };
        assert_eq!(h.pending.version(), "2.0.0");
        // ...and the daemon dies before it passes (crash, watchdog). The next start undoes it.
        assert!(matches!(s.fleet.start(&s.store, 0).unwrap(), Start::RolledBack));
        assert_eq!(installed(&s), "1.0.0");
        assert_eq!(states(&s), vec![State::RolledBack]);
        assert!(matches!(s.fleet.start(&s.store, 0).unwrap(), Start::Clean));
        let audit = s.store.audit_log(10).unwrap();
        assert_eq!((audit[0].action.as_str(), audit[0].status), ("DEPLOY", 409));
    }

    #[test]
    fn a_swap_cut_short_is_undone_and_a_passed_check_keeps_the_new_version() {
        let s = setup();
        let ok = |_: Kind, _: &str, _: &str| Ok(());
        assert!(s.fleet.apply(&request(&s, "2.0.0"), ReplyTo::default(), None, &s.store, &ok).unwrap());
        // As if the process died between the two renames of the swap.
        let mut p = s.fleet.load_pending().unwrap().unwrap();
        p.phase = Phase::Swapping;
        s.fleet.save_pending(&p).unwrap();
        std::fs::remove_dir_all(s.models.join("m")).unwrap();
        assert!(matches!(s.fleet.start(&s.store, 0).unwrap(), Start::RolledBack));
        assert_eq!(installed(&s), "1.0.0");

        assert!(s.fleet.apply(&request(&s, "3.0.0"), ReplyTo::default(), None, &s.store, &ok).unwrap());
        let Start::Checking(mut h) = s.fleet.start(&s.store, 0).unwrap() else { panic!("checking") };
        assert!(matches!(h.evaluated(1, Some(Some((1, 0, 0)))), Check::Wait));
        assert!(matches!(h.evaluated(2, Some(Some((2, 0, 0)))), Check::Passed));
        s.fleet.confirm(h, &s.store).unwrap();
        assert_eq!(installed(&s), "3.0.0");
        assert_eq!(states(&s), vec![State::RolledBack, State::Applied]);
        assert!(matches!(s.fleet.start(&s.store, 0).unwrap(), Start::Clean));
    }

    #[test]
    fn a_version_that_fails_the_check_or_a_second_deploy_during_a_check_is_refused_and_changes_nothing() {
        let s = setup();
        let bad = |_: Kind, _: &str, _: &str| Err("model `m`: shape mismatch".to_string());
        assert!(!s.fleet.apply(&request(&s, "2.0.0"), ReplyTo::default(), None, &s.store, &bad).unwrap());
        assert_eq!(installed(&s), "1.0.0");
        let ok = |_: Kind, _: &str, _: &str| Ok(());
        let reply = ReplyTo { topic: Some("tool/replies".into()), correlation: Some("YQ==".into()) };
        assert!(!s.fleet.apply(&request(&s, "2.0.0"), reply, Some("model/m@1.5"), &s.store, &ok).unwrap());
        assert!(!s.fleet.apply(b"{\"manifest\": 1}", ReplyTo::default(), None, &s.store, &ok).unwrap());
        let outcomes: Vec<Outcome> = s.fleet.outcomes().into_iter().map(|(_, o)| o).collect();
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(|o| o.state == State::Refused));
        assert!(outcomes[0].detail.contains("shape mismatch") && outcomes[0].detail.contains("nothing was changed"));
        assert!(outcomes[1].detail.contains("still in its health check"));
        assert_eq!(outcomes[1].reply.topic.as_deref(), Some("tool/replies"));
        assert!(outcomes[2].detail.contains("not a deploy request"));
        assert_eq!(installed(&s), "1.0.0");
        assert!(matches!(s.fleet.start(&s.store, 0).unwrap(), Start::Clean));
    }

    #[test]
    fn a_swap_that_cannot_be_done_is_undone_at_once_and_said() {
        let mut s = setup();
        // The models directory lies under a regular file: nothing can be put there.
        std::fs::write(s.root.join("file"), "x").unwrap();
        s.fleet.models_dir = s.root.join("file/models");
        let ok = |_: Kind, _: &str, _: &str| Ok(());
        assert!(!s.fleet.apply(&request(&s, "2.0.0"), ReplyTo::default(), None, &s.store, &ok).unwrap());
        let outcomes: Vec<Outcome> = s.fleet.outcomes().into_iter().map(|(_, o)| o).collect();
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].state, State::RolledBack);
        assert!(outcomes[0].detail.contains("cannot put the new version in place"), "{}", outcomes[0].detail);
        assert!(matches!(s.fleet.start(&s.store, 0).unwrap(), Start::Clean));
        assert_eq!(installed(&s), "1.0.0");
    }

    #[test]
    fn the_health_check_fails_on_a_model_error_or_when_its_time_is_up() {
        let s = setup();
        let ok = |_: Kind, _: &str, _: &str| Ok(());
        assert!(s.fleet.apply(&request(&s, "2.0.0"), ReplyTo::default(), None, &s.store, &ok).unwrap());
        let Start::Checking(mut h) = s.fleet.start(&s.store, 0).unwrap() else { panic!("checking") };
        assert!(matches!(h.evaluated(1, Some(Some((0, 0, 0)))), Check::Wait));
        assert!(matches!(h.evaluated(2, Some(Some((0, 0, 0)))), Check::Wait), "not passed before the model ran");
        let Check::Failed(why) = h.evaluated(60_000, Some(Some((0, 0, 0)))) else { panic!("timed out") };
        assert!(why.contains("never ran"), "{why}");
        assert!(matches!(h.evaluated(1, Some(Some((3, 1, 0)))), Check::Failed(w) if w.contains("failed")));
        assert!(matches!(h.evaluated(1, Some(None)), Check::Failed(w) if w.contains("not loaded")));
    }
}
