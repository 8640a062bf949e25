-- Demand reporting (报量, seeds 000 and 004): product lines and their rule
-- sets, projects and their windows, catalogs, uploaded files, and the review
-- chain -- one state machine (review_items, chain_transitions,
-- vbp_chain_fire) that demand filings use today and allocations and
-- contracts will use with their own chains.

UPDATE permissions SET name = '密码修改' WHERE code = 'account.password';

INSERT INTO permissions (code, name, parent, kinds, sort, is_group) VALUES
    ('report', '报量项目管理', NULL,
     '{alliance,province_bureau,city_bureau,hospital}', 20, true),
    ('report.projects', '报量项目配置', 'report', '{alliance}', 21, false),
    ('report.file', '报量填报', 'report', '{hospital}', 22, false),
    ('report.review', '报量项目审核', 'report',
     '{alliance,province_bureau,city_bureau}', 23, false),
    ('report.progress', '填报进度', 'report',
     '{alliance,province_bureau,city_bureau}', 24, false);

-- A product line decides the columns of its filing lines and the rules its
-- filings obey (worker/filing.c implements each rule once, by name):
--   in_use_filled     a line with a quantity needs 是否有在用仪器 (rule 1)
--   in_use_last_year  last year > 0 forbids in use = no          (rule 2)
--   in_use_same_cert  one flag for all lines of a certificate    (rule 3)
--   in_use_note       at submit, in use = no needs a file per
--                     certificate                                (rule 4)
--   threshold         demand outside the project's threshold
--                     against last year needs 增降幅说明           (rule 5)
--   below_intended    demand total below the intended total
--                     needs a written reason                     (rule 6)
-- A new line is a row here, not a new code path.
CREATE TABLE product_lines (
    code     text PRIMARY KEY CHECK (code ~ '^[a-z_]{1,32}$'),
    name     text NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
    columns  text[] NOT NULL CHECK (columns <@ '{in_use,intended}'),
    rules    text[] NOT NULL CHECK (rules <@ '{in_use_filled,in_use_last_year,'
                 'in_use_same_cert,in_use_note,threshold,below_intended}'),
    sort     integer NOT NULL DEFAULT 0
);

INSERT INTO product_lines (code, name, columns, rules, sort) VALUES
    ('ivd', '体外诊断试剂', '{in_use}',
     '{in_use_filled,in_use_last_year,in_use_same_cert,in_use_note,threshold}', 1),
    ('bracket', '口腔正畸托槽', '{intended}', '{threshold,below_intended}', 2),
    ('implant', '口腔种植体', '{}', '{threshold}', 3),
    ('consumable', '其他医用耗材', '{}', '{threshold}', 4);

