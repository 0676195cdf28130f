//! `[http]`: what protects both listeners from slow, greedy or guessing
//! clients. The defaults suit one small office's gateway on the Internet;
//! each value is a bound that an honest clerk or recipient never meets.

use std::net::IpAddr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A TLS handshake must finish within this many seconds.
    pub tls_handshake_seconds: u64,
    /// Request headers must arrive whole within this many seconds from the
    /// moment the gateway waits for them; this also ends idle keep-alive
    /// connections.
    pub header_read_seconds: u64,
    /// A request body that sends nothing for this many seconds is cut; a
    /// slow but steady upload goes on.
    pub idle_body_seconds: u64,
    /// Open connections per listener.
    pub max_connections: usize,
    /// Open connections per client address, per listener.
    pub max_connections_per_address: usize,
    /// Requests per minute from one address to the public pages (link
    /// tokens): guessing tokens costs the guesser, not the gateway.
    pub public_requests_per_minute: u32,
    /// Login attempts per minute from one address, whatever the account
    /// (password spraying is refused before any account locks).
    pub login_attempts_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Only a request
    /// whose connection comes from one of these takes its client address
    /// from that header; everyone else's is the connection's own.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            tls_handshake_seconds: 10,
            header_read_seconds: 15,
            idle_body_seconds: 60,
            max_connections: 1024,
            max_connections_per_address: 64,
            public_requests_per_minute: 120,
            login_attempts_per_minute: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpConfig {
    pub fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            self.tls_handshake_seconds > 0
                && self.header_read_seconds > 0
                && self.idle_body_seconds > 0,
            "http.tls_handshake_seconds, http.header_read_seconds and http.idle_body_seconds must be at least 1"
        );
        anyhow::ensure!(
            self.max_connections > 0 && self.max_connections_per_address > 0,
            "http.max_connections and http.max_connections_per_address must be at least 1"
        );
        anyhow::ensure!(
            self.public_requests_per_minute > 0 && self.login_attempts_per_minute > 0,
            "http.public_requests_per_minute and http.login_attempts_per_minute must be at least 1"
        );
        Ok(())
    }
}
