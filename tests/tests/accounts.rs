//! Accounts over their life (policy 5.(4)①, 6.(2)②, 7.(5)②): suspended
//! and enabled again, moved to another post, retired when their holder
//! leaves. Each change is an audit event, and each one that takes rights
//! away ends the account's sessions at once.

use sekisho_e2e::*;
use serde_json::Value;

struct World {
    gw: Gateway,
    admin: Account,
}

fn world() -> World {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    World { gw, admin }
}

/// The last event of `action` about `user:<name>`.
fn last_event(w: &World, action: &str, name: &str) -> sekisho_proto::AuditEvent {
    stored_events(&w.gw.database_url)
        .expect("events")
        .into_iter()
        .rev()
        .find(|e| e.action == action && e.object == format!("user:{name}"))
        .unwrap_or_else(|| panic!("no {action} event about {name}"))
}

fn detail(event: &sekisho_proto::AuditEvent) -> Value {
    serde_json::from_str(&event.detail).unwrap_or_default()
}

fn status_of(w: &World, name: &str) -> String {
    let users = json_of(&w.gw.cli(&w.admin).run(&["--json", "admin", "user", "list"]));
    users
        .as_array()
        .and_then(|all| all.iter().find(|u| u["username"] == name))
        .map(|u| {
            format!(
                "{}/{}",
                u["status"].as_str().unwrap_or(""),
                u["role"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default()
}

fn whoami_works(w: &World, account: &Account) -> bool {
    w.gw.cli(account).run(&["whoami"]).status.success()
}

#[test]
fn r07_5_2_a_manager_or_the_ciso_suspends_a_violator_at_once_and_only_a_sysadmin_enables() {
    let w = world();
    let manager = w.gw.user(&w.admin, "kakaricho", "manager");
    let ciso = w.gw.user(&w.admin, "ciso", "ciso");
    let violator = w.gw.user(&w.admin, "ihan", "staff");
    let colleague = w.gw.user(&w.admin, "doryo", "staff");
    assert!(whoami_works(&w, &violator));

    // A member of staff cannot suspend anyone.
    assert_failure(
        &w.gw
            .cli(&colleague)
            .run(&["admin", "user", "disable", "ihan"]),
        "only a sysadmin, a manager or the CISO",
    );
    assert_eq!(status_of(&w, "ihan"), "active/staff");

    // The manager suspends: the session ends at once, no login works.
    assert_success(
        &w.gw
            .cli(&manager)
            .run(&["admin", "user", "disable", "ihan"]),
        "the manager suspends",
    );
    assert!(
        !whoami_works(&w, &violator),
        "the suspended session went on"
    );
    assert_failure(&w.gw.login(&violator), "disabled");
    let event = last_event(&w, "user.disable", "ihan");
    assert_eq!(event.actor, "kakaricho");
    assert_eq!(detail(&event)["by_role"], "manager");
    assert!(
        detail(&event)["sessions_ended"].as_u64().unwrap_or(0) >= 1,
        "{}",
        event.detail
    );
    let refused = last_event(&w, "login.fail", "ihan");
    assert!(
        refused.detail.contains("account disabled"),
        "{}",
        refused.detail
    );

    // Neither the manager nor the CISO may enable it again; the sysadmin may.
    for who in [&manager, &ciso] {
        assert_failure(
            &w.gw.cli(who).run(&["admin", "user", "enable", "ihan"]),
            "only a sysadmin",
        );
    }
    assert_success(
        &w.gw.cli(&w.admin).run(&["admin", "user", "enable", "ihan"]),
        "the sysadmin enables",
    );
    assert_eq!(last_event(&w, "user.enable", "ihan").actor, "admin");
    assert_success(&w.gw.login(&violator), "login after enabling");

    // The CISO suspends too; nobody suspends themselves.
    assert_success(
        &w.gw.cli(&ciso).run(&["admin", "user", "disable", "ihan"]),
        "the CISO suspends",
    );
    assert_eq!(
        detail(&last_event(&w, "user.disable", "ihan"))["by_role"],
        "ciso"
    );
    assert_failure(
        &w.gw
            .cli(&manager)
            .run(&["admin", "user", "disable", "kakaricho"]),
        "your own account",
    );
}

#[test]
fn r05_4_1_a_role_change_ends_the_sessions_and_is_recorded() {
    let w = world();
    let mover = w.gw.user(&w.admin, "ido", "staff");
    let manager = w.gw.user(&w.admin, "kakaricho", "manager");
    let me = json_of(&w.gw.cli(&mover).run(&["--json", "whoami"]));
    assert_eq!(me["role"], "staff", "{me}");

    // Only a sysadmin changes roles, never their own.
    assert_failure(
        &w.gw
            .cli(&manager)
            .run(&["admin", "user", "role", "ido", "--role", "approver"]),
        "only a sysadmin",
    );
    assert_failure(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "role", "admin", "--role", "approver"]),
        "your own role",
    );
    assert_failure(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "role", "ido", "--role", "staff"]),
        "already has the role",
    );
    assert_failure(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "role", "nobody", "--role", "staff"]),
        "not found",
    );

    let out = w.gw.cli(&w.admin).run(&[
        "--json", "admin", "user", "role", "ido", "--role", "approver",
    ]);
    assert_eq!(json_of(&out)["role"], "approver");
    assert_eq!(status_of(&w, "ido"), "active/approver");
    // The session opened as staff is over; the next one has the new role.
    assert!(!whoami_works(&w, &mover), "a session kept the old role");
    let event = last_event(&w, "user.role", "ido");
    assert_eq!(event.actor, "admin");
    let d = detail(&event);
    assert_eq!(
        (d["from"].as_str(), d["to"].as_str()),
        (Some("staff"), Some("approver"))
    );
    assert!(d["sessions_ended"].as_u64().unwrap_or(0) >= 1, "{d}");
    assert_success(&w.gw.login(&mover), "login with the new role");
    let me = json_of(&w.gw.cli(&mover).run(&["--json", "whoami"]));
    assert_eq!(me["role"], "approver", "{me}");
    assert_success(&w.gw.cli(&mover).run(&["pending"]), "the approver's queue");
}

