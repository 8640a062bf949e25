/*
 * Operations: the registry, the transaction around each one, the answer
 * frame, and the helpers every domain file uses (errors the UI shows next
 * to a field, argument checks, the audit record).
 */

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbp.h"


static void vbp_call_refill(vbp_call_t *call, vbp_db_t *db);
static void vbp_call_attempt(vbp_call_t *call, const vbp_op_t *op,
    vbp_db_t *db);
static void vbp_call_flash(vbp_call_t *call);


static const vbp_op_t  *vbp_op_lists[] = {
    vbp_auth_ops,
    vbp_org_ops,
    vbp_user_ops,
    vbp_audit_ops,
    vbp_import_ops,
    vbp_review_ops,
    vbp_filing_ops,
    vbp_files_ops,
    vbp_notice_ops,
    NULL
};


const vbp_stmt_t  vbp_ops_stmts[] = {

    { "audit_insert",
      "INSERT INTO audit_log (actor_user_id, actor_name, actor_org_id, ip,"
      " action, target_type, target_id, from_state, to_state, reason,"
      " detail, scope_path)"
      " VALUES ($1, $2, $3, $4::inet, $5, $6, $7, $8, $9, $10,"
      "  COALESCE($11::jsonb, '{}'),"
      /* a failed sign-in of a known user is seen where that user is */
      "  COALESCE($12, (SELECT r.path FROM users u"
      "   JOIN orgs o ON o.id = u.org_id JOIN regions r ON r.id = o.region_id"
      "   WHERE u.username = $2)))" },

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
 * the call a frame asks for, which takes over the references to the frame
 * and to the actor (NULL: the frame's own member); its strings are
 * borrowed from them until vbp_call_end()
 */
void
vbp_call_init(vbp_call_t *call, json_t *frame, json_t *actor)
{
    json_t  *v;

    memset(call, 0, sizeof(vbp_call_t));

    call->frame = frame;
    call->op = json_string_value(json_object_get(frame, "op"));
    call->args = json_object_get(frame, "args");

    /* a JSON body nginx passed as it came that is no JSON object
     * (vbp_frame_decode) */
    call->bad_body = json_is_true(json_object_get(frame, "bad_body"));
    call->ip = json_string_value(json_object_get(frame, "ip"));
    call->sid = json_string_value(json_object_get(frame, "sid"));
    call->captcha_ok = json_is_true(json_object_get(frame, "captcha_ok"));
    call->page = json_is_true(json_object_get(frame, "page"));

    call->own_actor = actor;
    v = actor ? actor : json_object_get(frame, "actor");
    call->actor = json_is_object(v) ? v : NULL;

    v = json_object_get(frame, "session_ttl");
    call->session_ttl = json_is_integer(v) ? json_integer_value(v) : 1800;

    if (call->session_ttl < 1 || call->session_ttl > 7 * 86400) {
        call->session_ttl = 1800;
    }
}


/*
 * the operation the call names, once the arguments, the actor and the
 * operation's own permission allow it; NULL when the call is answered
 */
const vbp_op_t *
vbp_call_prepare(vbp_call_t *call)
{
    const vbp_op_t  *op;

    if (call->bad_body) {
        vbp_fail(call, 400, "bad_request", "请求体不是合法的 JSON 对象");
        return NULL;
    }

    if (!json_is_object(call->args)) {
        vbp_fail(call, 400, "bad_request", "请求参数应为 JSON 对象");
        return NULL;
    }

    op = call->op ? vbp_op_find(call->op) : NULL;
    if (op == NULL) {
        vbp_fail(call, 404, "unknown_operation", "未知的操作");
        return NULL;
    }

    call->variant = op->variant;

    if (op->needs_actor && !json_is_object(call->actor)) {
        vbp_fail_unauthenticated(call);
        return NULL;
    }

    /* nginx checked the route's permission; the operation checks its own */
    if (op->permission && !vbp_actor_has(call, op->permission)) {
        vbp_fail(call, 403, "forbidden", "没有此操作的权限");
        return NULL;
    }

    return op;
}


void
vbp_call_run(vbp_call_t *call, vbp_db_t *db)
{
    const vbp_op_t  *op;

    op = vbp_call_prepare(call);

    if (op != NULL) {
        vbp_call_execute(call, op, db);
    }

    vbp_call_refill(call, db);
    vbp_call_flash(call);
}


/*
 * An action of a list (nginx: vbp_back) returns to the list: its message,
 * or why it was refused, waits for that page, which asks for it with
 * "done" (see ngx_http_vbp_redirect_target) and shows data.flash.
 */
static void
vbp_call_flash(vbp_call_t *call)
{
    json_t      *flash;
    const char  *message;

    if (call->sid == NULL || *call->sid == '\0') {
        return;
    }

    if (json_is_true(json_object_get(call->frame, "flash"))) {
        /* a refused form is shown again (form_op), not left */
        if (call->status >= 500 || call->status == 401
            || call->status == 403
            || (call->status >= 400
                && json_object_get(call->frame, "form_op")))
        {
            return;
        }

        if (call->status >= 400) {
            message = vbp_error_text(call);
            flash = json_pack("{s:s}", "error", message ? message : "操作未完成");

        } else {
            message = json_string_value(json_object_get(call->data,
                                                        "message"));
            flash = json_pack("{s:s}", "notice", message ? message : "已完成");
        }

        if (flash) {
            vbp_flash_put(call->sid, flash);
            json_decref(flash);
        }

        return;
    }

    if (call->status < 400 && json_is_object(call->data)
        && json_object_get(call->args, "done"))
    {
        flash = vbp_flash_take(call->sid);

        if (flash) {
            (void) json_object_set_new(call->data, "flash", flash);
        }
    }
}


/*
 * A page that shows its form again after a POST shows it whole: nginx names
 * the operation its GET runs ("form_op"), and that operation is run after
 * the POST's transaction ended, with the arguments as posted, so the form
 * shows what was submitted (a choice the operation marks from the
 * arguments) or, where nothing was, what is stored.  Its data goes under
 * the POST's own (message, one-time password ...), beside the error of a
 * refused POST.  Skipped after a success that nginx answers with a
 * redirect ("form_on_error").
 */
static void
vbp_call_refill(vbp_call_t *call, vbp_db_t *db)
{
    json_t          *form, *value;
    const char      *name, *key;
    vbp_call_t       refill;
    const vbp_op_t  *op;

    name = json_string_value(json_object_get(call->frame, "form_op"));

    if (name == NULL || call->status >= 500
        || call->status == 401 || call->status == 403
        || (call->status < 400
            && json_is_true(json_object_get(call->frame, "form_on_error"))))
    {
        return;
    }

    refill = *call;
    refill.op = name;
    refill.status = 0;
    refill.data = NULL;
    refill.error = NULL;
    refill.extra = NULL;
    refill.who = NULL;
    refill.commit_on_error = 0;
    refill.refill = 1;
    refill.posted_error = call->error;

    op = vbp_call_prepare(&refill);

    if (op != NULL) {
        vbp_call_execute(&refill, op, db);
    }

    form = (refill.status < 400) ? json_incref(refill.data) : NULL;
    vbp_call_reset(&refill);

    if (!json_is_object(form)) {
        json_decref(form);
        return;
    }

    json_object_foreach(call->data, key, value) {
        (void) json_object_set(form, key, value);
    }

    if (call->status >= 400) {
        if (call->extra == NULL) {
            call->extra = json_object();
        }

        if (call->extra == NULL) {
            json_decref(form);
            return;
        }

        /* the answer frame carries "data" beside "error" */
        (void) json_object_set_new(call->extra, "data", form);
        return;
    }

    json_decref(call->data);
    call->data = form;
}


/*
 * one operation, one transaction; a connection lost before COMMIT was sent
 * changed nothing, so the operation is run once more on a new connection,
 * and so is one that lost a deadlock or a serialization conflict (rolled
 * back whole: it changed nothing either)
 */
void
vbp_call_execute(vbp_call_t *call, const vbp_op_t *op, vbp_db_t *db)
{
    vbp_call_attempt(call, op, db);

    /* what was sent ahead and not asked for (vbp_db_ahead) */
    vbp_db_ahead_clear(db);
}


static void
vbp_call_attempt(vbp_call_t *call, const vbp_op_t *op, vbp_db_t *db)
{
    int  attempt, rc;

    call->db = db;

    for (attempt = 0; attempt < 2; attempt++) {
        vbp_call_reset(call);
        vbp_db_ahead_clear(db);
        db->conflict = 0;

        if (db->broken && vbp_db_connect(db) != 0) {
            break;
        }

        /*
         * a read of one statement is a transaction by itself: BEGIN and
         * COMMIT would triple the round trips of the busiest requests
         */
        if (op->one_statement || op->read) {
            rc = op->read ? vbp_read_run(call, op->read) : op->handler(call);

            if (rc != 0 && (db->broken || db->conflict)) {
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

            if (db->broken || db->conflict) {
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
            if (db->conflict) {
                continue;
            }

            vbp_call_reset(call);
            vbp_fail(call, 503, "unavailable", "数据库暂时不可用，请稍后再试");
            return;
        }

        return;
    }

    vbp_call_reset(call);
    vbp_fail(call, 503, "unavailable", "数据库暂时不可用，请稍后再试");
}


/*
 * a pipelined read run the plain way, by a transaction child (or by a read
 * child that was sent something else): the same parameters and answer as
 * in the pipeline, so the two paths cannot drift apart
 */
int
vbp_read_run(vbp_call_t *call, const vbp_read_t *read)
{
    int            rc;
    PGresult      *res;
    vbp_params_t   params;

    rc = read->params(call, &params);
    if (rc != 0) {
        return rc > 0 ? 0 : -1;
    }

    res = vbp_db_query(call->db, read->stmt, params.n, params.values);
    if (res == NULL) {
        return -1;
    }

    rc = read->answer(call, res);
    PQclear(res);

    return rc;
}


/* the call made of a frame that could not be read: its answer is a 400 */
void
vbp_call_bad_frame(vbp_call_t *call)
{
    memset(call, 0, sizeof(vbp_call_t));
    vbp_fail(call, 400, "bad_frame", "请求格式错误");
}


/* the answer is sent: the call lets go of everything */
void
vbp_call_end(vbp_call_t *call)
{
    vbp_call_reset(call);

    json_decref(call->frame);
    json_decref(call->own_actor);

    call->frame = NULL;
    call->own_actor = NULL;
    call->actor = NULL;
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


/* the answer frame of the call: data below 400, the error from 400 on */
unsigned char *
vbp_call_encode(vbp_call_t *call, size_t *len)
{
    json_t         *empty, *value;
    const char     *key;
    unsigned char  *out;

    if (call->status == 0) {
        call->status = 200;
    }

    empty = NULL;

    if (call->status < 400) {
        key = "data";
        value = call->data ? call->data : (empty = json_object());

    } else {
        key = "error";
        value = call->error ? call->error : (empty = json_object());
    }

    out = value ? vbp_frame_encode_answer(call->status, call->extra, key,
                                          value, len)
                : NULL;

    json_decref(empty);

    return out;
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


/*
 * the words of a refusal for a place that shows one line (a list's banner,
 * an error page): a single field's own message says more than the general
 * "填写的内容有误"
 */
const char *
vbp_error_text(vbp_call_t *call)
{
    json_t  *fields;

    fields = json_object_get(call->error, "fields");

    if (json_object_size(fields) == 1) {
        return json_string_value(json_object_iter_value(
                                     json_object_iter(fields)));
    }

    return json_string_value(json_object_get(call->error, "message"));
}


/* validation errors collect per field; the first one sets the message */
void
vbp_field_error(vbp_call_t *call, const char *field, const char *message)
{
    json_t  *fields;

    if (call->error == NULL) {
        call->error = json_pack("{s:s, s:s, s:{}}", "code", "invalid",
                                "message", "填写的内容有误，请按各项下方的提示修改",
                                "fields");
        call->status = 422;
    }

    fields = json_object_get(call->error, "fields");

    if (fields && json_object_get(fields, field) == NULL) {
        (void) json_object_set_new(fields, field, json_string(message));
    }
}


/* the session lacks what an operation needs of the actor */
void
vbp_fail_unauthenticated(vbp_call_t *call)
{
    vbp_fail(call, 401, "unauthenticated", "未登录或登录已超时，请重新登录");
}


/* a unique rule said no (a username taken, a second main account): 409 */
void
vbp_conflict(vbp_call_t *call, const char *field, const char *message)
{
    vbp_field_error(call, field, message);
    vbp_fail(call, 409, "conflict", message);
}


/* a required string argument of min..max characters (UTF-8) */
const char *
vbp_arg_string(vbp_call_t *call, const char *name, size_t min, size_t max,
    const char *missing)
{
    size_t       chars;
    json_t      *v;
    const char  *s, *why;

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

    /* a NUL inside, a control or an invisible character: refused here,
     * once for every operation */
    why = vbp_text_check(s, json_string_length(v), &chars);
    if (why) {
        vbp_field_error(call, name, why);
        return NULL;
    }

    if (chars < min || chars > max) {
        char  msg[64];

        snprintf(msg, sizeof(msg), "长度应为 %zu 到 %zu 个字符", min, max);
        vbp_field_error(call, name, msg);
        return NULL;
    }

    return s;
}


/* a text of several lines (a notice's body): as vbp_arg_string(), with
 * line ends allowed; "" when absent, NULL (the error set) when wrong */
const char *
vbp_arg_text(vbp_call_t *call, const char *name, size_t max)
{
    char         msg[64];
    size_t       chars;
    json_t      *v;
    const char  *why;

    v = json_object_get(call->args, name);

    if (v == NULL || json_is_null(v)) {
        return "";
    }

    if (!json_is_string(v)) {
        vbp_field_error(call, name, "应为文本");
        return NULL;
    }

    why = vbp_text_check_lines(json_string_value(v), json_string_length(v),
                               &chars);
    if (why) {
        vbp_field_error(call, name, why);
        return NULL;
    }

    if (chars > max) {
        snprintf(msg, sizeof(msg), "最多 %zu 个字符", max);
        vbp_field_error(call, name, msg);
        return NULL;
    }

    return json_string_value(v);
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
    return vbp_audit_detail(call, action, target_type, target_id, from, to,
                            reason, NULL, NULL);
}


/*
 * detail: what changed (JSON, may be NULL, the reference is taken);
 * scope_path: the region path of the org the row concerns, NULL for the
 * acting user's own
 */
int
vbp_audit_detail(vbp_call_t *call, const char *action,
    const char *target_type, const char *target_id, const char *from,
    const char *to, const char *reason, json_t *detail,
    const char *scope_path)
{
    int              rc;
    char             uid[24], org[24], *detail_text;
    json_t          *who, *v;
    PGresult        *res;
    const char      *name, *params[12];

    who = call->who ? call->who : call->actor;
    name = json_string_value(json_object_get(who, "username"));

    v = json_object_get(who, "uid");
    snprintf(uid, sizeof(uid), "%lld", (long long) json_integer_value(v));
    params[0] = json_is_integer(v) ? uid : NULL;
    params[1] = name ? name : "";

    v = json_object_get(who, "org_id");
    snprintf(org, sizeof(org), "%lld", (long long) json_integer_value(v));
    params[2] = json_is_integer(v) ? org : NULL;

    params[3] = vbp_call_ip(call);
    params[4] = action;
    params[5] = target_type ? target_type : "";
    params[6] = target_id ? target_id : "";
    params[7] = from;
    params[8] = to;
    params[9] = reason;

    detail_text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);

    if (detail && detail_text == NULL) {
        return -1;
    }

    params[10] = detail_text;
    params[11] = scope_path ? scope_path
                 : json_string_value(json_object_get(
                       json_object_get(who, "region"), "path"));

    res = vbp_db_query(call->db, "audit_insert", 12, params);
    vbp_json_free(detail_text);

    rc = res ? 0 : -1;
    PQclear(res);

    return rc;
}


/* the client's address for an inet column, or NULL */
const char *
vbp_call_ip(vbp_call_t *call)
{
    unsigned char  addr[16];

    /* nginx says "unix:" for clients on a unix socket: no address then */
    return call->ip && (inet_pton(AF_INET, call->ip, addr) == 1
                        || inet_pton(AF_INET6, call->ip, addr) == 1)
           ? call->ip : NULL;
}


const char *
vbp_actor_str(vbp_call_t *call, const char *key)
{
    return json_string_value(json_object_get(call->actor, key));
}


const char *
vbp_actor_path(vbp_call_t *call)
{
    return json_string_value(json_object_get(
               json_object_get(call->actor, "region"), "path"));
}


int
vbp_actor_has(vbp_call_t *call, const char *permission)
{
    size_t   i;
    json_t  *p;

    json_array_foreach(json_object_get(call->actor, "permissions"), i, p) {
        if (json_is_string(p) && strcmp(json_string_value(p), permission) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* an integer argument given as a JSON number or as digits (forms) */
static int
vbp_json_long(json_t *v, long long min, long long max, long long *out)
{
    char        *end;
    long long    n;
    const char  *s;

    if (json_is_integer(v)) {
        n = json_integer_value(v);

    } else if (json_is_string(v)) {
        s = json_string_value(v);

        if (*s < '0' || *s > '9' || strlen(s) > 18) {
            return -1;
        }

        n = strtoll(s, &end, 10);
        if (*end != '\0') {
            return -1;
        }

    } else {
        return -1;
    }

    if (n < min || n > max) {
        return -1;
    }

    *out = n;

    return 0;
}


/*
 * page (from 1; "jump" is the pager's box) and per_page (10, 20, 50 or 100;
 * 20 when not given).  A page that is not a number is the first, one past
 * the end the last (vbp_list): a link or a typed number never shows an
 * empty page of a list that has rows
 */
int
vbp_arg_page(vbp_call_t *call, long *limit, long *offset, long *page)
{
    json_t     *v;
    long long   n;

    *page = 1;
    *limit = 20;

    v = json_object_get(call->args, "per_page");
    if (v && !(json_is_string(v) && json_string_length(v) == 0)) {
        if (vbp_json_long(v, 10, 100, &n) != 0
            || (n != 10 && n != 20 && n != 50 && n != 100))
        {
            vbp_field_error(call, "per_page", "每页条数应为 10、20、50 或 100");
            return -1;
        }

        *limit = (long) n;
    }

    v = json_object_get(call->args, "page");
    if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
        v = json_object_get(call->args, "jump");
    }

    if (v && vbp_json_long(v, 1, 1000000, &n) == 0) {
        *page = (long) n;

    } else if ((v && json_is_integer(v) && json_integer_value(v) > 1000000)
               || (v && json_is_string(v) && json_string_length(v) > 0
               && strspn(json_string_value(v), "0123456789")
                  == json_string_length(v)
               && strspn(json_string_value(v), "0")
                  != json_string_length(v)))
    {
        *page = 1000000;            /* a number past every list's end */
    }

    *offset = (*page - 1) * *limit;

    return 0;
}


/*
 * pages keep a chosen option selected: "status": "active" is echoed as
 * "chosen": {"status_active": true}, which a logic-less template can test
 */
static void
vbp_choice_flag(vbp_call_t *call, const char *name, const char *value)
{
    char     key[128];
    json_t  *chosen;

    chosen = json_object_get(call->extra, "chosen");

    if (chosen == NULL) {
        if (call->extra == NULL) {
            call->extra = json_object();
        }

        chosen = json_object();
        if (call->extra == NULL
            || json_object_set_new(call->extra, "chosen", chosen) != 0)
        {
            return;
        }
    }

    snprintf(key, sizeof(key), "%s_%s", name, value);
    (void) json_object_set_new(chosen, key, json_true());
}


/* an optional argument that must be one of choices ("" when not given) */
/* a checkbox or flag argument: true, 1, "1", "on" or "true" */
int
vbp_arg_flag(vbp_call_t *call, const char *name)
{
    json_t      *v;
    const char  *s;

    v = json_object_get(call->args, name);

    if (json_is_true(v) || (json_is_integer(v) && json_integer_value(v) == 1))
    {
        return 1;
    }

    s = json_string_value(v);

    return s && (strcmp(s, "1") == 0 || strcmp(s, "on") == 0
                 || strcmp(s, "true") == 0);
}


const char *
vbp_arg_choice(vbp_call_t *call, const char *name, const char *const *choices,
    const char *missing)
{
    json_t      *v;
    const char  *s;

    v = json_object_get(call->args, name);

    if (v == NULL || json_is_null(v)
        || (json_is_string(v) && json_string_length(v) == 0))
    {
        if (missing) {
            vbp_field_error(call, name, missing);
            return NULL;
        }

        return "";
    }

    s = json_string_value(v);

    for ( /* void */ ; s && *choices; choices++) {
        if (strcmp(s, *choices) == 0) {
            vbp_choice_flag(call, name, *choices);
            return *choices;
        }
    }

    vbp_field_error(call, name, "取值无效");

    return NULL;
}


/* a required positive id, as text for a statement parameter */
int
vbp_arg_id(vbp_call_t *call, const char *name, char *out, size_t len)
{
    long long  n;

    if (vbp_json_long(json_object_get(call->args, name), 1, 2147483647, &n)
        != 0)
    {
        vbp_field_error(call, name, "编号无效");
        return -1;
    }

    snprintf(out, len, "%lld", n);

    return 0;
}


/*
 * one id or a list of them (JSON array, or a repeated form field), as a
 * PostgreSQL array literal "{1,2,3}"; at most 500, duplicates kept once
 */
int
vbp_arg_ids(vbp_call_t *call, const char *name, char *out, size_t len,
    size_t *count)
{
    return vbp_arg_id_list(call, name, "账户", out, len, count);
}


/* the ids of a batch ("id" or "ids"), at most 500: noun names what they are */
int
vbp_arg_id_list(vbp_call_t *call, const char *name, const char *noun,
    char *out, size_t len, size_t *count)
{
    char        msg[64];
    size_t      i, j, n, used;
    json_t     *v, *item;
    long long   ids[500];

    v = json_object_get(call->args, name);
    n = 0;

    if (v && !json_is_array(v)) {
        if (vbp_json_long(v, 1, 2147483647, &ids[0]) != 0) {
            goto bad;
        }

        n = 1;

    } else {
        if (json_array_size(v) > 500) {
            snprintf(msg, sizeof(msg), "一次最多处理 500 个%s", noun);
            vbp_field_error(call, name, msg);
            return -1;
        }

        json_array_foreach(v, i, item) {
            if (vbp_json_long(item, 1, 2147483647, &ids[n]) != 0) {
                goto bad;
            }

            for (j = 0; j < n && ids[j] != ids[n]; j++) { /* void */ }

            n += j == n;
        }
    }

    if (n == 0) {
        snprintf(msg, sizeof(msg), "请先勾选要操作的%s", noun);
        vbp_field_error(call, name, msg);
        return -1;
    }

    used = (size_t) snprintf(out, len, "{");

    for (i = 0; i < n && used < len; i++) {
        used += (size_t) snprintf(out + used, len - used, "%s%lld",
                                  i ? "," : "", ids[i]);
    }

    if (used + 2 > len) {
        return -1;
    }

    out[used++] = '}';
    out[used] = '\0';
    *count = n;

    return 0;

bad:

    vbp_field_error(call, name, "编号无效");
    return -1;
}


/* "%s%" for LIKE, with the wildcards of the input taken literally */
const char *
vbp_like_pattern(const char *s, char *out, size_t len)
{
    size_t  n;

    if (len < 3) {
        return NULL;
    }

    n = 0;
    out[n++] = '%';

    for ( /* void */ ; *s; s++) {
        if (n + 4 > len) {
            return NULL;
        }

        if (*s == '%' || *s == '_' || *s == '\\') {
            out[n++] = '\\';
        }

        out[n++] = *s;
    }

    out[n++] = '%';
    out[n] = '\0';

    return out;
}


/*
 * one result row as an object; types, one letter a column: s text,
 * n text or null, i integer, I integer or null, b boolean, j JSON text
 */
json_t *
vbp_row_json(PGresult *res, int row, const char *const *names,
    const char *types)
{
    int          col;
    json_t      *obj, *v;
    const char  *text;

    obj = json_object();

    for (col = 0; obj && names[col]; col++) {
        text = PQgetvalue(res, row, col);

        if (PQgetisnull(res, row, col) && types[col] != 's') {
            v = json_null();

        } else {
            switch (types[col]) {
            case 'i':
            case 'I':
                v = json_integer(atoll(text));
                break;
            case 'b':
                v = json_boolean(text[0] == 't');
                break;
            case 'j':
                v = json_loads(text, 0, NULL);
                break;
            default:
                v = json_string(text);
            }
        }

        if (v == NULL || json_object_set_new(obj, names[col], v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }

    return obj;
}


json_t *
vbp_rows_json(PGresult *res, const char *const *names, const char *types)
{
    int      row;
    json_t  *items, *item;

    items = json_array();

    for (row = 0; items && row < PQntuples(res); row++) {
        item = vbp_row_json(res, row, names, types);

        if (item == NULL || json_array_append_new(items, item) != 0) {
            json_decref(items);
            return NULL;
        }
    }

    return items;
}


/*
 * a page of a list (steals items): the items, each with its row number
 * ("seq", the 序号 column), the total and where we are, the page numbers
 * to show (the first, the last and two either side of this one, gaps
 * marked) and the page sizes with the one in use marked
 */
json_t *
vbp_page_json(json_t *items, long long total, long page, long limit)
{
    long     pages, n;
    size_t   i;
    json_t  *item, *pager, *sizes, *out;
    static const int  per_page[] = { 10, 20, 50, 100 };

    if (items == NULL) {
        return NULL;
    }

    pages = total > 0 ? (long) ((total + limit - 1) / limit) : 1;

    json_array_foreach(items, i, item) {
        (void) json_object_set_new(item, "seq",
                   json_integer((json_int_t) (page - 1) * limit + i + 1));
    }

    pager = json_array();
    sizes = json_array();

    for (n = 1; pager && n <= pages; n++) {
        if (n == 1 || n == pages || (n >= page - 2 && n <= page + 2)) {
            (void) json_array_append_new(pager,
                       json_pack("{s:i, s:b}", "n", (int) n,
                                 "current", n == page));

        } else if (n == page - 3 || n == page + 3) {
            (void) json_array_append_new(pager, json_pack("{s:b}", "gap", 1));
        }
    }

    for (i = 0; sizes && i < sizeof(per_page) / sizeof(per_page[0]); i++) {
        (void) json_array_append_new(sizes,
                   json_pack("{s:i, s:b}", "value", per_page[i],
                             "selected", per_page[i] == limit));
    }

    out = json_pack("{s:o, s:I, s:i, s:i, s:i, s:b, s:b, s:i, s:i,"
                    " s:o*, s:o*}",
                    "items", items,
                    "total", (json_int_t) total,
                    "page", (int) page,
                    "per_page", (int) limit,
                    "pages", (int) pages,
                    "has_prev", page > 1,
                    "has_next", page < pages,
                    "prev_page", (int) (page > 1 ? page - 1 : 1),
                    "next_page", (int) (page < pages ? page + 1 : pages),
                    "pager", pager,
                    "per_page_options", sizes);

    return out;
}


/*
 * a paged list: count_stmt with params[0..n-1], then page_stmt with the
 * same and LIMIT, OFFSET as params n and n + 1 (params has room for them);
 * call->data is the page
 */
int
vbp_list(vbp_call_t *call, const char *count_stmt, const char *page_stmt,
    const char **params, int n, const char *const *names, const char *types)
{
    long         limit, offset, page;
    char         lim[24], off[24];
    json_t      *items;
    PGresult    *res;
    long long    total;

    if (vbp_arg_page(call, &limit, &offset, &page) != 0 || call->status) {
        return 0;
    }

    res = vbp_db_query(call->db, count_stmt, n, params);
    if (res == NULL) {
        return -1;
    }

    total = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);

    /* past the end: the last page */
    if (total > 0 && (long long) offset >= total) {
        page = (long) ((total + limit - 1) / limit);
        offset = (page - 1) * limit;

    } else if (total == 0) {
        page = 1;
        offset = 0;
    }

    snprintf(lim, sizeof(lim), "%ld", limit);
    snprintf(off, sizeof(off), "%ld", offset);
    params[n] = lim;
    params[n + 1] = off;

    res = vbp_db_query(call->db, page_stmt, n + 2, params);
    if (res == NULL) {
        return -1;
    }

    items = vbp_rows_json(res, names, types);
    PQclear(res);

    call->data = vbp_page_json(items, total, page, limit);

    return call->data ? 0 : -1;
}


void
vbp_buf_init(vbp_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->size = 0;
}


/* 0, or -1 when out of memory (the buffer stays as it was) */
int
vbp_buf_add(vbp_buf_t *b, const char *text, size_t n)
{
    char    *p;
    size_t   size;

    if (b->len + n > b->size) {
        size = b->size * 2 > b->len + n ? b->size * 2 : b->len + n + 512;

        p = realloc(b->data, size);
        if (p == NULL) {
            return -1;
        }

        b->data = p;
        b->size = size;
    }

    memcpy(b->data + b->len, text, n);
    b->len += n;

    return 0;
}


/* the same, as jansson's json_dump_callback() calls it */
int
vbp_buf_append(const char *text, size_t n, void *data)
{
    return vbp_buf_add(data, text, n);
}


void
vbp_buf_free(vbp_buf_t *b)
{
    free(b->data);
    vbp_buf_init(b);
}


/*
 * The file nginx wrote for this request (vbp_upload on), named in the
 * frame: its path, or NULL with the call answered (nothing sent, an empty
 * file, or a path that is not one of nginx's: never a path from elsewhere).
 */
const char *
vbp_upload_path(vbp_call_t *call, const char *field, const char *missing)
{
    size_t       dir_len;
    json_t      *upload;
    const char  *path;

    upload = json_object_get(call->frame, "upload");
    path = json_string_value(json_object_get(upload, "path"));

    if (path == NULL) {
        vbp_field_error(call, field, missing);
        return NULL;
    }

    if (json_integer_value(json_object_get(upload, "size")) <= 0) {
        vbp_field_error(call, field, "上传的文件是空的（0 字节），请检查后重新选择");
        return NULL;
    }

    dir_len = vbp_config.upload_dir ? strlen(vbp_config.upload_dir) : 0;

    if (dir_len == 0 || strncmp(path, vbp_config.upload_dir, dir_len) != 0
        || path[dir_len] != '/' || strstr(path, "/../") != NULL)
    {
        vbp_log("refused an upload outside the upload directory: %s", path);
        vbp_fail(call, 400, "bad_upload", "上传的文件无法读取");
        return NULL;
    }

    return path;
}
