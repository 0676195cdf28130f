//! Request extractors: the authenticated actor and the request's origin.
//! "No token" and "bad token" are both 401, with different words.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::client_addr::ClientAddr;
use super::refusals::ActorSlot;
use crate::error::AppError;
use crate::policy::Actor;
use crate::service::{Origin, accounts};
use crate::state::Shared;

/// The caller, authenticated by a bearer session token.
pub struct Authed {
    pub actor: Actor,
    pub token: String,
}

impl FromRequestParts<Shared> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                AppError::Unauthenticated("log in first: sekisho login --user NAME".to_string())
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AppError::Unauthenticated(
                    "the Authorization header must be 'Bearer <token>'".to_string(),
                )
            })?;
        let actor = accounts::authenticate(state, token).await?;
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.fill(&actor);
        }
        Ok(Authed {
            actor,
            token: token.to_string(),
        })
    }
}

impl FromRequestParts<Shared> for Origin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        // The resolved address (a trusted proxy's client) when the layer
        // stack ran; the connection's own in tests that build a bare router.
        let address = parts
            .extensions
            .get::<ClientAddr>()
            .map(|ClientAddr(ip)| ip.to_string())
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| addr.ip().to_string())
            })
            .unwrap_or_else(|| "-".to_string());
        Ok(Origin(address))
    }
}

/// The body length a request declares in `Content-Length`, if any: an
/// upload that cannot fit is refused on it before a byte is read.
pub struct DeclaredLength(pub Option<u64>);

impl<S: Sync> FromRequestParts<S> for DeclaredLength {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(DeclaredLength(
            parts
                .headers
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        ))
    }
}
