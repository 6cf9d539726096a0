-- Chorus schema, PostgreSQL flavour. Keep in step with ../sqlite/0001_init.sql: the same
-- tables, columns and constraints; only the id columns and integer type names differ.
-- Times are BIGINT unix microseconds UTC; JSON is TEXT; booleans are BIGINT 0/1.

CREATE TABLE accounts (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT    NOT NULL,
    name_key        TEXT    NOT NULL,
    arr_minor       BIGINT  NOT NULL DEFAULT 0,
    currency        TEXT    NOT NULL DEFAULT 'USD',
    segment         TEXT,
    lifecycle_stage TEXT,
    csm_owner       TEXT,
    renewal_date    TEXT,
    parent_id       BIGINT REFERENCES accounts (id),
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    deleted_at      BIGINT
);
CREATE INDEX accounts_name_key ON accounts (name_key);

CREATE TABLE account_domains (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    domain     TEXT   NOT NULL,
    PRIMARY KEY (account_id, domain)
);
CREATE INDEX account_domains_domain ON account_domains (domain);

CREATE TABLE account_external_ids (
    connector    TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    external_id  TEXT   NOT NULL,
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    content_hash TEXT,
    UNIQUE (connector, external_id)
);
CREATE INDEX account_external_ids_account ON account_external_ids (account_id);

CREATE TABLE contacts (
    id         BIGSERIAL PRIMARY KEY,
    email      TEXT   NOT NULL UNIQUE,
    name       TEXT,
    account_id BIGINT REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX contacts_account ON contacts (account_id);

CREATE TABLE contact_external_ids (
    connector    TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    external_id  TEXT   NOT NULL,
    contact_id   BIGINT NOT NULL REFERENCES contacts (id),
    content_hash TEXT,
    UNIQUE (connector, external_id)
);
CREATE INDEX contact_external_ids_contact ON contact_external_ids (contact_id);

CREATE TABLE items (
    id                  BIGSERIAL PRIMARY KEY,
    connector           TEXT   NOT NULL,
    source              TEXT   NOT NULL,
    external_id         TEXT   NOT NULL,
    item_key            TEXT,
    kind                TEXT   NOT NULL,
    title               TEXT   NOT NULL,
    body                TEXT   NOT NULL,
    comments            TEXT   NOT NULL,
    url                 TEXT,
    status              TEXT   NOT NULL,
    priority            TEXT,
    tags                TEXT   NOT NULL,
    author_email        TEXT,
    author_name         TEXT,
    author_domain       TEXT,
    csat                DOUBLE PRECISION,
    account_external_id TEXT,
    account_name        TEXT,
    account_name_key    TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    deleted_at          BIGINT,
    raw                 TEXT   NOT NULL,
    content_hash        TEXT   NOT NULL,
    UNIQUE (connector, external_id)
);
CREATE INDEX items_account_external_id ON items (connector, account_external_id);
CREATE INDEX items_account_name_key ON items (account_name_key);
CREATE INDEX items_author_email ON items (author_email);
CREATE INDEX items_author_domain ON items (author_domain);

CREATE TABLE requests (
    id             BIGSERIAL PRIMARY KEY,
    title          TEXT   NOT NULL,
    description    TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    anchor_item_id BIGINT REFERENCES items (id),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE item_account_links (
    item_id    BIGINT PRIMARY KEY REFERENCES items (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    provenance TEXT   NOT NULL,
    linked_at  BIGINT NOT NULL
);
CREATE INDEX item_account_links_account ON item_account_links (account_id);

CREATE TABLE item_request_links (
    item_id    BIGINT NOT NULL REFERENCES items (id),
    request_id BIGINT NOT NULL REFERENCES requests (id),
    provenance TEXT   NOT NULL,
    linked_at  BIGINT NOT NULL,
    PRIMARY KEY (item_id, request_id)
);
CREATE INDEX item_request_links_request ON item_request_links (request_id);

-- The change log. Appends are serialized (pg_advisory_xact_lock) so seqs commit in order.
CREATE TABLE changes (
    seq        BIGSERIAL PRIMARY KEY,
    entity     TEXT   NOT NULL,
    entity_id  BIGINT NOT NULL,
    deleted    BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE TABLE sync_state (
    connector  TEXT PRIMARY KEY,
    cursor     TEXT,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sync_runs (
    id          BIGSERIAL PRIMARY KEY,
    connector   TEXT   NOT NULL,
    holder      TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    pages       BIGINT NOT NULL DEFAULT 0,
    upserted    BIGINT NOT NULL DEFAULT 0,
    unchanged   BIGINT NOT NULL DEFAULT 0,
    deleted     BIGINT NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX sync_runs_connector ON sync_runs (connector, id);

CREATE TABLE sync_leases (
    connector    TEXT PRIMARY KEY,
    holder_id    TEXT   NOT NULL,
    host         TEXT   NOT NULL,
    pid          BIGINT NOT NULL,
    run_id       BIGINT NOT NULL REFERENCES sync_runs (id),
    ttl_micros   BIGINT NOT NULL,
    acquired_at  BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE credentials (
    connector  TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (connector, name)
);

-- Reserved for close-the-loop notes posted back to sources.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT   NOT NULL,
    target          TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
