-- What a return reopens, and why an action is not offered.
--
-- A level's windows follow each other: the hospitals file, then the city
-- reviews, then the province, then the alliance.  A return comes in the
-- returning level's window, after the returned level's own has closed: a
-- province returns a city during 省级审核, and the city must then return
-- one of its hospitals and the hospital mend its filing (seed 000 3.4.5)
-- -- in windows that are past.  So a return (and a withdrawal granted, a
-- hospital taken back into the round by 上报) reopens the item it moves
-- until the returning level's own time is up: review_items.open_until.
-- The item's owner's moves (chain_transitions.extends = 'self': a
-- hospital's 暂存 and 提交, a city's or province's 提交) and the moves of
-- the level above on it ('parent': a city's 退回修改 of one of its
-- hospitals while the city itself stands returned) are judged against
-- their window stretched to that time; a new submission by the owner ends
-- it.  Nothing else is stretched: a hospital that never submitted cannot
-- file after its window by itself.

ALTER TABLE review_items ADD COLUMN open_until timestamptz;

ALTER TABLE chain_transitions
    ADD COLUMN extends text CHECK (extends IN ('self', 'parent')),
    ADD COLUMN reopens boolean NOT NULL DEFAULT false;

UPDATE chain_transitions SET extends = CASE
    WHEN (level, actor_kind) IN (('hospital', 'hospital'),
                                 ('city', 'city_bureau'),
                                 ('province', 'province_bureau'))
        THEN 'self' ELSE 'parent' END
WHERE chain = 'demand';

UPDATE chain_transitions SET reopens = true
WHERE chain = 'demand' AND action IN ('return', 'grant_withdraw', 'include');

-- 取消上报 and 上报 reach the hospital concerned, as a return does
UPDATE chain_transitions SET notify = 'owner'
WHERE chain = 'demand' AND action IN ('exempt', 'include');

-- a transition's window as it applies to an item: stretched to the time
-- it was reopened until (never shortened)
CREATE FUNCTION vbp_item_window(p projects, p_name text, p_until timestamptz)
RETURNS tstzrange LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_until > upper(w) THEN tstzrange(lower(w), p_until)
                ELSE w END
    FROM vbp_project_window(p, p_name) w
$$;

-- vbp_chain_fire (migration 011) with the windows stretched and the
-- reopening kept: see there for the locks and the judgement.
CREATE OR REPLACE FUNCTION vbp_chain_fire(p_chain text, p_action text,
                               p_items bigint[],
                               p_actor_kind text, p_actor_path text,
                               p_actor_org integer, p_uid integer,
                               p_username text, p_ip inet, p_reason text)
RETURNS TABLE (item_id bigint, outcome text, state text, detail text)
LANGUAGE plpgsql ROWS 1 SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    r         record;
    target    text;
    ok        boolean := true;
    moved     bigint[] := '{}';
    tos       text[] := '{}';
    froms     text[] := '{}';
    untils    timestamptz[] := '{}';
    seen      bigint[] := '{}';
    i         integer;
    guarded   boolean;
    notifies  boolean;
BEGIN
    SELECT coalesce(bool_or(t.guard = 'parent_open'
                            OR t.extends = 'parent'), false),
           coalesce(bool_or(t.notify IS NOT NULL), false)
    INTO guarded, notifies
    FROM chain_transitions t
    WHERE t.chain = p_chain AND t.action = p_action
      AND t.actor_kind = p_actor_kind;

    -- the level above first: what 'parent_open' and a stretched window
    -- read of it cannot change under it, and a parent's own transition
    -- (FOR UPDATE below) waits for it
    IF guarded THEN
        PERFORM 1 FROM review_items p
        WHERE p.id IN (SELECT r.parent_id FROM review_items r
                       WHERE r.id = ANY (p_items) AND r.chain = p_chain
                         AND starts_with(r.scope_path, p_actor_path)
                         AND (p_actor_kind <> 'hospital'
                              OR r.org_id = p_actor_org))
        ORDER BY p.id FOR SHARE;
    END IF;

    FOR r IN
        SELECT it.id, it.state, it.state_before, it.level,
               starts_with(it.scope_path, p_actor_path)
               AND (p_actor_kind <> 'hospital' OR it.org_id = p_actor_org)
                   AS in_scope,
               t.chain IS NOT NULL AS known, t.from_states, t.to_state,
               t.reason_required, t.guard, t.window_name, t.reopens,
               t.extends,
               vbp_item_window(p, t.window_name,
                               CASE t.extends WHEN 'self' THEN it.open_until
                                    WHEN 'parent' THEN pa.open_until END)
                   AS win,
               pa.state AS parent_state, pa.title AS parent_title
        FROM review_items it
        JOIN projects p ON p.id = it.project_id
        LEFT JOIN chain_transitions t ON t.chain = p_chain
         AND t.level = it.level AND t.action = p_action
         AND t.actor_kind = p_actor_kind
        -- the parent by its key, item by item (OFFSET 0: the plan, made
        -- once for any batch, never scans the items to join them)
        LEFT JOIN LATERAL (SELECT pa.state, pa.open_until, ps.title
                           FROM review_items pa
                           LEFT JOIN chain_states ps ON ps.chain = pa.chain
                            AND ps.level = pa.level AND ps.state = pa.state
                           WHERE pa.id = it.parent_id OFFSET 0) pa ON true
        WHERE it.id = ANY (p_items) AND it.chain = p_chain
        ORDER BY it.id
        FOR UPDATE OF it
    LOOP
        -- out of scope reads as not there
        CONTINUE WHEN NOT r.in_scope;
        seen := seen || r.id;

        item_id := r.id; state := r.state; detail := NULL;

        IF NOT r.known THEN
            outcome := 'no_action'; detail := r.level;
        ELSE
            outcome := vbp_chain_verdict(r.state, r.from_states, r.win,
                                         r.reason_required, p_reason,
                                         r.guard, r.parent_state);
            IF outcome = 'window' THEN
                detail := vbp_window_detail(r.window_name, r.win);
            ELSIF outcome = 'parent' THEN
                detail := r.parent_title;
            ELSIF outcome IS NULL AND r.guard = 'children_done' THEN
                detail := vbp_chain_blocking(r.id);
                outcome := CASE WHEN detail IS NOT NULL THEN 'children' END;
            END IF;
        END IF;

        IF outcome IS NOT NULL THEN
            ok := false;
            RETURN NEXT;
            CONTINUE;
        END IF;

        target := CASE WHEN r.to_state = '*' THEN r.state
                       ELSE coalesce(r.to_state, r.state_before, r.state) END;
        moved := moved || r.id;
        froms := froms || r.state;
        tos := tos || target;
        -- a reopening lasts as long as the mover's own time; the owner's
        -- new submission ends it
        untils := untils || CASE
            WHEN r.reopens THEN upper(r.win)
            WHEN r.extends = 'self' AND target = 'submitted' THEN NULL
            ELSE '-infinity'::timestamptz END;
    END LOOP;

    -- not there, of another chain, or out of scope: all the same to him
    IF coalesce(array_length(seen, 1), 0) < array_length(p_items, 1) THEN
        FOR item_id IN SELECT DISTINCT x FROM unnest(p_items) x
                       WHERE NOT (x = ANY (seen)) ORDER BY 1
        LOOP
            ok := false; outcome := 'not_found'; state := NULL;
            detail := NULL;
            RETURN NEXT;
        END LOOP;
    END IF;

    IF NOT ok THEN
        RETURN;
    END IF;

    FOR i IN 1 .. coalesce(array_length(moved, 1), 0) LOOP
        item_id := moved[i]; outcome := 'ok'; state := tos[i];
        detail := froms[i];

        -- a draft saved again stays a draft: no event for what did not move
        IF tos[i] = froms[i] THEN
            RETURN NEXT;
            CONTINUE;
        END IF;

        -- ('-infinity': the reopening stays as it is)
        UPDATE review_items r
        SET state = tos[i], state_before = froms[i], handled_at = now(),
            submitted_at = CASE WHEN p_action = 'submit' THEN now()
                                ELSE r.submitted_at END,
            open_until = CASE WHEN untils[i] = '-infinity' THEN r.open_until
                              ELSE untils[i] END
        WHERE r.id = moved[i];

        INSERT INTO review_events (item_id, actor_user_id, actor_name,
                                   actor_org_id, action, from_state,
                                   to_state, reason)
        VALUES (moved[i], p_uid, p_username, p_actor_org, p_action,
                froms[i], tos[i], nullif(btrim(p_reason), ''));

        INSERT INTO audit_log (actor_user_id, actor_name, actor_org_id, ip,
                               action, target_type, target_id, from_state,
                               to_state, reason, detail, scope_path)
        SELECT p_uid, p_username, p_actor_org, p_ip,
               'review_' || p_action, 'review_item', moved[i]::text,
               froms[i], tos[i], nullif(btrim(p_reason), ''),
               jsonb_build_object('chain', p_chain, 'level', r.level,
                                  'project', r.project_id,
                                  'open_until', r.open_until),
               r.scope_path
        FROM review_items r WHERE r.id = moved[i];

        RETURN NEXT;
    END LOOP;

    -- the org a move concerns hears of it on its home page (migration 010)
    IF notifies THEN
        PERFORM vbp_chain_notify(p_chain, p_action,
                    ARRAY(SELECT moved[k] FROM generate_subscripts(moved, 1) k
                          WHERE tos[k] <> froms[k]),
                    p_reason, p_actor_org);
    END IF;
END
$$;

-- The actions of the actor's kind on items in its scope whose state they
-- start from, each with what the chain would say now (vbp_chain_fire's
-- judgement: NULL it may, or 'window', 'parent', 'children' with the
-- detail; a reason is asked by the form): the pages offer the first, and
-- say why the others are not offered.  Nothing is locked: an offer, not a
-- promise; vbp_chain_fire decides.  (PL/pgSQL with its plan made once per
-- session: as an SQL function it was inlined into its caller's statement
-- and planned again at every page.)
DROP FUNCTION vbp_chain_actions(text, bigint[], text, text, integer);

CREATE FUNCTION vbp_chain_actions(p_chain text, p_items bigint[],
                                  p_actor_kind text, p_actor_path text,
                                  p_actor_org integer)
RETURNS TABLE (item_id bigint, action text, title text,
               reason_required boolean, outcome text, detail text)
LANGUAGE plpgsql STABLE ROWS 4 SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT x.id, x.action, x.title, x.reason_required,
           coalesce(x.verdict, CASE WHEN x.blocking IS NOT NULL
                                    THEN 'children' END),
           CASE x.verdict WHEN 'window' THEN
                    vbp_window_detail(x.window_name, x.win)
                WHEN 'parent' THEN x.parent_title
                ELSE x.blocking END
    FROM (SELECT y.*,
                 CASE WHEN y.verdict IS NULL AND y.guard = 'children_done'
                      THEN vbp_chain_blocking(y.id) END AS blocking
          FROM (SELECT it.id, t.action, t.title, t.reason_required, t.sort,
                       t.guard, t.window_name, w.win, pa.title AS parent_title,
                       vbp_chain_verdict(it.state, t.from_states, w.win,
                                         false, NULL, t.guard, pa.state)
                           AS verdict
                FROM review_items it
                JOIN projects p ON p.id = it.project_id
                JOIN chain_transitions t ON t.chain = it.chain
                 AND t.level = it.level AND t.actor_kind = p_actor_kind
                 AND it.state = ANY (t.from_states)
                LEFT JOIN LATERAL (SELECT pa.state, pa.open_until, ps.title
                                   FROM review_items pa
                                   LEFT JOIN chain_states ps
                                    ON ps.chain = pa.chain
                                   AND ps.level = pa.level
                                   AND ps.state = pa.state
                                   WHERE pa.id = it.parent_id OFFSET 0) pa
                 ON true
                CROSS JOIN LATERAL (SELECT vbp_item_window(p, t.window_name,
                        CASE t.extends WHEN 'self' THEN it.open_until
                             WHEN 'parent' THEN pa.open_until END) AS win) w
                WHERE it.id = ANY (p_items) AND it.chain = p_chain
                  AND starts_with(it.scope_path, p_actor_path)
                  AND (p_actor_kind <> 'hospital'
                       OR it.org_id = p_actor_org)) y) x
    ORDER BY x.id, x.sort, x.action;
END
$$;

-- A signed sheet of figures that have changed since it was signed is not
-- what the level above must read: a hospital's 需求量汇总表 uploaded before
-- its lines last changed (filings.changed_at, kept by the save), a
-- province's 盖章汇总数据 uploaded before a filing below it changed or a
-- hospital was taken out of (or back into) the round.  Such a file is
-- stale: the checklist and 提交 ask for it again, the reviewers' pages
-- mark it.
-- (A line's figures -- quantities and 是否有在用仪器, what the sheet shows
-- -- carry when they last changed: a 增降幅说明 added later, or a page
-- saved again as it stands, leaves the sheet as good as it was.)
ALTER TABLE filings ADD COLUMN changed_at timestamptz;
UPDATE filings SET changed_at = saved_at;
ALTER TABLE filing_lines ADD COLUMN changed_at timestamptz;

CREATE FUNCTION vbp_file_stale(x item_files)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    it  review_items;
BEGIN
    IF x.kind = 'summary' THEN
        RETURN coalesce((SELECT f.changed_at > x.uploaded_at FROM filings f
                         WHERE f.item_id = x.item_id), false);
    END IF;

    IF x.kind <> 'province_summary' THEN
        RETURN false;
    END IF;

    SELECT * INTO it FROM review_items WHERE id = x.item_id;

    RETURN EXISTS (SELECT 1 FROM review_items h
                   JOIN filings f ON f.item_id = h.id
                   WHERE h.project_id = it.project_id AND h.level = 'hospital'
                     AND h.chain = it.chain
                     AND starts_with(h.scope_path, it.scope_path)
                     AND f.changed_at > x.uploaded_at)
        OR EXISTS (SELECT 1 FROM review_items h
                   JOIN review_events e ON e.item_id = h.id
                   WHERE h.project_id = it.project_id AND h.level = 'hospital'
                     AND h.chain = it.chain
                     AND starts_with(h.scope_path, it.scope_path)
                     AND e.action IN ('exempt', 'include')
                     AND e.at > x.uploaded_at);
END
$$;

-- vbp_filing_page_save (migration 012), keeping when the figures changed
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
    f         record;
    refused   jsonb;
    totals    text;
    bad       boolean;
    certs     text[];
    n         bigint;
    deleted   boolean := false;
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
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := n > 0;
    END IF;

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
    WHERE (filing_lines.last_year, filing_lines.demand, filing_lines.intended,
           filing_lines.in_use, filing_lines.change_note)
          IS DISTINCT FROM (EXCLUDED.last_year, EXCLUDED.demand,
                            EXCLUDED.intended, EXCLUDED.in_use,
                            EXCLUDED.change_note);

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
        (last_year_total, demand_total, intended_total, lines, beyond,
         changed_at) =
        (SELECT coalesce(sum(l.last_year), 0), coalesce(sum(l.demand), 0),
                coalesce(sum(l.intended), 0), count(*),
                count(*) FILTER (WHERE 'threshold' = ANY (rules)
                                 AND vbp_beyond(l.last_year, l.demand, pct)),
                greatest(filings.changed_at, max(l.changed_at),
                         CASE WHEN deleted THEN now() END)
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

ALTER FUNCTION vbp_filing_page_save(integer, integer, text, integer, text,
                                    inet, integer[], integer[], integer[],
                                    integer[], boolean[], text[], integer[],
                                    boolean)
    SET plan_cache_mode = force_generic_plan;

-- What stands between a filing and its 提交 (migration 005), a summary
-- sheet signed before the figures last changed among it
CREATE OR REPLACE FUNCTION vbp_filing_blockers(p_item bigint)
RETURNS TABLE (line_id integer, field text, code text, detail text)
LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT f.*, l.rules, p.threshold_pct AS pct
        FROM filings f JOIN review_items i ON i.id = f.item_id
        JOIN projects p ON p.id = i.project_id
        JOIN product_lines l ON l.code = p.product_line
        WHERE f.item_id = p_item)
    SELECT NULL::integer, 'lines', 'no_lines', NULL FROM f WHERE f.lines = 0
    UNION ALL
    SELECT NULL, 'commitment', 'file_missing', NULL FROM f
    WHERE NOT EXISTS (SELECT 1 FROM item_files x
                      WHERE x.item_id = p_item AND x.kind = 'commitment')
    UNION ALL
    SELECT NULL, 'summary', 'file_missing', NULL FROM f
    WHERE NOT EXISTS (SELECT 1 FROM item_files x
                      WHERE x.item_id = p_item AND x.kind = 'summary')
    UNION ALL
    SELECT NULL, 'summary', 'file_stale', NULL FROM f
    JOIN item_files x ON x.item_id = p_item AND x.kind = 'summary'
    WHERE x.uploaded_at < f.changed_at
    UNION ALL
    SELECT NULL, 'below_reason', 'below_reason_missing', NULL FROM f
    WHERE 'below_intended' = ANY (f.rules)
      AND f.demand_total < f.intended_total AND btrim(f.below_reason) = ''
    UNION ALL
    (SELECT NULL, 'in_use_note', 'in_use_note_missing', c.certificate
     FROM f JOIN filing_lines l ON l.item_id = f.item_id
     JOIN catalog_lines c ON c.id = l.catalog_line_id
     WHERE 'in_use_note' = ANY (f.rules) AND l.in_use = false
       AND NOT EXISTS (SELECT 1 FROM item_files x
                       WHERE x.item_id = p_item AND x.kind = 'in_use_note'
                         AND x.certificate = c.certificate)
     GROUP BY c.certificate ORDER BY c.certificate)
    UNION ALL
    (SELECT l.catalog_line_id, 'change_note', 'change_note_missing', NULL
     FROM f JOIN filing_lines l ON l.item_id = f.item_id
     WHERE 'threshold' = ANY (f.rules)
       AND vbp_beyond(l.last_year, l.demand, f.pct)
       AND btrim(l.change_note) = ''
     ORDER BY l.catalog_line_id)
$$;

-- A project's windows only ever move later (the project form refuses an
-- earlier time).  A notice of a window's opening or closing names the time
-- it was made for (event '<window>_<edge>@<epoch>'): when the window moves,
-- the notices of the old times are withdrawn -- a "已截止" that is no longer
-- true leaves the home pages -- and one notice says the new times to the
-- same orgs.  The notices of the new times follow when they come.
UPDATE notices n SET event = n.event || '@' || extract(epoch FROM CASE n.event
        WHEN 'file_opens' THEN p.file_opens WHEN 'file_closes' THEN p.file_closes
        WHEN 'city_opens' THEN p.city_opens WHEN 'city_closes' THEN p.city_closes
        WHEN 'province_opens' THEN p.province_opens
        WHEN 'province_closes' THEN p.province_closes
        WHEN 'alliance_opens' THEN p.alliance_opens
        ELSE p.alliance_closes END)::bigint
