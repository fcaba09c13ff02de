//! Starting the API: bind, open its store connection, create the demo user if configured,
//! then serve HTTPS (rustls, through tokio-rustls) or, on loopback or when allowed, plain HTTP,
//! both through one loop with the same connection limit and timeouts.

use super::{router, ApiState};
use crate::config::store::StoreConfig;
use crate::config::ApiConfig;
use crate::sinks::live::SharedLive;
use crate::store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why the API cannot start (or a local tool cannot reach it over TLS).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}: not a PEM certificate chain (key api.tls.cert)", file.display())]
    CertChain { file: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{}: no certificate in the file (key api.tls.cert)", file.display())]
    NoCert { file: PathBuf },
    #[error("{}: no PEM certificate (key api.tls.cert)", file.display())]
    NoPinnedCert { file: PathBuf },
    #[error("{}: not a PEM private key (key api.tls.key)", file.display())]
    Key { file: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("{what}")]
    Tls { what: &'static str, source: rustls::Error },
    #[error("api: cannot listen on {addr} (key api.listen)")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Auth(#[from] crate::service::accounts::AuthError),
}

/// The certificate chain and key from PEM files, checked to be a pair.
fn load_certified_key(
    cert: &std::path::Path,
    key: &std::path::Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<rustls::sign::CertifiedKey, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|source| ServeError::CertChain { file: cert.into(), source })?;
    if certs.is_empty() {
        return Err(ServeError::NoCert { file: cert.into() });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| ServeError::Key { file: key.into(), source })?;
    rustls::sign::CertifiedKey::from_der(certs, key, provider).map_err(|source| ServeError::Tls {
        what: "api.tls: the certificate and key do not form a usable pair",
        source,
    })
}

/// The API's certificate, read again when its files change (checked at most once a
/// second, on a handshake): a renewed certificate is served without a restart. A renewal
/// that does not load (half written, not a pair) is logged and the one in use stays.
#[derive(Debug)]
struct ReloadingCert {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    state: std::sync::Mutex<CertState>,
}

#[derive(Debug)]
struct CertState {
    current: Arc<rustls::sign::CertifiedKey>,
    stamp: [crate::files::Stamp; 2],
    checked: std::time::Instant,
}

impl rustls::server::ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.checked.elapsed() >= Duration::from_secs(1) {
            st.checked = std::time::Instant::now();
            let now = [&self.cert, &self.key].map(|p| crate::files::stamp(p));
            // Both files there (not in the middle of a rename) and one of them written.
            if now.iter().all(Option::is_some) && now != st.stamp {
                match load_certified_key(&self.cert, &self.key, &self.provider) {
                    Ok(k) => {
                        tracing::info!(cert = %self.cert.display(), "api.tls: certificate files changed; the new certificate is served");
                        st.current = Arc::new(k);
                        st.stamp = now;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "api.tls: the changed certificate files do not load; the previous certificate stays in use")
                    }
                }
            }
        }
        Some(st.current.clone())
    }
}

/// A rustls server config from PEM files (certificate chain, private key), which picks up
/// a renewed certificate without a restart.
pub fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<rustls::ServerConfig, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let stamp0 = [cert, key].map(crate::files::stamp);
    let current = Arc::new(load_certified_key(cert, key, &provider)?);
    let resolver = ReloadingCert {
        cert: cert.into(),
        key: key.into(),
        provider: provider.clone(),
        state: std::sync::Mutex::new(CertState { current, stamp: stamp0, checked: std::time::Instant::now() }),
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| ServeError::Tls { what: "TLS protocol versions", source })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Bind the API's address and prepare everything; the returned future serves until
/// `cancel`. Errors (address in use, bad certificate, store) are returned before serving.
pub async fn spawn(
    cfg: &ApiConfig,
    store_cfg: &StoreConfig,
    live: SharedLive,
    knowledge: super::ask::SharedKnowledge,
    cancel: CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, ServeError> {
    // A backlog above max_connections: connections beyond the limit wait there (no
    // descriptor of ours) instead of being refused.
    let listener = {
        let sock =
            if cfg.listen.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        sock.set_reuseaddr(true)?;
        sock.bind(cfg.listen)
            .and_then(|_| sock.listen(cfg.max_connections.max(1024)))
            .map_err(|source| ServeError::Listen { addr: cfg.listen, source })?
            .into_std()?
    };
    listener.set_nonblocking(true)?;
    let mut store = Store::open_with_cache(&store_cfg.path, store_cfg.cache_kib)?;
    crate::service::accounts::ensure_demo_user(&mut store, cfg)?;
    let tls = cfg.tls.as_ref().map(|t| tls_config(&t.cert, &t.key)).transpose()?;
    if cfg.plain_http_exposed() {
        tracing::warn!(listen = %cfg.listen, "plain HTTP on a non-loopback address (api.allow_plain_http = true): passwords and session cookies cross the network unencrypted; configure [api] tls");
    }
    let mut state = ApiState::new(live, store, cfg, knowledge);
    state.shutdown = cancel.clone();
    let limits = Limits {
        max_connections: cfg.max_connections as usize,
        header_read_timeout: Duration::from_secs(cfg.header_read_timeout_s),
    };
    let app = router(state);
    let listen = cfg.listen;
    Ok(async move {
        match &tls {
            Some(_) => tracing::info!(listen = %listen, "HTTPS API and web app serving (TLS)"),
            None => tracing::info!(listen = %listen, "HTTP API and web app serving"),
        }
        match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => serve(l, app, limits, tls.map(|t| tokio_rustls::TlsAcceptor::from(Arc::new(t))), cancel).await,
            Err(e) => tracing::error!(error = %e, "API stopped"),
        }
    })
}

