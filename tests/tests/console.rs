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

/// Sends `path` to the age partner from the command line; returns the id.
fn send_with_cli(gw: &Gateway, staff: &Account, class: &str, purpose: &str, path: &Path) -> String {
    let sent = json_of(&gw.cli(staff).run(&[
        "--json",
        "send",
        "--class",
        class,
        "--purpose",
        purpose,
        "--to",
        "partner",
        &path.display().to_string(),
    ]));
    json_str(&sent["transfer"]["id"]).expect("transfer id")
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
    let colleague = gw.user(&admin, "ito", "staff");
    let approver = gw.user(&admin, "suzuki", "approver");
    let identity = add_age_partner(&gw, &staff);
    add_passphrase_recipient(&gw, &staff);

    // The console is the internal listener's root, in Japanese by default.
    browser.goto(&format!("{}/", gw.internal_url));
    assert_eq!(browser.path(), "/login");
    assert_eq!(browser.attr("html", "lang").as_deref(), Some("ja"));
    browser.screenshot("login");
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
    browser.screenshot("send");
    browser.click("#send-button");
    browser.wait_for_text("送信しました");
    let page = browser.page_text();
    assert!(page.contains("承認者の承認を待っています"), "{page}");
    assert!(page.contains("電話で受取人に伝えてください"), "{page}");
    browser.screenshot("sent-passphrase");
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
    browser.screenshot("home");
    // The sender sees the transfer, but nothing to decide on it.
    browser.goto(&format!("{}/transfers/{id}", gw.internal_url));
    assert!(browser.page_text().contains("見積書.pdf"));
    assert!(
        !browser.exists("#decide"),
        "the sender was offered a decision"
    );
    log_out(&browser);

    // Another member of staff opening its review page is told it does not
    // exist, exactly as for an id that never did.
    log_in(&browser, &gw, &colleague);
    browser.goto(&format!("{}/transfers/{id}", gw.internal_url));
    let refused = browser.page_text();
    browser.goto(&format!(
        "{}/transfers/00000000-0000-0000-0000-000000000000",
        gw.internal_url
    ));
    assert_eq!(
        refused,
        browser.page_text(),
        "a hidden transfer must read as a missing one"
    );
    assert!(
        browser.exists(".error") && !refused.contains("見積書.pdf"),
        "{refused}"
    );
    log_out(&browser);

    // The approver sees the count on every page, reviews and approves.
    log_in(&browser, &gw, &approver);
    assert_eq!(browser.text("#queue-link .count"), "1");
    browser.click("#queue-link");
    browser.wait_for_path("/queue");
    browser.screenshot("queue");
    browser.click(&format!("tr[data-transfer='{id}'] a"));
    browser.wait_for_path(&format!("/transfers/{id}"));
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
    browser.screenshot("review");
    browser.fill("#otp", &gw.otp(&approver.totp_secret));
    browser.fill("#comment", "確認しました");
    browser.click("#approve");
    browser.wait_for_text("承認しました");
    assert_eq!(
        browser.attr("dl.facts", "data-state").as_deref(),
        Some("released")
    );
    assert_eq!(browser.text("#queue-link .count"), "0");

    // The age recipient's link downloads, and the files are the ones sent.
    let url = {
        let links = json_of(&gw.cli(&staff).run(&["--json", "link", &id]));
        links
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["recipient"] == "partner")
            .map(|l| json_str(&l["url"]).expect("url"))
            .expect("the partner's link")
    };
    let outside = gw.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("home");
    let received_dir = gw.dir.path().join("received");
    let received = json_of(&gw.outsider(&outside).run(&[
        "--json",
        "receive",
        &url,
        "-o",
        &received_dir.display().to_string(),
        "--identity",
        &identity.display().to_string(),
    ]));
    assert_eq!(received["verified"], true, "{received}");
    assert_eq!(
        std::fs::read(received_dir.join("見積書.pdf")).expect("file"),
        quote
    );
    assert_eq!(
        std::fs::read(received_dir.join("memo.txt")).expect("file"),
        memo
    );

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
    let id = send_with_cli(&gw, &staff, "II", "test", &path);

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

