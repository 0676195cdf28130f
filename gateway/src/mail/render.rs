//! What each notification says, as pure functions of its [`Notice`]: a
//! subject and a plain-text body, Japanese first with English below, and
//! the same text as an HTML alternative. A notice carries only what the
//! addressee may read in a mail: never file content or names, never a
//! passphrase or session token. The one link token that appears anywhere
//! is a recipient's own download link, handed in by the sender of the mail
//! at the moment it leaves (it is never stored in the outbox).

use serde::{Deserialize, Serialize};

/// The facts a notification is written from, stored in the outbox as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// To the approvers (the CISO for an approver's own request): a
    /// transfer waits for their decision.
    ApprovalWaiting {
        transfer_id: String,
        sender: String,
        purpose: String,
        class: String,
        file_count: u32,
        recipient_count: u32,
    },
    /// To the sender: their transfer was approved or rejected.
    TransferDecided {
        transfer_id: String,
        approved: bool,
        by: String,
        purpose: String,
        /// The approver's comment, or the reason of a rejection.
        comment: Option<String>,
    },
    /// To the sender: someone else revoked their transfer.
    TransferRevoked {
        transfer_id: String,
        by: String,
        purpose: String,
        reason: String,
    },
    /// To one recipient: their own download link, after release.
    LinkReleased {
        transfer_id: String,
        link_id: String,
        recipient: String,
        sender: String,
        expires_at: String,
        max_downloads: u32,
        needs_passphrase: bool,
    },
}

impl Notice {
    /// The outbox's `kind` column: the serde tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::ApprovalWaiting { .. } => "approval_waiting",
            Notice::TransferDecided { .. } => "transfer_decided",
            Notice::TransferRevoked { .. } => "transfer_revoked",
            Notice::LinkReleased { .. } => "link_released",
        }
    }

    pub fn transfer_id(&self) -> &str {
        match self {
            Notice::ApprovalWaiting { transfer_id, .. }
            | Notice::TransferDecided { transfer_id, .. }
            | Notice::TransferRevoked { transfer_id, .. }
            | Notice::LinkReleased { transfer_id, .. } => transfer_id,
        }
    }
}

/// A mail ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where links in the mail point.
pub struct Links<'a> {
    /// `mail.console_base_url`, without a trailing slash.
    pub console: &'a str,
    /// The recipient's own download link (`LinkReleased` only).
    pub download: Option<&'a str>,
}

/// One paragraph in both languages, and an optional link line.
struct Draft {
    subject: String,
    japanese: Vec<String>,
    english: Vec<String>,
    link: Option<String>,
}

pub fn render(notice: &Notice, links: &Links<'_>) -> Rendered {
    let console = |id: &str| format!("{}/transfers/{id}", links.console);
    let draft = match notice {
        Notice::ApprovalWaiting {
            transfer_id,
            sender,
            purpose,
            class,
            file_count,
            recipient_count,
        } => Draft {
            subject: format!("【Sekisho】承認依頼: {sender} さんの送信 / Approval needed: a transfer by {sender}"),
            japanese: vec![
                format!("{sender} さんの送信（機密性 {class}、ファイル {file_count} 件、宛先 {recipient_count} 件）があなたの承認を待っています。"),
                format!("目的: {purpose}"),
                "内容を確認し、コンソールまたは `sekisho pending` で承認または却下してください。".into(),
            ],
            english: vec![
                format!("A transfer by {sender} (class {class}, {file_count} files, {recipient_count} recipients) waits for your decision."),
                format!("Purpose: {purpose}"),
                "Review it and approve or reject it in the console or with `sekisho pending`.".into(),
            ],
            link: Some(console(transfer_id)),
        },
        Notice::TransferDecided {
            transfer_id,
            approved: true,
            by,
            purpose,
            comment,
        } => Draft {
            subject: "【Sekisho】送信が承認されました / Your transfer was approved".into(),
            japanese: [
                Some(format!("あなたの送信（目的: {purpose}）は {by} さんに承認され、宛先にリンクが送られました。")),
                comment.as_ref().map(|c| format!("コメント: {c}")),
            ]
            .into_iter()
            .flatten()
            .collect(),
            english: [
                Some(format!("Your transfer (purpose: {purpose}) was approved by {by}; its recipients were sent their links.")),
                comment.as_ref().map(|c| format!("Comment: {c}")),
            ]
            .into_iter()
            .flatten()
            .collect(),
            link: Some(console(transfer_id)),
        },
        Notice::TransferDecided {
            transfer_id,
            approved: false,
            by,
            purpose,
            comment,
        } => {
            let reason = comment.as_deref().unwrap_or("-");
            Draft {
                subject: "【Sekisho】送信が却下されました / Your transfer was rejected".into(),
                japanese: vec![
                    format!("あなたの送信（目的: {purpose}）は {by} さんに却下されました。ファイルは送られていません。"),
                    format!("理由: {reason}"),
                ],
                english: vec![
                    format!("Your transfer (purpose: {purpose}) was rejected by {by}; nothing was sent."),
                    format!("Reason: {reason}"),
                ],
                link: Some(console(transfer_id)),
            }
        }
        Notice::TransferRevoked {
            transfer_id,
            by,
            purpose,
            reason,
        } => Draft {
            subject: "【Sekisho】送信が取り消されました / Your transfer was revoked".into(),
            japanese: vec![
                format!("あなたの送信（目的: {purpose}）は {by} さんにより取り消されました。リンクはもう使えません。"),
                format!("理由: {reason}"),
            ],
            english: vec![
                format!("Your transfer (purpose: {purpose}) was revoked by {by}; its links no longer work."),
                format!("Reason: {reason}"),
            ],
            link: Some(console(transfer_id)),
        },
        Notice::LinkReleased {
            recipient,
            sender,
            expires_at,
            max_downloads,
            needs_passphrase,
            ..
        } => {
            let mut japanese = vec![
                format!("{recipient} 様"),
                format!("{sender} からファイルが届いています。下のリンクからダウンロードしてください。"),
                format!("有効期限: {expires_at}（ダウンロードは {max_downloads} 回まで）"),
            ];
            let mut english = vec![
                format!("Dear {recipient},"),
                format!("{sender} has sent you files. Download them from the link below."),
                format!("The link works until {expires_at}, for at most {max_downloads} downloads."),
            ];
            if *needs_passphrase {
                japanese.push("ファイルはパスフレーズで保護されています。パスフレーズはこのメールには書かれていません。送信者から電話でお伝えします。".into());
                english.push("The files are protected by a passphrase. It is never sent by mail: the sender will give it to you by telephone.".into());
            }
            japanese.push("このリンクはあなた専用です。転送しないでください。".into());
            english.push("This link is yours alone; do not forward this mail.".into());
            Draft {
                subject: format!("【Sekisho】{sender} からファイルが届いています / Files from {sender}"),
                japanese,
                english,
                link: links.download.map(str::to_string),
            }
        }
    };
    finish(draft)
}

