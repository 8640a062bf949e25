-- make bench: a synthetic national data set for the deadline rush (issue 10)
--
--   31 provinces (BP01..BP31) of 11 cities each, the 11th its 省本级: 341
--   30,000 hospitals (BH00001..), spread over the cities, one account each
--   one bureau and its main account per province and city
--   one demand project open now, for the 31 provinces, with a 2,000-line
--   IVD catalog (20 大项 x 5 小项, a certificate per 4 lines, 50 makers)
--   100 filled lines per hospital: 3,000,000 filing lines, their totals
--
-- Created once (about two minutes) and kept in the bench's cluster between
-- runs; psql variable bench_hash: the password hash of every account.
-- Every run then calls bench_reset(): the windows open again, every state
-- goes back to the one the generator gave it and the events of the last
-- run go, so each run starts from the same data.
--
-- States of the hospitals (by their number n): every 15th is one of the
-- 2,000 that file in the rush (已暂存, their lines on catalog pages the
-- rush saves again); of the rest a quarter is 审核通过, half 已提交 (what
-- the city reviewers approve during the rush) and a quarter 已暂存.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT NOT EXISTS (SELECT 1 FROM projects WHERE name = '基准：全国报量') AS bench_missing \gset

\if :bench_missing
\echo bench: generating the national data set (once; kept between runs)

BEGIN;

INSERT INTO regions (code, name, level, parent_id, path)
SELECT 'BP' || lpad(p::text, 2, '0'), '基准省' || lpad(p::text, 2, '0'),
       'province', n.id, ''
FROM generate_series(1, 31) p, regions n WHERE n.level = 'nation'
ON CONFLICT (code) DO NOTHING;

INSERT INTO regions (code, name, level, parent_id, path, provincial)
SELECT r.code || 'C' || lpad(c::text, 2, '0'),
       CASE WHEN c = 11 THEN r.name || '省本级'
            ELSE r.name || '市' || lpad(c::text, 2, '0') END,
       'city', r.id, '', c = 11
FROM regions r, generate_series(1, 11) c
WHERE r.code ~ '^BP[0-9]{2}$'
ON CONFLICT (code) DO NOTHING;

UPDATE regions r SET path = p.path || r.id || '/'
FROM regions p WHERE r.parent_id = p.id AND r.path = '' AND p.level = 'nation';
UPDATE regions r SET path = p.path || r.id || '/'
FROM regions p WHERE r.parent_id = p.id AND r.path = '' AND p.level = 'province';

INSERT INTO orgs (code, name, kind, region_id)
SELECT 'BY' || r.code, r.name || CASE r.level WHEN 'province' THEN '医疗保障局'
                                              ELSE '医疗保障局' END,
       CASE r.level WHEN 'province' THEN 'province_bureau' ELSE 'city_bureau' END,
       r.id
FROM regions r WHERE r.code ~ '^BP'
ON CONFLICT (code) DO NOTHING;

-- hospital n lies in city (n - 1) % 341, so every city has 87 or 88
INSERT INTO orgs (code, name, kind, region_id, category)
SELECT 'BH' || lpad(n::text, 5, '0'), c.name || '基准医院' || n, 'hospital', c.id,
       (ARRAY['三级甲等', '二级甲等', '一级'])[1 + n % 3]
FROM generate_series(1, 30000) n
JOIN (SELECT id, name, row_number() OVER (ORDER BY code) - 1 AS k
      FROM regions WHERE code ~ '^BP[0-9]{2}C') c ON c.k = (n - 1) % 341
ON CONFLICT (code) DO NOTHING;

INSERT INTO users (username, display_name, org_id, password_hash,
                   must_change_password)
SELECT lower(o.code), left(o.name, 64), o.id, :'bench_hash', false
FROM orgs o WHERE o.code ~ '^B[YH]'
ON CONFLICT (username) DO NOTHING;

INSERT INTO projects (name, product_line, threshold_pct, file_opens,
                      file_closes, city_opens, city_closes, province_opens,
                      province_closes, alliance_opens, alliance_closes)
SELECT '基准：全国报量', 'ivd', 30, d, d + interval '30 days', d,
       d + interval '30 days', d, d + interval '30 days', d,
       d + interval '30 days'
FROM (SELECT now() - interval '1 day' AS d) t;

INSERT INTO project_provinces (project_id, region_id)
SELECT p.id, r.id FROM projects p, regions r
WHERE p.name = '基准：全国报量' AND r.code ~ '^BP[0-9]{2}$';

INSERT INTO catalog_lines (project_id, serial, category, subcategory,
                           certificate, manufacturer, product_name, spec, unit)
SELECT p.id, 'N' || lpad(g::text, 4, '0'),
       '大项' || lpad(((g - 1) / 100 + 1)::text, 2, '0'),
       '小项' || lpad(((g - 1) / 20 + 1)::text, 3, '0'),
       '国械注准基准' || lpad(((g - 1) / 4 + 1)::text, 4, '0'),
       '基准生产企业' || lpad(((g - 1) % 50 + 1)::text, 2, '0'),
       '检测试剂盒' || g, '100人份/盒', '盒'
FROM projects p, generate_series(1, 2000) g
WHERE p.name = '基准：全国报量';

SELECT vbp_project_enroll(id) FROM projects WHERE name = '基准：全国报量';

COMMIT;

