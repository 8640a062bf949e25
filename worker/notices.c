/*
 * 公告通知 and 政策文件 (seed 002's home page): the alliance and the bureaus
 * publish to the orgs in their scope -- a title, a text, PDF attachments, a
 * publish time and an optional end -- and every org reads what is meant
 * for it on its home page, newest first, unread marked; the publisher sees
 * who has read each.  The platform's own notices (a project's windows, a
 * return, a withdrawal request: migration 010) are read the same way.
 *
 * Whether a notice reaches an org is one SQL function, vbp_notice_for();
 * a notice not meant for the reader, and not its own org's, is 404.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbp.h"


#define NOTICE_TITLE_MAX  100
#define NOTICE_BODY_MAX   5000
#define NOTICE_HOME       8


static int notices_list(vbp_call_t *call);
static int notices_view(vbp_call_t *call);
static int notices_mine(vbp_call_t *call);
static int notices_form(vbp_call_t *call);
static int notices_save(vbp_call_t *call);
static int notices_withdraw(vbp_call_t *call);
static int notices_readers(vbp_call_t *call);
static int notice_own(vbp_call_t *call, const char *id, const char *org);
static int notice_own_arg(vbp_call_t *call, char *id, char *org, size_t len);


const vbp_op_t  vbp_notice_ops[] = {
    { .name = "notices.list", .handler = notices_list, .needs_actor = 1,
      .permission = "home" },
    { .name = "notices.view", .handler = notices_view, .needs_actor = 1,
      .permission = "home" },
    { .name = "notices.mine", .handler = notices_mine, .needs_actor = 1,
      .permission = "notice.publish" },
    { .name = "notices.form", .handler = notices_form, .needs_actor = 1,
      .permission = "notice.publish" },
    { .name = "notices.create", .handler = notices_save, .needs_actor = 1,
      .permission = "notice.publish", .variant = "create" },
    { .name = "notices.update", .handler = notices_save, .needs_actor = 1,
      .permission = "notice.publish", .variant = "update" },
    { .name = "notices.withdraw", .handler = notices_withdraw,
      .needs_actor = 1, .permission = "notice.publish" },
    { .name = "notices.readers", .handler = notices_readers,
      .needs_actor = 1, .permission = "notice.publish" },
    { .name = NULL }
};


/* $1 org, $2 kind, $3 region path, $4 uid: the reader */
#define NOTICE_FOR_READER                                                    \
    " vbp_notice_for(n, $1::integer, $2, $3)"

#define NOTICE_COLUMNS                                                       \
    "SELECT n.id, n.kind, CASE n.kind WHEN 'announcement' THEN '公告通知'"    \
    "  WHEN 'policy' THEN '政策文件' ELSE '系统通知' END, n.title,"           \
    "  coalesce(n.href, ''),"                                                \
    "  to_char(n.publish_at AT TIME ZONE 'Asia/Shanghai',"                   \
    "          'YYYY-MM-DD HH24:MI'),"                                       \
    "  coalesce(a.name, '集中带量采购信息平台'),"                              \
    "  NOT EXISTS (SELECT 1 FROM notice_reads r WHERE r.notice_id = n.id"    \
    "   AND r.user_id = $4::integer),"                                      \
    "  (SELECT count(*) FROM notice_files f WHERE f.notice_id = n.id)"       \
    " FROM notices n LEFT JOIN orgs a ON a.id = n.author_org_id"

#define NOTICE_LIST_WHERE                                                    \
    " WHERE" NOTICE_FOR_READER                                               \
    "  AND ($5 = '' OR n.kind = $5)"                                         \
    "  AND ($6 = '' OR NOT EXISTS (SELECT 1 FROM notice_reads r"             \
    "   WHERE r.notice_id = n.id AND r.user_id = $4::integer))"

/* the audience of an announcement: the orgs of its kinds below its region */
#define NOTICE_AUDIENCE                                                      \
    " FROM notices n JOIN orgs o ON o.kind = ANY (n.audience)"               \
    " JOIN regions g ON g.id = o.region_id"                                  \
    "  AND starts_with(g.path, n.scope_path)"

