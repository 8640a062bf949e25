/*
 * The audit log as admins read it: their scope's rows (the region path of
 * the org a row concerns is below the actor's; the alliance sees all),
 * filtered and paged, newest first.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbp.h"


#define AUDIT_FILTER                                                         \
    " FROM audit_log a LEFT JOIN orgs o ON o.id = a.actor_org_id"            \
    " WHERE ($1 = '' OR starts_with(a.scope_path, $1))"                      \
    "  AND ($2 = '' OR a.action = $2)"                                       \
    "  AND ($3 = '' OR a.actor_name ILIKE $3 OR a.target_id ILIKE $3"        \
    "       OR a.detail->>'username' ILIKE $3)"                             \
    "  AND ($4 = '' OR a.at >= $4::date::timestamp AT TIME ZONE"            \
    "                 'Asia/Shanghai')"                                      \
    "  AND ($5 = '' OR a.at < ($5::date + 1)::timestamp AT TIME ZONE"       \
    "                 'Asia/Shanghai')"


#define AUDIT_EXPORT_MAX  20000


static int audit_list(vbp_call_t *call);
static int audit_export(vbp_call_t *call);


const vbp_op_t  vbp_audit_ops[] = {
    { "audit.list", audit_list, 1, 0, "admin.audit", NULL, NULL },
    { "audit.export", audit_export, 1, 0, "admin.audit", NULL, NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


const vbp_stmt_t  vbp_audit_stmts[] = {

    { "audit_count", "SELECT count(*)" AUDIT_FILTER },

    { "audit_page",
      "SELECT a.id, to_char(a.at AT TIME ZONE 'Asia/Shanghai',"
      "  'YYYY-MM-DD HH24:MI:SS'), a.actor_name, o.name, host(a.ip),"
      "  a.action, a.target_type, a.target_id, a.from_state, a.to_state,"
      "  vbp_reason_title(a.reason), a.detail::text,"
      /* what changed, in words, for the page */
      "  CASE a.action"
      "   WHEN 'user_changed' THEN concat('姓名 ',"
      "    a.detail->'from'->>'display_name', ' → ',"
      "    a.detail->'to'->>'display_name', '；手机 ',"
      "    a.detail->'from'->>'phone', ' → ', a.detail->'to'->>'phone')"
      "   WHEN 'orgs_imported' THEN concat(a.detail->>'rows', ' 行：新增 ',"
      "    a.detail->>'inserted', '，更新 ', a.detail->>'updated',"
      "    '，新建账户 ', a.detail->>'accounts')"
      "   WHEN 'region_renamed' THEN concat(vbp_state_title(a.from_state),"
      "    ' → ', vbp_state_title(a.to_state))"
      "   ELSE CASE WHEN a.to_state IS NOT NULL"
      "     THEN concat(vbp_state_title(a.from_state), ' → ',"
      "                 vbp_state_title(a.to_state)) END"
      "  END,"
      "  vbp_target_title(a.target_type, a.target_id, a.detail)"
      AUDIT_FILTER " ORDER BY a.at DESC, a.id DESC LIMIT $6 OFFSET $7" },

    { NULL, NULL }
};


static const struct {
    const char  *action;
    const char  *title;
} audit_actions[] = {
    { "login", "登录" },
    { "login_failed", "登录失败" },
    { "login_locked", "锁定中登录" },
    { "logout", "退出登录" },
    { "password_changed", "密码修改" },
    { "password_change_failed", "密码修改时原密码错误" },
    { "password_change_locked", "锁定中密码修改" },
    { "password_reset", "重置密码" },
    { "user_created", "新增用户" },
    { "subuser_created", "新增子用户" },
    { "user_changed", "编辑用户" },
    { "user_enabled", "启用账户" },
    { "user_disabled", "停用账户" },
    { "permissions_granted", "授权" },
    { "user_unlocked", "解锁账户" },
    { "region_created", "新增区划" },
    { "region_renamed", "区划改名" },
    { "orgs_imported", "导入机构" },
    { NULL, NULL }
};


/* YYYY-MM-DD of a day that exists (1900 to 2999), or nothing */
static const char *
audit_date(vbp_call_t *call, const char *name)
{
    int          y, m, d, days;
    const char  *s;

    static const int  month_days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
                                       31, 30, 31 };

    s = vbp_arg_string(call, name, 0, 10, NULL);

    if (s == NULL || *s == '\0') {
        return s;
    }

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-'
        || strspn(s, "0123456789") != 4
        || strspn(s + 5, "0123456789") != 2
        || strspn(s + 8, "0123456789") != 2)
    {
        vbp_field_error(call, name, "日期格式应为 YYYY-MM-DD");
        return NULL;
    }

    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);

    days = m >= 1 && m <= 12 ? month_days[m - 1] : 0;

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        days = 29;
    }

    if (y < 1900 || y > 2999 || d < 1 || d > days) {
        vbp_field_error(call, name, "没有这一天，请检查日期");
        return NULL;
    }

    return s;
}


