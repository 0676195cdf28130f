//! The gateway's configuration (`sekisho_config::Config::parse`, what
//! `sekisho.toml` goes through at every start) on arbitrary text, and the
//! masking of database URLs. Properties:
//! - parsing never panics;
//! - a configuration that parses is written back (`to_toml`, as `init` and
//!   `restore` write it) as text that parses again to the same text;
//! - a secret never shows: with a database URL carrying a password (in the
//!   user part or the query) and a login pasted into `mail.smtp_url`,
//!   appended to the fuzzed text, neither the configuration's `Debug` nor
//!   any parse error (`Display` or `Debug`) holds the password; and
//!   `redact_url` hides the password of any URL built around it.
//!
//! Input: one byte choosing where the password goes, then UTF-8 text: the
//! configuration, and for the URL check its first line is cut in two around
//! the password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sekisho_config::{Config, DatabaseUrl, SmtpUrl, redact_url};

/// Stands for a password; no masked output can make it up (masking only
/// removes text or adds `*` and `?`).
const SECRET: &str = "Hunter2Secret";

fn assert_hidden(what: &str, shown: &str) {
    assert!(
        !shown.contains(SECRET),
        "the password shows in {what}: {shown}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&how, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if text.contains(SECRET) {
        return;
    }

    // 1. The text as it is.
    if let Ok(config) = Config::parse(text) {
        let written = config
            .to_toml()
            .expect("a parsed configuration can be written");
        let again = Config::parse(&written).expect("what to_toml writes parses again");
        assert_eq!(
            again.to_toml().expect("and is written again"),
            written,
            "writing back changes the configuration"
        );
    }

    // 2. redact_url on a URL built from the text around a password.
    let line = text.lines().next().unwrap_or_default();
    let middle = line
        .char_indices()
        .nth(line.chars().count() / 2)
        .map_or(line.len(), |(at, _)| at);
    let (left, right) = line.split_at(middle);
    {
        let url = match how % 3 {
            0 => format!("postgres://{left}:{SECRET}@{right}"),
            1 => format!("postgres://{left}?{right}password={SECRET}"),
            _ => format!("postgres://{left}:{right}?sslpassword={SECRET}&x=@"),
        };
        assert_hidden("redact_url", &redact_url(&url));
        let url = DatabaseUrl::new(url);
        assert_hidden("DatabaseUrl", &format!("{url} {url:?}"));
        assert!(url.expose().contains(SECRET));
        let smtp = SmtpUrl::try_from(format!("smtp://{left}:{SECRET}@{right}"));
        assert_hidden("the smtp_url error", &format!("{smtp:?}"));
    }

    // 3. The text with secrets appended: a database URL and a login in the
    // mail URL. Multi-line strings could swallow them into other values,
    // which are shown as they are; such texts are left out.
    if text.contains("\"\"\"") || text.contains("'''") {
        return;
    }
    let url = match how % 2 {
        0 => format!("postgres://sekisho:{SECRET}@db/sekisho"),
        _ => format!("postgres://sekisho@db/sekisho?password={SECRET}"),
    };
    let mut with_secrets = format!("{text}\n[database]\nurl = \"{url}\"\n");
    if how & 0x80 != 0 {
        with_secrets.push_str(&format!(
            "[mail]\nsmtp_url = \"smtp://clerk:{SECRET}@mail.example.jp\"\nfrom = \"a@example.jp\"\nconsole_base_url = \"https://c\"\n"
        ));
    }
    match Config::parse(&with_secrets) {
        Ok(config) => {
            assert_hidden("the configuration's Debug", &format!("{config:?}"));
            assert_hidden("the URL's Display", &config.database.url.to_string());
        }
        Err(e) => assert_hidden("a parse error", &format!("{e} {e:#} {e:?}")),
    }
    if let Err(e) = Config::from_toml(&with_secrets) {
        assert_hidden("a parse error", &format!("{e} {e:#} {e:?}"));
    }
});
