//! Stand-in approvers (代理承認) and requests nobody decides, end to end
//! against a real SMTP server: who decides and who is mailed while an
//! approver is away, what the record says, that nobody approves their own
//! request as stand-in or not, that a delegation past its end grants
//! nothing, and that reminders and expiry follow the gateway's clock (the
//! tests move it instead of sleeping).

use std::time::Duration;

use sekisho_e2e::*;
use serde_json::Value;

const ARRIVAL: Duration = Duration::from_secs(60);
const DAY: i64 = 86_400;

fn options(smtp: &SmtpServer) -> GatewayOptions {
    let mut config_patch = vec![(
        "housekeeping".to_string(),
        "interval_seconds".to_string(),
        "1".to_string(),
    )];
    config_patch.extend(smtp.config_patch());
    GatewayOptions { config_patch }
}

/// An account with a mail address of its own name.
fn person(gw: &Gateway, admin: &Account, name: &str, role: &str) -> Account {
    let account = gw.user(admin, name, role);
    let address = mail_of(name);
    let out = gw
        .cli(admin)
        .run(&["--json", "admin", "user", "email", name, &address]);
    assert_eq!(json_of(&out)["email"], address.as_str());
    account
}

fn mail_of(name: &str) -> String {
    format!("{name}@city.example.lg.jp")
}

