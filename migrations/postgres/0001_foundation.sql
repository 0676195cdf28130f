-- Accounts, sessions, address book, outbound transfers and the audit log.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    must_change_password BIGINT NOT NULL,
    totp_secret_wrapped BYTEA NOT NULL,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE recipients (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    organisation TEXT NOT NULL,
    email TEXT NOT NULL,
    key_kind TEXT NOT NULL,
    public_key TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE transfers (
    id TEXT PRIMARY KEY,
    sender_id TEXT NOT NULL REFERENCES users(id),
    class TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    approval_role TEXT,
    content_digest TEXT,
    created_at BIGINT NOT NULL,
    submitted_at BIGINT,
    released_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX transfers_sender ON transfers(sender_id);
CREATE INDEX transfers_state ON transfers(state);

-- Stored, encrypted bytes. Deleting the row destroys the only wrapped copy
-- of the object's key: that is the cryptographic erase.
CREATE TABLE objects (
    id TEXT PRIMARY KEY,
    wrapped_key BYTEA NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE transfer_files (
    transfer_id TEXT NOT NULL REFERENCES transfers(id),
    idx BIGINT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT,
    object_id TEXT REFERENCES objects(id),
    PRIMARY KEY (transfer_id, idx)
);

-- One row per recipient of a transfer, which is also that recipient's link.
-- Recipient details are copied so that an approval covers exactly what the
-- approver saw, even if the address book changes later.
CREATE TABLE transfer_links (
    id TEXT PRIMARY KEY,
    transfer_id TEXT NOT NULL REFERENCES transfers(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    organisation TEXT NOT NULL,
    email TEXT NOT NULL,
    key_kind TEXT NOT NULL,
    public_key TEXT,
    passphrase_wrapped BYTEA,
    nonce TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    state TEXT,
    expires_at BIGINT,
    max_downloads BIGINT NOT NULL,
    downloads BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX transfer_links_transfer ON transfer_links(transfer_id);

CREATE TABLE decisions (
    transfer_id TEXT PRIMARY KEY REFERENCES transfers(id),
    decision TEXT NOT NULL,
    by_user TEXT NOT NULL,
    by_role TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    comment TEXT,
    content_digest TEXT NOT NULL
);

CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

-- The audit log is append-only for everyone but its owner: the gateway's
-- runtime role may only INSERT and SELECT (see README, "PostgreSQL").
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;
