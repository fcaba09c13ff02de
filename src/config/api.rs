//! `[api]`: where the HTTP API and web app listen, TLS, and the auth settings (issue 7).

use super::{Doc, KeyPath};
use crate::config::ConfigError;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "super::yes")]
    pub enabled: bool,
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate and key (PEM).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Allow plain HTTP on a non-loopback address (passwords and sessions then cross the
    /// network in clear text; a warning is logged at start).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// How long a web session lasts after login.
    #[serde(default = "default_session_hours")]
    pub session_hours: f64,
    /// Failed logins allowed per client address (and per user name) per minute.
    #[serde(default = "default_login_attempts")]
    pub login_attempts_per_minute: u32,
    /// Largest photo accepted with a field note.
    #[serde(default = "default_photo_max_kib")]
    pub photo_max_kib: u32,
    /// Audit rows older than this are deleted by the prune cycle (they are evidence: keep long).
    #[serde(default = "default_audit_retention_days")]
    pub audit_retention_days: u32,
    /// Notes (and their photos) of findings cleared longer ago than this are deleted; notes
    /// of open findings are never deleted.
    #[serde(default = "default_note_retention_days")]
    pub note_retention_days: u32,
    /// Photos stored beyond this total lose their oldest photos of CLEARED findings first
    /// (the note text stays); photos of open findings are never removed.
    #[serde(default = "default_photo_quota_mib")]
    pub photo_quota_mib: u32,
    /// Whether `/metrics` needs credentials (a viewer token) like the API.
    #[serde(default = "super::yes")]
    pub metrics_auth: bool,
    /// A user created at start when no user of that name exists (for demos: the password is
    /// in the config file; a warning is logged).
    #[serde(default)]
    pub demo_user: Option<DemoUser>,
    /// Open HTTP connections at most; beyond it new connections wait in the kernel's
    /// backlog (issue 13: idle peers must not exhaust the descriptors). Below the unit's
    /// LimitNOFILE with room for the stores, the sources and the broker connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// A connection that has not sent a whole request head in this time is closed.
    #[serde(default = "default_header_read_timeout_s")]
    pub header_read_timeout_s: u64,
    /// Refused requests without valid credentials (and rate-limited logins) audited one
    /// row each per minute at most; beyond it they are counted and one summary row is
    /// written per minute, so an unauthenticated flood cannot fill the disk.
    #[serde(default = "default_audit_refused_per_minute")]
    pub audit_refused_per_minute: u32,
    /// `POST /api/v1/dga` requests computed at the same time; more are answered 503 `busy`
    /// (each may hold 10,000 samples and their reports in memory).
    #[serde(default = "default_dga_concurrency")]
    pub dga_concurrency: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoUser {
    pub name: String,
    /// The password inline, or (better) `password_file`: exactly one of the two.
    #[serde(default)]
    pub password: String,
    /// A file holding the password (see [`super::secret`]); after loading, `password`
    /// holds its contents.
    #[serde(default)]
    pub password_file: Option<std::path::PathBuf>,
    #[serde(default = "default_demo_role")]
    pub role: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: default_api_listen(),
            tls: None,
            allow_plain_http: false,
            session_hours: default_session_hours(),
            login_attempts_per_minute: default_login_attempts(),
            photo_max_kib: default_photo_max_kib(),
            audit_retention_days: default_audit_retention_days(),
            note_retention_days: default_note_retention_days(),
            photo_quota_mib: default_photo_quota_mib(),
            metrics_auth: true,
            demo_user: None,
            max_connections: default_max_connections(),
            header_read_timeout_s: default_header_read_timeout_s(),
            audit_refused_per_minute: default_audit_refused_per_minute(),
            dga_concurrency: default_dga_concurrency(),
        }
    }
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_session_hours() -> f64 {
    12.0
}
fn default_login_attempts() -> u32 {
    5
}
fn default_photo_max_kib() -> u32 {
    2048
}
fn default_audit_retention_days() -> u32 {
    365
}
fn default_note_retention_days() -> u32 {
    730
}
fn default_photo_quota_mib() -> u32 {
    512
}
fn default_max_connections() -> u32 {
    256
}
fn default_header_read_timeout_s() -> u64 {
    10
}
fn default_audit_refused_per_minute() -> u32 {
    60
}
fn default_dga_concurrency() -> u32 {
    1
}
fn default_demo_role() -> String {
    "technician".into()
}

pub const ROLES: [&str; 3] = ["viewer", "technician", "admin"];

impl ApiConfig {
    /// Plain HTTP on an address other than loopback, allowed by `allow_plain_http`.
    pub fn plain_http_exposed(&self) -> bool {
        self.tls.is_none() && !self.listen.ip().is_loopback()
    }

