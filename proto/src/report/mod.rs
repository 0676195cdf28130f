//! The yearly self-inspection report (policy 9.(1)) and the audit-log
//! check it stands on, shared by the client (`sekisho audit verify` and
//! `audit report`, on the auditor's computer) and the gateway (the web
//! console's printable report page, which says it was checked on the
//! gateway itself):
//!
//! - [`checker`]: the chain and checkpoint check over events handed to it;
//! - [`times`]: dates as auditors type them, fiscal and calendar years;
//! - [`tally`]: one pass over the events, counting what the report shows;
//! - [`model`]: the figures laid out as sections, before any format;
//! - [`html`]: the report as one printable page.

pub mod checker;
pub mod html;
pub mod model;
pub mod tally;
pub mod times;
