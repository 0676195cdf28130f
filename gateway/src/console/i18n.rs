//! The console's two languages. Japanese is the default; English is chosen
//! by a switch on every page and remembered in a cookie (a preference, not
//! a secret). Texts sit in the templates as pairs, `c.t("送信", "Send")`,
//! so a page reads in one place in both languages.

use axum::http::HeaderMap;
use sekisho_proto::{Class, Role, TransferState};

/// The cookie that remembers the language.
pub const LANG_COOKIE: &str = "__Host-sekisho-lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        match super::session::cookie(headers, LANG_COOKIE).as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Ja,
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    pub fn pick(self, ja: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }

    pub fn role(self, role: Role) -> &'static str {
        match role {
            Role::Ciso => self.pick("最高情報セキュリティ責任者", "CISO"),
            Role::Approver => self.pick("承認者（次長）", "Approver"),
            Role::Manager => self.pick("管理者（係長）", "Manager"),
            Role::Sysadmin => self.pick("システム管理者", "System administrator"),
            Role::Auditor => self.pick("監査担当", "Auditor"),
            Role::Staff => self.pick("職員", "Staff"),
        }
    }

    pub fn state(self, state: TransferState) -> &'static str {
        match state {
            TransferState::Uploading => self.pick("送信中", "Uploading"),
            TransferState::PendingApproval => self.pick("承認待ち", "Waiting for approval"),
            TransferState::Released => self.pick("送付済み", "Released"),
            TransferState::Rejected => self.pick("却下", "Rejected"),
            TransferState::Revoked => self.pick("取消", "Revoked"),
            TransferState::Expired => self.pick("期限切れ", "Expired"),
            TransferState::Erased => self.pick("消去済み", "Erased"),
        }
    }
}

/// A class label as every page shows it: the same words and the same
/// colour (the CSS class `class-I`, `class-II`, `class-III`) everywhere.
#[derive(Debug, Clone)]
pub struct ClassLabel {
    pub text: String,
    pub css: &'static str,
}

impl ClassLabel {
    pub fn of(class: Class) -> ClassLabel {
        ClassLabel {
            text: class.label_ja(),
            css: match class {
                Class::I => "class-I",
                Class::II => "class-II",
                Class::III => "class-III",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;

    #[test]
    fn japanese_is_the_default_and_english_is_remembered() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::from_headers(&headers), Lang::Ja);
        headers.insert(
            COOKIE,
            "a=b; __Host-sekisho-lang=en".parse().expect("header"),
        );
        assert_eq!(Lang::from_headers(&headers), Lang::En);
        headers.insert(COOKIE, "__Host-sekisho-lang=fr".parse().expect("header"));
        assert_eq!(Lang::from_headers(&headers), Lang::Ja);
    }

    #[test]
    fn every_class_has_its_own_colour() {
        let css: std::collections::BTreeSet<_> = [Class::I, Class::II, Class::III]
            .into_iter()
            .map(|c| ClassLabel::of(c).css)
            .collect();
        assert_eq!(css.len(), 3);
        assert_eq!(ClassLabel::of(Class::II).text, "重要性II");
    }
}
