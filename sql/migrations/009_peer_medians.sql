-- The peers' medians kept per city (make bench, issue 10).  Migration 008
-- still computed them on every city clerk's list: 23 ms a page at idle,
-- 65 ms in the deadline rush, where the 6 lists a second took a third of
-- PostgreSQL's time -- more than the 100 saves a second.
--
-- Peers are now the hospitals of the city whose filing is handed in
-- (已提交, 撤回申请中, 审核通过): their lines no longer change, so a city's
-- medians change only when one of its hospitals submits or leaves those
-- states (returned, withdrawn, revoked to draft).  A draft is no yardstick
-- anyway: its figures change by the minute and a half-filled one would
-- drag the median.  A draft or returned hospital is still judged against
-- them.  The rest of migration 007's rule stands (same city, same grade,
-- at least 5 peers, far: more than three times the median or less than
-- a third of it).
--
-- A city's medians are computed whole when asked for and kept with the
-- fingerprint of what they were computed from: its handed-in hospitals,
-- each with its submission time, grade and totals.  A list computes the
-- fingerprint (one index range of about 100 rows) and recomputes only
-- when it differs, one session per city at a time.  Saves write nothing
-- here: the deadline rush's saves are drafts.
CREATE TABLE peer_cities (
    parent_id    bigint PRIMARY KEY REFERENCES review_items (id) ON DELETE CASCADE,
    fingerprint  text NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now()
);

-- no foreign keys: a check per row would cost what the cache saves; the
-- rows go with their peer_cities row (below)
CREATE TABLE peer_medians (
    parent_id        bigint NOT NULL,
    category         text COLLATE "C" NOT NULL,
    catalog_line_id  integer NOT NULL,
    peers            integer NOT NULL,
    median           numeric NOT NULL,
    PRIMARY KEY (parent_id, category, catalog_line_id)
);

-- the far lines of each handed-in hospital, kept with its city's medians
-- (they are judged by them and change with them): a city's list reads
-- them instead of judging 20 x 100 lines again
CREATE TABLE peer_items (
    item_id    bigint PRIMARY KEY,
    parent_id  bigint NOT NULL,
    outliers   integer NOT NULL
);
CREATE INDEX peer_items_parent ON peer_items (parent_id);

CREATE FUNCTION vbp_peer_cities_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM peer_medians m USING gone g WHERE m.parent_id = g.parent_id;
    DELETE FROM peer_items m USING gone g WHERE m.parent_id = g.parent_id;
    RETURN NULL;
END $$;

CREATE TRIGGER peer_cities_gone AFTER DELETE ON peer_cities
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION vbp_peer_cities_gone();

-- what a city's medians are computed from, in one string
CREATE FUNCTION vbp_peer_fingerprint(p_city bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT count(*) || ':' || coalesce(sum(hashtextextended(
               concat_ws('/', h.id, h.submitted_at, o.category, f.lines,
                         f.demand_total), 0)::numeric), 0)
    FROM review_items h
    JOIN orgs o ON o.id = h.org_id
    JOIN filings f ON f.item_id = h.id
    WHERE h.parent_id = p_city AND h.level = 'hospital'
      AND h.state IN ('submitted', 'withdraw_requested', 'approved')
$$;

-- brings a city's medians up to date; two sessions asking at once: the
-- second waits for the first and finds them done
CREATE FUNCTION vbp_peer_refresh(p_city bigint) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    print text := vbp_peer_fingerprint(p_city);
BEGIN
    IF EXISTS (SELECT 1 FROM peer_cities
               WHERE parent_id = p_city AND fingerprint = print) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('vbp_peer_refresh'),
                                  (p_city % 2147483647)::integer);
    print := vbp_peer_fingerprint(p_city);
    IF EXISTS (SELECT 1 FROM peer_cities
               WHERE parent_id = p_city AND fingerprint = print) THEN
        RETURN;
    END IF;
    DELETE FROM peer_medians WHERE parent_id = p_city;
    DELETE FROM peer_items WHERE parent_id = p_city;
    -- one pass over the city's handed-in lines: the medians, and each
    -- hospital's far lines judged by them
    WITH lines AS MATERIALIZED (
        SELECT h.id, o.category COLLATE "C" AS category, l.catalog_line_id,
               l.demand
        FROM review_items h
        JOIN orgs o ON o.id = h.org_id
        JOIN filing_lines l ON l.item_id = h.id
        WHERE h.parent_id = p_city AND h.level = 'hospital'
          AND h.state IN ('submitted', 'withdraw_requested', 'approved')
          AND l.demand IS NOT NULL),
    med AS MATERIALIZED (
        SELECT category, catalog_line_id, count(*)::integer AS peers,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY demand)::numeric
                   AS median
        FROM lines GROUP BY 1, 2),
    kept AS (
        INSERT INTO peer_medians (parent_id, category, catalog_line_id,
                                  peers, median)
        SELECT p_city, category, catalog_line_id, peers, median FROM med)
    INSERT INTO peer_items (item_id, parent_id, outliers)
    SELECT x.id, p_city,
           count(*) FILTER (WHERE m.peers >= 5
                            AND (x.demand > 3 * m.median
                                 OR (m.median > 0 AND x.demand * 3 < m.median)))
    FROM lines x JOIN med m USING (category, catalog_line_id)
    GROUP BY x.id;
    INSERT INTO peer_cities (parent_id, fingerprint) VALUES (p_city, print)
    ON CONFLICT (parent_id) DO UPDATE
    SET fingerprint = excluded.fingerprint, computed_at = now();
