//! Shared harness for integration tests: free ports, configs derived from the demo config,
//! the daemon as a child process, and a minimal HTTP client.
#![allow(dead_code)]

pub mod mosquitto;
pub mod peer;
pub mod rabbitmq;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A data set copied into the repository: `data/<rel>` (MIT-licensed; see its SOURCE.md).
pub fn repo_data(rel: &str) -> PathBuf {
    repo().join("data").join(rel)
}

/// Whether this run is CI (`CI=true`), where every test that needs external data must run.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// `<data dir>/<set>` for a data set the repository does not redistribute (SKAB, GPL-3.0).
/// The data dir is `EDGECITE_DATA_DIR`, else `../shared/data` beside the checkout when it
/// exists (the rule models/train/datadir.py follows too). When the set is not there the test
/// is skipped: this prints one line saying so and what to set, and returns None. It panics
/// instead under `CI=true`, or when `EDGECITE_DATA_DIR` is set but lacks the set.
pub fn external_data(set: &str, test: &str) -> Option<PathBuf> {
    let given = std::env::var_os("EDGECITE_DATA_DIR").filter(|v| !v.is_empty());
    let beside = repo().parent().map(|p| p.join("shared/data")).unwrap_or_default();
    let dir = given.clone().map(PathBuf::from).unwrap_or(beside);
    let path = dir.join(set);
    if path.is_dir() {
        return Some(path);
    }
    assert!(given.is_none(), "{test}: EDGECITE_DATA_DIR={} has no {set}/ folder", dir.display());
    let why = format!(
        "needs the {set} data set (not redistributed), not found at {}; set EDGECITE_DATA_DIR to a folder holding {set}/",
        path.display()
    );
    skipped(test, &format!("{why} to run it"));
    None
}

/// The skip rule for a test whose prerequisite this machine lacks (external data, root):
/// one line on stderr saying what it needs; under `CI=true` a panic instead, since there
/// every test must run.
pub fn skipped(test: &str, why: &str) {
    assert!(!in_ci(), "{test}: CI=true, so it must run, but it {why}");
    // Written to stderr directly, not through eprintln!, so the test harness does not capture it.
    let _ = writeln!(std::io::stderr(), "{test}: SKIPPED, {why}");
}

/// A self-signed certificate for 127.0.0.1 and localhost, made by `openssl` in `dir`:
/// (cert.pem, key.pem). It verifies against itself as CA.
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian package openssl) makes the test certificate");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    (cert, key)
}

