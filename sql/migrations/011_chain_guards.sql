-- The chain's guards, made sound, and the actions an actor may take now.
--
-- A guard reads another level: 'parent_open' the item above (has it
-- submitted?), 'children_done' the items below (are they all done?).
-- Checked in transactions that did not exclude each other, both sides of a
-- race could pass: a hospital's 撤回申请 and its city's 提交 sent at the
-- same moment both answered 200, and the city stood 已提交 over a hospital
-- 撤回申请中.  Now every transition whose guard is 'parent_open' takes the
-- parent's row FOR SHARE before its own items FOR UPDATE (DESIGN.md: the
-- parent first, then the children), and a parent's own transition locks
-- its row FOR UPDATE, which conflicts: the child's change and the parent's
-- submission serialise on the parent's row, and the one that comes second
-- reads what the first committed (each statement of the function reads a
-- new snapshot under READ COMMITTED, taken after its locks were granted).
-- Shared locks do not conflict with each other: the hospitals of one city
-- saving at once do not wait for each other.
--
-- What may be done is judged by one function, vbp_chain_verdict(), over
-- what one query reads of each item (its transition, its window, its
-- parent's state), used both to fire (vbp_chain_fire) and to offer
-- (vbp_chain_actions): a page shows exactly the buttons the chain would
-- accept.  Every move's event and audit row are written with it, and the
-- notice its transition names (vbp_chain_notify, migration 010).

-- the order a page offers a level's actions in
ALTER TABLE chain_transitions ADD COLUMN sort integer NOT NULL DEFAULT 0;

UPDATE chain_transitions SET sort = CASE action
    WHEN 'save' THEN 1 WHEN 'submit' THEN 2 WHEN 'request_withdraw' THEN 3
    WHEN 'approve' THEN 4 WHEN 'return' THEN 5 WHEN 'revoke' THEN 6
    WHEN 'grant_withdraw' THEN 7 WHEN 'refuse_withdraw' THEN 8
    WHEN 'exempt' THEN 9 WHEN 'include' THEN 10 WHEN 'attach' THEN 11
    WHEN 'withdraw' THEN 12 ELSE 99 END;

-- a project's window by its name, [opens, closes)
CREATE FUNCTION vbp_project_window(p projects, p_name text)
RETURNS tstzrange LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_name
        WHEN 'file' THEN tstzrange(p.file_opens, p.file_closes)
        WHEN 'city' THEN tstzrange(p.city_opens, p.city_closes)
        WHEN 'province' THEN tstzrange(p.province_opens, p.province_closes)
        ELSE tstzrange(p.alliance_opens, p.alliance_closes)
    END
$$;

-- What stops an action on an item, of what can be told without reading
-- further: 'state', 'window', 'reason', 'parent', or NULL (it may go on;
-- 'children_done' is vbp_chain_blocking's to say)
CREATE FUNCTION vbp_chain_verdict(p_state text, p_from text[],
                                  p_window tstzrange, p_reason_needed boolean,
                                  p_reason text, p_guard text,
                                  p_parent_state text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN NOT (p_state = ANY (p_from)) THEN 'state'
        WHEN NOT (now() <@ p_window) THEN 'window'
        WHEN p_reason_needed AND coalesce(btrim(p_reason), '') = ''
            THEN 'reason'
        WHEN p_guard = 'parent_open'
             AND p_parent_state NOT IN ('pending', 'returned') THEN 'parent'
    END
$$;

-- a window refused, as the refusal says it: window|not_open or
-- closed|opens|closes (China time)
CREATE FUNCTION vbp_window_detail(p_name text, p_window tstzrange)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT concat_ws('|', p_name,
                     CASE WHEN now() < lower(p_window) THEN 'not_open'
                          ELSE 'closed' END,
                     to_char(lower(p_window) AT TIME ZONE 'Asia/Shanghai',
                             'YYYY-MM-DD HH24:MI'),
                     to_char(upper(p_window) AT TIME ZONE 'Asia/Shanghai',
                             'YYYY-MM-DD HH24:MI'))
$$;

-- 'children_done': the items below that are neither 审核通过 nor 无需上报,
-- named (the first 20, then 等), or NULL when there is none (PL/pgSQL:
-- its plan is kept for the session; an SQL function is planned at every
-- call)
CREATE FUNCTION vbp_chain_blocking(p_item bigint)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT left(string_agg(coalesce(o.name, g.name), '、'
                                   ORDER BY c.id), 400)
                   || CASE WHEN max(c.n) > 20 THEN ' 等' ELSE '' END
            FROM (SELECT c.*, count(*) OVER () AS n FROM review_items c
                  WHERE c.parent_id = p_item
                    AND c.state NOT IN ('approved', 'exempt')
                  ORDER BY c.id LIMIT 20) c
            LEFT JOIN orgs o ON o.id = c.org_id
            LEFT JOIN regions g ON g.id = c.region_id);
END
$$;

-- Fire one action on items, all or nothing.  The parents of the items in
-- the actor's scope are locked FOR SHARE when the action's guard reads
-- them, then the items FOR UPDATE, each in id order (two reviewers on
-- overlapping batches cannot deadlock, and a hospital's save waits for a
-- return of its filing or wins); each is judged -- in the actor's scope, a
-- transition for its level and the actor's kind, vbp_chain_verdict() and
-- for 'children_done' vbp_chain_blocking() -- and only when every one
-- passes are they moved, each with its event, its audit row and the notice
-- its transition names.  Returns one row per item that failed (outcome,
-- current state, detail), or one row per item moved (outcome 'ok', the new
-- state, the old one as detail).
CREATE OR REPLACE FUNCTION vbp_chain_fire(p_chain text, p_action text,
                               p_items bigint[],
                               p_actor_kind text, p_actor_path text,
                               p_actor_org integer, p_uid integer,
                               p_username text, p_ip inet, p_reason text)
RETURNS TABLE (item_id bigint, outcome text, state text, detail text)
LANGUAGE plpgsql ROWS 1 AS $$
#variable_conflict use_column
DECLARE
    r         record;
    target    text;
    ok        boolean := true;
    moved     bigint[] := '{}';
    tos       text[] := '{}';
    froms     text[] := '{}';
    seen      bigint[] := '{}';
    i         integer;
    guarded   boolean;
    notifies  boolean;
BEGIN
    SELECT coalesce(bool_or(t.guard = 'parent_open'), false),
           coalesce(bool_or(t.notify IS NOT NULL), false)
    INTO guarded, notifies
    FROM chain_transitions t
    WHERE t.chain = p_chain AND t.action = p_action
      AND t.actor_kind = p_actor_kind;

    -- the level above first: what 'parent_open' reads cannot change under
    -- it, and a parent's own transition (FOR UPDATE below) waits for it
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
               t.reason_required, t.guard, t.window_name,
               vbp_project_window(p, t.window_name) AS win,
               pa.state AS parent_state, pa.title AS parent_title
        FROM review_items it
        JOIN projects p ON p.id = it.project_id
        LEFT JOIN chain_transitions t ON t.chain = p_chain
         AND t.level = it.level AND t.action = p_action
         AND t.actor_kind = p_actor_kind
        -- the parent by its key, item by item (OFFSET 0: the plan, made
        -- once for any batch, never scans the items to join them)
        LEFT JOIN LATERAL (SELECT pa.state, ps.title
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

        UPDATE review_items r
        SET state = tos[i], state_before = froms[i], handled_at = now(),
            submitted_at = CASE WHEN p_action = 'submit' THEN now()
                                ELSE r.submitted_at END
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
                                  'project', r.project_id),
               r.scope_path
        FROM review_items r WHERE r.id = moved[i];

        RETURN NEXT;
    END LOOP;

    -- the org a move concerns hears of it on its home page (migration 010)
    IF notifies THEN
        PERFORM vbp_chain_notify(p_chain, p_action,
                    ARRAY(SELECT moved[k] FROM generate_subscripts(moved, 1) k
                          WHERE tos[k] <> froms[k]),
                    p_reason);
    END IF;
END
$$;

-- The actions an actor may take now on items in its scope, as the chain
-- would judge them (state, window, guard; a reason is asked by the form):
-- one row per item and action, in the order of chain_transitions.sort.
-- Nothing is locked: an offer, not a promise; vbp_chain_fire decides.
-- (PL/pgSQL with its plan made once per session: as an SQL function it was
-- inlined into its caller's statement and planned again at every page,
-- 0.9 ms of a filing page's 2.)
CREATE FUNCTION vbp_chain_actions(p_chain text, p_items bigint[],
                                  p_actor_kind text, p_actor_path text,
                                  p_actor_org integer)
RETURNS TABLE (item_id bigint, action text, title text,
               reason_required boolean)
LANGUAGE plpgsql STABLE ROWS 4 SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT it.id, t.action, t.title, t.reason_required
    FROM review_items it
    JOIN projects p ON p.id = it.project_id
    JOIN chain_transitions t ON t.chain = it.chain AND t.level = it.level
     AND t.actor_kind = p_actor_kind AND it.state = ANY (t.from_states)
    LEFT JOIN LATERAL (SELECT pa.state FROM review_items pa
                       WHERE pa.id = it.parent_id OFFSET 0) pa ON true
    WHERE it.id = ANY (p_items) AND it.chain = p_chain
      AND starts_with(it.scope_path, p_actor_path)
      AND (p_actor_kind <> 'hospital' OR it.org_id = p_actor_org)
      AND vbp_chain_verdict(it.state, t.from_states,
                            vbp_project_window(p, t.window_name), false, NULL,
                            t.guard, pa.state) IS NULL
      AND (t.guard <> 'children_done' OR vbp_chain_blocking(it.id) IS NULL)
    ORDER BY it.id, t.sort, t.action;
END
$$;
