//! Authentication building blocks: password hashing and rules, TOTP, and
//! random tokens. Decisions about what an authenticated user may do are not
//! here; they are in [`crate::policy`].

pub mod password;
pub mod token;
pub mod totp;
