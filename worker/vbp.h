/*
 * vbp-worker: the pool of processes behind ngx_http_vbp_module.
 *
 * One master binds the socket and pre-forks children (pool.c); each child
 * owns one PostgreSQL connection (db.c), reads one frame (frame.c), runs the
 * named operation in one transaction (ops.c and the domain files) and
 * writes one frame back.
 */

#ifndef VBP_H
#define VBP_H

#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>


#define VBP_FRAME_MAX_DEFAULT  (8 * 1024 * 1024)

/* the Chinese name of an org kind, as an SQL expression over column c */
#define VBP_KIND_TITLE(c)                                                    \
    "CASE " c " WHEN 'alliance' THEN '联采办'"                               \
    " WHEN 'province_bureau' THEN '省级医保局'"                              \
    " WHEN 'city_bureau' THEN '市级医保局'"                                  \
    " WHEN 'hospital' THEN '医疗机构' ELSE '生产企业' END"


/* a growing buffer: answers, files the worker makes */
typedef struct {
    char        *data;
    size_t       len;
    size_t       size;
} vbp_buf_t;


#define VBP_DB_AHEAD        12     /* statements sent ahead at once */
#define VBP_DB_AHEAD_KEY    128    /* their parameters, as one key */

/* a statement sent ahead (vbp_db_ahead) and its parameters */
typedef struct {
    const char  *stmt;
    int          nparams;
    const char  *params[5];
} vbp_db_ask_t;

/* the answer of one, until a vbp_db_query() asks for it */
typedef struct {
    const char  *stmt;
    size_t       key_len;
    char         key[VBP_DB_AHEAD_KEY];
    PGresult    *res;
} vbp_db_kept_t;

typedef struct {
    PGconn         *conn;
    const char     *conninfo;
    int             broken;     /* the connection failed: reconnect */
    int             conflict;   /* a deadlock or serialization failure */
    size_t          nkept;
    vbp_db_kept_t   kept[VBP_DB_AHEAD];
} vbp_db_t;


typedef struct {
    /* the request: the frame and actor are the call's own references */
    json_t      *frame;
    const char  *op;
    json_t      *actor;         /* from the session; NULL if signed out */
    json_t      *own_actor;     /* the reference, when not in the frame */
    unsigned     bad_body:1;    /* a JSON body that is no JSON object */
    json_t      *args;
    const char  *ip;
    const char  *sid;
    long long    session_ttl;
    int          captcha_ok;
    json_t      *who;           /* audit identity when not the actor */
    const char  *variant;       /* of the operation, see vbp_op_t */
    int          refill;        /* a form shown again after a POST */
    json_t      *posted_error;  /* refill: the POST's error, borrowed */
    int          page;          /* for a page: options of its selects too */

    /* the answer */
    int          status;        /* 0 until decided: 200 */
    json_t      *data;
    json_t      *error;         /* {code, message, fields} */
    json_t      *extra;         /* merged into the answer frame */
    int          commit_on_error;

    vbp_db_t    *db;
} vbp_call_t;


/* returns 0 (the answer is in call) or -1 (database failure) */
typedef int (*vbp_op_handler_t)(vbp_call_t *call);

#define VBP_READ_PARAMS      4
#define VBP_READ_PARAM_LEN   64

typedef struct {
    int          n;
    const char  *values[VBP_READ_PARAMS];
    char         text[VBP_READ_PARAMS][VBP_READ_PARAM_LEN];
} vbp_params_t;

/*
 * A read of one prepared statement, split where the statement runs, so a
 * read child can pipeline many calls' statements on its one connection
 * (reader.c) and a transaction child can run it the plain way (ops.c).
 *   params: 0 run the statement, 1 the call is answered already, -1 error
 *   answer: the call's answer from the statement's result; 0 or -1
 */
typedef struct {
    const char  *stmt;
    int        (*params)(vbp_call_t *call, vbp_params_t *params);
    int        (*answer)(vbp_call_t *call, PGresult *res);
} vbp_read_t;

