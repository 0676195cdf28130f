-- Secure deletion of inbound files (retention): a journal row per erased
-- file, so an interrupted erase finishes at start-up, and its certificate.

CREATE TABLE inbound_deletions (
    id TEXT PRIMARY KEY,
    file_id TEXT NOT NULL REFERENCES inbound_files(id),
    object_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    erased_at INTEGER NOT NULL,
    certificate TEXT
);
CREATE INDEX inbound_deletions_file ON inbound_deletions(file_id);
CREATE INDEX inbound_deletions_state ON inbound_deletions(state);
