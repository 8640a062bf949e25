/*
 * The reviewers of demand reporting (seeds 000 and 004): the lists a city,
 * a province and the alliance work from, their actions on the items below
 * and on their own submission, the detail of one item, 填报进度, the
 * reminders of the home page and the national CSV.  The chain itself --
 * firing, refusals, what may be done now -- is chain.c; a filing's totals
 * and lines are read by filing.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbp.h"


#define REVIEW_IDS_MAX     (500 * 12 + 3)


static int review_act(vbp_call_t *call);
static int review_own(vbp_call_t *call);
static int review_items(vbp_call_t *call);
static int review_confirm(vbp_call_t *call);
static int review_summary(vbp_call_t *call);
static int review_item(vbp_call_t *call);
static int review_progress(vbp_call_t *call);
static int review_export(vbp_call_t *call);
static int review_peer_counts(vbp_call_t *call);
static int review_peer_lines(vbp_call_t *call, const char *item);


const vbp_op_t  vbp_review_ops[] = {
    { "review.act", review_act, 1, 0, "report.review", NULL, NULL },
    { "review.submit", review_own, 1, 0, "report.review", "submit", NULL },
    { "review.withdraw", review_own, 1, 0, "report.review", "withdraw",
      NULL },
    { "review.items", review_items, 1, 0, "report.review", NULL, NULL },
    { "review.confirm", review_confirm, 1, 0, "report.review", NULL, NULL },
    { "review.summary", review_summary, 1, 0, "report.review", NULL, NULL },
    { "review.item", review_item, 1, 0, "report.review", NULL, NULL },
    { "review.progress", review_progress, 1, 0, "report.review", NULL,
      NULL },
    { "review.export", review_export, 1, 0, "report.review", NULL, NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


/* the hospital items below a region path, with their filing's totals */
#define REVIEW_ITEMS_WHERE                                                   \
    " FROM review_items i JOIN filings f ON f.item_id = i.id"                \
    " JOIN orgs o ON o.id = i.org_id JOIN regions g ON g.id = i.region_id"   \
    " JOIN chain_states s ON s.chain = i.chain AND s.level = i.level"        \
    "  AND s.state = i.state"                                                \
    " WHERE i.project_id = $1::integer AND i.chain = 'demand'"               \
    "  AND i.level = 'hospital' AND i.scope_path LIKE $2 || '%'"             \
    "  AND ($3 = '' OR i.state = $3 OR ($3 = 'not_submitted'"                \
    "       AND i.state IN ('unfiled', 'draft', 'returned'))"                \
    "   OR ($3 = 'not_approved' AND i.state NOT IN ('approved', 'exempt')))" \
    "  AND ($4 = '' OR o.name ILIKE $4 OR o.code ILIKE $4)"                  \
    "  AND ($5 = '' OR f.beyond > 0)"

