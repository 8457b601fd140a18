-- The workflow engine: the date the utility must act by (working days of
-- the tenant's calendar, set on entering a status with a deadline), and the
-- supply type copied out of the field values so that lists can filter on it.
ALTER TABLE applications ADD COLUMN due_on TEXT;
ALTER TABLE applications ADD COLUMN supply_type TEXT;
CREATE INDEX applications_owner_supply ON applications (tenant_id, account_id, supply_type);
