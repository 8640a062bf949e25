/*
 * Reporting projects (seed 004 报量项目配置) and a hospital's demand filing
 * (seed 004 报量项目管理, seed 000): the paged form over the catalog, 暂存,
 * 提交 and 撤回申请.
 *
 * The rules of a product line are checked in SQL (migration 005:
 * vbp_filing_save, vbp_filing_blockers), where the whole filing is at
 * hand; this file checks what each value is, maps every refusal to its
 * line and field, and fires the chain through review.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vbp.h"


#define FILING_SAVE_MAX     200     /* lines in one 暂存: two full pages */
#define FILING_NOTE_MAX     200
#define FILING_QTY_MAX      2147483647LL
#define PROJECT_WINDOWS     8


static int projects_list(vbp_call_t *call);
static int projects_form(vbp_call_t *call);
static int catalog_list(vbp_call_t *call);
static int catalog_export(vbp_call_t *call);
static int projects_get(vbp_call_t *call);
static int projects_save(vbp_call_t *call);
static int filing_get(vbp_call_t *call);
static int filing_save(vbp_call_t *call);
static int filing_form_rows(vbp_call_t *call);
static int filing_submit(vbp_call_t *call);
static int filing_submit_judged(vbp_call_t *call, const char *contact,
    const char *phone, const char *reason);
static int filing_withdraw(vbp_call_t *call);