#[derive(Clone, Copy)]
struct Limits {
    max_connections: usize,
    header_read_timeout: Duration,
}

/// HTTP and HTTPS alike: like `axum::serve`, plus what a hostile network needs (issue 13
/// item 5): at most `max_connections` are open (further ones wait in the kernel's backlog,
/// using no descriptor of ours), a TLS handshake and then a request head must each arrive
/// within `header_read_timeout`, so idle peers cannot exhaust the descriptors and take
/// `/healthz` down. An accept error (out of descriptors) is logged once per second at most,
/// and the loop goes on.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cancel: CancellationToken,
) {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let mut last_accept_error: Option<std::time::Instant> = None;
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = cancel.cancelled() => break,
        };
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    if last_accept_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "API: cannot accept a connection");
                        last_accept_error = Some(std::time::Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, builder, watcher, tls) = (app.clone(), builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, remote, app, &builder, watcher).await,
                Some(acceptor) => {
                    // A failed or late handshake is the peer's problem: closed without a log
                    // line per connection (a scan would flood the log).
                    let handshake = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        serve_connection(stream, remote, app, &builder, watcher).await;
                    }
                }
            }
            drop(permit);
        });
    }
    // Open connections finish their requests (server-sent events end on the same token).
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// One accepted connection (plain or after its TLS handshake), served until it closes.
async fn serve_connection<S>(
    stream: S,
    remote: SocketAddr,
    app: axum::Router,
    builder: &hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tower::ServiceExt;
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
        app.clone().oneshot(req)
    });
    let conn = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), svc).into_owned();
    let _ = watcher.watch(conn).await;
}

/// A TLS client config for local tools (`edgecite status`) that trusts exactly the
/// certificate configured in `[api] tls.cert`: the daemon on this host must present it, so
/// self-signed certificates and certificates for other names work without a CA.
pub fn pinned_client_config(cert: &std::path::Path) -> Result<rustls::ClientConfig, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pinned = CertificateDer::pem_file_iter(cert)
        .and_then(|mut i| i.next().transpose())
        .ok()
        .flatten()
        .ok_or_else(|| ServeError::NoPinnedCert { file: cert.into() })?
        .into_owned();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned { cert: pinned, provider: provider.clone() });
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| ServeError::Tls { what: "TLS protocol versions", source })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug)]
struct Pinned {
    cert: rustls::pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the server's certificate is not the one in api.tls.cert".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bad certificate or key is refused naming the file and the key, the cause chained
    /// (`edgecite run` prints the chain).
    #[test]
    fn tls_errors_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, "").unwrap();
        std::fs::write(&key, "").unwrap();
        let e = tls_config(&cert, &key).unwrap_err().to_string();
        assert_eq!(e, format!("{}: no certificate in the file (key api.tls.cert)", cert.display()));
        let e = pinned_client_config(&cert).unwrap_err().to_string();
        assert_eq!(e, format!("{}: no PEM certificate (key api.tls.cert)", cert.display()));
        let missing = dir.path().join("absent.pem");
        let e = tls_config(&missing, &key).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: not a PEM certificate chain (key api.tls.cert)", missing.display()));
        assert!(std::error::Error::source(&e).is_some(), "the cause is chained");
    }
}