const vbp_stmt_t  vbp_review_stmts[] = {

    /* the item of the actor's own region in a project; its stamped
     * summary: 0 none, 1 uploaded, 2 uploaded before the figures below it
     * changed (migration 013) */
    { "review_own_item",
      "SELECT i.id, coalesce((SELECT CASE WHEN vbp_file_stale(x) THEN 2"
      "  ELSE 1 END FROM item_files x WHERE x.item_id = i.id"
      "  AND x.kind = 'province_summary' LIMIT 1), 0)"
      " FROM review_items i WHERE i.project_id = $1::integer"
      "  AND i.chain = 'demand' AND i.region_id = $2::integer"
      "  AND i.level = $3" },

    /* a project the actor takes part in: the alliance all, a bureau one
     * with an item in its region (else it looks like no project at all) */
    { "review_project_visible",
      "SELECT count(*) FROM projects p WHERE p.id = $1::integer"
      "  AND ($2 = 'alliance' OR EXISTS (SELECT 1 FROM review_items i"
      "   WHERE i.project_id = p.id AND i.scope_path LIKE $3 || '%'))" },

    /* a region the actor covers, by code */
    { "review_region_path",
      "SELECT coalesce((SELECT path FROM regions WHERE code = $1"
      "  AND starts_with(path, $2)), '')" },

    /* a region in scope by its code, as a page's heading names it, and
     * the region above it when that is not the actor's own (where a list
     * of it goes back to) */
    { "review_region_head",
      "SELECT r.name, CASE WHEN p.path <> $2 AND starts_with(p.path, $2)"
      "  THEN p.code ELSE '' END"
      " FROM regions r LEFT JOIN regions p ON p.id = r.parent_id"
      " WHERE r.code = $1 AND starts_with(r.path, $2)" },

    { "review_items_count", "SELECT count(*)" REVIEW_ITEMS_WHERE },

    /* 需求量信息确认: what a city's submission would carry (its approved
     * hospitals), what still stops it, and the city's own state */
    { "review_confirm",
      "SELECT count(*) FILTER (WHERE i.state <> 'exempt'),"
      "  count(*) FILTER (WHERE i.state = 'approved'),"
      "  count(*) FILTER (WHERE i.state = 'exempt'),"
      "  count(*) FILTER (WHERE i.state NOT IN ('approved', 'exempt')),"
      "  coalesce(sum(f.lines) FILTER (WHERE i.state = 'approved'), 0),"
      "  coalesce(sum(f.last_year_total)"
      "           FILTER (WHERE i.state = 'approved'), 0),"
      "  coalesce(sum(f.demand_total) FILTER (WHERE i.state = 'approved'), 0),"
      "  (SELECT s.title FROM review_items c JOIN regions r"
      "    ON r.id = c.region_id AND r.path = $2"
      "   JOIN chain_states s ON s.chain = c.chain AND s.level = c.level"
      "    AND s.state = c.state"
      "   WHERE c.project_id = $1::integer AND c.chain = 'demand'"
      "    AND c.level = 'city')"
      " FROM review_items i JOIN filings f ON f.item_id = i.id"
      " WHERE i.project_id = $1::integer AND i.chain = 'demand'"
      "  AND i.level = 'hospital' AND i.scope_path LIKE $2 || '%'" },

    /* the city's hospitals taken out (无需上报), each with its reason */
    { "review_confirm_exempt",
      "SELECT o.code, o.name,"
      "  (SELECT e.reason FROM review_events e WHERE e.item_id = i.id"
      "    AND e.action = 'exempt' ORDER BY e.id DESC LIMIT 1),"
      "  to_char(i.handled_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI')"
      " FROM review_items i JOIN orgs o ON o.id = i.org_id"
      " WHERE i.project_id = $1::integer AND i.chain = 'demand'"
      "  AND i.level = 'hospital' AND i.state = 'exempt'"
      "  AND i.scope_path LIKE $2 || '%'"
      " ORDER BY o.code LIMIT 500" },

    /* the lines far from their peers (migrations 007, 009): per item of a
     * page, and per line of one item */
    { "review_peer_counts",
      "SELECT item_id, outliers FROM vbp_peer_counts($1::bigint[])" },

    { "review_peer_lines",
      "SELECT catalog_line_id, median, peers, far"
      " FROM vbp_peer_lines(ARRAY[$1::bigint])" },

    { "review_items_page",
      "SELECT i.id, o.code, o.name, g.name, i.state, s.title,"
      "  f.last_year_total, f.demand_total, f.intended_total, f.lines,"
      "  f.beyond, i.state <> 'approved',"
      "  to_char(i.submitted_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  to_char(i.handled_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  (SELECT e.reason FROM review_events e WHERE e.item_id = i.id"
      "    ORDER BY e.id DESC LIMIT 1)"
      REVIEW_ITEMS_WHERE
      " ORDER BY o.code LIMIT $6 OFFSET $7" },

    /*
     * the items one level below a region's own (a province's cities, the
     * alliance's provinces) and their hospitals' totals, counting those
     * that must report (never 无需上报, seed 004)
     */
    /*
     * the totals of the hospitals in scope, per city item, then per item of
     * the level asked for (a city: its own; a province: its cities'): one
     * range scan of the hospitals in the actor's region path and a hash
     * join, never a scan of all hospitals per region (make bench: the
     * national summary over 30,000 filings)
     */
    { "review_summary",
      "WITH h AS MATERIALIZED (SELECT CASE $3 WHEN 'city' THEN h.parent_id"
      "   ELSE ci.parent_id END AS above,"
      "  count(*) FILTER (WHERE h.state <> 'exempt') AS hospitals,"
      "  sum(f.last_year_total) FILTER (WHERE h.state <> 'exempt') AS last_year,"
      "  sum(f.demand_total) FILTER (WHERE h.state <> 'exempt') AS demand,"
      "  count(*) FILTER (WHERE h.state IN ('submitted', 'approved',"
      "                   'withdraw_requested')) AS filed,"
      "  count(*) FILTER (WHERE h.state = 'approved') AS approved,"
      "  count(*) FILTER (WHERE h.state = 'exempt') AS exempt"
      "  FROM review_items h JOIN review_items ci ON ci.id = h.parent_id"
      "  LEFT JOIN filings f ON f.item_id = h.id"
      "  WHERE h.project_id = $1::integer AND h.chain = 'demand'"
      "   AND h.level = 'hospital'"
      /* LIKE $2 || '%' as a range the index serves in a generic plan too:
       * a path ends with '/', and '0' is the character after it */
      "   AND h.scope_path ~>=~ $2 AND h.scope_path ~<~ (left($2, -1) || '0')"
      "  GROUP BY 1)"
      " SELECT c.id, g.code, g.name, c.state, s.title,"
      "  coalesce(h.hospitals, 0), coalesce(h.last_year, 0),"
      "  coalesce(h.demand, 0), coalesce(h.filed, 0), coalesce(h.approved, 0),"
      "  coalesce(h.exempt, 0),"
      "  to_char(c.handled_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI')"
      " FROM review_items c JOIN regions g ON g.id = c.region_id"
      " JOIN chain_states s ON s.chain = c.chain AND s.level = c.level"
      "  AND s.state = c.state"
      " LEFT JOIN h ON h.above = c.id"
      " WHERE c.project_id = $1::integer AND c.chain = 'demand'"
      "  AND c.level = $3 AND c.scope_path LIKE $2 || '%'"
      " ORDER BY g.code" },

    /*
     * the items right below one item (a city's hospitals, a province's
     * cities, a page at a time), each with the totals of the hospitals
     * that must report (never 无需上报), as the summaries count them
     */
    { "review_children_count",
      "SELECT count(*) FROM review_items c WHERE c.parent_id = $1::bigint" },

    { "review_children_hospitals",
      "SELECT c.id, o.code, o.name, c.state, s.title,"
      "  (c.state <> 'exempt')::integer, f.lines, f.last_year_total,"
      "  f.demand_total, f.beyond,"
      "  to_char(c.submitted_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  to_char(c.handled_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI')"
      " FROM review_items c JOIN orgs o ON o.id = c.org_id"
      " JOIN filings f ON f.item_id = c.id"
      " JOIN chain_states s ON s.chain = c.chain AND s.level = c.level"
      "  AND s.state = c.state"
      " WHERE c.parent_id = $1::bigint"
      " ORDER BY o.code LIMIT $2 OFFSET $3" },

    { "review_children_regions",
      "SELECT c.id, g.code, g.name, c.state, s.title, t.hospitals, t.lines,"
      "  t.last_year, t.demand, t.beyond,"
      "  to_char(c.submitted_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  to_char(c.handled_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI')"
      " FROM review_items c JOIN regions g ON g.id = c.region_id"
      " JOIN chain_states s ON s.chain = c.chain AND s.level = c.level"
      "  AND s.state = c.state"
      " CROSS JOIN LATERAL (SELECT"
      "   count(*) FILTER (WHERE h.state <> 'exempt') AS hospitals,"
      "   coalesce(sum(f.lines) FILTER (WHERE h.state <> 'exempt'), 0) AS lines,"
      "   coalesce(sum(f.last_year_total) FILTER (WHERE h.state <> 'exempt'), 0)"
      "    AS last_year,"
      "   coalesce(sum(f.demand_total) FILTER (WHERE h.state <> 'exempt'), 0)"
      "    AS demand,"
      "   coalesce(sum(f.beyond) FILTER (WHERE h.state <> 'exempt'), 0) AS beyond"
      "  FROM review_items h JOIN filings f ON f.item_id = h.id"
      "  WHERE h.project_id = c.project_id AND h.chain = c.chain"
      "   AND h.level = 'hospital'"
      "   AND h.scope_path ~>=~ c.scope_path"          /* LIKE path || '%' */
      "   AND h.scope_path ~<~ (left(c.scope_path, -1) || '0')) t"
      " WHERE c.parent_id = $1::bigint"
      " ORDER BY g.code LIMIT $2 OFFSET $3" },

    /*
     * 填报进度 (seed 000: 掌握医疗机构的填报进度，及时督促): the hospitals
     * below a region, per region one level down (a city: itself), and a
     * last row (code NULL) for all of them.  "On time": its first 提交 came
     * before the filing window closed.
     */
    { "review_progress",
      "WITH b AS (SELECT id, level, path FROM regions WHERE path = $2),"
      " k AS (SELECT r.id, r.code, r.name, r.path FROM regions r, b"
      "  WHERE (b.level <> 'city' AND r.parent_id = b.id)"
      "     OR (b.level = 'city' AND r.id = b.id)),"
      " h AS (SELECT k.code, k.name, i.state,"
      "  i.state IN ('submitted', 'withdraw_requested', 'approved') AS filed,"
      "  (SELECT min(e.at) FROM review_events e WHERE e.item_id = i.id"
      "    AND e.action = 'submit') <= p.file_closes AS on_time"
      "  FROM k JOIN review_items i ON i.project_id = $1::integer"
      "   AND i.chain = 'demand' AND i.level = 'hospital'"
      "   AND i.scope_path ~>=~ k.path"                /* LIKE k.path || '%' */
      "   AND i.scope_path ~<~ (left(k.path, -1) || '0')"
      "  JOIN projects p ON p.id = i.project_id)"
      " SELECT code, name, count(*) FILTER (WHERE state <> 'exempt'),"
      "  count(*) FILTER (WHERE state = 'unfiled'),"
      "  count(*) FILTER (WHERE state = 'draft'),"
      "  count(*) FILTER (WHERE state = 'submitted'),"
      "  count(*) FILTER (WHERE state = 'withdraw_requested'),"
      "  count(*) FILTER (WHERE state = 'approved'),"
      "  count(*) FILTER (WHERE state = 'returned'),"
      "  count(*) FILTER (WHERE state = 'exempt'),"
      "  count(*) FILTER (WHERE filed),"
      "  count(*) FILTER (WHERE filed AND on_time),"
      "  to_char(100.0 * count(*) FILTER (WHERE filed)"
      "   / nullif(count(*) FILTER (WHERE state <> 'exempt'), 0), 'FM990.0'),"
      "  to_char(100.0 * count(*) FILTER (WHERE filed AND on_time)"
      "   / nullif(count(*) FILTER (WHERE state <> 'exempt'), 0), 'FM990.0'),"
      "  to_char(100.0 * count(*) FILTER (WHERE state = 'approved')"
      "   / nullif(count(*) FILTER (WHERE state <> 'exempt'), 0), 'FM990.0')"
      " FROM h GROUP BY GROUPING SETS ((code, name), ())"
      " ORDER BY code NULLS LAST" },

    /*
     * the home page's reminders: what the org still has to do in a window
     * that is open, and the time left -- a hospital its filing (returned:
     * with the reason), a city or province its submission (returned from
     * above: with the reason) and the withdrawal requests and submissions
     * waiting below it, the alliance the provinces waiting.  A returned
     * item's window is the one it was reopened for (migration 013); a
     * hospital that let its window pass unsubmitted is told so while its
     * city still reviews, so that it calls the city rather than wait.
     */
    { "review_deadlines",
      "SELECT p.id, p.name,"
      "  CASE WHEN w.overdue THEN '报量填报已截止，本机构尚未提交；"
      "如需补报，请联系市级医保局' ELSE w.what END, w.href,"
      "  to_char(w.closes AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),"
      "  CASE WHEN w.overdue THEN ''"
      "   WHEN w.closes - now() >= interval '1 day'"
      "   THEN extract(day FROM w.closes - now())::integer || '天'"
      "        || extract(hour FROM w.closes - now())::integer || '小时'"
      "   ELSE extract(hour FROM w.closes - now())::integer || '小时'"
      "        || extract(minute FROM w.closes - now())::integer || '分钟' END,"
      "  w.overdue OR w.closes - now() < interval '3 days',"
      "  i.state, s.title,"
      /* the reason of a return not yet answered by a new submission */
      "  CASE WHEN o.kind <> 'alliance' THEN (SELECT CASE WHEN e.action = 'return'"
      "   THEN e.reason END FROM review_events e WHERE e.item_id = i.id"
      "   AND e.action IN ('return', 'submit') ORDER BY e.id DESC LIMIT 1) END,"
      "  CASE WHEN i.level <> 'hospital' AND o.kind <> 'alliance'"
      "   THEN (SELECT count(*) FROM review_items c WHERE c.parent_id = i.id"
      "    AND c.state = 'withdraw_requested') ELSE 0 END,"
      "  CASE WHEN o.kind = 'alliance' THEN (SELECT count(*)"
      "    FROM review_items x WHERE x.project_id = i.project_id"
      "     AND x.chain = i.chain AND x.level = 'province'"
      "     AND x.state = 'submitted')"
      "   WHEN i.level <> 'hospital' THEN (SELECT count(*) FROM review_items c"
      "    WHERE c.parent_id = i.id AND c.state = 'submitted') ELSE 0 END,"
      "  w.overdue"
      " FROM orgs o JOIN review_items i ON i.chain = 'demand'"
      "  AND ((o.kind = 'hospital' AND i.level = 'hospital' AND i.org_id = o.id"
      "       AND i.state IN ('unfiled', 'draft', 'returned',"
      "                       'withdraw_requested'))"
      "    OR (o.kind = 'city_bureau' AND i.level = 'city'"
      "       AND i.region_id = o.region_id AND i.state IN ('pending', 'returned'))"
      "    OR (o.kind = 'province_bureau' AND i.level = 'province'"
      "       AND i.region_id = o.region_id AND i.state IN ('pending', 'returned'))"
      /* the alliance: one line per project, counting the provinces */
      "    OR (o.kind = 'alliance' AND i.level = 'province'"
      "       AND i.state = 'submitted' AND i.id = (SELECT min(x.id)"
      "        FROM review_items x WHERE x.project_id = i.project_id"
      "         AND x.chain = i.chain AND x.level = 'province'"
      "         AND x.state = 'submitted')))"
      " JOIN chain_states s ON s.chain = i.chain AND s.level = i.level"
      "  AND s.state = i.state"
      " JOIN projects p ON p.id = i.project_id"
      " CROSS JOIN LATERAL (SELECT CASE i.level"
      "    WHEN 'hospital' THEN CASE i.state"
      "     WHEN 'returned' THEN '报量填报被市级医保局退回修改'"
      "     WHEN 'withdraw_requested' THEN '撤回申请等待市级医保局处理'"
      "     ELSE '报量填报' END"
      "    WHEN 'city' THEN CASE i.state WHEN 'returned'"
      "     THEN '本市需求量被省级医保局退回' ELSE '市级审核上报' END"
      "    ELSE CASE o.kind WHEN 'alliance' THEN '联采办审核'"
      "     ELSE CASE i.state WHEN 'returned' THEN '本省需求量被联采办退回'"
      "     ELSE '省级审核上报' END END END AS what,"
      "   CASE o.kind WHEN 'hospital' THEN '/filing?project=' || p.id"
      "    WHEN 'city_bureau' THEN '/review?project=' || p.id"
      "    ELSE '/review/summary?project=' || p.id END AS href,"
      "   CASE i.level WHEN 'hospital' THEN p.file_opens"
      "    WHEN 'city' THEN p.city_opens ELSE CASE o.kind WHEN 'alliance'"
      "    THEN p.alliance_opens ELSE p.province_opens END END AS opens,"
      "   CASE WHEN o.kind = 'alliance' THEN p.alliance_closes"
      "    ELSE greatest(CASE i.level WHEN 'hospital' THEN p.file_closes"
      "     WHEN 'city' THEN p.city_closes ELSE p.province_closes END,"
      "     i.open_until) END AS closes) w0"
      " CROSS JOIN LATERAL (SELECT w0.*, now() >= w0.closes"
      "   AND i.level = 'hospital' AND i.state <> 'withdraw_requested'"
      "   AS overdue) w"
      " WHERE o.id = $1::integer AND now() >= w.opens"
      "  AND (now() < w.closes OR (w.overdue AND now() < p.city_closes))"
      " ORDER BY w.overdue DESC, w.closes, p.id, i.id LIMIT 20" },

    /*
     * the national CSV (SPEC §3): per province and certificate, the lines
     * of every hospital that must report (never 无需上报), as the
     * summaries count them; a province exports its own
     */
    { "review_export",
      "SELECT pr.name, c.category, c.subcategory, c.manufacturer,"
      "  c.certificate, sum(coalesce(l.last_year, 0)),"
      "  sum(coalesce(l.demand, 0))"
      " FROM review_items h"
      " JOIN regions pr ON pr.level = 'province'"
      "  AND h.scope_path LIKE pr.path || '%'"
      " JOIN filing_lines l ON l.item_id = h.id"
      " JOIN catalog_lines c ON c.id = l.catalog_line_id"
      " WHERE h.project_id = $1::integer AND h.chain = 'demand'"
      "  AND h.level = 'hospital' AND h.state <> 'exempt'"
      "  AND h.scope_path LIKE $2 || '%'"
      " GROUP BY pr.code, pr.name, c.category, c.subcategory,"
      "  c.manufacturer, c.certificate"
      " ORDER BY pr.code, c.category, c.subcategory, c.manufacturer,"
      "  c.certificate" },

    { NULL, NULL }
};


