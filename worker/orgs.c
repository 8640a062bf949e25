/*
 * Organizations and the region tree.  org.self: the signed-in user's own
 * organization, by the actor's org id from the session (never an id from
 * the client).  orgs.list, regions.*: what the actor manages, scoped in SQL
 * by vbp_manages() with the actor's kind and region path ($1, $2).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vbp.h"


#define ORG_FILTER                                                           \
    " FROM orgs o JOIN regions r ON r.id = o.region_id"                      \
    " LEFT JOIN users m ON m.org_id = o.id AND m.parent_user_id IS NULL"     \
    " WHERE o.kind = ANY (vbp_managed_kinds($1))"                            \
    "  AND o.region_id IN (SELECT id FROM regions WHERE starts_with(path, $2))" \
    "  AND ($3 = '' OR o.name ILIKE $3 OR o.code ILIKE $3)"                  \
    "  AND ($4 = '' OR o.kind = $4)"                                         \
    "  AND ($5 = '' OR EXISTS (SELECT 1 FROM regions fr"                    \
    "       WHERE (fr.code = $5 OR fr.name = $5)"                            \
    "       AND starts_with(r.path, fr.path)))"


static int org_self_params(vbp_call_t *call, vbp_params_t *params);
static int org_self_answer(vbp_call_t *call, PGresult *res);
static int orgs_list(vbp_call_t *call);
static int regions_list(vbp_call_t *call);
static int region_tree(vbp_call_t *call);
static int regions_create(vbp_call_t *call);
static int regions_rename(vbp_call_t *call);


static const vbp_read_t  org_self_read = {
    "org_self", org_self_params, org_self_answer
};


const vbp_op_t  vbp_org_ops[] = {
    { "org.self", NULL, 1, 1, "org.view", NULL, &org_self_read },
    { "orgs.list", orgs_list, 1, 0, "admin.orgs", NULL, NULL },
    { "regions.list", regions_list, 1, 1, "admin.orgs", NULL, NULL },
    { "regions.create", regions_create, 1, 0, "admin.orgs", NULL, NULL },
    { "regions.rename", regions_rename, 1, 0, "admin.orgs", NULL, NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


const vbp_stmt_t  vbp_org_stmts[] = {

    { "org_self",
      "SELECT o.id, o.code, o.name, o.kind, o.category, r.code, r.name"
      " FROM orgs o JOIN regions r ON r.id = o.region_id WHERE o.id = $1" },

    { "org_count", "SELECT count(*)" ORG_FILTER },


    /* a hospital's demand summary sheet (需求汇总表): the one it uploaded
     * last, in any project, shown in the browser (查看); the download
     * checks the viewer's scope */
    { "org_page",
      "SELECT o.id, o.code, o.name, o.kind, o.category, o.status, r.code,"
      "  r.name, m.username, m.status,"
      "  (SELECT '/api/files/download?item=' || x.item_id"
      "    || '&kind=summary&certificate=&inline=1'"
      "   FROM review_items i JOIN item_files x ON x.item_id = i.id"
      "    AND x.kind = 'summary'"
      "   WHERE i.org_id = o.id AND o.kind = 'hospital'"
      "   ORDER BY x.uploaded_at DESC LIMIT 1),"
      "  o.status = 'active', "
      VBP_KIND_TITLE("o.kind")
      ORG_FILTER
      " ORDER BY r.path, o.kind, o.code LIMIT $6 OFFSET $7" },

    /* the actor's own region and every one below it */
    { "region_list",
      "SELECT r.code, r.name, r.level, r.provincial, p.code,"
      "  (SELECT count(*) FROM orgs o WHERE o.region_id = r.id"
      "   AND o.kind = 'hospital')"
      " FROM regions r LEFT JOIN regions p ON p.id = r.parent_id"
      " WHERE starts_with(r.path, $1)"
      " ORDER BY CASE r.level WHEN 'nation' THEN '' WHEN 'province'"
      "  THEN r.code ELSE p.code END, r.level = 'city',"
      "  r.code" },

    /* a region strictly below the actor's: the alliance's provinces, a
     * province's cities */
    { "region_rename",
      "WITH old AS (SELECT id, name, path FROM regions"
      "  WHERE code = $1 AND starts_with(path, $3) AND path <> $3"
      "  AND level <> 'nation' FOR UPDATE)"
      " UPDATE regions r SET name = $2 FROM old WHERE r.id = old.id"
      " RETURNING old.name, old.path" },

    /* the regions a page offers to choose from: the actor's and below */
    { "region_options",
      "SELECT r.code, CASE WHEN r.level = 'city' THEN '　' ELSE '' END"
      "  || r.name, r.name"
      " FROM regions r LEFT JOIN regions p ON p.id = r.parent_id"
      " WHERE starts_with(r.path, $1) AND r.level <> 'nation'"
      " ORDER BY CASE WHEN r.level = 'province' THEN r.code ELSE p.code END,"
      "  r.level <> 'province', r.code" },

    { "region_by_code",
      "SELECT id, path, level FROM regions WHERE code = $1" },

    { "region_insert",
      "INSERT INTO regions (code, name, level, parent_id, path, provincial)"
      " VALUES ($1, $2, $3, $4, '', $5)"
      " ON CONFLICT (code) DO NOTHING RETURNING id" },

    { "region_set_path",
      "UPDATE regions r SET path = p.path || r.id || '/'"
      " FROM regions p WHERE r.id = $1 AND p.id = r.parent_id"
      " RETURNING r.path" },

    /* the bureau of a new region; its main account is added as a user */
    { "region_bureau",
      "INSERT INTO orgs (code, name, kind, region_id) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (code) DO NOTHING RETURNING id" },

    { NULL, NULL }
};


