-- The account graph: where each account came from, how its records joined it, which
-- records a person kept apart, and accounts merged away. Keep in step with
-- ../sqlite/0004_account_graph.sql.

-- The plan an account is on (upsell signals), and the account a merged one became.
ALTER TABLE accounts ADD COLUMN plan TEXT;
ALTER TABLE accounts ADD COLUMN merged_into BIGINT REFERENCES accounts (id);

-- Provenance of each source record of an account: how it joined (created, external_id,
-- same_as, domain, name, import, merge, split) and when, with the name and domains it
-- brought, so that a wrong merge can be explained and split.
ALTER TABLE account_external_ids ADD COLUMN matched_by TEXT;
ALTER TABLE account_external_ids ADD COLUMN joined_at BIGINT;
ALTER TABLE account_external_ids ADD COLUMN record_name TEXT;
ALTER TABLE account_external_ids ADD COLUMN record_domains TEXT;

-- Domains match by their registered domain (eu.acme.co.uk matches acme.co.uk). Filled
-- for existing rows by the store on open (the Public Suffix List is not in SQL).
ALTER TABLE account_domains ADD COLUMN registered TEXT;
CREATE INDEX account_domains_registered ON account_domains (registered);

-- The organization a contact record named, so that a split moves the contact with it.
ALTER TABLE contact_external_ids ADD COLUMN account_external_id TEXT;

-- A record's word that it is another source's record (a Zendesk organization whose
-- external_id is a Salesforce Account Id): (source, id_key) is the other record's
-- canonical id (for Salesforce the 15-character case-sensitive form).
CREATE TABLE account_same_as (
    connector   TEXT NOT NULL,
    external_id TEXT NOT NULL,
    source      TEXT NOT NULL,
    id_key      TEXT NOT NULL,
    PRIMARY KEY (connector, external_id, source, id_key)
);
CREATE INDEX account_same_as_key ON account_same_as (source, id_key);

-- Records a person split apart: no automatic match puts them on one account again.
-- Each pair is stored in both orders.
CREATE TABLE account_kept_apart (
    connector         TEXT   NOT NULL,
    external_id       TEXT   NOT NULL,
    other_connector   TEXT   NOT NULL,
    other_external_id TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (connector, external_id, other_connector, other_external_id)
);

-- One-time data steps done in code, by name.
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
