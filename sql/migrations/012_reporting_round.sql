-- A reporting round the clerks finish without help.
--
-- 取消上报 (无需上报) takes a hospital out of its city's figures: the city
-- says why, the reason is kept with the event and shown on 需求量信息确认
-- before the city submits.
UPDATE chain_transitions SET reason_required = true
WHERE chain = 'demand' AND level = 'hospital' AND action = 'exempt';

-- One 暂存 reports every error of the page at once, each on its line: the
-- rules of single lines (1, 2) no longer stop the save before rule 3 is
-- judged over the whole filing -- the lines are written, rule 3 is judged
-- with them, and when anything is refused the caller's 422 rolls it all
-- back.  Rule 3 names only the lines of the page that carry a flag, not
-- the certificate's empty ones.  Lines that are not the project's, or
-- twice in one save, are refused before anything is written (the form
-- never sends them).
CREATE OR REPLACE FUNCTION vbp_filing_save(p_item bigint,
                                p_ids integer[], p_last integer[],
                                p_demand integer[], p_intended integer[],
                                p_in_use boolean[], p_notes text[])
RETURNS TABLE (line_id integer, field text, code text, detail text)
LANGUAGE plpgsql ROWS 1 AS $$
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
        SELECT n.id, c.id IS NULL AS unknown,
               count(*) OVER (PARTITION BY n.id) > 1 AS twice
        FROM unnest(p_ids) AS n (id)
        LEFT JOIN catalog_lines c ON c.id = n.id AND c.project_id = p_project
    LOOP
        CONTINUE WHEN NOT (f.unknown OR f.twice);
        line_id := f.id; field := 'catalog_line_id';
        code := CASE WHEN f.unknown THEN 'unknown_line' ELSE 'duplicate_line' END;
        detail := NULL;
        bad := true;
        RETURN NEXT;
    END LOOP;

    IF bad THEN
        RETURN;
    END IF;

    FOR f IN
        SELECT n.id, n.last_year, n.demand, n.in_use
        FROM unnest(p_ids, p_last, p_demand, p_in_use)
             AS n (id, last_year, demand, in_use)
        ORDER BY n.id
    LOOP
        line_id := f.id; detail := NULL;
        IF 'in_use_filled' = ANY (rules) AND f.in_use IS NULL
           AND (f.last_year IS NOT NULL OR f.demand IS NOT NULL) THEN
            field := 'in_use'; code := 'in_use_missing';
        ELSIF 'in_use_last_year' = ANY (rules) AND f.in_use = false
              AND coalesce(f.last_year, 0) > 0 THEN
            field := 'in_use'; code := 'in_use_last_year';
        ELSE
            CONTINUE;
        END IF;
        bad := true;
        RETURN NEXT;
    END LOOP;

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

    -- rule 3 over the whole filing, with this page's lines in it: a line
    -- saved on another page counts; named on this page's flagged lines
    IF 'in_use_same_cert' = ANY (rules) THEN
        FOR f IN
            SELECT n.id, c.certificate
            FROM unnest(p_ids, p_in_use) AS n (id, in_use)
            JOIN catalog_lines c ON c.id = n.id
            WHERE n.in_use IS NOT NULL
              AND c.certificate IN (
                SELECT k.certificate FROM filing_lines l
                JOIN catalog_lines k ON k.id = l.catalog_line_id
                WHERE l.item_id = item AND l.in_use IS NOT NULL
                GROUP BY k.certificate HAVING count(DISTINCT l.in_use) > 1)
            ORDER BY n.id
        LOOP
            line_id := f.id; field := 'in_use'; code := 'in_use_cert';
            detail := f.certificate;
            RETURN NEXT;
            bad := true;
        END LOOP;
    END IF;

    IF bad THEN
        RETURN;
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