static const char *const  audit_names[] = {
    "id", "at", "actor", "actor_org", "ip", "action", "target_type",
    "target_id", "from", "to", "reason", "detail", "summary",
    "target_name", NULL
};

static const char  audit_types[] = "isnnnsssnnnjnn";


/* the filters of the list and the export: params[0..4]; 0, or 1 refused */
static int
audit_filters(vbp_call_t *call, const char **params, char *q, size_t q_len)
{
    int          i;
    const char  *s, *role;

    static const char *actions[sizeof(audit_actions) / sizeof(audit_actions[0])];

    for (i = 0; audit_actions[i].action; i++) {
        actions[i] = audit_actions[i].action;
    }

    actions[i] = NULL;

    role = vbp_actor_str(call, "role");
    params[0] = role && strcmp(role, "alliance") == 0 ? ""
                                                      : vbp_actor_path(call);

    if (role == NULL || params[0] == NULL) {
        vbp_fail_unauthenticated(call);
        return 1;
    }

    params[1] = vbp_arg_choice(call, "action", actions, NULL);

    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[2] = s && *s ? vbp_like_pattern(s, q, q_len) : "";
    params[3] = audit_date(call, "from");
    params[4] = audit_date(call, "to");

    /* both are YYYY-MM-DD: their order is their text's */
    if (params[3] && params[4] && *params[3] && *params[4]
        && strcmp(params[3], params[4]) > 0)
    {
        vbp_field_error(call, "to", "结束日期不能早于开始日期");
    }

    return call->status ? 1 : 0;
}


static const char *
audit_action_title(const char *action)
{
    int  i;

    for (i = 0; action && audit_actions[i].action; i++) {
        if (strcmp(audit_actions[i].action, action) == 0) {
            return audit_actions[i].title;
        }
    }

    return action;
}


static int
audit_list(vbp_call_t *call)
{
    size_t       row;
    char         q[200];
    json_t      *item;
    const char  *params[7], *title;

    if (audit_filters(call, params, q, sizeof(q)) != 0) {
        return 0;
    }

    if (vbp_list(call, "audit_count", "audit_page", params, 5, audit_names,
                 audit_types) != 0)
    {
        return -1;
    }

    json_array_foreach(json_object_get(call->data, "items"), row, item) {
        title = audit_action_title(json_string_value(json_object_get(item,
                                                                 "action")));
        if (title) {
            (void) json_object_set_new(item, "action_title",
                                       json_string(title));
        }
    }

    return 0;
}


/*
 * the filtered log as CSV (UTF-8 with a BOM, which Excel needs to read it
 * as UTF-8), newest first, at most AUDIT_EXPORT_MAX rows: a larger export
 * is refused with the count, so a wider range is never cut silently
 */
static int
audit_export(vbp_call_t *call)
{
    int          row, col, rc;
    char         q[200], limit[24], msg[128];
    PGresult    *res;
    long long    total;
    vbp_buf_t    out;
    const char  *params[7], *v;

    static const int  cols[] = { 1, 2, 3, 4, 5, 13, 12, 10 };

    /* a refused download is a page of one line: the field's reason */
    if (audit_filters(call, params, q, sizeof(q)) != 0) {
        if (call->error && vbp_error_text(call)) {
            (void) json_object_set_new(call->error, "message",
                                       json_string(vbp_error_text(call)));
        }

        return 0;
    }

    res = vbp_db_query(call->db, "audit_count", 5, params);
    if (res == NULL) {
        return -1;
    }

    total = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);

    if (total > AUDIT_EXPORT_MAX) {
        snprintf(msg, sizeof(msg), "符合条件的记录有 %lld 条，一次最多导出 %d 条，"
                 "请缩小日期范围", total, AUDIT_EXPORT_MAX);
        vbp_field_error(call, "from", msg);
        vbp_fail(call, 422, "too_many", msg);
        return 0;
    }

    snprintf(limit, sizeof(limit), "%d", AUDIT_EXPORT_MAX);
    params[5] = limit;
    params[6] = "0";

    res = vbp_db_query(call->db, "audit_page", 7, params);
    if (res == NULL) {
        return -1;
    }

    vbp_buf_init(&out);

    rc = vbp_csv_header(&out, "时间,操作人,单位,IP,操作,对象,变化,原因");

    for (row = 0; rc == 0 && row < PQntuples(res); row++) {
        for (col = 0; rc == 0 && col < 8; col++) {
            v = PQgetisnull(res, row, cols[col]) ? ""
                : PQgetvalue(res, row, cols[col]);

            if (cols[col] == 5) {
                v = audit_action_title(v);
            }

            rc = vbp_csv_cell(&out, v, col == 7);
        }
    }

    PQclear(res);

    if (rc == 0) {
        call->data = json_pack("{s:s%, s:I}", "file", out.data, out.len,
                               "rows", (json_int_t) total);
    }

    vbp_buf_free(&out);

    return call->data ? 0 : -1;
}
