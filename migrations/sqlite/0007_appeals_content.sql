-- Appeals (questions to the utility with one optional file and the
-- utility's answer), the portal pages a tenant admin edits, and normative
-- documents per city.
CREATE TABLE appeals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    topic       TEXT NOT NULL,
    body        TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,          -- draft, accepted, processing, answered
    file_name   TEXT,
    file_sha256 TEXT,
    file_size   BIGINT,
    file_type   TEXT,
    answer      TEXT,                   -- sanitised HTML
    answered_by INTEGER,
    answered_at TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    sent_at     TEXT
);
CREATE INDEX appeals_owner ON appeals (tenant_id, account_id, id);
CREATE INDEX appeals_tenant_status ON appeals (tenant_id, status, id);

CREATE TABLE pages (
    tenant_id  TEXT NOT NULL,
    key        TEXT NOT NULL,           -- login, home, help, blank_forms_url
    body       TEXT NOT NULL,           -- sanitised HTML (or a URL)
    updated_by INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE normative_documents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    city        TEXT,                   -- NULL: for every city
    title       TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_size   BIGINT NOT NULL,
    file_type   TEXT NOT NULL,
    created_by  INTEGER,
    created_at  TEXT NOT NULL
);
CREATE INDEX normative_documents_tenant ON normative_documents (tenant_id, city, id);

-- Daily digests sent: one per staff member and day, whichever process sends it.
CREATE TABLE digests (
    tenant_id TEXT NOT NULL,
    staff_id  BIGINT NOT NULL,
    day       TEXT NOT NULL,
    PRIMARY KEY (tenant_id, staff_id, day)
);
