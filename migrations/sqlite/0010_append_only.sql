-- An application's history and the staff audit log are records: rows are
-- added, never changed. A draft's history goes with the draft when the
-- applicant deletes it; a sent application's history stays.
CREATE TRIGGER application_events_append_only BEFORE UPDATE ON application_events
BEGIN
    SELECT RAISE(ABORT, 'application_events is append-only');
END;

CREATE TRIGGER application_events_kept BEFORE DELETE ON application_events
WHEN EXISTS (SELECT 1 FROM applications WHERE id = OLD.application_id AND status <> 'draft')
BEGIN
    SELECT RAISE(ABORT, 'the history of a sent application is kept');
END;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_kept BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
