/*
 * Sign-in, sign-out, password change and the home page (seeds 001, 004).
 *
 * A wrong captcha, an unknown user and a wrong password all give the same
 * answer; a disabled account says so only after its correct password.  Failures are counted per pair of typed
 * username (known or not) and client address: five within 15 minutes lock
 * that username for that client for 15 minutes, so an attacker locks out
 * itself and not the owner at another desk.  A wrong old password in a
 * password change counts the same way.  A manager lifts a lock (解锁).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "vbp.h"


#define LOGIN_FAILED           "用户名、密码或验证码错误"
#define AUTH_MAX_FAILURES      5
#define AUTH_MAX_FAILURES_SQL  "5"


typedef struct {
    const char  *params[2];     /* the pair: username, client */
    int          failures;
    int          locked;
    char         until[8];      /* HH:MI (Beijing time) the lock ends */
} auth_pair_t;


static int auth_login(vbp_call_t *call);
static int auth_logout(vbp_call_t *call);
static int auth_change_password(vbp_call_t *call);
static int auth_home(vbp_call_t *call);
static int auth_login_failed(vbp_call_t *call, auth_pair_t *pair,
    const char *why);
static int auth_pair_begin(vbp_call_t *call, auth_pair_t *pair,
    const char *username);
static int auth_pair_fail(vbp_call_t *call, auth_pair_t *pair);
static int auth_pair_left(auth_pair_t *pair);
static void auth_pair_attempts(vbp_call_t *call, auth_pair_t *pair);
static void auth_pair_refuse(vbp_call_t *call, const char *field,
    const char *code, const char *message, auth_pair_t *pair);
static json_t *auth_session(vbp_call_t *call, PGresult *user,
    const char *csrf);
static long long auth_uid(vbp_call_t *call);


