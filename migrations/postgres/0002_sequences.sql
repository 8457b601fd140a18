-- Per-tenant counters plugins draw registration numbers from
-- (host::next-sequence). A value is never handed out twice.
CREATE TABLE sequences (
    tenant_id TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