const SIGNATURE_JA: &str = "このメールは Sekisho が自動で送信しています。返信しないでください。";
const SIGNATURE_EN: &str = "This mail was sent by Sekisho; please do not reply.";

fn finish(draft: Draft) -> Rendered {
    let mut text = String::new();
    for line in &draft.japanese {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(link) = &draft.link {
        text.push_str(&format!("\n{link}\n"));
    }
    text.push_str(&format!("\n{SIGNATURE_JA}\n\n----\n\n"));
    for line in &draft.english {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(link) = &draft.link {
        text.push_str(&format!("\n{link}\n"));
    }
    text.push_str(&format!("\n{SIGNATURE_EN}\n"));

    let paragraphs = |lines: &[String], lang: &str| {
        let mut out = format!("<div lang=\"{lang}\">");
        for line in lines {
            out.push_str(&format!("<p>{}</p>", escape(line)));
        }
        if let Some(link) = &draft.link {
            let link = escape(link);
            out.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>"));
        }
        out.push_str("</div>");
        out
    };
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{}<p><small>{}</small></p><hr>{}<p><small>{}</small></p></body></html>",
        paragraphs(&draft.japanese, "ja"),
        SIGNATURE_JA,
        paragraphs(&draft.english, "en"),
        SIGNATURE_EN,
    );
    Rendered {
        subject: draft.subject,
        text,
        html,
    }
}

/// Text as HTML: purposes and reasons are written by users.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINKS: Links<'static> = Links {
        console: "https://console.example.jp",
        download: None,
    };

    #[test]
    fn japanese_comes_first_then_english_with_the_console_link_in_both() {
        let mail = render(
            &Notice::ApprovalWaiting {
                transfer_id: "T1".into(),
                sender: "sato".into(),
                purpose: "見積書".into(),
                class: "II".into(),
                file_count: 2,
                recipient_count: 1,
            },
            &LINKS,
        );
        assert!(mail.subject.starts_with("【Sekisho】承認依頼"));
        let ja = mail.text.find("承認を待っています").unwrap_or(usize::MAX);
        let en = mail.text.find("waits for your decision").unwrap_or(0);
        assert!(ja < en, "{}", mail.text);
        assert_eq!(
            mail.text
                .matches("https://console.example.jp/transfers/T1")
                .count(),
            2
        );
        assert!(
            mail.html
                .contains("<a href=\"https://console.example.jp/transfers/T1\">")
        );
    }

    #[test]
    fn user_text_is_escaped_in_html() {
        let mail = render(
            &Notice::TransferDecided {
                transfer_id: "T1".into(),
                approved: false,
                by: "suzuki".into(),
                purpose: "<script>".into(),
                comment: Some("宛先が違う & more".into()),
            },
            &LINKS,
        );
        assert!(!mail.html.contains("<script>"));
        assert!(mail.html.contains("&lt;script&gt;"));
        assert!(mail.text.contains("理由: 宛先が違う & more"));
        assert!(mail.text.contains("Reason: 宛先が違う & more"));
    }

    #[test]
    fn a_recipient_gets_their_link_and_the_telephone_rule_never_a_passphrase() {
        let notice = Notice::LinkReleased {
            transfer_id: "T1".into(),
            link_id: "L1".into(),
            recipient: "山田".into(),
            sender: "sato".into(),
            expires_at: "2026-12-09T10:00:00Z".into(),
            max_downloads: 3,
            needs_passphrase: true,
        };
        let mail = render(
            &notice,
            &Links {
                console: "https://console.example.jp",
                download: Some("https://files.example.jp/d/TOKEN"),
            },
        );
        assert!(mail.text.contains("https://files.example.jp/d/TOKEN"));
        assert!(mail.text.contains("電話"));
        assert!(mail.text.contains("by telephone"));
        // Recipients are outside: no console link for them.
        assert!(!mail.text.contains("console.example.jp"));
        // The outbox stores the facts: the link token is not among them.
        let stored = serde_json::to_string(&notice).unwrap_or_default();
        assert!(!stored.contains("TOKEN"));
        assert_eq!(
            serde_json::from_str::<Notice>(&stored).ok(),
            Some(notice.clone())
        );
        assert_eq!(notice.kind(), "link_released");
    }
}
