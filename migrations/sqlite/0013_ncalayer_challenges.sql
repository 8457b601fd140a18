-- One-time challenges for logging in with a key through NCALayer: the
-- server's random text the browser has signed with the authentication key.
-- Bound to the browser (the SHA-256 of its CSRF cookie), minutes long, and
-- taken once (used_at), so a signed challenge seen anywhere is worth
-- nothing a second time. Only the text's SHA-256 is kept.
CREATE TABLE key_challenges (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT NOT NULL,
    nonce_hash   TEXT NOT NULL UNIQUE,
    browser_hash TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT
);
CREATE INDEX key_challenges_expiry ON key_challenges (expires_at);