static const char *const  review_item_names[] = {
    "id", "org_code", "org_name", "city_name", "state", "state_title",
    "last_year_total", "demand_total", "intended_total", "lines", "beyond",
    "selectable", "submitted_at", "handled_at", "last_reason", NULL
};

static const char  review_item_types[] = "isssssiiiiibnnn";


static const char *const  review_summary_names[] = {
    "id", "region_code", "region_name", "state", "state_title",
    "hospitals", "last_year_total", "demand_total", "submitted", "approved",
    "exempt", "handled_at", NULL
};

static const char  review_summary_types[] = "issssiiiiiin";


static const char *const  review_child_names[] = {
    "id", "code", "name", "state", "state_title", "hospitals", "lines",
    "last_year_total", "demand_total", "beyond", "submitted_at",
    "handled_at", NULL
};

static const char  review_child_types[] = "issssiiIIInn";


static const char *const  review_progress_names[] = {
    "region_code", "region_name", "must_report", "unfiled", "draft",
    "submitted", "withdraw_requested", "approved", "returned", "exempt",
    "filed", "on_time", "filed_rate", "on_time_rate", "approved_rate", NULL
};

static const char  review_progress_types[] = "nniiiiiiiiiinnn";


static const char *const  review_deadline_names[] = {
    "project_id", "project_name", "what", "href", "closes", "left", "urgent",
    "state", "state_title", "reason", "requests", "waiting", "overdue", NULL
};