FROM projects p
WHERE n.project_id = p.id AND n.kind = 'system' AND n.target_org_id IS NULL
  AND n.event ~ '^(file|city|province|alliance)_(opens|closes)$';

-- the windows of the projects, as the notices name them
CREATE FUNCTION vbp_project_windows()
RETURNS TABLE (project_id integer, project_name text, name text, title text,
               opens timestamptz, closes timestamptz, audience text[])
LANGUAGE sql STABLE AS $$
    SELECT p.id, p.name, v.*
    FROM projects p
    CROSS JOIN LATERAL (VALUES
        ('file', '医疗机构填报', p.file_opens, p.file_closes,
         '{hospital,city_bureau}'::text[]),
        ('city', '市级审核', p.city_opens, p.city_closes,
         '{city_bureau,province_bureau}'::text[]),
        ('province', '省级审核', p.province_opens, p.province_closes,
         '{province_bureau}'::text[]),
        ('alliance', '联采办审核', p.alliance_opens, p.alliance_closes,
         '{alliance}'::text[]))
        AS v (name, title, opens, closes, audience)
$$;

CREATE OR REPLACE FUNCTION vbp_notices_sync()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- the notices of times a window no longer has, withdrawn; the window's
    -- new times said once, to the same orgs
    WITH moved AS (
        UPDATE notices n SET withdrawn_at = now(), updated_at = now()
        FROM vbp_project_windows() w
        WHERE n.project_id = w.project_id AND n.kind = 'system'
          AND n.target_org_id IS NULL AND n.withdrawn_at IS NULL
          AND split_part(n.event, '@', 1) IN (w.name || '_opens',
                                              w.name || '_closes')
          AND n.event <> split_part(n.event, '@', 1) || '@'
              || extract(epoch FROM CASE split_part(n.event, '@', 1)
                                    WHEN w.name || '_opens' THEN w.opens
                                    ELSE w.closes END)::bigint
        RETURNING w.*)
    INSERT INTO notices (kind, title, body, href, project_id, scope_path,
                         audience, event, publish_at, end_at)
    SELECT DISTINCT ON (m.project_id, m.name) 'system',
           left(concat('「', m.project_name, '」', m.title, '时间已调整'), 100),
           concat(m.title, '时间调整为：',
                  to_char(m.opens AT TIME ZONE 'Asia/Shanghai',
                          'YYYY-MM-DD HH24:MI'), ' 至 ',
                  to_char(m.closes AT TIME ZONE 'Asia/Shanghai',
                          'YYYY-MM-DD HH24:MI')),
           '/projects', m.project_id, '/', m.audience,
           concat(m.name, '_moved@', extract(epoch FROM m.opens)::bigint, '_',
                  extract(epoch FROM m.closes)::bigint),
           now(), greatest(m.closes, now()) + interval '30 days'
    FROM moved m
    ORDER BY m.project_id, m.name
    ON CONFLICT (project_id, event) WHERE event IS NOT NULL
                                      AND target_org_id IS NULL
    DO NOTHING;

    -- a window's opening and closing, once each, when the moment has come
    -- (at most a month late: an old project does not fill the home pages
    -- of a new deployment)
    INSERT INTO notices (kind, title, body, href, project_id, scope_path,
                         audience, event, publish_at, end_at)
    SELECT 'system',
           left(concat('「', w.project_name, '」', w.title,
                       CASE e.edge WHEN 'opens' THEN '已开始' ELSE '已截止' END),
                100),
           concat(w.title, '时间：',
                  to_char(w.opens AT TIME ZONE 'Asia/Shanghai',
                          'YYYY-MM-DD HH24:MI'), ' 至 ',
                  to_char(w.closes AT TIME ZONE 'Asia/Shanghai',
                          'YYYY-MM-DD HH24:MI')),
           '/projects', w.project_id, '/', w.audience,
           w.name || '_' || e.edge || '@' || extract(epoch FROM e.at)::bigint,
           e.at, e.at + interval '30 days'
    FROM vbp_project_windows() w
    CROSS JOIN LATERAL (VALUES ('opens', w.opens), ('closes', w.closes))
        AS e (edge, at)
    WHERE e.at <= now() AND e.at > now() - interval '31 days'
    ON CONFLICT (project_id, event) WHERE event IS NOT NULL
                                      AND target_org_id IS NULL
    DO NOTHING;
