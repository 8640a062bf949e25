/*
 * The review chain: firing its transitions, turning refusals into answers,
 * offering the actions an actor may take now, and an item's history.
 *
 * What may happen is data (chain_states, chain_transitions: migrations 005
 * and 010) and SQL functions judge it: vbp_chain_fire() checks and moves a
 * batch in one go, vbp_chain_actions() offers what it would accept, both
 * through vbp_chain_refusal().  Every domain (demand filings today,
 * allocations and contracts next) fires through this file with its own
 * chain and actions; this file calls no domain.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbp.h"


#define CHAIN_REASON_MAX  200


const vbp_stmt_t  vbp_chain_stmts[] = {

    /* the refusals name the item and its state in words */
    { "chain_fire",
      "SELECT x.item_id, x.outcome, coalesce(s.title, x.state), x.detail,"
      "  coalesce(o.name, g.name, ''),"
      "  (SELECT t.title FROM chain_transitions t WHERE t.chain = $1"
      "    AND t.action = $2 AND t.level = i.level LIMIT 1),"
      "  x.state"
      " FROM vbp_chain_fire($1, $2, $3::bigint[], $4, $5, $6::integer,"
      "      $7::integer, $8, $9::inet, $10) x"
      " LEFT JOIN review_items i ON i.id = x.item_id"
      /* a name only for what the actor may see: out of scope is nameless */
      "  AND x.outcome <> 'not_found'"
      " LEFT JOIN orgs o ON o.id = i.org_id"
      " LEFT JOIN regions g ON g.id = i.region_id AND i.org_id IS NULL"
      " LEFT JOIN chain_states s ON s.chain = i.chain AND s.level = i.level"
      "  AND s.state = x.state"
      " ORDER BY x.item_id" },

    { "chain_actions",
      "SELECT x.item_id, x.action, x.title, x.reason_required,"
      "  coalesce(x.outcome, ''), x.detail, s.title,"
      "  coalesce(o.name, g.name, '')"
      " FROM vbp_chain_actions($1, $2::bigint[], $3, $4, $5::integer) x"
      " JOIN review_items i ON i.id = x.item_id"
      " JOIN chain_states s ON s.chain = i.chain AND s.level = i.level"
      "  AND s.state = i.state"
      " LEFT JOIN orgs o ON o.id = i.org_id"
      " LEFT JOIN regions g ON g.id = i.region_id AND i.org_id IS NULL"
      " ORDER BY x.item_id, x.outcome NULLS FIRST" },

    /* one item in the actor's scope (a hospital: its own) */
    { "chain_item",
      "SELECT i.id, i.chain, i.level, i.state, s.title,"
      "  coalesce(o.code, g.code), coalesce(o.name, g.name), g.name, p.id,"
      "  p.name,"
      /* the time of a submission that stands (not one returned or
       * taken back since) */
      "  CASE WHEN i.state IN ('submitted', 'approved', 'withdraw_requested')"
      "   THEN to_char(i.submitted_at AT TIME ZONE 'Asia/Shanghai',"
      "                'YYYY-MM-DD HH24:MI') END,"
      "  to_char(i.handled_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  CASE i.level WHEN 'hospital' THEN '医疗机构'"
      "   WHEN 'city' THEN '城市' ELSE '省份' END,"
      "  pa.id, pg.name, ps.title,"
      /* reopened by a return past its window: until when (migration 013) */
      "  CASE WHEN i.open_until > now() AND i.state IN ('draft', 'returned',"
      "   'pending', 'unfiled') THEN to_char(i.open_until AT TIME ZONE"
      "   'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') END"
      " FROM review_items i JOIN projects p ON p.id = i.project_id"
      " JOIN regions g ON g.id = i.region_id"
      " JOIN chain_states s ON s.chain = i.chain AND s.level = i.level"
      "  AND s.state = i.state"
      " LEFT JOIN orgs o ON o.id = i.org_id"
      " LEFT JOIN review_items pa ON pa.id = i.parent_id"
      " LEFT JOIN regions pg ON pg.id = pa.region_id"
      " LEFT JOIN chain_states ps ON ps.chain = pa.chain"
      "  AND ps.level = pa.level AND ps.state = pa.state"
      " WHERE i.id = $1::bigint AND starts_with(i.scope_path, $2)"
      "  AND ($3::integer IS NULL OR i.org_id = $3::integer)" },

    /* the item's history, seen by the filer and every level above */
    { "chain_events",
      "SELECT to_char(e.at AT TIME ZONE 'Asia/Shanghai',"
      "               'YYYY-MM-DD HH24:MI:SS'),"
      "  e.actor_name, coalesce(o.name, ''), e.action,"
      "  coalesce(t.title, e.action), coalesce(a.title, e.from_state, ''),"
      "  coalesce(b.title, e.to_state, ''), coalesce(e.reason, '')"
      " FROM review_events e JOIN review_items i ON i.id = e.item_id"
      " LEFT JOIN orgs o ON o.id = e.actor_org_id"
      " LEFT JOIN chain_transitions t ON t.chain = i.chain"
      "  AND t.level = i.level AND t.action = e.action"
      " LEFT JOIN chain_states a ON a.chain = i.chain AND a.level = i.level"
      "  AND a.state = e.from_state"
      " LEFT JOIN chain_states b ON b.chain = i.chain AND b.level = i.level"
      "  AND b.state = e.to_state"
      " WHERE e.item_id = $1::bigint ORDER BY e.id" },

    { "chain_files",
      "SELECT x.kind, x.certificate, x.filename, x.sha256, u.bytes,"
      "  u.content_type,"
      "  to_char(x.uploaded_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  CASE x.kind WHEN 'commitment' THEN '承诺书'"
      "   WHEN 'summary' THEN '需求量汇总表' WHEN 'in_use_note' THEN '在用仪器说明'"
      "   WHEN 'province_summary' THEN '盖章汇总数据' ELSE '说明' END,"
      "  u.content_type = 'application/pdf', vbp_file_stale(x)"
      " FROM item_files x JOIN uploads u ON u.sha256 = x.sha256"
      " WHERE x.item_id = $1::bigint ORDER BY x.kind, x.certificate" },

    { NULL, NULL }
};


