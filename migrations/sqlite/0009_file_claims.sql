-- An upload claims its bytes before they take their content-addressed
-- name, so that removing another row with the same content cannot delete
-- them in the moment before the new row commits. Claims count for ten
-- minutes; old ones are swept.
CREATE TABLE file_claims (
    token      TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX file_claims_sha ON file_claims (sha256, created_at);
