/*
 * Operations: the registry, the transaction around each one, the answer
 * frame, and the helpers every domain file uses (errors the UI shows next
 * to a field, argument checks, the audit record).
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "vbp.h"


static const vbp_op_t  *vbp_op_lists[] = {
    vbp_auth_ops,
    vbp_org_ops,
    NULL
};


const vbp_stmt_t  vbp_ops_stmts[] = {

    { "audit_insert",
      "INSERT INTO audit_log (actor_user_id, actor_name, actor_org_id, ip,"
      " action, target_type, target_id, from_state, to_state, reason)"
      " VALUES ($1, $2, $3, $4::inet, $5, $6, $7, $8, $9, $10)" },

    { NULL, NULL }
};




const vbp_op_t *
vbp_op_find(const char *name)
{
    size_t           i;
    const vbp_op_t  *op;

    for (i = 0; vbp_op_lists[i]; i++) {
        for (op = vbp_op_lists[i]; op->name; op++) {
            if (strcmp(op->name, name) == 0) {
                return op;
            }
        }
    }

    return NULL;
}


/*
 * one operation, one transaction; a connection lost before COMMIT was sent
 * changed nothing, so the operation is run once more on a new connection
 */
void
vbp_call_run(vbp_call_t *call, vbp_db_t *db)
{
    int              attempt, rc;
    const vbp_op_t  *op;

    call->db = db;

    op = call->op ? vbp_op_find(call->op) : NULL;
    if (op == NULL) {
        vbp_fail(call, 404, "unknown_operation", "未知的操作");
        return;
    }

    if (op->needs_actor && !json_is_object(call->actor)) {
        vbp_fail(call, 401, "unauthenticated", "未登录或登录已超时，请重新登录");
        return;
    }

    for (attempt = 0; attempt < 2; attempt++) {
        vbp_call_reset(call);

        if (db->broken && vbp_db_connect(db) != 0) {
            break;
        }

        /*
         * a read of one statement is a transaction by itself: BEGIN and
         * COMMIT would triple the round trips of the busiest requests
         */
        if (op->one_statement) {
            rc = op->handler(call);

            if (rc != 0 && db->broken) {
                continue;
            }

            if (rc != 0) {
                vbp_call_reset(call);
                vbp_fail(call, 500, "internal", "系统内部错误，请稍后再试");
            }

            return;
        }

        if (vbp_db_exec(db, "BEGIN") != 0) {
            continue;
        }

        rc = op->handler(call);

        if (rc != 0) {
            (void) vbp_db_exec(db, "ROLLBACK");

            if (db->broken) {
                continue;
            }

            vbp_call_reset(call);
            vbp_fail(call, 500, "internal", "系统内部错误，请稍后再试");
            return;
        }

        if (call->status >= 400 && !call->commit_on_error) {
            (void) vbp_db_exec(db, "ROLLBACK");
            return;
        }

        if (vbp_db_exec(db, "COMMIT") != 0) {
            vbp_call_reset(call);
            vbp_fail(call, 503, "unavailable", "数据库暂时不可用，请稍后再试");
            return;
        }

        return;
    }

    vbp_call_reset(call);
    vbp_fail(call, 503, "unavailable", "数据库暂时不可用，请稍后再试");
}


void
vbp_call_reset(vbp_call_t *call)
{
    json_decref(call->data);
    json_decref(call->error);
    json_decref(call->extra);
    json_decref(call->who);

    call->who = NULL;
    call->data = NULL;
    call->error = NULL;
    call->extra = NULL;
    call->status = 0;
    call->commit_on_error = 0;
}


json_t *
vbp_call_answer(vbp_call_t *call)
{
    json_t  *answer;

    answer = json_object();
    if (answer == NULL) {
        return NULL;
    }

    if (call->status == 0) {
        call->status = 200;
    }

    if (json_object_set_new(answer, "status", json_integer(call->status))) {
        json_decref(answer);
        return NULL;
    }

    if (call->status < 400) {
        (void) json_object_set_new(answer, "data",
                                   call->data ? json_incref(call->data)
                                              : json_object());

    } else {
        (void) json_object_set(answer, "error", call->error);
    }

    if (call->extra) {
        (void) json_object_update(answer, call->extra);
    }

    return answer;
}


