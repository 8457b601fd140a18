-- Accounts, sessions, one-time secrets, rate limits, the notification outbox
-- and the append-only event log. Timestamps are RFC 3339 UTC text with fixed
-- width so that text order is time order on both SQLite and PostgreSQL.

-- Deployment-wide secrets (the CSRF key), shared by every tapline process.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id          TEXT NOT NULL,
    applicant_type     TEXT NOT NULL,
    email              TEXT,            -- lower-cased
    login              TEXT,            -- lower-cased
    phone              TEXT,            -- +<digits>
    password_hash      TEXT NOT NULL,
    profile            TEXT NOT NULL DEFAULT '{}',  -- JSON object: field id -> value
    email_confirmed_at TEXT,
    phone_confirmed_at TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
-- Uniqueness is per tenant: the same person may hold accounts at two utilities.
CREATE UNIQUE INDEX accounts_email ON accounts (tenant_id, email);
CREATE UNIQUE INDEX accounts_login ON accounts (tenant_id, login);
CREATE UNIQUE INDEX accounts_phone ON accounts (tenant_id, phone);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,   -- SHA-256 of the cookie value
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_account ON sessions (tenant_id, account_id);

-- Emailed one-time links (email confirmation, password reset, email change).
CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    payload     TEXT,                    -- e.g. the new email address
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX tokens_account ON tokens (tenant_id, account_id, purpose);

-- SMS codes, bound to the account, the phone and the purpose.
CREATE TABLE sms_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    phone       TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX sms_codes_account ON sms_codes (tenant_id, account_id, purpose);

CREATE TABLE captchas (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    answer       TEXT NOT NULL,          -- needed to draw the picture; single use, minutes long
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT
);

-- Fixed-window counters: one row per key and window.
CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Transactional outbox: a message commits with the change that caused it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       TEXT NOT NULL,
    channel         TEXT NOT NULL,       -- email | sms
    template        TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    status          TEXT NOT NULL,       -- pending | sent | dev | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_tenant ON outbox (tenant_id, id);

-- Append-only history of what happened to accounts (and later applications).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    account_id  INTEGER,
    kind        TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    actor       TEXT NOT NULL,
    ip          TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX events_account ON events (tenant_id, account_id, id);
