-- How many applications each account has, kept by the database itself:
-- "my applications" says how many there are on every page, and counting
-- them there read the account's whole index, a cost that grew with every
-- application sent (issue 13). Triggers, so that no way of adding or
-- removing an application can leave the number behind.
ALTER TABLE accounts ADD COLUMN applications_count INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET applications_count =
    (SELECT COUNT(*) FROM applications a WHERE a.tenant_id = accounts.tenant_id AND a.account_id = accounts.id);

CREATE TRIGGER applications_counted AFTER INSERT ON applications
BEGIN
    UPDATE accounts SET applications_count = applications_count + 1
    WHERE id = NEW.account_id AND tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER applications_uncounted AFTER DELETE ON applications
BEGIN
    UPDATE accounts SET applications_count = applications_count - 1
    WHERE id = OLD.account_id AND tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER applications_recounted AFTER UPDATE OF tenant_id, account_id ON applications
WHEN OLD.tenant_id IS NOT NEW.tenant_id OR OLD.account_id IS NOT NEW.account_id
BEGIN
    UPDATE accounts SET applications_count = applications_count - 1
    WHERE id = OLD.account_id AND tenant_id = OLD.tenant_id;
    UPDATE accounts SET applications_count = applications_count + 1
    WHERE id = NEW.account_id AND tenant_id = NEW.tenant_id;
END;