const vbp_op_t  vbp_auth_ops[] = {
    { "auth.login", auth_login, 0, 0, NULL, NULL, NULL },
    { "auth.logout", auth_logout, 1, 0, NULL, NULL, NULL },
    { "auth.change_password", auth_change_password, 1, 0, NULL, NULL, NULL },
    { "auth.home", auth_home, 1, 1, "home", NULL, NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


const vbp_stmt_t  vbp_auth_stmts[] = {

    /*
     * an attempt of a (username, client) pair begins: a window older than
     * 15 minutes without a running lock starts again; the row stays locked
     * until the attempt commits, so parallel guesses of one pair wait for
     * each other and a lock is never overtaken
     */
    { "auth_attempt",
      "INSERT INTO login_locks AS l (username, client, failures, window_start)"
      " VALUES ($1, $2, 0, now())"
      " ON CONFLICT (username, client) DO UPDATE SET"
      "  failures = CASE WHEN l.window_start < now() - interval '15 minutes'"
      "              AND NOT COALESCE(l.locked_until > now(), false)"
      "             THEN 0 ELSE l.failures END,"
      "  window_start = CASE WHEN l.window_start < now() - interval '15 minutes'"
      "              AND NOT COALESCE(l.locked_until > now(), false)"
      "             THEN now() ELSE l.window_start END"
      " RETURNING failures, COALESCE(locked_until > now(), false),"
      "  COALESCE(to_char(locked_until AT TIME ZONE 'Asia/Shanghai',"
      "                   'HH24:MI'), '')" },

    { "auth_fail",
      "UPDATE login_locks SET failures = failures + 1,"
      "  locked_until = CASE WHEN failures + 1 >= " AUTH_MAX_FAILURES_SQL
      "   THEN now() + interval '15 minutes' END"
      " WHERE username = $1 AND client = $2 RETURNING failures,"
      "  COALESCE(to_char(locked_until AT TIME ZONE 'Asia/Shanghai',"
      "                   'HH24:MI'), '')" },

    { "auth_clear",
      "DELETE FROM login_locks WHERE username = $1 AND client = $2" },

    /* a refusal sweeps a few pairs nobody used for a day */
    { "auth_sweep",
      "DELETE FROM login_locks WHERE ctid IN (SELECT ctid FROM login_locks"
      "  WHERE window_start < now() - interval '1 day'"
      "   AND (locked_until IS NULL OR locked_until < now()) LIMIT 10)" },

    { "auth_user",
      "SELECT u.id, u.username, u.display_name, u.password_hash,"
      "  u.status = 'active' AND o.status = 'active'"
      "   AND (u.parent_user_id IS NULL OR EXISTS (SELECT 1 FROM users m"
      "        WHERE m.id = u.parent_user_id AND m.status = 'active')),"
      "  u.must_change_password, u.parent_user_id IS NULL,"
      "  o.id, o.code, o.name, o.kind,"
      "  r.id, r.code, r.name, r.level, r.path"
      " FROM users u JOIN orgs o ON o.id = u.org_id"
      "  JOIN regions r ON r.id = o.region_id"
      " WHERE u.username = $1" },

    { "auth_signed_in",
      "UPDATE users SET last_login_at = now() WHERE id = $1" },

    /*
     * a main account holds all of its kind; a sub-account the implicit
     * ones, what it was given, and the groups of what it was given
     */
    { "auth_permissions",
      "SELECT p.code FROM permissions p"
      " WHERE $2 = ANY (p.kinds)"
      "  AND ($3::boolean OR p.implicit"
      "       OR EXISTS (SELECT 1 FROM user_permissions g"
      "        JOIN permissions l ON l.code = g.permission"
      "        WHERE g.user_id = $1"
      "         AND (l.code = p.code OR (p.is_group AND l.parent = p.code))))"
      " ORDER BY p.sort" },

    { "auth_password_row",
      "SELECT password_hash, username FROM users WHERE id = $1 FOR UPDATE" },

    { "auth_set_password",
      "UPDATE users SET password_hash = $2, must_change_password = false,"
      "  password_changed_at = now(), updated_at = now() WHERE id = $1" },

    { "auth_home_org",
      "SELECT o.code, o.name, o.kind, o.category, r.name,"
      "  (SELECT count(*) FROM users s WHERE s.parent_user_id = $2)"
      " FROM orgs o JOIN regions r ON r.id = o.region_id WHERE o.id = $1" },

    { NULL, NULL }
};


/* column numbers of auth_user */
enum {
    U_ID, U_USERNAME, U_NAME, U_HASH, U_ACTIVE, U_MUST_CHANGE, U_MAIN,
    O_ID, O_CODE, O_NAME, O_KIND, R_ID, R_CODE, R_NAME, R_LEVEL, R_PATH
};


static int
auth_login(vbp_call_t *call)
{
    int           ok;
    char         *json;
    char          sid[64], csrf[64];
    json_t       *session;
    PGresult     *user;
    long long     uid;
    const char   *username, *password, *params[1];
    auth_pair_t   pair;

    username = vbp_arg_string(call, "username", 1, 64, "请输入用户名");
    password = vbp_arg_string(call, "password", 1, 128, "请输入密码");

    if (call->status) {
        return 0;
    }

    if (auth_pair_begin(call, &pair, username) != 0) {
        return -1;
    }

    if (pair.locked) {
        return auth_login_failed(call, &pair, NULL);
    }

    if (!call->captcha_ok) {
        return auth_login_failed(call, &pair, "captcha");
    }

    params[0] = username;

    user = vbp_db_query(call->db, "auth_user", 1, params);
    if (user == NULL) {
        return -1;
    }

    /* the hash is checked even for an unknown account: the same time */
    ok = vbp_password_verify(PQntuples(user) ? PQgetvalue(user, 0, U_HASH)
                                             : NULL, password);

    /*
     * only who knows the password learns that the account is disabled:
     * a wrong password still gets the one answer of every failure
     */
    if (ok && strcmp(PQgetvalue(user, 0, U_ACTIVE), "t") != 0) {
        PQclear(user);

        call->who = json_pack("{s:s}", "username", username);

        if (vbp_audit(call, "login_failed", "user", username, NULL, NULL,
                      "disabled")
            != 0)
        {
            return -1;
        }

        call->commit_on_error = 1;
        vbp_fail(call, 403, "account_disabled",
                 "账号已停用，请联系您的管理单位启用");
        return 0;
    }

    if (!ok) {
        PQclear(user);

        if (auth_pair_fail(call, &pair) != 0) {
            return -1;
        }

        return auth_login_failed(call, &pair, "password");
    }

    uid = atoll(PQgetvalue(user, 0, U_ID));

    if (vbp_random_token(sid, 32) != 0 || vbp_random_token(csrf, 24) != 0) {
        PQclear(user);
        return -1;
    }

    session = auth_session(call, user, csrf);
    PQclear(user);

    if (session == NULL) {
        return -1;
    }

    /* this client's failures are forgotten; other clients' stay counted */
    if (vbp_db_run(call->db, "auth_clear", 2, pair.params) != 0) {
        json_decref(session);
        return -1;
    }

    call->who = json_incref(session);

    if (vbp_audit(call, "login", "user", username, NULL, NULL, NULL) != 0) {
        json_decref(session);
        return -1;
    }

    /* a new id at every sign-in; the one the browser had is ended */
    if (call->sid && json_is_object(call->actor)) {
        (void) vbp_session_delete(call->sid, auth_uid(call));
    }

    json = json_dumps(session, JSON_COMPACT);

    if (json == NULL
        || vbp_session_store(sid, uid, json, call->session_ttl) != 0)
    {
        vbp_json_free(json);
        json_decref(session);
        vbp_fail(call, 503, "unavailable", "服务暂时不可用，请稍后再试");
        return 0;
    }

    vbp_json_free(json);

    call->data = json_pack("{s:O, s:O}", "user", session,
                           "must_change_password",
                           json_object_get(session, "must_change_password"));
    (void) json_object_del(json_object_get(call->data, "user"), "csrf");
    call->extra = json_pack("{s:{s:s}}", "session", "id", sid);

    json_decref(session);

    return call->data && call->extra ? 0 : -1;
}


/*
 * a refused sign-in, audited and committed with its count: why is
 * "captcha" (not counted: it says nothing of the password), "password",
 * or NULL for a pair that is locked
 */
static int
auth_login_failed(vbp_call_t *call, auth_pair_t *pair, const char *why)
{
    char  msg[160];

    /* every refusal sweeps a few pairs nobody used for a day: the table
     * stays the size of a day's failures, whatever usernames are typed */
    if (vbp_db_run(call->db, "auth_sweep", 0, NULL) != 0) {
        return -1;
    }

    call->who = json_pack("{s:s}", "username", pair->params[0]);

    if (vbp_audit(call, why ? "login_failed" : "login_locked", "user",
                  pair->params[0], NULL, NULL, why)
        != 0)
    {
        return -1;
    }

    call->commit_on_error = 1;

    if (why == NULL) {
        snprintf(msg, sizeof(msg), "登录失败次数过多，该账户在本机已锁定，"
                 "%s%s解锁，或请管理单位解锁", pair->until,
                 *pair->until ? " " : "15 分钟后");
        auth_pair_refuse(call, NULL, "locked", msg, pair);
        return 0;
    }

    if (auth_pair_left(pair) > 0) {
        snprintf(msg, sizeof(msg), "%s，还可尝试 %d 次", LOGIN_FAILED,
                 auth_pair_left(pair));
    } else {
        snprintf(msg, sizeof(msg), "%s。失败次数过多，该账户在本机已锁定，"
                 "%s%s解锁", LOGIN_FAILED, pair->until,
                 *pair->until ? " " : "15 分钟后");
    }

    vbp_fail(call, 401, "login_failed", msg);
    auth_pair_attempts(call, pair);

    return 0;
}


/* the attempt of a pair begins (auth_attempt); -1 on a database failure */
static int
auth_pair_begin(vbp_call_t *call, auth_pair_t *pair, const char *username)
{
    PGresult  *res;

    pair->params[0] = username;
    pair->params[1] = call->ip ? call->ip : "";

    res = vbp_db_query(call->db, "auth_attempt", 2, pair->params);
    if (res == NULL) {
        return -1;
    }

    pair->failures = atoi(PQgetvalue(res, 0, 0));
    pair->locked = PQgetvalue(res, 0, 1)[0] == 't';
    snprintf(pair->until, sizeof(pair->until), "%s", PQgetvalue(res, 0, 2));
    PQclear(res);

    return 0;
}


/* a wrong password of the pair: counted */
static int
auth_pair_fail(vbp_call_t *call, auth_pair_t *pair)
{
    PGresult  *res;

    res = vbp_db_query(call->db, "auth_fail", 2, pair->params);
    if (res == NULL) {
        return -1;
    }

    pair->failures = PQntuples(res) ? atoi(PQgetvalue(res, 0, 0))
                                    : AUTH_MAX_FAILURES;
    pair->locked = pair->failures >= AUTH_MAX_FAILURES;
    snprintf(pair->until, sizeof(pair->until), "%s",
             PQntuples(res) ? PQgetvalue(res, 0, 1) : "");
    PQclear(res);

    return 0;
}


static int
auth_pair_left(auth_pair_t *pair)
{
    return pair->failures < AUTH_MAX_FAILURES
           ? AUTH_MAX_FAILURES - pair->failures : 0;
}


/* the page tells the user how many attempts remain */
static void
auth_pair_attempts(vbp_call_t *call, auth_pair_t *pair)
{
    if (call->error) {
        (void) json_object_set_new(call->error, "attempts_left",
                                   json_integer(auth_pair_left(pair)));
    }
}


/* 423 for a pair that is locked, the message next to field if any */
static void
auth_pair_refuse(vbp_call_t *call, const char *field, const char *code,
    const char *message, auth_pair_t *pair)
{
    if (field) {
        vbp_field_error(call, field, message);
    }

    vbp_fail(call, 423, code, message);
    auth_pair_attempts(call, pair);
}


/* what the nginx module knows of a signed-in user, and nothing more */
static json_t *
auth_session(vbp_call_t *call, PGresult *user, const char *csrf)
{
    int          i;
    json_t      *session, *perms;
    PGresult    *res;
    const char  *params[3];

    params[0] = PQgetvalue(user, 0, U_ID);
    params[1] = PQgetvalue(user, 0, O_KIND);
    params[2] = PQgetvalue(user, 0, U_MAIN);

    res = vbp_db_query(call->db, "auth_permissions", 3, params);
    if (res == NULL) {
        return NULL;
    }

    perms = json_array();

    for (i = 0; perms && i < PQntuples(res); i++) {
        (void) json_array_append_new(perms,
                                     json_string(PQgetvalue(res, i, 0)));
    }

    PQclear(res);

    res = vbp_db_query(call->db, "auth_signed_in", 1, params);
    if (res == NULL) {
        json_decref(perms);
        return NULL;
    }

    PQclear(res);

    session = json_pack("{s:I, s:s, s:s, s:b, s:I, s:s, s:s, s:s,"
                        " s:{s:I, s:s, s:s, s:s, s:s}, s:o, s:b, s:s}",
                        "uid", (json_int_t) atoll(params[0]),
                        "username", PQgetvalue(user, 0, U_USERNAME),
                        "name", PQgetvalue(user, 0, U_NAME),
                        "main_account", params[2][0] == 't',
                        "org_id", (json_int_t) atoll(PQgetvalue(user, 0, O_ID)),
                        "org_code", PQgetvalue(user, 0, O_CODE),
                        "org_name", PQgetvalue(user, 0, O_NAME),
                        "role", PQgetvalue(user, 0, O_KIND),
                        "region",
                          "id", (json_int_t) atoll(PQgetvalue(user, 0, R_ID)),
                          "code", PQgetvalue(user, 0, R_CODE),
                          "name", PQgetvalue(user, 0, R_NAME),
                          "level", PQgetvalue(user, 0, R_LEVEL),
                          "path", PQgetvalue(user, 0, R_PATH),
                        "permissions", perms,
                        "must_change_password",
                          PQgetvalue(user, 0, U_MUST_CHANGE)[0] == 't',
                        "csrf", csrf);

    return session;
}


static long long
auth_uid(vbp_call_t *call)
{
    return (long long) json_integer_value(json_object_get(call->actor,
                                                          "uid"));
}


static int
auth_logout(vbp_call_t *call)
{
    if (vbp_audit(call, "logout", "user",
                  json_string_value(json_object_get(call->actor, "username")),
                  NULL, NULL, NULL) != 0)
    {
        return -1;
    }

    if (call->sid && vbp_session_delete(call->sid, auth_uid(call)) != 0) {
        vbp_fail(call, 503, "unavailable", "服务暂时不可用，请稍后再试");
        return 0;
    }

    call->data = json_pack("{s:s}", "message", "已退出登录");
    call->extra = json_pack("{s:b}", "clear_session", 1);

    return 0;
}


/*
 * a wrong old password counts against the pair (username, client) as a
 * wrong sign-in does: a stolen session cannot guess the password, and
 * every guess is audited
 */
static int
auth_change_password(vbp_call_t *call)
{
    char          uid[24], hash[crypto_pwhash_STRBYTES], msg[160];
    PGresult     *res;
    const char   *old, *new, *confirm, *why, *username, *params[2];
    auth_pair_t   pair;

    old = vbp_arg_string(call, "old_password", 1, 128, "请输入原密码");
    new = vbp_arg_string(call, "new_password", 1, 128, "请输入新密码");
    confirm = vbp_arg_string(call, "confirm_password", 1, 128,
                             "请再次输入新密码");
    username = vbp_actor_str(call, "username");

    if (call->status) {
        return 0;
    }

    if (username == NULL) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    why = vbp_password_policy(new, old, username);
    if (why) {
        vbp_field_error(call, "new_password", why);
        return 0;
    }

    if (strcmp(new, confirm) != 0) {
        vbp_field_error(call, "confirm_password", "两次输入的新密码不一致");
        return 0;
    }

    if (auth_pair_begin(call, &pair, username) != 0) {
        return -1;
    }

    if (pair.locked) {
        if (vbp_audit(call, "password_change_locked", "user", username, NULL,
                      NULL, NULL)
            != 0)
        {
            return -1;
        }

        call->commit_on_error = 1;
        auth_pair_refuse(call, "old_password", "locked",
                         "原密码错误次数过多，已锁定，请15分钟后再试"
                         "或联系管理员解锁", &pair);
        return 0;
    }

    snprintf(uid, sizeof(uid), "%lld", auth_uid(call));
    params[0] = uid;

    res = vbp_db_query(call->db, "auth_password_row", 1, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) != 1
        || !vbp_password_verify(PQgetvalue(res, 0, 0), old))
    {
        PQclear(res);

        if (auth_pair_fail(call, &pair) != 0
            || vbp_db_run(call->db, "auth_sweep", 0, NULL) != 0
            || vbp_audit(call, "password_change_failed", "user", username,
                         NULL, NULL, "old_password")
               != 0)
        {
            return -1;
        }

        call->commit_on_error = 1;

        if (pair.locked) {
            auth_pair_refuse(call, "old_password", "locked",
                             "原密码错误次数过多，已锁定 15 分钟", &pair);
            return 0;
        }

        snprintf(msg, sizeof(msg), "原密码不正确，还可尝试 %d 次",
                 auth_pair_left(&pair));
        vbp_field_error(call, "old_password", msg);
        auth_pair_attempts(call, &pair);
        return 0;
    }

    PQclear(res);

    if (vbp_password_hash(new, hash, sizeof(hash)) != 0) {
        return -1;
    }

    params[1] = hash;

    if (vbp_db_run(call->db, "auth_set_password", 2, params) != 0
        || vbp_db_run(call->db, "auth_clear", 2, pair.params) != 0)
    {
        return -1;
    }

    if (vbp_audit(call, "password_changed", "user", username, NULL, NULL,
                  NULL)
        != 0)
    {
        return -1;
    }

    /* every session of the user ends, this one too: sign in again */
    if (vbp_sessions_revoke(auth_uid(call)) != 0) {
        vbp_fail(call, 503, "unavailable", "服务暂时不可用，请稍后再试");
        return 0;
    }

    call->data = json_pack("{s:s}", "message", "密码已修改，请重新登录");
    call->extra = json_pack("{s:b}", "clear_session", 1);

    return 0;
}


/* the menu: only entries for features that exist, each behind its permission */
static const struct {
    const char  *permission;
    const char  *title;
    const char  *href;
} auth_menu[] = {
    { "home", "首页", "/" },
    { "admin.users", "用户管理", "/users" },
    { "admin.orgs", "机构管理", "/orgs" },
    { "admin.audit", "操作日志", "/audit" },
    { "account.subusers", "子用户管理", "/subusers" },
    { "account.password", "密码修改", "/password" },
    { NULL, NULL, NULL }
};


static const struct {
    const char  *kind;
    const char  *title;
} auth_roles[] = {
    { "alliance", "联采办" },
    { "province_bureau", "省级医保局" },
    { "city_bureau", "市级医保局" },
    { "hospital", "医疗机构" },
    { "manufacturer", "生产企业" },
    { NULL, NULL }
};


static int
auth_home(vbp_call_t *call)
{
    int          i;
    size_t       k;
    char         org[24], uid[24];
    json_t      *menu, *perms, *p, *deadlines, *notices;
    PGresult    *res;
    const char  *role, *title, *params[2];

    if (vbp_actor_int(call, "org_id", org, sizeof(org)) != 0
        || vbp_actor_int(call, "uid", uid, sizeof(uid)) != 0)
    {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    params[0] = org;
    params[1] = uid;

    res = vbp_db_query(call->db, "auth_home_org", 2, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", "单位不存在");
        return 0;
    }

    menu = json_array();
    perms = json_object_get(call->actor, "permissions");

    for (i = 0; menu && auth_menu[i].permission; i++) {
        json_array_foreach(perms, k, p) {
            if (json_is_string(p)
                && strcmp(json_string_value(p), auth_menu[i].permission) == 0)
            {
                (void) json_array_append_new(menu,
                           json_pack("{s:s, s:s}", "title", auth_menu[i].title,
                                     "href", auth_menu[i].href));
                break;
            }
        }
    }

    role = PQgetvalue(res, 0, 2);
    title = role;

    for (i = 0; auth_roles[i].kind; i++) {
        if (strcmp(auth_roles[i].kind, role) == 0) {
            title = auth_roles[i].title;
        }
    }

    deadlines = NULL;
    notices = NULL;
    if (vbp_review_deadlines(call, org, &deadlines) != 0
        || vbp_notices_home(call, &notices) != 0)
    {
        PQclear(res);
        json_decref(menu);
        json_decref(deadlines);
        return -1;
    }

    call->data = json_pack("{s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:o,"
                           " s:I, s:o, s:o}",
                           "org", "code", PQgetvalue(res, 0, 0),
                           "name", PQgetvalue(res, 0, 1),
                           "kind", role,
                           "category", PQgetvalue(res, 0, 3),
                           "region", PQgetvalue(res, 0, 4),
                           "role", role,
                           "role_title", title,
                           "menu", menu ? menu : json_array(),
                           "sub_accounts",
                           (json_int_t) atoll(PQgetvalue(res, 0, 5)),
                           /* an object only when there is something to do:
                            * the page's section then shows once */
                           "reminders", json_array_size(deadlines)
                                        ? json_pack("{s:o}", "items", deadlines)
                                        : (json_decref(deadlines), json_null()),
                           "notices", notices ? notices : json_null());
    PQclear(res);

    return call->data ? 0 : -1;
}