static int
org_self_params(vbp_call_t *call, vbp_params_t *params)
{
    if (vbp_actor_int(call, "org_id", params->text[0], VBP_READ_PARAM_LEN)
        != 0)
    {
        vbp_fail_unauthenticated(call);
        return 1;
    }

    params->values[0] = params->text[0];
    params->n = 1;

    return 0;
}


static int
org_self_answer(vbp_call_t *call, PGresult *res)
{
    if (PQntuples(res) != 1) {
        vbp_fail(call, 404, "not_found", "单位不存在");
        return 0;
    }

    call->data = json_pack("{s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s}}",
                           "id", (json_int_t) atoll(PQgetvalue(res, 0, 0)),
                           "code", PQgetvalue(res, 0, 1),
                           "name", PQgetvalue(res, 0, 2),
                           "kind", PQgetvalue(res, 0, 3),
                           "category", PQgetvalue(res, 0, 4),
                           "region", "code", PQgetvalue(res, 0, 5),
                           "name", PQgetvalue(res, 0, 6));

    return call->data ? 0 : -1;
}


static const char *const  org_names[] = {
    "id", "code", "name", "kind", "category", "status", "region_code",
    "region_name", "main_username", "main_status", "summary_sheet", "active",
    "kind_title", NULL
};


static int
orgs_list(vbp_call_t *call)
{
    char         q[200];
    const char  *params[7], *s;

    static const char *const  kinds[] = { "province_bureau", "city_bureau",
                                          "hospital", "manufacturer", NULL };

    params[0] = vbp_actor_str(call, "role");
    params[1] = vbp_actor_path(call);

    if (params[0] == NULL || params[1] == NULL) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    s = vbp_arg_string(call, "q", 0, 40, NULL);
    params[2] = s && *s ? vbp_like_pattern(s, q, sizeof(q)) : "";
    params[3] = vbp_arg_choice(call, "kind", kinds, NULL);
    params[4] = vbp_arg_string(call, "region", 0, 20, NULL);

    if (vbp_list(call, "org_count", "org_page", params, 5, org_names,
                 "issssssssnnbs")
        != 0)
    {
        return -1;
    }

    return vbp_region_options(call, params[4]);
}


/*
 * for a page's region filter or picker (call->page only): the regions the
 * actor may choose, cities under their province, the chosen one marked;
 * data.region_options
 */
