-- 6.(4)②(イ): every return of a carried-out medium and every outside
-- medium brought in is an arrival; an intake names the arrival its files
-- came from, so the ledger shows each arrival with its scan results and
-- lists the ones whose files were never scanned. A carried-in medium need
-- not be registered, hence no foreign key to media.

CREATE TABLE media_arrivals (
    id TEXT PRIMARY KEY,
    medium_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    transfer_id TEXT REFERENCES transfers(id),
    carried_out_by_id TEXT,
    purpose TEXT NOT NULL,
    origin TEXT,
    recorded_by_id TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX media_arrivals_medium ON media_arrivals(medium_id, recorded_at);

ALTER TABLE upload_requests ADD COLUMN arrival_id TEXT REFERENCES media_arrivals(id);
