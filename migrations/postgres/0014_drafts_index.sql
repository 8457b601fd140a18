-- An account's drafts, for the draft limit counted as a draft is created:
-- without it the count reads every application the account ever sent.
-- Partial, so only drafts are in it and a sending takes its row out.
CREATE INDEX applications_drafts ON applications (tenant_id, account_id) WHERE status = 'draft';
