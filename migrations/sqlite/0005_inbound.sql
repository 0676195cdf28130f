-- Inbound files: upload requests (links handed to an outside party, or a
-- member of staff's own medium intake), the files received through them
-- (stored encrypted like outbound objects, with the scanner's verdict), and
-- the incidents opened when a file is infected.

CREATE TABLE upload_requests (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL DEFAULT 'link',
    sender_name TEXT NOT NULL,
    sender_org TEXT NOT NULL,
    sender_email TEXT NOT NULL,
    purpose TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    nonce TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    max_files INTEGER NOT NULL,
    max_bytes INTEGER NOT NULL,
    files_received INTEGER NOT NULL DEFAULT 0,
    bytes_received INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX upload_requests_owner ON upload_requests(owner_id);

CREATE TABLE inbound_files (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES upload_requests(id),
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    object_id TEXT REFERENCES objects(id),
    verdict TEXT NOT NULL,
    verdict_detail TEXT NOT NULL,
    class TEXT,
    classified_by TEXT,
    classified_at INTEGER,
    state TEXT NOT NULL,
    uploaded_from TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX inbound_files_request ON inbound_files(request_id);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    inbound_file_id TEXT REFERENCES inbound_files(id),
    engine TEXT NOT NULL,
    signature TEXT NOT NULL,
    digest TEXT NOT NULL,
    uploader TEXT NOT NULL,
    request_id TEXT,
    state TEXT NOT NULL,
    escalated_to TEXT,
    note TEXT,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER,
    closed_by TEXT
);
