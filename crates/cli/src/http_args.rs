//! The HTTP hardening options of `fundledger serve`, for both ports (the
//! writer's API and the query API): timeouts, the connection cap, per-client
//! rate limits, TLS, CORS and how `/metrics` is exposed. Defaults are the
//! named constants of `fundledger_http`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use fundledger_http::tls::TlsFiles;
use fundledger_http::HttpOptions;

#[derive(Args, Clone, Debug)]
pub struct HttpArgs {
    /// Both HTTP ports: close a connection that has not sent a whole header block this long
    /// (milliseconds) after connecting or after its last answer.
    #[arg(long, env = "FUNDLEDGER_HTTP_HEADER_TIMEOUT_MS", default_value_t = fundledger_http::HEADER_READ_TIMEOUT_MS)]
    pub http_header_timeout_ms: u64,
    /// Both HTTP ports: a request's whole body must arrive within this long (milliseconds) after
    /// its headers, else 408.
    #[arg(long, env = "FUNDLEDGER_HTTP_BODY_TIMEOUT_MS", default_value_t = fundledger_http::BODY_READ_TIMEOUT_MS)]
    pub http_body_timeout_ms: u64,
    /// Both HTTP ports: close a connection with no request under way and no byte moving for this
    /// long (milliseconds).
    #[arg(long, env = "FUNDLEDGER_HTTP_IDLE_TIMEOUT_MS", default_value_t = fundledger_http::IDLE_TIMEOUT_MS)]
    pub http_idle_timeout_ms: u64,
    /// Open connections per HTTP port (also at most a quarter of the open-file limit). At the cap a
    /// new connection closes the least recently active idle one, so /healthz still answers.
    #[arg(long, env = "FUNDLEDGER_HTTP_CONNECTIONS_MAX", default_value_t = fundledger_http::CONNECTIONS_MAX)]
    pub http_connections_max: usize,
    /// Sustained requests per second from one IP address on each port, beyond which it gets 429
    /// (0: no limit; /healthz and /readyz are never limited).
    #[arg(long, env = "FUNDLEDGER_HTTP_RATE_PER_CLIENT", default_value_t = fundledger_http::REQUESTS_PER_SECOND_PER_CLIENT)]
    pub http_rate_per_client: u32,
    /// Requests one IP address may send at once above that rate.
    #[arg(long, env = "FUNDLEDGER_HTTP_RATE_BURST", default_value_t = fundledger_http::REQUESTS_BURST_PER_CLIENT)]
    pub http_rate_burst: u32,
    /// Serve both HTTP ports over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "FUNDLEDGER_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM, PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "FUNDLEDGER_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Origins browsers may call the APIs from (comma-separated, e.g. https://dash.example.hk).
    /// Without it no CORS headers are sent, so browsers refuse cross-origin calls.
    #[arg(long, env = "FUNDLEDGER_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// /metrics answers only with `Authorization: Bearer TOKEN` (keep it in the environment).
    #[arg(long, env = "FUNDLEDGER_METRICS_TOKEN", value_name = "TOKEN")]
    pub metrics_token: Option<String>,
    /// Serve /metrics on this address only (both APIs then answer 404 there), e.g. 127.0.0.1:9400.
    #[arg(long, env = "FUNDLEDGER_METRICS_HTTP", value_name = "ADDRESS")]
    pub metrics_http: Option<SocketAddr>,
}

impl HttpArgs {
    /// The options every port is served with.
    pub fn options(&self) -> Result<HttpOptions> {
        if self.http_header_timeout_ms == 0 || self.http_body_timeout_ms == 0 || self.http_idle_timeout_ms == 0 {
            bail!("HTTP timeouts must be above 0 ms");
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(certificate), Some(key)) => Some(TlsFiles { certificate: certificate.clone(), key: key.clone() }),
            _ => None,
        };
        let options = HttpOptions {
            header_read_timeout: Duration::from_millis(self.http_header_timeout_ms),
            body_read_timeout: Duration::from_millis(self.http_body_timeout_ms),
            idle_timeout: Duration::from_millis(self.http_idle_timeout_ms),
            connections_max: self.http_connections_max,
            requests_per_second_per_client: self.http_rate_per_client,
            requests_burst_per_client: self.http_rate_burst,
            tls,
            cors_origins: self.cors_origins.iter().map(|origin| origin.trim().to_string()).filter(|origin| !origin.is_empty()).collect(),
            metrics_token: self.metrics_token.clone().filter(|token| !token.is_empty()),
        };
        if let Some(files) = &options.tls {
            files.acceptor()?; // refuse bad files at start, naming them
        }
        Ok(options)
    }

    /// `http` or `https`, for the start-up lines.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}
