-- 6.(1)⑧(エ): why a transfer was revoked and by whom, so that the approver
-- who let it out sees a misdirected send without reading the audit log.
ALTER TABLE transfers ADD COLUMN revoke_reason TEXT;
ALTER TABLE transfers ADD COLUMN revoked_by TEXT;
