/*
 * Accounts (seed 004 user management, seed 001 sub-user management, seeds
 * 000 and 002 password resets).
 *
 * Two kinds of manager share one implementation, told apart by a mode that
 * goes into every statement as $1 and is resolved by the SQL function
 * vbp_user_scope():
 *   "admin"  users.*     accounts of the orgs below the actor
 *                        (alliance > province > city > hospital)
 *   "sub"    subusers.*  the sub-accounts of the actor's own org
 * Parameters $2..$5 are always the actor's org kind, region path, org id and
 * user id, taken from the session, never from the client.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbp.h"


#define USER_ACTOR_PARAMS  5
#define USER_LOCK_COVERED  7    /* the column of user_lock: vbp_user_covers */
#define USER_PROBES_MAX    20   /* usernames found taken, per account ... */
#define USER_PROBE_WINDOW  600  /* ... in 10 minutes */
#define USER_IDS_MAX       (500 * 12 + 3)

#define USER_FROM                                                            \
    " FROM users u JOIN orgs o ON o.id = u.org_id"                           \
    " JOIN regions r ON r.id = o.region_id"

#define USER_IN_SCOPE                                                        \
    " vbp_user_scope($1, $2, $3, $4::integer, $5::integer,"                  \
    "  u.id, u.org_id, u.parent_user_id, o.kind, r.path)"

/* the list's filters; $1 and $2 are the scope's (see USER_LIST_*) */
#define USER_FILTER                                                          \
    "  AND ($3 = '' OR u.username ILIKE $3 OR u.display_name ILIKE $3)"     \
    "  AND ($4 = '' OR EXISTS (SELECT 1 FROM orgs f WHERE f.id = u.org_id"   \
    "       AND (f.name ILIKE $4 OR f.code ILIKE $4)))"                      \
    "  AND ($5 = '' OR u.status = $5 OR ($5 = 'locked' AND EXISTS"           \
    "       (SELECT 1 FROM login_locks l WHERE l.username = u.username"      \
    "        AND l.locked_until > now())))"                                  \
    "  AND ($6 = '' OR u.org_kind = $6)"                                     \
    "  AND ($7 = '' OR EXISTS (SELECT 1 FROM regions fr"                    \
    "       WHERE (fr.code = $7 OR fr.name = $7)"                            \
    "       AND starts_with(u.scope_path, fr.path)))"

/*
 * the lists spell out vbp_user_scope() per mode, in terms the planner can
 * drive from an index (a generic plan of the CASE scans every account):
 * admin: $1 actor kind, $2 region path, over users_scope (org kind and
 * region path kept on each account, see migration 002); sub: $1 org id,
 * $2 user id
 */
#define USER_LIST_ADMIN                                                      \
    " WHERE u.org_kind = ANY (vbp_managed_kinds($1))"                        \
    "  AND u.scope_path COLLATE \"C\" >= $2"                                 \
    "  AND u.scope_path COLLATE \"C\" < $2 || ':'"                           \
    "  AND starts_with(u.scope_path, $2)"                                    \
    USER_FILTER

#define USER_LIST_SUB                                                        \
    " WHERE u.org_id = $1::integer AND u.parent_user_id IS NOT NULL"         \
    "  AND u.id <> $2::integer"                                              \
    USER_FILTER

/* covers: may the actor act on the row's account (vbp_user_covers) */
#define USER_COLUMNS(covers)                                                 \
    "SELECT u.id, u.username, u.display_name, u.phone, u.status,"            \
    "  u.parent_user_id IS NULL, o.code, o.name, o.kind, r.name,"            \
    "  to_char(u.last_login_at AT TIME ZONE 'Asia/Shanghai',"                \
    "          'YYYY-MM-DD HH24:MI'),"                                        \
    "  to_char(u.created_at AT TIME ZONE 'Asia/Shanghai',"                   \
    "          'YYYY-MM-DD HH24:MI'),"                                        \
    "  u.must_change_password,"                                              \
    "  (SELECT COALESCE(json_agg(g.permission ORDER BY g.permission), '[]')" \
    "   FROM user_permissions g WHERE g.user_id = u.id)::text,"              \
    "  u.status = 'active', " VBP_KIND_TITLE("o.kind") ","                   \
    "  (SELECT COALESCE(json_agg(p.name ORDER BY p.sort), '[]')"             \
    "   FROM user_permissions g JOIN permissions p ON p.code = g.permission" \
    "   WHERE g.user_id = u.id)::text,"                                     \
    "  EXISTS (SELECT 1 FROM login_locks l WHERE l.username = u.username"    \
    "   AND l.locked_until > now()), " covers ","                            \
    "  u.password_hash = '!'"

#define USER_COVERS                                                          \
    " ($1 <> 'sub' OR vbp_user_covers($5::integer, u.id))"


typedef struct {
    const char  *mode;
    const char  *params[USER_ACTOR_PARAMS];
    char         org[24];
    char         uid[24];
} user_actor_t;


static int subusers_grant(vbp_call_t *call);
static int permissions_tree(vbp_call_t *call);

static int user_actor(vbp_call_t *call, user_actor_t *a);
static int user_list(vbp_call_t *call);
static int user_get(vbp_call_t *call);
static int user_create(vbp_call_t *call);
static int user_form(vbp_call_t *call);
static int user_update(vbp_call_t *call);
static int user_name_conflict(vbp_call_t *call, const char *username,
    const char *probe_key);