const vbp_op_t  vbp_filing_ops[] = {
    { "projects.list", projects_list, 1, 0, "report", NULL, NULL },
    { "projects.get", projects_get, 1, 0, "report", NULL, NULL },
    { "projects.form", projects_form, 1, 0, "report.projects", NULL, NULL },
    { "catalog.list", catalog_list, 1, 0, "report", NULL, NULL },
    { "catalog.export", catalog_export, 1, 0, "report", NULL, NULL },
    { "projects.create", projects_save, 1, 0, "report.projects", "create",
      NULL },
    { "projects.update", projects_save, 1, 0, "report.projects", "update",
      NULL },
    { "filing.get", filing_get, 1, 0, "report.file", NULL, NULL },
    { .name = "filing.save", .handler = filing_save, .needs_actor = 1,
      .one_statement = 1, .permission = "report.file" },
    { "filing.submit", filing_submit, 1, 0, "report.file", NULL, NULL },
    { "filing.withdraw", filing_withdraw, 1, 0, "report.file", NULL, NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


/* the windows, in the order of the columns and of the form */
static const char *const  project_windows[PROJECT_WINDOWS] = {
    "file_opens", "file_closes", "city_opens", "city_closes",
    "province_opens", "province_closes", "alliance_opens", "alliance_closes"
};

/* the stage of each pair of windows, as the form names it */
static const char *const  project_stages[PROJECT_WINDOWS / 2] = {
    "医疗机构填报", "市级审核", "省级审核", "联采办审核"
};

#define PROJECT_TIME(c)                                                      \
    "to_char(p." c " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')"

/* projects the actor takes part in: the alliance all, others by items */
#define PROJECT_VISIBLE                                                      \
    " ($1 = 'alliance' OR EXISTS (SELECT 1 FROM review_items i"              \
    "   WHERE i.project_id = p.id AND i.scope_path LIKE $2 || '%'"           \
    "    AND ($1 <> 'hospital' OR i.org_id = $3::integer)))"

#define PROJECT_COLUMNS                                                      \
    "SELECT p.id, p.name, p.product_line, l.name, p.threshold_pct,"          \
    "  vbp_project_status(p),"                                               \
    "  CASE vbp_project_status(p) WHEN 'pending' THEN '未开始'"              \
    "   WHEN 'running' THEN '执行中' ELSE '已结束' END,"                      \
    "  " PROJECT_TIME("file_opens") ", " PROJECT_TIME("file_closes") ","     \
    "  " PROJECT_TIME("city_opens") ", " PROJECT_TIME("city_closes") ","     \
    "  " PROJECT_TIME("province_opens") ","                                  \
    "  " PROJECT_TIME("province_closes") ","                                 \
    "  " PROJECT_TIME("alliance_opens") ","                                  \
    "  " PROJECT_TIME("alliance_closes") ","                                 \
    "  (SELECT coalesce(json_agg(json_build_object('code', r.code,"          \
    "     'name', r.name) ORDER BY r.code), '[]')"                           \
    "   FROM project_provinces pp JOIN regions r ON r.id = pp.region_id"     \
    "   WHERE pp.project_id = p.id)::text,"                                  \
    "  p.catalog_size,"                                                      \
    "  to_json(l.columns)::text, to_json(l.rules)::text,"                    \
    "  p.commitment_sha IS NOT NULL,"                                        \
    /* the actor's own part in it: a hospital's filing, a bureau's own */    \
    "  (SELECT s.title FROM review_items i JOIN chain_states s"              \
    "    ON s.chain = i.chain AND s.level = i.level AND s.state = i.state"   \
    "   WHERE i.project_id = p.id AND i.chain = 'demand'"                    \
    "    AND ((i.level = 'hospital' AND $1 = 'hospital'"                     \
    "          AND i.org_id = $3::integer)"                                  \
    "     OR (i.level = CASE $1 WHEN 'city_bureau' THEN 'city'"              \
    "          WHEN 'province_bureau' THEN 'province' END"                   \
    "          AND i.scope_path = $2)) LIMIT 1)"                             \
    " FROM projects p JOIN product_lines l ON l.code = p.product_line"

#define PROJECT_FILTER                                                       \
    " WHERE" PROJECT_VISIBLE                                                 \
    "  AND ($4 = '' OR p.name ILIKE $4)"                                     \
    "  AND ($5 = '' OR vbp_project_status(p) = $5)"


/* the catalog lines a search keeps ($2: a LIKE pattern or '', $3: '1'
 * for the lines filed only, '2' for those beyond the threshold) */
#define FILING_LINES_SEARCH                                                  \
    "   AND ($2 = '' OR c.serial ILIKE $2 OR c.category ILIKE $2"            \
    "        OR c.subcategory ILIKE $2 OR c.certificate ILIKE $2"            \
    "        OR c.manufacturer ILIKE $2 OR c.product_name ILIKE $2)"         \
    "   AND ($3 = '' OR EXISTS (SELECT 1 FROM filing_lines f"                \
    "        JOIN projects fp ON fp.id = i.project_id"                       \
    "        WHERE f.item_id = i.id AND f.catalog_line_id = c.id"            \
    "         AND ($3 = '1'"                                                 \
    "              OR vbp_beyond(f.last_year, f.demand, fp.threshold_pct))))"

#define FILING_LINES_COUNT(search)                                           \
    "SELECT count(*) FROM catalog_lines c JOIN review_items i"               \
    " ON i.project_id = c.project_id WHERE i.id = $1::bigint" search

/* the page is cut from the catalog by its (project, serial) index first,
 * so that only its lines are joined and judged (make bench: the last page
 * of 2,000 lines took 4.5 ms sorted whole, 1 ms so); LIMIT and OFFSET are
 * sub-selects, which the planner costs alike for every page: given the
 * values, a far page's plan looked cheaper than the generic one, the plan
 * cache kept planning afresh, and under the rush 45 % of page opens paid
 * 0.6 ms for it */
#define FILING_LINES_PAGE(cut)                                               \
    "SELECT c.id, c.serial, c.category, c.subcategory, c.certificate,"       \
    "  c.manufacturer, c.product_name, c.spec, c.unit, l.last_year,"         \
    "  l.demand, l.intended, l.in_use, coalesce(l.change_note, ''),"         \
    "  l.catalog_line_id IS NOT NULL AND 'threshold' = ANY (pl.rules)"       \
    "   AND vbp_beyond(l.last_year, l.demand, p.threshold_pct)"              \
    " FROM review_items i"                                                   \
    " JOIN projects p ON p.id = i.project_id"                                \
    " JOIN product_lines pl ON pl.code = p.product_line"                     \
    " CROSS JOIN LATERAL (" cut ") c"                                        \
    " LEFT JOIN filing_lines l ON l.item_id = i.id"                          \
    "  AND l.catalog_line_id = c.id"                                         \
    " WHERE i.id = $1::bigint"                                               \
    " ORDER BY c.serial"

/* a search's page: the lines it keeps, in order */
#define FILING_LINES_CUT_SEARCH                                              \
    "SELECT c.* FROM catalog_lines c"                                        \
    " WHERE c.project_id = i.project_id" FILING_LINES_SEARCH                 \
    " ORDER BY c.serial LIMIT (SELECT $4::bigint)"                           \
    " OFFSET (SELECT $5::bigint)"

/* a page of the whole catalog: the lines before it are skipped in the
 * (project, serial) index alone (migration 019), and only the page's are
 * read from the table, each by its key (OFFSET 0: not the whole catalog
 * hashed) -- the 40th page of 2,000 lines read 2,000 rows, 1 ms */
#define FILING_LINES_CUT_ALL                                                 \
    "SELECT c.* FROM (SELECT k.id FROM catalog_lines k"                      \
    "  WHERE k.project_id = i.project_id"                                    \
    "  ORDER BY k.serial LIMIT (SELECT $2::bigint)"                          \
    "  OFFSET (SELECT $3::bigint)) k"                                        \
    " CROSS JOIN LATERAL (SELECT * FROM catalog_lines c"                     \
    "  WHERE c.id = k.id OFFSET 0) c"

const vbp_stmt_t  vbp_filing_stmts[] = {

    { "project_count",
      "SELECT count(*) FROM projects p" PROJECT_FILTER },

    { "project_page",
      PROJECT_COLUMNS PROJECT_FILTER " ORDER BY p.id DESC LIMIT $6 OFFSET $7" },

    { "project_get",
      PROJECT_COLUMNS " WHERE p.id = $4::integer AND" PROJECT_VISIBLE },

    /* the catalog of a project the actor takes part in ($4), searched by
     * 流水号, 大项, 小项, 注册证, 生产企业 or 产品名称 ($5) */
#define CATALOG_FILTER                                                       \
    " FROM catalog_lines c JOIN projects p ON p.id = c.project_id"           \
    " WHERE p.id = $4::integer AND" PROJECT_VISIBLE                          \
    "  AND ($5 = '' OR c.serial ILIKE $5 OR c.category ILIKE $5"             \
    "       OR c.subcategory ILIKE $5 OR c.certificate ILIKE $5"             \
    "       OR c.manufacturer ILIKE $5 OR c.product_name ILIKE $5)"

#define CATALOG_COLUMNS                                                      \
    "SELECT c.serial, c.category, c.subcategory, c.certificate,"             \
    "  c.manufacturer, c.product_name, c.spec, c.unit"

    { "catalog_count", "SELECT count(*)" CATALOG_FILTER },

    { "catalog_page",
      CATALOG_COLUMNS CATALOG_FILTER " ORDER BY c.serial LIMIT $6 OFFSET $7" },

    { "catalog_all", CATALOG_COLUMNS CATALOG_FILTER " ORDER BY c.serial" },

    /* the choices of the project form: product lines, then provinces */
    { "project_form_choices",
      "SELECT 'line', code, name, sort FROM product_lines"
      " UNION ALL SELECT 'province', code, name, 0 FROM regions"
      " WHERE level = 'province' ORDER BY 1, 4, 2" },

    /* the stored project, locked, to compare an update with */
    { "project_lock",
      "SELECT vbp_project_status(p), p.threshold_pct, p.product_line,"
      "  p.file_opens, p.file_closes, p.city_opens, p.city_closes,"
      "  p.province_opens, p.province_closes, p.alliance_opens,"
      "  p.alliance_closes, p.name,"
      "  p.catalog_size"
      " FROM projects p WHERE p.id = $1::integer FOR UPDATE" },

    /* is each new window at least as late as the stored one? ($2 new) */
    { "project_window_cmp",
      "SELECT $1::timestamptz >= date_trunc('minute', $2::timestamptz),"
      "  $1::timestamptz = date_trunc('minute', $2::timestamptz)" },

    { "project_insert",
      "INSERT INTO projects (name, product_line, threshold_pct, file_opens,"
      "  file_closes, city_opens, city_closes, province_opens,"
      "  province_closes, alliance_opens, alliance_closes, created_by)"
      " VALUES ($1, $2, $3::integer, $4::timestamptz, $5::timestamptz,"
      "  $6::timestamptz, $7::timestamptz, $8::timestamptz, $9::timestamptz,"
      "  $10::timestamptz, $11::timestamptz, $12::integer)"
      " ON CONFLICT (name) DO NOTHING RETURNING id" },

    /* a window is given to the minute: one the form sends back as it was
     * shown (its seconds cut) keeps its stored time */
#define PROJECT_WINDOW_SET(c, n)                                             \
    c " = CASE WHEN date_trunc('minute', " c ") = $" n "::timestamptz"       \
    " THEN " c " ELSE $" n "::timestamptz END"

    { "project_update",
      "UPDATE projects SET name = $2, product_line = $3,"
      "  threshold_pct = $4::integer,"
      "  " PROJECT_WINDOW_SET("file_opens", "5") ","
      "  " PROJECT_WINDOW_SET("file_closes", "6") ","
      "  " PROJECT_WINDOW_SET("city_opens", "7") ","
      "  " PROJECT_WINDOW_SET("city_closes", "8") ","
      "  " PROJECT_WINDOW_SET("province_opens", "9") ","
      "  " PROJECT_WINDOW_SET("province_closes", "10") ","
      "  " PROJECT_WINDOW_SET("alliance_opens", "11") ","
      "  " PROJECT_WINDOW_SET("alliance_closes", "12") ","
      "  updated_at = now()"
      " WHERE id = $1::integer"
      "  AND NOT EXISTS (SELECT 1 FROM projects o WHERE o.name = $2"
      "                  AND o.id <> $1::integer)"
      " RETURNING id" },

    { "project_line_known",
      "SELECT count(*) FROM product_lines WHERE code = $1" },

    /* provinces by code: those that are not one, in order */
    { "project_provinces_unknown",
      "SELECT c FROM unnest($1::text[]) c WHERE NOT EXISTS (SELECT 1"
      " FROM regions r WHERE r.code = c AND r.level = 'province')"
      " ORDER BY c" },

    /* provinces no longer chosen: only before the project starts */
    { "project_provinces_dropped",
      "SELECT r.code FROM project_provinces pp JOIN regions r"
      " ON r.id = pp.region_id WHERE pp.project_id = $1::integer"
      "  AND NOT (r.code = ANY ($2::text[])) ORDER BY r.code" },

    { "project_provinces_drop",
      "WITH gone AS (DELETE FROM project_provinces pp USING regions r"
      "  WHERE r.id = pp.region_id AND pp.project_id = $1::integer"
      "   AND NOT (r.code = ANY ($2::text[])) RETURNING r.path)"
      " DELETE FROM review_items i USING gone"
      " WHERE i.project_id = $1::integer AND i.scope_path LIKE gone.path || '%'" },

    { "project_provinces_add",
      "INSERT INTO project_provinces (project_id, region_id)"
      " SELECT $1::integer, r.id FROM regions r"
      " WHERE r.code = ANY ($2::text[]) AND r.level = 'province'"
      " ON CONFLICT DO NOTHING" },

    { "project_enroll", "SELECT vbp_project_enroll($1::integer)" },

    /* the hospital's own filing in a project */
    { "filing_item",
      "SELECT i.id FROM review_items i WHERE i.project_id = $1::integer"
      "  AND i.chain = 'demand' AND i.level = 'hospital'"
      "  AND i.org_id = $2::integer" },

    /* 暂存 of a page, whole, in one statement (migration 012) */
    { "filing_save",
      "SELECT vbp_filing_page_save($1::integer, $2::integer, $3, $4::integer,"
      " $5, $6::inet, $7::integer[], $8::integer[], $9::integer[],"
      " $10::integer[], $11::boolean[], $12::text[], $13::integer[],"
      " $14::boolean)" },

    { "filing_contact",
      "UPDATE filings SET contact = $2, phone = $3, below_reason = $4"
      " WHERE item_id = $1::bigint" },

    { "filing_blockers",
      "SELECT line_id, field, code, detail"
      " FROM vbp_filing_blockers($1::bigint)" },

    /* the catalog of the item's project, a page, with the item's values;
     * without a search, statements of their own: the search's "$2 = ''
     * OR" had PostgreSQL plan the page again at every call (make bench:
     * 1 ms of a filing page's 2.3 ms in the database) */
    { "filing_lines_count", FILING_LINES_COUNT(FILING_LINES_SEARCH) },
    /* the whole catalog: its size kept with the project (migration 015) */
    { "filing_lines_count_all",
      "SELECT p.catalog_size FROM review_items i"
      " JOIN projects p ON p.id = i.project_id WHERE i.id = $1::bigint" },
    { "filing_lines_page", FILING_LINES_PAGE(FILING_LINES_CUT_SEARCH) },
    { "filing_lines_page_all", FILING_LINES_PAGE(FILING_LINES_CUT_ALL) },

    { "filing_project",
      "SELECT p.threshold_pct, to_json(l.columns)::text,"
      "  to_json(l.rules)::text, l.name, p.commitment_sha IS NOT NULL,"
      "  " PROJECT_TIME("file_opens") ", " PROJECT_TIME("file_closes")
      " FROM review_items i JOIN projects p ON p.id = i.project_id"
      " JOIN product_lines l ON l.code = p.product_line"
      " WHERE i.id = $1::bigint" },

    /*
     * an item's totals: a hospital's filing as kept at each save; a city's
     * or province's submission as the sums over the hospitals below that
     * must report (never 无需上报), as the summaries count them
     */
    { "filing_totals",
      "SELECT f.last_year_total, f.demand_total, f.intended_total, f.lines,"
      "  f.beyond, f.contact, f.phone, f.below_reason,"
      "  (i.state <> 'exempt')::integer, (i.state = 'approved')::integer,"
      "  (i.state = 'exempt')::integer"
      " FROM review_items i JOIN filings f ON f.item_id = i.id"
      " WHERE i.id = $1::bigint AND i.level = 'hospital'"
      " UNION ALL"
      " SELECT coalesce(sum(f.last_year_total) FILTER (WHERE h.state <> 'exempt'), 0),"
      "  coalesce(sum(f.demand_total) FILTER (WHERE h.state <> 'exempt'), 0),"
      "  coalesce(sum(f.intended_total) FILTER (WHERE h.state <> 'exempt'), 0),"
      "  coalesce(sum(f.lines) FILTER (WHERE h.state <> 'exempt'), 0),"
      "  coalesce(sum(f.beyond) FILTER (WHERE h.state <> 'exempt'), 0),"
      "  NULL, NULL, NULL,"
      "  count(h.id) FILTER (WHERE h.state <> 'exempt'),"
      "  count(h.id) FILTER (WHERE h.state = 'approved'),"
      "  count(h.id) FILTER (WHERE h.state = 'exempt')"
      " FROM review_items i LEFT JOIN review_items h"
      "  ON h.project_id = i.project_id AND h.chain = i.chain"
      "  AND h.level = 'hospital'"
      "  AND h.scope_path ~>=~ i.scope_path"            /* LIKE path || '%' */
      "  AND h.scope_path ~<~ (left(i.scope_path, -1) || '0')"
      " LEFT JOIN filings f ON f.item_id = h.id"
      " WHERE i.id = $1::bigint AND i.level <> 'hospital'"
      " GROUP BY i.id" },

    /*
     * what 提交 needs that the filing does not have yet, for the checklist
     * above the button (the rest is read off the filing's totals and
     * files): the certificates without an in-use instrument and their
     * files (rule 4), and the lines that want 增降幅说明 (rule 5)
     */
    { "filing_note_certs",
      "SELECT c.certificate, bool_or(x.sha256 IS NOT NULL),"
      "  min(x.filename), min(x.sha256)"
      " FROM filing_lines l JOIN catalog_lines c ON c.id = l.catalog_line_id"
      " LEFT JOIN item_files x ON x.item_id = l.item_id"
      "  AND x.kind = 'in_use_note' AND x.certificate = c.certificate"
      " WHERE l.item_id = $1::bigint AND l.in_use = false"
      " GROUP BY c.certificate ORDER BY c.certificate LIMIT 200" },

    { "filing_note_lines",
      "SELECT c.id, c.serial, c.product_name"
      " FROM (SELECT l.catalog_line_id FROM filing_lines l"
      "  JOIN review_items i ON i.id = l.item_id"
      "  JOIN projects p ON p.id = i.project_id"
      "  JOIN product_lines pl ON pl.code = p.product_line"
      "  WHERE l.item_id = $1::bigint AND 'threshold' = ANY (pl.rules)"
      "   AND l.change_note = ''"
      "   AND vbp_beyond(l.last_year, l.demand, p.threshold_pct)"
      "  ORDER BY l.catalog_line_id LIMIT 50) l"
      " JOIN catalog_lines c ON c.id = l.catalog_line_id"
      " ORDER BY c.serial" },

    { NULL, NULL }
};


static const char *const  project_names[] = {
    "id", "name", "product_line", "product_line_name", "threshold_pct",
    "status", "status_title", "file_opens", "file_closes", "city_opens",
    "city_closes", "province_opens", "province_closes", "alliance_opens",
    "alliance_closes", "provinces", "catalog_lines", "columns", "rules",
    "has_template", "own_state", NULL
};

static const char  project_types[] = "isssissssssssssjijjbn";

/* the catalog's columns, in the order of SPEC §3 and of 目录下载 */
static const char *const  catalog_names[] = {
    "serial", "category", "subcategory", "certificate", "manufacturer",
    "product_name", "spec", "unit", NULL
};

static const char  catalog_types[] = "ssssssss";

#define CATALOG_CSV_HEADER                                                   \
    "流水号,大项,小项,注册证,生产企业,产品名称,规格,单位"

static const char *const  line_names[] = {
    "id", "serial", "category", "subcategory", "certificate",
    "manufacturer", "product_name", "spec", "unit", "last_year", "demand",
    "intended", "in_use", "change_note", "beyond", NULL
};

static const char  line_types[] = "issssssssIIIbsb";


/* the actor's kind, region path and org: $1..$3 of the project reads */
static int
project_actor(vbp_call_t *call, const char **params, char *org, size_t len)
{
    params[0] = vbp_actor_str(call, "role");
    params[1] = vbp_actor_path(call);
    params[2] = org;

    if (params[0] == NULL || params[1] == NULL
        || vbp_actor_int(call, "org_id", org, len) != 0)
    {
        vbp_fail_unauthenticated(call);
        return -1;
    }

    return 0;
}


static int
projects_list(vbp_call_t *call)
{
    char         org[24], q[200];
    const char  *params[7], *s;

    static const char *const  statuses[] = { "pending", "running", "ended",
                                             NULL };

    if (project_actor(call, params, org, sizeof(org)) != 0) {
        return 0;
    }

    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[3] = s && *s ? vbp_like_pattern(s, q, sizeof(q)) : "";
    params[4] = vbp_arg_choice(call, "status", statuses, NULL);

    if (call->status) {
        return 0;
    }

    if (vbp_list(call, "project_count", "project_page", params, 5,
                 project_names, project_types) != 0)
    {
        return -1;
    }

    /* the page offers 新增 and 编辑 to whoever may configure projects */
    if (call->data && vbp_actor_has(call, "report.projects")) {
        (void) json_object_set_new(call->data, "can_projects", json_true());
    }

    return 0;
}


static int
projects_get(vbp_call_t *call)
{
    char         org[24], id[24];
    PGresult    *res;
    const char  *params[4];

    if (project_actor(call, params, org, sizeof(org)) != 0
        || vbp_arg_id(call, "id", id, sizeof(id)) != 0)
    {
        return 0;
    }

    params[3] = id;

    res = vbp_db_query(call->db, "project_get", 4, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", "报量项目不存在");
        return 0;
    }

    call->data = vbp_row_json(res, 0, project_names, project_types);
    PQclear(res);

    return call->data ? 0 : -1;
}


/* the sizes of catalog_scope()'s buffers */
#define CATALOG_ORG  24
#define CATALOG_ID   24
#define CATALOG_Q    200

/*
 * The catalog's parameters ($1..$3 the actor, $4 the project, $5 the
 * search) and its project, which heads the page and is 404 where the actor
 * takes no part.  0 with *project, 0 with call->status, or -1.
 */
static int
catalog_scope(vbp_call_t *call, const char **params, char *org, char *id,
    char *q, json_t **project)
{
    const char  *s;

    *project = NULL;

    if (project_actor(call, params, org, CATALOG_ORG) != 0
        || vbp_arg_id(call, "project", id, CATALOG_ID) != 0)
    {
        return 0;
    }

    params[3] = id;
    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[4] = s && *s ? vbp_like_pattern(s, q, CATALOG_Q) : "";

    if (call->status) {
        return 0;
    }

    (void) json_object_set_new(call->args, "id", json_string(id));

    if (projects_get(call) != 0) {
        return -1;
    }

    if (call->status == 0) {
        *project = call->data;
        call->data = NULL;
    }

    return 0;
}


/* GET {project, q, page, per_page}: the catalog, a page of it */
static int
catalog_list(vbp_call_t *call)
{
    char         org[CATALOG_ORG], id[CATALOG_ID], q[CATALOG_Q];
    json_t      *project;
    const char  *params[7];

    if (catalog_scope(call, params, org, id, q, &project) != 0) {
        return -1;
    }

    if (project == NULL) {
        return 0;
    }

    if (vbp_list(call, "catalog_count", "catalog_page", params, 5,
                 catalog_names, catalog_types) != 0)
    {
        json_decref(project);
        return -1;
    }

    if (call->data == NULL) {
        json_decref(project);
        return 0;
    }

    (void) json_object_set_new(call->data, "project", project);

    if (vbp_actor_has(call, "report.projects")) {
        (void) json_object_set_new(call->data, "can_projects", json_true());
    }

    return 0;
}


/* GET {project, q}: 目录下载, the catalog as CSV (UTF-8 with BOM), in the
 * columns an import reads */
static int
catalog_export(vbp_call_t *call)
{
    char         org[CATALOG_ORG], id[CATALOG_ID], q[CATALOG_Q], name[160];
    json_t      *project;
    const char  *params[5];

    if (catalog_scope(call, params, org, id, q, &project) != 0) {
        return -1;
    }

    if (project == NULL) {
        return 0;
    }

    /* a catalog takes as many lines as its import accepts: the file is
     * written row by row and sent by nginx (vbp_file) */
    snprintf(name, sizeof(name), "%s-目录.csv",
             json_string_value(json_object_get(project, "name")));
    json_decref(project);

    return vbp_csv_download(call, CATALOG_CSV_HEADER, "catalog_all", 5, params,
                            name);
}


/*
 * Is the province of this code chosen: among those sent (a form's one value
 * or values joined by commas, or a JSON array) when a POST was refused,
 * else among the project's own.
 */
static int
project_chosen(json_t *project, json_t *sent, const char *code)
{
    size_t       i, n;
    json_t      *v;
    const char  *s, *end;

    n = strlen(code);

    if (json_is_string(sent)) {
        for (s = json_string_value(sent); *s; s = *end ? end + 1 : end) {
            end = s + strcspn(s, ",");
            if ((size_t) (end - s) == n && strncmp(s, code, n) == 0) {
                return 1;
            }
        }

        return 0;
    }

    if (json_is_array(sent)) {
        json_array_foreach(sent, i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), code) == 0) {
                return 1;
            }
        }

        return 0;
    }

    json_array_foreach(json_object_get(project, "provinces"), i, v) {
        s = json_string_value(json_object_get(v, "code"));
        if (s && strcmp(s, code) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * GET {id}: the project form (统一配置): the project when it has an id, the
 * product lines and provinces to choose from, each marked when chosen --
 * after a refused POST as it was sent, else as stored -- and each window
 * as a datetime-local input wants it ("input").
 */
static int
projects_form(vbp_call_t *call)
{
    int          row, fixed, province;
    char         input[24], *space;
    size_t       i, k;
    json_t      *project, *lines, *provinces, *windows, *stages, *stage,
                *fields, *sent, *v;
    PGresult    *res;
    const char  *line, *code, *status;

    project = NULL;
    line = NULL;
    sent = NULL;

    if (json_object_get(call->args, "id")) {
        if (projects_get(call) != 0) {
            return -1;
        }

        if (call->status) {
            return 0;
        }

        project = call->data;
        call->data = NULL;
        line = json_string_value(json_object_get(project, "product_line"));
    }

    if (call->refill) {
        v = json_object_get(call->args, "product_line");
        line = json_is_string(v) ? json_string_value(v) : line;
        sent = json_object_get(call->args, "provinces");
    }

    res = vbp_db_query(call->db, "project_form_choices", 0, NULL);
    if (res == NULL) {
        json_decref(project);
        return -1;
    }

    lines = json_array();
    provinces = json_array();

    for (row = 0; lines && provinces && row < PQntuples(res); row++) {
        code = PQgetvalue(res, row, 1);
        province = PQgetvalue(res, row, 0)[0] == 'p';
        (void) json_array_append_new(province ? provinces : lines,
            json_pack("{s:s, s:s, s:b}", "code", code,
                      "name", PQgetvalue(res, row, 2),
                      "chosen", province
                                ? project_chosen(project, sent, code)
                                : line && strcmp(line, code) == 0));
    }

    PQclear(res);

    /* the windows, a row per stage: as sent after a refused POST, else as
     * stored, in the form a datetime-local input wants */
    windows = json_object();
    stages = json_array();
    fields = json_object_get(call->posted_error, "fields");

    for (i = 0; stages && i < PROJECT_WINDOWS; i += 2) {
        stage = json_pack("{s:s}", "title", project_stages[i / 2]);

        for (k = i; stage && k < i + 2; k++) {
            v = call->refill ? json_object_get(call->args, project_windows[k])
                             : NULL;
            v = json_is_string(v) ? v
                                  : json_object_get(project, project_windows[k]);
            snprintf(input, sizeof(input), "%s",
                     json_is_string(v) ? json_string_value(v) : "");
            space = strchr(input, ' ');
            if (space) {
                *space = 'T';
            }

            (void) json_object_set_new(stage, k == i ? "opens" : "closes",
                json_pack("{s:s, s:s, s:s, s:O?}",
                          "name", project_windows[k],
                          "label", k == i ? "开始时间" : "截止时间",
                          "value", input,
                          "error", json_object_get(fields,
                                                   project_windows[k])));
        }

        (void) json_array_append_new(stages, stage);
    }

    /* a number as text, so that a threshold of 0 shows as 0 */
    v = json_object_get(project, "threshold_pct");
    if (windows && json_is_integer(v)) {
        snprintf(input, sizeof(input), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        (void) json_object_set_new(windows, "threshold_pct",
                                   json_string(input));
    }

    /* 执行中 or 已结束: the threshold and the line stay as they are */
    status = json_string_value(json_object_get(project, "status"));
    fixed = status && strcmp(status, "pending") != 0;

    call->data = json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}",
                           "project", project ? project : json_object(),
                           "product_lines", lines ? lines : json_array(),
                           "provinces", provinces ? provinces : json_array(),
                           "input", windows ? windows : json_object(),
                           "stages", stages ? stages : json_array(),
                           "fixed", fixed);

    return call->data ? 0 : -1;
}


/*
 * A time of the form "YYYY-MM-DD HH:MM" (or with a T, as a datetime-local
 * input sends it), China time, as a timestamptz literal in out.
 */
static const char *
project_time(vbp_call_t *call, const char *name, char *out, size_t len)
{
    int          y, mo, d, h, mi, n, dim;
    char         sep;
    const char  *s;

    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    s = vbp_arg_string(call, name, 1, 19, "请填写时间");
    if (s == NULL) {
        return NULL;
    }

    n = 0;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &n)
        != 6 || (sep != ' ' && sep != 'T')
        || (s[n] != '\0' && strcmp(s + n, ":00") != 0))
    {
        vbp_field_error(call, name, "时间格式应为 2026-12-31 18:00");
        return NULL;
    }

    dim = (mo >= 1 && mo <= 12) ? days[mo - 1] : 0;
    if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        dim = 29;
    }

    if (y < 2000 || y > 2999 || d < 1 || d > dim || h < 0 || h > 23
        || mi < 0 || mi > 59)
    {
        vbp_field_error(call, name, "不是有效的时间");
        return NULL;
    }

    snprintf(out, len, "%04d-%02d-%02d %02d:%02d:00+08", y, mo, d, h, mi);

    return out;
}


