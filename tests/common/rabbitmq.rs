//! A two-node RabbitMQ cluster (Debian's rabbitmq-server 3.10, MQTT 3.1.1 plugin) on this
//! machine, as plain child processes: no systemd, no system node, nothing in /etc or
//! /var/lib/rabbitmq.
//!
//! Each node has its own name (`rabbit-a@localhost`, `rabbit-b@localhost`), free AMQP,
//! distribution and MQTT ports, and its own config file, Mnesia and log directories under
//! the test's directory. The cluster has its own epmd on a free port (`ERL_EPMD_PORT`), so
//! a system node (the package's, should one run) and the standard port 4369 are never
//! touched, and its own Erlang cookie in a private `HOME`. Node b joins node a with
//! `rabbitmqctl stop_app; join_cluster; start_app`. Node a's MQTT port accepting
//! connections is what "up" means; every wait has a limit and fails with the node's log.
//!
//! The nodes run `rabbitmq-server` with `RUNNING_UNDER_SYSTEMD` set: the script then `exec`s
//! the Erlang VM (no shell wrapper in between), so the child's pid is the node's beam
//! process and `kill` is a real SIGKILL of the node.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";
/// A node's boot: about 13 s for two in parallel on 2 cores, 5 s for one restart.
const BOOT_LIMIT: Duration = Duration::from_secs(90);

/// One of the cluster's two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    A,
    B,
}

