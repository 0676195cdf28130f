//! Mail notifications end to end, against a real SMTP server (aiosmtpd):
//! who is told what, that no mail carries a secret, that mail waits in the
//! outbox while the SMTP server is down and arrives once after it is back,
//! and that a gateway without `[mail]` behaves as before.

use std::time::Duration;

use sekisho_e2e::*;
use serde_json::Value;

const CONSOLE: &str = "https://sekisho.city.example.lg.jp";
/// Housekeeping (which sends the outbox) runs every second in these tests.
const ARRIVAL: Duration = Duration::from_secs(60);

fn options(smtp: Option<&SmtpServer>) -> GatewayOptions {
    let mut config_patch = vec![(
        "housekeeping".to_string(),
        "interval_seconds".to_string(),
        "1".to_string(),
    )];
    if let Some(smtp) = smtp {
        config_patch.extend(smtp.config_patch());
    }
    GatewayOptions { config_patch }
}

fn set_email(gw: &Gateway, admin: &Account, user: &str, address: &str) {
    let out = gw
        .cli(admin)
        .run(&["--json", "admin", "user", "email", user, address]);
    assert_eq!(json_of(&out)["email"], address);
}

fn send_class_ii(gw: &Gateway, staff: &Account, to: &[&str]) -> Value {
    let file = gw.dir.path().join("notes.txt");
    std::fs::write(&file, b"confidential notes").expect("file");
    let mut args = vec![
        "--json".to_string(),
        "send".into(),
        file.display().to_string(),
        "--class".into(),
        "II".into(),
        "--purpose".into(),
        "入札資料の送付".into(),
    ];
    for name in to {
        args.extend(["--to".to_string(), name.to_string()]);
    }
    json_of(&gw.cli(staff).run(&args))
}

fn approve(gw: &Gateway, approver: &Account, id: &str) {
    let code = gw.otp(&approver.totp_secret);
    let out = gw
        .cli(approver)
        .run(&["approve", id, "--otp", &code, "--comment", "確認しました"]);
    assert_success(&out, "approve");
}

fn mails_to<'a>(mails: &'a [ReceivedMail], address: &str) -> Vec<&'a ReceivedMail> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == address))
        .collect()
}

fn only_mail_to<'a>(mails: &'a [ReceivedMail], address: &str) -> &'a ReceivedMail {
    let found = mails_to(mails, address);
    assert_eq!(found.len(), 1, "mails to {address}: {found:#?}");
    found[0]
}

fn outbox_rows(gw: &Gateway) -> Vec<Vec<Option<String>>> {
    query_text(
        &gw.database_url,
        "SELECT state, CAST(attempts AS TEXT), kind FROM mail_outbox ORDER BY created_at",
    )
    .expect("outbox")
}

fn events(gw: &Gateway, action: &str) -> Vec<sekisho_proto::AuditEvent> {
    stored_events_of(&gw.database_url, action)
}

