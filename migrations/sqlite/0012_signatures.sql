-- Signatures on an application's documents, by either side, and the
-- simple electronic signature by SMS code (PEP, 63-FZ art. 9).
--
-- A document asks for signatures through application_files.signing:
-- NULL (none asked), 'applicant', 'utility' or 'both' (the utility first).
ALTER TABLE application_files ADD COLUMN signing TEXT;
-- The application or contract made for signing when the application
-- entered a signing status: the history event of that entry. One copy per
-- entry, however many pages ask for it at once.
ALTER TABLE application_files ADD COLUMN signing_entry INTEGER;
CREATE UNIQUE INDEX application_files_frozen ON application_files (tenant_id, application_id, slot, signing_entry)
    WHERE slot IN ('_application', '_contract');

-- Every signature received, valid or refused (an uploaded .sig file keeps
-- its refusal to show it beside its document). The CMS, the verdict and the
-- revocation evidence are kept as received, so the check can be run again.
CREATE TABLE signatures (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    file_id        INTEGER NOT NULL REFERENCES application_files (id) ON DELETE CASCADE,
    sha256         TEXT NOT NULL,           -- of the signed bytes
    side           TEXT NOT NULL,           -- applicant | utility
    scheme         TEXT NOT NULL,           -- pep_sms | cryptopro | ncalayer | file
    account_id     INTEGER,
    staff_id       INTEGER,
    signer_name    TEXT NOT NULL,
    signer_ids     TEXT NOT NULL DEFAULT '{}',  -- JSON: label -> value
    cert_serial    TEXT,
    cert_issuer    TEXT,
    cert_from      TEXT,
    cert_to        TEXT,
    cms            TEXT,                    -- base64 DER of the detached CMS
    verdict        TEXT NOT NULL,           -- JSON: the engine's verdict, or the PEP record
    evidence       TEXT,                    -- JSON: the revocation evidence used
    valid          INTEGER NOT NULL,
    reason         TEXT,                    -- a refusal's plain words
    created_at     TEXT NOT NULL
);
CREATE INDEX signatures_app ON signatures (tenant_id, application_id, id);
-- One valid signature per side and document by the portal's own schemes:
-- forty presses of «Подписать» record one.
CREATE UNIQUE INDEX signatures_once ON signatures (tenant_id, file_id, side)
    WHERE valid = 1 AND scheme <> 'file';

-- PEP codes: bound to the account, the document's hash and the purpose;
-- stored hashed, short-lived, a few attempts.
CREATE TABLE pep_codes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    application_id INTEGER NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    file_id        INTEGER NOT NULL REFERENCES application_files (id) ON DELETE CASCADE,
    sha256         TEXT NOT NULL,
    purpose        TEXT NOT NULL,
    phone          TEXT NOT NULL,
    code_hash      TEXT NOT NULL,
    message        TEXT NOT NULL,           -- the SMS as sent
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT
);
CREATE INDEX pep_codes_account ON pep_codes (tenant_id, account_id, file_id, id);
-- Every code typed, right or wrong.
CREATE TABLE pep_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    code_id    INTEGER NOT NULL REFERENCES pep_codes (id) ON DELETE CASCADE,
    ok         INTEGER NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX pep_attempts_code ON pep_attempts (tenant_id, code_id, id);
-- The applicant's acceptance of the agreement on simple signatures, by version.
CREATE TABLE pep_agreements (
    tenant_id   TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    version     TEXT NOT NULL,
    ip          TEXT,
    user_agent  TEXT,
    accepted_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, account_id, version)
);
