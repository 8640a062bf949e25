-- The peers of a page of a city's list, read city by city (make bench,
-- issue 10): vbp_peer_lines joined the items' cities to review_items by a
-- hash over all 73,000 hospital items (the planner cannot know that a page
-- has one or two cities), a sequential scan in every city clerk's list --
-- 65 ms a page of 20, and in the deadline rush the city clerks' lists took
-- the CPU the hospitals' saves needed.  Each city's hospitals are now
-- read through review_items_parent (the OFFSET keeps the subquery a
-- nested loop per city): 23 ms.  The answer is the same (t/034).
CREATE OR REPLACE FUNCTION vbp_peer_lines(p_items bigint[])
RETURNS TABLE (item_id bigint, catalog_line_id integer, median numeric,
               peers integer, far boolean)
LANGUAGE sql STABLE SET jit = off AS $$
    WITH me AS MATERIALIZED (
        SELECT i.id, i.parent_id, o.category COLLATE "C" AS category
        FROM review_items i JOIN orgs o ON o.id = i.org_id
        WHERE i.id = ANY (p_items) AND i.level = 'hospital'),
    mine AS MATERIALIZED (
        SELECT me.id, me.parent_id, me.category, l.catalog_line_id, l.demand
        FROM me JOIN filing_lines l ON l.item_id = me.id
        WHERE l.demand IS NOT NULL),
    peers AS (
        SELECT h.parent_id, o.category COLLATE "C" AS category,
               l.catalog_line_id, l.demand
        FROM (SELECT DISTINCT parent_id FROM me) c
        CROSS JOIN LATERAL (
            SELECT h.id, h.org_id, h.parent_id FROM review_items h
            WHERE h.parent_id = c.parent_id AND h.level = 'hospital'
              AND h.state <> 'exempt'
            OFFSET 0) h
        JOIN orgs o ON o.id = h.org_id
        JOIN filing_lines l ON l.item_id = h.id
        WHERE l.demand IS NOT NULL
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
