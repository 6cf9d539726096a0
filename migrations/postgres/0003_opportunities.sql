-- Sales opportunities (pipeline) read from a CRM, keyed like every synced record by
-- (connector, external_id). The account is kept as the source names it and resolved
-- through account_external_ids when read, so an opportunity read before its account,
-- or whose account merged with another source's, still finds it. A blocker written on
-- the opportunity is an item of kind sales_blocker, named by blocker_external_id.
CREATE TABLE opportunities (
    id                  BIGSERIAL PRIMARY KEY,
    connector           TEXT   NOT NULL,
    external_id         TEXT   NOT NULL,
    name                TEXT   NOT NULL,
    account_external_id TEXT,
    amount_minor        BIGINT,
    currency            TEXT,
    stage               TEXT   NOT NULL,
    probability         DOUBLE PRECISION,
    close_date          TEXT,
    closed              BIGINT NOT NULL,
    won                 BIGINT NOT NULL,
    blocker_external_id TEXT,
    source_updated_at   BIGINT NOT NULL,
    content_hash        TEXT   NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    deleted_at          BIGINT,
    UNIQUE (connector, external_id)
);
CREATE INDEX opportunities_account ON opportunities (connector, account_external_id);
