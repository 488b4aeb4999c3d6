//! TLS for both listeners (`serve --tls-cert FILE --tls-key FILE`), with rustls and its `ring`
//! provider: the certificate chain and private key are read from PEM files once, at start.
//! Each listener clones the configuration with its own ALPN protocol (`h2` for gRPC,
//! `http/1.1` for the HTTP API). Handshakes run on the accept loop's connection tasks, never
//! on the loop itself, and are bounded by [`HANDSHAKE_TIMEOUT`] (`conn`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::ServerError;

/// Longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server certificate and key, ready to accept TLS connections.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the certificate chain (`cert`, leaf first) and its private key (`key`: PKCS#8,
    /// PKCS#1 or SEC1) from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, ServerError> {
        let err = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            ServerError::Tls(format!("{what} {}: {e}", path.display()))
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| err("reading the certificate file", cert, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| err("parsing the certificate file", cert, &e))?;
        if certs.is_empty() {
            return Err(err("no certificate in", cert, &"expected PEM CERTIFICATE blocks"));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| err("reading the private key file", key, &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| ServerError::Tls(format!("the certificate and key do not fit: {e}")))?;
        Ok(TlsConfig { config: Arc::new(config) })
    }

    /// An acceptor that offers `alpn` (`b"h2"`, `b"http/1.1"`).
    pub fn acceptor(&self, alpn: &[u8]) -> TlsAcceptor {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}
