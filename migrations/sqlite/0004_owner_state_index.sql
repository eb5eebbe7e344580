-- Lists filtered by owner and state (a member's active wikis, an admin's view of one owner).
CREATE INDEX wikis_owner_state_id ON wikis (owner, state, id);
