//! The console's pages, one module per area.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod delegations;
pub mod inbound;
pub mod incidents;
pub mod media;
pub mod recipients;
pub mod transfers;