/// The day `days` from the gateway's now, as a clerk in Japan names it.
fn japan_day(gw: &Gateway, days: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(gw.now() + days * DAY)
        .expect("time")
        .to_offset(time::macros::offset!(+9));
    format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

fn send(gw: &Gateway, sender: &Account, purpose: &str) -> String {
    let file = gw.dir.path().join(format!("{}.txt", sender.username));
    std::fs::write(&file, b"figures for the council").expect("file");
    let sent = json_of(&gw.cli(sender).run(&[
        "--json",
        "send",
        &file.display().to_string(),
        "--class",
        "II",
        "--purpose",
        purpose,
        "--to",
        "partner",
    ]));
    json_str(&sent["transfer"]["id"]).expect("transfer id")
}

fn decide(gw: &Gateway, who: &Account, id: &str) -> std::process::Output {
    let code = gw.otp(&who.totp_secret);
    gw.cli(who).run(&["approve", id, "--otp", &code])
}

fn shown(gw: &Gateway, who: &Account, id: &str) -> Value {
    json_of(&gw.cli(who).run(&["--json", "show", id]))
}

fn mails_to(smtp: &SmtpServer, name: &str) -> Vec<ReceivedMail> {
    smtp.received_by(&mail_of(name))
}

/// Waits until `name` has `count` mails, and returns them.
fn wait_for_mails(smtp: &SmtpServer, name: &str, count: usize) -> Vec<ReceivedMail> {
    smtp.wait_for_mails_to(&mail_of(name), count, ARRIVAL)
}

fn events(gw: &Gateway, action: &str) -> Vec<sekisho_proto::AuditEvent> {
    stored_events_of(&gw.database_url, action)
}

/// Lets a few housekeeping rounds (one a second here) pass, so that a
/// mail that should not be sent would have been: the one wait for an
/// absence, since nothing arrives to wait for.
fn settle() {
    std::thread::sleep(Duration::from_millis(3000));
}

#[test]
fn a_stand_in_decides_and_is_mailed_in_the_absent_approvers_place_and_never_for_their_own() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = Gateway::start_with(options(&smtp));
    let admin = gw.admin_ready();
    let staff = person(&gw, &admin, "tanaka", "staff");
    let jicho = person(&gw, &admin, "jicho", "approver");
    let kacho = person(&gw, &admin, "kacho", "approver");
    let ciso = person(&gw, &admin, "ciso", "ciso");
    for sender in [&staff, &jicho, &kacho] {
        add_age_partner(&gw, sender);
    }
    let until = japan_day(&gw, 7);

    // Who may name whom: not staff, not for someone else, not a staff
    // member as stand-in, not oneself.
    assert_failure(
        &gw.cli(&staff)
            .run(&["delegate", "--to", "kacho", "--until", &until]),
        "approver or the CISO",
    );
    assert_failure(
        &gw.cli(&kacho).run(&[
            "delegate", "--to", "kacho", "--until", &until, "--for", "jicho",
        ]),
        "names their own stand-in",
    );
    assert_failure(
        &gw.cli(&jicho)
            .run(&["delegate", "--to", "tanaka", "--until", &until]),
        "another approver or the CISO",
    );
    assert_failure(
        &gw.cli(&jicho)
            .run(&["delegate", "--to", "jicho", "--until", &until]),
        "themselves",
    );
    assert_failure(
        &gw.cli(&jicho)
            .run(&["delegate", "--to", "kacho", "--until", "2020-01-01"]),
        "past",
    );
    assert_failure(
        &gw.cli(&jicho)
            .run(&["delegate", "--to", "kacho", "--until", &japan_day(&gw, 200)]),
        "92 days",
    );
    assert!(events(&gw, "delegation.set").is_empty());

    // jicho is away for a week: the CISO stands in (the CISO is not told of
    // staff requests otherwise).
    let out = gw
        .cli(&jicho)
        .run(&["--json", "delegate", "--to", "ciso", "--until", &until]);
    let set = json_of(&out);
    assert_eq!(set["approver"], "jicho", "{set}");
    assert_eq!(set["stand_in"], "ciso", "{set}");
    assert_eq!(set["in_effect"], true, "{set}");
    let named = wait_for_mails(&smtp, "ciso", 1);
    assert!(
        named[0].subject.contains("代理承認者"),
        "{}",
        named[0].subject
    );
    assert!(named[0].text.contains("jicho"), "{}", named[0].text);
    let listed = json_of(&gw.cli(&admin).run(&["--json", "delegate"]));
    assert_eq!(listed[0]["stand_in"], "ciso", "{listed}");

    let id = send(&gw, &staff, "議会資料の送付");
    let asked = wait_for_mails(&smtp, "ciso", 2);
    assert!(
        asked[1].subject.contains("承認依頼"),
        "{}",
        asked[1].subject
    );
    assert!(
        asked[1].text.contains("jicho さんの代理承認者として"),
        "{}",
        asked[1].text
    );
    // kacho (no stand-in, an approver) is told as always; jicho is away.
    wait_for_mails(&smtp, "kacho", 1);
    settle();
    assert!(
        mails_to(&smtp, "jicho").is_empty(),
        "the absent approver was mailed"
    );

    // The CISO decides; the record says for whom.
    assert_success(&decide(&gw, &ciso, &id), "the stand-in approves");
    let view = shown(&gw, &staff, &id);
    assert_eq!(view["decision"]["by"], "ciso", "{view}");
    assert_eq!(view["decision"]["on_behalf_of"], "jicho", "{view}");
    let shown_text = text(&gw.cli(&staff).run(&["show", &id]));
    assert!(shown_text.contains("as stand-in for jicho"), "{shown_text}");
    let approval = events(&gw, "transfer.approve")
        .pop()
        .expect("approval event");
    let detail: Value = serde_json::from_str(&approval.detail).expect("detail");
    assert_eq!(detail["on_behalf_of"], "jicho", "{detail}");
    let told = wait_for_mails(&smtp, "tanaka", 1);
    assert!(told[0].text.contains("jicho の代理"), "{}", told[0].text);

    // The CISO is away next, with kacho as stand-in: kacho now decides an
    // approver's request, which only the CISO could before.
    assert_success(
        &gw.cli(&ciso)
            .run(&["delegate", "--to", "kacho", "--until", &until]),
        "the CISO names a stand-in",
    );
    let of_jicho = send(&gw, &jicho, "次長の資料");
    let kacho_mails = wait_for_mails(&smtp, "kacho", 3);
    assert!(
        kacho_mails
            .iter()
            .any(|m| m.text.contains("ciso さんの代理承認者として")),
        "{kacho_mails:#?}"
    );
    // kacho's own request goes to the CISO's queue, which kacho now holds,
    // and is still refused to kacho: nobody approves their own request.
    let of_kacho = send(&gw, &kacho, "課長の資料");
    assert_failure(&decide(&gw, &kacho, &of_kacho), "own request");
    assert_eq!(shown(&gw, &kacho, &of_kacho)["state"], "pending_approval");
    // Since kacho cannot decide it, the CISO is told after all.
    let ciso_mails = wait_for_mails(&smtp, "ciso", 3);
    assert!(
        ciso_mails.last().is_some_and(|m| m.text.contains("kacho")),
        "{ciso_mails:#?}"
    );
    assert_success(
        &decide(&gw, &kacho, &of_jicho),
        "the CISO's stand-in approves",
    );
    assert_eq!(
        shown(&gw, &jicho, &of_jicho)["decision"]["on_behalf_of"],
        "ciso"
    );

    // A week and a day later the delegations have ended: kacho may no
    // longer decide an approver's request.
    let later = send(&gw, &jicho, "翌週の資料");
    gw.advance(8 * DAY);
    for who in [&kacho, &ciso, &jicho, &staff, &admin] {
        assert_success(&gw.login(who), "log in again after a week");
    }
    assert_failure(&decide(&gw, &kacho, &later), "CISO");
    let listed = json_of(&gw.cli(&admin).run(&["--json", "delegate"]));
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");

    // A sysadmin names one for an approver, and jicho clears it.
    assert_success(
        &gw.cli(&admin).run(&[
            "delegate",
            "--for",
            "jicho",
            "--to",
            "kacho",
            "--until",
            &japan_day(&gw, 3),
        ]),
        "a sysadmin names a stand-in",
    );
    assert_eq!(
        json_of(&gw.cli(&jicho).run(&["--json", "delegate"]))[0]["set_by"],
        "admin"
    );
    assert_success(&gw.cli(&jicho).run(&["delegate", "--clear"]), "clear");
    assert_failure(&gw.cli(&jicho).run(&["delegate", "--clear"]), "no stand-in");
    assert_eq!(events(&gw, "delegation.set").len(), 3);
    assert_eq!(events(&gw, "delegation.clear").len(), 1);
    gw.stop().expect("stop");
}

