-- The save's first statement reads one row of settings, not three tables.
--
-- Measured in one pgbench run mixing both versions (one connection, the
-- bench's data set, the worker's statement), the save of migration 018
-- cost about 300 µs more than the bare 50-row upsert it guards.  Of that,
-- its first statement -- the locks and the judgement of a save that moves
-- nothing -- took ~70 µs beyond the two row locks: it joined the project,
-- its product line and the chain's save transition (a sequential scan of
-- chain_transitions, whose executor start -- the relation opened, its size
-- asked of the kernel -- costs more than the row it finds), and took the
-- page's smallest and largest id with an aggregate over unnest(), an
-- InitPlan of its own.  And the totals' count(DISTINCT) (is a line sent
-- twice?) and the refusals' jsonb_agg(... ORDER BY) each sorted.
--
-- * filing_save_gates: per project, what the hospital's save reads of its
--   project (threshold and the product line's rules) and of the chain's
--   save transition, with the transition's window already taken from the
--   project's columns.  Kept by triggers on projects, product_lines and
--   chain_transitions, in the transaction that changes them.  The
--   judgement reads it as vbp_chain_fire would judge (a NULL anywhere
--   leaves the save to vbp_chain_fire itself, which refuses with the
--   reason).
-- * The worker sends a page's lines in the order of their catalog ids,
--   each once (worker/filing.c refuses a line sent twice at its field):
--   the range is the first id to the last, and "each once, in order" is
--   one comparison with the next id per line -- a broken order is the
--   worker's fault and fails the save.
--
-- base 0.875 ms → 0.811 ms a save in that mixed run (the upsert 0.574).

CREATE TABLE filing_save_gates (
    project_id       integer PRIMARY KEY
                     REFERENCES projects (id) ON DELETE CASCADE,
    threshold_pct    integer NOT NULL,
    rules            text[] NOT NULL,
    present          boolean NOT NULL,     -- the chain has the transition
    from_states      text[],
    opens            timestamptz,          -- its window of the project
    closes           timestamptz,
    extends          text,
    reason_required  boolean,
    guard            text,
    to_state         text
);

-- the gate of one project, or of every project (NULL)
CREATE FUNCTION vbp_filing_save_gates_sync(p_project integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO filing_save_gates AS g
        (project_id, threshold_pct, rules, present, from_states, opens,
         closes, extends, reason_required, guard, to_state)
    SELECT p.id, p.threshold_pct, l.rules, t.chain IS NOT NULL,
           t.from_states,
           CASE t.window_name WHEN 'file' THEN p.file_opens
                WHEN 'city' THEN p.city_opens
                WHEN 'province' THEN p.province_opens
                ELSE p.alliance_opens END,
           CASE t.window_name WHEN 'file' THEN p.file_closes
                WHEN 'city' THEN p.city_closes
                WHEN 'province' THEN p.province_closes
                ELSE p.alliance_closes END,
           t.extends, t.reason_required, t.guard, t.to_state
    FROM projects p
    JOIN product_lines l ON l.code = p.product_line
    LEFT JOIN chain_transitions t ON t.chain = 'demand'
     AND t.level = 'hospital' AND t.action = 'save'
     AND t.actor_kind = 'hospital'
    WHERE p_project IS NULL OR p.id = p_project
    ON CONFLICT (project_id) DO UPDATE SET
        threshold_pct = EXCLUDED.threshold_pct, rules = EXCLUDED.rules,
        present = EXCLUDED.present, from_states = EXCLUDED.from_states,
        opens = EXCLUDED.opens, closes = EXCLUDED.closes,
        extends = EXCLUDED.extends,
        reason_required = EXCLUDED.reason_required, guard = EXCLUDED.guard,
        to_state = EXCLUDED.to_state;
$$;

CREATE FUNCTION vbp_filing_save_gates_project() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vbp_filing_save_gates_sync(NEW.id);
    RETURN NULL;
END
$$;

CREATE FUNCTION vbp_filing_save_gates_all() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM vbp_filing_save_gates_sync(NULL);
    RETURN NULL;
END
$$;

-- not on catalog_size, which every catalog import moves
CREATE TRIGGER projects_save_gate
    AFTER INSERT OR UPDATE OF product_line, threshold_pct,
        file_opens, file_closes, city_opens, city_closes,
        province_opens, province_closes, alliance_opens, alliance_closes
    ON projects FOR EACH ROW EXECUTE FUNCTION vbp_filing_save_gates_project();

CREATE TRIGGER product_lines_save_gate
    AFTER UPDATE OF rules ON product_lines
    FOR EACH STATEMENT EXECUTE FUNCTION vbp_filing_save_gates_all();

CREATE TRIGGER chain_transitions_save_gate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON chain_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION vbp_filing_save_gates_all();

SELECT vbp_filing_save_gates_sync(NULL);

CREATE OR REPLACE FUNCTION vbp_filing_page_save(p_project integer, p_org integer,
                                     p_actor_path text, p_uid integer,
                                     p_username text, p_ip inet,
                                     p_ids integer[], p_last integer[],
                                     p_demand integer[], p_intended integer[],
                                     p_in_use boolean[], p_notes text[],
                                     p_empty integer[], p_judge_only boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    j         record;
    f         record;
    d         record;
    refused   jsonb;
    certs     text[];
BEGIN
    -- the locks, the city's first, and the judgement of a save that moves
    -- nothing (vbp_chain_fire's, for the one transition, read from the
    -- project's gate: each NULL on the way leaves it to vbp_chain_fire)
    SELECT i.id AS item, i.scope_path, g.rules, g.threshold_pct AS pct,
           g.present
           AND i.state = ANY (g.from_states)
           AND now() >= g.opens
           AND now() < greatest(g.closes,
                                CASE g.extends WHEN 'self' THEN i.open_until
                                     WHEN 'parent' THEN pa.open_until END)
           AND NOT g.reason_required
           AND (g.guard <> 'parent_open'
                OR pa.state IN ('pending', 'returned'))
           AND CASE WHEN g.to_state = '*' THEN i.state
                    ELSE coalesce(g.to_state, i.state_before, i.state) END
               = i.state
           AND g.guard <> 'children_done'
           AND starts_with(i.scope_path, p_actor_path) AS still,
           ARRAY[p_ids[1], p_ids[cardinality(p_ids)]] AS bounds,
           'threshold' = ANY (g.rules) AS r_beyond,
           'in_use_filled' = ANY (g.rules) AS r_filled,
           'in_use_last_year' = ANY (g.rules) AS r_last_year
    INTO j
    FROM review_items i
    JOIN review_items pa ON pa.id = i.parent_id
    JOIN filing_save_gates g ON g.project_id = i.project_id
    WHERE i.project_id = p_project AND i.chain = 'demand'
      AND i.level = 'hospital' AND i.org_id = p_org
    FOR SHARE OF pa FOR UPDATE OF i;

    IF j.item IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'VB422', MESSAGE = 'refused',
            DETAIL = '{"missing": true}';
    END IF;

    -- a refusal, or a move of the state: the chain's own
    IF NOT coalesce(j.still, false) THEN
        FOR f IN SELECT * FROM vbp_chain_fire('demand', 'save',
                                              ARRAY[j.item], 'hospital',
                                              p_actor_path, p_org, p_uid,
                                              p_username, p_ip, NULL) x
        LOOP
            IF f.outcome <> 'ok' THEN
                SELECT jsonb_build_object('chain', jsonb_agg(
                           jsonb_build_array(x.item_id, x.outcome,
                                             coalesce(s.title, x.state),
                                             x.detail, coalesce(o.name, ''),
                                             '暂存', x.state)))
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
    END IF;

    -- the page's lines: each with what the filing holds of it (one range
    -- of the filing's key, from the page's first id to its last, hashed
    -- against the page); rewritten by address where a value changes (a
    -- line sent as it stands is not written again); the filing's totals
    -- moved by the difference, and the audit row.  Collected on the way:
    -- lines the filing does not hold (new, or not of the catalog), ids
    -- out of order, lines emptied, the certificates whose 在用 answer this
    -- save sets or changes (rule 3), the errors of rules 1 and 2.  A
    -- refusal found after this statement rolls all of it back.
    WITH o AS MATERIALIZED (
        SELECT n.id, n.next_id, n.last_year, n.demand, n.intended, n.in_use,
               coalesce(n.note, '') AS note, n.id = ANY (p_empty) AS gone,
               CASE WHEN j.r_filled AND n.in_use IS NULL
                         AND (n.last_year IS NOT NULL
                              OR n.demand IS NOT NULL)
                        THEN 'in_use_missing'
                    WHEN j.r_last_year
                         AND n.in_use = false
                         AND coalesce(n.last_year, 0) > 0
                        THEN 'in_use_last_year' END AS rule,
               l.ctid AS tid, l.last_year AS was_last_year,
               l.demand AS was_demand, l.intended AS was_intended,
               l.in_use AS was_in_use, l.change_note AS was_note,
               l.changed_at AS was_changed, l.ctid IS NOT NULL AS held,
               (l.last_year, l.demand, l.intended, l.in_use)
                   IS DISTINCT FROM (n.last_year, n.demand, n.intended,
                                     n.in_use) AS moved
        FROM (SELECT k.id, p_ids[k.i + 1] AS next_id,
                     p_last[k.i] AS last_year, p_demand[k.i] AS demand,
                     p_intended[k.i] AS intended, p_in_use[k.i] AS in_use,
                     p_notes[k.i] AS note
              FROM unnest(p_ids) WITH ORDINALITY AS k (id, i) OFFSET 0) n
        LEFT JOIN (SELECT l.ctid, l.catalog_line_id, l.last_year, l.demand,
                          l.intended, l.in_use, l.change_note, l.changed_at
                   FROM filing_lines l
                   WHERE l.item_id = j.item
                     AND l.catalog_line_id BETWEEN j.bounds[1] AND j.bounds[2]
                   OFFSET 0) l
          ON l.catalog_line_id = n.id),
    u AS (
        UPDATE filing_lines l
        SET last_year = m.last_year, demand = m.demand,
            intended = m.intended, in_use = m.in_use, change_note = m.note,
            changed_at = CASE WHEN m.moved THEN now() ELSE m.was_changed END
        FROM o m
        WHERE l.ctid = m.tid AND NOT m.gone
          AND (m.moved OR m.was_note <> m.note)),
    s AS (
        SELECT NOT bool_and(m.next_id IS NULL OR m.id < m.next_id) AS twice,
               count(*) FILTER (WHERE NOT m.held AND NOT m.gone) AS fresh,
               count(*) FILTER (WHERE m.held AND m.gone) AS dropped,
               bool_or(NOT m.held) AS unheld,
               coalesce(sum(m.last_year) FILTER (WHERE NOT m.gone), 0)
                   - coalesce(sum(m.was_last_year), 0) AS last_year,
               coalesce(sum(m.demand) FILTER (WHERE NOT m.gone), 0)
                   - coalesce(sum(m.was_demand), 0) AS demand,
               coalesce(sum(m.intended) FILTER (WHERE NOT m.gone), 0)
                   - coalesce(sum(m.was_intended), 0) AS intended,
               count(*) FILTER (WHERE NOT m.gone)
                   - count(*) FILTER (WHERE m.held) AS lines,
               count(*) FILTER (WHERE j.r_beyond
                                  AND NOT m.gone
                                  AND vbp_beyond(m.last_year, m.demand,
                                                 j.pct))
                   - count(*) FILTER (WHERE j.r_beyond
                                        AND m.held
                                        AND vbp_beyond(m.was_last_year,
                                                       m.was_demand, j.pct))
                   AS beyond,
               bool_or(CASE WHEN m.gone THEN m.held
                            ELSE NOT m.held OR m.moved END) AS moved,
               array_agg(m.id)
                   FILTER (WHERE NOT m.gone AND m.in_use IS NOT NULL
                             AND m.in_use IS DISTINCT FROM m.was_in_use)
                   AS flipped,
               jsonb_agg(jsonb_build_array(m.id, 'in_use', m.rule, NULL))
                   FILTER (WHERE m.rule IS NOT NULL) AS refused
        FROM o m),
    t AS (
        UPDATE filings fl SET
            last_year_total = fl.last_year_total + s.last_year,
            demand_total = fl.demand_total + s.demand,
            intended_total = fl.intended_total + s.intended,
            lines = fl.lines + s.lines,
            beyond = fl.beyond + s.beyond,
            changed_at = CASE WHEN s.moved THEN now() ELSE fl.changed_at END,
            saved_at = now()
        FROM s
        WHERE fl.item_id = j.item
        RETURNING json_build_object('item_id', j.item,
                                    'last_year_total', fl.last_year_total,
                                    'demand_total', fl.demand_total,
                                    'intended_total', fl.intended_total,
                                    'lines', fl.lines,
                                    'beyond', fl.beyond)::text AS totals),
    a AS (
        INSERT INTO audit_log (actor_user_id, actor_name, actor_org_id, ip,
                               action, target_type, target_id, detail,
                               scope_path)
        VALUES (p_uid, p_username, p_org, p_ip, 'filing_saved',
                'review_item', j.item::text,
                jsonb_build_object('lines', cardinality(p_ids)),
                j.scope_path))
    SELECT s.*, t.totals INTO d FROM s, t;

    -- the worker sends a page's lines in the order of their catalog ids,
    -- each once (a line sent twice it refuses itself): the range above
    -- holds them all
    IF d.twice THEN
        RAISE EXCEPTION 'vbp_filing_page_save: catalog ids not ascending';
    END IF;

    -- lines the filing did not hold: of the project's catalog (the
    -- sub-select's IF apart, so that a save of held lines never starts it)
    IF d.unheld THEN
    IF EXISTS (SELECT 1 FROM unnest(p_ids) AS n (id)
               WHERE NOT EXISTS (SELECT 1 FROM catalog_lines c
                                 WHERE c.id = n.id
                                   AND c.project_id = p_project))
    THEN
        SELECT jsonb_build_object('lines', jsonb_agg(jsonb_build_array(
                   n.id, 'catalog_line_id', 'unknown_line', NULL)))
        INTO refused
        FROM unnest(p_ids) AS n (id)
        WHERE NOT EXISTS (SELECT 1 FROM catalog_lines c
                          WHERE c.id = n.id AND c.project_id = p_project);

        RAISE EXCEPTION USING ERRCODE = 'VB422', MESSAGE = 'refused',
            DETAIL = refused::text;
    END IF;
    END IF;

    IF d.fresh > 0 THEN
        INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand,
                                  intended, in_use, change_note, changed_at)
        SELECT j.item, n.id, n.last_year, n.demand, n.intended, n.in_use,
               coalesce(n.note, ''), now()
        FROM unnest(p_ids, p_last, p_demand, p_intended, p_in_use, p_notes)
             AS n (id, last_year, demand, intended, in_use, note)
        WHERE NOT (n.id = ANY (p_empty))
        ORDER BY n.id
        ON CONFLICT (item_id, catalog_line_id) DO NOTHING;
    END IF;

    IF d.dropped > 0 THEN
        DELETE FROM filing_lines l
        WHERE l.item_id = j.item AND l.catalog_line_id = ANY (p_empty)
          AND l.catalog_line_id = ANY (p_ids);
    END IF;

    refused := d.refused;

    -- rule 3 over the whole filing, with this page's lines in it: a line
    -- saved on another page counts; each certificate whose answer this
    -- save sets is read through its catalog lines (the (project,
    -- certificate) index, then the filing's line of each), never the whole
    -- filing; named on this page's flagged lines of it, with the errors of
    -- rules 1 and 2
    IF 'in_use_same_cert' = ANY (j.rules) AND d.flipped IS NOT NULL THEN
        SELECT array_agg(pc.certificate) INTO certs
        FROM (SELECT DISTINCT c.certificate FROM catalog_lines c
              WHERE c.id = ANY (d.flipped)) pc
        CROSS JOIN LATERAL (SELECT count(DISTINCT l.in_use) AS flags
                            FROM catalog_lines k
                            JOIN filing_lines l ON l.item_id = j.item
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

    RETURN d.totals;
END
$$;