static int user_set_status(vbp_call_t *call);
static int user_reset_password(vbp_call_t *call);
static int user_unlock(vbp_call_t *call);
static PGresult *user_lock(vbp_call_t *call, user_actor_t *a,
    const char *ids, size_t count);
static PGresult *user_target(vbp_call_t *call, user_actor_t *a, char *id,
    size_t len);
static int user_issue_password(vbp_call_t *call, const char *uid,
    const char *username, char *password, size_t len);
static const char *user_display_name(vbp_call_t *call, int strict);
static const char *user_phone(vbp_call_t *call);
static int user_grant(vbp_call_t *call, user_actor_t *a, const char *uid,
    const char *scope_path);


/* the variant is the mode, see the top of this file */
const vbp_op_t  vbp_user_ops[] = {
    { "users.list", user_list, 1, 0, "admin.users", "admin", NULL },
    { "users.get", user_get, 1, 1, "admin.users", "admin", NULL },
    { "users.create", user_create, 1, 0, "admin.users", "admin", NULL },
    { "users.form", user_form, 1, 0, "admin.users", "admin", NULL },
    { "users.update", user_update, 1, 0, "admin.users", "admin", NULL },
    { "users.set_status", user_set_status, 1, 0, "admin.users", "admin", NULL },
    { "users.reset_password", user_reset_password, 1, 0, "admin.users",
      "admin", NULL },
    { "users.unlock", user_unlock, 1, 0, "admin.users", "admin", NULL },
    { "subusers.list", user_list, 1, 0, "account.subusers", "sub", NULL },
    { "subusers.get", user_get, 1, 1, "account.subusers", "sub", NULL },
    { "subusers.create", user_create, 1, 0, "account.subusers", "sub", NULL },
    { "subusers.update", user_update, 1, 0, "account.subusers", "sub", NULL },
    { "subusers.set_status", user_set_status, 1, 0, "account.subusers",
      "sub", NULL },
    { "subusers.reset_password", user_reset_password, 1, 0,
      "account.subusers", "sub", NULL },
    { "subusers.unlock", user_unlock, 1, 0, "account.subusers", "sub", NULL },
    { "subusers.grant", subusers_grant, 1, 0, "account.subusers", "sub", NULL },
    { "permissions.tree", permissions_tree, 1, 0, "account.subusers", "sub", NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


const vbp_stmt_t  vbp_user_stmts[] = {

    { "user_count_admin", "SELECT count(*) FROM users u" USER_LIST_ADMIN },

    /* the page's ids first, then the 20 rows they name */
    { "user_page_admin",
      USER_COLUMNS("true") USER_FROM " WHERE u.id IN (SELECT u.id FROM users u"
      USER_LIST_ADMIN " ORDER BY u.id LIMIT $8 OFFSET $9) ORDER BY u.id" },

    { "user_count_sub", "SELECT count(*) FROM users u" USER_LIST_SUB },

    { "user_page_sub",
      USER_COLUMNS("vbp_user_covers($2::integer, u.id)") USER_FROM
      " WHERE u.id IN (SELECT u.id FROM users u"
      USER_LIST_SUB " ORDER BY u.id LIMIT $8 OFFSET $9) ORDER BY u.id" },

    { "user_get",
      USER_COLUMNS(USER_COVERS) USER_FROM " WHERE" USER_IN_SCOPE
      " AND u.id = $6" },

    /* the rows an action changes, locked; out of scope means not there */
    { "user_lock",
      "SELECT u.id, u.username, u.status, u.display_name, u.phone, r.path,"
      "  u.parent_user_id IS NULL," USER_COVERS
      USER_FROM " WHERE" USER_IN_SCOPE " AND u.id = ANY ($6::integer[])"
      " ORDER BY u.id FOR UPDATE OF u" },

    { "user_target_org",
      "SELECT o.id, r.path, EXISTS (SELECT 1 FROM users m"
      "  WHERE m.org_id = o.id AND m.parent_user_id IS NULL)"
      " FROM orgs o JOIN regions r ON r.id = o.region_id"
      " WHERE (o.code = $1 OR ($1 = '' AND r.code = $4"
      "        AND o.kind IN ('province_bureau', 'city_bureau')))"
      "  AND vbp_manages($2, $3, o.kind, r.path)" },

    { "user_main_of_org",
      "SELECT id FROM users WHERE org_id = $1 AND parent_user_id IS NULL" },

    { "user_name_taken",
      "SELECT 1 FROM users WHERE lower(username) = lower($1)" },

    /* a concurrent insert of the same username or main account: no row */
    { "user_insert",
      "INSERT INTO users (username, display_name, phone, org_id,"
      "  parent_user_id, password_hash, must_change_password, created_by)"
      " VALUES ($1, $2, $3, $4, $5, $6, true, $7)"
      " ON CONFLICT DO NOTHING RETURNING id" },

    { "user_update",
      "UPDATE users SET display_name = $2, phone = $3, updated_at = now()"
      " WHERE id = $1" },

    { "user_set_status",
      "UPDATE users SET status = $2, updated_at = now()"
      " WHERE id = ANY ($1::integer[]) AND status <> $2 RETURNING id" },

    { "user_subs_of",
      "SELECT id FROM users WHERE parent_user_id = ANY ($1::integer[])" },

    { "user_set_password",
      "UPDATE users SET password_hash = $2, must_change_password = true,"
      "  updated_at = now() WHERE id = $1" },

    { "user_clear_lock",
      "DELETE FROM login_locks WHERE username = $1" },

    { "user_unlock",
      "DELETE FROM login_locks WHERE username = $1 AND locked_until > now()"
      " RETURNING client" },

    { "user_grants",
      "SELECT COALESCE(array_agg(permission ORDER BY permission), '{}')::text"
      " FROM user_permissions WHERE user_id = $1" },

    { "user_grant_clear",
      "DELETE FROM user_permissions WHERE user_id = $1" },

    { "user_grant_insert",
      "INSERT INTO user_permissions (user_id, permission)"
      " SELECT $1, unnest($2::text[])" },

    /* leaves an org kind may hold; groups and implicit ones are not granted */
    { "perm_grantable",
      "SELECT count(*) FROM permissions WHERE code = ANY ($1::text[])"
      " AND NOT is_group AND NOT implicit AND $2 = ANY (kinds)" },

    { "perm_tree",
      "SELECT code, name, parent, is_group FROM permissions"
      " WHERE $1 = ANY (kinds) AND NOT implicit ORDER BY sort" },

    { NULL, NULL }
};


/* columns of USER_COLUMNS */
static const char *const  user_names[] = {
    "id", "username", "display_name", "phone", "status", "main_account",
    "org_code", "org_name", "org_kind", "region_name", "last_login_at",
    "created_at", "must_change_password", "permissions", "active",
    "org_kind_title", "permission_names", "locked", "manageable",
    "pending_password", NULL
};

static const char  user_types[] = "issssbssssnnbjbsjbbb";


/* the actor's half of every statement's parameters */
static int
user_actor(vbp_call_t *call, user_actor_t *a)
{
    a->mode = call->variant;
    a->params[0] = call->variant;
    a->params[1] = vbp_actor_str(call, "role");
    a->params[2] = vbp_actor_path(call);
    a->params[3] = a->org;
    a->params[4] = a->uid;

    if (a->params[1] == NULL || a->params[2] == NULL
        || vbp_actor_int(call, "org_id", a->org, sizeof(a->org)) != 0
        || vbp_actor_int(call, "uid", a->uid, sizeof(a->uid)) != 0)
    {
        vbp_fail_unauthenticated(call);
        return -1;
    }

    return 0;
}


static int
user_list(vbp_call_t *call)
{
    int            sub;
    char           q[200], org[200], count_stmt[32], page_stmt[32];
    const char    *params[9], *s;
    user_actor_t   a;

    static const char *const  statuses[] = { "active", "disabled", "locked",
                                             NULL };
    static const char *const  kinds[] = { "province_bureau", "city_bureau",
                                          "hospital", "manufacturer", NULL };

    if (user_actor(call, &a) != 0) {
        return 0;
    }

    sub = strcmp(a.mode, "sub") == 0;
    params[0] = sub ? a.org : a.params[1];
    params[1] = sub ? a.uid : a.params[2];

    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[2] = s && *s ? vbp_like_pattern(s, q, sizeof(q)) : "";

    s = vbp_arg_string(call, "org", 0, 40, NULL);
    params[3] = s && *s ? vbp_like_pattern(s, org, sizeof(org)) : "";

    params[4] = vbp_arg_choice(call, "status", statuses, NULL);
    params[5] = vbp_arg_choice(call, "kind", kinds, NULL);
    params[6] = vbp_arg_string(call, "region", 0, 20, NULL);

    snprintf(count_stmt, sizeof(count_stmt), "user_count_%s", a.mode);
    snprintf(page_stmt, sizeof(page_stmt), "user_page_%s", a.mode);

    if (vbp_list(call, count_stmt, page_stmt, params, 7, user_names,
                 user_types)
        != 0)
    {
        return -1;
    }

    if (call->data == NULL) {
        return 0;
    }

    if (!sub && vbp_region_options(call, params[6]) != 0) {
        return -1;
    }

    return json_object_set_new(call->data, "query",
                               json_pack("{s:s?, s:s?, s:s, s:s}",
                                         "q", vbp_arg_string(call, "q", 0, 40,
                                                             NULL),
                                         "org", vbp_arg_string(call, "org", 0,
                                                               40, NULL),
                                         "status", params[4],
                                         "kind", params[5]));
}


static int
user_get(vbp_call_t *call)
{
    char           id[24];
    PGresult      *res;
    const char    *params[6];
    user_actor_t   a;

    if (user_actor(call, &a) != 0 || vbp_arg_id(call, "id", id, sizeof(id))
        != 0)
    {
        return 0;
    }

    memcpy(params, a.params, sizeof(a.params));
    params[5] = id;

    res = vbp_db_query(call->db, "user_get", 6, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", "账户不存在或不在管辖范围内");
        return 0;
    }

    call->data = vbp_row_json(res, 0, user_names, user_types);
    PQclear(res);

    /* the sub-user pages name the display name 子用户名称 (seed 001) */
    if (call->data && call->page && strcmp(a.mode, "sub") == 0) {
        (void) json_object_set_new(call->data, "sub_form", json_true());
    }

    return call->data ? 0 : -1;
}


/* the kinds of org an actor's accounts may be for (vbp_managed_kinds) */
static const struct {
    const char  *actor;
    const char  *kind;
    const char  *title;
} user_kinds[] = {
    { "alliance", "province_bureau", "省级医保局" },
    { "alliance", "city_bureau", "市级医保局" },
    { "alliance", "hospital", "医疗机构" },
    { "alliance", "manufacturer", "生产企业" },
    { "province_bureau", "city_bureau", "市级医保局" },
    { "province_bureau", "hospital", "医疗机构" },
    { "city_bureau", "hospital", "医疗机构" },
    { NULL, NULL, NULL }
};


/*
 * what the new-user form offers: the kinds of org the actor manages and
 * the regions of its bureaus (the orgs themselves are looked up as typed,
 * GET /api/orgs); the ones in the arguments chosen
 */
static int
user_form(vbp_call_t *call)
{
    int           i;
    json_t       *kinds, *k;
    const char   *role, *chosen, *region;

    role = vbp_actor_str(call, "role");
    if (role == NULL) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    chosen = json_string_value(json_object_get(call->args, "kind"));
    region = json_string_value(json_object_get(call->args, "region_code"));

    kinds = json_array();

    for (i = 0; kinds && user_kinds[i].actor; i++) {
        if (strcmp(user_kinds[i].actor, role) != 0) {
            continue;
        }

        k = json_pack("{s:s, s:s, s:b, s:b}", "value", user_kinds[i].kind,
                      "title", user_kinds[i].title,
                      "selected", chosen
                                  && strcmp(chosen, user_kinds[i].kind) == 0,
                      "bureau", strstr(user_kinds[i].kind, "bureau") != NULL);

        if (k == NULL || json_array_append_new(kinds, k) != 0) {
            json_decref(kinds);
            kinds = NULL;
        }
    }

    call->data = kinds ? json_pack("{s:o}", "kind_options", kinds) : NULL;
    if (call->data == NULL) {
        return -1;
    }

    call->page = 1;

    return vbp_region_options(call, region);
}


static int
user_create(vbp_call_t *call)
{
    int            sub;
    char           password[16], hash[256], id[24], path[256];
    PGresult      *res;
    const char    *username, *name, *phone, *org_code, *region_code;
    const char    *params[7];
    const char    *org_id, *parent;
    user_actor_t   a;
    char           org_buf[24], parent_buf[24], probe_key[48];

    if (user_actor(call, &a) != 0) {
        return 0;
    }

    sub = strcmp(a.mode, "sub") == 0;

    username = vbp_arg_string(call, "username", 1, 200, "请输入用户名");
    if (username && (strlen(username) < 3 || strlen(username) > 32
                     || strspn(username, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "abcdefghijklmnopqrstuvwxyz"
                                         "0123456789_.@-")
                        != strlen(username)))
    {
        vbp_field_error(call, "username",
                        "用户名为 3 到 32 位字母、数字或 _ . @ -");
    }

    name = user_display_name(call, sub);
    phone = user_phone(call);
    /* the org by its code, or a bureau by the code of its region */
    org_code = NULL;
    region_code = NULL;

    if (!sub) {
        const char  *kind;

        org_code = vbp_arg_string(call, "org_code", 0, 32, NULL);
        region_code = vbp_arg_string(call, "region_code", 0, 12, NULL);
        kind = json_string_value(json_object_get(call->args, "kind"));

        /* the form's 用户类型 says which picker counts */
        if (kind && strstr(kind, "bureau") && region_code && *region_code) {
            org_code = "";

        } else if (kind && *kind && strstr(kind, "bureau") == NULL
                   && org_code)
        {
            region_code = "";
        }

        if (org_code && region_code && *org_code == '\0'
            && *region_code == '\0')
        {
            if (kind && strstr(kind, "bureau")) {
                vbp_field_error(call, "region_code", "请选择医保局所在区划");
            } else {
                vbp_field_error(call, "org_code", "请选择所属单位");
            }
        }
    }

    if (call->status) {
        return 0;
    }

    /*
     * usernames are unique across the platform, so a 409 tells that a name
     * exists somewhere: each account may learn that only so often
     */
    snprintf(probe_key, sizeof(probe_key), "vbp:probe:%s", a.uid);

    if (vbp_redis_count(probe_key, USER_PROBE_WINDOW, 0) >= USER_PROBES_MAX) {
        vbp_fail(call, 429, "throttled", "用户名重复的次数过多，请 10 分钟后再试");
        return 0;
    }

    /* the org: a sub-account's is the actor's own, under its main account */
    if (sub) {
        params[0] = a.org;

        switch (vbp_db_value(call->db, "user_main_of_org", 1, params,
                             parent_buf, sizeof(parent_buf)))
        {
        case -1:
            return -1;
        case 0:
            vbp_fail(call, 409, "no_main_account", "本单位尚无主账号");
            return 0;
        }

        org_id = a.org;
        parent = parent_buf;
        path[0] = '\0';

    } else {
        params[0] = org_code;
        params[1] = a.params[1];
        params[2] = a.params[2];
        params[3] = region_code;

        res = vbp_db_query(call->db, "user_target_org", 4, params);
        if (res == NULL) {
            return -1;
        }

        if (PQntuples(res) == 0) {
            PQclear(res);
            vbp_field_error(call, *org_code ? "org_code" : "region_code",
                            *org_code ? "单位不存在或不在管辖范围内"
                                      : "区划不存在或不在管辖范围内");
            vbp_fail(call, 404, "not_found", *org_code
                     ? "单位不存在或不在管辖范围内"
                     : "区划不存在或不在管辖范围内");
            return 0;
        }

        if (PQgetvalue(res, 0, 2)[0] == 't') {
            PQclear(res);
            vbp_conflict(call, "org_code", "该单位已有主账号");
            return 0;
        }

        snprintf(org_buf, sizeof(org_buf), "%s", PQgetvalue(res, 0, 0));
        snprintf(path, sizeof(path), "%s", PQgetvalue(res, 0, 1));
        PQclear(res);

        org_id = org_buf;
        parent = NULL;
    }

    /* a taken name costs no password hash */
    switch (user_name_conflict(call, username, probe_key)) {
    case -1:
        return -1;
    case 1:
        return 0;
    }

    if (vbp_password_generate(password, 13) != 0
        || vbp_password_hash(password, hash, sizeof(hash)) != 0)
    {
        return -1;
    }

    params[0] = username;
    params[1] = name;
    params[2] = phone;
    params[3] = org_id;
    params[4] = parent;
    params[5] = hash;
    params[6] = a.uid;

    res = vbp_db_query(call->db, "user_insert", 7, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);

        /* lost a race: say which of the two unique rules it was */
        switch (user_name_conflict(call, username, probe_key)) {
        case -1:
            return -1;
        case 0:
            if (sub) {
                vbp_conflict(call, "username", "用户名已存在，请换一个");
            } else {
                vbp_conflict(call, "org_code", "该单位已有主账号");
            }
        }

        return 0;
    }

    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    if (vbp_audit_detail(call, sub ? "subuser_created" : "user_created",
                         "user", id, NULL, "active", NULL,
                         json_pack("{s:s, s:s, s:s, s:s?}", "username",
                                   username, "display_name", name,
                                   "phone", phone, "org_code", org_code),
                         *path ? path : NULL)
        != 0)
    {
        return -1;
    }

    if (sub && json_object_get(call->args, "permissions")
        && user_grant(call, &a, id, NULL) != 0)
    {
        return -1;
    }

    if (call->status) {
        return 0;
    }

    call->status = 201;
    call->data = json_pack("{s:I, s:s, s:s, s:s}",
                           "id", (json_int_t) atoll(id),
                           "username", username,
                           "password", password,
                           "message", "账户已创建。初始密码只显示这一次，"
                                      "请转交本人，首次登录须修改密码");

    return call->data ? 0 : -1;
}


/*
 * 1 when the username is taken (the 409 is in call, and counted against
 * the actor's probes), 0 when it is free, -1 on a database failure
 */
static int
user_name_conflict(vbp_call_t *call, const char *username,
    const char *probe_key)
{
    int        taken;
    PGresult  *res;

    res = vbp_db_query(call->db, "user_name_taken", 1, &username);
    if (res == NULL) {
        return -1;
    }

    taken = PQntuples(res) > 0;
    PQclear(res);

    if (taken) {
        vbp_conflict(call, "username", "用户名已存在（用户名全平台唯一），请换一个");
        (void) vbp_redis_count(probe_key, USER_PROBE_WINDOW, 1);
    }

    return taken;
}


static int
user_update(vbp_call_t *call)
{
    char           id[24];
    PGresult      *res;
    const char    *name, *phone, *params[6];
    user_actor_t   a;

    name = user_display_name(call, strcmp(call->variant, "sub") == 0);
    phone = user_phone(call);

    /* the username is not an argument: it never changes */
    if (call->status) {
        return 0;
    }

    res = user_target(call, &a, id, sizeof(id));
    if (res == NULL) {
        return call->status ? 0 : -1;
    }

    if (vbp_audit_detail(call, "user_changed", "user", id, NULL, NULL, NULL,
                         json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s}}",
                                   "username", PQgetvalue(res, 0, 1),
                                   "from", "display_name",
                                   PQgetvalue(res, 0, 3),
                                   "phone", PQgetvalue(res, 0, 4),
                                   "to", "display_name", name,
                                   "phone", phone),
                         PQgetvalue(res, 0, 5))
        != 0)
    {
        PQclear(res);
        return -1;
    }

    PQclear(res);

    params[0] = id;
    params[1] = name;
    params[2] = phone;

    if (vbp_db_run(call->db, "user_update", 3, params) != 0) {
        return -1;
    }

    /* the page shows the account as it is now */
    if (user_get(call) != 0 || call->data == NULL) {
        return -1;
    }

    return json_object_set_new(call->data, "message", json_string("已保存"));
}


