//! The web console (issue 9) in a real browser: headless Chromium over
//! WebDriver, talking HTTPS to the real gateway binary. Each test is a
//! person's errand as they would do it with the keyboard and mouse; what
//! the pages did is then checked where it lands (the API, the audit log).

use std::path::Path;

use sekisho_e2e::{
    Account, Browser, Gateway, add_age_partner, assert_success, json_of, json_str, sha256_hex,
    stored_events,
};

/// Logs `account` in through the login page (a fresh one-time code).
fn log_in(browser: &Browser, gw: &Gateway, account: &Account) {
    browser.goto(&format!("{}/login", gw.internal_url));
    browser.fill("#username", &account.username);
    browser.fill("#password", &account.password);
    browser.fill("#otp", &gw.otp(&account.totp_secret));
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for_text("ログアウト");
}

fn log_out(browser: &Browser) {
    browser.click("form[action='/logout'] button");
    browser.wait_for_text("ワンタイムコード");
}

fn add_passphrase_recipient(gw: &Gateway, staff: &Account) {
    let out = gw.cli(staff).run(&[
        "recipient",
        "add",
        "clinic",
        "--org",
        "Nagato Clinic",
        "--email",
        "desk@clinic.example.jp",
        "--passphrase",
    ]);
    assert_success(&out, "passphrase recipient");
}

fn write_file(dir: &Path, name: &str, size: usize, seed: u8) -> (std::path::PathBuf, Vec<u8>) {
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("write file to send");
    (path, bytes)
}

#[test]
fn staff_send_class_ii_to_two_recipients_and_the_approver_approves_in_the_browser() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "sato", "staff");
    let approver = gw.user(&admin, "suzuki", "approver");
    add_age_partner(&gw, &staff);
    add_passphrase_recipient(&gw, &staff);

    // The console is the internal listener's root, in Japanese by default.
    browser.goto(&format!("{}/", gw.internal_url));
    assert_eq!(browser.path(), "/login");
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("ja"));
    log_in(&browser, &gw, &staff);
    assert_eq!(browser.path(), "/home");

    // The session cookie is host-only, Secure, HttpOnly and SameSite=Strict
    // (the browser itself says so), and no script can read it.
    let cookies = browser.cookies();
    assert!(
        cookies.iter().any(|(name, _)| name == "__Host-sekisho"),
        "{cookies:?}"
    );
    let seen_by_script = browser.execute("return document.cookie;");
    assert!(
        !seen_by_script
            .as_str()
            .unwrap_or_default()
            .contains("__Host-sekisho"),
        "a script read the session cookie: {seen_by_script}"
    );

    // Two files, one class II and one class III: the bundle is class II.
    let (quote_path, quote) = write_file(gw.dir.path(), "見積書.pdf", 3 * 1024 * 1024 + 17, 7);
    let (memo_path, memo) = write_file(gw.dir.path(), "memo.txt", 2048, 3);
    browser.goto(&format!("{}/send", gw.internal_url));
    browser.choose_files("#files", &[&quote_path, &memo_path]);
    browser.select("#class-0", "II");
    browser.select("#class-1", "III");
    browser.fill("#purpose", "見積書の送付");
    browser.click("input[name=recipient][value=partner]");
    browser.click("input[name=recipient][value=clinic]");
    browser.click("#send-button");
    browser.wait_for_text("送信しました");
    let page = browser.page_text();
    assert!(page.contains("承認者の承認を待っています"), "{page}");
    assert!(page.contains("電話で受取人に伝えてください"), "{page}");
    let passphrase = browser.text(".passphrase");
    assert!(passphrase.len() >= 20, "passphrase shown: {passphrase:?}");
    let href = browser
        .attr("#sent-link", "href")
        .expect("link to the transfer");
    let id = href.rsplit('/').next().expect("id").to_string();

    // What the browser streamed is what the gateway stored, byte for byte.
    let shown = json_of(&gw.cli(&staff).run(&["--json", "show", &id]));
    assert_eq!(json_str(&shown["class"]).expect("class"), "II");
    assert_eq!(
        json_str(&shown["state"]).expect("state"),
        "pending_approval"
    );
    let digests: Vec<String> = shown["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| json_str(&f["sha256"]).expect("sha256"))
        .collect();
    assert_eq!(digests, vec![sha256_hex(&quote), sha256_hex(&memo)]);
    assert_eq!(shown["recipients"].as_array().map(Vec::len), Some(2));

    // The home page lists it with its class label and state.
    browser.goto(&format!("{}/home", gw.internal_url));
    let row = browser.text(&format!("tr[data-transfer='{id}']"));
    assert!(
        row.contains("重要性II") && row.contains("承認待ち"),
        "{row}"
    );
    log_out(&browser);

    // The approver sees the count on every page, reviews and approves.
    log_in(&browser, &gw, &approver);
    assert_eq!(browser.text("#queue-link .count"), "1");
    browser.click("#queue-link");
    browser.click(&format!("tr[data-transfer='{id}'] a"));
    let review = browser.page_text();
    for needle in [
        "見積書.pdf",
        "memo.txt",
        &sha256_hex(&quote),
        &sha256_hex(&memo),
        "見積書の送付",
        "Partner K.K.",
        "Nagato Clinic",
        "transfer.submit",
    ] {
        assert!(
            review.contains(needle),
            "the review page lacks {needle}:\n{review}"
        );
    }
    assert!(browser.text(".class").contains("重要性II"));
    browser.fill("#otp", &gw.otp(&approver.totp_secret));
    browser.fill("#comment", "確認しました");
    browser.click("#approve");
    browser.wait_for_text("承認しました");
    assert_eq!(
        browser.attr("dl.facts", "data-state").as_deref(),
        Some("released")
    );
    assert_eq!(browser.text("#queue-link .count"), "0");

    // The same events as from the command line, by the same people.
    let events = stored_events(&gw.database_url).expect("events");
    let approve = events
        .iter()
        .find(|e| e.action == "transfer.approve" && e.object == format!("transfer:{id}"))
        .expect("an approval event");
    assert_eq!(approve.actor, "suzuki");
    let submit = events
        .iter()
        .find(|e| e.action == "transfer.submit" && e.object == format!("transfer:{id}"))
        .expect("a submit event");
    assert_eq!(submit.actor, "sato");
    gw.stop().expect("stop");
}