typedef struct {
    const char        *name;
    vbp_op_handler_t   handler;         /* NULL for a pipelined read */
    int                needs_actor;
    int                one_statement;   /* no BEGIN/COMMIT round trips */
    const char        *permission;      /* NULL: any signed-in user */
    const char        *variant;         /* call->variant: one handler, */
                                        /* several operations */
    const vbp_read_t  *read;            /* a pipelined read: see reader.c */
} vbp_op_t;

typedef struct {
    const char  *name;
    const char  *sql;
} vbp_stmt_t;


typedef struct {
    const char  *conninfo;
    const char  *redis_host;
    int          redis_port;
    size_t       frame_max;
    int          idle_timeout;  /* seconds a kept-alive connection may idle */
    const char  *upload_dir;    /* nginx's client_body_temp_path */
    const char  *file_store;    /* uploaded files by SHA-256 (-S) */
} vbp_config_t;

extern vbp_config_t  vbp_config;
extern volatile int  vbp_quit;


/* one record of an imported file (csv.c, xlsx.c) */
typedef struct {
    long          line;         /* the line (CSV) or row (XLSX) it began on */
    char        **fields;       /* the reader's buffers: may be trimmed */
    int           nfields;
    const char   *error;        /* what is wrong with the record as read */
    int           error_col;    /* the column of that, or -1 */
} vbp_record_t;

/* returns 0 to go on, -1 to stop */
typedef int (*vbp_record_pt)(void *data, vbp_record_t *rec);

#define VBP_CSV_FIELD_MAX   512
#define VBP_CSV_FIELDS_MAX  16

typedef struct {
    vbp_record_pt   record;
    void           *data;
    long            line;
    long            record_line;
    int             bom;
    unsigned        quoted:1;
    unsigned        quote_pending:1;
    unsigned        was_quoted:1;
    unsigned        cr:1;
    unsigned        too_wide:1;
    unsigned        at_start:1;
    int             error_col;
    size_t          len;
    char            field[VBP_CSV_FIELD_MAX];
    int             nfields;
    char           *fields[VBP_CSV_FIELDS_MAX];
    char            text[(VBP_CSV_FIELD_MAX + 1) * VBP_CSV_FIELDS_MAX];
    size_t          used;
    const char     *error;
} vbp_csv_t;

/* csv.c */
void vbp_csv_init(vbp_csv_t *csv, vbp_record_pt record, void *data);
int vbp_csv_feed(vbp_csv_t *csv, const char *buf, size_t len);
int vbp_csv_finish(vbp_csv_t *csv);
int vbp_csv_header(vbp_buf_t *out, const char *header);
int vbp_csv_cell(vbp_buf_t *out, const char *s, int last);
int vbp_csv_download(vbp_call_t *call, const char *header, const char *stmt,
    int nparams, const char *const *params, const char *filename);

/* xlsx.c: the first sheet's rows; NULL, or why the file cannot be read */
const char *vbp_xlsx_read(const char *path, vbp_record_pt record,
    void *data);

/* text.c */
long vbp_utf8_next(const unsigned char **p);
const char *vbp_text_check(const char *s, size_t len, size_t *chars);
const char *vbp_text_check_lines(const char *s, size_t len, size_t *chars);
const char *vbp_text_plain_name(const char *s);
const char *vbp_text_digits(const char *s, char *out, size_t len);

/* store.c: files made for a download, sent by nginx */
int vbp_store_create(const char *ext, char *uri, size_t len);
void vbp_store_discard(const char *uri);

/* log.c */
void vbp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* jpool.c */
void vbp_jpool_init(void);
int vbp_jpool_enable(int on);
void vbp_jpool_reset(void);
void vbp_json_free(void *p);

/* frame.c */
#define VBP_FRAME_HEADER  4
int vbp_frame_read(int fd, size_t max, int idle_timeout, json_t **frame,
    json_t **actor);
int vbp_frame_decode(const unsigned char *body, size_t len, json_t **frame,
    json_t **actor);
unsigned char *vbp_frame_encode_answer(int status, json_t *extra,
    const char *key, json_t *value, size_t *len);
int vbp_frame_send(int fd, const unsigned char *out, size_t len);
void vbp_frame_cleanup(void);