int
vbp_region_options(vbp_call_t *call, const char *chosen)
{
    int          row;
    json_t      *options, *o;
    PGresult    *res;
    const char  *params[1];

    if (!call->page || !json_is_object(call->data)) {
        return 0;
    }

    params[0] = vbp_actor_path(call);
    if (params[0] == NULL) {
        return 0;
    }

    res = vbp_db_query(call->db, "region_options", 1, params);
    if (res == NULL) {
        return -1;
    }

    options = json_array();

    for (row = 0; options && row < PQntuples(res); row++) {
        o = json_pack("{s:s, s:s, s:b}", "code", PQgetvalue(res, row, 0),
                      "label", PQgetvalue(res, row, 1),
                      "selected", chosen
                                  && (strcmp(chosen, PQgetvalue(res, row, 0))
                                      == 0
                                      || strcmp(chosen, PQgetvalue(res, row, 2))
                                         == 0));

        if (o == NULL || json_array_append_new(options, o) != 0) {
            json_decref(options);
            options = NULL;
        }
    }

    PQclear(res);

    if (options == NULL) {
        return -1;
    }

    return json_object_set_new(call->data, "region_options", options);
}


static int
regions_list(vbp_call_t *call)
{
    PGresult    *res;
    const char  *params[1];

    static const char *const  names[] = {
        "code", "name", "level", "provincial", "parent_code", "hospitals",
        NULL
    };

    params[0] = vbp_actor_path(call);
    if (params[0] == NULL) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    res = vbp_db_query(call->db, "region_list", 1, params);
    if (res == NULL) {
        return -1;
    }

    call->data = json_pack("{s:o}", "items",
                           vbp_rows_json(res, names, "sssbni"));
    PQclear(res);

    if (call->data == NULL) {
        return -1;
    }

    return call->page ? region_tree(call) : 0;
}


/*
 * the page's tree of data.items (parents come first): each region with
 * its Chinese level, its children, its hospitals counted with theirs, and
 * whether the actor may rename it (those strictly below its own); the
 * actor may add regions unless it is a city
 */
static int
region_tree(vbp_call_t *call)
{
    size_t        i, j;
    json_t       *items, *item, *node, *tree, *nodes, *parent;
    const char   *level, *role, *title;
    json_int_t    n;

    items = json_object_get(call->data, "items");
    tree = json_array();
    nodes = json_array();

    if (tree == NULL || nodes == NULL) {
        json_decref(tree);
        json_decref(nodes);
        return -1;
    }

    json_array_foreach(items, i, item) {
        level = json_string_value(json_object_get(item, "level"));
        title = strcmp(level, "nation") == 0 ? "全国"
                : strcmp(level, "province") == 0 ? "省级"
                : json_is_true(json_object_get(item, "provincial")) ? "省本级"
                : "市级";

        node = json_pack("{s:O, s:O, s:s, s:O, s:b, s:[]}",
                         "code", json_object_get(item, "code"),
                         "name", json_object_get(item, "name"),
                         "level_title", title,
                         "hospitals", json_object_get(item, "hospitals"),
                         "can_rename", i > 0 && strcmp(level, "nation") != 0,
                         "children");

        if (node == NULL || json_array_append_new(nodes, node) != 0) {
            json_decref(tree);
            json_decref(nodes);
            return -1;
        }

        (void) json_object_set_new(item, "level_title", json_string(title));

        parent = NULL;

        for (j = 0; j < i; j++) {
            if (json_equal(json_object_get(json_array_get(nodes, j), "code"),
                           json_object_get(item, "parent_code")))
            {
                parent = json_array_get(nodes, j);
            }
        }

        (void) json_array_append(parent ? json_object_get(parent, "children")
                                        : tree, node);
    }

    /* a region's hospitals are its own and its children's: children last */
    for (i = json_array_size(nodes); i-- > 0; ) {
        node = json_array_get(nodes, i);
        n = json_integer_value(json_object_get(node, "hospitals"));

        (void) json_object_set_new(node, "has_children",
                   json_boolean(json_array_size(json_object_get(node,
                                                                "children"))));

        json_array_foreach(json_object_get(node, "children"), j, item) {
            n += json_integer_value(json_object_get(item, "hospitals"));
        }

        (void) json_object_set_new(node, "hospitals", json_integer(n));
    }

    json_decref(nodes);

    role = vbp_actor_str(call, "role");

    (void) json_object_set_new(call->data, "tree", tree);
    (void) json_object_set_new(call->data, "can_create",
                               json_boolean(role
                                            && strcmp(role, "city_bureau")
                                               != 0));

    return 0;
}


