-- Files attached to applications. The bytes live in the content-addressed
-- store under their SHA-256; a row is written only after the file is synced.
CREATE TABLE application_files (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    slot           TEXT NOT NULL,   -- the file field of the form
    doc_type       TEXT,            -- document type of the slot (seed 004)
    file_name      TEXT NOT NULL,   -- as the user named it, made safe
    size           BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    content_type   TEXT NOT NULL,   -- from the content, not the name
    created_at     TEXT NOT NULL
);
CREATE INDEX application_files_app ON application_files (tenant_id, application_id, id);