/* db.c */
int vbp_db_connect(vbp_db_t *db);
void vbp_db_close(vbp_db_t *db);
int vbp_db_ahead(vbp_db_t *db, const vbp_db_ask_t *asks, size_t n);
void vbp_db_ahead_clear(vbp_db_t *db);
PGresult *vbp_db_query(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params);
int vbp_db_exec(vbp_db_t *db, const char *sql);
void vbp_db_note_conflict(vbp_db_t *db, PGresult *res);
int vbp_db_run(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params);
PGresult *vbp_db_query_judged(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params, json_t **refusal);
int vbp_db_rows(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params, int (*row)(void *data, PGresult *res),
    void *data);
int vbp_db_value(vbp_db_t *db, const char *stmt, int nparams,
    const char *const *params, char *out, size_t len);

/* ops.c */
const vbp_op_t *vbp_op_find(const char *name);
void vbp_call_init(vbp_call_t *call, json_t *frame, json_t *actor);
void vbp_call_end(vbp_call_t *call);
void vbp_call_bad_frame(vbp_call_t *call);
const vbp_op_t *vbp_call_prepare(vbp_call_t *call);
void vbp_call_run(vbp_call_t *call, vbp_db_t *db);
void vbp_call_execute(vbp_call_t *call, const vbp_op_t *op, vbp_db_t *db);
int vbp_read_run(vbp_call_t *call, const vbp_read_t *read);
unsigned char *vbp_call_encode(vbp_call_t *call, size_t *len);
void vbp_call_reset(vbp_call_t *call);
void vbp_fail(vbp_call_t *call, int status, const char *code,
    const char *message);
void vbp_field_error(vbp_call_t *call, const char *field,
    const char *message);
void vbp_conflict(vbp_call_t *call, const char *field, const char *message);
void vbp_fail_unauthenticated(vbp_call_t *call);
const char *vbp_arg_string(vbp_call_t *call, const char *name, size_t min,
    size_t max, const char *missing);
int vbp_audit(vbp_call_t *call, const char *action, const char *target_type,
    const char *target_id, const char *from, const char *to,
    const char *reason);
int vbp_audit_detail(vbp_call_t *call, const char *action,
    const char *target_type, const char *target_id, const char *from,
    const char *to, const char *reason, json_t *detail,
    const char *scope_path);
int vbp_actor_int(vbp_call_t *call, const char *key, char *buf, size_t len);
const char *vbp_call_ip(vbp_call_t *call);
const char *vbp_actor_str(vbp_call_t *call, const char *key);
const char *vbp_actor_path(vbp_call_t *call);
int vbp_actor_has(vbp_call_t *call, const char *permission);
int vbp_arg_page(vbp_call_t *call, long *limit, long *offset, long *page);
int vbp_arg_flag(vbp_call_t *call, const char *name);
const char *vbp_arg_text(vbp_call_t *call, const char *name, size_t max);
const char *vbp_arg_choice(vbp_call_t *call, const char *name,
    const char *const *choices, const char *missing);
int vbp_arg_ids(vbp_call_t *call, const char *name, char *out, size_t len,
    size_t *count);
int vbp_arg_id_list(vbp_call_t *call, const char *name, const char *noun,
    char *out, size_t len, size_t *count);
int vbp_arg_id(vbp_call_t *call, const char *name, char *out, size_t len);
const char *vbp_like_pattern(const char *s, char *out, size_t len);
json_t *vbp_row_json(PGresult *res, int row, const char *const *names,
    const char *types);
json_t *vbp_rows_json(PGresult *res, const char *const *names,
    const char *types);
json_t *vbp_page_json(json_t *items, long long total, long page, long limit);
int vbp_list(vbp_call_t *call, const char *count_stmt, const char *page_stmt,
    const char **params, int n, const char *const *names, const char *types);
extern const vbp_stmt_t  vbp_ops_stmts[];

/* sessions.c */
int vbp_session_store(const char *sid, long long uid, const char *json,
    long long ttl);
