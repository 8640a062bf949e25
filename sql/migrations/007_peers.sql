-- Reviewer aid (issue 10, beyond the seeds): a line whose demand lies far
-- from its peers' is flagged in the review list and on the item's page, so
-- that the reviewer's eye goes there first.
--
-- Peers: the hospitals of the same city (the same city item), of the same
-- grade (orgs.category: a 三级甲等 hospital is compared with its likes,
-- never with a clinic), that filed a demand for the same catalog line, the
-- hospital itself among them; not 无需上报.  With fewer than 5 peers there
-- is no judgement.  Far: more than three times the peers' median, or less
-- than a third of it (a median of 0 and a demand: far) -- ratios, because
-- hospitals of one grade differ in size, and a median, because one odd
-- filing must not move the yardstick.
--
-- Computed when asked, for the items asked about: the peers of a page of a
-- city's list are that city's filings (about 100 hospitals x 100 lines),
-- read through filing_lines' primary key.
CREATE FUNCTION vbp_peer_lines(p_items bigint[])
RETURNS TABLE (item_id bigint, catalog_line_id integer, median numeric,
               peers integer, far boolean)
LANGUAGE sql STABLE SET jit = off AS $$
    -- the items' own lines; grades compare bytewise ("C": a group key, not
    -- a sort order); the steps are materialized so that the plan stays
    -- one pass over the cities' filings, whatever the estimates
    WITH me AS MATERIALIZED (
        SELECT i.id, i.parent_id, o.category COLLATE "C" AS category
        FROM review_items i JOIN orgs o ON o.id = i.org_id
        WHERE i.id = ANY (p_items) AND i.level = 'hospital'),
    mine AS MATERIALIZED (
        SELECT me.id, me.parent_id, me.category, l.catalog_line_id, l.demand
        FROM me JOIN filing_lines l ON l.item_id = me.id
        WHERE l.demand IS NOT NULL),
    -- their peers' demand for those lines only
    peers AS (
        SELECT h.parent_id, o.category COLLATE "C" AS category,
               l.catalog_line_id, l.demand
        FROM (SELECT DISTINCT parent_id FROM me) c
        JOIN review_items h ON h.parent_id = c.parent_id
        JOIN orgs o ON o.id = h.org_id
        JOIN filing_lines l ON l.item_id = h.id
        WHERE h.level = 'hospital' AND h.state <> 'exempt'
          AND l.demand IS NOT NULL
          AND l.catalog_line_id IN (SELECT catalog_line_id FROM mine)),
    med AS MATERIALIZED (
        SELECT parent_id, category, catalog_line_id, count(*) AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY demand) AS m
        FROM peers GROUP BY 1, 2, 3)
    SELECT mine.id, mine.catalog_line_id, round(med.m::numeric, 1),
           med.n::integer,
           med.n >= 5 AND (mine.demand > 3 * med.m
                           OR (med.m > 0 AND mine.demand * 3 < med.m))
    FROM mine JOIN med ON med.parent_id = mine.parent_id
     AND med.category = mine.category
     AND med.catalog_line_id = mine.catalog_line_id
$$;