-- the lines: hospital n fills the 100 catalog lines of block (n / 15) % 20 (two
-- pages of 50), last year's quantity and a demand within +-40 % of it
BEGIN;

INSERT INTO filing_lines (item_id, catalog_line_id, last_year, demand,
                          intended, in_use, change_note)
SELECT h.id, c.id, ly, greatest(0, ly + (ly * ((h.id * 7 + g * 13) % 81 - 40)) / 100),
       NULL, true, ''
FROM (SELECT i.id, substr(o.code, 3)::integer AS n
      FROM review_items i JOIN orgs o ON o.id = i.org_id
      JOIN projects p ON p.id = i.project_id
      WHERE p.name = '基准：全国报量' AND i.level = 'hospital') h
CROSS JOIN generate_series(1, 100) g
JOIN catalog_lines c ON c.project_id = (SELECT id FROM projects WHERE name = '基准：全国报量')
     AND c.serial = 'N' || lpad(((h.n / 15 % 20) * 100 + g)::text, 4, '0')
CROSS JOIN LATERAL (SELECT 10 + (h.n * 31 + g * 17) % 490 AS ly) v;

UPDATE filings f SET
    (last_year_total, demand_total, intended_total, lines, beyond) =
    (s.ly, s.dm, 0, s.n, s.beyond),
    contact = '联系人', phone = '13800000000', saved_at = now()
FROM (SELECT l.item_id, sum(l.last_year) AS ly, sum(l.demand) AS dm,
             count(*) AS n,
             count(*) FILTER (WHERE vbp_beyond(l.last_year, l.demand, 30)) AS beyond
      FROM filing_lines l JOIN review_items i ON i.id = l.item_id
      JOIN projects p ON p.id = i.project_id
      WHERE p.name = '基准：全国报量'
      GROUP BY l.item_id) s
WHERE f.item_id = s.item_id;

COMMIT;

VACUUM (ANALYZE) regions, orgs, users, review_items, filings, filing_lines,
       catalog_lines;
\endif

-- each run starts from the same states
CREATE OR REPLACE FUNCTION bench_reset() RETURNS void LANGUAGE sql AS $$
    UPDATE projects SET file_opens = now() - interval '1 day',
        file_closes = now() + interval '30 days',
        city_opens = now() - interval '1 day',
        city_closes = now() + interval '30 days',
        province_opens = now() - interval '1 day',
        province_closes = now() + interval '30 days',
        alliance_opens = now() - interval '1 day',
        alliance_closes = now() + interval '30 days'
    WHERE name = '基准：全国报量';

    DELETE FROM review_events e USING review_items i, projects p
    WHERE e.item_id = i.id AND i.project_id = p.id AND p.name = '基准：全国报量';

    -- the audit rows of the last run's saves and approvals (the bench's
    -- accounts are bh..., by...; no demo account is)
    DELETE FROM audit_log WHERE actor_name ~ '^b[hy]';

    UPDATE review_items i SET
        state = CASE WHEN h.n % 15 = 0 THEN 'draft'
                     WHEN h.n % 4 = 0 THEN 'approved'
                     WHEN h.n % 4 = 3 THEN 'draft'
                     ELSE 'submitted' END,
        state_before = NULL,
        -- kept from the run before: the same hand-ins, so the cities'
        -- peer medians (migration 009) stay valid, as between two real
        -- minutes of the rush; a new now() would have every city's
        -- medians recomputed at once in every run's first seconds
        submitted_at = CASE WHEN h.n % 15 <> 0 AND h.n % 4 <> 3
                            THEN coalesce(i.submitted_at,
                                          now() - interval '1 hour') END,
        handled_at = CASE WHEN h.n % 15 <> 0 AND h.n % 4 = 0
                          THEN now() - interval '30 minutes' END
    FROM (SELECT i.id, substr(o.code, 3)::integer AS n
          FROM review_items i JOIN orgs o ON o.id = i.org_id
          JOIN projects p ON p.id = i.project_id
          WHERE p.name = '基准：全国报量' AND i.level = 'hospital') h
    WHERE i.id = h.id;

    UPDATE review_items i SET state = 'pending', state_before = NULL,
        submitted_at = NULL, handled_at = NULL
    FROM projects p
    WHERE p.id = i.project_id AND p.name = '基准：全国报量'
      AND i.level <> 'hospital';
$$;

SELECT bench_reset();
VACUUM (ANALYZE) review_items, filings;

-- the 2,000 hospitals of the rush (every 15th): what a session gives the
-- platform for each (org, account, region path) and its filing, for the
-- pgbench reference that runs the save transaction without the platform
CREATE TABLE IF NOT EXISTS bench_rush AS
SELECT substr(o.code, 3)::integer / 15 AS k, o.id AS org_id, i.id AS item_id,
       u.id AS uid, u.username, r.path
FROM orgs o JOIN users u ON u.org_id = o.id AND u.parent_user_id IS NULL
JOIN regions r ON r.id = o.region_id
JOIN review_items i ON i.org_id = o.id AND i.level = 'hospital'
JOIN projects p ON p.id = i.project_id AND p.name = '基准：全国报量'
WHERE o.code ~ '^BH' AND substr(o.code, 3)::integer % 15 = 0;
CREATE UNIQUE INDEX IF NOT EXISTS bench_rush_k ON bench_rush (k);