#[test]
fn an_approval_is_bound_to_the_digest_the_page_showed() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "sato", "staff");
    let approver = gw.user(&admin, "suzuki", "approver");
    add_age_partner(&gw, &staff);
    let (path, _) = write_file(gw.dir.path(), "a.txt", 100, 1);
    let sent = json_of(&gw.cli(&staff).run(&[
        "--json",
        "send",
        "--class",
        "II",
        "--purpose",
        "test",
        "--to",
        "partner",
        &path.display().to_string(),
    ]));
    let id = json_str(&sent["transfer"]["id"]).expect("id");

    log_in(&browser, &gw, &approver);
    browser.goto(&format!("{}/transfers/{id}", gw.internal_url));
    // The page showed one digest; the form sends another (as if the
    // content had changed between showing and deciding).
    browser.execute(
        "document.querySelector('input[name=content_digest]').value = '0'.repeat(64); return null;",
    );
    browser.fill("#otp", &gw.otp(&approver.totp_secret));
    browser.click("#approve");
    browser.wait_for_text("承認または却下");
    assert!(browser.exists(".error"), "{}", browser.page_text());
    assert_eq!(
        browser.attr("dl.facts", "data-state").as_deref(),
        Some("pending_approval")
    );

    // Rejecting needs a reason; with one, the sender's transfer is closed.
    browser.fill("#otp", &gw.otp(&approver.totp_secret));
    browser.click("#reject");
    browser.wait_for_text("理由");
    assert_eq!(
        browser.attr("dl.facts", "data-state").as_deref(),
        Some("pending_approval")
    );
    browser.fill("#otp", &gw.otp(&approver.totp_secret));
    browser.fill("#comment", "宛先が違います");
    browser.click("#reject");
    browser.wait_for_text("却下しました");
    assert_eq!(
        browser.attr("dl.facts", "data-state").as_deref(),
        Some("rejected")
    );
    gw.stop().expect("stop");
}

#[test]
fn english_is_a_remembered_switch() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    browser.goto(&format!("{}/login", gw.internal_url));
    browser.click("form[action='/lang'] button");
    browser.wait_for_text("One-time code");
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("en"));
    browser.fill("#username", &admin.username);
    browser.fill("#password", &admin.password);
    browser.fill("#otp", &gw.otp(&admin.totp_secret));
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for_text("Log out");
    browser.goto(&format!("{}/home", gw.internal_url));
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("en"));
    browser.click("form[action='/lang'] button");
    browser.wait_for_text("ログアウト");
    // The switch came back to the page it was pressed on.
    assert_eq!(browser.path(), "/home");
    gw.stop().expect("stop");
}