/* now in the form project_time() writes, China time */
static const char *
project_now(char *out, size_t len)
{
    time_t     t;
    struct tm  tm;

    t = time(NULL) + 8 * 3600;

    if (gmtime_r(&t, &tm) == NULL
        || strftime(out, len, "%Y-%m-%d %H:%M:00+08", &tm) == 0)
    {
        snprintf(out, len, "0000");
    }

    return out;
}


/* the chosen provinces as a text[] literal of codes; NULL on error */
static const char *
project_provinces(vbp_call_t *call, char *out, size_t len, size_t *count)
{
    size_t       i, used;
    json_t      *v, *code;
    const char  *s;

    v = json_object_get(call->args, "provinces");
    *count = 0;

    if (json_is_string(v)) {
        /* a form sends one value, or several joined by commas */
        s = json_string_value(v);
        if (*s == '\0') {
            v = NULL;
        } else {
            used = (size_t) snprintf(out, len, "{");
            for (i = 0; s[i] && used + 2 < len; i++) {
                if (s[i] == ',') {
                    out[used++] = ',';
                    (*count)++;
                } else if (s[i] >= '0' && s[i] <= '9') {
                    out[used++] = s[i];
                } else if (s[i] != ' ') {
                    vbp_field_error(call, "provinces", "省份编码无效");
                    return NULL;
                }
            }
            if (used + 2 > len) {
                vbp_field_error(call, "provinces", "省份过多");
                return NULL;
            }
            out[used++] = '}';
            out[used] = '\0';
            (*count)++;
            return out;
        }
    }

    if (!json_is_array(v) || json_array_size(v) == 0) {
        vbp_field_error(call, "provinces", "请选择参加的省份");
        return NULL;
    }

    if (json_array_size(v) > 40) {
        vbp_field_error(call, "provinces", "省份过多");
        return NULL;
    }

    used = (size_t) snprintf(out, len, "{");

    json_array_foreach(v, i, code) {
        s = json_string_value(code);
        if (s == NULL || *s == '\0' || strlen(s) > 12
            || strspn(s, "0123456789") != strlen(s))
        {
            vbp_field_error(call, "provinces", "省份编码无效");
            return NULL;
        }

        used += (size_t) snprintf(out + used, len - used, "%s%s",
                                  i ? "," : "", s);
        if (used + 2 > len) {
            vbp_field_error(call, "provinces", "省份过多");
            return NULL;
        }
    }

    out[used++] = '}';
    out[used] = '\0';
    *count = json_array_size(v);

    return out;
}