#[test]
fn r06_2_2_a_retired_account_keeps_its_history_and_never_logs_in_again() {
    let w = world();
    let leaver = w.gw.user(&w.admin, "taishoku", "staff");
    let manager = w.gw.user(&w.admin, "kakaricho", "manager");
    let (_, recipient) = age_identity(w.gw.dir.path(), "partner");
    assert_success(
        &w.gw.cli(&leaver).run(&[
            "recipient",
            "add",
            "partner",
            "--org",
            "Hagi",
            "--email",
            "p@example.jp",
            "--age-key",
            &recipient,
        ]),
        "the leaver's own work",
    );
    let history_before = stored_events(&w.gw.database_url)
        .expect("events")
        .iter()
        .filter(|e| e.actor == "taishoku")
        .count();
    assert!(history_before >= 2);

    assert_failure(
        &w.gw
            .cli(&manager)
            .run(&["admin", "user", "retire", "taishoku"]),
        "only a sysadmin",
    );
    assert_failure(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "retire", "admin"]),
        "your own account",
    );
    let out =
        w.gw.cli(&w.admin)
            .run(&["--json", "admin", "user", "retire", "taishoku"]);
    assert_eq!(json_of(&out)["status"], "retired");
    assert!(
        !whoami_works(&w, &leaver),
        "the retired account's session went on"
    );
    let event = last_event(&w, "user.retire", "taishoku");
    assert_eq!(event.actor, "admin");
    assert!(detail(&event)["sessions_ended"].as_u64().unwrap_or(0) >= 1);

    // Never again: no login, no enabling, no new role, no second account
    // under the same name (its records stay unambiguous).
    assert_failure(&w.gw.login(&leaver), "retired");
    assert!(
        last_event(&w, "login.fail", "taishoku")
            .detail
            .contains("account retired")
    );
    assert_failure(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "enable", "taishoku"]),
        "retired",
    );
    assert_failure(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "role", "taishoku", "--role", "approver"]),
        "retired",
    );
    assert_failure(
        &w.gw
            .cli(&w.admin)
            .run(&["admin", "user", "add", "taishoku", "--role", "staff"]),
        "taishoku",
    );
    assert_eq!(status_of(&w, "taishoku"), "retired/staff");
    let listed = text(&w.gw.cli(&w.admin).run(&["admin", "user", "list"]));
    assert!(listed.contains("廃止 retired"), "{listed}");

    // The history stays, and the chain still verifies.
    let history_after = stored_events(&w.gw.database_url)
        .expect("events")
        .iter()
        .filter(|e| e.actor == "taishoku")
        .count();
    assert!(history_after >= history_before);
    let auditor = w.gw.user(&w.admin, "kansa", "auditor");
    let report = json_of(&w.gw.cli(&auditor).run(&["--json", "audit", "verify"]));
    assert!(report["first_bad"].is_null(), "{report}");
}
