//! What the gateway does, one module per area. Handlers in [`crate::http`]
//! turn requests into calls here; every permission is asked of
//! [`crate::policy`] and every change is logged in the same transaction.

pub mod accounts;
pub mod audit;
pub mod audit_export;
pub mod config_record;
pub mod deletion;
pub mod delivery;
pub mod housekeeping;
pub mod inbound;
pub mod incidents;
pub mod ingest;
pub mod media;
pub mod pump;
pub mod recipients;
pub mod scanning;
pub mod transfers;

/// Where a request came from, for the audit log.
#[derive(Debug, Clone)]
pub struct Origin(pub String);

/// Refuses text that could forge lines in logs and tables.
pub fn check_text(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<(), crate::error::AppError> {
    // Blank includes text that renders as nothing (zero-width spaces), not
    // only what `trim` removes: such a purpose states nothing.
    if sekisho_proto::names::is_blank(value) {
        return Err(crate::error::AppError::invalid(
            "missing_field",
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > max_chars {
        return Err(crate::error::AppError::invalid(
            "too_long",
            format!("{field} is longer than {max_chars} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(crate::error::AppError::invalid(
            "control_characters",
            format!("{field} contains control characters (line breaks, tabs and the like)"),
        ));
    }
    Ok(())
}
