-- Least privilege for the role the gateway runs as on PostgreSQL.
-- Run as the database owner after `sekisho-gateway init` (which migrates with
-- the owner), then put the app role in `database.url`. The app role may only
-- INSERT and SELECT the audit log and its checkpoints, so nobody who holds the
-- gateway's credentials can rewrite history.
-- :app_role is replaced with the role's name (psql: -v app_role=sekisho_app).
GRANT USAGE ON SCHEMA public TO :app_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, recipients, transfers, objects,
    transfer_files, transfer_links, decisions, deletions, media, upload_requests,
    inbound_files, incidents, mail_outbox TO :app_role;
GRANT SELECT ON _sqlx_migrations TO :app_role;
GRANT SELECT, INSERT ON audit_events, audit_checkpoints TO :app_role;
GRANT SELECT, INSERT, UPDATE ON media_disposals TO :app_role;
GRANT SELECT, INSERT, UPDATE ON inbound_deletions TO :app_role;
GRANT SELECT, INSERT ON media_arrivals TO :app_role;
-- Delegations are cleared, never deleted: the record of who stood in stays.
GRANT SELECT, INSERT, UPDATE ON delegations TO :app_role;
GRANT SELECT, INSERT, DELETE ON alerts TO :app_role;
