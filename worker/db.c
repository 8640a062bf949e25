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
    vbp_db_ahead_clear(db);

    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }

    db->broken = 1;
}


/*
 * The parameters of a statement as one key: each value with its length, a
 * NULL apart from "".  Its length, or 0 when it does not fit (a statement
 * whose key does not fit is neither kept nor looked for).
 */
static size_t
vbp_db_key(char *key, int nparams, const char *const *params)
{
    int     i;
    size_t  len, n;

    len = 0;

    for (i = 0; i < nparams; i++) {
        if (params[i] == NULL) {
            if (len + 1 > VBP_DB_AHEAD_KEY) {
                return 0;
            }
            key[len++] = 'N';
            continue;
        }

        n = strlen(params[i]);
        if (len + n + 24 > VBP_DB_AHEAD_KEY) {
            return 0;
        }

        len += (size_t) snprintf(key + len, VBP_DB_AHEAD_KEY - len, "V%zu:",
                                 n);
        memcpy(key + len, params[i], n);
        len += n;
    }

    return len ? len : 1;       /* no parameters: a key of its own */
}


/*
 * Statements a request will ask for, sent ahead in one round trip (libpq's
 * pipeline mode): a page that reads ten things by one key does not wait
 * for PostgreSQL ten times, nor wake it ten times.  Each answer is kept
 * until vbp_db_query() asks for the same statement with the same
 * parameters, and is then that query's answer; what nobody asks for goes
 * when the call ends (vbp_db_ahead_clear).  Sent ahead is only a guess:
 * a failure, or a statement asked for with other parameters, is no more
 * than a miss, and the statement then runs the plain way -- a failure
 * too, as it would have.  Inside the call's transaction, as each would
 * have run.  Only reads, and only those the call asks for before it
 * writes anything: a kept answer is what the row was when it was sent.
 * 0, or -1 when the connection is lost.
 */
int
vbp_db_ahead(vbp_db_t *db, const vbp_db_ask_t *asks, size_t n)
{
    size_t          i, sent;
    PGresult       *res;
    vbp_db_kept_t  *k;
    ExecStatusType  st;

    vbp_db_ahead_clear(db);

    if (db->conn == NULL || n > VBP_DB_AHEAD) {
        return 0;
    }

    if (PQenterPipelineMode(db->conn) != 1) {
        vbp_log("cannot pipeline: %s", PQerrorMessage(db->conn));
        return 0;
    }

    for (sent = 0; sent < n; sent++) {
        if (PQsendQueryPrepared(db->conn, asks[sent].stmt, asks[sent].nparams,
                                asks[sent].params, NULL, NULL, 0) != 1)
        {
            vbp_log("statement \"%s\" not sent ahead: %s", asks[sent].stmt,
                    PQerrorMessage(db->conn));
            break;
        }
    }

    if (PQpipelineSync(db->conn) != 1) {
        vbp_log("cannot end a pipeline: %s", PQerrorMessage(db->conn));
        vbp_db_close(db);
        return -1;
    }

    /* each statement's answer, then NULL; the Sync's answer last */
    for (i = 0; ; ) {
        res = PQgetResult(db->conn);

        if (res == NULL) {
            if (PQstatus(db->conn) != CONNECTION_OK || ++i > sent) {
                vbp_log("a pipeline lost: %s", PQerrorMessage(db->conn));
                vbp_db_close(db);
                return -1;
            }
            continue;
        }

        st = PQresultStatus(res);

        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }

        k = &db->kept[db->nkept];

        if (st == PGRES_TUPLES_OK && i < sent && db->nkept < VBP_DB_AHEAD
            && (k->key_len = vbp_db_key(k->key, asks[i].nparams,
                                        asks[i].params)) > 0)
        {
            k->stmt = asks[i].stmt;
            k->res = res;
            db->nkept++;

        } else {
            PQclear(res);
        }
    }

    if (PQexitPipelineMode(db->conn) != 1) {
        vbp_log("cannot leave pipeline mode: %s", PQerrorMessage(db->conn));
        vbp_db_close(db);
        return -1;
    }

    return 0;
}


/* the answers sent ahead that nobody asked for */
void
vbp_db_ahead_clear(vbp_db_t *db)
{
    while (db->nkept) {
        PQclear(db->kept[--db->nkept].res);
    }
}


/* an answer sent ahead for this statement and these parameters, or NULL */
static PGresult *
vbp_db_ahead_take(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params)
{
    char       key[VBP_DB_AHEAD_KEY];
    size_t     i, len;
    PGresult  *res;

    len = vbp_db_key(key, nparams, params);

    for (i = 0; len && i < db->nkept; i++) {
        if (strcmp(db->kept[i].stmt, stmt) == 0 && db->kept[i].key_len == len
            && memcmp(db->kept[i].key, key, len) == 0)
        {
            res = db->kept[i].res;
            db->kept[i] = db->kept[--db->nkept];
            return res;
        }
    }

    return NULL;
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

    if (db->nkept && (res = vbp_db_ahead_take(db, stmt, nparams, params))) {
        return res;
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
