-- The save close to its floor: what the deadline rush spends per 暂存.
--
-- Measured on the bench's national data set (make bench), one clerk's
-- 50-line save cost 2.6 times the bare upsert it guards.  Three things
-- made most of it, each fixed here without a rule leaving the server:
--
-- * vbp_item_window read its window with a FROM clause, so PostgreSQL
--   could not inline it: every chain transition planned its body again
--   (a quarter of a millisecond a call).  It is one expression now.
-- * rule 3 (one 在用 answer per certificate) read every line of every
--   certificate on the page after each save.  A stored filing always
--   keeps the rule (a save that breaks it is refused whole), so only the
--   certificates of lines whose 在用 answer this save sets or changes can
--   break it: those alone are read, and a save of figures reads none.
-- * the filing's totals were summed again over all its lines.  They move
--   by what the page changes: the page's lines as they were (read once,
--   with their catalog line) against the values sent.  The item's row,
--   locked by the chain's save transition, keeps any other save of the
--   same filing out until this one commits.  The rules and the project's
--   threshold a total depends on are re-counted for every filing when
--   they change (vbp_project_rescore below), not by the next save.

CREATE OR REPLACE FUNCTION vbp_item_window(p projects, p_name text,
                                           p_until timestamptz)
RETURNS tstzrange LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_until > upper(vbp_project_window(p, p_name))
                THEN tstzrange(lower(vbp_project_window(p, p_name)), p_until)
                ELSE vbp_project_window(p, p_name) END
$$;

