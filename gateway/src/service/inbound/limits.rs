//! What bounds an inbound upload besides its request's own limits: the
//! storage quota for received files (per requester and for the whole
//! gateway, `[inbound]` in the configuration) and the number of uploads
//! that may run through one request at the same time.
//!
//! An upload is refused as early as it can be: before a byte is read when
//! its declared `Content-Length` cannot fit, while streaming as soon as it
//! passes the room it had, and finally under the write lock, where two
//! uploads that each fitted alone cannot both take the last room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::InboundConfig;
use crate::db::inbound as store;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Bytes of multipart framing allowed per file above the content itself
/// (boundary, part headers with a long file name) when a declared length is
/// judged, so an honest upload that just fits is never refused early.
const FRAMING_PER_FILE: u64 = 2048;

const MIB: u64 = 1024 * 1024;

/// Which bound an upload ran into; each says what the uploader can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The request's own `--max-mb`.
    Link,
    /// The requester's quota for stored inbound files.
    Requester,
    /// The quota of the whole gateway.
    Gateway,
}

impl Bound {
    pub fn refusal(self) -> AppError {
        match self {
            Bound::Link => AppError::TooLarge(
                "ファイルの合計サイズが上限を超えました。The files are larger than this link allows."
                    .into(),
            ),
            Bound::Requester => AppError::QuotaFull(
                "依頼者が受け取ったファイルの保存容量が上限に達しているため、受け付けられません。\
                 依頼者に連絡し、不要になったファイルを整理してもらってください。 \
                 The requester's storage quota for received files is full, so nothing was accepted; \
                 ask the requester to clear files they no longer need."
                    .into(),
            ),
            Bound::Gateway => AppError::QuotaFull(
                "ゲートウェイ全体の受信ファイルの保存容量が上限に達しているため、受け付けられません。\
                 依頼者に連絡してください（システム担当者が容量を確保する必要があります）。 \
                 The gateway's storage quota for received files is full, so nothing was accepted; \
                 tell the requester (the system staff must make room)."
                    .into(),
            ),
        }
    }
}

/// How many bytes one upload may still bring, and which bound says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub bytes: u64,
    pub bound: Bound,
}

impl Room {
    /// The tighter of the request's limit and the quotas.
    pub fn tightest(link_bytes_left: u64, requester: u64, gateway: u64) -> Room {
        [
            Room {
                bytes: link_bytes_left,
                bound: Bound::Link,
            },
            Room {
                bytes: requester,
                bound: Bound::Requester,
            },
            Room {
                bytes: gateway,
                bound: Bound::Gateway,
            },
        ]
        .into_iter()
        .min_by_key(|room| room.bytes)
        .unwrap_or(Room {
            bytes: 0,
            bound: Bound::Gateway,
        })
    }

    /// Refuses a declared body that cannot fit, before anything is read.
    pub fn admit_declared(&self, declared: Option<u64>, files_left: i64) -> AppResult<()> {
        let Some(declared) = declared else {
            return Ok(());
        };
        let framing = FRAMING_PER_FILE.saturating_mul(files_left.max(1) as u64);
        if declared > self.bytes.saturating_add(framing) {
            return Err(self.bound.refusal());
        }
        Ok(())
    }
}

/// The room the quotas leave for a new upload to `owner_id`'s request.
pub async fn quota_room(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    owner_id: &str,
) -> AppResult<(u64, u64)> {
    let limits = &state.config.inbound;
    let owner_used = store::stored_bytes(conn, Some(owner_id)).await?;
    let all_used = store::stored_bytes(conn, None).await?;
    Ok((
        (limits.quota_per_requester_mb.saturating_mul(MIB)).saturating_sub(owner_used),
        (limits.quota_total_mb.saturating_mul(MIB)).saturating_sub(all_used),
    ))
}

/// Uploads running through each request, in this process. A later replica
/// design (one PostgreSQL, several gateways) multiplies the bound by the
/// number of replicas; the quotas, which live in the database, do not.
#[derive(Default)]
pub struct UploadSlots {
    running: Mutex<HashMap<String, u32>>,
}

/// One running upload; the place is given back when it is dropped, however
/// the upload ends (refused, failed, cut or recorded).
pub struct UploadSlot {
    slots: Arc<UploadSlots>,
    request_id: String,
}

impl UploadSlots {
    pub fn take(
        self: &Arc<Self>,
        request_id: &str,
        limits: &InboundConfig,
    ) -> AppResult<UploadSlot> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let count = running.entry(request_id.to_string()).or_insert(0);
        if *count >= limits.concurrent_uploads_per_link {
            return Err(AppError::UploadsInProgress(
                limits.concurrent_uploads_per_link,
            ));
        }
        *count += 1;
        Ok(UploadSlot {
            slots: Arc::clone(self),
            request_id: request_id.to_string(),
        })
    }

    #[cfg(test)]
    fn running(&self, request_id: &str) -> u32 {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(request_id)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut running = self
            .slots
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.request_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.request_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_bound_names_the_refusal() {
        let room = Room::tightest(10 * MIB, 3 * MIB, 100 * MIB);
        assert_eq!(room.bound, Bound::Requester);
        assert_eq!(room.bytes, 3 * MIB);
        assert_eq!(Room::tightest(1, 5, 5).bound, Bound::Link);
        assert_eq!(Room::tightest(9, 9, 2).bound, Bound::Gateway);
    }

    #[test]
    fn a_declared_length_is_judged_with_room_for_framing() {
        let room = Room::tightest(MIB, 100 * MIB, 100 * MIB);
        assert!(room.admit_declared(None, 3).is_ok());
        assert!(room.admit_declared(Some(MIB + 1000), 1).is_ok());
        assert!(matches!(
            room.admit_declared(Some(MIB + 5000), 1),
            Err(AppError::TooLarge(_))
        ));
        assert!(matches!(
            Room::tightest(MIB, 10, MIB).admit_declared(Some(1 << 40), 1),
            Err(AppError::QuotaFull(_))
        ));
    }

    #[test]
    fn slots_are_bounded_and_given_back_on_drop() {
        let slots = Arc::new(UploadSlots::default());
        let limits = InboundConfig {
            concurrent_uploads_per_link: 2,
            ..InboundConfig::default()
        };
        let a = slots.take("r", &limits).ok();
        let b = slots.take("r", &limits).ok();
        assert!(a.is_some() && b.is_some());
        assert!(matches!(
            slots.take("r", &limits),
            Err(AppError::UploadsInProgress(2))
        ));
        assert!(slots.take("other", &limits).is_ok());
        drop(a);
        assert_eq!(slots.running("r"), 1);
        assert!(slots.take("r", &limits).is_ok());
        drop(b);
        assert_eq!(slots.running("r"), 0);
    }
}
