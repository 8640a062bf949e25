-- What the deadline-rush benchmark found (make bench, issue 10).
--
-- The planner takes a set-returning function for 1,000 rows unless told:
-- the worker joins the answer of vbp_chain_fire with review_items, orgs and
-- regions to name the items, and for 1,000 rows it hashed all of
-- review_items -- 20 ms of a save that needs 3.  Both functions answer one
-- row per item or per refusal: a save, a submit, one row; a batch, up to
-- the batch's 500 (nested index lookups are right for those too).
ALTER FUNCTION vbp_chain_fire(text, text, bigint[], text, text, integer,
                              integer, text, inet, text) ROWS 1;
ALTER FUNCTION vbp_filing_save(bigint, integer[], integer[], integer[],
                               integer[], boolean[], text[]) ROWS 1;