static const char  review_deadline_types[] = "isssssbssniib";


/* POST {action, ids | id, reason}: a reviewer's action on items below */
static int
review_act(vbp_call_t *call)
{
    int          rc;
    char         ids[REVIEW_IDS_MAX], message[160];
    size_t       count;
    json_t      *moved;
    const char  *action, *reason;

    static const char *const  actions[] = {
        "approve", "return", "revoke", "exempt", "include",
        "grant_withdraw", "refuse_withdraw", NULL
    };

    action = vbp_arg_choice(call, "action", actions, "请选择操作");
    reason = vbp_chain_reason(call);

    if (vbp_arg_id_list(call, json_object_get(call->args, "id") ? "id"
                                                                 : "ids",
                        "记录", ids, sizeof(ids), &count) != 0
        || call->status)
    {
        return 0;
    }

    moved = NULL;
    rc = vbp_chain_fire_call(call, "demand", action, ids, reason, &moved);

    if (rc != 0 || call->status) {
        json_decref(moved);
        return rc;
    }

    /* what was done, in the words of the button */
    snprintf(message, sizeof(message), "%s %zu 项",
             strcmp(action, "approve") == 0 ? "已审核通过"
             : strcmp(action, "return") == 0 ? "已退回"
             : strcmp(action, "revoke") == 0 ? "已撤销审核"
             : strcmp(action, "exempt") == 0 ? "已取消上报"
             : strcmp(action, "include") == 0 ? "已恢复上报"
             : strcmp(action, "grant_withdraw") == 0 ? "已同意撤回申请"
             : "已不同意撤回申请", count);
    call->data = json_pack("{s:s, s:I, s:o}", "message", message,
                           "changed", (json_int_t) count, "items", moved);

    return call->data ? 0 : -1;
}