const vbp_stmt_t  vbp_notice_stmts[] = {

    { "notices_sync", "SELECT vbp_notices_sync()" },

    { "notices_count",
      "SELECT count(*) FROM notices n" NOTICE_LIST_WHERE },

    { "notices_page",
      NOTICE_COLUMNS NOTICE_LIST_WHERE
      " ORDER BY n.publish_at DESC, n.id DESC LIMIT $7 OFFSET $8" },

    { "notices_unread",
      "SELECT count(*) FROM notices n WHERE" NOTICE_FOR_READER
      "  AND NOT EXISTS (SELECT 1 FROM notice_reads r"
      "   WHERE r.notice_id = n.id AND r.user_id = $4::integer)" },

    /* one notice: meant for the reader, or its own org's */
    { "notices_get",
      NOTICE_COLUMNS
      " WHERE n.id = $5::bigint AND (" NOTICE_FOR_READER
      "  OR n.author_org_id = $1::integer)" },

    { "notices_detail",
      "SELECT n.body, n.author_name, n.author_org_id = $2::integer,"
      "  to_char(n.end_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  n.withdrawn_at IS NOT NULL, to_json(n.audience)::text,"
      "  coalesce((SELECT g.name FROM regions g WHERE g.path = n.scope_path),"
      "           ''),"
      "  to_char(n.publish_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI')"
      " FROM notices n WHERE n.id = $1::bigint" },

    { "notices_files",
      "SELECT f.sha256, f.filename, u.bytes,"
      "  to_char(f.uploaded_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI')"
      " FROM notice_files f JOIN uploads u ON u.sha256 = f.sha256"
      " WHERE f.notice_id = $1::bigint ORDER BY f.uploaded_at, f.filename" },

    { "notices_read",
      "INSERT INTO notice_reads (notice_id, user_id, org_id)"
      " VALUES ($1::bigint, $2::integer, $3::integer)"
      " ON CONFLICT DO NOTHING" },

    /* the org's own announcements, with how many of their audience read */
    { "notices_mine_count",
      "SELECT count(*) FROM notices n WHERE n.author_org_id = $1::integer" },

    { "notices_mine_page",
      "SELECT n.id, n.kind, CASE n.kind WHEN 'announcement' THEN '公告通知'"
      "  ELSE '政策文件' END, n.title,"
      "  to_char(n.publish_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  to_char(n.end_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  CASE WHEN n.withdrawn_at IS NOT NULL THEN '已撤销'"
      "   WHEN n.draft THEN '草稿'"
      "   WHEN n.publish_at > now() THEN '待发布'"
      "   WHEN n.end_at IS NOT NULL AND n.end_at <= now() THEN '已结束'"
      "   ELSE '发布中' END,"
      "  (SELECT count(DISTINCT r.org_id) FROM notice_reads r"
      "    WHERE r.notice_id = n.id),"
      "  (SELECT count(*) FROM orgs o JOIN regions g ON g.id = o.region_id"
      "    WHERE o.kind = ANY (n.audience)"
      "     AND starts_with(g.path, n.scope_path)),"
      "  n.withdrawn_at IS NULL, n.author_name"
      " FROM notices n WHERE n.author_org_id = $1::integer"
      " ORDER BY n.created_at DESC, n.id DESC LIMIT $2 OFFSET $3" },

    /* the org's own announcement, locked, to change it */
    { "notices_own",
      "SELECT n.id FROM notices n WHERE n.id = $1::bigint"
      "  AND n.author_org_id = $2::integer FOR UPDATE" },

    /* for the form: the announcement as stored */
    { "notices_own_form",
      "SELECT n.id, n.kind, n.title, n.body, to_json(n.audience)::text,"
      "  coalesce((SELECT g.code FROM regions g WHERE g.path = n.scope_path),"
      "           ''),"
      "  to_char(n.publish_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  coalesce(to_char(n.end_at AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'), ''),"
      "  n.withdrawn_at IS NOT NULL, n.draft"
      " FROM notices n WHERE n.id = $1::bigint"
      "  AND n.author_org_id = $2::integer" },

    /* a region in the actor's scope, by code: its path */
    { "notices_region",
      "SELECT path FROM regions WHERE code = $1 AND starts_with(path, $2)" },

    /* the regions an announcement may be narrowed to */
    { "notices_regions",
      "SELECT r.code, r.name, r.level FROM regions r WHERE r.path = $1"
      "  OR r.parent_id = (SELECT b.id FROM regions b WHERE b.path = $1)"
      " ORDER BY r.path = $1 DESC, r.code LIMIT 200" },

    { "notices_insert",
      "INSERT INTO notices (kind, title, body, author_org_id, author_user_id,"
      "  author_name, scope_path, audience, publish_at, end_at, draft)"
      " VALUES ($1, $2, $3, $4::integer, $5::integer, $6, $7, $8::text[],"
      "  coalesce($9::timestamptz, now()), $10::timestamptz, $11::boolean)"
      " RETURNING id, draft" },

    { "notices_update",
      /* a draft published without a time goes out now; a published
       * notice is never a draft again */
      "UPDATE notices SET kind = $2, title = $3, body = $4, scope_path = $5,"
      "  audience = $6::text[], publish_at = coalesce($7::timestamptz,"
      "   CASE WHEN draft AND NOT $9::boolean THEN now() ELSE publish_at END),"
      "  end_at = $8::timestamptz, draft = draft AND $9::boolean,"
      "  updated_at = now()"
      " WHERE id = $1::bigint RETURNING id, draft" },

    { "notices_withdraw",
      "UPDATE notices SET withdrawn_at = now(), updated_at = now()"
      " WHERE id = $1::bigint AND withdrawn_at IS NULL RETURNING id" },

    { "notices_readers_count",
      "SELECT count(*)" NOTICE_AUDIENCE
      " WHERE n.id = $1::bigint"
      "  AND ($2 = '' OR ($2 = 'read') = EXISTS (SELECT 1 FROM notice_reads r"
      "   WHERE r.notice_id = n.id AND r.org_id = o.id))" },

    { "notices_readers_page",
      "SELECT o.code, o.name, g.name,"
      "  CASE o.kind WHEN 'hospital' THEN '医疗机构'"
      "   WHEN 'city_bureau' THEN '市级医保局'"
      "   WHEN 'province_bureau' THEN '省级医保局' ELSE '生产企业' END,"
      "  to_char(min(r.read_at) AT TIME ZONE 'Asia/Shanghai',"
      "          'YYYY-MM-DD HH24:MI'),"
      "  count(r.user_id)"
      NOTICE_AUDIENCE
      " LEFT JOIN notice_reads r ON r.notice_id = n.id AND r.org_id = o.id"
      " WHERE n.id = $1::bigint"
      "  AND ($2 = '' OR ($2 = 'read') = EXISTS (SELECT 1 FROM notice_reads x"
      "   WHERE x.notice_id = n.id AND x.org_id = o.id))"
      " GROUP BY o.id, o.code, o.name, g.name, o.kind"
      " ORDER BY o.code LIMIT $3 OFFSET $4" },

    { NULL, NULL }
};