fn detail_of(event: &sekisho_proto::AuditEvent) -> Value {
    serde_json::from_str(&event.detail).expect("detail json")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < ARRIVAL, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_approver_the_sender_and_each_recipient_are_told_and_no_mail_carries_a_secret() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = Gateway::start_with(options(Some(&smtp)));
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    set_email(&gw, &admin, "tanaka", "tanaka@city.example.lg.jp");
    set_email(&gw, &admin, "jicho", "jicho@city.example.lg.jp");
    // The CISO has an address from the start, and is not asked to decide
    // a staff member's request (their approver is).
    let out = gw.cli(&admin).run(&[
        "--json",
        "admin",
        "user",
        "add",
        "ciso",
        "--role",
        "ciso",
        "--email",
        "ciso@city.example.lg.jp",
    ]);
    assert_success(&out, "add with --email");
    let listed = json_of(&gw.cli(&admin).run(&["--json", "admin", "user", "list"]));
    let ciso = listed
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == "ciso"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ciso["email"], "ciso@city.example.lg.jp");
    assert_eq!(events(&gw, "user.email").len(), 2);

    let identity = add_age_partner(&gw, &staff);
    let out = gw.cli(&staff).run(&[
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

    let sent = send_class_ii(&gw, &staff, &["partner", "clinic"]);
    let id = json_str(&sent["transfer"]["id"]).expect("id");
    let passphrase = json_str(&sent["passphrases"][0]["passphrase"]).expect("passphrase");
    let console_link = format!("{CONSOLE}/transfers/{id}");

    // 1. The approver is asked, with a console link, and nobody else yet.
    let mails = smtp.wait_for(1, ARRIVAL);
    let asked = only_mail_to(&mails, "jicho@city.example.lg.jp");
    assert!(asked.subject.contains("承認依頼"), "{}", asked.subject);
    assert!(
        asked.subject.contains("Approval needed"),
        "{}",
        asked.subject
    );
    assert!(asked.text.contains(&console_link), "{}", asked.text);
    assert!(asked.html.contains(&console_link), "{}", asked.html);
    assert_eq!(asked.content_type, "multipart/alternative");
    let ja = asked.text.find("承認を待っています").unwrap_or(usize::MAX);
    let en = asked.text.find("waits for your decision").unwrap_or(0);
    assert!(ja < en, "Japanese first, English below: {}", asked.text);
    assert!(!asked.text.contains("confidential notes"));

    // 2. After approval: the sender hears of it, each recipient gets their link.
    approve(&gw, &approver, &id);
    let mails = smtp.wait_for(4, ARRIVAL);
    let decided = only_mail_to(&mails, "tanaka@city.example.lg.jp");
    assert!(
        decided.subject.contains("承認されました"),
        "{}",
        decided.subject
    );
    assert!(decided.text.contains("確認しました"), "{}", decided.text);
    assert!(decided.text.contains(&console_link));

    let links: Vec<Value> = json_of(&gw.cli(&staff).run(&["--json", "link", &id]))
        .as_array()
        .cloned()
        .unwrap_or_default();
    let url_of = |name: &str| {
        links
            .iter()
            .find(|l| l["recipient"] == name)
            .and_then(|l| l["url"].as_str())
            .map(str::to_string)
            .expect("link")
    };
    let (partner_url, clinic_url) = (url_of("partner"), url_of("clinic"));
    let to_partner = only_mail_to(&mails, "p@example.jp");
    assert!(
        to_partner.text.contains(&partner_url),
        "{}",
        to_partner.text
    );
    assert!(!to_partner.everything().contains(&clinic_url));
    let to_clinic = only_mail_to(&mails, "desk@clinic.example.jp");
    assert!(to_clinic.text.contains(&clinic_url), "{}", to_clinic.text);
    assert!(to_clinic.text.contains("電話"), "{}", to_clinic.text);
    assert!(!to_clinic.everything().contains(&partner_url));

    // The link in the mail is the one that works.
    let home = gw.dir.path().join("outside");
    std::fs::create_dir_all(&home).expect("home");
    let out_dir = gw.dir.path().join("received");
    let out = gw.outsider(&home).run(&[
        "receive",
        &partner_url,
        "-o",
        &out_dir.display().to_string(),
        "--identity",
        &identity.display().to_string(),
    ]);
    assert_success(&out, "receive through the mailed link");
    assert_eq!(
        std::fs::read(out_dir.join("notes.txt")).expect("file"),
        b"confidential notes"
    );
    // The sender hears of the download: who, when and from where.
    let after = smtp.wait_for(5, ARRIVAL);
    let downloaded = mails_to(&after, "tanaka@city.example.lg.jp");
    assert_eq!(downloaded.len(), 2, "{downloaded:#?}");
    let downloaded = downloaded[1];
    assert!(
        downloaded
            .subject
            .contains("partner 様がダウンロードしました"),
        "{}",
        downloaded.subject
    );
    assert!(downloaded.text.contains("127.0.0.1"), "{}", downloaded.text);
    assert!(downloaded.text.contains("1 / 3"), "{}", downloaded.text);
    assert!(downloaded.text.contains(&console_link));
    let mails = after;

    // Nothing secret in any mail: no passphrase, no session token, and no
    // download token outside the recipient's own mail.
    let token_of = |url: &str| url.rsplit('/').next().unwrap_or_default().to_string();
    let secrets = [
        passphrase.clone(),
        gw.token(&staff),
        gw.token(&approver),
        gw.token(&admin),
    ];
    for mail in &mails {
        let all = mail.everything();
        for secret in &secrets {
            assert!(!all.contains(secret.as_str()), "a secret in {mail:#?}");
        }
        assert!(!all.contains("confidential notes"));
    }
    for mail in mails_to(&mails, "tanaka@city.example.lg.jp")
        .into_iter()
        .chain([asked])
    {
        for url in [&partner_url, &clinic_url] {
            assert!(!mail.everything().contains(&token_of(url)), "{mail:#?}");
        }
    }
    // The outbox stores no token either: links are derived when sent.
    let stored = query_text(&gw.database_url, "SELECT facts FROM mail_outbox").expect("facts");
    for row in stored.iter().flatten().flatten() {
        assert!(!row.contains(&token_of(&partner_url)) && !row.contains(&passphrase));
    }

    // Each send is an audit event; the CISO was never mailed.
    wait_until("five mail.send events", || {
        events(&gw, "mail.send").len() == 5
    });
    assert!(mails_to(&smtp.received(), "ciso@city.example.lg.jp").is_empty());
    assert_eq!(smtp.received().len(), 5);
    let status = text(&gw.admin_command(&["status"]));
    assert!(status.contains("Mail: on"), "{status}");
    assert!(status.contains("0 waiting in the outbox"), "{status}");
    gw.stop().expect("stop");
}

#[test]
fn a_rejection_tells_the_sender_why_and_releases_no_link() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = Gateway::start_with(options(Some(&smtp)));
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    set_email(&gw, &admin, "tanaka", "tanaka@city.example.lg.jp");
    set_email(&gw, &admin, "jicho", "jicho@city.example.lg.jp");
    add_age_partner(&gw, &staff);
    let id = json_str(&send_class_ii(&gw, &staff, &["partner"])["transfer"]["id"]).expect("id");
    smtp.wait_for(1, ARRIVAL);
    let code = gw.otp(&approver.totp_secret);
    let out = gw
        .cli(&approver)
        .run(&["reject", &id, "--otp", &code, "--reason", "宛先が違います"]);
    assert_success(&out, "reject");
    let mails = smtp.wait_for(2, ARRIVAL);
    let rejected = only_mail_to(&mails, "tanaka@city.example.lg.jp");
    assert!(rejected.subject.contains("却下"), "{}", rejected.subject);
    assert!(
        rejected.text.contains("理由: 宛先が違います"),
        "{}",
        rejected.text
    );
    assert!(rejected.text.contains("Reason: 宛先が違います"));
    // No link was released, so the recipient hears nothing.
    wait_until("the rejection mail to be recorded", || {
        events(&gw, "mail.send").len() == 2
    });
    assert!(mails_to(&smtp.received(), "p@example.jp").is_empty());
    gw.stop().expect("stop");
}

