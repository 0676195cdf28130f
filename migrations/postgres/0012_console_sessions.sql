-- Web console sessions (issue 9). A browser session also ends after a
-- quiet period, where a command-line session ends only at its absolute
-- expiry: a console left open on an office desk must not stay usable.
-- `idle_minutes` is NULL for command-line and API sessions; `last_seen_at`
-- is when the session was last used (written at most once a minute).
ALTER TABLE sessions ADD COLUMN idle_minutes BIGINT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