/* the level a bureau's own item is at */
static const char *
review_own_level(vbp_call_t *call)
{
    const char  *role;

    role = vbp_actor_str(call, "role");

    return role == NULL ? NULL
           : strcmp(role, "city_bureau") == 0 ? "city"
           : strcmp(role, "province_bureau") == 0 ? "province" : NULL;
}


/*
 * The actor's own item in args.project (a city's or a province's
 * submission) into id, and its stamped summary (0 none, 1 uploaded, 2
 * stale: the figures below changed after it was uploaded): 0,
 * 1 answered (403, 404, 4xx), or -1 on a database failure.
 */
static int
review_own_item(vbp_call_t *call, char *id, size_t len, int *stamped)
{
    char         project[24], region[24];
    json_t      *r;
    PGresult    *res;
    const char  *params[3], *level;

    level = review_own_level(call);
    if (level == NULL) {
        vbp_fail(call, 403, "forbidden", "只有市级和省级医保局提交本级数据");
        return 1;
    }

    if (vbp_arg_id(call, "project", project, sizeof(project)) != 0) {
        return 1;
    }

    r = json_object_get(json_object_get(call->actor, "region"), "id");
    if (!json_is_integer(r)) {
        vbp_fail_unauthenticated(call);
        return 1;
    }

    snprintf(region, sizeof(region), "%" JSON_INTEGER_FORMAT,
             json_integer_value(r));

    params[0] = project;
    params[1] = region;
    params[2] = level;

    res = vbp_db_query(call->db, "review_own_item", 3, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", "本级未参加该报量项目");
        return 1;
    }

    snprintf(id, len, "%s", PQgetvalue(res, 0, 0));
    *stamped = atoi(PQgetvalue(res, 0, 1));
    PQclear(res);

    return 0;
}


/*
 * POST {project}: a city or province submits its own region's figures to
 * the level above (提交), or takes them back while unreviewed (撤回); a
 * province submits with its stamped summary uploaded (seed 004)
 */
static int
review_own(vbp_call_t *call)
{
    int          rc, stamped;
    char         id[24], ids[32];
    json_t      *moved;
    const char  *level;

    rc = review_own_item(call, id, sizeof(id), &stamped);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    level = review_own_level(call);

    if (strcmp(call->variant, "submit") == 0
        && strcmp(level, "province") == 0 && stamped != 1)
    {
        vbp_field_error(call, "province_summary",
                        stamped == 0 ? "请先上传盖章的汇总数据"
                        : "汇总数据上传后，下级数据已有修改，"
                          "请重新上传盖章的汇总数据");
        return 0;
    }

    snprintf(ids, sizeof(ids), "{%s}", id);

    moved = NULL;
    rc = vbp_chain_fire_call(call, "demand", call->variant, ids, NULL,
                             &moved);

    if (rc != 0 || call->status) {
        json_decref(moved);
        return rc;
    }

    call->data = json_pack("{s:s, s:o}", "message",
                           strcmp(call->variant, "submit") == 0
                           ? "已提交上级审核" : "已撤回本级提交",
                           "items", moved);

    return call->data ? 0 : -1;
}


/*
 * A city's or a province's list shows its own submission at the top: its
 * state, the reason of the last return from above, the files it sent and
 * what it may do now (data.own; chain.c).  Nothing for the alliance, nor
 * when a province looks into one of its cities.  0, or -1.
 */
