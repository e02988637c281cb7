//! Where a request is headed: what forwarding, tunnelling and CONNECT handling all share.

use std::net::SocketAddr;

use super::labels::ConnectionLabels;
use super::observer::Transport;

/// Where a request was headed, as the client addressed it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub client: SocketAddr,
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    /// What the client labelled the whole connection with (its proxy credentials).
    pub labels: ConnectionLabels,
}

impl Target {
    fn default_port(&self) -> u16 {
        match self.transport {
            Transport::Https => 443,
            Transport::Http => 80,
        }
    }

    /// `host` or `host:port` when the port is not the scheme's default.
    pub(crate) fn authority(&self) -> String {
        if self.port == self.default_port() {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}
