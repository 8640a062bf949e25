/*
 * Organizations.  org.self: the signed-in user's own organization, scoped
 * by the actor's org id from the session (never an id from the client).
 */

#include <stdlib.h>

#include "vbp.h"


static int org_self(vbp_call_t *call);


const vbp_op_t  vbp_org_ops[] = {
    { "org.self", org_self, 1, 1 },
    { NULL, NULL, 0, 0 }
};


const vbp_stmt_t  vbp_org_stmts[] = {

    { "org_self",
      "SELECT o.id, o.code, o.name, o.kind, o.category, r.code, r.name"
      " FROM orgs o JOIN regions r ON r.id = o.region_id WHERE o.id = $1" },

    { NULL, NULL }
};


static int
org_self(vbp_call_t *call)
{
    char         org[24];
    PGresult    *res;
    const char  *params[1];

    if (vbp_actor_int(call, "org_id", org, sizeof(org)) != 0) {
        vbp_fail(call, 401, "unauthenticated", "未登录或登录已超时，请重新登录");
        return 0;
    }

    params[0] = org;

    res = vbp_db_query(call->db, "org_self", 1, params);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
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
    PQclear(res);

    return call->data ? 0 : -1;
}
