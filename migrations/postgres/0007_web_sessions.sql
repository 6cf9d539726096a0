-- Web sessions opened by a token login: only a SHA-256 of each session id is kept.
-- A session speaks with its token's role and ends with it (look-ups join the live token).
CREATE TABLE web_sessions (
    id         BIGSERIAL PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    token_id   BIGINT  NOT NULL REFERENCES api_tokens (id),
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
