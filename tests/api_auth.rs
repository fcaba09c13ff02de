//! Auth of the HTTP API against the real daemon: credentials, roles, revocation, sessions,
//! login rate limit, audit rows in SQLite, acknowledgement and notes.

use crate::common;

use crate::common::{add_user, create_token, demo_config, http, Daemon, Ports};
use std::time::Duration;

const FAST: &[(&str, &str)] = &[
    ("interval_ms = 1000\ntimeout_ms = 500\npoints", "interval_ms = 250\ntimeout_ms = 500\npoints"),
    ("[diagnose]\ninterval_ms = 1000", "[diagnose]\ninterval_ms = 250"),
];

fn login(port: u16, user: &str, password: &str) -> common::Response {
    let body = serde_json::json!({"username": user, "password": password}).to_string();
    http(port, "POST", "/api/v1/auth/login", &[("Content-Type", "application/json")], Some(body.as_bytes())).unwrap()
}

/// Read `/api/v1/live` until `n` complete events; with `gzip` the stream is asked for
/// gzip-compressed and each event must be readable as soon as its chunk arrives (the
/// compressor flushes per event). Returns the response head and the events.
fn sse_events(port: u16, token: &str, gzip: bool, n: usize) -> (String, Vec<String>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let ae = if gzip { "Accept-Encoding: gzip\r\n" } else { "" };
    write!(s, "GET /api/v1/live HTTP/1.1\r\nHost: x\r\n{ae}Authorization: Bearer {token}\r\n\r\n").unwrap();
    let (mut raw, mut chunk) = (Vec::new(), [0u8; 4096]);
    let mut gz = flate2::write::GzDecoder::new(Vec::new());
    let (mut head, mut at) = (None::<String>, 0usize);
    loop {
        let got = s.read(&mut chunk).expect("an event within 10 s");
        assert!(got > 0, "stream closed: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&chunk[..got]);
        if head.is_none() {
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let h = String::from_utf8_lossy(&raw[..end]).to_string();
            assert!(h.starts_with("HTTP/1.1 200"), "{h}");
            assert!(h.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{h}");
            (head, at) = (Some(h), end + 4);
        }
        // Chunked transfer: "size\r\ndata\r\n" until the bytes so far end.
        let mut body = Vec::new();
        while let Some(nl) = raw[at..].windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(std::str::from_utf8(&raw[at..at + nl]).unwrap().trim(), 16).unwrap();
            let start = at + nl + 2;
            if raw.len() < start + size + 2 {
                break;
            }
            body.extend_from_slice(&raw[start..start + size]);
            at = start + size + 2;
        }
        if gzip {
            gz.write_all(&body).unwrap();
            gz.flush().unwrap();
        } else {
            gz.get_mut().extend_from_slice(&body);
        }
        let text = String::from_utf8_lossy(gz.get_ref()).to_string();
        let events: Vec<String> = text.split("\n\n").filter(|e| e.starts_with("event: ")).map(str::to_owned).collect();
        let complete = if text.ends_with("\n\n") { events.len() } else { events.len().saturating_sub(1) };
        if complete >= n {
            return (head.unwrap(), events[..n].to_vec());
        }
    }
}

#[test]
fn roles_tokens_sessions_rate_limit_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    // A photo quota of 3 MiB, so that the test can fill it with open findings' photos.
    let config = demo_config(dir.path(), &ports, &[FAST, &[("[api]\n", "[api]\nphoto_quota_mib = 3\n")]].concat());
    add_user(&config, "vera", "viewer", "viewer-pass-1");
    add_user(&config, "tom", "technician", "tech-pass-12");
    let viewer = create_token(&config, "vera");
    let tech = create_token(&config, "tom");
    let d = Daemon::start(&config, ports.api, &[]);

    // No credentials: 401 with the JSON error shape, on every API route, old and new.
    for path in ["/api/v1/assets", "/api/v1/findings", "/api/v1/findings/1", "/api/v1/nonexistent", "/metrics"] {
        let r = d.request("GET", path, None, None);
        assert_eq!(r.status, 401, "{path}: {}", r.json);
        assert_eq!(r.json["error"]["code"], "unauthenticated", "{path}");
    }
    let r = d.request("POST", "/api/v1/findings/1/ack", None, Some("{}"));
    assert_eq!(r.status, 401);
    // A bad token is refused the same way.
    let r = d.request("GET", "/api/v1/assets", Some("ect_1_not-the-secret"), None);
    assert_eq!(r.status, 401);
    // Public: health, the web app, the OpenAPI document.
    assert_eq!(d.request("GET", "/healthz", None, None).status, 200);
    let page = d.request("GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(page.header("content-security-policy").unwrap().contains("script-src 'self'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let doc = d.request("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    assert!(doc.json["paths"]["/api/v1/findings/{id}/ack"]["post"].is_object(), "{}", doc.json);

    // Wait for a finding to acknowledge.
    let id = d.wait_until("a finding to open", Duration::from_secs(90), || {
        let r = d.request("GET", "/api/v1/findings?state=open", Some(&viewer), None);
        r.json.as_array()?.first()?["id"].as_i64()
    });
    let ack_path = format!("/api/v1/findings/{id}/ack");
    // A viewer reads but cannot acknowledge.
    assert_eq!(d.request("GET", &format!("/api/v1/findings/{id}"), Some(&viewer), None).status, 200);
    let r = d.request("POST", &ack_path, Some(&viewer), Some("{}"));
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (403, Some("forbidden")), "{}", r.json);
    // Nor read the audit log (admin).
    assert_eq!(d.request("GET", "/api/v1/admin/audit", Some(&tech), None).status, 403);
    // JSON `null` is not an AckBody (the document's type is an object): refused, not taken as
    // "no body" (schemathesis ST201).
    let r = d.request("POST", &ack_path, Some(&tech), Some("null"));
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (422, Some("bad_body")), "{}", r.json);
    // A technician acknowledges; the state machine is untouched.
    let r = d.request("POST", &ack_path, Some(&tech), Some(r#"{"comment":"checking the oil sample"}"#));
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["acknowledged"]["by"], "tom");
    assert_eq!(r.json["state"], "open");
    assert!(r.json["events"].as_array().unwrap().iter().any(|e| e["kind"] == "acknowledged"));
    let again = d.request("POST", &ack_path, Some(&tech), Some("{}"));
    assert_eq!((again.status, again.json["error"]["code"].as_str()), (409, Some("already_acknowledged")));
    // Notes: text, then a photo within the limit, then one over it.
    let r =
        d.request("POST", &format!("/api/v1/findings/{id}/notes"), Some(&tech), Some(r#"{"text":"oil looks dark"}"#));
    assert_eq!(r.status, 201, "{}", r.json);
    let photo = vec![0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3];
    let auth = format!("Bearer {tech}");
    let r = http(
        ports.api,
        "POST",
        &format!("/api/v1/findings/{id}/photos?text=gauge"),
        &[("Authorization", &auth), ("Content-Type", "image/jpeg")],
        Some(&photo),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.json);
    let url = r.json["photo_url"].as_str().unwrap().to_string();
    let big = vec![0u8; 2048 * 1024 + 1];
    let r = http(
        ports.api,
        "POST",
        &format!("/api/v1/findings/{id}/photos"),
        &[("Authorization", &auth), ("Content-Type", "image/jpeg")],
        Some(&big),
    )
    .unwrap();
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (413, Some("payload_too_large")), "{}", r.json);
    let notes = d.request("GET", &format!("/api/v1/findings/{id}/notes"), Some(&viewer), None);
    assert_eq!(notes.json.as_array().unwrap().len(), 2, "{}", notes.json);
    assert_eq!(notes.json[0]["by"], "tom");
    let r = http(ports.api, "GET", &url, &[("Authorization", &auth)], None).unwrap();
    assert_eq!((r.status, r.header("content-type")), (200, Some("image/jpeg")));
    // The finding is open, so its photos are never removed for room: once they fill the
    // quota, a new photo is refused with 507 and nothing stored is lost.
    let upload = |bytes: &[u8]| {
        http(
            ports.api,
            "POST",
            &format!("/api/v1/findings/{id}/photos?text=more"),
            &[("Authorization", &auth), ("Content-Type", "image/jpeg")],
            Some(bytes),
        )
        .unwrap()
    };
    let half = vec![0xFFu8; 1536 * 1024];
    assert_eq!(upload(&half).status, 201);
    let r = upload(&half);
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (507, Some("photo_storage_full")), "{}", r.json);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("photo_quota_mib = 3 MiB"), "{}", r.json);
    let notes = d.request("GET", &format!("/api/v1/findings/{id}/notes"), Some(&viewer), None);
    assert_eq!(notes.json.as_array().unwrap().len(), 3, "{}", notes.json);
    let r = http(ports.api, "GET", &url, &[("Authorization", &auth)], None).unwrap();
    assert_eq!(r.status, 200, "the first photo is still there");
    // Malformed JSON gets the JSON error shape too.
    let r = d.request("POST", &format!("/api/v1/findings/{id}/notes"), Some(&tech), Some("{not json"));
    assert_eq!(r.status, 400, "{}", r.json);
    assert!(r.json["error"]["code"].is_string(), "{}", r.json);

    // A revoked token stops working at once (the daemon keeps running).
    let token_id: i64 = viewer.split('_').nth(1).unwrap().parse().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["token", "revoke", &token_id.to_string(), "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = d.request("GET", "/api/v1/assets", Some(&viewer), None);
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (401, Some("token_revoked")));

    // Web login: a session cookie with the right attributes; it authenticates; logout ends it.
    let r = login(ports.api, "tom", "tech-pass-12");
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["role"], "technician");
    let set = r.header("set-cookie").unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains("Secure"), "no Secure flag on plain loopback HTTP: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let me = http(ports.api, "GET", "/api/v1/auth/me", &[("Cookie", &cookie)], None).unwrap();
    assert_eq!((me.status, me.json["user"].as_str()), (200, Some("tom")));
    let out = http(ports.api, "POST", "/api/v1/auth/logout", &[("Cookie", &cookie)], None).unwrap();
    assert_eq!(out.status, 204);
    let me = http(ports.api, "GET", "/api/v1/auth/me", &[("Cookie", &cookie)], None).unwrap();
    assert_eq!((me.status, me.json["error"]["code"].as_str()), (401, Some("session_expired")));

    // Login rate limit: 5 failures a minute, then 429 even with the right password.
    for i in 0..5 {
        let r = login(ports.api, "vera", "wrong-password");
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (401, Some("bad_credentials")), "attempt {i}");
    }
    let r = login(ports.api, "vera", "viewer-pass-1");
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (429, Some("rate_limited")), "{}", r.json);
    assert!(r.header("retry-after").is_some());

    // The audit log, through the API (admin) and in the SQLite file.
    let audit = d.json("/api/v1/admin/audit?limit=1000");
    let rows = audit.as_array().unwrap();
    let has = |actor: &str, action: &str, status: i64, target_part: &str| {
        rows.iter().any(|r| {
            r["actor"] == actor
                && r["action"] == action
                && r["status"] == status
                && r["target"].as_str().unwrap().contains(target_part)
        })
    };
    assert!(has("tom", "POST", 200, &ack_path), "ack audited: {audit}");
    assert!(has("vera", "POST", 403, &ack_path), "refused ack audited");
    assert!(has("-", "POST", 401, "/ack"), "anonymous write audited");
    assert!(has("tom", "POST", 201, "/notes"), "note audited");
    assert!(has("tom", "LOGIN", 200, "login"), "login audited");
    assert!(has("vera", "LOGIN", 401, "login") && has("vera", "LOGIN", 429, "login"), "failed logins audited");
    let conn = rusqlite::Connection::open(dir.path().join("edgecite.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM audit WHERE actor = 'tom' AND action = 'POST' AND status = 200", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1);
    let n: i64 = conn.query_row("SELECT count(*) FROM audit WHERE action = 'TOKEN_REVOKE'", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    // Secrets are not stored in clear.
    let hash: String = conn.query_row("SELECT pw_hash FROM users WHERE name = 'tom'", [], |r| r.get(0)).unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("tech-pass-12"));

    // History: a role's trend, downsampled to the buckets asked for.
    let h = d.json("/api/v1/assets/T1/history?role=h2&points=10");
    assert_eq!((h["unit"].as_str(), h["point"].as_str()), (Some("ppm"), Some("dga1.h2")), "{h}");
    let pts = h["points"].as_array().unwrap();
    assert!(!pts.is_empty() && pts.len() <= 10, "{h}");
    assert!(pts.iter().all(|p| p["min"].as_f64() <= p["avg"].as_f64() && p["avg"].as_f64() <= p["max"].as_f64()));
    let total: i64 = pts.iter().map(|p| p["n"].as_i64().unwrap()).sum();
    assert!(total > pts.len() as i64, "more samples than buckets: downsampled");
    // With the limits the asset's criteria set on the role, to draw: DL/T 722 H2 150 ppm.
    let lim = h["limits"].as_array().unwrap();
    assert!(
        lim.iter().any(|l| l["criterion"] == "dlt722.attention" && l["value"] == 150.0 && l["label"]["zh"].is_string()),
        "{h}"
    );
    let r = d.request("GET", "/api/v1/assets/T1/history?role=nope", Some(&tech), None);
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (404, Some("role_not_found")));

    // Live values by server-sent events: first the findings' revision (the newest finding
    // event, so a client refetches the list only when it moves), then every asset's values.
    for gzip in [false, true] {
        let (head, events) = sse_events(ports.api, &tech, gzip, 2);
        assert_eq!(head.to_ascii_lowercase().contains("content-encoding: gzip"), gzip, "{head}");
        let data = |e: &str| -> serde_json::Value {
            serde_json::from_str(e.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap()
        };
        assert!(events[0].starts_with("event: findings\n"), "{events:?}");
        assert!(data(&events[0])["rev"].as_i64().is_some_and(|r| r > 0), "a finding is open: {events:?}");
        assert!(events[1].starts_with("event: assets\ndata: ["), "{events:?}");
        let assets = data(&events[1]);
        assert!(assets.as_array().unwrap().iter().any(|a| a["id"] == "T1" && a["values"][0]["value"].is_number()));
    }

    // Guessing token secrets is rate limited too (one wrong guess was made above).
    for _ in 0..4 {
        assert_eq!(d.request("GET", "/api/v1/assets", Some("ect_2_guess"), None).status, 401);
    }
    let r = d.request("GET", "/api/v1/assets", Some("ect_2_guess"), None);
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (429, Some("rate_limited")), "{}", r.json);
    // A known token still works (verified before, so no argon2 guess is spent on it).
    assert_eq!(d.request("GET", "/api/v1/assets", Some(&tech), None).status, 200);

    // Metrics for a viewer-or-better, in the Prometheus text format.
    let r = http(ports.api, "GET", "/metrics", &[("Authorization", &auth)], None).unwrap();
    let text = r.json.as_str().unwrap();
    assert!(text.contains("edgecite_source_requests_total{source=\"dga1\""), "{text}");
    assert!(
        text.contains(
            "edgecite_http_requests_total{route=\"/api/v1/findings/{id}/ack\",method=\"POST\",status=\"403\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("edgecite_findings_acknowledged{"), "{text}");
}

#[test]
fn the_demo_user_is_created_and_plain_http_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::new();
    let config = demo_config(dir.path(), &ports, &[]);
    let d = Daemon::start(&config, ports.api, &[]);
    let r = login(ports.api, "demo", "edgecite-demo");
    assert_eq!((r.status, r.json["role"].as_str()), (200, Some("technician")), "{}", r.json);
    assert!(d.log_text().contains("demo user created"));
    drop(d);

    // Listening on all interfaces without TLS is refused unless allowed.
    let p = Ports::new();
    let open = demo_config(dir.path(), &p, &[]);
    let text = std::fs::read_to_string(&open).unwrap().replace(&format!("127.0.0.1:{}", p.api), "0.0.0.0:8080");
    std::fs::write(&open, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["check", "--config"])
        .arg(&open)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("api.listen") && err.contains("0.0.0.0:8080") && err.contains("allow_plain_http"), "{err}");

    // Allowed explicitly: it serves, with a warning in the log.
    let p = Ports::new();
    std::fs::create_dir(dir.path().join("allowed")).unwrap();
    let allowed = demo_config(&dir.path().join("allowed"), &p, &[]);
    let text = std::fs::read_to_string(&allowed).unwrap().replace(
        &format!("listen = \"127.0.0.1:{}\"", p.api),
        &format!("listen = \"0.0.0.0:{}\"\nallow_plain_http = true", p.api),
    );
    std::fs::write(&allowed, text).unwrap();
    let d = Daemon::start(&allowed, p.api, &[]);
    assert_eq!(d.get("/api/v1/assets").unwrap().0, 200);
    assert!(d.log_text().contains("plain HTTP on a non-loopback address"), "{}", d.log_text());
}

