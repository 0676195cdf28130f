//! Who is on the other end: the address every throttle, refusal and audit
//! event names. It is the connection's own address, unless that connection
//! comes from a configured trusted proxy: then it is the last address in
//! `X-Forwarded-For` that is not itself a trusted proxy (the header is a
//! list each proxy appends to, so anything left of the first untrusted hop
//! was written by the client and proves nothing).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use crate::state::Shared;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The resolved client address of a request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client address from the peer and the headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|hop| !trusted.contains(hop))
        .copied()
        .unwrap_or(peer)
}

/// Middleware: puts the [`ClientAddr`] into the request's extensions, for
/// the layers after it and the handlers.
pub async fn attach(State(state): State<Shared>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = resolve(peer, request.headers(), &state.config.http.trusted_proxies);
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(FORWARDED_FOR, value);
        }
        headers
    }

    #[test]
    fn a_client_that_is_no_proxy_cannot_choose_its_address() {
        let headers = forwarded("203.0.113.9");
        assert_eq!(
            resolve(ip("198.51.100.1"), &headers, &[]),
            ip("198.51.100.1")
        );
        assert_eq!(
            resolve(ip("198.51.100.1"), &headers, &[ip("10.0.0.1")]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_untrusted_hop_counts() {
        let proxy = ip("10.0.0.1");
        // The client wrote "1.2.3.4" itself; the proxy appended the real one.
        let headers = forwarded("1.2.3.4, 203.0.113.9");
        assert_eq!(resolve(proxy, &headers, &[proxy]), ip("203.0.113.9"));
        let chained = forwarded("1.2.3.4, 203.0.113.9, 10.0.0.2");
        assert_eq!(
            resolve(proxy, &chained, &[proxy, ip("10.0.0.2")]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_without_the_header_is_the_client() {
        let proxy = ip("10.0.0.1");
        assert_eq!(resolve(proxy, &HeaderMap::new(), &[proxy]), proxy);
        assert_eq!(resolve(proxy, &forwarded("garbage"), &[proxy]), proxy);
    }
}
