//! `media register|list|checkout|write|checkin|dispose|carry-in|arrivals`: removable
//! media (持ち出し・持ち込み): the ledger, carry-out requests, writing the
//! approved package onto the medium (and reading it back), returns,
//! carry-ins, the arrivals ledger (each return and carry-in with the scan of
//! its files) and requests to wipe or dispose of a medium. A carry-out is a
//! transfer whose recipient is the medium, so it is uploaded, approved and
//! packaged like any other; wipe and disposal requests are decided through
//! `approve` and `reject`, which use [`try_decide`] and [`describe_disposal`].

use sekisho_proto::vocab::PackageEncryption;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sekisho_proto::media::{
    ArrivalKind, ArrivalView, CarryIn, MediumDisposalKind, MediumDisposalRequest,
    MediumDisposalView, MediumState, MediumView, RegisterMedium, WrittenReport,
};
use sekisho_proto::vocab::MediumDisposalState;
use sekisho_proto::{
    Class, CreateTransferRequest, HEADER_CLASS, HEADER_ENCRYPTION, LinkView, TransferState,
    TransferView, package_file_name,
};
use sha2::{Digest, Sha256};

use super::send::{check_files, create_and_upload, new_files, print_submitted};
use super::values;
use crate::config::Config;
use crate::output::{Table, print_json, short_time};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Register a medium in the ledger (sysadmin).
    Register {
        /// The medium's id, as written on it (e.g. USB-001).
        id: String,
        #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
        label: String,
        #[arg(long = "type", value_name = "TYPE", default_value = "USB")]
        media_type: String,
        #[arg(long, value_name = "SECTION", default_value = "総務")]
        section: String,
    },
    /// The ledger; --overdue lists only media past their return date.
    List {
        #[arg(long)]
        overdue: bool,
    },
    /// Ask to carry files out on a registered medium (always needs approval).
    Checkout(CheckoutArgs),
    /// Write an approved carry-out onto the medium and check it.
    Write {
        /// The carry-out's id.
        checkout: String,
        /// Where the medium is mounted.
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
    },
    /// Record that a medium came back.
    Checkin {
        /// The medium's id.
        id: String,
    },
    /// Ask to wipe or dispose of a medium (needs an approver's decision).
    Dispose {
        /// The medium's id.
        id: String,
        /// `wipe` keeps the medium in use; `dispose` retires it for good.
        #[arg(long, value_name = "wipe|dispose",
              value_parser = values::vocabulary(MediumDisposalKind::ALL, MediumDisposalKind::as_str))]
        kind: MediumDisposalKind,
        /// How it is done, e.g. "全領域上書き消去" or "物理破壊".
        #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
        method: String,
        #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
        reason: String,
    },
    /// Record an outside medium brought in (its files go through the inbound scan).
    CarryIn {
        /// The medium's id or label.
        id: String,
        #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
        purpose: String,
        /// Who it came from.
        #[arg(long, value_name = "TEXT")]
        origin: Option<String>,
    },
    /// Returns and carry-ins, each with the scan of its files;
    /// --unscanned lists those whose files were never taken in.
    Arrivals {
        #[arg(long)]
        unscanned: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct CheckoutArgs {
    /// The registered medium.
    #[arg(long, value_name = "ID")]
    pub medium: String,
    /// Why the files are carried out.
    #[arg(long, value_name = "TEXT", value_parser = values::non_blank)]
    pub purpose: String,
    /// When the medium comes back: YYYY-MM-DD or an RFC 3339 time.
    #[arg(long = "return-by", value_name = "DATE")]
    pub return_by: String,
    /// Classification of the files: I, II or III.
    #[arg(long, value_name = "I|II|III", value_parser = values::class)]
    pub class: Class,
    /// A different class for one file, as NAME=CLASS.
    #[arg(long = "file-class", value_name = "NAME=CLASS", value_parser = values::file_class)]
    pub file_class: Vec<(String, Class)>,
    /// Lock I/II to this age public key instead of a generated passphrase.
    #[arg(long = "age-key", value_name = "age1...")]
    pub age_key: Option<String>,
    /// The files to carry out.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(cfg: &Config, command: Command) -> Result<()> {
    match command {
        Command::Register {
            id,
            label,
            media_type,
            section,
        } => register(cfg, id, label, media_type, section),
        Command::List { overdue } => list(cfg, overdue),
        Command::Checkout(args) => checkout(cfg, args),
        Command::Write { checkout, to } => write(cfg, &checkout, &to),
        Command::Checkin { id } => checkin(cfg, &id),
        Command::Dispose {
            id,
            kind,
            method,
            reason,
        } => dispose(cfg, &id, kind, method, reason),
        Command::CarryIn {
            id,
            purpose,
            origin,
        } => carry_in(cfg, &id, purpose, origin),
        Command::Arrivals { unscanned } => arrivals(cfg, unscanned),
    }
}

fn register(
    cfg: &Config,
    id: String,
    label: String,
    media_type: String,
    section: String,
) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let body = RegisterMedium {
        id,
        label,
        media_type,
        section,
    };
    let medium: MediumView = api
        .post(api.url(&["media"])?, &body)
        .context("the medium was not registered")?;
    if cfg.json {
        return print_json(&medium);
    }
    println!(
        "Medium {} ({}, {}) registered for {}.",
        medium.id, medium.label, medium.media_type, medium.section
    );
    Ok(())
}

