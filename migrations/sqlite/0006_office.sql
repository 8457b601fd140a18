-- The office: staff of a tenant (tenant_id '*' for platform operators),
-- their sessions, the card's messages, documents and progress stages, the
-- queue's assignment and stopped deadline clock, and the audit log.
CREATE TABLE staff (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL,          -- '*' for a platform operator
    email         TEXT NOT NULL,          -- lower-cased
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,          -- operator, manager, admin, platform
    password_hash TEXT NOT NULL,
    totp_secret   TEXT,                   -- base32, once the second factor is on
    totp_last_step BIGINT,                -- the last accepted code's time step: each is used once
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX staff_email ON staff (tenant_id, email);

CREATE TABLE staff_sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,            -- the office it was opened in
    staff_id    INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    pending     INTEGER NOT NULL DEFAULT 0,  -- 1 until the second factor is given
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ip          TEXT
);

ALTER TABLE applications ADD COLUMN assignee_id INTEGER;
ALTER TABLE applications ADD COLUMN custom_status TEXT;
-- Set while the utility waits for the applicant (missing documents): the
-- deadline does not run, and is pushed back when the applicant answers.
ALTER TABLE applications ADD COLUMN clock_stopped_on TEXT;
CREATE INDEX applications_tenant_due ON applications (tenant_id, due_on);

CREATE TABLE application_messages (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    side           TEXT NOT NULL,         -- utility, applicant
    kind           TEXT NOT NULL,         -- message, document, request, stage
    author         TEXT NOT NULL,         -- staff:<id>, applicant
    title          TEXT,
    body           TEXT NOT NULL DEFAULT '',  -- sanitised HTML
    file_id        INTEGER REFERENCES application_files (id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX application_messages_app ON application_messages (tenant_id, application_id, id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    staff_id   INTEGER,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT NOT NULL DEFAULT '',
    ip         TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
