/*
 * Sign-in, sign-out, password change and the home page (seeds 001, 004).
 *
 * A wrong captcha, an unknown user, a wrong password and a disabled account
 * all give the same answer.  Failures are counted per typed username, known
 * or not: five within 15 minutes lock that username for 15 minutes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "vbp.h"


#define LOGIN_FAILED  "用户名、密码或验证码错误"


static int auth_login(vbp_call_t *call);
static int auth_logout(vbp_call_t *call);
static int auth_change_password(vbp_call_t *call);
static int auth_home(vbp_call_t *call);
static int auth_login_failed(vbp_call_t *call, const char *username,
    const char *why);
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

    { "auth_locked",
      "SELECT 1 FROM login_locks WHERE username = $1 AND locked_until > now()" },

    /* the window restarts once 15 minutes have passed since it began */
    { "auth_fail",
      "INSERT INTO login_locks AS l (username, failures, window_start)"
      " VALUES ($1, 1, now())"
      " ON CONFLICT (username) DO UPDATE SET"
      "  failures = CASE WHEN l.window_start < now() - interval '15 minutes'"
      "             THEN 1 ELSE l.failures + 1 END,"
      "  window_start = CASE WHEN l.window_start < now() - interval '15 minutes'"
      "                 THEN now() ELSE l.window_start END,"
      "  locked_until = CASE WHEN l.window_start >= now() - interval '15 minutes'"
      "                  AND l.failures + 1 >= 5"
      "                 THEN now() + interval '15 minutes' ELSE NULL END"
      " RETURNING failures" },

    { "auth_clear",
      "DELETE FROM login_locks WHERE username = $1" },

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
    int          ok;
    char        *json;
    char         sid[64], csrf[64];
    json_t      *session;
    PGresult    *res, *user;
    long long    uid;
    const char  *username, *password, *params[1];

    username = vbp_arg_string(call, "username", 1, 64, "请输入用户名");
    password = vbp_arg_string(call, "password", 1, 128, "请输入密码");

    if (call->status) {
        return 0;
    }

    if (!call->captcha_ok) {
        return auth_login_failed(call, username, "captcha");
    }

    params[0] = username;

    res = vbp_db_query(call->db, "auth_locked", 1, params);
    if (res == NULL) {
        return -1;
    }

    ok = PQntuples(res) == 0;
    PQclear(res);

    if (!ok) {
        call->who = json_pack("{s:s}", "username", username);
        if (vbp_audit(call, "login_locked", "user", username, NULL, NULL,
                      NULL) != 0)
        {
            return -1;
        }

        call->commit_on_error = 1;
        vbp_fail(call, 423, "locked",
                 "登录失败次数过多，账户已锁定，请15分钟后再试");
        return 0;
    }

    user = vbp_db_query(call->db, "auth_user", 1, params);
    if (user == NULL) {
        return -1;
    }

    /* the hash is checked even for a disabled account: same time, same answer */
    ok = vbp_password_verify(PQntuples(user) ? PQgetvalue(user, 0, U_HASH)
                                             : NULL, password)
         && strcmp(PQgetvalue(user, 0, U_ACTIVE), "t") == 0;

    if (!ok) {
        PQclear(user);
        return auth_login_failed(call, username, "password");
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

    res = vbp_db_query(call->db, "auth_clear", 1, params);
    if (res == NULL) {
        json_decref(session);
        return -1;
    }

    PQclear(res);

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
        free(json);
        json_decref(session);
        vbp_fail(call, 503, "unavailable", "服务暂时不可用，请稍后再试");
        return 0;
    }

    free(json);

    call->data = json_pack("{s:O, s:O}", "user", session,
                           "must_change_password",
                           json_object_get(session, "must_change_password"));
    (void) json_object_del(json_object_get(call->data, "user"), "csrf");
    call->extra = json_pack("{s:{s:s}}", "session", "id", sid);

    json_decref(session);

    return call->data && call->extra ? 0 : -1;
}


static int
auth_login_failed(vbp_call_t *call, const char *username, const char *why)
{
    PGresult    *res;
    const char  *params[1];

    params[0] = username;

    /* a wrong captcha says nothing about the password: not counted */
    if (strcmp(why, "captcha") != 0) {
        res = vbp_db_query(call->db, "auth_fail", 1, params);
        if (res == NULL) {
            return -1;
        }

        PQclear(res);
    }

    call->who = json_pack("{s:s}", "username", username);

    if (vbp_audit(call, "login_failed", "user", username, NULL, NULL, why)
        != 0)
    {
        return -1;
    }

    call->commit_on_error = 1;
    vbp_fail(call, 401, "login_failed", LOGIN_FAILED);

    return 0;
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


static int
auth_change_password(vbp_call_t *call)
{
    char         uid[24], hash[crypto_pwhash_STRBYTES];
    PGresult    *res;
    const char  *old, *new, *confirm, *why, *params[2];

    old = vbp_arg_string(call, "old_password", 1, 128, "请输入原密码");
    new = vbp_arg_string(call, "new_password", 1, 128, "请输入新密码");
    confirm = vbp_arg_string(call, "confirm_password", 1, 128,
                             "请再次输入新密码");

    if (call->status) {
        return 0;
    }

    why = vbp_password_policy(new, old, json_string_value(
                                  json_object_get(call->actor, "username")));
    if (why) {
        vbp_field_error(call, "new_password", why);
        return 0;
    }

    if (strcmp(new, confirm) != 0) {
        vbp_field_error(call, "confirm_password", "两次输入的新密码不一致");
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
        vbp_field_error(call, "old_password", "原密码不正确");
        return 0;
    }

    PQclear(res);

    if (vbp_password_hash(new, hash, sizeof(hash)) != 0) {
        return -1;
    }

    params[1] = hash;

    if (vbp_db_run(call->db, "auth_set_password", 2, params) != 0) {
        return -1;
    }

    if (vbp_audit(call, "password_changed", "user",
                  json_string_value(json_object_get(call->actor, "username")),
                  NULL, NULL, NULL) != 0)
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
    { "account.password", "修改密码", "/password" },
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
    json_t      *menu, *perms, *p;
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

    call->data = json_pack("{s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:o,"
                           " s:I}",
                           "org", "code", PQgetvalue(res, 0, 0),
                           "name", PQgetvalue(res, 0, 1),
                           "kind", role,
                           "category", PQgetvalue(res, 0, 3),
                           "region", PQgetvalue(res, 0, 4),
                           "role", role,
                           "role_title", title,
                           "menu", menu ? menu : json_array(),
                           "sub_accounts",
                           (json_int_t) atoll(PQgetvalue(res, 0, 5)));
    PQclear(res);

    return call->data ? 0 : -1;
}