void
vbp_fail(vbp_call_t *call, int status, const char *code, const char *message)
{
    json_t  *fields;

    /* field messages collected so far stay with the error */
    fields = call->error ? json_object_get(call->error, "fields") : NULL;
    fields = fields ? json_incref(fields) : json_object();

    json_decref(call->error);
    call->error = json_pack("{s:s, s:s, s:o}", "code", code,
                            "message", message, "fields", fields);
    call->status = status;
}


/* validation errors collect per field; the first one sets the message */
void
vbp_field_error(vbp_call_t *call, const char *field, const char *message)
{
    json_t  *fields;

    if (call->error == NULL) {
        call->error = json_pack("{s:s, s:s, s:{}}", "code", "invalid",
                                "message", "请检查填写的内容", "fields");
        call->status = 422;
    }

    fields = json_object_get(call->error, "fields");

    if (fields && json_object_get(fields, field) == NULL) {
        (void) json_object_set_new(fields, field, json_string(message));
    }
}


/* a required string argument of min..max characters (UTF-8) */
const char *
vbp_arg_string(vbp_call_t *call, const char *name, size_t min, size_t max,
    const char *missing)
{
    size_t       chars;
    json_t      *v;
    const char  *s, *p;

    v = json_object_get(call->args, name);

    if (v == NULL || json_is_null(v)
        || (json_is_string(v) && json_string_length(v) == 0))
    {
        if (min > 0) {
            vbp_field_error(call, name, missing);
        }

        return min > 0 ? NULL : "";
    }

    if (!json_is_string(v)) {
        vbp_field_error(call, name, "应为文本");
        return NULL;
    }

    s = json_string_value(v);

    if (strlen(s) != json_string_length(v)) {
        vbp_field_error(call, name, "含有不允许的字符");
        return NULL;
    }

    for (chars = 0, p = s; *p; p++) {
        chars += ((unsigned char) *p & 0xC0) != 0x80;
    }

    if (chars < min || chars > max) {
        char  msg[64];

        snprintf(msg, sizeof(msg), "长度应为 %zu 到 %zu 个字符", min, max);
        vbp_field_error(call, name, msg);
        return NULL;
    }

    return s;
}


/* the actor's numeric field as text, for a statement parameter */
int
vbp_actor_int(vbp_call_t *call, const char *key, char *buf, size_t len)
{
    json_t  *v;

    v = json_object_get(call->actor, key);
    if (!json_is_integer(v)) {
        return -1;
    }

    snprintf(buf, len, "%lld", (long long) json_integer_value(v));

    return 0;
}


int
vbp_audit(vbp_call_t *call, const char *action, const char *target_type,
    const char *target_id, const char *from, const char *to,
    const char *reason)
{
    char             uid[24], org[24];
    json_t          *who, *v;
    PGresult        *res;
    const char      *name, *params[10];
    unsigned char    addr[16];

    who = call->who ? call->who : call->actor;
    name = json_string_value(json_object_get(who, "username"));

    v = json_object_get(who, "uid");
    snprintf(uid, sizeof(uid), "%lld", (long long) json_integer_value(v));
    params[0] = json_is_integer(v) ? uid : NULL;
    params[1] = name ? name : "";

    v = json_object_get(who, "org_id");
    snprintf(org, sizeof(org), "%lld", (long long) json_integer_value(v));
    params[2] = json_is_integer(v) ? org : NULL;

    /* nginx says "unix:" for clients on a unix socket: no address then */
    params[3] = call->ip && (inet_pton(AF_INET, call->ip, addr) == 1
                             || inet_pton(AF_INET6, call->ip, addr) == 1)
                ? call->ip : NULL;
    params[4] = action;
    params[5] = target_type ? target_type : "";
    params[6] = target_id ? target_id : "";
    params[7] = from;
    params[8] = to;
    params[9] = reason;

    res = vbp_db_query(call->db, "audit_insert", 10, params);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);

    return 0;
}
