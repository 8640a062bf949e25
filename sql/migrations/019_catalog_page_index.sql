-- A page of a filing is cut from its project's catalog in serial order
-- (worker/filing.c, filing_lines_page_all): LIMIT 50 OFFSET 50 × (page - 1).
-- Through the (project, serial) key, the lines before the page were each
-- read from the table to be skipped: the 40th page of a 2,000-line catalog
-- read 2,000 rows, and in the deadline rush a page opened read 1,000 on
-- average.  With the line's id in the index, they are skipped in the index
-- alone (an index-only scan, once the catalog's pages are all-visible --
-- a catalog is written when the round is set up and then only read) and
-- only the page's 50 are read from the table.

CREATE INDEX catalog_lines_page ON catalog_lines (project_id, serial)
    INCLUDE (id);
