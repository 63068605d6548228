//! TLS for a port: a certificate chain and a private key in PEM files, served
//! with rustls (ring provider, the one async-nats already brings in).

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// The PEM files of a port's certificate chain and private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate chain {path}: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("cannot read the TLS private key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl TlsFiles {
    /// Reads both files and builds the acceptor (errors name the file).
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let certificate_error = |message: String| TlsError::Certificate { path: self.certificate.clone(), message };
        let chain = CertificateDer::pem_file_iter(&self.certificate)
            .map_err(|error| certificate_error(error.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| certificate_error(error.to_string()))?;
        if chain.is_empty() {
            return Err(certificate_error("no CERTIFICATE in the file".to_string()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|error| TlsError::Key { path: self.key.clone(), message: error.to_string() })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config =
            rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?.with_no_client_auth().with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