#[test]
fn a_sysadmin_creates_an_account_and_its_first_login_changes_the_temporary_password() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    log_in(&browser, &gw, &admin);
    browser.click("a[href='/accounts']");
    browser.fill("#new-username", "yamada");
    browser.select("#new-role", "staff");
    browser.fill("#new-email", "yamada@city.example.lg.jp");
    browser.click("#create-account button[type=submit]");
    browser.wait_for_text("この画面は一度だけ表示されます");
    let temporary = browser.text("#temporary-password");
    let secret = browser.text("#totp-secret");
    // The QR code is drawn in the page itself (no image request).
    assert!(browser.exists("svg.qr"), "{}", browser.page_text());
    browser.screenshot("account-created");
    // Shown once: the list never shows it again.
    browser.goto(&format!("{}/accounts", gw.internal_url));
    let list = browser.page_text();
    assert!(
        list.contains("yamada@city.example.lg.jp") && list.contains("仮パスワード"),
        "{list}"
    );
    assert!(!list.contains(&temporary));
    log_out(&browser);

    // The new person logs in with the temporary password: nothing but the
    // password page until it is changed.
    let person = Account {
        username: "yamada".into(),
        password: temporary,
        totp_secret: secret,
        home: gw.dir.path().to_path_buf(),
    };
    browser.goto(&format!("{}/login", gw.internal_url));
    browser.fill("#username", &person.username);
    browser.fill("#password", &person.password);
    browser.fill("#otp", &gw.otp(&person.totp_secret));
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for_text("仮パスワードでログインしています");
    browser.goto(&format!("{}/home", gw.internal_url));
    assert_eq!(browser.path(), "/password");
    browser.fill("#current", &person.password);
    browser.fill("#new", "onlylowercase1234");
    browser.click("form[action='/password'] button");
    browser.wait_for_text("記号");
    browser.fill("#current", &person.password);
    browser.fill("#new", "Yamada-Strong-Pass-9");
    browser.click("form[action='/password'] button");
    browser.wait_for_text("パスワードを変更しました");
    let person = Account {
        password: "Yamada-Strong-Pass-9".into(),
        ..person
    };
    log_in(&browser, &gw, &person);
    assert_eq!(browser.path(), "/home");
    log_out(&browser);

    // The sysadmin disables the account: its next login is refused.
    log_in(&browser, &gw, &admin);
    browser.goto(&format!("{}/accounts", gw.internal_url));
    browser.click("tr[data-account='yamada'] button[value=disable]");
    browser.wait_for_text("停止中");
    let events = stored_events(&gw.database_url).expect("events");
    for action in ["user.create", "password.change", "user.disable"] {
        assert!(
            events
                .iter()
                .any(|e| e.action == action && e.object == "user:yamada"),
            "no {action} event"
        );
    }
    gw.stop().expect("stop");
}