static const char *const  chain_item_names[] = {
    "id", "chain", "level", "state", "state_title", "code", "name",
    "region_name", "project_id", "project_name", "submitted_at",
    "handled_at", "level_title", "parent_id", "parent_name",
    "parent_state_title", "open_until", NULL
};

static const char  chain_item_types[] = "isssssssisnnsnnnn";


static const char *const  chain_event_names[] = {
    "at", "actor", "actor_org", "action", "action_title", "from", "to",
    "reason", NULL
};


static const char *const  chain_file_names[] = {
    "kind", "certificate", "filename", "sha256", "bytes", "content_type",
    "uploaded_at", "kind_title", "pdf", "stale", NULL
};




/* the words of a window's name, as the project form says them */
static const char *
chain_window_title(const char *name)
{
    return strcmp(name, "file") == 0 ? "医疗机构填报"
           : strcmp(name, "city") == 0 ? "市级审核"
           : strcmp(name, "province") == 0 ? "省级审核"
           : "联采办审核";
}


/* $4..$8 of the chain's functions: the actor's kind, path, org, uid */
static int
chain_actor(vbp_call_t *call, const char **params, char *org, char *uid,
    size_t len)
{
    if (vbp_actor_int(call, "org_id", org, len) != 0
        || vbp_actor_int(call, "uid", uid, len) != 0
        || vbp_actor_str(call, "role") == NULL
        || vbp_actor_path(call) == NULL)
    {
        vbp_fail_unauthenticated(call);
        return -1;
    }

    params[0] = vbp_actor_str(call, "role");
    params[1] = vbp_actor_path(call);
    params[2] = org;
    params[3] = uid;

    return 0;
}


/*
 * A batch refused for more than one item: the message names them all (the
 * first ten, with their states), so that the clerk who ticked 全选 learns
 * which rows to leave out; the status and code stay the first refusal's.
 */