END
$$;

-- An announcement may be kept as a draft (草稿) while its attachments are
-- uploaded: it reaches no one until its author publishes it.
ALTER TABLE notices ADD COLUMN draft boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION vbp_notice_for(n notices, p_org integer,
                                          p_kind text, p_path text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT NOT n.draft AND n.withdrawn_at IS NULL AND n.publish_at <= now()
       AND (n.end_at IS NULL OR n.end_at > now())
       AND CASE
        WHEN n.target_org_id IS NOT NULL THEN n.target_org_id = p_org
        WHEN NOT (p_kind = ANY (n.audience)) THEN false
        WHEN n.project_id IS NOT NULL THEN EXISTS (
            SELECT 1 FROM review_items i
            WHERE i.project_id = n.project_id
              AND starts_with(i.scope_path, p_path)
              AND (p_kind <> 'hospital' OR i.org_id = p_org))
        ELSE starts_with(p_path, n.scope_path)
       END
$$;

-- The notice of a chain's move says who made it (migration 010's said
-- only the reason): "沈阳市医疗保障局 退回修改。原因：…"
CREATE FUNCTION vbp_chain_notify(p_chain text, p_action text,
                                 p_items bigint[], p_reason text,
                                 p_actor_org integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO notices (kind, title, body, href, target_org_id, project_id,
                         scope_path, event)
    SELECT 'system',
           left(concat('「', p.name, '」', coalesce(o.name, g.name), '：',
                       t.title), 100),
           left(concat((SELECT a.name FROM orgs a WHERE a.id = p_actor_org),
                       ' ', t.title,
                       CASE WHEN coalesce(btrim(p_reason), '') <> ''
                            THEN concat('。原因：', btrim(p_reason)) END),
                5000),
           vbp_item_href(i, t.notify = 'owner'),
           CASE t.notify WHEN 'owner' THEN vbp_item_owner(i)
                ELSE (SELECT vbp_item_owner(pa) FROM review_items pa
                      WHERE pa.id = i.parent_id) END,
           i.project_id, i.scope_path, p_action
    FROM review_items i
    JOIN chain_transitions t ON t.chain = i.chain AND t.level = i.level
     AND t.action = p_action AND t.notify IS NOT NULL
    JOIN projects p ON p.id = i.project_id
    LEFT JOIN orgs o ON o.id = i.org_id
    LEFT JOIN regions g ON g.id = i.region_id
    WHERE i.id = ANY (p_items) AND i.chain = p_chain
$$;