#[test]
fn staff_ask_for_files_a_manager_closes_the_incident_and_the_auditor_exports_the_log() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "sato", "staff");
    let manager = gw.user(&admin, "kato", "manager");
    let auditor = gw.user(&admin, "tanaka", "auditor");

    // Staff create an upload link on the inbound page.
    log_in(&browser, &gw, &staff);
    browser.click("a[href='/inbound']");
    browser.fill("#from", "Partner K.K.");
    browser.fill("#request-purpose", "請求書の受領");
    browser.click("#create-request button[type=submit]");
    let url = browser.text("#request-url");
    assert!(url.starts_with(&gw.public_url), "{url}");

    // Someone outside uploads a clean file and the EICAR test file.
    let outside = gw.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("dir");
    std::fs::write(outside.join("請求書.txt"), "請求金額 12,000円\n").expect("write");
    std::fs::write(outside.join("eicar.com"), sekisho_e2e::eicar()).expect("write");
    let home = gw.dir.path().join("home-outsider");
    std::fs::create_dir_all(&home).expect("home");
    let _ = gw.outsider(&home).run(&[
        "upload",
        &url,
        &outside.join("請求書.txt").display().to_string(),
        &outside.join("eicar.com").display().to_string(),
    ]);

    // Staff see both with their verdicts; the clean one is classified and
    // downloaded; the detection is quarantined.
    browser.goto(&format!("{}/inbound", gw.internal_url));
    assert!(
        browser.exists("tr[data-verdict=infected][data-state=quarantined]"),
        "{}",
        browser.page_text()
    );
    browser.select("tr[data-verdict=clean] select[name=class]", "III");
    browser.click("tr[data-verdict=clean] form button");
    browser.wait_for_text("ダウンロード");
    browser.screenshot("inbound");
    let href = browser
        .attr("tr[data-verdict=clean] a.download", "href")
        .expect("download link");
    let body = browser.execute(&format!("return fetch('{href}').then(r => r.text());"));
    assert_eq!(body.as_str(), Some("請求金額 12,000円\n"));
    log_out(&browser);

    // The manager sees the incident and closes it with a note.
    log_in(&browser, &gw, &manager);
    browser.click("a[href='/incidents']");
    browser.wait_for_path("/incidents");
    browser.screenshot("incidents");
    assert!(browser.page_text().contains("sato") || browser.page_text().contains("Partner"));
    browser.fill(
        "tr[data-state=open] input[name=note]",
        "送信元に連絡し、再送を依頼",
    );
    browser.click("tr[data-state=open] form.stack button");
    browser.wait_for_text("完了");
    assert!(browser.exists("tr[data-state=closed]"));
    log_out(&browser);

    // The auditor filters the log, exports it, and is told how to verify.
    log_in(&browser, &gw, &auditor);
    browser.click("a[href='/audit']");
    assert!(
        browser
            .text("#verify-command")
            .contains("sekisho audit verify")
    );
    browser.fill("#audit-filters input[name=action]", "incident.");
    browser.click("#audit-filters button");
    browser.wait_for_path("action=incident.");
    let rows = browser.text("#audit-events tbody");
    assert!(rows.contains("incident.close"), "{rows}");
    assert!(!rows.contains("login.ok"), "{rows}");
    browser.screenshot("audit");
    let csv_href = browser.attr("#download-csv", "href").expect("csv link");
    // The bytes as saved: a byte-order mark first, so Excel reads UTF-8
    // (a browser's text() would hide it).
    let head = browser.execute(&format!(
        "return fetch('{csv_href}').then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b).slice(0, 3)));"
    ));
    assert_eq!(
        head,
        serde_json::json!([0xEF, 0xBB, 0xBF]),
        "the CSV starts with a BOM"
    );
    let csv = browser.execute(&format!("return fetch('{csv_href}').then(r => r.text());"));
    let csv = csv.as_str().expect("csv text");
    let rows = sekisho_proto::escape::fixtures::parse_csv(csv.trim_start_matches('\u{feff}'));
    assert_eq!(rows[0][3], "action");
    assert!(
        rows.iter().skip(1).all(|r| r[3].starts_with("incident.")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r[3] == "incident.close" && r[2] == "kato")
    );
    browser.click("#new-checkpoint");
    browser.wait_for_text("署名付きチェックポイント");
    let checkpoints = browser.execute(
        "return fetch('/audit/checkpoints.json').then(r => r.json()).then(j => j.length);",
    );
    assert!(checkpoints.as_u64().unwrap_or(0) >= 1, "{checkpoints}");

    // The yearly report as one printable page, counted from the verified
    // log, saying it was checked on the gateway and not independently.
    browser.goto(&format!("{}/audit", gw.internal_url));
    browser.click("#yearly-report button");
    browser.wait_for_text("年次自己点検報告");
    browser.screenshot("yearly-report");
    let report = browser.page_text();
    assert!(report.contains("検証状態 (Verification): OK"), "{report}");
    assert!(
        report.contains("ゲートウェイから独立した検証ではありません"),
        "{report}"
    );
    assert!(
        report.contains("sekisho audit report --format html"),
        "{report}"
    );
    // Its own style sheet applied under the page's policy (no CSP refusal):
    // the status banner is styled, so it has a border.
    let border = browser
        .execute("return getComputedStyle(document.querySelector('.status')).borderTopStyle;");
    assert_ne!(
        border.as_str(),
        Some("none"),
        "the report's style was refused"
    );
    gw.stop().expect("stop");
}

