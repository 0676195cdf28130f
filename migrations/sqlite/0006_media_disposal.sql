-- Wiping or disposing of a removable medium: requested with a method and a
-- reason, decided by an approver, recorded with who and when.

CREATE TABLE media_disposals (
    id TEXT PRIMARY KEY,
    medium_id TEXT NOT NULL REFERENCES media(id),
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_by_role TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at INTEGER,
    decision_comment TEXT
);
CREATE INDEX media_disposals_state ON media_disposals(state);
