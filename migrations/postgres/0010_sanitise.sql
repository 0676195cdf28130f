-- File sanitisation (無害化, 6.(4)②): what the sanitiser made of each clean
-- inbound file, and the rebuilt copy staff receive. The original stays in
-- object_id; the copy is an object of its own, erased with the original
-- when retention ends. copy_object_id has no foreign key: its objects row
-- goes when its key is destroyed, and the file's state (erased) says so,
-- while the copy's name, size and digest stay for the deletion certificate.

ALTER TABLE inbound_files ADD COLUMN sanitise_outcome TEXT;
ALTER TABLE inbound_files ADD COLUMN sanitise_report TEXT NOT NULL DEFAULT '';
ALTER TABLE inbound_files ADD COLUMN copy_object_id TEXT;
ALTER TABLE inbound_files ADD COLUMN copy_name TEXT;
ALTER TABLE inbound_files ADD COLUMN copy_size BIGINT;
ALTER TABLE inbound_files ADD COLUMN copy_sha256 TEXT;