/// The demo daemon serving HTTPS with `cert` and `key` (plain `Daemon` speaks HTTP), its
/// log in `dir/log`.
fn daemon_with_tls(
    dir: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (std::process::Child, Ports, std::path::PathBuf) {
    let ports = Ports::new();
    let (line, tls) = common::tls_replacement(cert, key);
    let config = demo_config(dir, &ports, &[(line, tls.as_str())]);
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["run", "--config"])
        .arg(&config)
        .env("ORT_DYLIB_PATH", common::ort_library())
        .stderr(log)
        .spawn()
        .unwrap();
    (child, ports, config)
}

#[test]
fn https_with_the_configured_certificate_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed_certificate(dir.path());
    let (mut child, ports, config) = daemon_with_tls(dir.path(), &cert, &key);
    let url = format!("https://127.0.0.1:{}", ports.api);
    let curl = |args: &[&str]| {
        std::process::Command::new("curl")
            .args(["-s", "--max-time", "5", "--cacert"])
            .arg(&cert)
            .args(args)
            .output()
            .unwrap()
    };
    let start = std::time::Instant::now();
    while !curl(&[&format!("{url}/healthz")]).status.success() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            std::fs::read_to_string(dir.path().join("log")).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The certificate verifies against itself as CA; login sets a Secure cookie.
    let out = curl(&[
        "-i",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"username":"demo","password":"edgecite-demo"}"#,
        &format!("{url}/api/v1/auth/login"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let cookie_line =
        text.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap_or_else(|| panic!("{text}"));
    assert!(cookie_line.contains("; Secure") && cookie_line.contains("HttpOnly"), "{cookie_line}");
    // Under TLS browsers are told to keep to HTTPS (issue 13 item 11).
    assert!(text.to_ascii_lowercase().contains("strict-transport-security: max-age="), "{text}");
    // `edgecite status` talks TLS too, trusting the configured certificate.
    let token = create_token(&config, "demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgecite"))
        .args(["status", "--config"])
        .arg(&config)
        .env("EDGECITE_TOKEN", &token)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("at https://127.0.0.1:{}", ports.api)) && text.contains("dga1"), "{text}");
    // Plain HTTP to the TLS port gets no API answer.
    assert!(common::http_get(ports.api, "/healthz").map(|(s, _)| s != 200).unwrap_or(true));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_renewed_api_certificate_is_served_without_a_restart_and_a_broken_renewal_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::create_dir_all(&old_dir).unwrap();
    std::fs::create_dir_all(&new_dir).unwrap();
    let (old_cert, old_key) = common::self_signed_certificate(&old_dir);
    let (new_cert, new_key) = common::self_signed_certificate(&new_dir);
    // The daemon's files: a copy of the old pair, replaced later as a renewal tool would.
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&old_cert, &cert).unwrap();
    std::fs::copy(&old_key, &key).unwrap();
    let (mut child, ports, _) = daemon_with_tls(dir.path(), &cert, &key);
    let url = format!("https://127.0.0.1:{}/healthz", ports.api);
    // Whether a client trusting only `ca` completes a request.
    let trusted_by = |ca: &std::path::Path| {
        std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--max-time", "5", "--cacert"])
            .arg(ca)
            .arg(&url)
            .status()
            .unwrap()
            .success()
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}\n{}",
                std::fs::read_to_string(dir.path().join("log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait("the API serving the first certificate", &|| trusted_by(&old_cert));
    assert!(!trusted_by(&new_cert));
    let pid = child.id();
    // Renewal: key first, then the certificate (a pair again once both are written).
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    wait("the renewed certificate served", &|| trusted_by(&new_cert));
    assert!(!trusted_by(&old_cert), "the old certificate is no longer served");
    // A broken renewal (not a certificate): the renewed one stays in use, and it is said.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(trusted_by(&new_cert), "a renewal that does not load keeps the certificate in use");
    wait("the broken renewal reported", &|| {
        std::fs::read_to_string(dir.path().join("log"))
            .unwrap()
            .contains("do not load; the previous certificate stays in use")
    });
    assert_eq!(child.id(), pid);
    let _ = child.kill();
    let _ = child.wait();
}
