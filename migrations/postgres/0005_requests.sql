-- Requests grow what ranking and their lifecycle need (decision 0012):
-- a merged request points to the one that absorbed its links; a request link keeps the
-- account's ARR when the ask was linked, so a churned or shrunk account shows as such;
-- rejected suggestions are remembered; and each request's per-account demand is kept,
-- packed, by the write transactions that change it, so ranking reads one row a request.
ALTER TABLE requests ADD COLUMN merged_into BIGINT REFERENCES requests (id);
ALTER TABLE requests ADD COLUMN shipped_at BIGINT;
CREATE INDEX requests_anchor ON requests (anchor_item_id);

ALTER TABLE item_request_links ADD COLUMN arr_at_ask_minor BIGINT;
ALTER TABLE item_request_links ADD COLUMN arr_at_ask_currency TEXT;

-- Issue keys (PROD-123) are looked up when an item mentions one.
CREATE INDEX items_item_key ON items (item_key);
CREATE INDEX opportunities_blocker ON opportunities (connector, blocker_external_id);

-- A person said "not this one": the pair is never suggested again.
CREATE TABLE request_link_rejections (
    request_id  BIGINT NOT NULL REFERENCES requests (id),
    item_id     BIGINT NOT NULL REFERENCES items (id),
    rejected_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, item_id)
);
CREATE INDEX request_link_rejections_item ON request_link_rejections (item_id);

-- One row per request: its live linked items aggregated per account (`accounts`, a packed
-- array of fixed-width entries, see crates/chorus-store/src/sql/demand.rs), the items
-- and people resolved to no account, and the opportunities its sales blockers name.
-- Derived data: rewritten from item_request_links, items and item_account_links in the
-- same transaction as every write that changes them.
CREATE TABLE request_demand (
    request_id          BIGINT NOT NULL PRIMARY KEY REFERENCES requests (id),
    accounts            BYTEA   NOT NULL,
    opportunities       BYTEA   NOT NULL,
    unattributed_items  BIGINT NOT NULL,
    unattributed_people BIGINT NOT NULL,
    refreshed_at        BIGINT NOT NULL
);