#[test]
fn mail_waits_in_the_outbox_while_the_smtp_server_is_down_and_arrives_once_after() {
    let Some(mut smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = Gateway::start_with(options(Some(&smtp)));
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    gw.user(&admin, "jicho", "approver");
    set_email(&gw, &admin, "jicho", "jicho@city.example.lg.jp");
    add_age_partner(&gw, &staff);

    smtp.stop();
    send_class_ii(&gw, &staff, &["partner"]);
    // The first attempt fails and the mail stays queued for a later one.
    wait_until("a failed attempt", || {
        outbox_rows(&gw)
            .first()
            .is_some_and(|r| r[0].as_deref() == Some("queued") && r[1].as_deref() == Some("1"))
    });
    let status = text(&gw.admin_command(&["status"]));
    assert!(status.contains("1 waiting in the outbox"), "{status}");
    assert!(events(&gw, "mail.send").is_empty());

    // Back up: nothing is sent before the back-off has passed, and once the
    // clock has moved past it the mail arrives, exactly once.
    smtp.start_again();
    std::thread::sleep(Duration::from_secs(3));
    assert!(smtp.received().is_empty(), "sent before its back-off ended");
    gw.advance(120);
    let mails = smtp.wait_for(1, ARRIVAL);
    assert_eq!(mails[0].to, vec!["jicho@city.example.lg.jp".to_string()]);
    wait_until("the outbox to empty", || {
        outbox_rows(&gw)
            .first()
            .is_some_and(|r| r[0].as_deref() == Some("sent"))
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.received().len(), 1, "delivered more than once");
    let sends = events(&gw, "mail.send");
    assert_eq!(sends.len(), 1);
    assert_eq!(detail_of(&sends[0])["attempts"], 2);
    let status = text(&gw.admin_command(&["status"]));
    assert!(status.contains("0 waiting in the outbox"), "{status}");
    gw.stop().expect("stop");
}

#[test]
fn a_mail_the_server_never_takes_is_given_up_and_logged() {
    let Some(mut smtp) = SmtpServer::start() else {
        return;
    };
    let mut opts = options(Some(&smtp));
    opts.config_patch
        .push(("mail".into(), "max_attempts".into(), "2".into()));
    let mut gw = Gateway::start_with(opts);
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    gw.user(&admin, "jicho", "approver");
    set_email(&gw, &admin, "jicho", "jicho@city.example.lg.jp");
    add_age_partner(&gw, &staff);
    smtp.stop();
    send_class_ii(&gw, &staff, &["partner"]);
    wait_until("a failed attempt", || {
        outbox_rows(&gw)
            .first()
            .is_some_and(|r| r[1].as_deref() == Some("1"))
    });
    gw.advance(120);
    wait_until("the mail to be given up", || {
        outbox_rows(&gw)
            .first()
            .is_some_and(|r| r[0].as_deref() == Some("failed"))
    });
    let failed = events(&gw, "mail.fail");
    assert_eq!(failed.len(), 1);
    assert_eq!(detail_of(&failed[0])["to"], "jicho@city.example.lg.jp");
    let status = text(&gw.admin_command(&["status"]));
    assert!(status.contains("1 given up"), "{status}");
    gw.stop().expect("stop");
}

#[test]
fn without_mail_nothing_is_queued_and_status_says_mail_is_off() {
    let mut gw = Gateway::start_with(options(None));
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    // Addresses can be kept without [mail]; they are simply not used.
    set_email(&gw, &admin, "jicho", "jicho@city.example.lg.jp");
    add_age_partner(&gw, &staff);
    let id = json_str(&send_class_ii(&gw, &staff, &["partner"])["transfer"]["id"]).expect("id");
    approve(&gw, &approver, &id);
    assert!(outbox_rows(&gw).is_empty());
    let status = text(&gw.admin_command(&["status"]));
    assert!(status.contains("Mail: off"), "{status}");
    gw.stop().expect("stop");
}

#[test]
fn a_bad_address_is_refused_with_an_example() {
    let mut gw = Gateway::start_with(options(None));
    let admin = gw.admin_ready();
    gw.user(&admin, "jicho", "approver");
    for bad in ["not-an-address", "two@@example.jp", "a b@example.jp"] {
        let out = gw
            .cli(&admin)
            .run(&["admin", "user", "email", "jicho", bad]);
        assert_failure(&out, "メールアドレス");
    }
    let out = gw.cli(&admin).run(&[
        "admin", "user", "add", "kacho", "--role", "approver", "--email", "nope",
    ]);
    assert_failure(&out, "tanaka@city.example.lg.jp");
    gw.stop().expect("stop");
}

/// The `[mail]` settings for a TLS server on `port` with the gateway's own
/// CA and the login in `smtp-login`.
fn tls_patch(scheme: &str, port: u16) -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "mail",
            "smtp_url",
            format!("\"{scheme}://127.0.0.1:{port}\""),
        ),
        (
            "mail",
            "from",
            "\"Sekisho <sekisho@city.example.lg.jp>\"".into(),
        ),
        ("mail", "console_base_url", format!("\"{CONSOLE}\"")),
        ("mail", "ca_file", "\"tls/ca.pem\"".into()),
        ("mail", "credentials_file", "\"smtp-login\"".into()),
        ("mail", "retry_seconds", "60".into()),
    ]
}

