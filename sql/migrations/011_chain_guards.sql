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
-- What may be done is checked by one function, vbp_chain_refusal(), used
-- both to fire (vbp_chain_fire) and to offer (vbp_chain_actions): a page
-- shows exactly the buttons the chain would accept.

-- (Every move's event and audit row are written with it, and the notice
-- its transition names: vbp_chain_notify, migration 010.)

-- the order a page offers a level's actions in
ALTER TABLE chain_transitions ADD COLUMN sort integer NOT NULL DEFAULT 0;

UPDATE chain_transitions SET sort = CASE action
    WHEN 'save' THEN 1 WHEN 'submit' THEN 2 WHEN 'request_withdraw' THEN 3
    WHEN 'approve' THEN 4 WHEN 'return' THEN 5 WHEN 'revoke' THEN 6
    WHEN 'grant_withdraw' THEN 7 WHEN 'refuse_withdraw' THEN 8
    WHEN 'exempt' THEN 9 WHEN 'include' THEN 10 WHEN 'attach' THEN 11
    WHEN 'withdraw' THEN 12 ELSE 99 END;

CREATE FUNCTION vbp_chain_refusal(it review_items, tr chain_transitions,
                                  p_reason text, p_check_reason boolean,
                                  OUT outcome text, OUT detail text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr      projects;
    opens   timestamptz;
    closes  timestamptz;
    n       bigint;
BEGIN
    outcome := NULL;
    detail := NULL;

    IF NOT (it.state = ANY (tr.from_states)) THEN
        outcome := 'state';
        RETURN;
    END IF;

    SELECT * INTO pr FROM projects p WHERE p.id = it.project_id;
    opens := CASE tr.window_name WHEN 'file' THEN pr.file_opens
             WHEN 'city' THEN pr.city_opens
             WHEN 'province' THEN pr.province_opens
             ELSE pr.alliance_opens END;
    closes := CASE tr.window_name WHEN 'file' THEN pr.file_closes
              WHEN 'city' THEN pr.city_closes
              WHEN 'province' THEN pr.province_closes
              ELSE pr.alliance_closes END;

    IF now() < opens OR now() >= closes THEN
        outcome := 'window';
        detail := concat_ws('|', tr.window_name,
                            CASE WHEN now() < opens THEN 'not_open'
                                 ELSE 'closed' END,
                            to_char(opens AT TIME ZONE 'Asia/Shanghai',
                                    'YYYY-MM-DD HH24:MI'),
                            to_char(closes AT TIME ZONE 'Asia/Shanghai',
                                    'YYYY-MM-DD HH24:MI'));
        RETURN;
    END IF;

    IF p_check_reason AND tr.reason_required
       AND coalesce(btrim(p_reason), '') = ''
    THEN
        outcome := 'reason';
        RETURN;
    END IF;

    IF tr.guard = 'parent_open' THEN
        SELECT s.title INTO detail FROM review_items p
        JOIN chain_states s ON s.chain = p.chain AND s.level = p.level
         AND s.state = p.state
        WHERE p.id = it.parent_id AND p.state NOT IN ('pending', 'returned');
        IF FOUND THEN
            outcome := 'parent';
        END IF;
        RETURN;
    END IF;

    IF tr.guard = 'children_done' THEN
        SELECT left(string_agg(coalesce(o.name, g.name), '、' ORDER BY c.id),
                    400)
        INTO detail
        FROM (SELECT * FROM review_items c
              WHERE c.parent_id = it.id
                AND c.state NOT IN ('approved', 'exempt')
              ORDER BY c.id LIMIT 20) c
        LEFT JOIN orgs o ON o.id = c.org_id
        LEFT JOIN regions g ON g.id = c.region_id;

        IF detail IS NOT NULL THEN
            outcome := 'children';
            SELECT count(*) INTO n FROM review_items c
            WHERE c.parent_id = it.id AND c.state NOT IN ('approved', 'exempt');
            IF n > 20 THEN
                detail := detail || ' 等';
            END IF;
        END IF;
    END IF;
END
$$;

-- Fire one action on items, all or nothing.  The parents of the items in
-- the actor's scope are locked FOR SHARE when the action's guard reads
-- them, then the items FOR UPDATE, each in id order (two reviewers on
-- overlapping batches cannot deadlock, and a hospital's save waits for a
-- return of its filing or wins); each is checked -- in the actor's scope,
-- a transition for its level and the actor's kind, then
-- vbp_chain_refusal() -- and only when every one passes are they moved,
-- each with its event and its audit row.  Returns one row per item that
-- failed (outcome, current state, detail), or one row per item moved
-- (outcome 'ok', the new state, the old one as detail).
CREATE OR REPLACE FUNCTION vbp_chain_fire(p_chain text, p_action text,
                               p_items bigint[],
                               p_actor_kind text, p_actor_path text,
                               p_actor_org integer, p_uid integer,
                               p_username text, p_ip inet, p_reason text)
RETURNS TABLE (item_id bigint, outcome text, state text, detail text)
LANGUAGE plpgsql ROWS 1 AS $$
#variable_conflict use_column
DECLARE
    it      review_items;
    tr      chain_transitions;
    why     record;
    target  text;
    ok      boolean := true;
    moved   bigint[] := '{}';
    tos     text[] := '{}';
    froms   text[] := '{}';
    seen    bigint[] := '{}';
    i       integer;
    guarded   boolean;
    notifies  boolean;
BEGIN
    -- the level above first: what 'parent_open' reads cannot change under
    -- it, and a parent's own transition (FOR UPDATE below) waits for it
    SELECT coalesce(bool_or(t.guard = 'parent_open'), false),
           coalesce(bool_or(t.notify IS NOT NULL), false)
    INTO guarded, notifies
    FROM chain_transitions t
    WHERE t.chain = p_chain AND t.action = p_action
      AND t.actor_kind = p_actor_kind;

    IF guarded THEN
        PERFORM 1 FROM review_items p
        WHERE p.id IN (SELECT r.parent_id FROM review_items r
                       WHERE r.id = ANY (p_items) AND r.chain = p_chain
                         AND starts_with(r.scope_path, p_actor_path)
                         AND (p_actor_kind <> 'hospital'
                              OR r.org_id = p_actor_org))
        ORDER BY p.id FOR SHARE;
    END IF;

    FOR it IN SELECT * FROM review_items r
              WHERE r.id = ANY (p_items) AND r.chain = p_chain
              ORDER BY r.id FOR UPDATE
    LOOP
        -- out of scope reads as not there
        IF NOT (starts_with(it.scope_path, p_actor_path)
                AND (p_actor_kind <> 'hospital' OR it.org_id = p_actor_org))
        THEN
            CONTINUE;
        END IF;

        seen := seen || it.id;

        SELECT * INTO tr FROM chain_transitions t
        WHERE t.chain = p_chain AND t.level = it.level
          AND t.action = p_action AND t.actor_kind = p_actor_kind;

        IF NOT FOUND THEN
            ok := false;
            item_id := it.id; outcome := 'no_action'; state := it.state;
            detail := it.level;
            RETURN NEXT;
            CONTINUE;
        END IF;

        why := vbp_chain_refusal(it, tr, p_reason, true);

        IF why.outcome IS NOT NULL THEN
            ok := false;
            item_id := it.id; outcome := why.outcome; state := it.state;
            detail := why.detail;
            RETURN NEXT;
            CONTINUE;
        END IF;

        target := CASE WHEN tr.to_state = '*' THEN it.state
                       ELSE coalesce(tr.to_state, it.state_before, it.state) END;
        moved := moved || it.id;
        froms := froms || it.state;
        tos := tos || target;
    END LOOP;

    -- not there, of another chain, or out of scope: all the same to him
    FOR item_id IN SELECT DISTINCT x FROM unnest(p_items) x
                   WHERE NOT (x = ANY (seen)) ORDER BY 1
    LOOP
        ok := false; outcome := 'not_found'; state := NULL; detail := NULL;
        RETURN NEXT;
    END LOOP;

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
-- one row per item and action, in the order of chain_transitions' rows.
-- Nothing is locked: an offer, not a promise; vbp_chain_fire decides.
CREATE FUNCTION vbp_chain_actions(p_chain text, p_items bigint[],
                                  p_actor_kind text, p_actor_path text,
                                  p_actor_org integer)
RETURNS TABLE (item_id bigint, action text, title text,
               reason_required boolean)
LANGUAGE plpgsql STABLE ROWS 4 AS $$
#variable_conflict use_column
DECLARE
    it   review_items;
    tr   chain_transitions;
BEGIN
    FOR it IN SELECT * FROM review_items r
              WHERE r.id = ANY (p_items) AND r.chain = p_chain
                AND starts_with(r.scope_path, p_actor_path)
                AND (p_actor_kind <> 'hospital' OR r.org_id = p_actor_org)
              ORDER BY r.id
    LOOP
        FOR tr IN SELECT * FROM chain_transitions t
                  WHERE t.chain = p_chain AND t.level = it.level
                    AND t.actor_kind = p_actor_kind
                    AND it.state = ANY (t.from_states)
                  ORDER BY t.sort, t.action
        LOOP
            IF (vbp_chain_refusal(it, tr, NULL, false)).outcome IS NULL THEN
                item_id := it.id; action := tr.action; title := tr.title;
                reason_required := tr.reason_required;
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