-- Files are stored once by content (worker/files.c): the row says what the
-- content is; the bytes live under the upload store at ab/cdef...
CREATE TABLE uploads (
    sha256        text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes         bigint NOT NULL CHECK (bytes > 0),
    content_type  text NOT NULL CHECK (content_type IN
                      ('application/pdf', 'image/png', 'image/jpeg')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A reporting project.  Its status is read from its windows: 未开始 before
-- the first opens, 已结束 once the last has closed, 执行中 between.
CREATE TABLE projects (
    id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    product_line     text NOT NULL REFERENCES product_lines (code),
    threshold_pct    integer NOT NULL CHECK (threshold_pct BETWEEN 0 AND 1000),
    file_opens       timestamptz NOT NULL,
    file_closes      timestamptz NOT NULL,
    city_opens       timestamptz NOT NULL,
    city_closes      timestamptz NOT NULL,
    province_opens   timestamptz NOT NULL,
    province_closes  timestamptz NOT NULL,
    alliance_opens   timestamptz NOT NULL,
    alliance_closes  timestamptz NOT NULL,
    commitment_sha   text REFERENCES uploads (sha256),
    created_by       integer REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (file_opens < file_closes AND city_opens < city_closes
           AND province_opens < province_closes
           AND alliance_opens < alliance_closes)
);

CREATE FUNCTION vbp_project_status(p projects)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN now() < least(p.file_opens, p.city_opens, p.province_opens,
                           p.alliance_opens) THEN 'pending'
        WHEN now() >= greatest(p.file_closes, p.city_closes,
                               p.province_closes, p.alliance_closes) THEN 'ended'
        ELSE 'running'
    END
$$;

CREATE TABLE project_provinces (
    project_id  integer NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    region_id   integer NOT NULL REFERENCES regions (id),
    PRIMARY KEY (project_id, region_id)
);

CREATE TABLE catalog_lines (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    integer NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    serial        text NOT NULL CHECK (length(serial) BETWEEN 1 AND 32),
    category      text NOT NULL CHECK (length(category) <= 64),
    subcategory   text NOT NULL CHECK (length(subcategory) <= 64),
    certificate   text NOT NULL CHECK (length(certificate) <= 64),
    manufacturer  text NOT NULL CHECK (length(manufacturer) <= 100),
    product_name  text NOT NULL CHECK (length(product_name) <= 100),
    spec          text NOT NULL CHECK (length(spec) <= 200),
    unit          text NOT NULL CHECK (length(unit) <= 16),
    UNIQUE (project_id, serial)
);

CREATE INDEX catalog_lines_cert ON catalog_lines (project_id, certificate);

-- rows of a catalog import being checked (as org_import_rows)
CREATE UNLOGGED TABLE catalog_import_rows (
    import_key    bigint NOT NULL,
    line          integer NOT NULL,
    serial        text NOT NULL,
    category      text NOT NULL,
    subcategory   text NOT NULL,
    certificate   text NOT NULL,
    manufacturer  text NOT NULL,
    product_name  text NOT NULL,
    spec          text NOT NULL,
    unit          text NOT NULL
);
CREATE INDEX catalog_import_rows_key ON catalog_import_rows (import_key, serial);

-- ---------------------------------------------------------------------------
-- The review chain.
--
-- Every subject of a review is an item: a hospital's filing, a city's
-- submission to its province, a province's to the alliance.  An item has a
-- state; an action moves it from one of the transition's from_states to its
-- to_state (NULL: back to the state before the last action), fired by an
-- org of actor_kind whose region covers the item ('*': it stays, for an
-- action that only needs the state, as attaching a file), inside the project's
-- window, under the guard.  Allocations and contracts add their own chain's
-- rows and items; the code that fires them is the same.
-- ---------------------------------------------------------------------------

CREATE TABLE chain_states (
    chain   text NOT NULL,
    level   text NOT NULL,
    state   text NOT NULL,
    title   text NOT NULL,
    sort    integer NOT NULL,
    PRIMARY KEY (chain, level, state)
);

INSERT INTO chain_states VALUES
    ('demand', 'hospital', 'unfiled', '未填报', 1),
    ('demand', 'hospital', 'draft', '已暂存', 2),
    ('demand', 'hospital', 'submitted', '已提交', 3),
    ('demand', 'hospital', 'withdraw_requested', '撤回申请中', 4),
    ('demand', 'hospital', 'approved', '审核通过', 5),
    ('demand', 'hospital', 'returned', '审核不通过', 6),
    ('demand', 'hospital', 'exempt', '无需上报', 7),
    ('demand', 'city', 'pending', '待提交', 1),
    ('demand', 'city', 'submitted', '已提交', 2),
    ('demand', 'city', 'approved', '审核通过', 3),
    ('demand', 'city', 'returned', '上级审核不通过', 4),
    ('demand', 'province', 'pending', '待提交', 1),
    ('demand', 'province', 'submitted', '已提交', 2),
    ('demand', 'province', 'approved', '审核通过', 3),
    ('demand', 'province', 'returned', '上级审核不通过', 4);

-- guard: '' none; 'parent_open' the level above has not submitted (its item
-- is 待提交 or was returned); 'children_done' every item below is 审核通过
-- or 无需上报
CREATE TABLE chain_transitions (
    chain            text NOT NULL,
    level            text NOT NULL,
    action           text NOT NULL,
    actor_kind       text NOT NULL,
    from_states      text[] NOT NULL,
    to_state         text,
    window_name      text NOT NULL CHECK (window_name IN
                         ('file', 'city', 'province', 'alliance')),
    reason_required  boolean NOT NULL DEFAULT false,
    guard            text NOT NULL DEFAULT ''
                         CHECK (guard IN ('', 'parent_open', 'children_done')),
    title            text NOT NULL,
    PRIMARY KEY (chain, level, action)
);

INSERT INTO chain_transitions VALUES
    -- the hospital's own filing (seed 004 报量项目管理, seed 000)
    ('demand', 'hospital', 'save', 'hospital', '{unfiled,draft,returned}',
     'draft', 'file', false, 'parent_open', '暂存'),
    ('demand', 'hospital', 'submit', 'hospital', '{unfiled,draft,returned}',
     'submitted', 'file', false, 'parent_open', '提交'),
    ('demand', 'hospital', 'request_withdraw', 'hospital',
     '{submitted,approved}', 'withdraw_requested', 'file', true,
     'parent_open', '撤回申请'),
    -- the city on its hospitals (seed 004 市级报量项目审核, seed 000 3.3)
    ('demand', 'hospital', 'approve', 'city_bureau', '{submitted}',
     'approved', 'city', false, 'parent_open', '审核通过'),
    ('demand', 'hospital', 'return', 'city_bureau', '{submitted,approved}',
     'returned', 'city', true, 'parent_open', '退回修改'),
    ('demand', 'hospital', 'revoke', 'city_bureau', '{approved,returned}',
     'submitted', 'city', false, 'parent_open', '审核撤回'),
    ('demand', 'hospital', 'exempt', 'city_bureau',
     '{unfiled,draft,submitted,approved,returned}', 'exempt', 'city', false,
     'parent_open', '取消上报'),
    ('demand', 'hospital', 'include', 'city_bureau', '{exempt}', NULL,
     'city', false, 'parent_open', '上报'),
    ('demand', 'hospital', 'grant_withdraw', 'city_bureau',
     '{withdraw_requested}', 'draft', 'city', false, 'parent_open',
     '同意撤回'),
    ('demand', 'hospital', 'refuse_withdraw', 'city_bureau',
     '{withdraw_requested}', NULL, 'city', true, 'parent_open', '不同意撤回'),
    -- the city's submission, reviewed by its province
    ('demand', 'city', 'submit', 'city_bureau', '{pending,returned}',
     'submitted', 'city', false, 'children_done', '提交省医保局'),
    ('demand', 'city', 'withdraw', 'city_bureau', '{submitted}', 'pending',
     'city', false, '', '撤回'),
    ('demand', 'city', 'approve', 'province_bureau', '{submitted}',
     'approved', 'province', false, 'parent_open', '审核通过'),
    ('demand', 'city', 'return', 'province_bureau', '{submitted,approved}',
     'returned', 'province', true, 'parent_open', '审核不通过'),
    ('demand', 'city', 'revoke', 'province_bureau', '{approved,returned}',
     'submitted', 'province', false, 'parent_open', '审核撤回'),
    -- the province's submission, reviewed by the alliance
    ('demand', 'province', 'submit', 'province_bureau', '{pending,returned}',
     'submitted', 'province', false, 'children_done', '提交联采办'),
    ('demand', 'province', 'attach', 'province_bureau', '{pending,returned}',
     '*', 'province', false, '', '上传汇总数据'),
    ('demand', 'province', 'withdraw', 'province_bureau', '{submitted}',
     'pending', 'province', false, '', '撤回'),
    ('demand', 'province', 'approve', 'alliance', '{submitted}', 'approved',
     'alliance', false, '', '审核通过'),
    ('demand', 'province', 'return', 'alliance', '{submitted,approved}',
     'returned', 'alliance', true, '', '审核不通过'),
    ('demand', 'province', 'revoke', 'alliance', '{approved,returned}',
     'submitted', 'alliance', false, '', '审核撤回');

CREATE TABLE review_items (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain         text NOT NULL,
    project_id    integer NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    level         text NOT NULL CHECK (level IN ('hospital', 'city', 'province')),
    org_id        integer REFERENCES orgs (id),     -- the hospital
    region_id     integer NOT NULL REFERENCES regions (id),
    parent_id     bigint REFERENCES review_items (id),
    -- the region path of the item's region (a hospital's: its city's), so
    -- "may this bureau act on it" is a prefix test
    scope_path    text NOT NULL,
    state         text NOT NULL,
    state_before  text,
    submitted_at  timestamptz,
    handled_at    timestamptz,                      -- 经办时间
    CHECK ((level = 'hospital') = (org_id IS NOT NULL))
);

CREATE UNIQUE INDEX review_items_org ON review_items (project_id, chain, org_id)
    WHERE level = 'hospital';
CREATE UNIQUE INDEX review_items_region ON review_items (project_id, chain, region_id)
    WHERE level <> 'hospital';
CREATE INDEX review_items_parent ON review_items (parent_id, state);
CREATE INDEX review_items_scope ON review_items
    (project_id, level, scope_path text_pattern_ops);
CREATE INDEX review_items_of_org ON review_items (org_id);

CREATE TABLE review_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id        bigint NOT NULL REFERENCES review_items (id) ON DELETE CASCADE,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_user_id  integer REFERENCES users (id) ON DELETE SET NULL,
    actor_name     text NOT NULL,
    actor_org_id   integer REFERENCES orgs (id),
    action         text NOT NULL,
    from_state     text,
    to_state       text,
    reason         text
);

CREATE INDEX review_events_item ON review_events (item_id, id);

-- A hospital's demand filing: the totals every summary reads are kept
-- here when lines are saved, so a national summary reads one row per
-- hospital, never the lines.
CREATE TABLE filings (
    item_id          bigint PRIMARY KEY REFERENCES review_items (id) ON DELETE CASCADE,
    contact          text NOT NULL DEFAULT '',
    phone            text NOT NULL DEFAULT '',
    last_year_total  bigint NOT NULL DEFAULT 0,
    demand_total     bigint NOT NULL DEFAULT 0,
    intended_total   bigint NOT NULL DEFAULT 0,
    lines            integer NOT NULL DEFAULT 0,
    -- lines whose demand lies outside the threshold against last year
    beyond           integer NOT NULL DEFAULT 0,
    below_reason     text NOT NULL DEFAULT '',   -- rule 6
    saved_at         timestamptz
);

CREATE TABLE filing_lines (
    item_id          bigint NOT NULL REFERENCES filings (item_id) ON DELETE CASCADE,
    catalog_line_id  integer NOT NULL REFERENCES catalog_lines (id) ON DELETE CASCADE,
    last_year        integer CHECK (last_year >= 0),
    demand           integer CHECK (demand >= 0),
    intended         integer CHECK (intended >= 0),
    in_use           boolean,
    change_note      text NOT NULL DEFAULT '',   -- 增降幅说明 (rule 5)
    PRIMARY KEY (item_id, catalog_line_id)
);

CREATE INDEX filing_lines_catalog ON filing_lines (catalog_line_id);

-- the files of an item: commitment letter, summary sheet, the in-use note
-- of one certificate, the province's stamped summary
CREATE TABLE item_files (
    item_id      bigint NOT NULL REFERENCES review_items (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('commitment', 'summary',
                     'in_use_note', 'change_note', 'province_summary')),
    certificate  text NOT NULL DEFAULT '',
    sha256       text NOT NULL REFERENCES uploads (sha256),
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 120),
    uploaded_by  integer REFERENCES users (id) ON DELETE SET NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_id, kind, certificate)
);