static void
chain_refused_batch(vbp_call_t *call, PGresult *res, int refused)
{
    int          row, named, hidden;
    char         msg[2048];
    size_t       len;
    json_t      *m;
    const char  *act;

    if (call->error == NULL) {
        return;
    }

    act = "执行此操作";
    for (row = 0; row < PQntuples(res); row++) {
        if (*PQgetvalue(res, row, 5)) {
            act = PQgetvalue(res, row, 5);
            break;
        }
    }

    len = (size_t) snprintf(msg, sizeof(msg), "选中的记录中有 %d 项不能%s，"
                            "未做任何修改：", refused, act);
    named = hidden = 0;

    for (row = 0; row < PQntuples(res) && len < sizeof(msg); row++) {
        if (strcmp(PQgetvalue(res, row, 1), "ok") == 0) {
            continue;
        }

        /* out of scope is nameless: counted, never named */
        if (strcmp(PQgetvalue(res, row, 1), "not_found") == 0) {
            hidden++;
            continue;
        }

        if (named == 10) {
            len += (size_t) snprintf(msg + len, sizeof(msg) - len, " 等");
            break;
        }

        len += (size_t) snprintf(msg + len, sizeof(msg) - len, "%s%s（%s）",
                                 named ? "、" : "", PQgetvalue(res, row, 4),
                                 PQgetvalue(res, row, 2));
        named++;
    }

    if (hidden && len < sizeof(msg)) {
        (void) snprintf(msg + len, sizeof(msg) - len,
                        "%s%d 项未找到或不在管辖范围内", named ? "；" : "",
                        hidden);
    }

    m = json_string(msg);
    if (m != NULL) {
        (void) json_object_set_new(call->error, "message", m);
    }
}


/*
 * Fire an action of a chain on items ("{1,2}"), all or none.  The call is
 * answered with the refusal, or *moved (when asked for) holds the moved
 * items [{id, name, from, to}].  Returns -1 only on a database failure.
 */
int
vbp_chain_fire_call(vbp_call_t *call, const char *chain, const char *action,
    const char *ids, const char *reason, json_t **moved)
{
    int          row, refused;
    char         org[24], uid[24];
    json_t      *items;
    PGresult    *res;
    const char  *params[10];

    if (chain_actor(call, params + 3, org, uid, sizeof(org)) != 0) {
        return 0;
    }

    params[0] = chain;
    params[1] = action;
    params[2] = ids;
    params[7] = vbp_actor_str(call, "username");
    params[8] = vbp_call_ip(call);
    params[9] = reason;

    res = vbp_db_query(call->db, "chain_fire", 10, params);
    if (res == NULL) {
        return -1;
    }

    refused = 0;

    for (row = 0; row < PQntuples(res); row++) {
        if (strcmp(PQgetvalue(res, row, 1), "ok") != 0) {
            if (refused++ == 0) {
                vbp_chain_refused(call, PQgetvalue(res, row, 1),
                                  PQgetvalue(res, row, 2),
                                  PQgetvalue(res, row, 3),
                                  PQgetvalue(res, row, 4),
                                  PQgetvalue(res, row, 5));
            }
        }
    }

    /* rows ticked in states the action does not start from (全选):
     * named; a window, a reason or the level above is said once */
    for (row = 0; refused > 1 && row < PQntuples(res); row++) {
        if (strcmp(PQgetvalue(res, row, 1), "state") == 0) {
            chain_refused_batch(call, res, refused);
            break;
        }
    }

    if (refused) {
        items = json_array();

        /* what is out of scope stays nameless and stateless */
        for (row = 0; items && row < PQntuples(res); row++) {
            if (strcmp(PQgetvalue(res, row, 1), "not_found") == 0) {
                (void) json_array_append_new(items,
                    json_pack("{s:I, s:s}",
                              "id", (json_int_t) atoll(PQgetvalue(res, row,
                                                                  0)),
                              "refusal", "not_found"));
                continue;
            }

            (void) json_array_append_new(items,
                json_pack("{s:I, s:s, s:s, s:s}",
                          "id", (json_int_t) atoll(PQgetvalue(res, row, 0)),
                          "name", PQgetvalue(res, row, 4),
                          "state", PQgetvalue(res, row, 2),
                          "refusal", PQgetvalue(res, row, 1)));
        }

        if (items && call->error) {
            (void) json_object_set_new(call->error, "items", items);
        } else {
            json_decref(items);
        }

        PQclear(res);
        return 0;
    }

    if (moved) {
        *moved = json_array();

        for (row = 0; *moved && row < PQntuples(res); row++) {
            (void) json_array_append_new(*moved,
                json_pack("{s:I, s:s, s:s, s:s}",
                          "id", (json_int_t) atoll(PQgetvalue(res, row, 0)),
                          "name", PQgetvalue(res, row, 4),
                          "from", PQgetvalue(res, row, 3),
                          "to", PQgetvalue(res, row, 6)));
        }
    }

    PQclear(res);

    return (moved && *moved == NULL) ? -1 : 0;
}


