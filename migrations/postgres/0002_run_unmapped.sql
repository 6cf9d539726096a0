-- Records a run read but could not map (an issue type with no kind, a ticket without a
-- subject): counted, and a few named, so that nothing is skipped in silence while the
-- cursor moves past it.
ALTER TABLE sync_runs ADD COLUMN unmapped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN unmapped_examples TEXT;
