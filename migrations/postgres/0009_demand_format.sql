-- How a demand row packs its per-account entries (crates/chorus-store/src/sql/packed.rs):
-- 1 = fixed 37-byte entries, as every row written before this migration; 2 = varints,
-- about 2.5 times smaller, which every refresh writes from now on. Old rows stay readable
-- and are rewritten in format 2 as their requests change.
ALTER TABLE request_demand ADD COLUMN format BIGINT NOT NULL DEFAULT 1;