-- Items for every participating province, its cities and their hospitals;
-- idempotent, so it runs after each project save and each hospital import
-- and a hospital added later is enrolled in the projects still open.
CREATE FUNCTION vbp_project_enroll(p_project integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO review_items (chain, project_id, level, region_id, scope_path, state)
    SELECT 'demand', pp.project_id, 'province', r.id, r.path, 'pending'
    FROM project_provinces pp JOIN regions r ON r.id = pp.region_id
    WHERE pp.project_id = p_project
    ON CONFLICT DO NOTHING;

    INSERT INTO review_items (chain, project_id, level, region_id, parent_id,
                              scope_path, state)
    SELECT 'demand', p_project, 'city', c.id, pi.id, c.path, 'pending'
    FROM review_items pi JOIN regions c ON c.parent_id = pi.region_id
    WHERE pi.project_id = p_project AND pi.level = 'province'
      AND pi.chain = 'demand'
      -- a city without hospitals has nothing to report and would only
      -- hold its province back; it is enrolled with its first hospital
      AND EXISTS (SELECT 1 FROM orgs o WHERE o.region_id = c.id
                  AND o.kind = 'hospital')
    ORDER BY c.id
    ON CONFLICT DO NOTHING;

    INSERT INTO review_items (chain, project_id, level, org_id, region_id,
                              parent_id, scope_path, state)
    SELECT 'demand', p_project, 'hospital', o.id, o.region_id, ci.id,
           ci.scope_path, 'unfiled'
    FROM review_items ci JOIN orgs o ON o.region_id = ci.region_id
    WHERE ci.project_id = p_project AND ci.level = 'city'
      AND ci.chain = 'demand' AND o.kind = 'hospital'
    ORDER BY o.id
    ON CONFLICT DO NOTHING;

    INSERT INTO filings (item_id)
    SELECT i.id FROM review_items i
    WHERE i.project_id = p_project AND i.level = 'hospital'
      AND i.chain = 'demand'
      AND NOT EXISTS (SELECT 1 FROM filings f WHERE f.item_id = i.id);
$$;

-- Fire one action on items, all or nothing.  The items are locked in id
-- order (two reviewers on overlapping batches cannot deadlock, and a
-- hospital's save waits for a return of its filing or wins); each is
-- checked -- in the actor's scope, a transition for its level and the
-- actor's kind, the current state, the window, the guard, the reason --
-- and only when every one passes are they moved, each with its event and
-- its audit row.  Returns one row per item that failed (outcome, current
-- state, detail), or one row per item moved (outcome 'ok').
CREATE FUNCTION vbp_chain_fire(p_chain text, p_action text, p_items bigint[],
                               p_actor_kind text, p_actor_path text,
                               p_actor_org integer, p_uid integer,
                               p_username text, p_ip inet, p_reason text)
RETURNS TABLE (item_id bigint, outcome text, state text, detail text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    it      review_items;
    tr      chain_transitions;
    pr      projects;
    opens   timestamptz;
    closes  timestamptz;
    target  text;
    ok      boolean := true;
    moved   bigint[] := '{}';
    tos     text[] := '{}';
    froms   text[] := '{}';
    seen    bigint[] := '{}';
    i       integer;
BEGIN
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

        IF NOT (it.state = ANY (tr.from_states)) THEN
            ok := false;
            item_id := it.id; outcome := 'state'; state := it.state;
            detail := NULL;
            RETURN NEXT;
            CONTINUE;
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
            ok := false;
            item_id := it.id; outcome := 'window'; state := it.state;
            detail := concat_ws('|', tr.window_name,
                                CASE WHEN now() < opens THEN 'not_open'
                                     ELSE 'closed' END,
                                to_char(opens AT TIME ZONE 'Asia/Shanghai',
                                        'YYYY-MM-DD HH24:MI'),
                                to_char(closes AT TIME ZONE 'Asia/Shanghai',
                                        'YYYY-MM-DD HH24:MI'));
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF tr.reason_required AND coalesce(btrim(p_reason), '') = '' THEN
            ok := false;
            item_id := it.id; outcome := 'reason'; state := it.state;
            detail := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF tr.guard = 'parent_open' AND EXISTS (
               SELECT 1 FROM review_items p
               WHERE p.id = it.parent_id
                 AND p.state NOT IN ('pending', 'returned'))
        THEN
            ok := false;
            item_id := it.id; outcome := 'parent'; state := it.state;
            detail := (SELECT s.title FROM review_items p
                       JOIN chain_states s ON s.chain = p.chain
                        AND s.level = p.level AND s.state = p.state
                       WHERE p.id = it.parent_id);
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF tr.guard = 'children_done' THEN
            detail := (SELECT left(string_agg(coalesce(o.name, g.name), '、'
                                              ORDER BY c.id), 400)
                       FROM (SELECT * FROM review_items c
                             WHERE c.parent_id = it.id
                               AND c.state NOT IN ('approved', 'exempt')
                             ORDER BY c.id LIMIT 20) c
                       LEFT JOIN orgs o ON o.id = c.org_id
                       LEFT JOIN regions g ON g.id = c.region_id);
            IF detail IS NOT NULL THEN
                ok := false;
                item_id := it.id; outcome := 'children'; state := it.state;
                detail := detail || CASE WHEN (SELECT count(*) FROM review_items c
                              WHERE c.parent_id = it.id
                                AND c.state NOT IN ('approved', 'exempt')) > 20
                              THEN ' 等' ELSE '' END;
                RETURN NEXT;
                CONTINUE;
            END IF;
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
END
$$;

-- the words of the audit log for the review chain
CREATE OR REPLACE FUNCTION vbp_state_title(s text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN s IS NULL THEN NULL
        WHEN s = 'active' THEN '启用'
        WHEN s = 'disabled' THEN '停用'
        WHEN s = 'locked' THEN '已锁定'
        WHEN s = 'unlocked' THEN '已解锁'
        WHEN s LIKE '{%}' THEN COALESCE(
            (SELECT string_agg(p.name, '、' ORDER BY p.sort)
               FROM permissions p WHERE p.code = ANY (s::text[])), '无权限')
        ELSE COALESCE((SELECT c.title FROM chain_states c
                       WHERE c.state = s ORDER BY c.level = 'hospital' DESC
                       LIMIT 1), s)
    END
$$;

CREATE OR REPLACE FUNCTION vbp_target_title(target_type text, target_id text,
                                            detail jsonb)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE target_type
        WHEN 'user' THEN COALESCE(detail->>'username',
            (SELECT u.username FROM users u
              WHERE target_id ~ '^[0-9]{1,9}$' AND u.id = target_id::integer),
            target_id)
        WHEN 'region' THEN concat(COALESCE(detail->>'name',
            (SELECT r.name FROM regions r WHERE r.code = target_id)),
            '（', target_id, '）')
        WHEN 'import' THEN concat('导入文件（',
            CASE detail->>'kind' WHEN 'manufacturer' THEN '生产企业'
                 WHEN 'catalog' THEN '目录' ELSE '医疗机构' END,
            '，', detail->>'rows', ' 行）')
        WHEN 'project' THEN COALESCE(
            (SELECT p.name FROM projects p
              WHERE target_id ~ '^[0-9]{1,9}$' AND p.id = target_id::integer),
            target_id)
        WHEN 'review_item' THEN COALESCE(
            (SELECT concat(p.name, ' · ', coalesce(o.name, g.name))
               FROM review_items i JOIN projects p ON p.id = i.project_id
               LEFT JOIN orgs o ON o.id = i.org_id
               LEFT JOIN regions g ON g.id = i.region_id
              WHERE target_id ~ '^[0-9]{1,18}$' AND i.id = target_id::bigint),
            target_id)
        ELSE target_id
    END
$$;

-- Is a line's demand outside the threshold against last year (rule 5)?  A
-- line new this year (no purchase last year) with a demand is outside.
CREATE FUNCTION vbp_beyond(last_year integer, demand integer, pct integer)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(demand, 0) > 0 AND coalesce(last_year, 0) = 0
        OR coalesce(last_year, 0) > 0
           AND abs(coalesce(demand, 0)::bigint - last_year) * 100
               > last_year::bigint * pct
$$;

-- A hospital's 暂存 of some lines of its filing, whole or not at all, once
-- the save transition was fired on the item (worker/filing.c: it checks
-- the window, the state and that the city has not submitted, and locks the
-- item, so a return by the city and a save are one after the other): the
-- catalog, rules 1-3 of the project's line, the lines, the totals.
-- Returns the refusals (line, field, code, detail) or one row ('ok',
-- totals as JSON).  The arrays are one element per line; a line with no
-- quantity, no flag and no note is removed.
CREATE FUNCTION vbp_filing_save(p_item bigint,
                                p_ids integer[], p_last integer[],
                                p_demand integer[], p_intended integer[],
                                p_in_use boolean[], p_notes text[])
RETURNS TABLE (line_id integer, field text, code text, detail text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    item       bigint := p_item;
    p_project  integer;
    rules      text[];
    pct        integer;
    bad        boolean := false;
    f          record;
BEGIN
    SELECT i.project_id, l.rules, p.threshold_pct INTO p_project, rules, pct
    FROM review_items i JOIN projects p ON p.id = i.project_id
    JOIN product_lines l ON l.code = p.product_line
    WHERE i.id = p_item;

    FOR f IN
        SELECT n.id, n.last_year, n.demand, n.in_use, c.id IS NULL AS unknown,
               count(*) OVER (PARTITION BY n.id) > 1 AS twice
        FROM unnest(p_ids, p_last, p_demand, p_in_use)
             AS n (id, last_year, demand, in_use)
        LEFT JOIN catalog_lines c ON c.id = n.id AND c.project_id = p_project
    LOOP
        line_id := f.id;
        IF f.unknown THEN
            field := 'catalog_line_id'; code := 'unknown_line';
        ELSIF f.twice THEN
            field := 'catalog_line_id'; code := 'duplicate_line';
        ELSIF 'in_use_filled' = ANY (rules) AND f.in_use IS NULL
              AND (f.last_year IS NOT NULL OR f.demand IS NOT NULL) THEN
            field := 'in_use'; code := 'in_use_missing';
        ELSIF 'in_use_last_year' = ANY (rules) AND f.in_use = false
              AND coalesce(f.last_year, 0) > 0 THEN
            field := 'in_use'; code := 'in_use_last_year';
        ELSE
            CONTINUE;
        END IF;
        bad := true; detail := NULL;
        RETURN NEXT;
    END LOOP;

    IF bad THEN
        RETURN;
    END IF;

    DELETE FROM filing_lines l
    USING unnest(p_ids, p_last, p_demand, p_intended, p_in_use, p_notes)
          AS n (id, last_year, demand, intended, in_use, note)
    WHERE l.item_id = item AND l.catalog_line_id = n.id
      AND n.last_year IS NULL AND n.demand IS NULL AND n.intended IS NULL
      AND n.in_use IS NULL AND coalesce(n.note, '') = '';

    INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand,
                              intended, in_use, change_note)
    SELECT item, n.id, n.last_year, n.demand, n.intended, n.in_use,
           coalesce(n.note, '')
    FROM unnest(p_ids, p_last, p_demand, p_intended, p_in_use, p_notes)
         AS n (id, last_year, demand, intended, in_use, note)
    WHERE NOT (n.last_year IS NULL AND n.demand IS NULL
               AND n.intended IS NULL AND n.in_use IS NULL
               AND coalesce(n.note, '') = '')
    ORDER BY n.id
    ON CONFLICT (item_id, catalog_line_id) DO UPDATE
    SET last_year = EXCLUDED.last_year, demand = EXCLUDED.demand,
        intended = EXCLUDED.intended, in_use = EXCLUDED.in_use,
        change_note = EXCLUDED.change_note;

    -- rule 3 over the whole filing: a line saved on another page counts
    IF 'in_use_same_cert' = ANY (rules) THEN
        FOR f IN
            SELECT n.id, c.certificate
            FROM unnest(p_ids) AS n (id)
            JOIN catalog_lines c ON c.id = n.id
            WHERE c.certificate IN (
                SELECT k.certificate FROM filing_lines l
                JOIN catalog_lines k ON k.id = l.catalog_line_id
                WHERE l.item_id = item AND l.in_use IS NOT NULL
                GROUP BY k.certificate HAVING count(DISTINCT l.in_use) > 1)
        LOOP
            line_id := f.id; field := 'in_use'; code := 'in_use_cert';
            detail := f.certificate;
            RETURN NEXT;
            bad := true;
        END LOOP;

        IF bad THEN
            RETURN;
        END IF;
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
    INTO detail;

    line_id := NULL; field := NULL; code := 'ok';
    RETURN NEXT;
END
$$;

-- What stands between a filing and its 提交 (rules 4-6, the files, at
-- least one line): one row per refusal (line, field, code, detail).
CREATE FUNCTION vbp_filing_blockers(p_item bigint)
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
