//! What each notification says, as pure functions of its [`Notice`]: a
//! subject and a plain-text body, Japanese first with English below, and
//! the same text as an HTML alternative. Times are shown in Japan time.
//! The one link token that appears anywhere is a recipient's own download
//! link, handed in by the sender of the mail at the moment it leaves (it is
//! never stored in the outbox).

pub use super::notice::Notice;
use super::notice::{Arrival, ScannerProblem};
use crate::clock::jst;
use sekisho_proto::vocab::InboundState;

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
    let page = |path: &str| Some(format!("{}{path}", links.console));
    let draft = match notice {
        Notice::ApprovalWaiting {
            transfer_id,
            sender,
            purpose,
            class,
            file_count,
            recipient_count,
            stand_in_for,
        } => {
            let (mut japanese, mut english) = (
                vec![
                    format!("{sender} さんの送信（重要性{class}、ファイル {file_count} 件、宛先 {recipient_count} 件）があなたの承認を待っています。"),
                    format!("目的: {purpose}"),
                    "内容を確認し、コンソールまたは `sekisho pending` で承認または却下してください。".into(),
                ],
                vec![
                    format!("A transfer by {sender} (class {class}, {file_count} files, {recipient_count} recipients) waits for your decision."),
                    format!("Purpose: {purpose}"),
                    "Review it and approve or reject it in the console or with `sekisho pending`.".into(),
                ],
            );
            stand_in_lines(stand_in_for.as_deref(), &mut japanese, &mut english);
            Draft {
                subject: format!("【Sekisho】承認依頼: {sender} さんの送信 / Approval needed: a transfer by {sender}"),
                japanese,
                english,
                link: Some(console(transfer_id)),
            }
        }
        Notice::ApprovalReminder {
            transfer_id,
            sender,
            purpose,
            class,
            submitted_at,
            expires_at,
            stand_in_for,
        } => {
            let (submitted, expires) = (jst(submitted_at), jst(expires_at));
            let (mut japanese, mut english) = (
                vec![
                    format!("{sender} さんの送信（重要性{class}）が {submitted} から承認を待っています。"),
                    format!("目的: {purpose}"),
                    format!("{expires} までに判断されない場合、この申請は期限切れとなり、何も送信されません。"),
                ],
                vec![
                    format!("A transfer by {sender} (class {class}) has waited for a decision since {submitted} (JST)."),
                    format!("Purpose: {purpose}"),
                    format!("If nobody decides it by {expires} (JST), it expires and nothing is sent."),
                ],
            );
            stand_in_lines(stand_in_for.as_deref(), &mut japanese, &mut english);
            Draft {
                subject: format!("【Sekisho】再通知: 承認待ち（{sender} さんの送信）/ Reminder: a transfer waits for you"),
                japanese,
                english,
                link: Some(console(transfer_id)),
            }
        }
        Notice::RequestExpired {
            transfer_id,
            purpose,
            days,
        } => Draft {
            subject: "【Sekisho】承認されないまま期限切れになりました / Your request expired undecided".into(),
            japanese: vec![
                format!("あなたの送信（目的: {purpose}）は {days} 日以内に判断されなかったため、期限切れになりました。何も送信されていません。"),
                "ファイルは保存期間の規則に従って消去されます。必要であれば、もう一度送信してください。".into(),
            ],
            english: vec![
                format!("Your transfer (purpose: {purpose}) was not decided within {days} days and has expired; nothing was sent."),
                "Its files are erased under the retention rules. Send it again if it is still needed.".into(),
            ],
            link: Some(console(transfer_id)),
        },
        Notice::LinksExpired {
            transfer_id,
            purpose,
            links,
        } => {
            let lines = |ja: bool| {
                links.iter().map(move |l| {
                    if ja {
                        format!("・{}: {} / {} 回ダウンロード", l.recipient, l.downloads, l.max_downloads)
                    } else {
                        format!("- {}: {} of {} downloads", l.recipient, l.downloads, l.max_downloads)
                    }
                })
            };
            Draft {
                subject: "【Sekisho】送信のリンクが期限切れになりました / Your transfer's links expired".into(),
                japanese: std::iter::once(format!("あなたの送信（目的: {purpose}）のリンクはすべて期限切れになりました。"))
                    .chain(lines(true))
                    .collect(),
                english: std::iter::once(format!("Every link of your transfer (purpose: {purpose}) has expired."))
                    .chain(lines(false))
                    .collect(),
                link: Some(console(transfer_id)),
            }
        }
        Notice::Downloaded {
            transfer_id,
            purpose,
            recipient,
            at,
            source,
            downloads,
            max_downloads,
        } => {
            let at = jst(at);
            Draft {
                subject: format!("【Sekisho】{recipient} 様がダウンロードしました / {recipient} downloaded your files"),
                japanese: vec![
                    format!("あなたの送信（目的: {purpose}）を {recipient} 様が {at} にダウンロードしました（接続元 {source}、{downloads} / {max_downloads} 回目）。"),
                    "心当たりがない場合は、すぐにコンソールで取り消し、承認者に連絡してください。".into(),
                ],
                english: vec![
                    format!("{recipient} downloaded your transfer (purpose: {purpose}) at {at} (JST) from {source} (download {downloads} of {max_downloads})."),
                    "If you did not expect this, revoke it in the console at once and tell your approver.".into(),
                ],
                link: Some(console(transfer_id)),
            }
        }
        Notice::StandInNamed {
            approver,
            by,
            starts_at,
            ends_at,
        } => {
            let (from, until) = (jst(starts_at), jst(ends_at));
            Draft {
                subject: format!("【Sekisho】{approver} さんの代理承認者になりました / You stand in for {approver}"),
                japanese: vec![
                    format!("{from} から {until} まで、あなたは {approver} さんの代理承認者です（設定: {by}）。"),
                    "この期間、承認待ちの申請はあなたに届き、あなたの判断は代理として記録されます。ご自身の申請は承認できません。".into(),
                ],
                english: vec![
                    format!("From {from} until {until} (JST) you stand in for {approver} (set by {by})."),
                    "During this period their requests come to you and your decisions are recorded as taken for them. You never decide your own request.".into(),
                ],
                link: page("/queue"),
            }
        }
        Notice::InboundArrived {
            from,
            purpose,
            files,
            ..
        } => {
            let count = files.len();
            Draft {
                subject: format!("【Sekisho】{from} からファイルが届きました（{count} 件）/ {count} file(s) arrived from {from}"),
                japanese: std::iter::once(format!("依頼（目的: {purpose}）に {from} からファイルが {count} 件届きました。検査の結果:"))
                    .chain(files.iter().enumerate().map(|(i, f)| format!("・{} 件目（{} バイト）: {}", i + 1, f.size, arrival_words(f).0)))
                    .chain(std::iter::once("ファイル名と内容はコンソールで確認してください。".to_string()))
                    .collect(),
                english: std::iter::once(format!("{count} file(s) arrived from {from} for your request (purpose: {purpose}). The checks found:"))
                    .chain(files.iter().enumerate().map(|(i, f)| format!("- file {} ({} bytes): {}", i + 1, f.size, arrival_words(f).1)))
                    .chain(std::iter::once("See their names and content in the console.".to_string()))
                    .collect(),
                link: page("/inbound"),
            }
        }
        Notice::IncidentOpened {
            engine,
            signature,
            uploader,
            ..
        } => Draft {
            subject: "【Sekisho】インシデント: マルウェアを検出しました / Incident: malware found".into(),
            japanese: vec![
                format!("{uploader} から届いたファイルで {engine} が {signature} を検出しました。ファイルは隔離されています。"),
                "コンソールのインシデント画面で内容を確認し、必要に応じて上位に報告してください。".into(),
            ],
            english: vec![
                format!("{engine} found {signature} in a file from {uploader}. The file is quarantined."),
                "Review the incident in the console and escalate it if needed.".into(),
            ],
            link: page("/incidents"),
        },
        Notice::UnknownClass { requester, .. } => Draft {
            subject: "【Sekisho】重要性の判断をお願いします / A received file needs its class".into(),
            japanese: vec![
                format!("{requester} さんが受け取ったファイルの重要性を「不明」としました。重要性を判断してください。"),
            ],
            english: vec![
                format!("{requester} classed a received file as unknown. Please decide its class."),
            ],
            link: page("/inbound"),
        },
        Notice::MediaOverdue {
            transfer_id,
            medium,
            carried_out_by,
            return_by,
        } => {
            let due = jst(return_by);
            Draft {
                subject: format!("【Sekisho】媒体 {medium} が返却されていません / Medium {medium} is overdue"),
                japanese: vec![
                    format!("{carried_out_by} さんが持ち出した媒体 {medium} は {due} までに返却される予定でしたが、まだ返却の記録がありません。"),
                    "本人に確認し、紛失の場合はインシデントとして報告してください。".into(),
                ],
                english: vec![
                    format!("Medium {medium}, carried out by {carried_out_by}, was due back by {due} (JST) and its return has not been recorded."),
                    "Ask them; report it as an incident if it is lost.".into(),
                ],
                link: Some(console(transfer_id)),
            }
        }
        Notice::ScannerAlert { engine, problem } => {
            let (japanese, english) = match problem {
                ScannerProblem::Stale { age_hours } => (
                    format!("検査エンジン {engine} の定義ファイルが {age_hours} 時間更新されていません。"),
                    format!("The signatures of scanning engine {engine} have not been updated for {age_hours} hours."),
                ),
                ScannerProblem::Failing { error } => (
                    format!("検査エンジン {engine} が応答しません: {error}"),
                    format!("Scanning engine {engine} does not answer: {error}"),
                ),
            };
            Draft {
                subject: format!("【Sekisho】検査エンジン {engine} の確認が必要です / Scanner {engine} needs attention"),
                japanese: vec![
                    japanese,
                    "検査できないファイルは保留され、誰にも渡されません。早めに復旧してください。".into(),
                ],
                english: vec![
                    english,
                    "Files that cannot be checked are held and reach nobody; please restore it soon.".into(),
                ],
                link: page("/scanner"),
            }
        }
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
            let expires_at = jst(expires_at);
            let mut japanese = vec![
                format!("{recipient} 様"),
                format!("{sender} からファイルが届いています。下のリンクからダウンロードしてください。"),
                format!("有効期限: {expires_at}（ダウンロードは {max_downloads} 回まで）"),
            ];
            let mut english = vec![
                format!("Dear {recipient},"),
                format!("{sender} has sent you files. Download them from the link below."),
                format!("The link works until {expires_at} (Japan time), for at most {max_downloads} downloads."),
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

/// The line that tells a stand-in whose queue this is.
fn stand_in_lines(for_whom: Option<&str>, japanese: &mut Vec<String>, english: &mut Vec<String>) {
    if let Some(absent) = for_whom {
        japanese.push(format!(
            "（{absent} さんの代理承認者としてお知らせしています）"
        ));
        english.push(format!("(You are told as the stand-in for {absent}.)"));
    }
}

/// Where a received file stands, in Japanese and English.
fn arrival_words(f: &Arrival) -> (&'static str, &'static str) {
    match f.state {
        InboundState::AwaitingClass | InboundState::Ready | InboundState::NeedsManager
            if f.sanitised =>
        {
            (
                "問題なし・無害化済み（重要性の指定待ち）",
                "clean and sanitised (waiting for its class)",
            )
        }
        InboundState::AwaitingClass | InboundState::Ready | InboundState::NeedsManager => (
            "問題なし（重要性の指定待ち）",
            "clean (waiting for its class)",
        ),
        InboundState::Quarantined => ("マルウェアを検出・隔離", "malware found, quarantined"),
        InboundState::Held => ("検査できず保留", "could not be checked, held"),
        InboundState::NotSanitised => ("無害化できず保留", "could not be sanitised, held"),
        InboundState::Erased => ("消去済み", "erased"),
    }
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
                stand_in_for: None,
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