static int
review_own_attach(vbp_call_t *call)
{
    int          rc, stamped;
    char         id[24];
    json_t      *list, *own;
    const char  *code;

    code = vbp_arg_string(call, "region", 0, 12, NULL);

    if (review_own_level(call) == NULL || (code && *code) || call->status) {
        return 0;
    }

    list = call->data;
    call->data = NULL;

    rc = review_own_item(call, id, sizeof(id), &stamped);
    if (rc == 0) {
        rc = vbp_chain_item(call, id, NULL);
    }

    if (rc == 0 && call->status == 0) {
        rc = vbp_filing_totals(call, id);
    }

    own = call->data;
    call->data = list;

    /* a list without an own item (not enrolled) is still the list */
    if (rc != 0 || call->status) {
        json_decref(own);
        call->status = 0;
        json_decref(call->error);
        call->error = NULL;
        return rc < 0 ? -1 : 0;
    }

    (void) json_object_set_new(own, "stamped", json_boolean(stamped == 1));
    (void) json_object_set_new(own, "stamp_stale", json_boolean(stamped == 2));

    return json_object_set_new(list, "own", own) == 0 ? 0 : -1;
}


/*
 * What a reviewer's list is over: args.project, and args.region (a code
 * the actor covers) or the actor's own region, as the path for $2.
 * 0, 1 answered (a 4xx), or -1 on a database failure.
 */
static int
review_scope(vbp_call_t *call, char *project, size_t plen, char *path,
    size_t len)
{
    const char  *code, *own;
    char         value[256];
    const char  *params[3];

    if (vbp_arg_id(call, "project", project, plen) != 0) {
        return 1;
    }

    own = vbp_actor_path(call);
    code = vbp_arg_string(call, "region", 0, 12, NULL);

    if (own == NULL || vbp_actor_str(call, "role") == NULL) {
        vbp_fail_unauthenticated(call);
        return 1;
    }

    params[0] = project;
    params[1] = vbp_actor_str(call, "role");
    params[2] = own;

    if (vbp_db_value(call->db, "review_project_visible", 3, params, value,
                     sizeof(value))
        < 0)
    {
        return -1;
    }

    if (strcmp(value, "0") == 0) {
        vbp_fail(call, 404, "not_found", "未找到该报量项目，或不在您的管辖范围内");
        return 1;
    }

    if (code == NULL || *code == '\0') {
        snprintf(path, len, "%s", own);
        return 0;
    }

    params[0] = code;
    params[1] = own;

    if (vbp_db_value(call->db, "review_region_path", 2, params, value,
                     sizeof(value))
        < 0)
    {
        return -1;
    }

    if (*value == '\0') {
        vbp_field_error(call, "region", "区划不存在或不在管辖范围内");
        vbp_fail(call, 404, "not_found", "区划不存在或不在管辖范围内");
        return 1;
    }

    snprintf(path, len, "%s", value);

    return 0;
}


/*
 * The region args.region names (review_scope() has judged it), into
 * data.region_name and data.region_up: 0, or -1
 */
static int
review_region_head(vbp_call_t *call)
{
    PGresult    *res;
    const char  *params[2];

    params[0] = vbp_arg_string(call, "region", 0, 12, NULL);
    params[1] = vbp_actor_path(call);

    if (params[0] == NULL || *params[0] == '\0' || params[1] == NULL
        || call->data == NULL)
    {
        return 0;
    }

    res = vbp_db_query(call->db, "review_region_head", 2, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 1
        && (json_object_set_new(call->data, "region_name",
                                json_string(PQgetvalue(res, 0, 0))) != 0
            || json_object_set_new(call->data, "region_up",
                                   json_string(PQgetvalue(res, 0, 1))) != 0))
    {
        PQclear(res);
        return -1;
    }

    PQclear(res);

    return 0;
}


/*
 * A statement over (project, region path) in the actor's scope into *res:
 * 0, 1 answered (a 4xx), or -1 on a database failure
 */
static int
review_scoped_query(vbp_call_t *call, const char *stmt, PGresult **res)
{
    int          rc;
    char         project[24], path[256];
    const char  *params[2];

    rc = review_scope(call, project, sizeof(project), path, sizeof(path));
    if (rc != 0) {
        return rc;
    }

    params[0] = project;
    params[1] = path;

    *res = vbp_db_query(call->db, stmt, 2, params);

    return *res ? 0 : -1;
}


/* GET {project, region, state, q, beyond, page, per_page}: hospitals */
static int
review_items(vbp_call_t *call)
{
    int          rc;
    char         project[24], path[256], q[200];
    const char  *params[9], *s;

    static const char *const  states[] = {
        "unfiled", "not_submitted", "not_approved", "draft", "submitted",
        "withdraw_requested", "approved", "returned", "exempt", NULL
    };

    rc = review_scope(call, project, sizeof(project), path, sizeof(path));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    params[0] = project;
    params[1] = path;
    params[2] = vbp_arg_choice(call, "state", states, NULL);

    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[3] = s && *s ? vbp_like_pattern(s, q, sizeof(q)) : "";
    params[4] = vbp_arg_flag(call, "beyond") ? "1" : "";

    if (call->status) {
        return 0;
    }

    if (vbp_list(call, "review_items_count", "review_items_page", params,
                 5, review_item_names, review_item_types) != 0)
    {
        return -1;
    }

    if (review_peer_counts(call) != 0
        || review_region_head(call) != 0
        || vbp_chain_offer(call, "demand",
                           json_object_get(call->data, "items")) != 0
        || vbp_chain_batch(call->data, json_object_get(call->data, "items"))
           != 0)
    {
        return -1;
    }

    return review_own_attach(call);
}


static const char *const  review_confirm_names[] = {
    "must_report", "approved", "exempt", "blocking", "lines",
    "last_year_total", "demand_total", "own_state", NULL
};

static const char  review_confirm_types[] = "iiiiiiin";

