-- Deleting a wiki puts it in the trash first: state 'trashed', not served, everything kept
-- until purge_after; undelete brings it back to the state it had (trashed_from).
ALTER TABLE wikis ADD COLUMN trashed_from TEXT;
ALTER TABLE wikis ADD COLUMN purge_after INTEGER;
