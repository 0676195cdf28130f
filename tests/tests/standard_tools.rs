//! 2.(2)⑦(ア): what leaves the office opens with standard tools, not only
//! with `sekisho receive`. One class II transfer goes to three recipients,
//! one per kind of key (an age X25519 key, an SSH key, a passphrase); each
//! downloaded package is opened by rage (the age crate's own CLI) and by
//! Debian's Go `age`, untarred, and checked with `sha256sum -c`.
//!
//! The Go `age` reads a passphrase only from a terminal, so the passphrase
//! package is opened under `script`, which gives it a pseudo-terminal whose
//! input is the test's pipe, as a person at a keyboard would type it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sekisho_e2e::*;

const CONTENT: &str = "氏名,住所\n山田,萩市\n";

fn ssh_key(dir: &Path) -> PathBuf {
    let key = dir.join("id_ed25519");
    let status = Command::new(which("ssh-keygen"))
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "made by the test",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
    key
}

fn add_recipient(gw: &Gateway, staff: &Account, name: &str, key: &[&str]) {
    let mut args = vec![
        "recipient",
        "add",
        name,
        "--org",
        "外部機関",
        "--email",
        "desk@example.jp",
    ];
    args.extend_from_slice(key);
    assert_success(&gw.cli(staff).run(&args), "recipient add");
}

/// Downloads the recipient's package into its own folder.
fn download(gw: &Gateway, url: &str, folder: &Path) -> PathBuf {
    std::fs::create_dir_all(folder).expect("folder");
    let response = gw.http().post(url).send().expect("download");
    assert_eq!(response.status().as_u16(), 200, "download of {url}");
    let bytes = response.bytes().expect("package");
    assert!(
        bytes.starts_with(b"age-encryption.org/v1"),
        "not an age file"
    );
    let path = folder.join("package.tar.age");
    std::fs::write(&path, &bytes).expect("write package");
    path
}

/// Untars a decrypted package in `folder` and checks its files with
/// `sha256sum -c`, as the README's manual path says.
fn untar_and_check(tar: &Path, folder: &Path) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -x -f '{}' -C '{}' && cd '{}' && sha256sum -c --quiet SHA256SUMS",
            tar.display(),
            folder.display(),
            folder.display()
        ))
        .status()
        .expect("tar");
    assert!(
        status.success(),
        "the package in {} did not check",
        folder.display()
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("files").join("住民名簿.csv")).expect("file"),
        CONTENT
    );
}

/// `tool -d -i identity package` into a fresh folder, then the checks.
fn open_with_identity(tool: &Path, identity: &Path, package: &Path, folder: &Path) {
    std::fs::create_dir_all(folder).expect("folder");
    let tar = folder.join("package.tar");
    let out = Command::new(tool)
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg("-o")
        .arg(&tar)
        .arg(package)
        .output()
        .expect("decrypt");
    assert!(
        out.status.success(),
        "{} could not open {}: {}",
        tool.display(),
        package.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    untar_and_check(&tar, folder);
}

/// Debian's `age -d` on a passphrase package into `tar`, the passphrase
/// typed at the pseudo-terminal `script` gives it.
fn age_with_typed_passphrase(package: &Path, passphrase: &str, tar: &Path) -> std::process::Output {
    let command = format!(
        "{} -d -o '{}' '{}'",
        which("age").display(),
        tar.display(),
        package.display()
    );
    let mut child = Command::new(which("script"))
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{passphrase}\n").as_bytes())
            .expect("type the passphrase");
    }
    child.wait_with_output().expect("age under script")
}

#[test]
fn r02_2_7_a_rage_and_debian_age_open_every_kind_of_package() {
    let mut gw = Gateway::start();
    let admin = gw.admin_ready();
    let staff = gw.user(&admin, "tanaka", "staff");
    let approver = gw.user(&admin, "jicho", "approver");
    let keys = gw.dir.path().join("outside-keys");
    std::fs::create_dir_all(&keys).expect("keys");
    let (age_identity_file, age_recipient) = age_identity(&keys, "partner");
    let ssh = ssh_key(&keys);
    add_recipient(&gw, &staff, "partner", &["--age-key", &age_recipient]);
    let ssh_pub = ssh.with_extension("pub").display().to_string();
    add_recipient(&gw, &staff, "city-hall", &["--ssh-key", &ssh_pub]);
    add_recipient(&gw, &staff, "clinic", &["--passphrase"]);

    let file = gw.dir.path().join("住民名簿.csv");
    std::fs::write(&file, CONTENT).expect("file");
    let file = file.display().to_string();
    let sent = json_of(&gw.cli(&staff).run(&[
        "--json",
        "send",
        &file,
        "--class",
        "II",
        "--to",
        "partner",
        "--to",
        "city-hall",
        "--to",
        "clinic",
        "--purpose",
        "照会への回答",
    ]));
    let id = json_str(&sent["transfer"]["id"]).expect("transfer id");
    let passphrase = json_str(&sent["passphrases"][0]["passphrase"]).expect("passphrase");
    let code = gw.otp(&approver.totp_secret);
    assert_success(
        &gw.cli(&approver).run(&["approve", &id, "--otp", &code]),
        "approve",
    );
    let links = json_of(&gw.cli(&staff).run(&["--json", "link", &id]));
    let url_of = |name: &str| {
        links
            .as_array()
            .and_then(|all| all.iter().find(|l| l["recipient"] == name))
            .and_then(|l| l["url"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no link for {name}: {links}"))
    };

    let work = gw.dir.path().join("opened");
    let rage = which("rage");
    let age = which("age");

    let package = download(&gw, &url_of("partner"), &work.join("partner"));
    open_with_identity(
        &rage,
        &age_identity_file,
        &package,
        &work.join("partner-rage"),
    );
    open_with_identity(
        &age,
        &age_identity_file,
        &package,
        &work.join("partner-age"),
    );

    let package = download(&gw, &url_of("city-hall"), &work.join("city-hall"));
    open_with_identity(&age, &ssh, &package, &work.join("city-hall-age"));
    open_with_identity(&rage, &ssh, &package, &work.join("city-hall-rage"));

    let package = download(&gw, &url_of("clinic"), &work.join("clinic"));
    let opened = work.join("clinic-age");
    std::fs::create_dir_all(&opened).expect("folder");
    let out = age_with_typed_passphrase(&package, &passphrase, &opened.join("package.tar"));
    assert!(
        out.status.success(),
        "age could not open the passphrase package: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    untar_and_check(&opened.join("package.tar"), &opened);
    // The same tool with a wrong passphrase opens nothing.
    let wrong = work.join("clinic-wrong");
    std::fs::create_dir_all(&wrong).expect("folder");
    let out = age_with_typed_passphrase(&package, "not-the-passphrase", &wrong.join("package.tar"));
    assert!(
        !out.status.success(),
        "a wrong passphrase opened the package"
    );
    assert!(!wrong.join("files").exists());
}