fn list(cfg: &Config, overdue: bool) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let mut url = api.url(&["media"])?;
    if overdue {
        url.set_query(Some("overdue=true"));
    }
    let media: Vec<MediumView> = api.get(url)?;
    if cfg.json {
        return print_json(&media);
    }
    if media.is_empty() {
        println!(
            "{}",
            if overdue {
                "No medium is overdue."
            } else {
                "No media are registered."
            }
        );
        return Ok(());
    }
    let mut table = Table::new([
        "ID",
        "LABEL",
        "SECTION",
        "STATE 状態",
        "CARRIED OUT BY",
        "RETURN BY",
        "OVERDUE",
    ]);
    for m in &media {
        let (who, by, late) = match &m.checkout {
            Some(c) => (
                c.requester.clone(),
                short_time(&c.return_by),
                if c.overdue { "延滞 OVERDUE" } else { "" }.to_string(),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        let state = match m.state {
            MediumState::Available => "保管中 in office",
            MediumState::Out => "持出中 out",
            MediumState::Disposed => "廃棄済み disposed",
        };
        table.row([
            m.id.clone(),
            m.label.clone(),
            m.section.clone(),
            state.to_string(),
            who,
            by,
            late,
        ]);
    }
    table.print();
    Ok(())
}

fn checkout(cfg: &Config, args: CheckoutArgs) -> Result<()> {
    let purpose = args.purpose.trim().to_string();
    if purpose.is_empty() {
        bail!("say why the files are carried out with --purpose TEXT");
    }
    let files = check_files(&args.files)?;
    let (api, _session) = super::logged_in(cfg)?;
    let request = CreateTransferRequest {
        class: Some(args.class.as_str().to_string()),
        purpose: Some(purpose),
        recipients: Vec::new(),
        files: new_files(&files, &args.file_class),
        medium: Some(args.medium.clone()),
        return_by: Some(args.return_by.clone()),
        medium_key: args.age_key.clone(),
    };
    let answer = create_and_upload(cfg, &api, &request, &files, "sekisho media checkout")?;
    if cfg.json {
        return print_json(&answer);
    }
    print_submitted(&answer);
    println!(
        "Once approved, write it onto {} with `sekisho media write {} --to PATH`.",
        args.medium, answer.transfer.id
    );
    Ok(())
}

/// Downloads the approved package through the medium's own link, writes it
/// under `to`, reads it back to check every byte, and tells the gateway.
fn write(cfg: &Config, checkout: &str, to: &Path) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let transfer: TransferView = api.get(api.url(&["transfers", checkout])?)?;
    if transfer.medium.is_none() {
        bail!("{checkout} is not a carry-out; use `sekisho media checkout` for media");
    }
    if transfer.state != TransferState::Released {
        bail!(
            "carry-out {checkout} is {}: only an approved carry-out can be written",
            transfer.state.label()
        );
    }
    let links: Vec<LinkView> = api.get(api.url(&["transfers", checkout, "links"])?)?;
    let link = links
        .first()
        .with_context(|| format!("carry-out {checkout} has no package to write"))?;
    if !to.is_dir() {
        bail!(
            "{} is not a folder; give the medium's mount point, e.g. /media/usb",
            to.display()
        );
    }
    let link_url = reqwest::Url::parse(&link.url).context("the gateway gave a malformed link")?;
    let response = crate::http::download(
        cfg.ca_path()?,
        &link_url,
        std::time::Duration::from_secs(300),
    )
    .with_context(|| format!("could not download the package of {checkout}"))?;
    let encrypted = response
        .headers
        .get(HEADER_ENCRYPTION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<PackageEncryption>().ok())
        == Some(PackageEncryption::Age);
    let class = response
        .headers
        .get(HEADER_CLASS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(transfer.class);
    let name = package_file_name(checkout, class, encrypted);
    let target = sekisho_proto::names::join_one(to, &name).map_err(|why| {
        anyhow::anyhow!("the package name {name} cannot be written on the medium: {why}")
    })?;
    if target.exists() {
        bail!(
            "{} already exists on the medium; nothing was overwritten",
            target.display()
        );
    }
    let partial = to.join(format!(".{name}.partial"));
    let (size, written_digest) = {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .with_context(|| format!("cannot write to {}", to.display()))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut reader = BufReader::with_capacity(1 << 20, response.body);
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buffer)
                .context("the download was interrupted")?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            file.write_all(&buffer[..n])?;
            size += n as u64;
        }
        file.sync_all()
            .context("the medium did not confirm the write")?;
        (size, hex::encode(hasher.finalize()))
    };
    std::fs::rename(&partial, &target)?;
    // Read back what the medium now holds: a bad stick must not leave the office unnoticed.
    let read_back = hash_file(&target)?;
    if read_back != written_digest {
        let _ = std::fs::remove_file(&target);
        bail!("the medium returned different bytes than were written; use another medium");
    }
    let report = WrittenReport {
        file_name: name.clone(),
        size,
        sha256: written_digest,
    };
    let recorded: TransferView = api
        .post(api.url(&["transfers", checkout, "written"])?, &report)
        .context("the package is on the medium but the gateway did not record it; run this again or tell the system staff")?;
    if cfg.json {
        return print_json(&serde_json::json!({ "written": report, "transfer": recorded }));
    }
    println!(
        "Wrote {} ({} bytes) and read it back: sha256 {} matches.",
        target.display(),
        size,
        report.sha256
    );
    if encrypted {
        println!(
            "The package is encrypted; it opens only with the passphrase shown when the carry-out was requested."
        );
    }
    println!(
        "Recorded as carried out; bring the medium back by {} and run `sekisho media checkin {}`.",
        recorded
            .return_by
            .as_deref()
            .map(short_time)
            .unwrap_or_default(),
        recorded.medium.as_deref().unwrap_or("")
    );
    Ok(())
}