/* enable or disable one or many: all in scope, or nothing changes */
static int
user_set_status(vbp_call_t *call)
{
    int            row, rc;
    char           ids[USER_IDS_MAX];
    size_t         count;
    PGresult      *res, *changed, *subs;
    const char    *status, *params[2];
    user_actor_t   a;

    static const char *const  statuses[] = { "active", "disabled", NULL };

    if (user_actor(call, &a) != 0) {
        return 0;
    }

    status = vbp_arg_choice(call, "status", statuses, "请选择启用或停用");

    /* a row's own button names its account ("id"), whatever is ticked */
    if (vbp_arg_ids(call, json_object_get(call->args, "id") ? "id" : "ids",
                    ids, sizeof(ids), &count) != 0
        || call->status)
    {
        return 0;
    }

    res = user_lock(call, &a, ids, count);
    if (res == NULL) {
        return call->status ? 0 : -1;
    }

    params[0] = ids;
    params[1] = status;

    changed = vbp_db_query(call->db, "user_set_status", 2, params);
    if (changed == NULL) {
        PQclear(res);
        return -1;
    }

    rc = 0;

    for (row = 0; rc == 0 && row < PQntuples(res); row++) {
        if (strcmp(PQgetvalue(res, row, 2), status) == 0) {
            continue;
        }

        rc = vbp_audit_detail(call, strcmp(status, "active") == 0
                                    ? "user_enabled" : "user_disabled",
                              "user", PQgetvalue(res, row, 0),
                              PQgetvalue(res, row, 2), status, NULL,
                              json_pack("{s:s}", "username",
                                        PQgetvalue(res, row, 1)),
                              PQgetvalue(res, row, 5));
    }

    PQclear(res);

    /* a disabled account, and the sub-accounts of a disabled main, sign out */
    if (rc == 0 && strcmp(status, "disabled") == 0) {
        subs = vbp_db_query(call->db, "user_subs_of", 1, params);

        if (subs == NULL) {
            rc = -1;

        } else if (vbp_sessions_revoke_rows(changed, 0) != 0
                   || vbp_sessions_revoke_rows(subs, 0) != 0)
        {
            PQclear(subs);
            PQclear(changed);
            vbp_fail(call, 503, "unavailable", "会话服务暂时不可用，请稍后再试");
            return 0;

        } else {
            PQclear(subs);
        }
    }

    if (rc == 0) {
        char  message[128];
        int   n, same;

        n = PQntuples(changed);
        same = (int) count - n;

        if (same > 0) {
            snprintf(message, sizeof(message), "已%s %d 个账户（%d 个原已%s）",
                     strcmp(status, "active") == 0 ? "启用" : "停用", n, same,
                     strcmp(status, "active") == 0 ? "启用" : "停用");
        } else {
            snprintf(message, sizeof(message), "已%s %d 个账户",
                     strcmp(status, "active") == 0 ? "启用" : "停用", n);
        }

        call->data = json_pack("{s:i, s:s}", "changed", n,
                               "message", message);
    }

    PQclear(changed);

    return rc == 0 && call->data ? 0 : -1;
}


