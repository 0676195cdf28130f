//! What the gateway does, one module per area. Handlers in [`crate::http`]
//! turn requests into calls here; every permission is asked of
//! [`crate::policy`] and every change is logged in the same transaction.

pub mod accounts;
pub mod arrivals;
pub mod audit;
pub mod audit_export;
pub mod config_record;
pub mod delegations;
pub mod deletion;
pub mod delivery;
pub mod housekeeping;
pub mod inbound;
pub mod incidents;
pub mod ingest;
pub mod lease;
pub mod media;
pub mod notify;
pub mod pump;
pub mod recipients;
pub mod scanner_watch;
pub mod scanning;
pub mod transfers;
pub mod unattended;

/// Where a request came from, for the audit log.
#[derive(Debug, Clone)]
pub struct Origin(pub String);

/// The Japanese name of a field `check_text` is given, for the half of
/// the message that comes first.
fn field_ja(field: &str) -> &'static str {
    match field {
        "the purpose" => "目的",
        "the reason" => "理由",
        "the comment" => "コメント",
        "the note" => "メモ",
        "the label" => "ラベル",
        "the method" => "方法",
        "the organisation" => "所属",
        "the origin" => "持込元",
        "the recipient's name" => "受取人の名前",
        "the section" => "担当課",
        "the sender (--from)" => "送り主 (--from)",
        "the type" => "種類",
        _ => "入力",
    }
}

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
            format!(
                "「{}」が空です。入力してください。 {field} must not be empty",
                field_ja(field)
            ),
        ));
    }
    if value.chars().count() > max_chars {
        return Err(crate::error::AppError::invalid(
            "too_long",
            format!(
                "「{}」が長すぎます（{max_chars}文字まで）。 {field} is longer than {max_chars} characters",
                field_ja(field)
            ),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(crate::error::AppError::invalid(
            "control_characters",
            format!(
                "「{}」に改行やタブなどの制御文字が含まれています。 {field} contains control characters (line breaks, tabs and the like)",
                field_ja(field)
            ),
        ));
    }
    Ok(())
}