END $$;

-- the cities of some hospitals' items brought up to date, in id order (no
-- deadlock between two lists of the same two cities)
CREATE FUNCTION vbp_peer_refresh_items(p_items bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    city bigint;
BEGIN
    FOR city IN SELECT DISTINCT i.parent_id FROM review_items i
                WHERE i.id = ANY (p_items) AND i.level = 'hospital'
                ORDER BY 1 LOOP
        PERFORM vbp_peer_refresh(city);
    END LOOP;
END $$;

-- the same answer as before for the items asked about, read from the
-- kept medians
CREATE OR REPLACE FUNCTION vbp_peer_lines(p_items bigint[])
RETURNS TABLE (item_id bigint, catalog_line_id integer, median numeric,
               peers integer, far boolean)
LANGUAGE plpgsql VOLATILE SET jit = off AS $$
BEGIN
    PERFORM vbp_peer_refresh_items(p_items);
    RETURN QUERY
    SELECT l.item_id, l.catalog_line_id, round(m.median, 1), m.peers,
           m.peers >= 5 AND (l.demand > 3 * m.median
                             OR (m.median > 0 AND l.demand * 3 < m.median))
    FROM review_items i
    JOIN orgs o ON o.id = i.org_id
    JOIN filing_lines l ON l.item_id = i.id
    -- one primary-key read per line (OFFSET keeps it so whatever the
    -- estimates; unanalyzed, the planner scanned a city's medians per item)
    CROSS JOIN LATERAL (
        SELECT m.median, m.peers FROM peer_medians m
        WHERE m.parent_id = i.parent_id
          AND m.category = o.category COLLATE "C"
          AND m.catalog_line_id = l.catalog_line_id
        OFFSET 0) m
    WHERE i.id = ANY (p_items) AND i.level = 'hospital'
      AND l.demand IS NOT NULL;
END $$;

-- per hospital of a list page, its far lines: kept for the handed-in ones,
-- judged here for the others (drafts and returned filings change with
-- every save); hospitals with none may be left out
CREATE FUNCTION vbp_peer_counts(p_items bigint[])
RETURNS TABLE (item_id bigint, outliers bigint)
LANGUAGE plpgsql VOLATILE SET jit = off AS $$
DECLARE
    open_items bigint[];
BEGIN
    PERFORM vbp_peer_refresh_items(p_items);
    SELECT array_agg(i.id) INTO open_items FROM review_items i
    WHERE i.id = ANY (p_items) AND i.level = 'hospital'
      AND i.state NOT IN ('submitted', 'withdraw_requested', 'approved');
    RETURN QUERY
    SELECT p.item_id, p.outliers::bigint
    FROM peer_items p JOIN review_items i ON i.id = p.item_id
    WHERE p.item_id = ANY (p_items)
      AND i.state IN ('submitted', 'withdraw_requested', 'approved');
    IF open_items IS NOT NULL THEN
        RETURN QUERY
        SELECT x.item_id, count(*) FILTER (WHERE x.far)
        FROM vbp_peer_lines(open_items) x GROUP BY x.item_id;
    END IF;
END $$;