static int
user_reset_password(vbp_call_t *call)
{
    char           id[24], password[16], username[64];
    PGresult      *res;
    user_actor_t   a;

    res = user_target(call, &a, id, sizeof(id));
    if (res == NULL) {
        return call->status ? 0 : -1;
    }

    snprintf(username, sizeof(username), "%s", PQgetvalue(res, 0, 1));

    if (vbp_audit_detail(call, "password_reset", "user", id, NULL, NULL, NULL,
                         json_pack("{s:s}", "username", username),
                         PQgetvalue(res, 0, 5))
        != 0)
    {
        PQclear(res);
        return -1;
    }

    PQclear(res);

    if (user_issue_password(call, id, username, password, sizeof(password))
        != 0)
    {
        return call->status ? 0 : -1;
    }

    call->data = json_pack("{s:s, s:s, s:s}", "username", username,
                           "password", password,
                           "message", "密码已重置。新密码只显示这一次，"
                                      "请转交本人，登录后须修改密码");

    return call->data ? 0 : -1;
}


/*
 * 解锁: the sign-in locks of an account are lifted for every client; the
 * failures that did not lock yet stay counted
 */
static int
user_unlock(vbp_call_t *call)
{
    int            n;
    char           id[24], username[64];
    PGresult      *res, *gone;
    const char    *params[1];
    user_actor_t   a;

    res = user_target(call, &a, id, sizeof(id));
    if (res == NULL) {
        return call->status ? 0 : -1;
    }

    snprintf(username, sizeof(username), "%s", PQgetvalue(res, 0, 1));
    params[0] = username;

    gone = vbp_db_query(call->db, "user_unlock", 1, params);
    if (gone == NULL) {
        PQclear(res);
        return -1;
    }

    n = PQntuples(gone);
    PQclear(gone);

    if (n && vbp_audit_detail(call, "user_unlocked", "user", id, "locked",
                              "unlocked", NULL,
                              json_pack("{s:s, s:i}", "username", username,
                                        "clients", n),
                              PQgetvalue(res, 0, 5))
             != 0)
    {
        PQclear(res);
        return -1;
    }

    PQclear(res);

    call->data = json_pack("{s:s, s:i, s:s}", "username", username,
                           "unlocked", n,
                           "message", n ? "已解锁" : "该账户没有被锁定");

    return call->data ? 0 : -1;
}