fn hash_file(path: &PathBuf) -> Result<String> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot read back {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn checkin(cfg: &Config, id: &str) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let medium: MediumView = api
        .post_empty(api.url(&["media", id, "checkin"])?)
        .with_context(|| format!("the return of {id} was not recorded"))?;
    if cfg.json {
        return print_json(&medium);
    }
    println!(
        "媒体 {0} の返却を記録しました。 Medium {0} is recorded as returned.",
        medium.id
    );
    print_take_in_hint(&medium.id);
    Ok(())
}

/// Files on a medium reach nobody except through the inbound scan; say how.
fn print_take_in_hint(id: &str) {
    println!(
        "媒体内のファイルは次のコマンドで検査してから取り込んでください。 Take its files in only through the scan:"
    );
    println!("  sekisho intake PATH --medium {id} --purpose 目的");
}

fn carry_in(cfg: &Config, id: &str, purpose: String, origin: Option<String>) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let body = CarryIn { purpose, origin };
    let arrival: ArrivalView = api
        .post(api.url(&["media", id, "carry-in"])?, &body)
        .with_context(|| format!("the carry-in of {id} was not recorded"))?;
    if cfg.json {
        return print_json(&arrival);
    }
    println!(
        "媒体 {0} の持込みを記録しました。 Carry-in of {0} recorded.",
        arrival.medium
    );
    print_take_in_hint(&arrival.medium);
    Ok(())
}

