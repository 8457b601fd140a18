-- How many applications each account has, kept by the database itself:
-- "my applications" says how many there are on every page, and counting
-- them there read the account's whole index, a cost that grew with every
-- application sent (issue 13). Triggers, so that no way of adding or
-- removing an application can leave the number behind.
-- No application comes or goes between the count and the triggers (a
-- server still on the old code, in a rolling deploy): reads go on.
LOCK TABLE applications IN SHARE ROW EXCLUSIVE MODE;
ALTER TABLE accounts ADD COLUMN applications_count BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET applications_count =
    (SELECT COUNT(*) FROM applications a WHERE a.tenant_id = accounts.tenant_id AND a.account_id = accounts.id);

CREATE FUNCTION tapline_count_applications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE accounts SET applications_count = applications_count - 1
        WHERE id = OLD.account_id AND tenant_id = OLD.tenant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE accounts SET applications_count = applications_count + 1
        WHERE id = NEW.account_id AND tenant_id = NEW.tenant_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER applications_counted AFTER INSERT OR DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION tapline_count_applications();
CREATE TRIGGER applications_recounted AFTER UPDATE OF tenant_id, account_id ON applications
    FOR EACH ROW WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION tapline_count_applications();