/*
 * the target rows of an action, locked; when any of them is outside the
 * actor's scope (or does not exist) the answer is 404 and nothing changes
 */
static PGresult *
user_lock(vbp_call_t *call, user_actor_t *a, const char *ids, size_t count)
{
    int          row;
    PGresult    *res;
    const char  *params[6];

    memcpy(params, a->params, sizeof(a->params));
    params[5] = ids;

    res = vbp_db_query(call->db, "user_lock", 6, params);
    if (res == NULL) {
        return NULL;
    }

    if ((size_t) PQntuples(res) != count) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", count > 1
                 ? "部分账户不存在或不在管辖范围内，未做任何修改"
                 : "账户不存在或不在管辖范围内");
        return NULL;
    }

    /* inside one org: never on an account that holds more than the actor */
    for (row = 0; row < PQntuples(res); row++) {
        if (PQgetvalue(res, row, USER_LOCK_COVERED)[0] != 't') {
            PQclear(res);
            vbp_fail(call, 403, "forbidden", count > 1
                     ? "部分账户的权限超出您的权限，不能操作，未做任何修改"
                     : "该账户的权限超出您的权限，不能操作");
            return NULL;
        }
    }

    return res;
}


/*
 * the one account an action names in args.id, locked, in the actor's scope;
 * NULL with the answer in call (4xx) or without (a database failure)
 */
