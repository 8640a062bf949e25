-- 公告通知 and 政策文件 (seed 002's home page), and the notices the platform
-- sends by itself: a project's windows opening and closing, a return, a
-- withdrawal request and its answer reach the org concerned on its home
-- page.
--
-- A notice reaches either one org (target_org_id: what the chain sends),
-- the orgs of some kinds that take part in a project (project_id: a window
-- opening or closing), or the orgs of some kinds below a region (a
-- bureau's or the alliance's own announcement: scope_path, audience).
-- Reads are kept per account (未读 is the reader's own) and shown to the
-- publisher per org (who has read it).

INSERT INTO permissions (code, name, parent, kinds, sort, is_group) VALUES
    ('notice', '公告管理', NULL, '{alliance,province_bureau,city_bureau}', 70,
     true),
    ('notice.publish', '发布公告', 'notice',
     '{alliance,province_bureau,city_bureau}', 71, false);

CREATE TABLE notices (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('announcement', 'policy',
                                                  'system')),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    body            text NOT NULL DEFAULT '' CHECK (length(body) <= 5000),
    href            text CHECK (href ~ '^/[a-z/]*(\?[a-z_=0-9&]*)?$'),
    author_org_id   integer REFERENCES orgs (id),
    author_user_id  integer REFERENCES users (id) ON DELETE SET NULL,
    author_name     text NOT NULL DEFAULT '',
    -- the audience: one org, a project's orgs of some kinds, or the orgs
    -- of some kinds below a region
    target_org_id   integer REFERENCES orgs (id),
    project_id      integer REFERENCES projects (id) ON DELETE CASCADE,
    scope_path      text NOT NULL,
    audience        text[] NOT NULL DEFAULT '{}' CHECK (audience <@
                        '{alliance,province_bureau,city_bureau,hospital,manufacturer}'),
    -- what made a system notice, so that it is made once
    event           text,
    publish_at      timestamptz NOT NULL DEFAULT now(),
    end_at          timestamptz,
    withdrawn_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_at IS NULL OR end_at > publish_at),
    CHECK (kind = 'system' OR (author_org_id IS NOT NULL
                               AND target_org_id IS NULL))
);

CREATE UNIQUE INDEX notices_event ON notices (project_id, event)
    WHERE event IS NOT NULL AND target_org_id IS NULL;
CREATE INDEX notices_target ON notices (target_org_id, publish_at DESC)
    WHERE target_org_id IS NOT NULL;
CREATE INDEX notices_broadcast ON notices (publish_at DESC)
    WHERE target_org_id IS NULL;
CREATE INDEX notices_author ON notices (author_org_id, created_at DESC);

CREATE TABLE notice_files (
    notice_id    bigint NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    sha256       text NOT NULL REFERENCES uploads (sha256),
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 120),
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notice_id, sha256)
);

CREATE TABLE notice_reads (
    notice_id  bigint NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    user_id    integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id     integer NOT NULL REFERENCES orgs (id),
    read_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (notice_id, user_id)
);

CREATE INDEX notice_reads_org ON notice_reads (notice_id, org_id);

-- Does a notice reach an org (of a kind, at a region path)?  The one rule
-- every list and every read uses.
CREATE FUNCTION vbp_notice_for(n notices, p_org integer, p_kind text,
                               p_path text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT n.withdrawn_at IS NULL AND n.publish_at <= now()
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

-- the org that answers for an item: a hospital's filing its hospital, a
-- city's or a province's submission its bureau
CREATE FUNCTION vbp_item_owner(it review_items)
RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN it.org_id IS NOT NULL THEN it.org_id
           ELSE (SELECT o.id FROM orgs o WHERE o.region_id = it.region_id
                 AND o.kind IN ('city_bureau', 'province_bureau')
                 ORDER BY o.id LIMIT 1) END
$$;

-- Which transitions tell whom (chain_transitions.notify): 'owner' the org
-- that answers for the item (a return reaches the returned), 'parent' the
-- org above it (a withdrawal request reaches the city).
ALTER TABLE chain_transitions ADD COLUMN notify text
    CHECK (notify IN ('owner', 'parent'));

UPDATE chain_transitions SET notify = 'owner'
WHERE chain = 'demand' AND action IN ('return', 'grant_withdraw',
                                      'refuse_withdraw');
UPDATE chain_transitions SET notify = 'parent'
WHERE chain = 'demand' AND action = 'request_withdraw';

-- where the notice of an item leads its reader (the demand chain's pages)
CREATE FUNCTION vbp_item_href(it review_items, p_for_owner boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN it.chain = 'demand' AND it.level = 'hospital' AND p_for_owner
            THEN '/filing?project=' || it.project_id
        WHEN it.chain = 'demand' AND (it.level = 'hospital' OR p_for_owner)
             AND it.level IN ('hospital', 'city')
            THEN '/review?project=' || it.project_id
        WHEN it.chain = 'demand'
            THEN '/review/summary?project=' || it.project_id
    END
$$;

-- the notices of a chain's moves (vbp_chain_fire calls it for the items it
-- moved): one per item to the org the transition names
CREATE FUNCTION vbp_chain_notify(p_chain text, p_action text,
                                 p_items bigint[], p_reason text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO notices (kind, title, body, href, target_org_id, project_id,
                         scope_path, event)
    SELECT 'system',
           left(concat('「', p.name, '」', coalesce(o.name, g.name), '：',
                       t.title), 100),
           CASE WHEN coalesce(btrim(p_reason), '') <> ''
                THEN concat('原因：', btrim(p_reason)) ELSE '' END,
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

-- The windows of the projects: a notice each when it opens and when it
-- closes, to the orgs of the level it belongs to, made the first time a
-- home page is opened after the moment (at most a month late: an old
-- project does not fill the home pages of a new deployment).
CREATE FUNCTION vbp_notices_sync()
RETURNS void LANGUAGE sql AS $$
    INSERT INTO notices (kind, title, body, href, project_id, scope_path,
                         audience, event, publish_at, end_at)
    SELECT 'system',
           left(concat('「', p.name, '」', w.title,
                       CASE w.edge WHEN 'opens' THEN '已开始' ELSE '已截止' END),
                100),
           concat(w.title, '时间：',
                  to_char(w.opens AT TIME ZONE 'Asia/Shanghai',
                          'YYYY-MM-DD HH24:MI'), ' 至 ',
                  to_char(w.closes AT TIME ZONE 'Asia/Shanghai',
                          'YYYY-MM-DD HH24:MI')),
           '/projects', p.id, '/', w.audience, w.name || '_' || w.edge,
           w.at, w.at + interval '30 days'
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
    CROSS JOIN LATERAL (VALUES ('opens', v.opens), ('closes', v.closes))
        AS e (edge, at)
    CROSS JOIN LATERAL (SELECT v.name, v.title, v.opens, v.closes,
                               v.audience, e.edge, e.at) w
    WHERE w.at <= now() AND w.at > now() - interval '31 days'
    ON CONFLICT (project_id, event) WHERE event IS NOT NULL
                                      AND target_org_id IS NULL
    DO NOTHING
$$;
