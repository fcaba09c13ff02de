//! `edgecite status`: ask the running daemon for its `/healthz` (and, with a viewer's token,
//! `/api/v1/models`) and print it.

use crate::config::Config;
use anyhow::Context;
use std::path::Path;

/// GET `path` from the daemon's API (over TLS, trusting the configured certificate, when
/// `[api] tls` is set); returns the JSON body. Sends `token` as a bearer token when given
/// (routes under `/api/v1` need one).
fn api_get(api: &crate::config::ApiConfig, path: &str, token: Option<&str>) -> anyhow::Result<serde_json::Value> {
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
        let cfg = crate::sinks::api::server::pinned_client_config(&tls.cert)?;
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

pub fn status(path: &Path, raw: bool, token_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let token = status_token(token_file)?;
    let h = api_get(&config.api, "/healthz", token.as_deref())?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&h)?);
        return Ok(());
    }
    let health: crate::sinks::api::health::Health =
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
    let models: Vec<crate::inference::registry::ModelInfo> = match &token {
        None => {
            println!(
                "models: not shown: /api/v1/models needs an API token; pass --token-file PATH or set EDGECITE_TOKEN to a viewer's token (`edgecite token create USER`)"
            );
            Vec::new()
        }
        Some(t) => {
            let v = api_get(&config.api, "/api/v1/models", Some(t))?;
            if let Some(e) = v.get("error") {
                println!(
                    "models: not shown ({}: {}); the token from {} was refused: create a viewer's token (`edgecite token create USER`)",
                    s(&e["code"]),
                    s(&e["message"]),
                    if token_file.is_some() { "--token-file" } else { "EDGECITE_TOKEN" }
                );
                Vec::new()
            } else {
                let answer: crate::sinks::api::models::ModelsAnswer = serde_json::from_value(v)
                    .context("/api/v1/models answered a document this edgecite does not understand")?;
                answer.models
            }
        }
    };
    for m in &models {
        if m.status == "loaded" {
            // What the daemon leaves out shows as `null`.
            let l = m.latency.as_ref();
            let n = |f: fn(&crate::inference::stats::StatsSnapshot) -> u64| or_none(l.map(|l| f(l).to_string()));
            println!(
                "model {} {} on {} ({} nodes): {} run(s), {} row(s), mean {:.0} us, p99 <= {} us, {} error(s), {} non-finite score(s); roles {}",
                m.name,
                or_none(m.version.clone()),
                or_none(m.provider.as_deref().map(String::from)),
                or_none(m.provider_nodes.as_deref().map(String::from)),
                n(|l| l.runs),
                n(|l| l.rows),
                l.map_or(0.0, |l| l.mean_us),
                n(|l| l.p99_us),
                n(|l| l.errors),
                n(|l| l.non_finite_scores),
                m.input_roles.join(",")
            );
        } else {
            println!("model {} REJECTED: {}", m.name, or_none(m.error.clone()));
        }
        for f in &m.provider_fallbacks {
            println!("  provider skipped: {f}");
        }
    }
    for e in &d.model_errors {
        println!("model error: {e}");
    }
    for c in &d.disabled_criteria {
        println!("disabled: {} {}: {}", c.asset, c.criterion, c.reason);
    }
    crate::sinks::mqtt::MqttStatusView::print_status(d.mqtt.as_ref());
    Ok(())
}