static PGresult *
user_target(vbp_call_t *call, user_actor_t *a, char *id, size_t len)
{
    char  ids[32];

    if (user_actor(call, a) != 0 || vbp_arg_id(call, "id", id, len) != 0) {
        return NULL;
    }

    snprintf(ids, sizeof(ids), "{%s}", id);

    return user_lock(call, a, ids, 1);
}


/* a new one-time password; the old sessions end and a lockout is lifted */
static int
user_issue_password(vbp_call_t *call, const char *uid, const char *username,
    char *password, size_t len)
{
    char         hash[256];
    const char  *params[2];

    if (len < 13
        || vbp_password_generate(password, 13) != 0
        || vbp_password_hash(password, hash, sizeof(hash)) != 0)
    {
        return -1;
    }

    params[0] = uid;
    params[1] = hash;

    if (vbp_db_run(call->db, "user_set_password", 2, params) != 0) {
        return -1;
    }

    params[0] = username;

    if (vbp_db_run(call->db, "user_clear_lock", 1, params) != 0) {
        return -1;
    }

    if (vbp_sessions_revoke(atoll(uid)) != 0) {
        vbp_fail(call, 503, "unavailable", "会话服务暂时不可用，请稍后再试");
        return -1;
    }

    return 0;
}


/*
 * a display name: 1 to 32 characters without control or invisible ones
 * (vbp_arg_string), a sub-account's only Chinese characters, letters and
 * digits (seed 001)
 */
