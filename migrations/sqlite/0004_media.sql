-- Removable media: the ledger, and carry-outs as a kind of transfer (the
-- same upload, approval, encryption and package; the "recipient" is the
-- medium).

CREATE TABLE media (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    media_type TEXT NOT NULL,
    section TEXT NOT NULL,
    state TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    registered_at INTEGER NOT NULL
);

ALTER TABLE transfers ADD COLUMN kind TEXT NOT NULL DEFAULT 'send';
ALTER TABLE transfers ADD COLUMN medium_id TEXT REFERENCES media(id);
ALTER TABLE transfers ADD COLUMN return_by INTEGER;
ALTER TABLE transfers ADD COLUMN written_at INTEGER;
ALTER TABLE transfers ADD COLUMN written_sha256 TEXT;
ALTER TABLE transfers ADD COLUMN returned_at INTEGER;
ALTER TABLE transfers ADD COLUMN overdue_flagged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX transfers_medium ON transfers(medium_id);
