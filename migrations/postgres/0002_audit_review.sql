-- Audit review: the class an event is about, indexes for filtered queries,
-- and the gateway's signed checkpoints of the hash chain.

ALTER TABLE audit_events ADD COLUMN class TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_at ON audit_events(at_ms);
CREATE INDEX audit_events_actor ON audit_events(actor, seq);
CREATE INDEX audit_events_action ON audit_events(action, seq);
CREATE INDEX audit_events_object ON audit_events(object, seq);
CREATE INDEX audit_events_class ON audit_events(class, seq);

CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    head_hash TEXT NOT NULL,
    at TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    signature TEXT NOT NULL
);

REVOKE UPDATE, DELETE, TRUNCATE ON audit_checkpoints FROM PUBLIC;