/// A client that does not follow redirects (a console answer is often
/// one) and keeps no cookies: the test sends the session cookie itself.
fn plain_client(gw: &Gateway) -> reqwest::blocking::Client {
    let ca = std::fs::read(&gw.ca_file).expect("ca file");
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .tls_backend_rustls()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Logs in through the console's form; returns the `Set-Cookie` header.
fn form_login(gw: &Gateway, http: &reqwest::blocking::Client, account: &Account) -> String {
    let response = http
        .post(format!("{}/login", gw.internal_url))
        .form(&[
            ("username", account.username.as_str()),
            ("password", account.password.as_str()),
            ("otp", gw.otp(&account.totp_secret).as_str()),
        ])
        .send()
        .expect("login");
    assert_eq!(response.status(), 303, "{:?}", response.text());
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string()
}

fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = page.find(marker).expect("csrf meta") + marker.len();
    page[start..start + 64].to_string()
}

#[test]
fn the_console_session_is_a_strict_cookie_with_csrf_and_time_outs_and_only_on_the_internal_listener()
 {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "sato", "staff");
    add_age_partner(&gw, &staff);
    let http = plain_client(&gw);

    // Nothing of the console is served on the public listener.
    for path in [
        "/",
        "/login",
        "/home",
        "/static/console.js",
        "/static/console.css",
    ] {
        let status = http
            .get(format!("{}{path}", gw.public_url))
            .send()
            .expect("public")
            .status();
        assert_eq!(status, 404, "{path} on the public listener");
    }

    // Every page: a strict content security policy, no caching, no framing.
    let login_page = http
        .get(format!("{}/login", gw.internal_url))
        .send()
        .expect("login page");
    let headers = login_page.headers().clone();
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let page = login_page.text().expect("text");
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "inline script or style"
    );

    let set_cookie = form_login(&gw, &http, &staff);
    for attribute in [
        "__Host-sekisho=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{set_cookie} lacks {attribute}"
        );
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let cookie = cookie_pair(&set_cookie);
    let home = http
        .get(format!("{}/home", gw.internal_url))
        .header("cookie", &cookie)
        .send()
        .expect("home");
    assert_eq!(home.status(), 200);
    let csrf = csrf_of(&home.text().expect("home text"));

    // A class III transfer to revoke (sent with the CLI: one account, two doors).
    let file = gw.dir.path().join("a.txt");
    std::fs::write(&file, "x").expect("write");
    let id = send_with_cli(&gw, &staff, "III", "p", &file);
    let revoke = |token: &str, extra: Option<(&str, &str)>| {
        let mut request = http
            .post(format!("{}/transfers/{id}/revoke", gw.internal_url))
            .header("cookie", &cookie)
            .form(&[("csrf", token), ("reason", "wrong recipient")]);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        request.send().expect("revoke").status()
    };
    let state = || {
        json_str(&json_of(&gw.cli(&staff).run(&["--json", "show", &id]))["state"]).expect("state")
    };
    // Without this session's CSRF token, or from another site: refused,
    // and nothing changed.
    assert_eq!(revoke("0".repeat(64).as_str(), None), 403);
    assert_eq!(revoke(&csrf, Some(("sec-fetch-site", "cross-site"))), 403);
    assert_eq!(state(), "released");
    assert_eq!(revoke(&csrf, None), 303);
    assert_eq!(state(), "revoked");

    // Idle for longer than auth.console_idle_minutes (30): the session ended.
    gw.advance(31 * 60);
    let after_idle = http
        .get(format!("{}/home", gw.internal_url))
        .header("cookie", &cookie)
        .send()
        .expect("home");
    assert_eq!(after_idle.status(), 303);
    assert_eq!(after_idle.headers()["location"], "/login");
    // The command line's session is not a browser's: it has no idle time-out.
    assert_success(
        &gw.cli(&staff).run(&["whoami"]),
        "the CLI session after 31 minutes",
    );

    // Logging out ends the session on the server, not only in the browser.
    let cookie = cookie_pair(&form_login(&gw, &http, &staff));
    let page = http
        .get(format!("{}/home", gw.internal_url))
        .header("cookie", &cookie)
        .send()
        .expect("home")
        .text()
        .expect("text");
    let csrf = csrf_of(&page);
    let out = http
        .post(format!("{}/logout", gw.internal_url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .expect("logout");
    assert_eq!(out.status(), 303);
    let again = http
        .get(format!("{}/home", gw.internal_url))
        .header("cookie", &cookie)
        .send()
        .expect("home");
    assert_eq!(again.headers()["location"], "/login");

    // A wrong password and an unknown name read the same; the lockout is
    // the API's (the account locks after five failures, whatever the door).
    let wrong = |name: &str| {
        http.post(format!("{}/login", gw.internal_url))
            .form(&[
                ("username", name),
                ("password", "Wrong-Password-1"),
                ("otp", "000000"),
            ])
            .send()
            .expect("login")
    };
    let unknown = wrong("nobody");
    let unknown_status = unknown.status();
    let unknown_text = unknown.text().expect("text");
    let known = wrong("sato");
    assert_eq!(known.status(), unknown_status);
    let known_text = known.text().expect("text");
    let message = "ユーザー名、パスワードまたはワンタイムコードが違います";
    assert!(known_text.contains(message) && unknown_text.contains(message));
    for _ in 0..4 {
        wrong("sato");
    }
    let locked = http
        .post(format!("{}/login", gw.internal_url))
        .form(&[
            ("username", "sato"),
            ("password", staff.password.as_str()),
            ("otp", gw.otp(&staff.totp_secret).as_str()),
        ])
        .send()
        .expect("login");
    assert_eq!(
        locked.status(),
        unknown_status,
        "a locked account answers like a wrong password"
    );
    let events = stored_events(&gw.database_url).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.action == "user.lock" && e.object == "user:sato")
    );
    gw.stop().expect("stop");
}

