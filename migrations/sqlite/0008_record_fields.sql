-- Each source record's own account fields (JSON: ARR, currency, segment, plan, stage,
-- CSM owner, renewal date, parent, and when it was last applied), so a split gives each
-- half the fields its own records brought. NULL for mappings written before this.
ALTER TABLE account_external_ids ADD COLUMN record_fields TEXT;
