//! The pymodbus peer (tests/peers/modbus_peer.py) as a child process. Shared by the
//! integration tests and the Modbus benchmark.

use serde_json::{json, Value};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// A running peer, stopped (SIGTERM, so it writes its final stats) on drop.
pub struct Peer {
    child: Child,
    /// `127.0.0.1:port` or the client pty path.
    pub address: String,
    stats: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Peer {
    pub fn start(mut spec: Value) -> Peer {
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("stats.json");
        spec["stats"] = json!(stats);
        spec["exit_on_stdin_eof"] = json!(true);
        let spec_path = dir.path().join("spec.json");
        std::fs::write(&spec_path, spec.to_string()).unwrap();
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = repo.join(".venv/bin/python");
        let mut child = Command::new(&python)
            .arg(repo.join("tests/peers/modbus_peer.py"))
            .arg(&spec_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}; run the tests through scripts/test.sh", python.display()));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let address =
            line.split_whitespace().nth(2).unwrap_or_else(|| panic!("peer did not start: {line:?}")).to_string();
        Peer { child, address, stats, _dir: dir }
    }

    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stop the peer and return its request counts.
    pub fn stop(mut self) -> Value {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap();
        serde_json::from_str(&std::fs::read_to_string(&self.stats).unwrap()).unwrap()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
