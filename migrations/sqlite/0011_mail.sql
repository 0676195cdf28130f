-- Mail notifications (issue 10). Accounts get an e-mail address; every
-- notification is written to the outbox in the same transaction as the
-- change that causes it, so a rolled-back change mails nothing and a mail
-- server outage loses nothing. Nothing secret is stored here: a recipient's
-- link is derived again from the link's id when the mail is sent.
ALTER TABLE users ADD COLUMN email TEXT;

CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    -- What the mail says (approval_waiting, transfer_decided, ...).
    kind TEXT NOT NULL,
    to_address TEXT NOT NULL,
    -- The audit object the mail is about (transfer:<id>, ...).
    object TEXT NOT NULL,
    -- The facts the mail is written from (JSON, no secrets).
    facts TEXT NOT NULL,
    -- queued, sent, failed, or cancelled (a link closed before its mail left).
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox(state, next_attempt_at);