    pub(super) fn validate(&self, doc: &Doc, root: &KeyPath) -> Result<(), ConfigError> {
        let at = root.key("api");
        if self.enabled && self.plain_http_exposed() && !self.allow_plain_http {
            return Err(doc.invalid(
                at.key("listen"),
                format!(
                    "value \"{}\" is not a loopback address and no [api] tls is configured: passwords would cross the network in clear text. Set `tls = {{ cert = \"...\", key = \"...\" }}`, listen on 127.0.0.1, or set `allow_plain_http = true`",
                    self.listen
                ),
            ));
        }
        if !(self.session_hours > 0.0 && self.session_hours <= 24.0 * 90.0) {
            return Err(doc.invalid(
                at.key("session_hours"),
                format!(
                    "value {} is out of range: expected more than 0 and at most 2160 (90 days)",
                    self.session_hours
                ),
            ));
        }
        if self.login_attempts_per_minute == 0 {
            return Err(doc.invalid(
                at.key("login_attempts_per_minute"),
                "value 0 would lock everyone out: expected 1 or more".into(),
            ));
        }
        if !(1..=65536).contains(&self.photo_max_kib) {
            return Err(doc.invalid(
                at.key("photo_max_kib"),
                format!("value {} is out of range: expected 1 to 65536 KiB", self.photo_max_kib),
            ));
        }
        if !(30..=3650).contains(&self.audit_retention_days) {
            return Err(doc.invalid(
                at.key("audit_retention_days"),
                format!(
                    "value {} is out of range: audit rows are evidence of who changed what; expected 30 to 3650 days",
                    self.audit_retention_days
                ),
            ));
        }
        if !(1..=3650).contains(&self.note_retention_days) {
            return Err(doc.invalid(
                at.key("note_retention_days"),
                format!("value {} is out of range: expected 1 to 3650 days", self.note_retention_days),
            ));
        }
        if !(1..=1_048_576).contains(&self.photo_quota_mib)
            || (self.photo_quota_mib as u64) * 1024 < self.photo_max_kib as u64
        {
            return Err(doc.invalid(
                at.key("photo_quota_mib"),
                format!(
                    "value {} is out of range: expected 1 to 1048576 MiB and at least one photo of photo_max_kib = {} KiB",
                    self.photo_quota_mib, self.photo_max_kib
                ),
            ));
        }
        if !(8..=65_536).contains(&self.max_connections) {
            return Err(doc.invalid(
                at.key("max_connections"),
                format!(
                    "value {} is out of range: expected 8 to 65536 (keep it below the unit's LimitNOFILE)",
                    self.max_connections
                ),
            ));
        }
        if !(1..=3600).contains(&self.header_read_timeout_s) {
            return Err(doc.invalid(
                at.key("header_read_timeout_s"),
                format!("value {} is out of range: expected 1 to 3600 (s)", self.header_read_timeout_s),
            ));
        }
        if !(1..=100_000).contains(&self.audit_refused_per_minute) {
            return Err(doc.invalid(
                at.key("audit_refused_per_minute"),
                format!("value {} is out of range: expected 1 to 100000", self.audit_refused_per_minute),
            ));
        }
        if !(1..=64).contains(&self.dga_concurrency) {
            return Err(doc.invalid(
                at.key("dga_concurrency"),
                format!("value {} is out of range: expected 1 to 64", self.dga_concurrency),
            ));
        }
        if let Some(d) = &self.demo_user {
            let dat = at.key("demo_user");
            if !ROLES.contains(&d.role.as_str()) {
                return Err(doc.invalid(
                    dat.key("role"),
                    format!("value \"{}\" is not a role: expected viewer, technician or admin", d.role),
                ));
            }
            super::nonempty_id(doc, &dat.key("name"), &d.name)?;
            if d.password.is_empty() && d.password_file.is_none() {
                return Err(doc.invalid(dat.clone(), "no password: set password_file (or password)".into()));
            }
            if d.password.chars().count() < 8 {
                let (key, what) = match &d.password_file {
                    Some(p) => ("password_file", format!("the password in {}", p.display())),
                    None => ("password", "the password".to_string()),
                };
                return Err(doc.invalid(dat.key(key), format!("{what} is too short: expected at least 8 characters")));
            }
        }
        Ok(())
    }

    /// Read the demo user's `password_file` (before validation, which checks its length).
    pub(super) fn resolve_secrets(&mut self, base: &Path, doc: &Doc) -> Result<(), ConfigError> {
        if let Some(d) = &mut self.demo_user {
            let at = KeyPath::root().key("api").key("demo_user");
            if let Some(p) = super::secret::resolve(doc, &at, "password", &d.password, &mut d.password_file, base)? {
                d.password = p;
            }
        }
        Ok(())
    }

    /// Anchor relative TLS paths at the config's directory (or `${CREDENTIALS_DIRECTORY}`)
    /// and check the files are readable.
    pub(super) fn resolve(&mut self, base: &Path, doc: &Doc) -> Result<(), ConfigError> {
        if let Some(tls) = &mut self.tls {
            let at = KeyPath::root().key("api").key("tls");
            tls.cert = super::secret::anchor(doc, &at.key("cert"), base, &tls.cert)?;
            tls.key = super::secret::anchor(doc, &at.key("key"), base, &tls.key)?;
            for (key, p) in [("cert", &tls.cert), ("key", &tls.key)] {
                if let Err(e) = std::fs::File::open(p) {
                    return Err(doc.invalid(
                        KeyPath::root().key("api").key("tls").key(key),
                        format!("cannot read {}: {e}", p.display()),
                    ));
                }
            }
        }
        Ok(())
    }
}
