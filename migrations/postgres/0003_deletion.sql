-- Secure deletion: disposal requests, the deletion journal (which makes an
-- interrupted deletion finish at start-up) and the signed certificates.

CREATE TABLE deletions (
    id TEXT PRIMARY KEY,
    transfer_id TEXT NOT NULL REFERENCES transfers(id),
    state TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_by_role TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    decision_comment TEXT,
    object_ids TEXT NOT NULL DEFAULT '',
    erased_at BIGINT,
    certificate TEXT
);
CREATE INDEX deletions_transfer ON deletions(transfer_id);
CREATE INDEX deletions_state ON deletions(state);