static const char *const  review_exempt_names[] = {
    "org_code", "org_name", "reason", "at", NULL
};


/*
 * GET {project, page, per_page}: 需求量信息确认 (seed 000 §3.3) -- before a
 * city submits to its province it reviews once more what it sends: its
 * approved hospitals with their totals (the list), the sums, and how many
 * must still be approved before 确认无误，提交省医保局 can pass
 */
static int
review_confirm(vbp_call_t *call)
{
    int          rc;
    json_t      *confirm;
    PGresult    *res;
    const char  *level;

    level = review_own_level(call);

    if (level == NULL || strcmp(level, "city") != 0) {
        vbp_fail(call, 403, "forbidden", "需求量信息确认由市级医保局办理");
        return 0;
    }

    /* the list is the city's own hospitals that its submission carries */
    if (!json_is_object(call->args)) {
        vbp_fail(call, 400, "bad_request", "请求格式错误");
        return 0;
    }

    if (json_object_set_new(call->args, "state", json_string("approved")) != 0
        || json_object_set_new(call->args, "region", json_string("")) != 0)
    {
        return -1;
    }

    (void) json_object_del(call->args, "q");
    (void) json_object_del(call->args, "beyond");

    rc = review_items(call);
    if (rc != 0 || call->status) {
        return rc;
    }

    rc = review_scoped_query(call, "review_confirm", &res);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    confirm = PQntuples(res) == 1
              ? vbp_row_json(res, 0, review_confirm_names,
                             review_confirm_types)
              : NULL;
    PQclear(res);

    if (confirm == NULL) {
        return -1;
    }

    /* no item of the city's own: the project is not its */
    if (json_is_null(json_object_get(confirm, "own_state"))) {
        json_decref(confirm);
        vbp_fail(call, 404, "not_found", "未找到该报量项目，或本市未参加该项目");
        return 0;
    }

    /* who was taken out and why, said before the city submits; every one
     * of them: the number is said plainly when nobody is left to report */
    rc = review_scoped_query(call, "review_confirm_exempt", &res);
    if (rc != 0) {
        json_decref(confirm);
        return rc < 0 ? -1 : 0;
    }

    if (json_object_set_new(confirm, "exempted",
                            vbp_rows_json(res, review_exempt_names, "ssnn"))
           != 0
        || json_object_set_new(confirm, "none_to_report",
               json_boolean(json_integer_value(json_object_get(confirm,
                                                               "must_report"))
                            == 0)) != 0)
    {
        PQclear(res);
        json_decref(confirm);
        return -1;
    }

    PQclear(res);

    return json_object_set_new(call->data, "confirm", confirm) == 0 ? 0 : -1;
}


/* GET {project, region}: the regions one level below, with their totals */
static int
review_summary(vbp_call_t *call)
{
    int          rc;
    char         project[24], path[256];
    PGresult    *res;
    const char  *params[3], *role, *code;

    rc = review_scope(call, project, sizeof(project), path, sizeof(path));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    /* the alliance sees provinces, a province (or the alliance in one
     * province) its cities */
    role = vbp_actor_str(call, "role");
    code = vbp_arg_string(call, "region", 0, 12, NULL);

    params[0] = project;
    params[1] = path;
    params[2] = (role && strcmp(role, "alliance") == 0
                 && (code == NULL || *code == '\0'))
                ? "province" : "city";

    res = vbp_db_query(call->db, "review_summary", 3, params);
    if (res == NULL) {
        return -1;
    }

    call->data = json_pack("{s:o, s:s, s:b, s:s}", "items",
                           vbp_rows_json(res, review_summary_names,
                                         review_summary_types),
                           "level", params[2],
                           "of_provinces", strcmp(params[2], "province") == 0,
                           "project", project);
    PQclear(res);

    if (call->data == NULL
        || review_region_head(call) != 0
        || vbp_chain_offer(call, "demand",
                           json_object_get(call->data, "items")) != 0
        || vbp_chain_batch(call->data, json_object_get(call->data, "items"))
           != 0)
    {
        return -1;
    }

    return review_own_attach(call);
}


/*
 * GET {id}: one item below the reviewer: header, totals, files, history and
 * the actions it may take now (chain.c); a hospital's filing with its
 * lines (filing.c), a city's or province's submission with the items below
 * it -- hospitals or cities, with state and totals -- a page at a time
 */
static int
review_item(vbp_call_t *call)
{
    int          rc;
    char         id[24];
    json_t      *detail;
    const char  *level, *params[3];

    if (vbp_arg_id(call, "id", id, sizeof(id)) != 0) {
        return 0;
    }

    if (vbp_chain_item(call, id, NULL) != 0) {
        return -1;
    }

    if (call->status) {
        return 0;
    }

    if (vbp_filing_totals(call, id) != 0) {
        return -1;
    }

    level = json_string_value(json_object_get(call->data, "level"));

    if (level && strcmp(level, "hospital") == 0) {
        /* a reviewer reads what was filed: the lines filed, unless the
         * search form (filter) or the caller asked otherwise -- the whole
         * catalog of 2,000 lines around 100 filed ones is noise */
        if (json_object_get(call->args, "filter") == NULL
            && json_object_get(call->args, "filled") == NULL
            && json_object_get(call->args, "beyond") == NULL)
        {
            (void) json_object_set_new(call->args, "filled",
                                       json_string("1"));
        }

        (void) json_object_set_new(call->data, "only_filled",
                                   json_boolean(vbp_arg_flag(call,
                                                             "filled")));

        if (vbp_filing_lines(call, id) != 0) {
            return -1;
        }

        return call->status ? 0 : review_peer_lines(call, id);
    }

    /* the items below, as a list of their own */
    detail = call->data;
    call->data = NULL;
    params[0] = id;

    rc = vbp_list(call, "review_children_count",
                  level && strcmp(level, "city") == 0
                  ? "review_children_hospitals" : "review_children_regions",
                  params, 1, review_child_names, review_child_types);

    if (rc != 0 || call->data == NULL) {
        json_decref(call->data);
        call->data = detail;
        return rc;
    }

    if (json_object_set_new(detail, "children", call->data) != 0) {
        call->data = detail;
        return -1;
    }

    call->data = detail;

    (void) json_object_set_new(detail, "children_are_hospitals",
                               json_boolean(strcmp(level, "city") == 0));

    return 0;
}