/// `[api] tls` with `cert` and `key`, in place of the demo config's `demo_user` line (which
/// it keeps), for `demo_config`'s replacements.
pub fn tls_replacement(cert: &Path, key: &Path) -> (&'static str, String) {
    let line = "demo_user = { name = \"demo\", password = \"edgecite-demo\", role = \"technician\" }";
    (
        line,
        format!("{line}\ntls = {{ cert = {:?}, key = {:?} }}", cert.display().to_string(), key.display().to_string()),
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The ONNX Runtime library: `ORT_DYLIB_PATH`, or the one scripts/setup.sh installs.
pub fn ort_library() -> PathBuf {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return PathBuf::from(p);
    }
    let venv = repo().join(".venv/lib");
    for py in std::fs::read_dir(&venv).into_iter().flatten().flatten() {
        let capi = py.path().join("site-packages/onnxruntime/capi");
        for f in std::fs::read_dir(&capi).into_iter().flatten().flatten() {
            if f.file_name().to_string_lossy().starts_with("libonnxruntime.so.") {
                return f.path();
            }
        }
    }
    panic!("ONNX Runtime not found: run the tests through scripts/test.sh, or set ORT_DYLIB_PATH");
}

/// Ports for one daemon under test.
pub struct Ports {
    pub sim: u16,
    pub api: u16,
}

impl Ports {
    pub fn new() -> Self {
        // Two quick binds can return the same free port: ask again until they differ.
        let sim = free_port();
        let api = std::iter::repeat_with(free_port).find(|p| *p != sim).unwrap();
        Ports { sim, api }
    }
}

/// configs/demo.toml with the given ports, a store in `dir`, absolute paths, and each
/// `(from, to)` replacement applied (each must match, so a changed demo config fails loudly).
pub fn demo_config(dir: &Path, ports: &Ports, replacements: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(repo().join("configs/demo.toml")).unwrap();
    let models = repo().join("models");
    let store = dir.join("edgecite.db");
    let base: Vec<(String, String)> = vec![
        ("127.0.0.1:5020".into(), format!("127.0.0.1:{}", ports.sim)),
        ("port = 5020".into(), format!("port = {}", ports.sim)),
        ("127.0.0.1:8080".into(), format!("127.0.0.1:{}", ports.api)),
        ("\"../target/demo/edgecite.db\"".into(), format!("{:?}", store.display().to_string())),
        ("\"../models\"".into(), format!("{:?}", models.display().to_string())),
    ];
    // Caller's replacements first, so they can match the demo text as written.
    let extra = replacements.iter().map(|(a, b)| (a.to_string(), b.to_string()));
    for (from, to) in extra.chain(base) {
        assert!(text.contains(&from), "demo.toml no longer contains {from:?}");
        text = text.replace(&from, &to);
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Copy the files of a directory (a model's) into `to`, creating it.
/// A second model in `models` (`pump_b`, a copy of the shipped pump model under another
/// name), taken in by the running daemon `pid` on SIGHUP.
pub fn add_model_and_sighup(models: &Path, pid: u32) {
    copy_dir(&repo().join("models/pump_anomaly"), &models.join("pump_b"));
    let m = std::fs::read_to_string(models.join("pump_b/manifest.toml")).unwrap();
    std::fs::write(models.join("pump_b/manifest.toml"), m.replace("name = \"pump_anomaly\"", "name = \"pump_b\""))
        .unwrap();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// `edgecite user add NAME --role ROLE --password-stdin` against a config's store.
pub fn add_user(config: &Path, name: &str, role: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["user", "add", name, "--role", role, "--password-stdin", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "user add {name}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `edgecite token create USER`: the token printed on stdout.
pub fn create_token(config: &Path, user: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["token", "create", user, "--label", "test", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(out.status.success(), "token create {user}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A user with `role` and a token for it, in one call: `(user name, token)`.
pub fn user_with_token(config: &Path, role: &str) -> (String, String) {
    let name = format!("test-{role}");
    add_user(config, &name, role, "test-password-123");
    (name.clone(), create_token(config, &name))
}

/// A running `edgecite` child process, killed on drop. `token` belongs to an admin created
/// before the start; `get` and `json` send it.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub api: u16,
    pub token: String,
}

impl Daemon {
    pub fn start(config: &Path, api: u16, env: &[(&str, Option<&str>)]) -> Daemon {
        let d = Self::spawn(config, api, env);
        d.wait_until("the API answers", Duration::from_secs(30), || d.get("/healthz").ok());
        d
    }

    /// Like `start`, waiting until `ready` says the API answers (e.g. over TLS).
    pub fn start_waiting(config: &Path, api: u16, env: &[(&str, Option<&str>)], ready: &dyn Fn() -> bool) -> Daemon {
        let d = Self::spawn(config, api, env);
        d.wait_until("the API answers", Duration::from_secs(30), || ready().then_some(()));
        d
    }

    fn spawn(config: &Path, api: u16, env: &[(&str, Option<&str>)]) -> Daemon {
        let (_, token) = user_with_token(config, "admin");
        let log = config.with_extension("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgecite"));
        cmd.args(["run", "--config"]).arg(config).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
        cmd.env("ORT_DYLIB_PATH", ort_library()).env("EDGECITE_LOG", "info");
        for (k, v) in env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let child = cmd.spawn().expect("spawn edgecite");
        Daemon { child, log, api, token }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET a path as the admin; returns (status, body as JSON).
    pub fn get(&self, path: &str) -> Result<(u16, serde_json::Value), String> {
        http(self.api, "GET", path, &[("Authorization", &format!("Bearer {}", self.token))], None)
            .map(|r| (r.status, r.json))
    }

    /// Any request; `token` None sends no credentials.
    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = vec![];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http(self.api, method, path, &headers, body.map(str::as_bytes))
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log_text()))
    }

    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path).unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log_text()));
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Poll `f` every 200 ms until it returns Some, or fail after `limit` with the log.
    pub fn wait_until<T>(&self, what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            if start.elapsed() > limit {
                panic!("gave up waiting for {what} after {limit:?}; daemon log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM and wait; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("daemon did not stop within 20 s of SIGTERM; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.0 GET against 127.0.0.1:port, without credentials.
pub fn http_get(port: u16, path: &str) -> Result<(u16, serde_json::Value), String> {
    http(port, "GET", path, &[], None).map(|r| (r.status, r.json))
}

pub struct Response {
    pub status: u16,
    /// Header lines as (lower-case name, value).
    pub headers: Vec<(String, String)>,
    pub json: serde_json::Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Minimal HTTP/1.0 request against 127.0.0.1:port.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    s.write_all(&bytes).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no status")?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_string()));
    Ok(Response { status, headers, json })
}