/*
 * What the chain said of an item (vbp_chain_fire's outcome, the state's
 * title, the detail, the item's name, the action's title), in the
 * manuals' words, into MSG; the answer's status and code.  The one
 * wording of a refusal (answered) and of an action not offered (shown).
 */
static int
chain_refusal_text(const char *outcome, const char *state,
    const char *detail, const char *name, const char *action_title,
    char *msg, size_t len, const char **code)
{
    char         buf[1024], *w[4], *p;
    int          n;
    const char  *act;

    state = state ? state : "";
    detail = detail ? detail : "";
    name = name ? name : "";
    act = action_title && *action_title ? action_title : "执行此操作";

    if (strcmp(outcome, "not_found") == 0) {
        *code = "not_found";
        snprintf(msg, len, "未找到该记录，或不在您的管辖范围内");
        return 404;
    }

    if (strcmp(outcome, "no_action") == 0) {
        *code = "forbidden";
        snprintf(msg, len, "您不能对该记录执行此操作");
        return 403;
    }

    if (strcmp(outcome, "state") == 0) {
        *code = "wrong_state";
        snprintf(msg, len, "「%s」当前状态为「%s」，不能%s", name, state, act);
        return 409;
    }

    if (strcmp(outcome, "window") == 0) {
        /* detail: window|not_open or closed|opens|closes */
        *code = "outside_window";
        snprintf(buf, sizeof(buf), "%s", detail);
        for (n = 0, p = buf; n < 4 && p; n++) {
            w[n] = p;
            p = strchr(p, '|');
            if (p) {
                *p++ = '\0';
            }
        }

        if (n < 4) {
            snprintf(msg, len, "不在办理时间内，不能%s", act);

        } else if (strcmp(w[1], "closed") == 0) {
            snprintf(msg, len, "%s时间为 %s 至 %s，已于 %s 截止，不能%s",
                     chain_window_title(w[0]), w[2], w[3], w[3], act);
        } else {
            snprintf(msg, len, "%s时间为 %s 至 %s，尚未开始，不能%s",
                     chain_window_title(w[0]), w[2], w[3], act);
        }

        return 409;
    }

    if (strcmp(outcome, "reason") == 0) {
        *code = "invalid";
        snprintf(msg, len, "请填写%s的原因", act);
        return 422;
    }

    if (strcmp(outcome, "parent") == 0) {
        *code = "locked";
        snprintf(msg, len, "上一级的状态为「%s」，本级数据已锁定，不能%s",
                 detail, act);
        return 409;
    }

    if (strcmp(outcome, "children") == 0) {
        *code = "not_ready";
        snprintf(msg, len, "以下单位尚未审核通过，不能%s：%s", act, detail);
        return 409;
    }

    *code = "refused";
    snprintf(msg, len, "不能%s", act);
    return 409;
}


/*
 * The first refusal of a batch says what is wrong, in the manuals' words:
 * the chain's outcome for an item (vbp_chain_fire), its state's title, the
 * detail, its name and the action's title.
 */
void
vbp_chain_refused(vbp_call_t *call, const char *outcome, const char *state,
    const char *detail, const char *name, const char *action_title)
{
    int          status;
    char         msg[2048], window[16];
    const char  *code, *bar;

    status = chain_refusal_text(outcome, state, detail, name, action_title,
                                msg, sizeof(msg), &code);

    if (strcmp(outcome, "reason") == 0) {
        vbp_field_error(call, "reason", msg);
        return;
    }

    vbp_fail(call, status, code, msg);

    if (call->error == NULL) {
        return;
    }

    if (strcmp(outcome, "state") == 0) {
        (void) json_object_set_new(call->error, "state",
                                   json_string(state ? state : ""));

    } else if (strcmp(outcome, "window") == 0 && detail) {
        bar = strchr(detail, '|');
        snprintf(window, sizeof(window), "%.*s",
                 (int) (bar ? bar - detail : 0), detail);
        (void) json_object_set_new(call->error, "window",
                                   json_string(window));

    } else if (strcmp(outcome, "children") == 0) {
        (void) json_object_set_new(call->error, "blocking",
                                   json_string(detail ? detail : ""));
    }
}