/* GET {project, region}: 填报进度 per region below, and over them all */
static int
review_progress(vbp_call_t *call)
{
    int          rc, last;
    json_t      *rows, *total;
    PGresult    *res;

    rc = review_scoped_query(call, "review_progress", &res);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    rows = vbp_rows_json(res, review_progress_names, review_progress_types);
    PQclear(res);

    if (rows == NULL) {
        return -1;
    }

    /* the grand total is the last row (GROUPING SETS' ()), always there */
    last = (int) json_array_size(rows) - 1;
    total = last >= 0 ? json_incref(json_array_get(rows, last)) : NULL;

    if (last >= 0 && json_array_remove(rows, last) != 0) {
        json_decref(total);
        json_decref(rows);
        return -1;
    }

    /* the project as it was asked for (review_scope checked it) */
    call->data = json_pack("{s:o, s:o, s:O}", "regions", rows,
                           "total", total ? total : json_object(),
                           "project", json_object_get(call->args, "project"));

    return call->data ? 0 : -1;
}


/*
 * The home page's reminders for the actor's org into *out (a new array);
 * 0, or -1 on a database failure.
 */
int
vbp_review_deadlines(vbp_call_t *call, const char *org, json_t **out)
{
    PGresult    *res;
    const char  *params[1];

    params[0] = org;

    res = vbp_db_query(call->db, "review_deadlines", 1, params);
    if (res == NULL) {
        return -1;
    }

    *out = vbp_rows_json(res, review_deadline_names, review_deadline_types);
    PQclear(res);

    return *out ? 0 : -1;
}


/*
 * GET {project, region}: 报量汇总 as CSV (UTF-8 with a BOM): province,
 * 大项, 小项, manufacturer, certificate, last year's and next year's
 * totals.  Aggregated in SQL, so at most provinces x certificates rows.
 */
static int
review_export(vbp_call_t *call)
{
    int          rc;
    char         project[24], path[256];
    const char  *params[2];

    rc = review_scope(call, project, sizeof(project), path, sizeof(path));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    params[0] = project;
    params[1] = path;

    return vbp_csv_download(call, "省份,大项,小项,生产企业,注册证,"
                                  "上年度采购总数量,下年度采购总数量",
                            "review_export", 2, params, "报量汇总.csv");
}


/* each hospital of a list page: how many of its lines lie far from their
 * peers' ("outliers") */
static int
review_peer_counts(vbp_call_t *call)
{
    int          row;
    size_t       i;
    json_t      *items, *item, *id;
    vbp_buf_t    ids;
    PGresult    *res;
    const char  *params[1];
    char         num[24];

    items = json_object_get(call->data, "items");
    if (json_array_size(items) == 0) {
        return 0;
    }

    vbp_buf_init(&ids);

    json_array_foreach(items, i, item) {
        id = json_object_get(item, "id");
        snprintf(num, sizeof(num), "%s%" JSON_INTEGER_FORMAT, i ? "," : "{",
                 json_integer_value(id));
        (void) json_object_set_new(item, "outliers", json_integer(0));

        if (vbp_buf_add(&ids, num, strlen(num)) != 0) {
            vbp_buf_free(&ids);
            return -1;
        }
    }

    if (vbp_buf_add(&ids, "}", 2) != 0) {
        vbp_buf_free(&ids);
        return -1;
    }

    params[0] = ids.data;
    res = vbp_db_query(call->db, "review_peer_counts", 1, params);
    vbp_buf_free(&ids);

    if (res == NULL) {
        return -1;
    }

    for (row = 0; row < PQntuples(res); row++) {
        json_array_foreach(items, i, item) {
            if (json_integer_value(json_object_get(item, "id"))
                == atoll(PQgetvalue(res, row, 0)))
            {
                (void) json_object_set_new(item, "outliers",
                    json_integer(atoll(PQgetvalue(res, row, 1))));
            }
        }
    }

    PQclear(res);

    return 0;
}


/* one item's lines on the page: their peers' median and count, and "far";
 * the item's own count of far lines over all its lines ("outliers") */
static int
review_peer_lines(vbp_call_t *call, const char *item)
{
    int          row;
    size_t       i;
    json_t      *lines, *line;
    PGresult    *res;
    const char  *params[1];
    long long    far;

    params[0] = item;
    res = vbp_db_query(call->db, "review_peer_lines", 1, params);
    if (res == NULL) {
        return -1;
    }

    lines = json_object_get(json_object_get(call->data, "lines"), "items");
    far = 0;

    for (row = 0; row < PQntuples(res); row++) {
        far += PQgetvalue(res, row, 3)[0] == 't';

        json_array_foreach(lines, i, line) {
            if (json_integer_value(json_object_get(line, "id"))
                != atoll(PQgetvalue(res, row, 0)))
            {
                continue;
            }

            (void) json_object_set_new(line, "peer_median",
                                       json_string(PQgetvalue(res, row, 1)));
            (void) json_object_set_new(line, "peers",
                json_integer(atoll(PQgetvalue(res, row, 2))));
            (void) json_object_set_new(line, "far",
                json_boolean(PQgetvalue(res, row, 3)[0] == 't'));
        }
    }

    PQclear(res);

    (void) json_object_set_new(call->data, "outliers", json_integer(far));

    return 0;
}
