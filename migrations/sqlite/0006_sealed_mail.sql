-- Mail bodies hold confirmation and reset links: from now on they are stored sealed with the
-- farm's credentials key. 0 marks a body an older farmd wrote in plain text (the mailer seals
-- those at its next start).
ALTER TABLE outbox ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
