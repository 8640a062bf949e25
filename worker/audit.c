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


static int audit_list(vbp_call_t *call);


const vbp_op_t  vbp_audit_ops[] = {
    { "audit.list", audit_list, 1, 0, "admin.audit", NULL, NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


const vbp_stmt_t  vbp_audit_stmts[] = {

    { "audit_count", "SELECT count(*)" AUDIT_FILTER },

    { "audit_page",
      "SELECT a.id, to_char(a.at AT TIME ZONE 'Asia/Shanghai',"
      "  'YYYY-MM-DD HH24:MI:SS'), a.actor_name, o.name, host(a.ip),"
      "  a.action, a.target_type, a.target_id, a.from_state, a.to_state,"
      "  a.reason, a.detail::text,"
      /* what changed, in words, for the page */
      "  CASE a.action"
      "   WHEN 'user_changed' THEN concat('姓名 ',"
      "    a.detail->'from'->>'display_name', ' → ',"
      "    a.detail->'to'->>'display_name', '；手机 ',"
      "    a.detail->'from'->>'phone', ' → ', a.detail->'to'->>'phone')"
      "   WHEN 'orgs_imported' THEN concat(a.detail->>'rows', ' 行：新增 ',"
      "    a.detail->>'inserted', '，更新 ', a.detail->>'updated',"
      "    '，新建账户 ', a.detail->>'accounts')"
      "   WHEN 'permissions_granted' THEN concat(a.from_state, ' → ',"
      "    a.to_state)"
      "   ELSE concat_ws(' ', a.detail->>'username',"
      "    CASE WHEN a.to_state IS NOT NULL"
      "     THEN concat(a.from_state, ' → ', a.to_state) END)"
      "  END"
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
    { "password_changed", "修改密码" },
    { "password_change_failed", "修改密码时原密码错误" },
    { "password_change_locked", "锁定中修改密码" },
    { "password_reset", "重置密码" },
    { "user_created", "新增账户" },
    { "subuser_created", "新增子账户" },
    { "user_changed", "修改账户" },
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


static int
audit_list(vbp_call_t *call)
{
    int          i;
    size_t       row;
    char         q[200];
    json_t      *item;
    const char  *params[7], *s, *role;

    static const char *const  names[] = {
        "id", "at", "actor", "actor_org", "ip", "action", "target_type",
        "target_id", "from", "to", "reason", "detail", "summary", NULL
    };

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
        return 0;
    }

    params[1] = vbp_arg_choice(call, "action", actions, NULL);

    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[2] = s && *s ? vbp_like_pattern(s, q, sizeof(q)) : "";
    params[3] = audit_date(call, "from");
    params[4] = audit_date(call, "to");

    /* both are YYYY-MM-DD: their order is their text's */
    if (params[3] && params[4] && *params[3] && *params[4]
        && strcmp(params[3], params[4]) > 0)
    {
        vbp_field_error(call, "to", "结束日期不能早于开始日期");
    }

    if (vbp_list(call, "audit_count", "audit_page", params, 5, names,
                 "isnnnsssnnnjs") != 0)
    {
        return -1;
    }

    json_array_foreach(json_object_get(call->data, "items"), row, item) {
        s = json_string_value(json_object_get(item, "action"));

        for (i = 0; s && audit_actions[i].action; i++) {
            if (strcmp(audit_actions[i].action, s) == 0) {
                (void) json_object_set_new(item, "action_title",
                           json_string(audit_actions[i].title));
            }
        }
    }

    return 0;
}
