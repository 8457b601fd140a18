-- An application's history and the staff audit log are records: rows are
-- added, never changed. A draft's history goes with the draft when the
-- applicant deletes it; a sent application's history stays.
CREATE FUNCTION tapline_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;

CREATE FUNCTION tapline_history_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM applications WHERE id = OLD.application_id AND status <> 'draft') THEN
        RAISE EXCEPTION 'the history of a sent application is kept';
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER application_events_append_only BEFORE UPDATE ON application_events
    FOR EACH ROW EXECUTE FUNCTION tapline_append_only();
CREATE TRIGGER application_events_kept BEFORE DELETE ON application_events
    FOR EACH ROW EXECUTE FUNCTION tapline_history_kept();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION tapline_append_only();
