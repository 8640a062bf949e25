/*
 * The child's one PostgreSQL connection.  Every statement that takes input
 * is prepared once per connection from the registries below and run with
 * parameters; a connection that fails is marked broken and made again
 * before the next operation.
 */

#include <stdio.h>
#include <string.h>

#include "vbp.h"


static const vbp_stmt_t  *vbp_stmt_lists[] = {
    vbp_ops_stmts,
    vbp_auth_stmts,
    vbp_org_stmts,
    vbp_user_stmts,
    vbp_audit_stmts,
    vbp_import_stmts,
    vbp_chain_stmts,
    vbp_review_stmts,
    vbp_filing_stmts,
    vbp_files_stmts,
    vbp_notice_stmts,
    NULL
};


int
vbp_db_connect(vbp_db_t *db)
{
    size_t             i;
    PGresult          *res;
    const vbp_stmt_t  *s;

    vbp_db_close(db);

    db->conn = PQconnectdb(db->conninfo);

    if (PQstatus(db->conn) != CONNECTION_OK) {
        vbp_log("database connection failed: %s",
                PQerrorMessage(db->conn));
        vbp_db_close(db);
        return -1;
    }

    for (i = 0; vbp_stmt_lists[i]; i++) {
        for (s = vbp_stmt_lists[i]; s->name; s++) {
            res = PQprepare(db->conn, s->name, s->sql, 0, NULL);

            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                vbp_log("cannot prepare \"%s\": %s", s->name,
                        PQerrorMessage(db->conn));
                PQclear(res);
                vbp_db_close(db);
                return -1;
            }

            PQclear(res);
        }
    }

    db->broken = 0;

    return 0;
}


void
vbp_db_close(vbp_db_t *db)
{
    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }

    db->broken = 1;
}


/* a result with tuples or a completed command, or NULL (logged) */
PGresult *
vbp_db_query(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params)
{
    return vbp_db_query_judged(db, stmt, nparams, params, NULL);
}


/*
 * A statement that may refuse: a function that judges raises SQLSTATE
 * VB422 with what it refused as JSON in the error's detail (its statement,
 * alone in its transaction, left nothing behind).  The result, or NULL:
 * with *refusal set (a new reference) when refused, else a failure
 * (logged; the connection marked broken when it is).  vbp_db_query() is
 * this without refusals.
 */
PGresult *
vbp_db_query_judged(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params, json_t **refusal)
{
    PGresult        *res;
    const char      *state, *detail;
    ExecStatusType   st;

    if (refusal) {
        *refusal = NULL;
    }

    if (db->conn == NULL) {
        return NULL;
    }

    res = PQexecPrepared(db->conn, stmt, nparams, params, NULL, NULL, 0);
    st = PQresultStatus(res);

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        return res;
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    if (refusal && state && strcmp(state, "VB422") == 0 && detail) {
        *refusal = json_loads(detail, 0, NULL);
        PQclear(res);

        if (*refusal == NULL) {
            vbp_log("statement \"%s\": a refusal that is not JSON", stmt);
        }

        return NULL;
    }

    vbp_log("statement \"%s\" failed: %s", stmt, PQerrorMessage(db->conn));
    vbp_db_note_conflict(db, res);
    PQclear(res);

    if (PQstatus(db->conn) != CONNECTION_OK) {
        db->broken = 1;
    }

    return NULL;
}


/*
 * a deadlock or a serialization failure says nothing about the operation:
 * run again, it will most likely pass (vbp_call_execute does so once)
 */
void
vbp_db_note_conflict(vbp_db_t *db, PGresult *res)
{
    const char  *state;

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0))
    {
        db->conflict = 1;
    }
}


/* fixed statements only (BEGIN, COMMIT, ROLLBACK): never input */
int
vbp_db_exec(vbp_db_t *db, const char *sql)
{
    PGresult  *res;
    int        ok;

    if (db->conn == NULL) {
        return -1;
    }

    res = PQexec(db->conn, sql);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;

    if (!ok) {
        vbp_log("\"%s\" failed: %s", sql, PQerrorMessage(db->conn));
        vbp_db_note_conflict(db, res);

        if (PQstatus(db->conn) != CONNECTION_OK) {
            db->broken = 1;
        }
    }

    PQclear(res);

    return ok ? 0 : -1;
}


/* the first column of a one-row answer: 1 found, 0 no row, -1 failure */
int
vbp_db_value(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params, char *out, size_t len)
{
    int        found;
    PGresult  *res;

    res = vbp_db_query(db, stmt, nparams, params);
    if (res == NULL) {
        return -1;
    }

    found = PQntuples(res) > 0;

    if (found) {
        snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
    }

    PQclear(res);

    return found;
}


/* a statement whose answer is not needed: 0, or -1 on failure */
int
vbp_db_run(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params)
{
    PGresult  *res;

    res = vbp_db_query(db, stmt, nparams, params);
    PQclear(res);

    return res ? 0 : -1;
}


/*
 * A statement's rows one at a time (libpq's single-row mode): each is
 * handed to row() as a one-row result and freed, so memory stays flat
 * whatever the size of the answer.  0 every row seen, -1 a failure of the
 * statement or of row() (what is left of the answer is read and dropped,
 * so the connection stays usable).
 */
int
vbp_db_rows(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params, int (*row)(void *data, PGresult *res),
    void *data)
{
    int              rc;
    PGresult        *res;
    ExecStatusType   st;

    if (db->conn == NULL
        || PQsendQueryPrepared(db->conn, stmt, nparams, params, NULL, NULL,
                               0) != 1)
    {
        if (db->conn) {
            vbp_log("statement \"%s\" not sent: %s", stmt,
                    PQerrorMessage(db->conn));
            db->broken = PQstatus(db->conn) != CONNECTION_OK;
        }
        return -1;
    }

    if (PQsetSingleRowMode(db->conn) != 1) {
        vbp_log("statement \"%s\": no single-row mode", stmt);
    }

    rc = 0;

    while ((res = PQgetResult(db->conn)) != NULL) {
        st = PQresultStatus(res);

        if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
            if (rc == 0 && PQntuples(res) > 0 && row(data, res) != 0) {
                rc = -1;
            }

        } else if (rc == 0) {
            vbp_log("statement \"%s\" failed: %s", stmt,
                    PQerrorMessage(db->conn));
            vbp_db_note_conflict(db, res);
            rc = -1;
        }

        PQclear(res);
    }

    if (PQstatus(db->conn) != CONNECTION_OK) {
        db->broken = 1;
        rc = -1;
    }

    return rc;
}