/* the reason of an action: plain text, at most CHAIN_REASON_MAX */
const char *
vbp_chain_reason(vbp_call_t *call)
{
    return vbp_arg_string(call, "reason", 0, CHAIN_REASON_MAX, NULL);
}


/*
 * What the actor may do now to each item of ITEMS (objects with "id") of a
 * chain, as the chain would judge it: each item gets "actions" [{action,
 * title, reason_required}], "can" {action: true} and "actionable" (any
 * at all), so that a template offers exactly those, and "blocked"
 * {action: why} (and "blocked_list" [{action, title, why}]) for the
 * actions its state would allow but the window, the level above or the
 * items below do not.  0, or -1 on a database failure.
 */
int
vbp_chain_offer(vbp_call_t *call, const char *chain, json_t *items)
{
    int          row;
    size_t       i;
    char         org[24], uid[24], num[32], why[2048];
    json_t      *item, *actions, *can, *blocked;
    const char  *code;
    vbp_buf_t    ids;
    PGresult    *res;
    long long    id;
    const char  *params[5];

    if (json_array_size(items) == 0) {
        return 0;
    }

    if (chain_actor(call, params + 2, org, uid, sizeof(org)) != 0) {
        return 0;
    }

    vbp_buf_init(&ids);

    json_array_foreach(items, i, item) {
        snprintf(num, sizeof(num), "%s%" JSON_INTEGER_FORMAT, i ? "," : "{",
                 json_integer_value(json_object_get(item, "id")));

        if (vbp_buf_add(&ids, num, strlen(num)) != 0
            || json_object_set_new(item, "actions", json_array()) != 0
            || json_object_set_new(item, "can", json_object()) != 0
            || json_object_set_new(item, "blocked", json_object()) != 0
            || json_object_set_new(item, "blocked_list", json_array()) != 0)
        {
            vbp_buf_free(&ids);
            return -1;
        }
    }

    if (vbp_buf_add(&ids, "}", 2) != 0) {
        vbp_buf_free(&ids);
        return -1;
    }

    params[0] = chain;
    params[1] = ids.data;

    res = vbp_db_query(call->db, "chain_actions", 5, params);
    vbp_buf_free(&ids);

    if (res == NULL) {
        return -1;
    }

    for (row = 0; row < PQntuples(res); row++) {
        id = atoll(PQgetvalue(res, row, 0));

        json_array_foreach(items, i, item) {
            if (json_integer_value(json_object_get(item, "id")) != id) {
                continue;
            }

            actions = json_object_get(item, "actions");
            can = json_object_get(item, "can");
            blocked = json_object_get(item, "blocked");

            if (PQgetvalue(res, row, 4)[0] != '\0') {
                (void) chain_refusal_text(PQgetvalue(res, row, 4),
                                          PQgetvalue(res, row, 6),
                                          PQgetvalue(res, row, 5),
                                          PQgetvalue(res, row, 7),
                                          PQgetvalue(res, row, 2),
                                          why, sizeof(why), &code);

                if (json_object_set_new(blocked, PQgetvalue(res, row, 1),
                                        json_string(why)) != 0
                    || json_array_append_new(
                           json_object_get(item, "blocked_list"),
                           json_pack("{s:s, s:s, s:s}",
                                     "action", PQgetvalue(res, row, 1),
                                     "title", PQgetvalue(res, row, 2),
                                     "why", why)) != 0)
                {
                    PQclear(res);
                    return -1;
                }

                continue;
            }

            if (json_array_append_new(actions,
                    json_pack("{s:s, s:s, s:b}",
                              "action", PQgetvalue(res, row, 1),
                              "title", PQgetvalue(res, row, 2),
                              "reason_required",
                              PQgetvalue(res, row, 3)[0] == 't'))
                   != 0
                || json_object_set_new(can, PQgetvalue(res, row, 1),
                                       json_true()) != 0)
            {
                PQclear(res);
                return -1;
            }
        }
    }

    PQclear(res);

    /* any action at all; any that wants a reason (the form asks one) */
    json_array_foreach(items, i, item) {
        size_t   k;
        json_t  *a;
        int      reason = 0;

        json_array_foreach(json_object_get(item, "actions"), k, a) {
            reason |= json_is_true(json_object_get(a, "reason_required"));
        }

        if (json_object_set_new(item, "actionable",
                json_boolean(json_array_size(json_object_get(item, "actions"))
                             > 0)) != 0
            || json_object_set_new(item, "needs_reason",
                                   json_boolean(reason)) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/*
 * What a list's batch bar offers: data.batch {action: true} for every
 * action offered on some item of ITEMS (vbp_chain_offer), and "any" when
 * there is one at all -- a bar with nothing to do on this page is not
 * shown.  0, or -1.
 */
int
vbp_chain_batch(json_t *data, json_t *items)
{
    size_t       i, k;
    json_t      *batch, *item, *a;
    const char  *action;

    batch = json_object();
    if (batch == NULL) {
        return -1;
    }

    json_array_foreach(items, i, item) {
        json_array_foreach(json_object_get(item, "actions"), k, a) {
            action = json_string_value(json_object_get(a, "action"));
            if (action == NULL
                || json_object_set_new(batch, action, json_true()) != 0
                || json_object_set_new(batch, "any", json_true()) != 0)
            {
                json_decref(batch);
                return -1;
            }
        }
    }

    return json_object_set_new(data, "batch", batch) == 0 ? 0 : -1;
}


/*
 * One item in scope: header, files, history, the reason of the last return
 * (or request) and the actions the actor may take now.  A hospital reaches
 * only its own (org), a bureau what is below its region.  Answered into
 * call->data (404 for what the actor may not see); 0, or -1.
 */
int
vbp_chain_item(vbp_call_t *call, const char *id, const char *org)
{
    size_t       i;
    json_t      *detail, *events, *event, *one;
    PGresult    *res;
    const char  *params[3], *action;

    params[0] = id;
    params[1] = vbp_actor_path(call);
    params[2] = org;

    if (params[1] == NULL) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    res = vbp_db_query(call->db, "chain_item", 3, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", "未找到该记录，或不在您的管辖范围内");
        return 0;
    }

    detail = vbp_row_json(res, 0, chain_item_names, chain_item_types);
    PQclear(res);

    if (detail == NULL) {
        return -1;
    }

    res = vbp_db_query(call->db, "chain_events", 1, params);
    if (res == NULL) {
        json_decref(detail);
        return -1;
    }

    events = vbp_rows_json(res, chain_event_names, "ssssssss");
    PQclear(res);

    if (events == NULL || json_object_set_new(detail, "events", events) != 0) {
        json_decref(detail);
        return -1;
    }

    /* the last word that came with a reason -- a return, a refused
     * request, a request to withdraw -- shown at the top of the page where
     * the clerk who must act reads it; the filer's own saves since (a
     * returned filing mended) do not hide it */
    for (i = json_array_size(events); i > 0; i--) {
        event = json_array_get(events, i - 1);
        action = json_string_value(json_object_get(event, "action"));

        if (action == NULL || strcmp(action, "save") == 0
            || strcmp(action, "attach") == 0)
        {
            continue;
        }

        if (json_string_length(json_object_get(event, "reason")) == 0) {
            break;
        }

        one = json_deep_copy(event);
        if (one == NULL
            || json_object_set_new(one, "is_return",
                                   json_boolean(strcmp(action, "return")
                                                == 0)) != 0
            || json_object_set_new(one, "is_request",
                                   json_boolean(strcmp(action,
                                                       "request_withdraw")
                                                == 0)) != 0
            || json_object_set_new(detail, "last_reason", one) != 0)
        {
            json_decref(detail);
            return -1;
        }

        break;
    }

    res = vbp_db_query(call->db, "chain_files", 1, params);
    if (res == NULL) {
        json_decref(detail);
        return -1;
    }

    if (json_object_set_new(detail, "files",
                            vbp_rows_json(res, chain_file_names,
                                          "ssssisssbb"))
        != 0)
    {
        PQclear(res);
        json_decref(detail);
        return -1;
    }

    PQclear(res);

    /* the actions offered: the item itself as a list of one */
    one = json_array();
    if (one == NULL || json_array_append(one, detail) != 0
        || vbp_chain_offer(call, json_string_value(json_object_get(detail,
                                                                   "chain")),
                           one) != 0)
    {
        json_decref(one);
        json_decref(detail);
        return -1;
    }

    json_decref(one);

    json_decref(call->data);
    call->data = detail;

    return 0;
}