static const char *const  notice_names[] = {
    "id", "kind", "kind_title", "title", "href", "publish_at", "author",
    "unread", "files", NULL
};

static const char  notice_types[] = "issssssbi";


static const char *const  notice_mine_names[] = {
    "id", "kind", "kind_title", "title", "publish_at", "end_at",
    "state_title", "read", "audience_size", "live", "author_name", NULL
};

static const char  notice_mine_types[] = "issssnsiibs";


static const char *const  notice_reader_names[] = {
    "org_code", "org_name", "region_name", "kind_title", "read_at",
    "readers", NULL
};

static const char  notice_reader_types[] = "ssssni";


/* the kinds of orgs each publisher may address, in the form's order */
static const struct {
    const char  *kind;
    const char  *title;
    const char  *publishers[4];
} notice_kinds[] = {
    { "province_bureau", "省级医保局", { "alliance", NULL } },
    { "city_bureau", "市级医保局", { "alliance", "province_bureau", NULL } },
    { "hospital", "医疗机构",
      { "alliance", "province_bureau", "city_bureau", NULL } },
    { "manufacturer", "生产企业", { "alliance", NULL } },
    { NULL, NULL, { NULL } }
};


static int
notice_may_address(const char *publisher, const char *kind)
{
    int  i, k;

    for (i = 0; notice_kinds[i].kind; i++) {
        if (strcmp(notice_kinds[i].kind, kind) != 0) {
            continue;
        }

        for (k = 0; notice_kinds[i].publishers[k]; k++) {
            if (strcmp(notice_kinds[i].publishers[k], publisher) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* $1..$4 of the reader's statements: org, kind, path, uid */
static int
notice_reader(vbp_call_t *call, const char **params, char *org, char *uid,
    size_t len)
{
    params[0] = org;
    params[1] = vbp_actor_str(call, "role");
    params[2] = vbp_actor_path(call);
    params[3] = uid;

    if (params[1] == NULL || params[2] == NULL
        || vbp_actor_int(call, "org_id", org, len) != 0
        || vbp_actor_int(call, "uid", uid, len) != 0)
    {
        vbp_fail_unauthenticated(call);
        return -1;
    }

    return 0;
}


/*
 * The home page's notices for the actor: the newest NOTICE_HOME meant for
 * it and how many it has not read, into *out ({items, unread}); the
 * windows' notices are made first if their moment has come.  0, or -1.
 */
int
vbp_notices_home(vbp_call_t *call, json_t **out)
{
    char         org[24], uid[24], limit[24], unread[24];
    json_t      *items;
    PGresult    *res;
    const char  *params[8];

    *out = NULL;

    if (notice_reader(call, params, org, uid, sizeof(org)) != 0) {
        return 0;
    }

    if (vbp_db_run(call->db, "notices_sync", 0, NULL) != 0) {
        return -1;
    }

    snprintf(limit, sizeof(limit), "%d", NOTICE_HOME);
    params[4] = "";
    params[5] = "";
    params[6] = limit;
    params[7] = "0";

    res = vbp_db_query(call->db, "notices_page", 8, params);
    if (res == NULL) {
        return -1;
    }

    items = vbp_rows_json(res, notice_names, notice_types);
    PQclear(res);

    if (vbp_db_value(call->db, "notices_unread", 4, params, unread,
                     sizeof(unread))
        < 0)
    {
        json_decref(items);
        return -1;
    }

    *out = json_pack("{s:o, s:I}", "items", items ? items : json_array(),
                     "unread", (json_int_t) atoll(unread));

    return *out ? 0 : -1;
}


/* GET {kind, unread, page, per_page}: the notices meant for the actor */
static int
notices_list(vbp_call_t *call)
{
    char         org[24], uid[24];
    const char  *params[8];

    static const char *const  kinds[] = { "announcement", "policy", "system",
                                          NULL };

    if (notice_reader(call, params, org, uid, sizeof(org)) != 0) {
        return 0;
    }

    params[4] = vbp_arg_choice(call, "kind", kinds, NULL);
    params[5] = vbp_arg_flag(call, "unread") ? "1" : "";

    if (call->status) {
        return 0;
    }

    if (vbp_db_run(call->db, "notices_sync", 0, NULL) != 0) {
        return -1;
    }

    return vbp_list(call, "notices_count", "notices_page", params, 6,
                    notice_names, notice_types);
}


/*
 * GET {id}: one notice meant for the actor (or its own org's), with its
 * text and files; reading it marks it read for this account
 */
static int
notices_view(vbp_call_t *call)
{
    char         org[24], uid[24], id[24];
    json_t      *notice, *v;
    PGresult    *res;
    const char  *params[5];

    if (notice_reader(call, params, org, uid, sizeof(org)) != 0
        || vbp_arg_id(call, "id", id, sizeof(id)) != 0)
    {
        return 0;
    }

    params[4] = id;

    res = vbp_db_query(call->db, "notices_get", 5, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", "公告不存在，或不是发给本单位的");
        return 0;
    }

    notice = vbp_row_json(res, 0, notice_names, notice_types);
    PQclear(res);

    if (notice == NULL) {
        return -1;
    }

    params[0] = id;
    params[1] = org;

    res = vbp_db_query(call->db, "notices_detail", 2, params);
    if (res == NULL) {
        json_decref(notice);
        return -1;
    }

    v = json_pack("{s:s, s:s, s:b, s:s?, s:b, s:o?, s:s, s:s}",
                  "body", PQgetvalue(res, 0, 0),
                  "author_name", PQgetvalue(res, 0, 1),
                  "own", PQgetvalue(res, 0, 2)[0] == 't',
                  "end_at", PQgetisnull(res, 0, 3) ? NULL
                                                   : PQgetvalue(res, 0, 3),
                  "withdrawn", PQgetvalue(res, 0, 4)[0] == 't',
                  "audience", json_loads(PQgetvalue(res, 0, 5), 0, NULL),
                  "region_name", PQgetvalue(res, 0, 6),
                  "publish_at", PQgetvalue(res, 0, 7));
    PQclear(res);

    if (v == NULL || json_object_update(notice, v) != 0) {
        json_decref(v);
        json_decref(notice);
        return -1;
    }

    json_decref(v);

    params[0] = id;
    res = vbp_db_query(call->db, "notices_files", 1, params);
    if (res == NULL) {
        json_decref(notice);
        return -1;
    }

    (void) json_object_set_new(notice, "files",
        vbp_rows_json(res, (const char *const[]) { "sha256", "filename",
                                                   "bytes", "uploaded_at",
                                                   NULL },
                      "ssis"));
    PQclear(res);

    /* read by this account, on behalf of its org (its publisher's own
     * look at it is no reading by the audience) */
    params[0] = id;
    params[1] = uid;
    params[2] = org;

    if (!json_is_true(json_object_get(notice, "own"))
        && vbp_db_run(call->db, "notices_read", 3, params) != 0)
    {
        json_decref(notice);
        return -1;
    }

    call->data = notice;

    return 0;
}


/* GET {page, per_page}: the announcements the actor's org published */
static int
notices_mine(vbp_call_t *call)
{
    char         org[24];
    const char  *params[3];

    if (vbp_actor_int(call, "org_id", org, sizeof(org)) != 0) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    params[0] = org;

    return vbp_list(call, "notices_mine_count", "notices_mine_page", params, 1,
                    notice_mine_names, notice_mine_types);
}


/* is the audience kind in the list (a JSON array, a form's values joined
 * by commas, or one value)? */
static int
notice_chosen(json_t *audience, const char *kind)
{
    size_t       i, n;
    json_t      *v;
    const char  *s, *end;

    if (json_is_array(audience)) {
        json_array_foreach(audience, i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), kind) == 0) {
                return 1;
            }
        }
        return 0;
    }

    n = strlen(kind);

    for (s = json_string_value(audience); s && *s;
         s = *end ? end + 1 : end)
    {
        end = s + strcspn(s, ",");
        if ((size_t) (end - s) == n && strncmp(s, kind, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * GET {id}: the form of a new announcement, or of the org's own one: the
 * kinds of orgs the actor may address and the regions it may narrow to,
 * each marked as sent after a refused POST, else as stored
 */
static int
notices_form(vbp_call_t *call)
{
    int          i, row;
    char         org[24];
    json_t      *notice, *kinds, *regions, *audience, *v;
    PGresult    *res;
    const char  *role, *params[2], *region;

    role = vbp_actor_str(call, "role");

    if (role == NULL || vbp_actor_path(call) == NULL
        || vbp_actor_int(call, "org_id", org, sizeof(org)) != 0)
    {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    notice = json_object();
    if (notice == NULL) {
        return -1;
    }

    if (json_object_get(call->args, "id")) {
        char  id[24];

        if (vbp_arg_id(call, "id", id, sizeof(id)) != 0) {
            json_decref(notice);
            return 0;
        }

        params[0] = id;
        params[1] = org;

        res = vbp_db_query(call->db, "notices_own_form", 2, params);
        if (res == NULL) {
            json_decref(notice);
            return -1;
        }

        if (PQntuples(res) == 0) {
            PQclear(res);
            json_decref(notice);
            vbp_fail(call, 404, "not_found", "公告不存在");
            return 0;
        }

        json_decref(notice);
        notice = json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:b,"
                           " s:o}",
                           "id", (json_int_t) atoll(PQgetvalue(res, 0, 0)),
                           "kind", PQgetvalue(res, 0, 1),
                           "title", PQgetvalue(res, 0, 2),
                           "body", PQgetvalue(res, 0, 3),
                           "audience", json_loads(PQgetvalue(res, 0, 4), 0,
                                                  NULL),
                           "region", PQgetvalue(res, 0, 5),
                           "publish_at", PQgetvalue(res, 0, 6),
                           "end_at", PQgetvalue(res, 0, 7),
                           "withdrawn", PQgetvalue(res, 0, 8)[0] == 't',
                           "files", json_array());
        if (notice) {
            (void) json_object_set_new(notice, "draft",
                                       json_boolean(PQgetvalue(res, 0, 9)[0]
                                                    == 't'));
        }
        PQclear(res);

        if (notice == NULL) {
            return -1;
        }

        /* its attachments, to add to and take from */
        res = vbp_db_query(call->db, "notices_files", 1, params);
        if (res == NULL) {
            json_decref(notice);
            return -1;
        }

        (void) json_object_set_new(notice, "files",
            vbp_rows_json(res, (const char *const[]) { "sha256", "filename",
                                                       "bytes", "uploaded_at",
                                                       NULL },
                          "ssis"));
        PQclear(res);
    }

    /* as sent, after a refused POST */
    audience = call->refill ? json_object_get(call->args, "audience")
                            : json_object_get(notice, "audience");
    v = call->refill ? json_object_get(call->args, "region")
                     : json_object_get(notice, "region");
    region = json_is_string(v) ? json_string_value(v) : "";

    kinds = json_array();

    for (i = 0; kinds && notice_kinds[i].kind; i++) {
        if (notice_may_address(role, notice_kinds[i].kind)) {
            (void) json_array_append_new(kinds,
                json_pack("{s:s, s:s, s:b}", "code", notice_kinds[i].kind,
                          "title", notice_kinds[i].title,
                          "chosen", notice_chosen(audience,
                                                  notice_kinds[i].kind)));
        }
    }

    params[0] = vbp_actor_path(call);
    res = vbp_db_query(call->db, "notices_regions", 1, params);
    if (res == NULL) {
        json_decref(kinds);
        json_decref(notice);
        return -1;
    }

    regions = json_array();

    for (row = 0; regions && row < PQntuples(res); row++) {
        (void) json_array_append_new(regions,
            json_pack("{s:s, s:s, s:b}", "code", PQgetvalue(res, row, 0),
                      "name", PQgetvalue(res, row, 1),
                      "chosen", strcmp(region, PQgetvalue(res, row, 0)) == 0));
    }

    PQclear(res);

    if (json_object_get(notice, "kind") == NULL) {
        (void) json_object_set_new(notice, "kind",
                                   json_string("announcement"));
    }

    v = call->refill ? json_object_get(call->args, "kind")
                     : json_object_get(notice, "kind");
    (void) json_object_set_new(notice, "is_policy",
        json_boolean(json_is_string(v)
                     && strcmp(json_string_value(v), "policy") == 0));

    call->data = json_pack("{s:o, s:o, s:o}", "notice", notice,
                           "kinds", kinds ? kinds : json_array(),
                           "regions", regions ? regions : json_array());

    return call->data ? 0 : -1;
}


/* "YYYY-MM-DD HH:MM" (or with a T), China time, as a timestamptz literal;
 * empty: NULL (*out untouched), an error at the field otherwise */
static const char *
notice_time(vbp_call_t *call, const char *name, char *out, size_t len)
{
    int          y, mo, d, h, mi, n;
    char         sep;
    const char  *s;

    s = vbp_arg_string(call, name, 0, 19, NULL);
    if (s == NULL || *s == '\0') {
        return NULL;
    }

    n = 0;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &n)
        != 6 || (sep != ' ' && sep != 'T') || s[n] != '\0'
        || y < 2000 || y > 2999 || mo < 1 || mo > 12 || d < 1 || d > 31
        || h > 23 || mi > 59 || h < 0 || mi < 0)
    {
        vbp_field_error(call, name, "时间格式应为 2026-12-31 18:00");
        return NULL;
    }

    snprintf(out, len, "%04d-%02d-%02d %02d:%02d:00+08", y, mo, d, h, mi);

    return out;
}


/*
 * POST {id,} kind, title, body, audience (kinds), region (a code in scope,
 * or the actor's own), publish_at, end_at: a new announcement of the
 * actor's org, or a change of its own
 */
static int
notices_save(vbp_call_t *call)
{
    int          i, update, rc, draft;
    char         org[24], uid[24], id[24], path[256], kinds[200];
    char         publish[32], end[32];
    size_t       used, count;
    json_t      *audience;
    PGresult    *res;
    const char  *kind, *title, *body, *region, *role, *pub, *endp;
    const char  *params[11];

    static const char *const  kind_choices[] = { "announcement", "policy",
                                                 NULL };

    update = strcmp(call->variant, "update") == 0;
    role = vbp_actor_str(call, "role");

    if (role == NULL || vbp_actor_path(call) == NULL
        || vbp_actor_int(call, "org_id", org, sizeof(org)) != 0
        || vbp_actor_int(call, "uid", uid, sizeof(uid)) != 0)
    {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    if (update && vbp_arg_id(call, "id", id, sizeof(id)) != 0) {
        return 0;
    }

    kind = vbp_arg_choice(call, "kind", kind_choices, "请选择类别");
    title = vbp_arg_string(call, "title", 1, NOTICE_TITLE_MAX, "请填写标题");
    body = vbp_arg_text(call, "body", NOTICE_BODY_MAX);
    region = vbp_arg_string(call, "region", 0, 12, NULL);
    pub = notice_time(call, "publish_at", publish, sizeof(publish));
    endp = notice_time(call, "end_at", end, sizeof(end));
    /* 保存草稿: kept from its audience until published */
    draft = vbp_arg_flag(call, "draft");

    if (pub && endp && strcmp(end, publish) <= 0) {
        vbp_field_error(call, "end_at", "结束时间应晚于发布时间");
    }

    /* the kinds of orgs addressed, each one this publisher may address */
    audience = json_object_get(call->args, "audience");
    used = (size_t) snprintf(kinds, sizeof(kinds), "{");
    count = 0;

    for (i = 0; notice_kinds[i].kind; i++) {
        if (!notice_chosen(audience, notice_kinds[i].kind)) {
            continue;
        }

        if (!notice_may_address(role, notice_kinds[i].kind)) {
            vbp_field_error(call, "audience", "不能向该类单位发布公告");
            break;
        }

        used += (size_t) snprintf(kinds + used, sizeof(kinds) - used, "%s%s",
                                  count++ ? "," : "", notice_kinds[i].kind);
    }

    snprintf(kinds + used, sizeof(kinds) - used, "}");

    if (count == 0) {
        vbp_field_error(call, "audience", "请选择发布对象");
    }

    if (call->status) {
        return 0;
    }

    /* the region: one the actor covers, else its own */
    snprintf(path, sizeof(path), "%s", vbp_actor_path(call));

    if (region && *region) {
        params[0] = region;
        params[1] = vbp_actor_path(call);

        switch (vbp_db_value(call->db, "notices_region", 2, params, path,
                             sizeof(path)))
        {
        case 1:
            break;
        case 0:
            vbp_field_error(call, "region", "区划不存在或不在管辖范围内");
            return 0;
        default:
            return -1;
        }
    }

    if (update) {
        rc = notice_own(call, id, org);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }

        params[0] = id;
        params[1] = kind;
        params[2] = title;
        params[3] = body;
        params[4] = path;
        params[5] = kinds;
        params[6] = pub;
        params[7] = endp;
        params[8] = draft ? "true" : "false";

        res = vbp_db_query(call->db, "notices_update", 9, params);

    } else {
        params[0] = kind;
        params[1] = title;
        params[2] = body;
        params[3] = org;
        params[4] = uid;
        params[5] = vbp_actor_str(call, "name") ? vbp_actor_str(call, "name")
                    : vbp_actor_str(call, "username");
        params[6] = path;
        params[7] = kinds;
        params[8] = pub;
        params[9] = endp;
        params[10] = draft ? "true" : "false";

        res = vbp_db_query(call->db, "notices_insert", 11, params);
    }

    if (res == NULL) {
        return -1;
    }

    snprintf(id, sizeof(id), "%s", PQntuples(res) ? PQgetvalue(res, 0, 0)
                                                  : "0");
    draft = PQntuples(res) && PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);

    if (vbp_audit_detail(call, draft ? "notice_drafted"
                               : update ? "notice_updated"
                               : "notice_published",
                         "notice", id, NULL, NULL, NULL,
                         json_pack("{s:s, s:s, s:s, s:s}", "kind", kind,
                                   "title", title, "audience", kinds,
                                   "scope", path),
                         NULL)
        != 0)
    {
        return -1;
    }

    /* a new announcement goes on to its own page, where files attach */
    snprintf(path, sizeof(path), "/notices/edit?id=%s", id);

    call->status = update ? 200 : 201;
    call->data = json_pack("{s:I, s:s, s:s}", "id", (json_int_t) atoll(id),
                           "message", draft ? "草稿已保存，上传附件后点击发布"
                                      : update ? "公告已保存"
                                      : "公告已发布，可以继续上传附件",
                           "next", path);

    return call->data ? 0 : -1;
}


/* args.id, the actor's org's own announcement, locked: into id and org;
 * 0, 1 answered (401, 404 ...), or -1 */
static int
notice_own_arg(vbp_call_t *call, char *id, char *org, size_t len)
{
    if (vbp_actor_int(call, "org_id", org, len) != 0) {
        vbp_fail_unauthenticated(call);
        return 1;
    }

    if (vbp_arg_id(call, "id", id, len) != 0) {
        return 1;
    }

    return notice_own(call, id, org);
}


/* the org's own announcement ID, locked: 0, 1 answered (404), or -1 */
static int
notice_own(vbp_call_t *call, const char *id, const char *org)
{
    char         found[24];
    const char  *params[2];

    params[0] = id;
    params[1] = org;

    switch (vbp_db_value(call->db, "notices_own", 2, params, found,
                         sizeof(found)))
    {
    case 1:
        return 0;
    case 0:
        vbp_fail(call, 404, "not_found", "公告不存在");
        return 1;
    default:
        return -1;
    }
}


/* POST {id}: 撤销 of the org's own announcement: it reaches nobody more */
static int
notices_withdraw(vbp_call_t *call)
{
    int          rc;
    char         org[24], id[24];
    const char  *params[2];

    rc = notice_own_arg(call, id, org, sizeof(org));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    params[0] = id;
    params[1] = org;

    switch (vbp_db_value(call->db, "notices_withdraw", 1, params, id,
                         sizeof(id)))
    {
    case 1:
        break;
    case 0:
        vbp_fail(call, 409, "wrong_state", "公告已撤销");
        return 0;
    default:
        return -1;
    }

    if (vbp_audit(call, "notice_withdrawn", "notice", id, NULL, NULL, NULL)
        != 0)
    {
        return -1;
    }

    call->data = json_pack("{s:s}", "message", "公告已撤销");

    return call->data ? 0 : -1;
}


/* GET {id, read, page, per_page}: who of an own announcement's audience
 * has read it (read: "read" or "unread"; empty: all) */
static int
notices_readers(vbp_call_t *call)
{
    int          rc;
    char         org[24], id[24];
    json_t      *list;
    const char  *params[4];

    static const char *const  states[] = { "read", "unread", NULL };

    rc = notice_own_arg(call, id, org, sizeof(org));
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    params[0] = id;
    params[1] = org;

    params[1] = vbp_arg_choice(call, "read", states, NULL);
    if (call->status) {
        return 0;
    }

    if (vbp_list(call, "notices_readers_count", "notices_readers_page",
                 params, 2, notice_reader_names, notice_reader_types)
        != 0)
    {
        return -1;
    }

    list = call->data;
    call->data = NULL;

    /* the announcement itself heads the page */
    if (notices_view(call) != 0) {
        json_decref(list);
        return -1;
    }

    if (call->status) {
        json_decref(list);
        return 0;
    }

    return json_object_set_new(call->data, "readers", list) == 0 ? 0 : -1;
}
