-- A reporting round the clerks finish without help.
--
-- 取消上报 (无需上报) takes a hospital out of its city's figures: the city
-- says why, the reason is kept with the event and shown on 需求量信息确认
-- before the city submits.
UPDATE chain_transitions SET reason_required = true
WHERE chain = 'demand' AND level = 'hospital' AND action = 'exempt';

-- The log outlives what it names: an audit row keeps the actor's name and
-- org in words, and an account or org that goes leaves its rows as they
-- are.  Without the foreign keys an insert no longer locks the actor's
-- users and orgs rows (FOR KEY SHARE: a tuple lock, a WAL record and a
-- dirtied page at every save of the deadline rush).
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_user_id_fkey;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_org_id_fkey;

-- A hospital's 暂存 of a page, whole or not at all, in one statement: its
-- filing in the project, the chain's save transition (window, state, the
-- city not yet submitted: vbp_chain_fire locks the city's row and the
-- filing's), rules 1-3 of the project's line, the lines, the totals and
-- the audit row.  One 暂存 reports every error of the page at once: the
-- rules of single lines (1, 2) do not stop the save before rule 3 is
-- judged over the whole filing with the page's lines written -- and
-- anything refused raises SQLSTATE VB422 with the refusals as JSON in its
-- detail, so that the statement, alone in its transaction, leaves nothing
-- behind (the worker answers 404, 409 or 422 from them):
--   {"chain": [[item, outcome, state title, detail, name, action title,
--               state]]}                       the chain refused
--   {"lines": [[line, field, code, detail]]}   the rules refused
--   {"missing": true}                          the org has no filing
-- Returns the new totals as JSON; p_judge_only: the page is judged and
-- its refusals raised, never kept.  The arrays are one element per line; a
-- line with no quantity, no flag and no note is removed (p_empty names
-- them, so that nothing is deleted when nothing is empty); rule 3 names
-- only the lines of the page that carry a flag.
CREATE FUNCTION vbp_filing_page_save(p_project integer, p_org integer,
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
    f         record;
    refused   jsonb;
    totals    text;
    bad       boolean;
    certs     text[];
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

    -- lines of the project's catalog, each once (the form sends no other),
    -- and the certificates of those that carry a flag, for rule 3
    SELECT count(c.certificate) <> count(*)
           OR count(*) <> count(DISTINCT n.id),
           array_agg(DISTINCT c.certificate) FILTER (WHERE n.in_use IS NOT NULL)
    INTO bad, certs
    FROM unnest(p_ids, p_in_use) AS n (id, in_use)
    -- line by line through the catalog's key (OFFSET 0: the plan, made
    -- once for any page, never scans the catalog to join it)
    LEFT JOIN LATERAL (SELECT c.certificate FROM catalog_lines c
                       WHERE c.id = n.id AND c.project_id = p_project
                       OFFSET 0) c ON true;

    IF bad THEN
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

    -- rules 1 and 2, line by line: collected, the save goes on
    IF 'in_use_filled' = ANY (rules) OR 'in_use_last_year' = ANY (rules) THEN
        SELECT jsonb_agg(jsonb_build_array(x.id, 'in_use', x.code, NULL)
                         ORDER BY x.id)
        INTO refused
        FROM (SELECT n.id, CASE
                  WHEN 'in_use_filled' = ANY (rules) AND n.in_use IS NULL
                       AND (n.last_year IS NOT NULL OR n.demand IS NOT NULL)
                      THEN 'in_use_missing'
                  WHEN 'in_use_last_year' = ANY (rules) AND n.in_use = false
                       AND coalesce(n.last_year, 0) > 0
                      THEN 'in_use_last_year' END AS code
              FROM unnest(p_ids, p_last, p_demand, p_in_use)
                   AS n (id, last_year, demand, in_use)) x
        WHERE x.code IS NOT NULL;
    END IF;

    IF cardinality(p_empty) > 0 THEN
        DELETE FROM filing_lines l
        WHERE l.item_id = item AND l.catalog_line_id = ANY (p_empty);
    END IF;

    INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand,
                              intended, in_use, change_note)
    SELECT item, n.id, n.last_year, n.demand, n.intended, n.in_use,
           coalesce(n.note, '')
    FROM unnest(p_ids, p_last, p_demand, p_intended, p_in_use, p_notes)
         AS n (id, last_year, demand, intended, in_use, note)
    WHERE NOT (n.id = ANY (p_empty))
    ORDER BY n.id
    ON CONFLICT (item_id, catalog_line_id) DO UPDATE
    SET last_year = EXCLUDED.last_year, demand = EXCLUDED.demand,
        intended = EXCLUDED.intended, in_use = EXCLUDED.in_use,
        change_note = EXCLUDED.change_note;

    -- rule 3 over the whole filing, with this page's lines in it: a line
    -- saved on another page counts; each certificate of the page's flagged
    -- lines is read through its catalog lines (the (project, certificate)
    -- index, then the filing's line of each), never the whole filing;
    -- named on this page's flagged lines, with the errors of rules 1 and 2
    IF 'in_use_same_cert' = ANY (rules) AND certs IS NOT NULL THEN
        SELECT array_agg(pc.certificate) INTO certs
        FROM unnest(certs) AS pc (certificate)
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
        (last_year_total, demand_total, intended_total, lines, beyond) =
        (SELECT coalesce(sum(l.last_year), 0), coalesce(sum(l.demand), 0),
                coalesce(sum(l.intended), 0), count(*),
                count(*) FILTER (WHERE 'threshold' = ANY (rules)
                                 AND vbp_beyond(l.last_year, l.demand, pct))
         FROM filing_lines l WHERE l.item_id = item),
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

-- Plans made once per session for the save's statements: each call would
-- otherwise plan them again (custom plans for their array parameters,
-- and the SQL functions they call inlined anew each time: half the save's
-- time in make bench)
ALTER FUNCTION vbp_filing_page_save(integer, integer, text, integer, text,
                                    inet, integer[], integer[], integer[],
                                    integer[], boolean[], text[], integer[],
                                    boolean)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION vbp_chain_fire(text, text, bigint[], text, text, integer,
                              integer, text, inet, text)
    SET plan_cache_mode = force_generic_plan;

-- the save of a page is vbp_filing_page_save's now
DROP FUNCTION vbp_filing_save(bigint, integer[], integer[], integer[],
                              integer[], boolean[], text[]);

-- A city's peer fingerprint (migration 009), read at every city list:
-- PL/pgSQL now, so that its plan is kept for the session (as an SQL
-- function called from PL/pgSQL it was planned at every call).
CREATE OR REPLACE FUNCTION vbp_peer_fingerprint(p_city bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT count(*) || ':' || coalesce(sum(hashtextextended(
                       concat_ws('/', h.id, h.submitted_at, o.category,
                                 f.lines, f.demand_total), 0)::numeric), 0)
            FROM review_items h
            JOIN orgs o ON o.id = h.org_id
            JOIN filings f ON f.item_id = h.id
            WHERE h.parent_id = p_city AND h.level = 'hospital'
              AND h.state IN ('submitted', 'withdraw_requested', 'approved'));
END
$$;
