-- Applications (requests to connect an object) and their append-only history.
-- Field values are a JSON object (field id -> text) so that each tenant's
-- form lives in its tenant.toml, not in the schema.
CREATE TABLE applications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,          -- 'draft' until submitted
    number       TEXT,                   -- registration number, once submitted
    city         TEXT,
    field_values TEXT NOT NULL DEFAULT '{}',
    version      INTEGER NOT NULL DEFAULT 1,  -- optimistic lock: two tabs, one winner
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    submitted_at TEXT
);
CREATE INDEX applications_owner ON applications (tenant_id, account_id, updated_at);
CREATE INDEX applications_tenant_status ON applications (tenant_id, status, updated_at);

CREATE TABLE application_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,        -- created, saved, submitted, status
    status         TEXT,                 -- the status after the event
    actor          TEXT NOT NULL,        -- applicant, staff:<id>, system
    data           TEXT NOT NULL DEFAULT '{}',
    created_at     TEXT NOT NULL
);
CREATE INDEX application_events_app ON application_events (tenant_id, application_id, id);