/* the rows of a one-column result as "、"-joined text */
static void
project_join(PGresult *res, char *out, size_t len)
{
    int     row;
    size_t  used;

    used = 0;
    out[0] = '\0';

    for (row = 0; row < PQntuples(res) && used + 1 < len; row++) {
        used += (size_t) snprintf(out + used, len - used, "%s%s",
                                  row ? "、" : "", PQgetvalue(res, row, 0));
    }
}


/*
 * POST: create (统一配置 of a new project) or update one.  Once the
 * project is 执行中 or 已结束 its threshold and product line are fixed, a
 * window may only be extended, and provinces may be added, not removed.
 */
static int
projects_save(vbp_call_t *call)
{
    int          i, update, started, rc, parsed[PROJECT_WINDOWS];
    char         times[PROJECT_WINDOWS][32], provinces[600], pct_text[16];
    char         id[24], uid[24], names[256], msg[160], now[32];
    size_t       nprov;
    long long    pct;
    json_t      *v, *changes;
    PGresult    *res, *old;
    const char  *name, *line, *params[13], *prov;
    char         stored_status[16];

    update = strcmp(call->variant, "update") == 0;

    if (update && vbp_arg_id(call, "id", id, sizeof(id)) != 0) {
        return 0;
    }

    if (vbp_actor_int(call, "uid", uid, sizeof(uid)) != 0) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    name = vbp_arg_string(call, "name", 1, 100, "请填写项目名称");
    line = vbp_arg_string(call, "product_line", 1, 32, "请选择产品线");

    v = json_object_get(call->args, "threshold_pct");
    pct = 0;
    if (v == NULL || json_is_null(v)
        || (json_is_string(v) && json_string_length(v) == 0))
    {
        vbp_field_error(call, "threshold_pct", "请填写需求量阈值");

    } else if (json_is_integer(v)) {
        pct = json_integer_value(v);

    } else if (json_is_string(v)
               && strspn(json_string_value(v), "0123456789")
                  == json_string_length(v)
               && json_string_length(v) <= 4)
    {
        pct = atoll(json_string_value(v));

    } else {
        pct = -1;
    }

    if (v && !json_is_null(v) && (pct < 0 || pct > 1000)) {
        vbp_field_error(call, "threshold_pct", "需求量阈值应为 0 到 1000 的整数（%）");
    }

    snprintf(pct_text, sizeof(pct_text), "%lld", pct);

    for (i = 0; i < PROJECT_WINDOWS; i++) {
        parsed[i] = project_time(call, project_windows[i], times[i],
                                 sizeof(times[i])) != NULL;
    }

    /* each window opens before it closes: said at the closing field, with
     * the other fields' errors (the times compare as text: one format) */
    for (i = 0; i < PROJECT_WINDOWS; i += 2) {
        if (parsed[i] && parsed[i + 1] && strcmp(times[i], times[i + 1]) >= 0) {
            vbp_field_error(call, project_windows[i + 1], "截止时间应晚于开始时间");
        }
    }

    /* each stage follows the one below it: a level opens no earlier and
     * closes no earlier than the level whose work it reviews */
    for (i = 2; i < PROJECT_WINDOWS; i++) {
        if (parsed[i] && parsed[i - 2] && strcmp(times[i], times[i - 2]) < 0) {
            snprintf(msg, sizeof(msg), "%s应不早于%s的%s",
                     i % 2 ? "截止时间" : "开始时间", project_stages[i / 2 - 1],
                     i % 2 ? "截止时间" : "开始时间");
            vbp_field_error(call, project_windows[i], msg);
        }
    }

    /* a new project's filing has not closed already */
    if (!update && parsed[1] && strcmp(times[1], project_now(now, sizeof(now)))
                                <= 0)
    {
        vbp_field_error(call, project_windows[1], "截止时间已过，请填写将来的时间");
    }

    prov = project_provinces(call, provinces, sizeof(provinces), &nprov);

    if (call->status) {
        return 0;
    }

    params[0] = line;
    if (vbp_db_value(call->db, "project_line_known", 1, params, names,
                     sizeof(names))
        < 0)
    {
        return -1;
    }

    if (strcmp(names, "0") == 0) {
        vbp_field_error(call, "product_line", "产品线不存在");
    }

    params[0] = prov;
    res = vbp_db_query(call->db, "project_provinces_unknown", 1, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) > 0) {
        char  msg[300];

        project_join(res, names, sizeof(names));
        snprintf(msg, sizeof(msg), "不是省级区划：%s", names);
        vbp_field_error(call, "provinces", msg);
    }

    PQclear(res);

    if (call->status) {
        return 0;
    }

    changes = json_object();
    if (changes == NULL) {
        return -1;
    }

    started = 0;
    stored_status[0] = '\0';

    if (update) {
        params[0] = id;
        old = vbp_db_query(call->db, "project_lock", 1, params);
        if (old == NULL) {
            json_decref(changes);
            return -1;
        }

        if (PQntuples(old) == 0) {
            PQclear(old);
            json_decref(changes);
            vbp_fail(call, 404, "not_found", "报量项目不存在");
            return 0;
        }

        /* kept past PQclear(old) for the audit record */
        snprintf(stored_status, sizeof(stored_status), "%s",
                 PQgetvalue(old, 0, 0));
        started = strcmp(stored_status, "pending") != 0;

        if (started && strcmp(PQgetvalue(old, 0, 1), pct_text) != 0) {
            vbp_field_error(call, "threshold_pct",
                            "项目已执行中或已结束，需求量阈值不可修改");
        }

        if ((started || strcmp(PQgetvalue(old, 0, 12), "0") != 0)
            && strcmp(PQgetvalue(old, 0, 2), line) != 0)
        {
            vbp_field_error(call, "product_line",
                            "项目已开始或已导入目录，产品线不可修改");
        }

        for (i = 0; i < PROJECT_WINDOWS; i++) {
            params[0] = times[i];
            params[1] = PQgetvalue(old, 0, 3 + i);

            res = vbp_db_query(call->db, "project_window_cmp", 2, params);
            if (res == NULL) {
                PQclear(old);
                json_decref(changes);
                return -1;
            }

            if (PQgetvalue(res, 0, 1)[0] != 't') {
                (void) json_object_set_new(changes, project_windows[i],
                                           json_string(times[i]));

                /* once running, a window may only be extended */
                if (started && (i % 2 == 0 || PQgetvalue(res, 0, 0)[0] != 't'))
                {
                    vbp_field_error(call, project_windows[i],
                                    i % 2 == 0
                                    ? "项目已开始，开始时间不可修改"
                                    : "项目已开始，截止时间只能延后");
                }
            }

            PQclear(res);
        }

        if (strcmp(PQgetvalue(old, 0, 1), pct_text) != 0) {
            (void) json_object_set_new(changes, "threshold_pct",
                                       json_string(pct_text));
        }

        if (strcmp(PQgetvalue(old, 0, 11), name) != 0) {
            (void) json_object_set_new(changes, "name", json_string(name));
        }

        PQclear(old);

        if (started) {
            params[0] = id;
            params[1] = prov;
            res = vbp_db_query(call->db, "project_provinces_dropped", 2,
                               params);
            if (res == NULL) {
                json_decref(changes);
                return -1;
            }

            if (PQntuples(res) > 0) {
                char  msg[300];

                project_join(res, names, sizeof(names));
                snprintf(msg, sizeof(msg), "项目已开始，不能移除省份：%s", names);
                vbp_field_error(call, "provinces", msg);
            }

            PQclear(res);
        }

        if (call->status) {
            json_decref(changes);
            return 0;
        }
    }

    /* the statement's parameters: (id,) name, line, threshold, windows */
    params[0] = update ? id : name;
    params[1] = update ? name : line;
    params[2] = update ? line : pct_text;
    params[3] = update ? pct_text : times[0];

    for (i = 0; i < PROJECT_WINDOWS; i++) {
        params[(update ? 4 : 3) + i] = times[i];
    }

    params[11] = update ? times[7] : uid;

    res = vbp_db_query(call->db, update ? "project_update" : "project_insert",
                       12, params);
    if (res == NULL) {
        json_decref(changes);
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        json_decref(changes);
        vbp_conflict(call, "name", "项目名称已存在");
        return 0;
    }

    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    params[0] = id;
    params[1] = prov;

    rc = 0;

    if (update) {
        res = vbp_db_query(call->db, "project_provinces_drop", 2, params);
        rc = res ? 0 : -1;
        PQclear(res);
    }

    if (rc == 0) {
        res = vbp_db_query(call->db, "project_provinces_add", 2, params);
        rc = res ? 0 : -1;
        PQclear(res);
    }

    if (rc == 0) {
        res = vbp_db_query(call->db, "project_enroll", 1, params);
        rc = res ? 0 : -1;
        PQclear(res);
    }

    (void) json_object_set_new(changes, "provinces", json_string(prov));

    if (rc != 0
        || vbp_audit_detail(call, update ? "project_updated"
                                         : "project_created",
                            "project", id, update ? stored_status : NULL,
                            NULL, NULL, changes, NULL)
           != 0)
    {
        return -1;
    }

    call->status = update ? 200 : 201;
    call->data = json_pack("{s:I, s:s}", "id", (json_int_t) atoll(id),
                           "message", update ? "项目已保存" : "项目已创建");

    return call->data ? 0 : -1;
}