impl Node {
    pub fn letter(self) -> char {
        match self {
            Node::A => 'a',
            Node::B => 'b',
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

struct NodeProc {
    name: String,
    amqp: u16,
    dist: u16,
    mqtt: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub struct Cluster {
    dir: PathBuf,
    home: PathBuf,
    epmd_port: u16,
    epmd: Option<Child>,
    nodes: Vec<NodeProc>,
}

/// Distinct free ports (two quick binds can return the same one).
fn free_ports(n: usize) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::new();
    while out.len() < n {
        let p = super::free_port();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Whether this machine has RabbitMQ (Debian package `rabbitmq-server`).
pub fn installed() -> bool {
    Path::new(SERVER).exists() && Path::new(CTL).exists()
}

impl Cluster {
    /// Both nodes booted, clustered, and a message published on b delivered to a
    /// subscriber on a. Prints how long it took.
    pub fn start(dir: &Path) -> Cluster {
        assert!(
            installed(),
            "{SERVER} not found: RabbitMQ is needed (apt-get install rabbitmq-server; scripts/setup.sh --tests installs it)"
        );
        let started = Instant::now();
        let dir = dir.join("rabbitmq");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // The shared cookie: Erlang reads $HOME/.erlang.cookie and wants it private.
        let cookie = home.join(".erlang.cookie");
        std::fs::write(&cookie, format!("edgecite-test-{}", std::process::id())).unwrap();
        std::fs::set_permissions(&cookie, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[rabbitmq_mqtt].\n").unwrap();

        let ports = free_ports(7);
        let epmd_port = ports[0];
        let epmd = Command::new("epmd")
            .args(["-port", &epmd_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("epmd (Debian package erlang-base, a dependency of rabbitmq-server)");
        let mut cluster = Cluster { dir: dir.clone(), home, epmd_port, epmd: Some(epmd), nodes: Vec::new() };
        let t = Instant::now();
        while !listening(epmd_port) {
            assert!(t.elapsed() < Duration::from_secs(10), "epmd did not listen on {epmd_port}");
            std::thread::sleep(Duration::from_millis(10));
        }
        for (i, node) in [Node::A, Node::B].into_iter().enumerate() {
            let ndir = dir.join(format!("node-{}", node.letter()));
            std::fs::create_dir_all(&ndir).unwrap();
            let (amqp, dist, mqtt) = (ports[1 + 3 * i], ports[2 + 3 * i], ports[3 + 3 * i]);
            // guest is loopback-only, which is all the tests need; anonymous MQTT logins
            // use it (mqtt.default_user, the default).
            let conf = format!(
                "listeners.tcp.default = 127.0.0.1:{amqp}\n\
                 mqtt.listeners.tcp.default = 127.0.0.1:{mqtt}\n\
                 mqtt.allow_anonymous = true\n\
                 mqtt.default_user = guest\n\
                 mqtt.default_pass = guest\n\
                 mqtt.vhost = /\n\
                 log.console = false\n\
                 log.file.level = info\n"
            );
            std::fs::write(ndir.join("rabbitmq.conf"), conf).unwrap();
            cluster.nodes.push(NodeProc {
                name: format!("rabbit-{}@localhost", node.letter()),
                amqp,
                dist,
                mqtt,
                dir: ndir,
                child: None,
            });
        }
        // Both boot at once (the slow part), then b joins a.
        cluster.spawn(Node::A);
        cluster.spawn(Node::B);
        cluster.wait_up(Node::A);
        cluster.wait_up(Node::B);
        let a = cluster.nodes[0].name.clone();
        cluster.ctl(Node::B, &["stop_app"]);
        cluster.ctl(Node::B, &["join_cluster", &a]);
        cluster.ctl(Node::B, &["start_app"]);
        cluster.wait_up(Node::B);
        let status = cluster.ctl(Node::A, &["cluster_status", "--formatter", "json"]);
        let status: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
        let running = status["running_nodes"].as_array().map(|v| v.len()).unwrap_or(0);
        assert_eq!(running, 2, "the cluster does not run both nodes: {status}\n{}", cluster.logs());
        cluster.check_cross_node_routing();
        let _ = writeln!(
            std::io::stderr(),
            "rabbitmq: two-node cluster {} + {} up in {} ms (MQTT ports {} and {})",
            cluster.nodes[0].name,
            cluster.nodes[1].name,
            started.elapsed().as_millis(),
            cluster.nodes[0].mqtt,
            cluster.nodes[1].mqtt
        );
        cluster
    }

    pub fn mqtt_port(&self, node: Node) -> u16 {
        self.nodes[node.index()].mqtt
    }

    pub fn node_name(&self, node: Node) -> &str {
        &self.nodes[node.index()].name
    }

    /// The environment both the node and the CLI need: the private epmd, cookie and files.
    fn env(&self, cmd: &mut Command, node: Node) {
        let n = &self.nodes[node.index()];
        cmd.env("HOME", &self.home)
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_NODENAME", &n.name)
            .env("RABBITMQ_USE_LONGNAME", "false")
            .env("RABBITMQ_CONF_ENV_FILE", n.dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", n.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", n.dir.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", n.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", n.dir.join("log"))
            .env("RABBITMQ_PID_FILE", n.dir.join("pid"))
            .env("RABBITMQ_NODE_PORT", n.amqp.to_string())
            .env("RABBITMQ_DIST_PORT", n.dist.to_string())
            .current_dir(&n.dir);
    }

    fn spawn(&mut self, node: Node) {
        assert!(self.nodes[node.index()].child.is_none(), "{} already running", self.nodes[node.index()].name);
        let mut cmd = Command::new(SERVER);
        self.env(&mut cmd, node);
        // Makes the script exec the VM itself, with -noinput (no stdin shell).
        cmd.env("RUNNING_UNDER_SYSTEMD", "true");
        let n = &mut self.nodes[node.index()];
        let out = std::fs::File::create(n.dir.join("stdout.log")).unwrap();
        cmd.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
        n.child = Some(cmd.spawn().unwrap_or_else(|e| panic!("{SERVER}: {e}")));
    }

    /// Until the node's MQTT listener accepts connections; the time it did.
    fn wait_up(&mut self, node: Node) -> SystemTime {
        let start = Instant::now();
        let port = self.nodes[node.index()].mqtt;
        loop {
            if listening(port) {
                return SystemTime::now();
            }
            if let Some(status) = self.nodes[node.index()].child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("{} exited ({status}) while booting:\n{}", self.nodes[node.index()].name, self.log(node));
            }
            if start.elapsed() > BOOT_LIMIT {
                panic!(
                    "{} did not listen for MQTT on {port} within {BOOT_LIMIT:?}:\n{}",
                    self.nodes[node.index()].name,
                    self.log(node)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `rabbitmqctl -n NODE args...` with a time limit; its stdout. Panics with both
    /// nodes' logs when it fails.
    pub fn ctl(&self, node: Node, args: &[&str]) -> String {
        let mut cmd = Command::new(CTL);
        self.env(&mut cmd, node);
        cmd.args(["-n", &self.nodes[node.index()].name, "--timeout", "60"]).args(args);
        let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{CTL}: {e}"));
        assert!(
            out.status.success(),
            "rabbitmqctl -n {} {args:?} failed: {}{}\n{}",
            self.nodes[node.index()].name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A message published on b's MQTT listener reaches a subscriber on a's: the cluster
    /// routes between the nodes.
    fn check_cross_node_routing(&self) {
        let sub = super::mosquitto::Subscriber::start(self.mqtt_port(Node::A), "harness-check-a", "harness/check");
        super::mosquitto::publish_all(
            self.mqtt_port(Node::B),
            "harness-check-b",
            &[("harness/check".to_string(), b"from node b".to_vec())],
        );
        sub.wait_for(
            "a message published on node b at the subscriber on node a",
            Duration::from_secs(30),
            || self.logs(),
            |got| got.iter().any(|r| r.payload == b"from node b"),
        );
    }

    /// SIGKILL the node's Erlang VM and reap it.
    pub fn kill(&mut self, node: Node) {
        let n = &mut self.nodes[node.index()];
        let mut child = n.child.take().unwrap_or_else(|| panic!("{} is not running", n.name));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Boot a killed node again (it rejoins the cluster from its Mnesia directory);
    /// returns when its MQTT listener accepts connections, with that time.
    pub fn restart(&mut self, node: Node) -> SystemTime {
        let t = Instant::now();
        self.spawn(node);
        let up = self.wait_up(node);
        let _ = writeln!(
            std::io::stderr(),
            "rabbitmq: {} restarted in {} ms",
            self.nodes[node.index()].name,
            t.elapsed().as_millis()
        );
        up
    }

    /// The last 60 lines of the node's log file and its stdout.
    pub fn log(&self, node: Node) -> String {
        let n = &self.nodes[node.index()];
        let tail = |p: PathBuf| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!("--- {} (last lines)\n{}\n", p.display(), lines[lines.len().saturating_sub(60)..].join("\n"))
        };
        tail(n.dir.join("log").join(format!("{}.log", n.name))) + &tail(n.dir.join("stdout.log"))
    }

    pub fn logs(&self) -> String {
        self.log(Node::A) + &self.log(Node::B)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGKILL: the cluster's files are thrown away with the test's directory. The VM's
        // helpers (erl_child_setup, inet_gethost) end when their parent's pipes close.
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(mut e) = self.epmd.take() {
            let _ = e.kill();
            let _ = e.wait();
        }
    }
}