int vbp_session_delete(const char *sid, long long uid);
int vbp_sessions_revoke(long long uid);
int vbp_sessions_revoke_rows(PGresult *res, int col);
void vbp_sessions_close(void);
long long vbp_redis_count(const char *key, int window, int add);
void vbp_flash_put(const char *sid, json_t *flash);

/* ops.c: vbp_buf_t */
const char *vbp_error_text(vbp_call_t *call);
void vbp_buf_init(vbp_buf_t *b);
int vbp_buf_add(vbp_buf_t *b, const char *text, size_t n);
int vbp_buf_append(const char *text, size_t n, void *data);
void vbp_buf_free(vbp_buf_t *b);
json_t *vbp_flash_take(const char *sid);
const char *vbp_upload_path(vbp_call_t *call, const char *field,
    const char *missing);

/* password.c */
int vbp_password_hash(const char *password, char *out, size_t outlen);
int vbp_password_verify(const char *hash, const char *password);
const char *vbp_password_policy(const char *password, const char *old,
    const char *username);
int vbp_random_token(char *out, size_t nbytes);
int vbp_password_generate(char *out, size_t len);
int vbp_password_init(void);

/* the domain files: auth.c, orgs.c, users.c, audit.c, import.c, ... */
extern const vbp_op_t    vbp_auth_ops[];
extern const vbp_stmt_t  vbp_auth_stmts[];
extern const vbp_op_t    vbp_org_ops[];
int vbp_region_options(vbp_call_t *call, const char *chosen);
extern const vbp_stmt_t  vbp_org_stmts[];
extern const vbp_op_t    vbp_user_ops[];
extern const vbp_stmt_t  vbp_user_stmts[];
extern const vbp_op_t    vbp_audit_ops[];
extern const vbp_stmt_t  vbp_audit_stmts[];
extern const vbp_op_t    vbp_import_ops[];
extern const vbp_stmt_t  vbp_import_stmts[];

/* chain.c: the review chain, which every domain fires through */
extern const vbp_stmt_t  vbp_chain_stmts[];
int vbp_chain_fire_call(vbp_call_t *call, const char *chain,
    const char *action, const char *ids, const char *reason, json_t **moved);
const char *vbp_chain_reason(vbp_call_t *call);
void vbp_chain_refused(vbp_call_t *call, const char *outcome,
    const char *state, const char *detail, const char *name,
    const char *action_title);
int vbp_chain_offer(vbp_call_t *call, const char *chain, json_t *items);
int vbp_chain_batch(json_t *data, json_t *items);
int vbp_chain_item(vbp_call_t *call, const char *id, const char *org);

/* review.c: the reviewers' pages; filing.c: projects and filings */
extern const vbp_op_t    vbp_review_ops[];
extern const vbp_stmt_t  vbp_review_stmts[];
extern const vbp_op_t    vbp_filing_ops[];
extern const vbp_stmt_t  vbp_filing_stmts[];
int vbp_review_deadlines(vbp_call_t *call, const char *org, json_t **out);
int vbp_filing_lines(vbp_call_t *call, const char *item);
int vbp_filing_totals(vbp_call_t *call, const char *item);
int vbp_filing_item(vbp_call_t *call, char *id, size_t len);
extern const vbp_op_t    vbp_files_ops[];
/* notices.c: 公告通知 */
extern const vbp_op_t    vbp_notice_ops[];
extern const vbp_stmt_t  vbp_notice_stmts[];
int vbp_notices_home(vbp_call_t *call, json_t **out);
extern const vbp_stmt_t  vbp_files_stmts[];

/* pool.c */
typedef struct {
    const char  *listen_addr;   /* -l: transaction children */
    int          children;      /* -n */
    const char  *reader_addr;   /* -R: read children (reader.c) */
    int          readers;       /* -N */
    const char  *hasher_addr;   /* -a: hash children */
    int          hashers;       /* -A */
    const char  *pidfile;       /* -p */
} vbp_pool_conf_t;

int vbp_pool_run(vbp_pool_conf_t *pc);
int vbp_signals(int child);

/* reader.c */
void vbp_reader(int fd);

#endif /* VBP_H */
