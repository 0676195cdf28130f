//! Bringing files in (policy 2.(2), "Bringing in"; classification 2.(2)④).
//!
//! Nothing from outside reaches anyone inside before it has been scanned,
//! and a file that could not be scanned counts as not checked: clean files
//! wait for their class, infected ones are quarantined with an incident
//! opened in the same transaction ([`super::incidents`]), unscanned ones are
//! held. One module per job:
//! - [`requests`]: upload links handed to outside parties, and media intakes;
//! - [`upload`]: receiving files through either, all or nothing;
//! - [`limits`]: the storage quotas and the uploads running per request;
//! - [`files`]: what staff do with received files (list, classify, read,
//!   rescan), and a manager's release of an original;
//! - [`sanitise`]: rebuilding clean files without active content (無害化).

mod files;
mod limits;
mod requests;
mod sanitise;
mod upload;

pub use files::{classify, content, list, load, release_original, rescan};
pub use limits::UploadSlots;
pub use requests::{RequestPage, create_intake, create_request, page};
pub use upload::{FILE_FIELD, receive_by_link, receive_intake};

use sekisho_proto::inbound::InboundFileView;

use crate::clock::format_ms;
use crate::db::inbound::{FileRow, RequestRow};
use crate::policy::{InboundFacts, InboundSubject, UploadRequestFacts, UploadRequestSubject};

/// A received file together with the request it came through: what the
/// inbound rules judge (the request's owner is the file's owner).
pub struct Received {
    pub file: FileRow,
    pub request: RequestRow,
}

impl InboundSubject for Received {
    fn inbound_facts(&self) -> InboundFacts<'_> {
        InboundFacts {
            owner_id: &self.request.owner_id,
            state: self.file.state,
            original_withheld: original_withheld(&self.file),
        }
    }
}

impl UploadRequestSubject for RequestRow {
    fn upload_request_facts(&self) -> UploadRequestFacts<'_> {
        UploadRequestFacts {
            owner_id: &self.owner_id,
            kind: self.kind,
        }
    }
}

/// The sender as staff read it: name, and organisation when known.
fn sender_label(r: &RequestRow) -> String {
    if r.sender_org.is_empty() {
        r.sender_name.clone()
    } else {
        format!("{} ({})", r.sender_name, r.sender_org)
    }
}

/// Staff do not receive the original: it was rebuilt (they get the copy)
/// or held by the sanitiser.
fn original_withheld(file: &FileRow) -> bool {
    file.sanitised.as_ref().is_some_and(|s| {
        s.copy.is_some() || s.outcome == sekisho_proto::vocab::SanitiseOutcome::Held
    })
}

/// With a rebuilt copy, the name, size and digest staff see (and check
/// their download against) are the copy's; the original's are in the
/// sanitisation report.
fn view(file: &FileRow, r: &RequestRow) -> InboundFileView {
    let copy = file.sanitised.as_ref().and_then(|s| s.copy.as_ref());
    InboundFileView {
        id: file.id.clone(),
        request_id: file.request_id.clone(),
        name: copy.map_or_else(|| file.name.clone(), |c| c.name.clone()),
        size: copy.map_or(file.size, |c| c.size) as u64,
        sha256: copy.map_or_else(|| file.sha256.clone(), |c| c.sha256.clone()),
        verdict: file.verdict,
        class: file.class,
        state: file.state,
        sender: r.sender_name.clone(),
        purpose: r.purpose.clone(),
        received_at: format_ms(file.created_at),
        sanitised: sanitise::view(file),
    }
}
