//! Security headers on every answer of both listeners. Pages and their URLs
//! carry link tokens and content, so nothing may be cached, framed, sniffed
//! into another type, or leak its URL through a `Referer`.
//!
//! The pages' only style is one inline `<style>` element; the content
//! security policy allows exactly that element by its digest and nothing
//! else (no script, no image, no frame, forms only to the page itself).

use axum::http::{HeaderName, HeaderValue, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

/// The pages' style sheet (see `public::page_shell`); the CSP names its digest.
pub const PAGE_STYLE: &str = "body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.6}\
     .label{font-weight:bold;border:2px solid #a00;color:#a00;padding:.1em .5em}\
     button{font-size:1.1em;padding:.4em 1.2em}";

/// One year, the usual HSTS lifetime; the gateway is HTTPS only anyway.
const HSTS: &str = "max-age=31536000";

/// The content security policy for everything served: pages may use their
/// own style and post forms to themselves; JSON and packages need nothing.
pub fn content_security_policy() -> String {
    let digest = Sha256::digest(PAGE_STYLE.as_bytes());
    let style = base64::engine::general_purpose::STANDARD.encode(digest);
    format!(
        "default-src 'none'; style-src 'sha256-{style}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Every header, as layers that set it unless a handler already did (the
/// download sets its own `Cache-Control`).
pub fn layers() -> Vec<SetResponseHeaderLayer<HeaderValue>> {
    let csp = HeaderValue::from_str(&content_security_policy())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    let fixed: [(HeaderName, HeaderValue); 6] = [
        (
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::CONTENT_SECURITY_POLICY, csp),
    ];
    fixed
        .into_iter()
        .map(|(name, value)| SetResponseHeaderLayer::if_not_present(name, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_page_style_and_nothing_else() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
        assert_eq!(layers().len(), 6);
    }
}
