-- A project's catalog size, kept with the project.  Every filing page
-- counted the project's catalog to page it (half a millisecond for 2,000
-- lines, on every open of the deadline rush), the project list once per
-- project.  The catalog changes only by its import (and a project's
-- removal): a statement-level trigger counts the projects a statement
-- touched again, in the statement's transaction.

ALTER TABLE projects ADD COLUMN catalog_size integer NOT NULL DEFAULT 0;

CREATE FUNCTION vbp_catalog_recount(p_projects integer[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE projects p SET catalog_size = (SELECT count(*) FROM catalog_lines c
                                          WHERE c.project_id = p.id)
    WHERE p.id = ANY (p_projects)
$$;

DO $$ BEGIN PERFORM vbp_catalog_recount(ARRAY(SELECT id FROM projects)); END $$;

-- (a branch names only the transition table its operation has)
CREATE FUNCTION vbp_catalog_size() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM vbp_catalog_recount(ARRAY(SELECT DISTINCT n.project_id
                                          FROM new_rows n));
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM vbp_catalog_recount(ARRAY(SELECT DISTINCT o.project_id
                                          FROM old_rows o));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER catalog_size_insert AFTER INSERT ON catalog_lines
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vbp_catalog_size();
CREATE TRIGGER catalog_size_delete AFTER DELETE ON catalog_lines
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vbp_catalog_size();
CREATE TRIGGER catalog_size_update AFTER UPDATE ON catalog_lines
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION vbp_catalog_size();