#[test]
fn an_undecided_request_is_reminded_once_then_expires_and_is_erased() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let mut gw = Gateway::start_with(options(&smtp));
    let admin = gw.admin_ready();
    let staff = person(&gw, &admin, "tanaka", "staff");
    let jicho = person(&gw, &admin, "jicho", "approver");
    add_age_partner(&gw, &staff);
    let id = send(&gw, &staff, "放置された申請");
    wait_for_mails(&smtp, "jicho", 1);

    // 23 hours: no reminder yet; 25 hours: one.
    gw.advance(23 * 3600);
    settle();
    assert_eq!(mails_to(&smtp, "jicho").len(), 1);
    gw.advance(2 * 3600);
    let reminded = wait_for_mails(&smtp, "jicho", 2);
    let reminder = &reminded[1];
    assert!(reminder.subject.contains("再通知"), "{}", reminder.subject);
    assert!(
        reminder.subject.contains("Reminder"),
        "{}",
        reminder.subject
    );
    assert!(
        reminder.text.contains(&format!("/transfers/{id}")),
        "{}",
        reminder.text
    );
    assert_eq!(events(&gw, "approval.remind").len(), 1);
    // Only once.
    gw.advance(24 * 3600);
    settle();
    assert_eq!(mails_to(&smtp, "jicho").len(), 2);

    // Ten days after submission it expires: nothing is released, the sender
    // is told, and it can no longer be approved.
    gw.advance(8 * DAY);
    let expired = wait_for_mails(&smtp, "tanaka", 1);
    assert!(
        expired[0].subject.contains("期限切れ"),
        "{}",
        expired[0].subject
    );
    assert!(expired[0].text.contains("10 日"), "{}", expired[0].text);
    assert_success(&gw.login(&jicho), "log in again");
    assert_failure(&decide(&gw, &jicho, &id), "not waiting");
    let event = events(&gw, "transfer.expire").pop().expect("expire event");
    let detail: Value = serde_json::from_str(&event.detail).expect("detail");
    assert_eq!(detail["reason"], "undecided", "{detail}");
    // Retention erases it as it does a rejected one (closed_days = 0).
    let started = std::time::Instant::now();
    while !deletion_done(&gw.database_url, &id) {
        assert!(
            started.elapsed() < ARRIVAL,
            "the expired request was not erased"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_success(&gw.login(&staff), "log in again");
    let certificate = json_of(&gw.cli(&staff).run(&["--json", "deletion", "show", &id]));
    assert!(
        certificate["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("expired undecided"),
        "{certificate}"
    );
    assert!(
        smtp.received()
            .iter()
            .all(|m| !m.to.iter().any(|t| t == "p@example.jp")),
        "the recipient heard of a request that was never released"
    );
    gw.stop().expect("stop");
}