#[test]
fn carry_outs_and_disposals_wait_in_the_approvers_queue_and_the_ledger_and_scanner_are_shown() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "sato", "staff");
    let approver = gw.user(&admin, "suzuki", "approver");
    add_age_partner(&gw, &staff);
    // A class II transfer, approved on the command line, then asked to be
    // erased early: that needs the approver again.
    let (path, _) = write_file(gw.dir.path(), "名簿.csv", 64, 9);
    let id = send_with_cli(&gw, &staff, "II", "名簿の送付", &path);
    let code = gw.otp(&approver.totp_secret);
    assert_success(
        &gw.cli(&approver).run(&["approve", &id, "--otp", &code]),
        "approve",
    );
    let asked =
        json_of(
            &gw.cli(&staff)
                .run(&["--json", "dispose", &id, "--reason", "誤送付のため"]),
        );
    assert_eq!(json_str(&asked["state"]).expect("state"), "requested");
    // A carry-out on a registered medium.
    assert_success(
        &gw.cli(&admin).run(&[
            "media",
            "register",
            "USB-001",
            "--label",
            "青いUSB",
            "--section",
            "業務課",
        ]),
        "register",
    );
    let carry = json_of(&gw.cli(&staff).run(&[
        "--json",
        "media",
        "checkout",
        "--medium",
        "USB-001",
        "--purpose",
        "説明会資料の持ち出し",
        "--return-by",
        "2030-01-31",
        "--class",
        "III",
        &path.display().to_string(),
    ]));
    let carry_id = json_str(&carry["transfer"]["id"]).expect("carry-out id");

    log_in(&browser, &gw, &approver);
    assert_eq!(browser.text("#queue-link .count"), "2");
    browser.click("#queue-link");
    browser.wait_for_path("/queue");
    assert!(
        browser.exists(&format!("tr[data-transfer='{carry_id}']")),
        "{}",
        browser.page_text()
    );
    let row = "#disposals tr[data-kind=transfer]".to_string();
    assert!(browser.text(&row).contains("名簿.csv"));
    browser.fill(
        &format!("{row} input[name=otp]"),
        &gw.otp(&approver.totp_secret),
    );
    browser.click(&format!("{row} button[value=approve]"));
    browser.wait_for_text("消去・廃棄を承認しました");
    assert!(!browser.exists("#disposals"), "{}", browser.page_text());
    assert_eq!(browser.text("#queue-link .count"), "1");
    let shown = json_of(&gw.cli(&staff).run(&["--json", "show", &id]));
    assert_eq!(json_str(&shown["state"]).expect("state"), "erased");

    // The carry-out is reviewed and approved like a send.
    browser.click(&format!("tr[data-transfer='{carry_id}'] a"));
    browser.fill("#otp", &gw.otp(&approver.totp_secret));
    browser.click("#approve");
    browser.wait_for_text("承認しました");
    log_out(&browser);

    // The sysadmin sees the ledger and a healthy scanner; two days later,
    // the same page warns that the signatures are stale (a deny list gives
    // the built-in engine a signature date).
    std::fs::write(
        gw.data_dir().join("deny-sha256.txt"),
        format!("# test list\n{} banned\n", sha256_hex(b"banned")),
    )
    .expect("deny list");
    gw.reconfigure(&[("scan", "builtin", r#"{ deny_list = "deny-sha256.txt" }"#)]);
    log_in(&browser, &gw, &admin);
    browser.click("a[href='/media']");
    browser.wait_for_path("/media");
    let ledger = browser.text("tr[data-medium='USB-001']");
    assert!(
        ledger.contains("青いUSB") && ledger.contains("業務課"),
        "{ledger}"
    );
    browser.click("a[href='/scanner']");
    browser.wait_for_path("/scanner");
    assert!(!browser.exists(".warning"), "{}", browser.page_text());
    assert!(browser.text("#engines").contains("builtin"));
    gw.advance(49 * 3600);
    log_in(&browser, &gw, &admin);
    browser.goto(&format!("{}/scanner", gw.internal_url));
    assert!(browser.exists(".warning"), "{}", browser.page_text());
    assert!(browser.text("#engines").contains("定義が古い"));
    gw.stop().expect("stop");
}

#[test]
fn a_form_posted_from_another_site_changes_nothing() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "sato", "staff");
    add_age_partner(&gw, &staff);
    let (path, _) = write_file(gw.dir.path(), "a.txt", 10, 1);
    let id = send_with_cli(&gw, &staff, "III", "p", &path);
    log_in(&browser, &gw, &staff);

    // A page from elsewhere (here a data: URL, an origin of its own) posts
    // the revoke form into the logged-in console, as a CSRF attack would.
    let attack = format!(
        "data:text/html,<form method=post action='{}/transfers/{id}/revoke'>\
         <input name=csrf value=guess><input name=reason value=attack></form>\
         <script>document.forms[0].submit()</script>",
        gw.internal_url
    );
    browser.goto(&attack);
    // The post did reach the gateway (the browser is on its answer now) and
    // was refused: the browser marks it cross-site, SameSite=Strict keeps
    // the session cookie back, and its CSRF token is a guess.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !browser.url().starts_with(&gw.internal_url) {
        assert!(
            std::time::Instant::now() < deadline,
            "the attack page never posted: {}",
            browser.url()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let landed = browser.path();
    assert!(
        landed == "/login" || browser.exists(".error"),
        "{landed}: {}",
        browser.page_text()
    );
    let shown = json_of(&gw.cli(&staff).run(&["--json", "show", &id]));
    assert_eq!(json_str(&shown["state"]).expect("state"), "released");
    let events = stored_events(&gw.database_url).expect("events");
    assert!(!events.iter().any(|e| e.action == "transfer.revoke"));
    gw.stop().expect("stop");
}

#[test]
fn an_approver_names_a_stand_in_in_the_console_and_a_sysadmin_changes_a_mail_address() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "sato", "staff");
    let jicho = gw.user(&admin, "jicho", "approver");
    let ciso = gw.user(&admin, "ciso", "ciso");
    add_age_partner(&gw, &staff);

    // jicho will be away: the CISO stands in until tomorrow.
    log_in(&browser, &gw, &jicho);
    browser.click("a[href='/delegations']");
    browser.wait_for_path("/delegations");
    assert!(browser.page_text().contains("代理承認者はいません"));
    browser.select("#d-stand-in", "ciso");
    // A date input's typed format follows the browser's locale; the value
    // is what the form sends.
    let tomorrow = gw.now() + 86_400;
    let day = time::OffsetDateTime::from_unix_timestamp(tomorrow)
        .expect("time")
        .to_offset(time::macros::offset!(+9));
    let until = format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    browser.execute(&format!(
        "document.getElementById('d-until').value = '{until}'; return null;"
    ));
    browser.click("#set-delegation button[type=submit]");
    browser.wait_for_text("代理承認者を設定しました");
    let row = browser.text("tr[data-approver='jicho']");
    assert!(row.contains("ciso") && row.contains("代理中"), "{row}");
    browser.screenshot("delegations");
    log_out(&browser);

    // The CISO decides a staff request for jicho; the review page says so.
    let (path, _) = write_file(gw.dir.path(), "報告書.txt", 2048, 5);
    let id = send_with_cli(&gw, &staff, "II", "報告書の送付", &path);
    log_in(&browser, &gw, &ciso);
    browser.goto(&format!("{}/transfers/{id}", gw.internal_url));
    browser.fill("#otp", &gw.otp(&ciso.totp_secret));
    browser.click("#approve");
    browser.wait_for_text("承認しました");
    assert!(
        browser.page_text().contains("jicho の代理"),
        "{}",
        browser.page_text()
    );
    // The CISO may not end someone else's stand-in: no button is offered.
    browser.goto(&format!("{}/delegations", gw.internal_url));
    assert!(!browser.exists("tr[data-approver='jicho'] form"));
    log_out(&browser);

    // jicho is back early and ends it.
    log_in(&browser, &gw, &jicho);
    browser.goto(&format!("{}/delegations", gw.internal_url));
    browser.click("tr[data-approver='jicho'] form button");
    browser.wait_for_text("代理承認を終了しました");
    assert!(!browser.exists("tr[data-approver='jicho']"));
    log_out(&browser);

    // A sysadmin gives jicho a mail address from the accounts page.
    log_in(&browser, &gw, &admin);
    browser.click("a[href='/accounts']");
    browser.wait_for_path("/accounts");
    let form = "tr[data-account='jicho'] form:has(input[name=action][value=email])";
    browser.fill(
        &format!("{form} input[name=email]"),
        "jicho@city.example.lg.jp",
    );
    browser.click(&format!("{form} button"));
    browser.wait_for_text("jicho@city.example.lg.jp");
    let listed = json_of(&gw.cli(&admin).run(&["--json", "admin", "user", "list"]));
    let jicho_row = listed
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == "jicho"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(jicho_row["email"], "jicho@city.example.lg.jp");
    gw.stop().expect("stop");
}