/*
 * one region and its bureau; returns 0, or -1 on a database failure, and
 * leaves a 409 in call when the code is taken.  path: the new region's.
 */
static int
region_add(vbp_call_t *call, const char *code, const char *name,
    const char *level, const char *parent_id, int provincial,
    const char *bureau_kind, const char *bureau_name, char *path,
    size_t path_len)
{
    char         id[24], org_code[40];
    PGresult    *res;
    const char  *params[5];

    params[0] = code;
    params[1] = name;
    params[2] = level;
    params[3] = parent_id;
    params[4] = provincial ? "true" : "false";

    res = vbp_db_query(call->db, "region_insert", 5, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_conflict(call, "code", "区划编码已存在");
        return 0;
    }

    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    params[0] = id;

    res = vbp_db_query(call->db, "region_set_path", 1, params);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }

    snprintf(path, path_len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    snprintf(org_code, sizeof(org_code), "YB%s", code);
    params[0] = org_code;
    params[1] = bureau_name;
    params[2] = bureau_kind;
    params[3] = id;

    res = vbp_db_query(call->db, "region_bureau", 4, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_conflict(call, "code", "该区划的医保局编码已被占用");
        return 0;
    }

    PQclear(res);

    return vbp_audit_detail(call, "region_created", "region", code, NULL,
                            NULL, NULL,
                            json_pack("{s:s, s:s, s:s}", "name", name,
                                      "level", level, "bureau", org_code),
                            path);
}


/* a region's name: 2 to 20 Chinese characters, letters or digits */
static const char *
region_name(vbp_call_t *call)
{
    const char  *name;

    name = vbp_arg_string(call, "name", 2, 20, "请输入区划名称");

    if (name && vbp_text_plain_name(name)) {
        vbp_field_error(call, "name", "区划名称只能包含汉字、字母和数字");
        return NULL;
    }

    return name;
}


/*
 * The administrative division codes (GB/T 2260) give a code its meaning:
 * a province is PP0000 for the PP of a province-level division, a city
 * (地级) PPCC00 with CC 01 to 90; PP9900 is the platform's 省本级, made
 * with its province, and never a code of anything else.
 */
static int
region_province_code(const char *code)
{
    int  pp;

    static const char  provinces[] = "11 12 13 14 15 21 22 23 31 32 33 34 35 "
                                     "36 37 41 42 43 44 45 46 50 51 52 53 54 "
                                     "61 62 63 64 65 71 81 82 ";

    if (strlen(code) != 6 || strspn(code, "0123456789") != 6
        || strcmp(code + 2, "0000") != 0)
    {
        return 0;
    }

    pp = (code[0] - '0') * 10 + (code[1] - '0');

    for (const char *p = provinces; *p; p += 3) {
        if ((p[0] - '0') * 10 + (p[1] - '0') == pp) {
            return 1;
        }
    }

    return 0;
}


static int
region_city_code(const char *code, const char *province)
{
    int  cc;

    if (strlen(code) != 6 || strspn(code, "0123456789") != 6
        || strncmp(code, province, 2) != 0 || strcmp(code + 4, "00") != 0)
    {
        return 0;
    }

    cc = (code[2] - '0') * 10 + (code[3] - '0');

    return cc >= 1 && cc <= 90;
}


/*
 * the alliance adds a province (with its 省本级 and both bureaus), a province
 * adds a city; codes are the six-digit administrative division codes
 */