/* the actor's own filing in args.project; 0 found, 1 answered, -1 */
int
vbp_filing_item(vbp_call_t *call, char *id, size_t len)
{
    char         project[24], org[24];
    const char  *params[2];

    if (vbp_arg_id(call, "project", project, sizeof(project)) != 0) {
        return 1;
    }

    if (vbp_actor_int(call, "org_id", org, sizeof(org)) != 0) {
        vbp_fail_unauthenticated(call);
        return 1;
    }

    params[0] = project;
    params[1] = org;

    switch (vbp_db_value(call->db, "filing_item", 2, params, id, len)) {
    case 1:
        return 0;
    case 0:
        vbp_fail(call, 404, "not_found", "您的机构未参加该报量项目");
        return 1;
    default:
        return -1;
    }
}


/*
 * The catalog of an item's project, one page, with the item's values and
 * the columns and rules of its product line: into call->data.lines.
 */
int
vbp_filing_lines(vbp_call_t *call, const char *item)
{
    int          search;
    long         limit, offset, page;
    char         q[200], lim[24], off[24], count[24];
    json_t      *items, *project;
    PGresult    *res;
    const char  *params[5], *s;

    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[0] = item;
    params[1] = s && *s ? vbp_like_pattern(s, q, sizeof(q)) : "";
    params[2] = vbp_arg_flag(call, "beyond") ? "2"
                : vbp_arg_flag(call, "filled") ? "1" : "";

    if (vbp_arg_page(call, &limit, &offset, &page) != 0 || call->status) {
        return 0;
    }

    search = params[1][0] != '\0' || params[2][0] != '\0';

    if (vbp_db_value(call->db, search ? "filing_lines_count"
                                      : "filing_lines_count_all",
                     search ? 3 : 1, params, count, sizeof(count))
        < 0)
    {
        return -1;
    }

    if (atoll(count) > 0 && offset >= atoll(count)) {
        page = (long) ((atoll(count) + limit - 1) / limit);
        offset = (page - 1) * limit;
    }

    snprintf(lim, sizeof(lim), "%ld", limit);
    snprintf(off, sizeof(off), "%ld", offset);
    if (search) {
        params[3] = lim;
        params[4] = off;
        res = vbp_db_query(call->db, "filing_lines_page", 5, params);

    } else {
        params[1] = lim;
        params[2] = off;
        res = vbp_db_query(call->db, "filing_lines_page_all", 3, params);
    }

    if (res == NULL) {
        return -1;
    }

    items = vbp_rows_json(res, line_names, line_types);
    PQclear(res);

    res = vbp_db_query(call->db, "filing_project", 1, params);
    if (res == NULL) {
        json_decref(items);
        return -1;
    }

    project = PQntuples(res) == 0 ? json_object()
              : json_pack("{s:i, s:o, s:o, s:s, s:b, s:s, s:s}",
                          "threshold_pct", atoi(PQgetvalue(res, 0, 0)),
                          "columns", json_loads(PQgetvalue(res, 0, 1), 0,
                                                NULL),
                          "rules", json_loads(PQgetvalue(res, 0, 2), 0, NULL),
                          "product_line_name", PQgetvalue(res, 0, 3),
                          "has_template", PQgetvalue(res, 0, 4)[0] == 't',
                          "file_opens", PQgetvalue(res, 0, 5),
                          "file_closes", PQgetvalue(res, 0, 6));
    PQclear(res);

    if (items == NULL || project == NULL) {
        json_decref(items);
        json_decref(project);
        return -1;
    }

    /* a page shows a column when its line has it: col_in_use, col_intended */
    {
        size_t   i;
        char     col[48];
        json_t  *c;

        json_array_foreach(json_object_get(project, "columns"), i, c) {
            snprintf(col, sizeof(col), "col_%s", json_string_value(c));
            (void) json_object_set_new(project, col, json_true());
        }
    }

    (void) json_object_set_new(call->data, "lines",
                               vbp_page_json(items, atoll(count), page,
                                             limit));
    (void) json_object_set_new(call->data, "line_rules", project);

    return call->page ? filing_form_rows(call) : 0;
}


static const char *const  totals_names[] = {
    "last_year_total", "demand_total", "intended_total", "line_count",
    "beyond", "contact", "phone", "below_reason", "must_report", "approved",
    "exempt",
    NULL
};

static const char  totals_types[] = "IIIIInnniii";


/*
 * An item's totals into call->data (filing_totals): a hospital's own, or
 * the sums over the hospitals below a city or province.  0, or -1.
 */
int
vbp_filing_totals(vbp_call_t *call, const char *item)
{
    int          col;
    json_t      *row, *v;
    PGresult    *res;
    const char  *params[1], *key;

    params[0] = item;

    res = vbp_db_query(call->db, "filing_totals", 1, params);
    if (res == NULL) {
        return -1;
    }

    row = PQntuples(res) == 1 ? vbp_row_json(res, 0, totals_names,
                                             totals_types)
                              : json_object();
    PQclear(res);

    if (row == NULL) {
        return -1;
    }

    col = 0;
    json_object_foreach(row, key, v) {
        if (json_object_set(call->data, key, v) != 0) {
            col = -1;
            break;
        }
    }

    json_decref(row);

    return col;
}


