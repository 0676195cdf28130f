-- Stand-in approvers (代理承認) and requests nobody decides (issue 10).
--
-- A delegation names, for one approver (or the CISO), the account that
-- decides in their place from starts_at until ends_at. Clearing it stamps
-- cleared_at; rows are never deleted, so the record of who could decide
-- for whom stays. At most one uncleared delegation per approver.
CREATE TABLE delegations (
    id TEXT PRIMARY KEY,
    approver_id TEXT NOT NULL REFERENCES users(id),
    stand_in_id TEXT NOT NULL REFERENCES users(id),
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    -- Who set it: the approver themself or a sysadmin.
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    cleared_at INTEGER,
    cleared_by TEXT
);
CREATE UNIQUE INDEX delegations_one_open ON delegations(approver_id) WHERE cleared_at IS NULL;
CREATE INDEX delegations_stand_in ON delegations(stand_in_id);

-- A decision taken by a stand-in names the approver it was taken for.
ALTER TABLE decisions ADD COLUMN on_behalf_of TEXT;

-- The one reminder of a request waiting too long, and when a request
-- expired (undecided or with every link run out): retention counts from it.
ALTER TABLE transfers ADD COLUMN reminded_at INTEGER;
ALTER TABLE transfers ADD COLUMN expired_at INTEGER;

-- Conditions the system staff were alerted to (a scanning engine with
-- stale signatures or not answering), one row while each lasts, so the
-- alert is mailed once and not every housekeeping round, whichever
-- replica runs it.
CREATE TABLE alerts (
    name TEXT PRIMARY KEY,
    detail TEXT NOT NULL,
    raised_at INTEGER NOT NULL
);
