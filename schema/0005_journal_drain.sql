-- a rotated journal file still drained: a worker that had not reopened
-- the journal yet may append to it after authd moved on to the new file,
-- so authd reads it on until it has been quiet (authd/journal.c); the
-- checkpoint names it too, so a restart drains on from drain_offset
ALTER TABLE journal_checkpoint
    ADD COLUMN drain_inode      bigint,
    ADD COLUMN drain_first_id   varchar(64) NOT NULL DEFAULT '',
    ADD COLUMN drain_offset     bigint;