fn reconfigure_mail(gw: &mut Gateway, patch: &[(&'static str, &'static str, String)]) {
    let borrowed: Vec<(&str, &str, &str)> =
        patch.iter().map(|(a, b, c)| (*a, *b, c.as_str())).collect();
    gw.reconfigure(&borrowed);
}

#[test]
fn mail_goes_over_starttls_or_smtps_with_a_login_and_never_in_clear() {
    let mut gw = Gateway::start_with(options(None));
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    gw.user(&admin, "jicho", "approver");
    set_email(&gw, &admin, "jicho", "jicho@city.example.lg.jp");
    add_age_partner(&gw, &staff);
    // The SMTP login, in a file of the gateway's user alone.
    let login = gw.data_dir().join("smtp-login");
    std::fs::write(&login, "sekisho\ncorrect horse battery\n").expect("login file");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&login, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    // The test servers use the gateway's own certificate (made for
    // 127.0.0.1 and signed by its CA), so `ca_file` is that CA.
    let data = gw.data_dir();
    let tls = |implicit: bool| SmtpTls {
        implicit,
        cert: data.join("tls/server.pem"),
        key: data.join("tls/server.key"),
        user: "sekisho".into(),
        password: "correct horse battery".into(),
    };
    for (implicit, scheme) in [(false, "smtp"), (true, "smtps")] {
        let Some(smtp) = SmtpServer::start_tls(tls(implicit)) else {
            return;
        };
        reconfigure_mail(&mut gw, &tls_patch(scheme, smtp.port));
        let _ = gw.login(&staff);
        send_class_ii(&gw, &staff, &["partner"]);
        let mails = smtp.wait_for(1, ARRIVAL);
        let asked = only_mail_to(&mails, "jicho@city.example.lg.jp");
        assert!(asked.tls, "{scheme}: the mail did not go over TLS");
        assert!(asked.authenticated, "{scheme}: the gateway did not log in");
        assert!(asked.subject.contains("承認依頼"), "{}", asked.subject);
    }

    // A server that offers no STARTTLS is refused before anything is sent:
    // the mail waits in the outbox with the reason, nothing goes in clear.
    let Some(plain) = SmtpServer::start() else {
        return;
    };
    reconfigure_mail(&mut gw, &tls_patch("smtp", plain.port));
    let _ = gw.login(&staff);
    send_class_ii(&gw, &staff, &["partner"]);
    wait_until("a failed attempt in the outbox", || {
        query_text(
            &gw.database_url,
            "SELECT last_error FROM mail_outbox WHERE state = 'queued' AND attempts > 0",
        )
        .is_ok_and(|rows| !rows.is_empty())
    });
    assert!(plain.received().is_empty(), "a mail went out without TLS");
    let status = text(&gw.admin_command(&["status"]));
    assert!(status.contains("1 waiting in the outbox"), "{status}");
    gw.stop().expect("stop");
}