CREATE OR REPLACE FUNCTION vbp_filing_page_save(p_project integer, p_org integer,
                                     p_actor_path text, p_uid integer,
                                     p_username text, p_ip inet,
                                     p_ids integer[], p_last integer[],
                                     p_demand integer[], p_intended integer[],
                                     p_in_use boolean[], p_notes text[],
                                     p_empty integer[], p_judge_only boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    item      bigint;
    scope     text;
    rules     text[];
    pct       integer;
    scored    boolean;
    f         record;
    refused   jsonb;
    totals    text;
    bad       boolean;
    certs     text[];
    d         record;
BEGIN
    SELECT i.id, i.scope_path, l.rules, p.threshold_pct
    INTO item, scope, rules, pct
    FROM review_items i JOIN projects p ON p.id = i.project_id
    JOIN product_lines l ON l.code = p.product_line
    WHERE i.project_id = p_project AND i.chain = 'demand'
      AND i.level = 'hospital' AND i.org_id = p_org;

    IF item IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'VB422', MESSAGE = 'refused',
            DETAIL = '{"missing": true}';
    END IF;

    scored := 'threshold' = ANY (rules);

    -- the chain first: it locks the city's row, then the filing's
    FOR f IN SELECT * FROM vbp_chain_fire('demand', 'save', ARRAY[item],
                                          'hospital', p_actor_path, p_org,
                                          p_uid, p_username, p_ip, NULL) x
    LOOP
        IF f.outcome <> 'ok' THEN
            SELECT jsonb_build_object('chain', jsonb_agg(jsonb_build_array(
                       x.item_id, x.outcome, coalesce(s.title, x.state),
                       x.detail, coalesce(o.name, ''), '暂存', x.state)))
            INTO refused
            FROM (SELECT f.item_id, f.outcome, f.state, f.detail) x
            LEFT JOIN review_items i ON i.id = x.item_id
            LEFT JOIN orgs o ON o.id = i.org_id
            LEFT JOIN chain_states s ON s.chain = i.chain
             AND s.level = i.level AND s.state = x.state;

            RAISE EXCEPTION USING ERRCODE = 'VB422', MESSAGE = 'refused',
                DETAIL = refused::text;
        END IF;
    END LOOP;

    -- the page's lines, each through the catalog's key and the filing's
    -- (OFFSET 0: the plan, made once for any page, never scans either):
    -- lines of the project's catalog, each once (the form sends no other);
    -- the certificates whose 在用 answer this save sets or changes, for
    -- rule 3; what the page's lines held, and will hold, for the totals;
    -- whether any figure moves (a line sent as it stands is not written);
    -- the errors of rules 1 and 2, line by line: collected, the save goes on
    SELECT count(c.certificate) <> count(*)
               OR count(*) <> count(DISTINCT n.id) AS bad,
           array_agg(DISTINCT c.certificate)
               FILTER (WHERE NOT n.gone AND n.in_use IS NOT NULL
                         AND n.in_use IS DISTINCT FROM o.in_use) AS certs,
           coalesce(sum(n.last_year) FILTER (WHERE NOT n.gone), 0)
               - coalesce(sum(o.last_year), 0) AS last_year,
           coalesce(sum(n.demand) FILTER (WHERE NOT n.gone), 0)
               - coalesce(sum(o.demand), 0) AS demand,
           coalesce(sum(n.intended) FILTER (WHERE NOT n.gone), 0)
               - coalesce(sum(o.intended), 0) AS intended,
           count(*) FILTER (WHERE NOT n.gone)
               - count(o.found) AS lines,
           count(*) FILTER (WHERE scored AND NOT n.gone
                              AND vbp_beyond(n.last_year, n.demand, pct))
               - count(*) FILTER (WHERE scored AND o.found
                                    AND vbp_beyond(o.last_year, o.demand, pct))
               AS beyond,
           bool_or(CASE WHEN n.gone THEN o.found
                        ELSE o.found IS NULL
                             OR (o.last_year, o.demand, o.intended, o.in_use)
                                IS DISTINCT FROM (n.last_year, n.demand,
                                                  n.intended, n.in_use)
                   END) AS moved,
           bool_or(NOT n.gone AND (o.found IS NULL
                   OR (o.last_year, o.demand, o.intended, o.in_use,
                       o.change_note)
                      IS DISTINCT FROM (n.last_year, n.demand, n.intended,
                                        n.in_use, coalesce(n.note, ''))))
               AS writes,
           jsonb_agg(jsonb_build_array(n.id, 'in_use', n.rule, NULL)
                     ORDER BY n.id) FILTER (WHERE n.rule IS NOT NULL)
               AS refused
    INTO d
    FROM (SELECT n.*, n.id = ANY (p_empty) AS gone, CASE
                 WHEN 'in_use_filled' = ANY (rules) AND n.in_use IS NULL
                      AND (n.last_year IS NOT NULL OR n.demand IS NOT NULL)
                     THEN 'in_use_missing'
                 WHEN 'in_use_last_year' = ANY (rules) AND n.in_use = false
                      AND coalesce(n.last_year, 0) > 0
                     THEN 'in_use_last_year' END AS rule
          FROM unnest(p_ids, p_last, p_demand, p_intended, p_in_use, p_notes)
               AS n (id, last_year, demand, intended, in_use, note)) n
    LEFT JOIN LATERAL (SELECT c.certificate FROM catalog_lines c
                       WHERE c.id = n.id AND c.project_id = p_project
                       OFFSET 0) c ON true
    LEFT JOIN LATERAL (SELECT true AS found, l.last_year, l.demand,
                              l.intended, l.in_use, l.change_note
                       FROM filing_lines l
                       WHERE l.item_id = item AND l.catalog_line_id = n.id
                       OFFSET 0) o ON true;

    IF d.bad THEN
        SELECT jsonb_build_object('lines', jsonb_agg(jsonb_build_array(
                   x.id, 'catalog_line_id',
                   CASE WHEN x.unknown THEN 'unknown_line'
                        ELSE 'duplicate_line' END, NULL)))
        INTO refused
        FROM (SELECT n.id, c.id IS NULL AS unknown,
                     count(*) OVER (PARTITION BY n.id) > 1 AS twice
              FROM unnest(p_ids) AS n (id)
              LEFT JOIN catalog_lines c ON c.id = n.id
               AND c.project_id = p_project) x
        WHERE x.unknown OR x.twice;

        RAISE EXCEPTION USING ERRCODE = 'VB422', MESSAGE = 'refused',
            DETAIL = refused::text;
    END IF;

    refused := d.refused;

    IF d.moved AND cardinality(p_empty) > 0 THEN
        DELETE FROM filing_lines l
        WHERE l.item_id = item AND l.catalog_line_id = ANY (p_empty)
          AND l.catalog_line_id = ANY (p_ids);
    END IF;

    IF d.writes THEN
        INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand,
                                  intended, in_use, change_note, changed_at)
        SELECT item, n.id, n.last_year, n.demand, n.intended, n.in_use,
               coalesce(n.note, ''), now()
        FROM unnest(p_ids, p_last, p_demand, p_intended, p_in_use, p_notes)
             AS n (id, last_year, demand, intended, in_use, note)
        WHERE NOT (n.id = ANY (p_empty))
        ORDER BY n.id
        ON CONFLICT (item_id, catalog_line_id) DO UPDATE
        SET last_year = EXCLUDED.last_year, demand = EXCLUDED.demand,
            intended = EXCLUDED.intended, in_use = EXCLUDED.in_use,
            change_note = EXCLUDED.change_note,
            changed_at = CASE
                WHEN (filing_lines.last_year, filing_lines.demand,
                      filing_lines.intended, filing_lines.in_use)
                     IS DISTINCT FROM (EXCLUDED.last_year, EXCLUDED.demand,
                                       EXCLUDED.intended, EXCLUDED.in_use)
                THEN now() ELSE filing_lines.changed_at END
        -- a line sent as it stands is not written again
        WHERE (filing_lines.last_year, filing_lines.demand,
               filing_lines.intended, filing_lines.in_use,
               filing_lines.change_note)
              IS DISTINCT FROM (EXCLUDED.last_year, EXCLUDED.demand,
                                EXCLUDED.intended, EXCLUDED.in_use,
                                EXCLUDED.change_note);
    END IF;

    -- rule 3 over the whole filing, with this page's lines in it: a line
    -- saved on another page counts; each certificate whose answer this
    -- save sets is read through its catalog lines (the (project,
    -- certificate) index, then the filing's line of each), never the whole
    -- filing; named on this page's flagged lines of it, with the errors of
    -- rules 1 and 2
    IF 'in_use_same_cert' = ANY (rules) AND d.certs IS NOT NULL THEN
        SELECT array_agg(pc.certificate) INTO certs
        FROM unnest(d.certs) AS pc (certificate)
        CROSS JOIN LATERAL (SELECT count(DISTINCT l.in_use) AS flags
                            FROM catalog_lines k
                            JOIN filing_lines l ON l.item_id = item
                             AND l.catalog_line_id = k.id
                            WHERE k.project_id = p_project
                              AND k.certificate = pc.certificate
                              AND l.in_use IS NOT NULL OFFSET 0) flags
        WHERE flags.flags > 1;

        IF certs IS NOT NULL THEN
            SELECT coalesce(refused, '[]') || jsonb_agg(
                       jsonb_build_array(n.id, 'in_use', 'in_use_cert',
                                         c.certificate) ORDER BY n.id)
            INTO refused
            FROM unnest(p_ids, p_in_use) AS n (id, in_use)
            JOIN catalog_lines c ON c.id = n.id
            WHERE n.in_use IS NOT NULL AND c.certificate = ANY (certs);
        END IF;
    END IF;

    -- judged only (the worker found values wrong in themselves): every
    -- error said, nothing kept
    IF refused IS NOT NULL OR p_judge_only THEN
        RAISE EXCEPTION USING ERRCODE = 'VB422', MESSAGE = 'refused',
            DETAIL = jsonb_build_object('lines',
                                        coalesce(refused, '[]'))::text;
    END IF;

    UPDATE filings SET
        last_year_total = last_year_total + d.last_year,
        demand_total = demand_total + d.demand,
        intended_total = intended_total + d.intended,
        lines = lines + d.lines,
        beyond = beyond + d.beyond,
        changed_at = CASE WHEN d.moved THEN now() ELSE changed_at END,
        saved_at = now()
    WHERE filings.item_id = item
    RETURNING json_build_object('item_id', item,
                                'last_year_total', last_year_total,
                                'demand_total', demand_total,
                                'intended_total', intended_total,
                                'lines', lines, 'beyond', beyond)::text
    INTO totals;

    INSERT INTO audit_log (actor_user_id, actor_name, actor_org_id, ip,
                           action, target_type, target_id, detail,
                           scope_path)
    VALUES (p_uid, p_username, p_org, p_ip, 'filing_saved', 'review_item',
            item::text, jsonb_build_object('lines', cardinality(p_ids)),
            scope);

    RETURN totals;
END
$$;

-- A filing's 超出阈值 count follows the project's threshold and its product
-- line's rules: changed, every filing of the project is counted again in
-- the same transaction (a save only moves the count by its own lines)
CREATE FUNCTION vbp_project_rescore() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE filings f SET beyond = x.beyond
    FROM (SELECT i.id,
                 (SELECT count(*) FROM filing_lines l
                  WHERE l.item_id = i.id
                    AND 'threshold' = ANY (pl.rules)
                    AND vbp_beyond(l.last_year, l.demand, NEW.threshold_pct))
                     AS beyond
          FROM review_items i, product_lines pl
          WHERE i.project_id = NEW.id AND i.chain = 'demand'
            AND i.level = 'hospital' AND pl.code = NEW.product_line) x
    WHERE f.item_id = x.id AND f.beyond <> x.beyond;
    RETURN NULL;
END
$$;

CREATE TRIGGER projects_rescore
    AFTER UPDATE OF threshold_pct, product_line ON projects
    FOR EACH ROW
    WHEN (OLD.threshold_pct IS DISTINCT FROM NEW.threshold_pct
          OR OLD.product_line IS DISTINCT FROM NEW.product_line)
    EXECUTE FUNCTION vbp_project_rescore();

ALTER FUNCTION vbp_filing_page_save(integer, integer, text, integer, text,
                                    inet, integer[], integer[], integer[],
                                    integer[], boolean[], text[], integer[],
                                    boolean)
    SET plan_cache_mode = force_generic_plan;

-- A save rewrites the lines it changes: room left on each page lets the
-- new version stay on it (a HOT update, no index entry to add), as a
-- filled page would not
ALTER TABLE filing_lines SET (fillfactor = 85);