/* does a product line's rule set (a JSON array) hold RULE? */
static int
filing_has_rule(json_t *rules, const char *rule)
{
    size_t   i;
    json_t  *r;

    json_array_foreach(rules, i, r) {
        if (json_is_string(r) && strcmp(json_string_value(r), rule) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the message of FIELD in the refused POST the page is shown after */
static json_t *
filing_posted(vbp_call_t *call, const char *field)
{
    return json_object_get(json_object_get(call->posted_error, "fields"),
                           field);
}


/* whether a refused POST named a field that begins with PREFIX and ends
 * with SUFFIX (the explanations of some certificate, the notes of some
 * line) */
static int
filing_posted_any(vbp_call_t *call, const char *prefix, const char *suffix)
{
    size_t       lp, ls, lk;
    json_t      *v;
    const char  *k;

    lp = strlen(prefix);
    ls = strlen(suffix);

    json_object_foreach(json_object_get(call->posted_error, "fields"), k, v) {
        lk = strlen(k);
        if (lk >= lp + ls && strncmp(k, prefix, lp) == 0
            && strcmp(k + lk - ls, suffix) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * What 提交 needs, as a checklist above its button that ticks itself
 * (data.checklist [{key, title, done, detail}]), the certificates that need
 * an in-use explanation with their files (data.note_certs) and the lines
 * that need 增降幅说明 (data.note_lines, each linked to the page that
 * shows it), each with the error of a refused 提交 when the page is shown
 * after one.  vbp_filing_blockers() judges the 提交 itself; the page reads
 * what it can off what it shows already.
 */
static int
filing_checklist(vbp_call_t *call, const char *item)
{
    int          row, has_rule, commitment, summary, stale, below, lines_ok;
    char         key[200], detail[64];
    size_t       i;
    json_t      *list, *certs, *notes, *rules, *one, *file;
    PGresult    *res;
    const char  *params[1], *kind, *contact, *phone, *reason;

    params[0] = item;

    /* what the page knows already: the lines, the files, the reason */
    lines_ok = json_integer_value(json_object_get(call->data, "line_count"))
               > 0;
    commitment = summary = stale = 0;

    json_array_foreach(json_object_get(call->data, "files"), i, file) {
        kind = json_string_value(json_object_get(file, "kind"));
        commitment |= kind && strcmp(kind, "commitment") == 0;
        if (kind && strcmp(kind, "summary") == 0) {
            summary = 1;
            stale = json_is_true(json_object_get(file, "stale"));
        }
    }

    reason = json_string_value(json_object_get(call->data, "below_reason"));
    below = json_integer_value(json_object_get(call->data, "demand_total"))
            >= json_integer_value(json_object_get(call->data,
                                                  "intended_total"))
            || (reason && *reason);

    res = vbp_db_query(call->db, "filing_note_certs", 1, params);
    if (res == NULL) {
        return -1;
    }

    certs = json_array();

    for (row = 0; certs && row < PQntuples(res); row++) {
        snprintf(key, sizeof(key), "in_use_note.%s", PQgetvalue(res, row, 0));
        one = json_pack("{s:s, s:b, s:s?, s:s?, s:O?}",
                        "certificate", PQgetvalue(res, row, 0),
                        "has_file", PQgetvalue(res, row, 1)[0] == 't',
                        "filename", PQgetisnull(res, row, 2)
                                    ? NULL : PQgetvalue(res, row, 2),
                        "sha256", PQgetisnull(res, row, 3)
                                  ? NULL : PQgetvalue(res, row, 3),
                        "error", filing_posted(call, key));
        if (one == NULL || json_array_append_new(certs, one) != 0) {
            json_decref(certs);
            certs = NULL;
        }
    }

    PQclear(res);

    if (certs == NULL) {
        return -1;
    }

    res = vbp_db_query(call->db, "filing_note_lines", 1, params);
    if (res == NULL) {
        json_decref(certs);
        return -1;
    }

    notes = json_array();

    for (row = 0; notes && row < PQntuples(res); row++) {
        snprintf(key, sizeof(key), "lines.%s.change_note",
                 PQgetvalue(res, row, 0));
        one = json_pack("{s:I, s:s, s:s, s:O?}",
                        "id", (json_int_t) atoll(PQgetvalue(res, row, 0)),
                        "serial", PQgetvalue(res, row, 1),
                        "product_name", PQgetvalue(res, row, 2),
                        "error", filing_posted(call, key));
        if (one == NULL || json_array_append_new(notes, one) != 0) {
            json_decref(notes);
            notes = NULL;
        }
    }

    PQclear(res);

    if (notes == NULL) {
        json_decref(certs);
        return -1;
    }

    rules = json_object_get(json_object_get(call->data, "line_rules"),
                            "rules");
    contact = json_string_value(json_object_get(call->data, "contact"));
    phone = json_string_value(json_object_get(call->data, "phone"));

    list = json_array();

#define CHECK_AS(k, title, done, text, refused)                              \
    if (list && json_array_append_new(list,                                  \
            json_pack("{s:s, s:s, s:b, s:s, s:b}", "key", k, "title", title, \
                      "done", (done), "detail", (text),                      \
                      "refused", (refused))) != 0)                           \
    {                                                                        \
        json_decref(list);                                                   \
        list = NULL;                                                         \
    }

#define CHECK(k, title, done, text)                                          \
    CHECK_AS(k, title, done, text, filing_posted(call, k) != NULL)

    CHECK("lines", "填报产品", lines_ok, lines_ok ? "" : "尚未填报任何产品");
    CHECK("contact", "联系人", contact && *contact, "");
    CHECK("phone", "联系电话", phone && *phone, "");
    CHECK("commitment", "签字盖章的承诺书", commitment,
          commitment ? "" : "尚未上传");
    CHECK("summary", "签字盖章的需求量汇总表", summary && !stale,
          !summary ? "尚未上传" : stale ? "上传后数据已修改，请重新打印签字盖章后上传"
          : "");

    has_rule = filing_has_rule(rules, "in_use_note");

    if (has_rule && json_array_size(certs) > 0) {
        size_t   missing;
        json_t  *c;

        missing = 0;
        json_array_foreach(certs, i, c) {
            missing += !json_is_true(json_object_get(c, "has_file"));
        }

        snprintf(detail, sizeof(detail), "%zu 个注册证尚未上传", missing);
        CHECK_AS("in_use_note", "无在用仪器的说明文件", missing == 0,
                 missing ? detail : "",
                 filing_posted_any(call, "in_use_note.", ""));
    }

    if (json_array_size(notes) > 0 || filing_has_rule(rules, "threshold")) {
        snprintf(detail, sizeof(detail), "%zu%s 个产品尚未填写",
                 json_array_size(notes),
                 json_array_size(notes) >= 50 ? " 个以上" : "");
        CHECK_AS("change_note", "超出阈值产品的增降幅说明",
                 json_array_size(notes) == 0,
                 json_array_size(notes) ? detail : "",
                 filing_posted_any(call, "lines.", ".change_note"));
    }

    if (filing_has_rule(rules, "below_intended")) {
        CHECK("below_reason", "需求量低于意向采购量的原因", below,
              below ? "" : "尚未填写");
    }

#undef CHECK
#undef CHECK_AS

    if (list == NULL
        || json_object_set_new(call->data, "has_note_certs",
                               json_boolean(json_array_size(certs) > 0)) != 0
        || json_object_set_new(call->data, "has_note_lines",
                               json_boolean(json_array_size(notes) > 0)) != 0
        || json_object_set_new(call->data, "checklist", list) != 0
        || json_object_set_new(call->data, "note_certs", certs) != 0
        || json_object_set_new(call->data, "note_lines", notes) != 0)
    {
        return -1;
    }

    return 0;
}


/* GET {project, q, filled, beyond, page, per_page}: the filing form */
static int
filing_get(vbp_call_t *call)
{
    int            rc;
    char           id[24], org[24], ids[32];
    size_t         n;
    const char    *path, *role;
    vbp_db_ask_t   ask[10];

    rc = vbp_filing_item(call, id, sizeof(id));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    if (vbp_actor_int(call, "org_id", org, sizeof(org)) != 0
        || (path = vbp_actor_path(call)) == NULL
        || (role = vbp_actor_str(call, "role")) == NULL)
    {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    /*
     * The filing is the hospital's own (vbp_filing_item): what the page
     * reads of it by its id goes in one round trip, the page of lines
     * apart (its count decides it).  Each answer waits for the function
     * below that asks for it (vbp_db_ahead).
     */
    snprintf(ids, sizeof(ids), "{%s}", id);
    n = 0;
    ask[n++] = (vbp_db_ask_t) { "chain_item", 3, { id, path, org } };
    ask[n++] = (vbp_db_ask_t) { "chain_events", 1, { id } };
    ask[n++] = (vbp_db_ask_t) { "chain_files", 1, { id } };
    ask[n++] = (vbp_db_ask_t) { "chain_actions", 5,
                                { "demand", ids, role, path, org } };
    ask[n++] = (vbp_db_ask_t) { "filing_totals", 1, { id } };
    ask[n++] = (vbp_db_ask_t) { "filing_lines_count_all", 1, { id } };
    ask[n++] = (vbp_db_ask_t) { "filing_project", 1, { id } };

    if (call->page) {
        ask[n++] = (vbp_db_ask_t) { "filing_note_certs", 1, { id } };
        ask[n++] = (vbp_db_ask_t) { "filing_note_lines", 1, { id } };
    }

    if (vbp_db_ahead(call->db, ask, n) != 0) {
        return -1;
    }

    if (vbp_chain_item(call, id, org) != 0) {
        return -1;
    }

    if (call->status) {
        return 0;
    }

    if (vbp_filing_totals(call, id) != 0 || vbp_filing_lines(call, id) != 0)
    {
        return -1;
    }

    if (call->status || !call->page) {
        return 0;
    }

    return filing_checklist(call, id);
}


/* an error at a field of a line, named only then (a save of 50 good
 * lines formats no names) */
static void
filing_line_error(vbp_call_t *call, long long lid, const char *name,
    const char *msg)
{
    char  field[96];

    snprintf(field, sizeof(field), "lines.%lld.%s", lid, name);
    vbp_field_error(call, field, msg);
}


/* a quantity: absent, null or "" (not filled) or 0 .. 2^31-1; one that
 * is wrong goes on as not filled, its error at its field */
static int
filing_qty(vbp_call_t *call, json_t *line, const char *key, long long lid,
    vbp_buf_t *out)
{
    char         digits[16];
    json_t      *v;
    long long    n;
    const char  *s, *why;

    v = json_object_get(line, key);

    if (v == NULL || json_is_null(v)
        || (json_is_string(v) && json_string_length(v) == 0))
    {
        return vbp_buf_add(out, "NULL", 4);
    }

    if (json_is_integer(v)) {
        n = json_integer_value(v);

    } else if (json_is_string(v)) {
        /* full-width digits and stray spaces read as what was meant;
         * blank once they are gone: not filled */
        s = json_string_value(v);
        why = vbp_text_digits(s, digits, 13);
        if (why) {
            filing_line_error(call, lid, key, why);
            return vbp_buf_add(out, "NULL", 4);
        }
        if (digits[0] == '\0') {
            return vbp_buf_add(out, "NULL", 4);
        }
        n = atoll(digits);

    } else {
        filing_line_error(call, lid, key, "数量应为整数");
        return vbp_buf_add(out, "NULL", 4);
    }

    if (n < 0) {
        filing_line_error(call, lid, key, "数量不能为负数");
        return vbp_buf_add(out, "NULL", 4);
    }

    if (n > FILING_QTY_MAX) {
        filing_line_error(call, lid, key, "数量过大（最大 2147483647）");
        return vbp_buf_add(out, "NULL", 4);
    }

    {
        char  text[24];
        int   len = snprintf(text, sizeof(text), "%lld", n);

        return vbp_buf_add(out, text, (size_t) len);
    }
}


/* text as an element of an array literal: quoted, " and \ escaped */
static int
filing_array_text(vbp_buf_t *out, const char *s)
{
    if (vbp_buf_add(out, "\"", 1) != 0) {
        return -1;
    }

    for ( /* void */ ; *s; s++) {
        if ((*s == '"' || *s == '\\') && vbp_buf_add(out, "\\", 1) != 0) {
            return -1;
        }

        if (vbp_buf_add(out, s, 1) != 0) {
            return -1;
        }
    }

    return vbp_buf_add(out, "\"", 1);
}


/* the words of vbp_filing_save's and vbp_filing_blockers' refusals */
static const char *
filing_refusal_text(const char *code)
{
    static const struct { const char *code, *text; }  texts[] = {
        { "unknown_line", "不是本项目目录中的产品" },
        { "duplicate_line", "同一产品在一次保存中出现了两次" },
        { "in_use_missing", "填写了数量，请选择是否有在用仪器" },
        { "in_use_last_year", "上年度采购总数量大于 0，是否有在用仪器不能为“否”" },
        { "in_use_cert", "同一注册证下各产品的“是否有在用仪器”应相同" },
        { "no_lines", "尚未填报任何产品" },
        { "file_missing", "请上传文件" },
        { "file_stale", "数据已修改，请重新上传签字盖章的需求量汇总表" },
        { "below_reason_missing", "需求量合计低于意向采购量，请填写原因" },
        { "in_use_note_missing", "无在用仪器，请上传说明文件" },
        { "change_note_missing", "需求量超出阈值，请填写增降幅说明" },
        { NULL, NULL }
    };

    int  i;

    for (i = 0; texts[i].code; i++) {
        if (strcmp(texts[i].code, code) == 0) {
            return texts[i].text;
        }
    }

    return "填写有误";
}


/* one refusal of the rules (line or NULL, field, code, detail) as the
 * error at its field */
static void
filing_refusal(vbp_call_t *call, const char *line, const char *name,
    const char *code, const char *detail)
{
    char  field[160], msg[300];

    detail = detail ? detail : "";

    if (line) {
        snprintf(field, sizeof(field), "lines.%s.%s", line, name);
    } else if (*detail && strcmp(name, "in_use_note") == 0) {
        snprintf(field, sizeof(field), "in_use_note.%s", detail);
    } else {
        snprintf(field, sizeof(field), "%s", name);
    }

    if (strcmp(code, "file_missing") == 0) {
        snprintf(msg, sizeof(msg), "请上传%s",
                 strcmp(name, "commitment") == 0
                 ? "签字盖章的承诺书" : "签字盖章的需求量汇总表");
    } else if (strcmp(code, "in_use_note_missing") == 0) {
        snprintf(msg, sizeof(msg), "注册证 %s 无在用仪器，请上传说明文件",
                 detail);
    } else if (strcmp(code, "in_use_cert") == 0) {
        snprintf(msg, sizeof(msg), "注册证 %s 下各产品（含其他页已填报的）"
                 "的“是否有在用仪器”应相同", detail);
    } else {
        snprintf(msg, sizeof(msg), "%s", filing_refusal_text(code));
    }

    vbp_field_error(call, field, msg);
}


/* refusal rows (line, field, code, detail) as field errors: 0 if none */
static int
filing_refusals(vbp_call_t *call, PGresult *res)
{
    int  row, n;

    n = 0;

    for (row = 0; row < PQntuples(res); row++) {
        if (strcmp(PQgetvalue(res, row, 2), "ok") == 0) {
            continue;
        }

        n++;
        filing_refusal(call,
                       PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0),
                       PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
                       PQgetvalue(res, row, 3));
    }

    return n;
}


/*
 * What vbp_filing_page_save refused (migration 012) as the answer: the
 * chain's refusal, every rule's at its line, or the filing not there.
 */
static void
filing_refused(vbp_call_t *call, json_t *refusal)
{
    char         line[24];
    size_t       i;
    json_t      *rows, *r;
    const char  *s;

#define FIELD(r, i)  json_string_value(json_array_get(r, i))

    rows = json_object_get(refusal, "chain");
    if (json_array_size(rows) > 0) {
        r = json_array_get(rows, 0);
        vbp_chain_refused(call, FIELD(r, 1), FIELD(r, 2), FIELD(r, 3),
                          FIELD(r, 4), FIELD(r, 5));
        if (call->error == NULL) {
            vbp_fail(call, 409, "refused", "不能执行此操作");
        }
        return;
    }

    if (json_is_true(json_object_get(refusal, "missing"))) {
        vbp_fail(call, 404, "not_found", "您的机构未参加该报量项目");
        return;
    }

    json_array_foreach(json_object_get(refusal, "lines"), i, r) {
        s = NULL;
        if (json_is_integer(json_array_get(r, 0))) {
            snprintf(line, sizeof(line), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_array_get(r, 0)));
            s = line;
        }

        if (FIELD(r, 1) && FIELD(r, 2)) {
            filing_refusal(call, s, FIELD(r, 1), FIELD(r, 2), FIELD(r, 3));
        }
    }

#undef FIELD
}


/* the fields of a line as the page's form posts them, one per row */
static const char *const  filing_form_fields[] = {
    "last_year", "demand", "intended", "in_use", "change_note", NULL
};

/* the columns' words, for the list of a page's errors above its table */
static const char *const  filing_form_titles[] = {
    "上年度采购总数量", "下年度采购需求量", "意向采购量", "是否有在用仪器",
    "增降幅说明", NULL
};


/*
 * A browser posts the rows of its page as parallel lists (line=1&line=2,
 * demand=..&demand=..: every row has each of its inputs once); they become
 * the "lines" the API takes.  0 done or nothing to do, 1 answered, -1.
 */
static int
filing_form_lines(vbp_call_t *call)
{
    size_t       i, n, k;
    json_t      *ids, *lines, *line, *v, *one;
    const char  *name;

    ids = json_object_get(call->args, "line");

    if (ids == NULL || json_object_get(call->args, "lines") != NULL) {
        return 0;
    }

    n = json_is_array(ids) ? json_array_size(ids) : 1;
    lines = json_array();
    if (lines == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        line = json_object();
        if (line == NULL || json_array_append_new(lines, line) != 0) {
            json_decref(lines);
            return -1;
        }

        one = json_is_array(ids) ? json_array_get(ids, i) : ids;
        (void) json_object_set(line, "catalog_line_id", one);

        for (k = 0; filing_form_fields[k]; k++) {
            name = filing_form_fields[k];
            v = json_object_get(call->args, name);

            if (v == NULL) {
                continue;
            }

            if ((json_is_array(v) ? json_array_size(v) : 1) != n) {
                json_decref(lines);
                vbp_fail(call, 400, "bad_request", "表单数据不完整，请刷新页面后重新填写");
                return 1;
            }

            (void) json_object_set(line, name,
                                   json_is_array(v) ? json_array_get(v, i) : v);
        }
    }

    return json_object_set_new(call->args, "lines", lines) == 0 ? 0 : -1;
}


/*
 * What the page's rows need beyond the API's lines: the in-use choice as
 * flags (a template tells true from absent, not from false), after a
 * refused 暂存 the rows as posted, and after any refused POST (暂存 or
 * 提交) each error of a line on this page under its input
 * (lines[].errors): the template cannot look up "lines.<id>.demand".
 * The errors of the page are also listed above the table
 * (data.line_errors [{serial, product_name, title, message, anchor}],
 * each linked to its input, the rows marked), with how many concern
 * lines on other pages (data.other_errors).
 */
static int
filing_form_rows(vbp_call_t *call)
{
    size_t       i, j, k, n, here, all;
    char         key[96], anchor[64];
    json_t      *items, *item, *ids, *fields, *errors, *v, *msg, *list;
    const char  *name, *id, *f;
    const char  *in_use;
    json_int_t   line;

    items = json_object_get(json_object_get(call->data, "lines"), "items");
    ids = call->refill ? json_object_get(call->args, "line") : NULL;
    fields = json_object_get(call->posted_error, "fields");
    n = ids == NULL ? 0 : json_is_array(ids) ? json_array_size(ids) : 1;
    here = 0;

    list = json_array();
    if (list == NULL || json_object_set_new(call->data, "line_errors", list)
                        != 0)
    {
        return -1;
    }

    json_array_foreach(items, i, item) {
        line = json_integer_value(json_object_get(item, "id"));

        /* what is stored, beside what the page shows: the page's running
         * totals are the filing's less the stored values plus the typed */
        for (k = 0; k < 3; k++) {
            snprintf(key, sizeof(key), "saved_%s", filing_form_fields[k]);
            v = json_object_get(item, filing_form_fields[k]);
            if (json_object_set_new(item, key, json_integer(
                    json_is_integer(v) ? json_integer_value(v) : 0)) != 0)
            {
                return -1;
            }
        }

        for (j = 0; j < n; j++) {
            v = json_is_array(ids) ? json_array_get(ids, j) : ids;
            id = json_string_value(v);

            if (id && line == atoll(id)) {
                break;
            }
        }

        errors = NULL;

        for (k = 0; filing_form_fields[k]; k++) {
            name = filing_form_fields[k];

            /* the value as it was posted, where this row was */
            if (j < n) {
                v = json_object_get(call->args, name);
                v = json_is_array(v) ? json_array_get(v, j) : v;

                if (json_is_string(v)) {
                    (void) json_object_set(item, name, v);
                }
            }

            snprintf(key, sizeof(key), "lines.%" JSON_INTEGER_FORMAT ".%s",
                     line, name);
            msg = json_object_get(fields, key);

            if (msg) {
                if (errors == NULL) {
                    errors = json_object();
                    if (errors == NULL
                        || json_object_set_new(item, "errors", errors) != 0)
                    {
                        return -1;
                    }
                }

                (void) json_object_set(errors, name, msg);

                snprintf(anchor, sizeof(anchor), "e%" JSON_INTEGER_FORMAT
                         "-%s", line, name);
                here++;

                if (json_array_append_new(list,
                        json_pack("{s:O?, s:O?, s:s, s:O, s:s}",
                                  "serial", json_object_get(item, "serial"),
                                  "product_name",
                                  json_object_get(item, "product_name"),
                                  "title", filing_form_titles[k],
                                  "message", msg, "anchor", anchor))
                    != 0)
                {
                    return -1;
                }
            }
        }

        v = json_object_get(item, "in_use");
        in_use = json_is_true(v) || (json_is_string(v)
                                     && strcmp(json_string_value(v), "1") == 0)
                 ? "in_use_yes"
                 : json_is_false(v) || (json_is_string(v)
                                        && strcmp(json_string_value(v), "0")
                                           == 0)
                 ? "in_use_no" : NULL;

        if (in_use && json_object_set_new(item, in_use, json_true()) != 0) {
            return -1;
        }
    }

    /* errors of lines this page does not show (rule 3 reaches across) */
    all = 0;
    json_object_foreach(fields, f, v) {
        all += strncmp(f, "lines.", 6) == 0;
    }

    if (json_object_set_new(call->data, "has_line_errors",
                            json_boolean(here > 0)) != 0)
    {
        return -1;
    }

    return json_object_set_new(call->data, "other_errors",
                               json_integer((json_int_t) (all > here
                                                          ? all - here
                                                          : 0)))
           == 0 ? 0 : -1;
}


/* a value not filled: absent, null or "" */
static int
filing_blank(json_t *v)
{
    return v == NULL || json_is_null(v)
           || (json_is_string(v) && json_string_length(v) == 0);
}


/* a line of a save: its catalog id and where the body has it */
typedef struct {
    long long  lid;
    size_t     idx;
} filing_line_order_t;


static int
filing_line_cmp(const void *a, const void *b)
{
    const filing_line_order_t  *x = a, *y = b;

    if (x->lid != y->lid) {
        return x->lid < y->lid ? -1 : 1;
    }

    return x->idx < y->idx ? -1 : x->idx > y->idx;
}


/*
 * POST {project, lines: [{catalog_line_id, last_year, demand, intended,
 * in_use, change_note}]}: 暂存 of the lines of a page (or the page's form:
 * filing_form_lines)
 */
static int
filing_save(vbp_call_t *call)
{
    int                   rc, i, first, blanks;
    char                  field[96], uid[24], org[24], project[24];
    size_t                idx, n, k;
    json_t               *lines, *line, *v, *refusal;
    vbp_buf_t             arr[7];
    PGresult             *res;
    long long             lid;
    const char           *params[14], *note, *why, *path;
    filing_line_order_t   order[FILING_SAVE_MAX];

    static const char *const  values[] = {
        "last_year", "demand", "intended", "in_use", "change_note", NULL
    };

    rc = filing_form_lines(call);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    lines = json_object_get(call->args, "lines");

    if (!json_is_array(lines) || json_array_size(lines) == 0) {
        vbp_field_error(call, "lines", "没有要保存的数据");
        return 0;
    }

    if (json_array_size(lines) > FILING_SAVE_MAX) {
        char  msg[80];

        snprintf(msg, sizeof(msg), "一次最多保存 %d 行，请分页暂存",
                 FILING_SAVE_MAX);
        vbp_field_error(call, "lines", msg);
        vbp_fail(call, 413, "too_many_lines", msg);
        return 0;
    }

    /*
     * The lines in the order of their catalog ids, each once: the save
     * reads the filing's lines between the first and the last in one
     * range and takes an id out of order for a line sent twice (migration
     * 020).  A line whose id is wrong or comes twice is said at its field
     * and left out; the others are still judged.
     */
    n = 0;

    json_array_foreach(lines, idx, line) {
        v = json_object_get(line, "catalog_line_id");
        if (!json_is_object(line)
            || !((json_is_integer(v) && (lid = json_integer_value(v)) > 0
                  && lid <= FILING_QTY_MAX)
                 || (json_is_string(v) && json_string_length(v) > 0
                     && json_string_length(v) < 11
                     && strspn(json_string_value(v), "0123456789")
                        == json_string_length(v)
                     && (lid = atoll(json_string_value(v))) > 0
                     && lid <= FILING_QTY_MAX)))
        {
            snprintf(field, sizeof(field), "lines.%zu.catalog_line_id", idx);
            vbp_field_error(call, field, "产品编号无效");
            continue;
        }

        order[n].lid = lid;
        order[n].idx = idx;
        n++;
    }

    qsort(order, n, sizeof(order[0]), filing_line_cmp);

    for (k = 0; k + 1 < n; k++) {
        if (order[k].lid == order[k + 1].lid) {
            filing_line_error(call, order[k].lid, "catalog_line_id",
                              filing_refusal_text("duplicate_line"));
        }
    }

    /* the columns as array literals, and the ids of the lines emptied */
    for (i = 0; i < 7; i++) {
        vbp_buf_init(&arr[i]);
    }

    rc = 0;
    blanks = 0;

    for (i = 0; rc == 0 && i < 7; i++) {
        rc = vbp_buf_add(&arr[i], "{", 1);
    }

    for (k = 0, first = 1; rc == 0 && k < n; k++) {
        if (k + 1 < n && order[k].lid == order[k + 1].lid) {
            continue;       /* the last of a run goes on, to be judged */
        }

        lid = order[k].lid;
        line = json_array_get(lines, order[k].idx);

        for (i = 0; rc == 0 && i < 6 && !first; i++) {
            rc = vbp_buf_add(&arr[i], ",", 1);
        }

        first = 0;

        rc = rc ? rc : vbp_buf_add(&arr[0], field,
                                   (size_t) snprintf(field, sizeof(field),
                                                     "%lld", lid));

        rc = rc ? rc : filing_qty(call, line, "last_year", lid, &arr[1]);
        rc = rc ? rc : filing_qty(call, line, "demand", lid, &arr[2]);
        rc = rc ? rc : filing_qty(call, line, "intended", lid, &arr[3]);

        /* in use: true/false, "1"/"0", or not chosen */
        v = json_object_get(line, "in_use");
        if (v == NULL || json_is_null(v)
            || (json_is_string(v) && json_string_length(v) == 0))
        {
            rc = rc ? rc : vbp_buf_add(&arr[4], "NULL", 4);
        } else if (json_is_boolean(v)
                   || (json_is_integer(v) && (json_integer_value(v) == 0
                                              || json_integer_value(v) == 1))
                   || (json_is_string(v)
                       && (strcmp(json_string_value(v), "1") == 0
                           || strcmp(json_string_value(v), "0") == 0)))
        {
            int  yes = json_is_true(v)
                       || (json_is_integer(v) && json_integer_value(v) == 1)
                       || (json_is_string(v)
                           && strcmp(json_string_value(v), "1") == 0);

            rc = rc ? rc : vbp_buf_add(&arr[4], yes ? "t" : "f", 1);
        } else {
            filing_line_error(call, lid, "in_use", "请选择是或否");
            rc = rc ? rc : vbp_buf_add(&arr[4], "NULL", 4);
        }

        v = json_object_get(line, "change_note");
        note = "";
        if (v && !json_is_null(v)) {
            size_t  chars;

            if (!json_is_string(v)) {
                filing_line_error(call, lid, "change_note", "应为文本");
            } else if ((why = vbp_text_check(json_string_value(v),
                                             json_string_length(v), &chars)))
            {
                filing_line_error(call, lid, "change_note", why);
            } else if (chars > FILING_NOTE_MAX) {
                filing_line_error(call, lid, "change_note",
                                  "增降幅说明最多 200 个字");
            } else {
                note = json_string_value(v);
            }
        }
        rc = rc ? rc : filing_array_text(&arr[5], note);

        /* a line with nothing in it goes (whatever it held before) */
        for (i = 0; values[i] && filing_blank(json_object_get(line,
                                                               values[i]));
             i++)
        {
            /* void */
        }

        if (rc == 0 && values[i] == NULL) {
            rc = vbp_buf_add(&arr[6], field,
                             (size_t) snprintf(field, sizeof(field), "%s%lld",
                                               blanks++ ? "," : "", lid));
        }
    }

    for (i = 0; rc == 0 && i < 7; i++) {
        rc = vbp_buf_add(&arr[i], "}", 2);   /* with the NUL */
    }

    if (rc != 0 || vbp_arg_id(call, "project", project, sizeof(project)) != 0
        || vbp_actor_int(call, "uid", uid, sizeof(uid)) != 0
        || vbp_actor_int(call, "org_id", org, sizeof(org)) != 0
        || (path = vbp_actor_path(call)) == NULL)
    {
        for (i = 0; i < 7; i++) {
            vbp_buf_free(&arr[i]);
        }

        if (rc == 0 && call->status == 0) {
            vbp_fail_unauthenticated(call);
        }

        return rc;
    }

    /*
     * One statement (migration 012: vbp_filing_page_save): the filing, the
     * chain's save transition, the rules, the lines, the totals and the
     * audit row, or a refusal that leaves nothing behind.  A value wrong
     * in itself went in as not filled and the page is only judged: one
     * 暂存 names every error at its line; a refusal of the chain -- the
     * window, the state, the city's submission -- outranks them all.
     */
    params[0] = project;
    params[1] = org;
    params[2] = path;
    params[3] = uid;
    params[4] = vbp_actor_str(call, "username");
    params[5] = vbp_call_ip(call);

    for (i = 0; i < 7; i++) {
        params[6 + i] = arr[i].data;
    }

    params[13] = call->status ? "t" : "f";

    res = vbp_db_query_judged(call->db, "filing_save", 14, params, &refusal);

    for (i = 0; i < 7; i++) {
        vbp_buf_free(&arr[i]);
    }

    if (refusal) {
        if (json_object_get(refusal, "chain")
            || json_object_get(refusal, "missing"))
        {
            /* the chain's refusal, not the values' */
            json_decref(call->error);
            call->error = NULL;
            call->status = 0;
        }

        filing_refused(call, refusal);
        json_decref(refusal);
        return 0;
    }

    if (res == NULL) {
        return -1;
    }

    v = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL)
                            : NULL;
    PQclear(res);

    if (v == NULL) {
        return -1;
    }

    (void) json_object_set_new(v, "message", json_string("已暂存"));
    call->data = v;

    return 0;
}


/*
 * POST {project, contact, phone, below_reason}: 提交 to the city.  A wrong
 * contact or phone does not stop the judging: the whole submit is tried and
 * every field to mend comes back in one answer (its 4xx rolls it all back).
 */
static int
filing_submit(vbp_call_t *call)
{
    int          rc;
    json_t      *contact_errors, *fields, *message;
    const char  *contact, *phone, *reason, *field;

    contact = vbp_arg_string(call, "contact", 1, 32, "请填写联系人");
    phone = vbp_arg_string(call, "phone", 7, 20, "请填写联系电话");
    reason = vbp_arg_string(call, "below_reason", 0, 500, NULL);

    if (phone && strspn(phone, "0123456789-") != strlen(phone)) {
        vbp_field_error(call, "phone", "联系电话只能包含数字和“-”");
    }

    contact_errors = call->error;
    call->error = NULL;
    call->status = 0;

    rc = filing_submit_judged(call, contact ? contact : "",
                              phone ? phone : "", reason ? reason : "");

    fields = json_object_get(contact_errors, "fields");

    if (rc == 0 && fields) {
        json_object_foreach(fields, field, message) {
            vbp_field_error(call, field, json_string_value(message));

            /* a value wrong in itself (a reason too long) says more than
             * the rule that found it empty (请填写原因) */
            (void) json_object_set(json_object_get(call->error, "fields"),
                                   field, message);
        }
    }

    json_decref(contact_errors);

    return rc;
}


static int
filing_submit_judged(vbp_call_t *call, const char *contact, const char *phone,
    const char *reason)
{
    int          rc;
    char         item[24], ids[32];
    PGresult    *res;
    const char  *params[4];

    rc = vbp_filing_item(call, item, sizeof(item));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    /* first the transition: it locks the item and checks state, window */
    snprintf(ids, sizeof(ids), "{%s}", item);
    rc = vbp_chain_fire_call(call, "demand", "submit", ids, NULL, NULL);
    if (rc != 0 || call->status) {
        return rc;
    }

    params[0] = item;
    params[1] = contact;
    params[2] = phone;
    params[3] = reason;

    res = vbp_db_query(call->db, "filing_contact", 4, params);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    /* what the rules still miss undoes the whole submit (422: rollback) */
    res = vbp_db_query(call->db, "filing_blockers", 1, params);
    if (res == NULL) {
        return -1;
    }

    if (filing_refusals(call, res) > 0) {
        PQclear(res);
        return 0;
    }

    PQclear(res);

    call->data = json_pack("{s:s, s:s}", "message", "已提交，等待市级医保局审核",
                           "state", "submitted");

    return call->data ? 0 : -1;
}


/* POST {project, reason}: 撤回申请 of a submitted filing */
static int
filing_withdraw(vbp_call_t *call)
{
    int          rc;
    char         item[24], ids[32];
    const char  *reason;

    reason = vbp_chain_reason(call);
    if (call->status) {
        return 0;
    }

    rc = vbp_filing_item(call, item, sizeof(item));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    snprintf(ids, sizeof(ids), "{%s}", item);
    rc = vbp_chain_fire_call(call, "demand", "request_withdraw", ids, reason,
                             NULL);
    if (rc != 0 || call->status) {
        return rc;
    }

    call->data = json_pack("{s:s, s:s}", "message", "撤回申请已提交，等待市级医保局处理",
                           "state", "withdraw_requested");

    return call->data ? 0 : -1;
}