static const char *
user_display_name(vbp_call_t *call, int strict)
{
    const char  *name, *why;

    name = vbp_arg_string(call, "display_name", 1, 32,
                          strict ? "请输入子用户名称" : "请输入姓名");
    if (name == NULL || !strict) {
        return name;
    }

    why = vbp_text_plain_name(name);
    if (why) {
        vbp_field_error(call, "display_name",
                        "子用户名称只能包含汉字、字母和数字，1 到 32 个字");
        return NULL;
    }

    return name;
}


/* a mainland mobile number, or nothing */
static const char *
user_phone(vbp_call_t *call)
{
    const char  *phone;

    phone = vbp_arg_string(call, "phone", 0, 40, NULL);
    if (phone == NULL) {
        return NULL;
    }

    if (*phone
        && (strlen(phone) != 11 || phone[0] != '1' || phone[1] < '3'
            || strspn(phone, "0123456789") != 11))
    {
        vbp_field_error(call, "phone", "手机号应为 1 开头的 11 位数字，可不填");
        return NULL;
    }

    return phone;
}


/*
 * replaces a sub-account's grants with args.permissions: leaves of the
 * tree that the org's kind may hold and that the actor holds itself (a
 * sub-account that manages others cannot hand out more than it has)
 */
static int
user_grant(vbp_call_t *call, user_actor_t *a, const char *uid,
    const char *scope_path)
{
    int          rc;
    char         list[2048], old[2048];
    size_t       i, j, n, used;
    json_t      *v, *item, *granted;
    PGresult    *res;
    const char  *code, *params[2];

    v = json_object_get(call->args, "permissions");

    /* a list, one checkbox of a form, or nothing (none); never a guess */
    if (v && json_is_string(v)) {
        granted = json_pack("[O]", v);

    } else if (v == NULL || json_is_null(v)) {
        granted = json_array();

    } else if (json_is_array(v)) {
        granted = json_incref(v);

    } else {
        vbp_field_error(call, "permissions", "应为权限编码的列表");
        return 0;
    }

    if (granted == NULL) {
        return -1;
    }

    used = (size_t) snprintf(list, sizeof(list), "{");
    n = 0;

    json_array_foreach(granted, i, item) {
        code = json_string_value(item);

        if (code == NULL || *code == '\0' || strlen(code) > 64
            || strspn(code, "abcdefghijklmnopqrstuvwxyz_.") != strlen(code)
            || used + strlen(code) + 3 > sizeof(list))
        {
            json_decref(granted);
            vbp_field_error(call, "permissions", "权限不存在或不能授予子用户");
            return 0;
        }

        /* a code given twice is granted once */
        for (j = 0; j < i && !json_equal(json_array_get(granted, j), item);
             j++)
        {
            /* void */
        }

        if (j < i) {
            continue;
        }

        used += (size_t) snprintf(list + used, sizeof(list) - used, "%s%s",
                                  n++ ? "," : "", code);
    }

    list[used++] = '}';
    list[used] = '\0';

    params[0] = list;
    params[1] = a->params[1];

    res = vbp_db_query(call->db, "perm_grantable", 2, params);
    if (res == NULL) {
        json_decref(granted);
        return -1;
    }

    rc = atoll(PQgetvalue(res, 0, 0)) == (long long) n;
    PQclear(res);

    if (!rc) {
        json_decref(granted);
        vbp_field_error(call, "permissions", "权限不存在或不能授予子用户");
        return 0;
    }

    json_array_foreach(granted, i, item) {
        if (!vbp_actor_has(call, json_string_value(item))) {
            json_decref(granted);
            vbp_field_error(call, "permissions", "不能授予自己没有的权限");
            vbp_fail(call, 403, "forbidden", "不能授予自己没有的权限");
            return 0;
        }
    }

    json_decref(granted);

    params[0] = uid;

    res = vbp_db_query(call->db, "user_grants", 1, params);
    if (res == NULL) {
        return -1;
    }

    snprintf(old, sizeof(old), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    if (vbp_db_run(call->db, "user_grant_clear", 1, params) != 0) {
        return -1;
    }

    params[1] = list;

    if (vbp_db_run(call->db, "user_grant_insert", 2, params) != 0) {
        return -1;
    }

    if (vbp_audit_detail(call, "permissions_granted", "user", uid, old, list,
                         NULL, NULL, scope_path)
        != 0)
    {
        return -1;
    }

    /* the new grants take effect at the next sign-in: end the live ones */
    if (vbp_sessions_revoke(atoll(uid)) != 0) {
        vbp_fail(call, 503, "unavailable", "会话服务暂时不可用，请稍后再试");
    }

    return 0;
}


static int
subusers_grant(vbp_call_t *call)
{
    char           id[24];
    PGresult      *res;
    user_actor_t   a;

    res = user_target(call, &a, id, sizeof(id));
    if (res == NULL) {
        return call->status ? 0 : -1;
    }

    PQclear(res);

    if (user_grant(call, &a, id, NULL) != 0) {
        return -1;
    }

    if (call->status == 0) {
        call->data = json_pack("{s:s}", "message",
                               "权限已保存，该子用户重新登录后生效");
    }

    return call->status || call->data ? 0 : -1;
}


/*
 * the tree a sub-account's permissions are chosen from: groups that unfold
 * into leaves, only leaves the actor holds; with args.id, that
 * sub-account's grants are marked
 */
static int
permissions_tree(vbp_call_t *call)
{
    int            row, g;
    json_t        *tree, *group, *leaf, *grants, *account, *p;
    size_t         i;
    PGresult      *res;
    const char    *params[6], *code, *parent;
    user_actor_t   a;

    if (user_actor(call, &a) != 0) {
        return 0;
    }

    grants = NULL;
    account = NULL;

    /* the sub-account whose grants are marked, read as users_get does */
    if (json_object_get(call->args, "id")) {
        if (user_get(call) != 0) {
            return -1;
        }

        if (call->status) {
            return 0;
        }

        grants = json_incref(json_object_get(call->data, "permissions"));
        account = json_pack("{s:O, s:O}",
                            "username", json_object_get(call->data, "username"),
                            "display_name",
                            json_object_get(call->data, "display_name"));
        json_decref(call->data);
        call->data = NULL;
    }

    /* a form shown again after a POST shows the boxes as they were sent */
    p = json_object_get(call->args, "permissions");

    if (call->refill && p) {
        json_decref(grants);
        grants = json_is_array(p) ? json_incref(p) : json_pack("[O]", p);
    }

    params[0] = a.params[1];

    res = vbp_db_query(call->db, "perm_tree", 1, params);
    if (res == NULL) {
        json_decref(grants);
        json_decref(account);
        return -1;
    }

    tree = json_array();

    for (row = 0; tree && row < PQntuples(res); row++) {
        if (PQgetvalue(res, row, 3)[0] != 't') {
            continue;
        }

        group = json_pack("{s:s, s:s, s:[]}", "code", PQgetvalue(res, row, 0),
                          "name", PQgetvalue(res, row, 1), "children");

        for (g = 0; group && g < PQntuples(res); g++) {
            code = PQgetvalue(res, g, 0);
            parent = PQgetvalue(res, g, 2);

            if (PQgetvalue(res, g, 3)[0] == 't'
                || strcmp(parent, PQgetvalue(res, row, 0)) != 0
                || !vbp_actor_has(call, code))
            {
                continue;
            }

            leaf = json_pack("{s:s, s:s, s:b}", "code", code,
                             "name", PQgetvalue(res, g, 1), "granted", 0);

            json_array_foreach(grants, i, p) {
                if (leaf && json_is_string(p)
                    && strcmp(json_string_value(p), code) == 0)
                {
                    (void) json_object_set_new(leaf, "granted", json_true());
                }
            }

            if (leaf == NULL
                || json_array_append_new(json_object_get(group, "children"),
                                         leaf) != 0)
            {
                json_decref(group);
                group = NULL;
            }
        }

        if (group == NULL) {
            json_decref(tree);
            tree = NULL;
            break;
        }

        if (json_array_size(json_object_get(group, "children")) == 0) {
            json_decref(group);
            continue;
        }

        if (json_array_append_new(tree, group) != 0) {
            json_decref(tree);
            tree = NULL;
        }
    }

    PQclear(res);
    json_decref(grants);

    if (tree == NULL) {
        json_decref(account);
        return -1;
    }

    call->data = json_pack("{s:o}", "tree", tree);

    /* the sub-user pages name the display name 子用户名称 (seed 001) */
    if (call->data && call->page) {
        (void) json_object_set_new(call->data, "sub_form", json_true());
    }

    if (call->data && account) {
        (void) json_object_set_new(call->data, "account", account);
        account = NULL;
    }

    json_decref(account);

    return call->data ? 0 : -1;
}