static int
regions_create(vbp_call_t *call)
{
    int          province;
    char         path[256], parent_id[24], sub_code[8], text[200];
    const char  *role, *code, *name, *own, *params[1];

    role = vbp_actor_str(call, "role");
    own = json_string_value(json_object_get(
              json_object_get(call->actor, "region"), "code"));
    province = role && strcmp(role, "alliance") == 0;

    if (own == NULL
        || (!province && (role == NULL || strcmp(role, "province_bureau") != 0)))
    {
        vbp_fail(call, 403, "forbidden", "只有联采办和省级医保局可以新增区划");
        return 0;
    }

    code = vbp_arg_string(call, "code", 6, 6, "请输入六位区划编码");
    name = region_name(call);

    if (code && strspn(code, "0123456789") != 6) {
        vbp_field_error(call, "code", "区划编码应为六位数字");
        code = NULL;
    }

    if (code && province && !region_province_code(code)) {
        vbp_field_error(call, "code", "省级区划编码应为某一省级行政区的"
                        "编码（如 210000），以 0000 结尾");
    }

    if (code && !province && !region_city_code(code, own)) {
        vbp_field_error(call, "code", "市级区划编码应为本省的地级编码：本省编码"
                        "前两位 + 01 到 90 + 00（如 210100）；"
                        "省本级随省创建");
    }

    if (call->status) {
        return 0;
    }

    /* the parent: the nation for a province, the actor's own for a city */
    params[0] = province ? "86" : own;

    switch (vbp_db_value(call->db, "region_by_code", 1, params, parent_id,
                         sizeof(parent_id)))
    {
    case -1:
        return -1;
    case 0:
        vbp_fail(call, 409, "no_parent", "上级区划不存在");
        return 0;
    }

    snprintf(text, sizeof(text), "%s医疗保障局", name);

    if (region_add(call, code, name, province ? "province" : "city",
                   parent_id, 0, province ? "province_bureau" : "city_bureau",
                   text, path, sizeof(path)) != 0)
    {
        return -1;
    }

    if (call->status == 0 && province) {
        if (vbp_db_value(call->db, "region_by_code", 1, &code, parent_id,
                         sizeof(parent_id)) != 1)
        {
            return -1;
        }

        snprintf(sub_code, sizeof(sub_code), "%.2s9900", code);
        snprintf(text, sizeof(text), "%s本级", name);
        name = text;

        {
            char  bureau[200];

            snprintf(bureau, sizeof(bureau), "%.*s医疗保障局（省本级）",
                     (int) (strlen(text) - strlen("本级")), text);

            if (region_add(call, sub_code, name, "city", parent_id, 1,
                           "city_bureau", bureau, path, sizeof(path)) != 0)
            {
                return -1;
            }
        }
    }

    if (call->status) {
        return 0;
    }

    call->status = 201;
    call->data = json_pack("{s:s, s:s, s:{s:s, s:s}}", "code", code,
                           "message", "区划已新增，请为其医保局创建主账号",
                           "created", "code", code, "bureau_kind",
                           province ? "province_bureau" : "city_bureau");

    return call->data ? 0 : -1;
}


/* the alliance renames its provinces, a province its cities */
static int
regions_rename(vbp_call_t *call)
{
    PGresult    *res;
    const char  *code, *name, *role, *params[3];

    role = vbp_actor_str(call, "role");

    if (role == NULL || (strcmp(role, "alliance") != 0
                         && strcmp(role, "province_bureau") != 0))
    {
        vbp_fail(call, 403, "forbidden", "只有联采办和省级医保局可以修改区划");
        return 0;
    }

    code = vbp_arg_string(call, "code", 1, 12, "请选择区划");
    name = region_name(call);
    params[2] = vbp_actor_path(call);

    if (call->status) {
        return 0;
    }

    if (params[2] == NULL) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    params[0] = code;
    params[1] = name;

    res = vbp_db_query(call->db, "region_rename", 3, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", "区划不存在或不在管辖范围内");
        return 0;
    }

    if (vbp_audit_detail(call, "region_renamed", "region", code,
                         PQgetvalue(res, 0, 0), name, NULL, NULL,
                         PQgetvalue(res, 0, 1))
        != 0)
    {
        PQclear(res);
        return -1;
    }

    PQclear(res);

    call->data = json_pack("{s:s, s:s, s:s}", "code", code, "name", name,
                           "message", "已保存");

    return call->data ? 0 : -1;
}