fn arrivals(cfg: &Config, unscanned: bool) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let mut url = api.url(&["media-arrivals"])?;
    if unscanned {
        url.set_query(Some("unscanned=true"));
    }
    let arrivals: Vec<ArrivalView> = api.get(url)?;
    if cfg.json {
        return print_json(&arrivals);
    }
    if arrivals.is_empty() {
        println!(
            "{}",
            if unscanned {
                "未検査の媒体はありません。 Every returned or carried-in medium has had its files scanned."
            } else {
                "返却・持込みの記録はありません。 No return or carry-in is recorded."
            }
        );
        return Ok(());
    }
    let mut table = Table::new([
        "MEDIUM 媒体",
        "KIND 種別",
        "RECORDED 記録",
        "BY",
        "PURPOSE 目的",
        "SCAN 検査",
    ]);
    for a in &arrivals {
        let kind = match a.kind {
            ArrivalKind::Return => "返却 return",
            ArrivalKind::CarryIn => "持込 carry-in",
        };
        let scan = if a.scanned {
            let sum = |f: fn(&sekisho_proto::media::ArrivalIntake) -> u64| {
                a.intakes.iter().map(f).sum::<u64>()
            };
            format!(
                "{} files: {} clean, {} infected, {} unscanned",
                sum(|i| i.files),
                sum(|i| i.clean),
                sum(|i| i.infected),
                sum(|i| i.unscanned)
            )
        } else {
            "未検査 NOT SCANNED".to_string()
        };
        table.row([
            a.medium.clone(),
            kind.to_string(),
            short_time(&a.recorded_at),
            a.recorded_by.clone(),
            a.purpose.clone(),
            scan,
        ]);
    }
    table.print();
    Ok(())
}

fn dispose(
    cfg: &Config,
    id: &str,
    kind: MediumDisposalKind,
    method: String,
    reason: String,
) -> Result<()> {
    let (api, _session) = super::logged_in(cfg)?;
    let body = MediumDisposalRequest {
        kind,
        method,
        reason,
    };
    let request: MediumDisposalView = api
        .post(api.url(&["media", id, "disposal"])?, &body)
        .with_context(|| format!("the request for {id} was not recorded"))?;
    if cfg.json {
        return print_json(&request);
    }
    println!(
        "Request {} to {} medium {} recorded; an approver decides with `sekisho approve {}`.",
        request.id, kind, request.medium, request.id
    );
    Ok(())
}

pub fn describe_disposal(d: &MediumDisposalView) -> String {
    format!(
        "Medium {} request {}\n  Medium:    {}\n  Method:    {}\n  Reason:    {}\n  Asked by:  {} at {}\n",
        match d.kind {
            MediumDisposalKind::Wipe => "wipe (消去)",
            MediumDisposalKind::Dispose => "disposal (廃棄)",
        },
        d.id,
        d.medium,
        d.method,
        d.reason,
        d.requested_by,
        d.requested_at
    )
}

/// Medium wipe/disposal requests waiting for this user's decision.
pub fn pending_disposals(api: &crate::http::Api) -> Result<Vec<MediumDisposalView>> {
    api.get(api.url(&["media-disposals"])?)
}

/// If `id` names a medium wipe/disposal request, decides it.
pub fn try_decide(
    cfg: &Config,
    api: &crate::http::Api,
    id: &str,
    approve: bool,
    comment: Option<&str>,
    otp: Option<&str>,
) -> Option<Result<()>> {
    let request: MediumDisposalView = api.get(api.url(&["media-disposals", id]).ok()?).ok()?;
    Some((|| {
        if request.state != MediumDisposalState::Requested {
            bail!("request {id} was already decided ({})", request.state);
        }
        if !cfg.json {
            print!("{}", describe_disposal(&request));
        }
        let verb = if approve { "approve" } else { "reject" };
        let otp = crate::prompt::otp(
            otp.map(str::to_string),
            &format!("To {verb}, type a fresh code from your authenticator app: "),
        )?;
        let body = sekisho_proto::deletion::DecideDisposal {
            otp: otp.to_string(),
            comment: comment
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty()),
        };
        let decided: MediumDisposalView = api
            .post(api.url(&["media-disposals", id, verb])?, &body)
            .with_context(|| format!("request {id} was not decided"))?;
        if cfg.json {
            return print_json(&decided);
        }
        println!("Request {} is now {}.", decided.id, decided.state);
        Ok(())
    })())
}
