//! TLS (rustls) with a client certificate, and username/password, against a real Mosquitto
//! that requires both on its TLS listener. Certificates are made by `openssl` in the test;
//! wrong credentials keep everything in the outbox and name the reason.

use crate::common::mosquitto::Subscriber;
use crate::common::{demo_config, free_port, Daemon, Ports};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn run(dir: &Path, args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate.
fn certificates(dir: &Path) {
    run(
        dir,
        &[
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    for (name, ext) in
        [("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")]
    {
        run(
            dir,
            &[
                "openssl",
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        run(
            dir,
            &[
                "openssl",
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

/// Mosquitto with a plain listener and a TLS one that requires a client certificate of
/// the CA in `dir` and user `gateway` / `s3cret`: (process, plain port, TLS port).
fn tls_broker(d: &Path) -> (std::process::Child, u16, u16) {
    run(d, &["mosquitto_passwd", "-b", "-c", "passwd", "gateway", "s3cret"]);
    let (plain, tls) = (free_port(), free_port());
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let p = d.display();
    std::fs::write(
        d.join("mosquitto.conf"),
        format!(
            "per_listener_settings true\nuser {}\nlistener {plain} 127.0.0.1\nallow_anonymous true\n\
             listener {tls} 127.0.0.1\nallow_anonymous false\npassword_file {p}/passwd\ncafile {p}/ca.pem\n\
             certfile {p}/server.pem\nkeyfile {p}/server.key\nrequire_certificate true\n",
            user.trim()
        ),
    )
    .unwrap();
    let broker =
        Command::new("mosquitto").arg("-c").arg(d.join("mosquitto.conf")).stderr(Stdio::null()).spawn().unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", tls)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    (broker, plain, tls)
}

fn tls_section(tls: u16, password: &str) -> String {
    format!(
        "\n[mqtt]\nenabled = true\nhost = \"localhost\"\nport = {tls}\nusername = \"gateway\"\npassword = \"{password}\"\n\
         reconnect_max_ms = 1000\n[mqtt.tls]\nca = \"ca.pem\"\nclient_cert = \"client.pem\"\nclient_key = \"client.key\"\n"
    )
}

#[test]
fn tls_with_client_certificate_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let (mut broker, plain, tls) = tls_broker(d);
    let sub = Subscriber::start(plain, "test-tls", "edgecite/v1/#");

    let ports = Ports::new();
    let tls_section = |password: &str| tls_section(tls, password);
    // Wrong password: refused, the reason is visible, messages wait in the outbox.
    let wrong = d.join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    for f in ["ca.pem", "client.pem", "client.key"] {
        std::fs::copy(d.join(f), wrong.join(f)).unwrap();
    }
    let config = demo_config(&wrong, &ports, &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&tls_section("wrong"));
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config, ports.api, &[]);
    daemon.wait_until("a refused connection with messages queued", Duration::from_secs(60), || {
        let o = daemon.json("/api/v1/outbox");
        let refused = o["last_error"].as_str()?.contains("BadUserNamePassword")
            || o["last_error"].as_str()?.contains("NotAuthorized");
        (refused && o["connected"] == false && o["outbox"]["messages"].as_u64()? > 0).then_some(())
    });
    assert!(daemon.terminate());

    // No client certificate configured: the broker refuses the handshake, and the log says
    // that, not "broker unreachable".
    let nocert = d.join("nocert");
    std::fs::create_dir_all(&nocert).unwrap();
    std::fs::copy(d.join("ca.pem"), nocert.join("ca.pem")).unwrap();
    let config = demo_config(&nocert, &ports, &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    let section = tls_section("s3cret");
    text.push_str(section.split("client_cert").next().unwrap());
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::start(&config, ports.api, &[]);
    daemon.wait_until("the refusal logged", Duration::from_secs(60), || {
        daemon.log_text().contains("requires a client certificate").then_some(())
    });
    let log = daemon.log_text();
    assert!(!log.contains("broker unreachable"), "{log}");
    let o = daemon.json("/api/v1/outbox");
    assert!(o["last_error"].as_str().unwrap().contains("client certificate"), "{o}");
    assert!(daemon.terminate());

    // Right password: connected over TLS with the client certificate, data flows.
    let ports = Ports::new();
    let config = demo_config(d, &ports, &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&tls_section("s3cret"));
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config, ports.api, &[]);
    sub.wait_for(
        "telemetry sent over TLS",
        Duration::from_secs(60),
        || daemon.log_text(),
        |got| got.iter().any(|r| r.topic.ends_with("/T1/telemetry")),
    );
    assert_eq!(daemon.json("/api/v1/outbox")["connected"], true);
    drop(daemon);
    let _ = broker.kill();
    let _ = broker.wait();
}

#[test]
fn a_renewed_client_certificate_is_used_at_the_next_connection_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let (mut broker, plain, tls) = tls_broker(d);
    let sub = Subscriber::start(plain, "test-tls-renewal", "edgecite/v1/#");
    // The gateway starts with a client certificate of another CA: the broker refuses it.
    let other = d.join("other-ca");
    std::fs::create_dir_all(&other).unwrap();
    certificates(&other);
    let gw = d.join("gw");
    std::fs::create_dir_all(&gw).unwrap();
    std::fs::copy(d.join("ca.pem"), gw.join("ca.pem")).unwrap();
    std::fs::copy(other.join("client.pem"), gw.join("client.pem")).unwrap();
    std::fs::copy(other.join("client.key"), gw.join("client.key")).unwrap();
    let ports = Ports::new();
    let config = demo_config(&gw, &ports, &[]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&tls_section(tls, "s3cret"));
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config, ports.api, &[]);
    daemon.wait_until("the foreign client certificate refused", Duration::from_secs(60), || {
        let o = daemon.json("/api/v1/outbox");
        (o["connection_errors"].as_u64()? >= 2 && o["connected"] == false).then_some(())
    });
    // Renewal: the certificate of the broker's CA (key first, as a renewal tool may write).
    let pid = daemon.child.id();
    std::fs::copy(d.join("client.key"), gw.join("client.key")).unwrap();
    std::fs::copy(d.join("client.pem"), gw.join("client.pem")).unwrap();
    sub.wait_for(
        "telemetry over TLS with the renewed certificate",
        Duration::from_secs(60),
        || daemon.log_text(),
        |got| got.iter().any(|r| r.topic.ends_with("/T1/telemetry")),
    );
    assert_eq!(daemon.child.id(), pid, "no restart");
    assert!(daemon.log_text().contains("certificate files changed; the next connection uses them"));
    drop(daemon);
    let _ = broker.kill();
    let _ = broker.wait();
}
