/*
 * Bulk import from CSV or XLSX: hospitals and manufacturers (seed 004: "a
 * hospital missing from the list must be importable") and a project's
 * catalog (SPEC §3).  One machinery, a table per kind of import (its
 * columns, staging table, checks and apply).
 *
 * nginx writes the upload to a file (vbp_upload on); the frame names it.
 * The file is streamed record by record: each row is checked on its own,
 * then COPYed into the unlogged staging table org_import_rows, and the
 * checks that need the database (regions, scope, duplicates, codes taken by
 * other kinds) run as set-based statements over the staged rows.  Any bad
 * row and nothing is written; otherwise one upsert applies the lot.  Rows
 * equal to what is stored change nothing, so importing a file again is a
 * no-op.  Memory holds one record and the first IMPORT_ERRORS_MAX errors.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "vbp.h"


#define IMPORT_ERRORS_MAX  200
#define IMPORT_ROWS_MAX    200000
#define IMPORT_CHUNK       65536
#define IMPORT_COLS_MAX    8


typedef struct import_s  import_t;

/* one column of an import: its field, its name on the page, the header
 * names the seeds' spreadsheets use for it, and its checks */
typedef struct {
    const char   *field;
    const char   *title;
    const char   *headers[8];
    size_t        max_chars;
    unsigned      required:1;       /* the header must name it */
    unsigned      nonempty:1;
    const char *(*check)(const char *value, size_t len);
} import_col_t;

typedef struct {
    const import_col_t  *cols;
    int                  ncols;
    const char          *copy;        /* COPY of a staged row */
    const char          *expected;    /* the header, for its message */
    const char          *problems;    /* statements over the staged rows */
    const char          *bad_lines;
    const char          *cleanup;
    int                (*apply)(import_t *im, const char *sha256,
                                long long bytes);
} import_kind_t;

struct import_s {
    vbp_call_t           *call;
    PGconn               *conn;
    const import_kind_t  *of;
    const char           *kind;       /* orgs: hospital or manufacturer;
                                         a catalog: its project's status */
    const char           *params[4];  /* of the problems statements */
    int                   nparams;
    int                   header_done;
    int                   col[IMPORT_COLS_MAX];
    long                  rows;
    long                  bad;
    long                  last_bad_line;
    json_t               *errors;
    const char           *stop;       /* why reading stopped early */
    int                   copy_failed;
    char                  key[24];
    char                  project[24];
    char                  line[IMPORT_COLS_MAX * (VBP_CSV_FIELD_MAX * 2 + 2)
                               + 64];
};


static int import_run(import_t *im, const char *path);
static int catalog_import(vbp_call_t *call);
static int orgs_apply(import_t *im, const char *sha256, long long bytes);
static int catalog_apply(import_t *im, const char *sha256, long long bytes);
static int import_done(import_t *im, const char *action,
    const char *target_type, const char *target_id, const char *note_key,
    const char *note, long long bytes, long long inserted, long long updated,
    const char *extra, const char *word, long long more, int changed,
    const char *same);
static const char *import_org_code(const char *value, size_t len);
static const char *import_region_code(const char *value, size_t len);
static int orgs_import(vbp_call_t *call);
static int import_record(void *data, vbp_record_t *rec);
static void import_error(import_t *im, long line, const char *field,
    const char *message);
static int import_header(import_t *im, vbp_record_t *rec);
static const char *import_check(import_t *im, const char *value, int col,
    char *buf, size_t len);
static const char *import_field_of(import_t *im, int col);
static int import_stream(import_t *im, const char *path, char *sha256,
    long long *bytes);
static int import_copy_end(import_t *im);
static const char *import_not_csv(import_t *im, const char *buf, size_t n);
static int import_problems(import_t *im);
static size_t import_escape(char *out, size_t len, const char *s);


const vbp_op_t  vbp_import_ops[] = {
    { "orgs.import", orgs_import, 1, 0, "admin.orgs", NULL, NULL },
    { "catalog.import", catalog_import, 1, 0, "report.projects", NULL, NULL },
    { NULL, NULL, 0, 0, NULL, NULL, NULL }
};


/*
 * every way a staged row can be wrong against the database: $1 the import,
 * $2 the kind imported, $3 and $4 the actor's kind and region path.  What
 * lies outside the actor's scope looks like what does not exist: a region
 * out of reach is "not found or not yours" like a missing one, and a code
 * held by an org the actor may not change (another kind, another region)
 * is only "taken", never whose (org codes are national identifiers and
 * unique across the platform, see README)
 */
#define IMPORT_PROBLEMS                                                      \
    " SELECT s.line, 'region_code' AS field,"                                \
    "  '区划编码不存在或不在管辖范围内' AS message"                          \
    " FROM org_import_rows s LEFT JOIN regions r ON r.code = s.region_code"  \
    " WHERE s.import_key = $1"                                               \
    "  AND (r.id IS NULL OR NOT vbp_manages($3, $4, $2, r.path))"            \
    " UNION ALL"                                                             \
    " SELECT s.line, 'region_code', CASE WHEN r.level = 'nation'"            \
    "  THEN '不能直接挂在全国下' ELSE '医疗机构应挂在市级区划（或省本级）下'"\
    "  END"                                                                  \
    " FROM org_import_rows s JOIN regions r ON r.code = s.region_code"       \
    " WHERE s.import_key = $1 AND vbp_manages($3, $4, $2, r.path)"           \
    "  AND (($2 = 'hospital' AND r.level <> 'city') OR r.level = 'nation')"  \
    " UNION ALL"                                                             \
    " SELECT d.line, 'code', '编码与第 ' || d.first || ' 行重复'"            \
    " FROM (SELECT line, min(line) OVER (PARTITION BY code) AS first"        \
    "  FROM org_import_rows WHERE import_key = $1) d"                        \
    " WHERE d.line <> d.first"                                               \
    " UNION ALL"                                                             \
    " SELECT s.line, 'code', '该编码已被占用，不能导入"                       \
    "（如确属本辖区机构，请联系上级管理员）'"                                \
    " FROM org_import_rows s JOIN orgs o ON o.code = s.code"                 \
    " JOIN regions r ON r.id = o.region_id"                                  \
    " WHERE s.import_key = $1"                                               \
    "  AND (o.kind <> $2 OR NOT vbp_manages($3, $4, o.kind, r.path))"


/*
 * what can be wrong with a staged catalog against the database: $1 the
 * import, $2 the project, $3 its status.  A serial twice in the file; once
 * the project runs (or a hospital filed it), a serial of the catalog
 * missing from the file: said at the header line, 1; a line a hospital
 * filed changed in any column (README: a filed line keeps its meaning)
 */
#define CATALOG_PROBLEMS                                                     \
    " SELECT d.line, 'serial' AS field,"                                     \
    "  '流水号与第 ' || d.first || ' 行重复' AS message"                     \
    " FROM (SELECT line, min(line) OVER (PARTITION BY serial) AS first"      \
    "  FROM catalog_import_rows WHERE import_key = $1) d"                    \
    " WHERE d.line <> d.first"                                               \
    " UNION ALL"                                                             \
    " SELECT 1, 'serial', '目录中的流水号 ' || c.serial || ' 在文件中缺少：'"  \
    "  || '项目已开始，目录产品只能增加或修改，不能删除'"                     \
    " FROM catalog_lines c WHERE c.project_id = $2::integer"                 \
    "  AND ($3 <> 'pending' OR EXISTS (SELECT 1 FROM filing_lines l"         \
    "       WHERE l.catalog_line_id = c.id))"                                \
    "  AND NOT EXISTS (SELECT 1 FROM catalog_import_rows s"                  \
    "   WHERE s.import_key = $1 AND s.serial = c.serial)"                    \
    " UNION ALL"                                                             \
    /* a line a hospital filed keeps its meaning: figures filed, reviewed  \
     * and perhaps approved up to the alliance are of that product */      \
    " SELECT s.line, 'serial', '流水号 ' || s.serial || ' 已有医疗机构填报，'"   \
    "  || '不能修改其' || concat_ws('、',"                                   \
    "   CASE WHEN s.category <> c.category THEN '大项' END,"                 \
    "   CASE WHEN s.subcategory <> c.subcategory THEN '小项' END,"           \
    "   CASE WHEN s.certificate <> c.certificate THEN '注册证' END,"         \
    "   CASE WHEN s.manufacturer <> c.manufacturer THEN '生产企业' END,"     \
    "   CASE WHEN s.product_name <> c.product_name THEN '产品名称' END,"     \
    "   CASE WHEN s.spec <> c.spec THEN '规格' END,"                         \
    "   CASE WHEN s.unit <> c.unit THEN '单位' END)"                         \
    "  || '；请以新流水号增加该产品'"                                            \
    " FROM catalog_import_rows s JOIN catalog_lines c"                       \
    "  ON c.project_id = $2::integer AND c.serial = s.serial"                \
    " WHERE s.import_key = $1"                                               \
    "  AND (s.category, s.subcategory, s.certificate, s.manufacturer,"       \
    "       s.product_name, s.spec, s.unit)"                                 \
    "   IS DISTINCT FROM (c.category, c.subcategory, c.certificate,"         \
    "       c.manufacturer, c.product_name, c.spec, c.unit)"                 \
    "  AND EXISTS (SELECT 1 FROM filing_lines l"                             \
    "              WHERE l.catalog_line_id = c.id)"


const vbp_stmt_t  vbp_import_stmts[] = {

    { "import_key", "SELECT nextval('org_import_key')" },

    { "orgs_problems",
      "SELECT line, field, message FROM (" IMPORT_PROBLEMS ") p"
      " ORDER BY line LIMIT 200" },

    { "orgs_bad_lines",
      "SELECT count(DISTINCT line) FROM (" IMPORT_PROBLEMS ") p" },

    /* a row equal to what is stored is not touched */
    { "import_apply_orgs",
      "WITH up AS (INSERT INTO orgs (code, name, kind, region_id, category)"
      " SELECT s.code, s.name, $2, r.id, s.category"
      " FROM org_import_rows s JOIN regions r ON r.code = s.region_code"
      /* rows lock in one order: two imports of one file never deadlock */
      " WHERE s.import_key = $1 ORDER BY s.code"
      " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,"
      "  region_id = EXCLUDED.region_id, category = EXCLUDED.category,"
      "  updated_at = now()"
      " WHERE (orgs.name, orgs.region_id, orgs.category)"
      "  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.region_id,"
      "  EXCLUDED.category)"
      " RETURNING xmax = 0 AS inserted)"
      " SELECT count(*) FILTER (WHERE inserted),"
      "  count(*) FILTER (WHERE NOT inserted) FROM up" },

    /*
     * a new org gets its main account, username = code, with no password
     * ('!' never verifies) until its manager resets one; each creation is
     * audited like one made by hand
     */
    { "import_apply_accounts",
      "WITH acc AS (INSERT INTO users (username, display_name, org_id,"
      "  password_hash, must_change_password, created_by)"
      " SELECT o.code, left(o.name, 64), o.id, '!', true, $2"
      " FROM org_import_rows s JOIN orgs o ON o.code = s.code"
      " WHERE s.import_key = $1 AND NOT EXISTS (SELECT 1 FROM users m"
      "  WHERE m.org_id = o.id AND m.parent_user_id IS NULL)"
      " ORDER BY o.code"
      " ON CONFLICT DO NOTHING RETURNING id, username, org_id),"
      " aud AS (INSERT INTO audit_log (actor_user_id, actor_name,"
      "  actor_org_id, ip, action, target_type, target_id, to_state,"
      "  detail, scope_path)"
      " SELECT $2, $3, $4, $5::inet, 'user_created', 'user', acc.id::text,"
      "  'active', jsonb_build_object('username', acc.username,"
      "  'via', 'import'), r.path"
      " FROM acc JOIN orgs o ON o.id = acc.org_id"
      " JOIN regions r ON r.id = o.region_id RETURNING 1)"
      " SELECT count(*) FROM aud" },

    /* a hospital imported while projects take filings is enrolled in
     * them (idempotent: the ones already there stay as they are) */
    { "import_enroll",
      "SELECT vbp_project_enroll(p.id) FROM projects p"
      " WHERE p.file_closes > now() ORDER BY p.id" },

    { "orgs_cleanup",
      "DELETE FROM org_import_rows WHERE import_key = $1" },

    /* the project a catalog is imported into, locked against a second
     * import at once: its status and whether it has filed lines */
    { "catalog_project",
      "SELECT vbp_project_status(p) FROM projects p"
      " WHERE p.id = $1::integer FOR UPDATE" },

    { "catalog_problems",
      "SELECT line, field, message FROM (" CATALOG_PROBLEMS ") p"
      " ORDER BY line, message LIMIT 200" },

    { "catalog_bad_lines",
      "SELECT count(DISTINCT line) FROM (" CATALOG_PROBLEMS ") p" },

    /* the file is the catalog: new serials are added, changed ones
     * updated, equal ones untouched; before the project starts, serials
     * missing from the file are removed (once it runs, CATALOG_PROBLEMS
     * refuses a file that lacks one) */
    { "catalog_apply",
      "WITH up AS (INSERT INTO catalog_lines (project_id, serial, category,"
      "  subcategory, certificate, manufacturer, product_name, spec, unit)"
      " SELECT $2::integer, s.serial, s.category, s.subcategory,"
      "  s.certificate, s.manufacturer, s.product_name, s.spec, s.unit"
      " FROM catalog_import_rows s WHERE s.import_key = $1 ORDER BY s.serial"
      " ON CONFLICT (project_id, serial) DO UPDATE SET"
      "  category = EXCLUDED.category, subcategory = EXCLUDED.subcategory,"
      "  certificate = EXCLUDED.certificate,"
      "  manufacturer = EXCLUDED.manufacturer,"
      "  product_name = EXCLUDED.product_name, spec = EXCLUDED.spec,"
      "  unit = EXCLUDED.unit"
      " WHERE (catalog_lines.category, catalog_lines.subcategory,"
      "  catalog_lines.certificate, catalog_lines.manufacturer,"
      "  catalog_lines.product_name, catalog_lines.spec, catalog_lines.unit)"
      "  IS DISTINCT FROM (EXCLUDED.category, EXCLUDED.subcategory,"
      "  EXCLUDED.certificate, EXCLUDED.manufacturer, EXCLUDED.product_name,"
      "  EXCLUDED.spec, EXCLUDED.unit)"
      " RETURNING xmax = 0 AS inserted),"
      " gone AS (DELETE FROM catalog_lines c WHERE c.project_id = $2::integer"
      "  AND NOT EXISTS (SELECT 1 FROM catalog_import_rows s"
      "   WHERE s.import_key = $1 AND s.serial = c.serial) RETURNING 1)"
      " SELECT count(*) FILTER (WHERE inserted),"
      "  count(*) FILTER (WHERE NOT inserted), (SELECT count(*) FROM gone)"
      " FROM up" },

    { "catalog_cleanup",
      "DELETE FROM catalog_import_rows WHERE import_key = $1" },

    { "import_log",
      "INSERT INTO org_imports (actor_id, kind, sha256, bytes, rows_total,"
      "  inserted, updated) VALUES ($1, $2, $3, $4, $5, $6, $7)" },

    { NULL, NULL }
};


/* the header names the seeds' spreadsheets use, and ours */
static const import_col_t  orgs_cols[] = {
    { "code", "编码", { "code", "编码", "机构编码", "医疗机构编码", "企业编码",
      "代码", "统一社会信用代码", NULL }, 0, 1, 1, import_org_code },
    { "name", "名称", { "name", "名称", "机构名称", "医疗机构名称", "企业名称",
      NULL }, 100, 1, 1, NULL },
    { "region_code", "区划编码", { "region_code", "region", "区划编码",
      "行政区划编码", "地区编码", "所属区划", NULL }, 0, 1, 1,
      import_region_code },
    { "category", "级别", { "category", "level", "type", "级别", "等级",
      "医院等级", "类型", NULL }, 32, 0, 0, NULL }
};

static const import_kind_t  orgs_kind = {
    orgs_cols, sizeof(orgs_cols) / sizeof(orgs_cols[0]),
    "COPY org_import_rows (import_key, line, code, name, region_code,"
    " category) FROM STDIN",
    "编码,名称,区划编码,级别",
    "orgs_problems", "orgs_bad_lines", "orgs_cleanup", orgs_apply
};

/* the catalog's columns (SPEC §3), as 目录下载 writes them */
static const import_col_t  catalog_cols[] = {
    { "serial", "流水号", { "serial", "流水号", "产品流水号", "序号", NULL },
      32, 1, 1, NULL },
    { "category", "大项", { "category", "大项", "大类", NULL }, 64, 1, 1,
      NULL },
    { "subcategory", "小项", { "subcategory", "小项", "小类", NULL }, 64, 1,
      1, NULL },
    { "certificate", "注册证", { "certificate", "注册证", "注册证号",
      "注册证编号", "医疗器械注册证", NULL }, 64, 1, 1, NULL },
    { "manufacturer", "生产企业", { "manufacturer", "生产企业",
      "生产企业名称", "企业名称", NULL }, 100, 1, 1, NULL },
    { "product_name", "产品名称", { "product_name", "产品名称", "名称",
      NULL }, 100, 1, 1, NULL },
    { "spec", "规格", { "spec", "规格", "规格型号", "型号规格", NULL }, 200, 1,
      0, NULL },
    { "unit", "单位", { "unit", "单位", "最小单位", "包装单位", NULL }, 16, 1,
      0, NULL }
};

static const import_kind_t  catalog_kind = {
    catalog_cols, sizeof(catalog_cols) / sizeof(catalog_cols[0]),
    "COPY catalog_import_rows (import_key, line, serial, category,"
    " subcategory, certificate, manufacturer, product_name, spec, unit)"
    " FROM STDIN",
    "流水号,大项,小项,注册证,生产企业,产品名称,规格,单位",
    "catalog_problems", "catalog_bad_lines", "catalog_cleanup", catalog_apply
};


static int
orgs_import(vbp_call_t *call)
{
    import_t     im;
    const char  *path, *role;

    static const char *const  kinds[] = { "hospital", "manufacturer", NULL };

    memset(&im, 0, sizeof(im));
    im.of = &orgs_kind;
    im.kind = vbp_arg_choice(call, "kind", kinds, "请选择导入的机构类型");

    role = vbp_actor_str(call, "role");

    if (im.kind && strcmp(im.kind, "manufacturer") == 0
        && (role == NULL || strcmp(role, "alliance") != 0))
    {
        vbp_fail(call, 403, "forbidden", "只有联采办可以导入生产企业");
        return 0;
    }

    path = vbp_upload_path(call, "file", "请选择要导入的文件");
    if (path == NULL || call->status) {
        return 0;
    }

    im.params[1] = im.kind;
    im.params[2] = role;
    im.params[3] = vbp_actor_path(call);
    im.nparams = 4;

    if (im.params[2] == NULL || im.params[3] == NULL) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    im.call = call;

    return import_run(&im, path);
}


/* POST ?project= with the file: a project's catalog (目录导入) */
static int
catalog_import(vbp_call_t *call)
{
    char         status[16];
    import_t     im;
    const char  *path, *params[1];

    memset(&im, 0, sizeof(im));
    im.of = &catalog_kind;

    if (vbp_arg_id(call, "project", im.project, sizeof(im.project)) != 0) {
        return 0;
    }

    path = vbp_upload_path(call, "file", "请选择要导入的文件");
    if (path == NULL || call->status) {
        return 0;
    }

    params[0] = im.project;

    switch (vbp_db_value(call->db, "catalog_project", 1, params, status,
                         sizeof(status)))
    {
    case -1:
        return -1;
    case 0:
        vbp_fail(call, 404, "not_found", "报量项目不存在");
        return 0;
    }

    if (strcmp(status, "ended") == 0) {
        vbp_fail(call, 409, "project_ended", "项目已结束，不能再导入目录");
        return 0;
    }

    im.kind = strcmp(status, "pending") == 0 ? "pending" : "running";
    im.params[1] = im.project;
    im.params[2] = im.kind;
    im.nparams = 3;
    im.call = call;

    return import_run(&im, path);
}


/*
 * The import of one file: a key for its staged rows, the file streamed into
 * them, the database's checks, and -- when no row is bad -- the kind's
 * apply; else 422 with every bad row.  The staged rows go either way.
 */
static int
import_run(import_t *im, const char *path)
{
    int          rc;
    char         sha256[crypto_hash_sha256_BYTES * 2 + 1];
    PGresult    *res;
    long long    bytes;
    vbp_call_t  *call = im->call;
    const char  *params[1];

    im->conn = call->db->conn;

    im->errors = json_array();
    if (im->errors == NULL) {
        return -1;
    }

    for (rc = 0; rc < IMPORT_COLS_MAX; rc++) {
        im->col[rc] = -1;
    }

    res = vbp_db_query(call->db, "import_key", 0, NULL);
    if (res == NULL) {
        json_decref(im->errors);
        return -1;
    }

    snprintf(im->key, sizeof(im->key), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    im->params[0] = im->key;

    rc = import_stream(im, path, sha256, &bytes);

    /* the database's checks run even after bad rows, for a full report */
    if (rc == 0 && im->stop == NULL) {
        rc = import_problems(im);
    }

    if (rc == 0 && im->stop == NULL && im->bad == 0) {
        rc = im->of->apply(im, sha256, bytes);
    }

    if (rc == 0 && call->status == 0 && (im->stop || im->bad)) {
        char  msg[512];

        if (im->stop) {
            snprintf(msg, sizeof(msg), "%s，未导入任何数据", im->stop);
        } else {
            snprintf(msg, sizeof(msg),
                     "文件中有 %ld 行有误，未导入任何数据，请改正后重新导入",
                     im->bad);
        }

        vbp_field_error(call, "file", msg);
        vbp_fail(call, 422, "invalid_file", msg);
        (void) json_object_set(call->error, "rows", im->errors);
    }

    json_decref(im->errors);

    if (rc == 0 && call->status < 400) {
        params[0] = im->key;
        res = vbp_db_query(call->db, im->of->cleanup, 1, params);
        rc = res ? 0 : -1;
        PQclear(res);
    }

    return rc;
}


/*
 * reads the file once, hashing it and feeding its records to
 * import_record; the COPY into the staging table is open meanwhile
 */
static int
import_stream(import_t *im, const char *path, char *sha256, long long *bytes)
{
    int                           fd, xlsx;
    char                          buf[IMPORT_CHUNK];
    ssize_t                       n;
    PGresult                     *res;
    vbp_csv_t                    *csv;
    const char                   *why;
    unsigned char                 digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state      hash;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vbp_log("cannot open upload %s: %s", path, strerror(errno));
        vbp_fail(im->call, 400, "bad_upload", "上传的文件无法读取");
        return 0;
    }

    csv = malloc(sizeof(vbp_csv_t));
    if (csv == NULL) {
        close(fd);
        return -1;
    }

    vbp_csv_init(csv, import_record, im);

    /* a fixed statement of the kind's, never input */
    res = PQexec(im->conn, im->of->copy);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        vbp_log("COPY failed: %s", PQerrorMessage(im->conn));
        PQclear(res);
        free(csv);
        close(fd);
        return -1;
    }

    PQclear(res);

    crypto_hash_sha256_init(&hash);
    *bytes = 0;
    xlsx = -1;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        crypto_hash_sha256_update(&hash, (unsigned char *) buf, (size_t) n);

        if (xlsx < 0) {
            /* a zip archive: an XLSX workbook, read after hashing */
            xlsx = n >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0;

            /* what is wrong with the file as a whole is said first */
            why = xlsx ? NULL : import_not_csv(im, buf, (size_t) n);
            if (why) {
                im->stop = why;
            }
        }

        if (!xlsx && im->stop == NULL) {
            (void) vbp_csv_feed(csv, buf, (size_t) n);
        }

        *bytes += n;
    }

    if (n < 0) {
        vbp_log("cannot read upload %s: %s", path, strerror(errno));
        close(fd);
        free(csv);
        (void) import_copy_end(im);
        return -1;
    }

    close(fd);

    if (xlsx == 1) {
        why = vbp_xlsx_read(path, import_record, im);
        if (why && im->stop == NULL) {
            im->stop = why;
        }

    } else if (im->stop == NULL) {
        (void) vbp_csv_finish(csv);
    }

    free(csv);

    if (im->stop == NULL && !im->header_done) {
        im->stop = "文件中没有数据";
    }

    if (im->stop == NULL && im->rows == 0) {
        im->stop = "文件中只有表头，没有数据行";
    }

    crypto_hash_sha256_final(&hash, digest);
    sodium_bin2hex(sha256, crypto_hash_sha256_BYTES * 2 + 1, digest,
                   sizeof(digest));

    return import_copy_end(im);
}


/*
 * a file that is not a UTF-8 CSV at all, told by its first bytes: a
 * workbook sent as something else, UTF-16, or the GBK that Excel's plain
 * "CSV" writes on Chinese Windows (valid UTF-8 is rare by accident)
 */
static const char *
import_not_csv(import_t *im, const char *buf, size_t n)
{
    const char           *type;
    const unsigned char  *p, *end;

    type = json_string_value(json_object_get(json_object_get(im->call->frame,
                                                             "upload"),
                                             "type"));

    if (type && strstr(type, "spreadsheetml")) {
        return "文件不是有效的 XLSX 工作簿（可能已损坏或只是改了扩展名），"
               "请在 Excel 中重新保存为 .xlsx";
    }

    if (n >= 2 && ((unsigned char) buf[0] == 0xFF
                   || (unsigned char) buf[0] == 0xFE)
        && ((unsigned char) buf[1] == 0xFE || (unsigned char) buf[1] == 0xFF))
    {
        return "文件是 UTF-16 编码，请在 Excel 中另存为“CSV UTF-8（逗号分隔）”，"
               "或直接上传 XLSX";
    }

    if (n >= 4 && (memcmp(buf, "\xD0\xCF\x11\xE0", 4) == 0)) {
        return "这是旧版 Excel（.xls）文件，请另存为 .xlsx 或“CSV UTF-8”后导入";
    }

    p = (const unsigned char *) buf;
    end = p + n;

    /* the last 3 bytes may be half a character the next read completes */
    while (p + 4 <= end || (p < end && *p < 0x80)) {
        if (vbp_utf8_next(&p) < 0) {
            return "文件不是 UTF-8 编码（像是 Excel 的“CSV（逗号分隔）”，即 GBK"
                   " 编码），请在 Excel 中另存为“CSV UTF-8（逗号分隔）”，"
                   "或直接上传 XLSX";
        }
    }

    return NULL;
}


static int
import_copy_end(import_t *im)
{
    int        ok;
    PGresult  *res;

    ok = PQputCopyEnd(im->conn, im->copy_failed ? "import stopped" : NULL)
         == 1;

    while ((res = PQgetResult(im->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !im->copy_failed) {
            vbp_log("COPY ended with: %s", PQerrorMessage(im->conn));
            ok = 0;
        }

        PQclear(res);
    }

    if (PQstatus(im->conn) != CONNECTION_OK) {
        im->call->db->broken = 1;
    }

    return ok && !im->copy_failed ? 0 : -1;
}


static int
import_record(void *data, vbp_record_t *rec)
{
    int           c;
    char          num[24], why_buf[96];
    size_t        used;
    import_t     *im = data;
    const char   *value, *why;

    if (!im->header_done) {
        return import_header(im, rec);
    }

    if (++im->rows > IMPORT_ROWS_MAX) {
        im->stop = "一次最多导入 200000 行";
        return -1;
    }

    if (rec->error) {
        import_error(im, rec->line, import_field_of(im, rec->error_col),
                     rec->error);
        return 0;
    }

    /* spreadsheets pad cells with spaces nobody meant */
    for (c = 0; c < rec->nfields; c++) {
        char    *f = rec->fields[c];
        size_t   n;

        n = strlen(f);
        while (n && f[n - 1] == ' ') {
            f[--n] = '\0';
        }

        rec->fields[c] = f + strspn(f, " ");
    }

    for (c = 0; c < im->of->ncols; c++) {
        value = im->col[c] >= 0 && im->col[c] < rec->nfields
                ? rec->fields[im->col[c]] : "";

        why = import_check(im, value, c, why_buf, sizeof(why_buf));
        if (why) {
            import_error(im, rec->line, im->of->cols[c].field, why);
        }
    }

    if (im->last_bad_line == rec->line || im->copy_failed) {
        return 0;
    }

    /* one line of COPY's text format */
    snprintf(num, sizeof(num), "%ld", rec->line);
    used = import_escape(im->line, sizeof(im->line), im->key);
    used += import_escape(im->line + used, sizeof(im->line) - used, num);

    for (c = 0; c < im->of->ncols; c++) {
        value = im->col[c] >= 0 && im->col[c] < rec->nfields
                ? rec->fields[im->col[c]] : "";
        used += import_escape(im->line + used, sizeof(im->line) - used,
                              value);
    }

    im->line[used - 1] = '\n';

    if (PQputCopyData(im->conn, im->line, (int) used) != 1) {
        vbp_log("COPY data failed: %s", PQerrorMessage(im->conn));
        im->copy_failed = 1;
    }

    return 0;
}


/* the first record names the columns, in any order */
static int
import_header(import_t *im, vbp_record_t *rec)
{
    int                  f, c, h;
    char                 missing[200];
    size_t               n;
    const char          *name;
    const import_col_t  *col;

    im->header_done = 1;

    for (f = 0; f < rec->nfields; f++) {
        name = rec->fields[f];
        name += strspn(name, " ");

        for (c = 0; c < im->of->ncols; c++) {
            col = &im->of->cols[c];

            for (h = 0; col->headers[h]; h++) {
                n = strlen(col->headers[h]);

                if (strncmp(name, col->headers[h], n) == 0
                    && name[n + strspn(name + n, " ")] == '\0'
                    && im->col[c] < 0)
                {
                    im->col[c] = f;
                }
            }
        }
    }

    missing[0] = '\0';

    for (c = 0; c < im->of->ncols; c++) {
        if (im->of->cols[c].required && im->col[c] < 0) {
            snprintf(missing + strlen(missing),
                     sizeof(missing) - strlen(missing), "%s%s",
                     missing[0] ? "、" : "", im->of->cols[c].title);
        }
    }

    if (missing[0]) {
        char  msg[360];

        snprintf(msg, sizeof(msg), "第 %ld 行表头缺少列：%s（表头应为 %s）",
                 rec->line, missing, im->of->expected);
        import_error(im, rec->line, NULL, msg);
        im->stop = "表头不正确";
        return -1;
    }

    return 0;
}


/* NULL, or what is wrong with one value of a column (in buf, or static) */
static const char *
import_check(import_t *im, const char *value, int c, char *buf, size_t len)
{
    size_t               n, chars;
    const char          *why;
    const import_col_t  *col = &im->of->cols[c];

    n = strlen(value);

    /* the check of every typed text: UTF-8, nothing invisible */
    why = vbp_text_check(value, n, &chars);
    if (why) {
        return strcmp(why, "不是有效的 UTF-8 文本") == 0
               ? "文件编码不是 UTF-8（请在 Excel 中另存为“CSV UTF-8”，"
                 "或直接上传 XLSX）"
               : why;
    }

    if (col->nonempty && chars == 0) {
        snprintf(buf, len, "%s不能为空", col->title);
        return buf;
    }

    if (col->max_chars && chars > col->max_chars) {
        snprintf(buf, len, "%s不能超过 %zu 个字", col->title, col->max_chars);
        return buf;
    }

    return col->check && n ? col->check(value, n) : NULL;
}


/* an org's code: a national identifier of letters and digits */
static const char *
import_org_code(const char *value, size_t len)
{
    if (len < 3 || len > 32
        || strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                         "wxyz0123456789_-") != len)
    {
        return "编码应为 3 到 32 位字母、数字、_ 或 -";
    }

    return NULL;
}


static const char *
import_region_code(const char *value, size_t len)
{
    return len > 12 || strspn(value, "0123456789") != len
           ? "区划编码应为数字" : NULL;
}


/* the field a column of the file holds, or NULL for one we do not read */
static const char *
import_field_of(import_t *im, int col)
{
    int  c;

    for (c = 0; col >= 0 && c < im->of->ncols; c++) {
        if (im->col[c] == col) {
            return im->of->cols[c].field;
        }
    }

    return NULL;
}


/* one error of a line; a line with any error counts once */
static void
import_error(import_t *im, long line, const char *field, const char *message)
{
    int          c;
    const char  *column;

    if (im->last_bad_line != line) {
        im->last_bad_line = line;
        im->bad++;
    }

    /* the column as the file's header names it, for the page */
    column = NULL;

    for (c = 0; field && c < im->of->ncols; c++) {
        if (strcmp(field, im->of->cols[c].field) == 0) {
            column = im->of->cols[c].title;
        }
    }

    if (json_array_size(im->errors) < IMPORT_ERRORS_MAX) {
        (void) json_array_append_new(im->errors,
                   json_pack("{s:I, s:s?, s:s?, s:s}", "line",
                             (json_int_t) line, "field", field,
                             "column", column, "message", message));
    }
}


/* the database's checks over the staged rows, added to the errors */
static int
import_problems(import_t *im)
{
    int           row;
    long          bad, read_bad;
    PGresult     *res;
    vbp_call_t   *call = im->call;

    read_bad = im->bad;

    res = vbp_db_query(call->db, im->of->problems, im->nparams, im->params);
    if (res == NULL) {
        return -1;
    }

    for (row = 0; row < PQntuples(res); row++) {
        import_error(im, atol(PQgetvalue(res, row, 0)),
                     PQgetvalue(res, row, 1), PQgetvalue(res, row, 2));
    }

    PQclear(res);

    res = vbp_db_query(call->db, im->of->bad_lines, im->nparams, im->params);
    if (res == NULL) {
        return -1;
    }

    /* lines the database found wrong that reading had not */
    bad = atol(PQgetvalue(res, 0, 0));
    PQclear(res);

    im->bad = read_bad + bad;

    if (im->bad) {
        /* sort the two reports into one, by line */
        json_t  *sorted;
        size_t   i, j;

        sorted = im->errors;
        for (i = 1; i < json_array_size(sorted); i++) {
            for (j = i; j > 0
                        && json_integer_value(json_object_get(
                               json_array_get(sorted, j - 1), "line"))
                           > json_integer_value(json_object_get(
                               json_array_get(sorted, j), "line"));
                 j--)
            {
                json_t  *a = json_incref(json_array_get(sorted, j - 1));

                (void) json_array_set(sorted, j - 1,
                                      json_array_get(sorted, j));
                (void) json_array_set_new(sorted, j, a);
            }
        }
    }

    return 0;
}


/* no bad row: the upsert of the orgs, their accounts, the log */
static int
orgs_apply(import_t *im, const char *sha256, long long bytes)
{
    char          uid[24], org[24], rows[24], ins[24], upd[24], size[24];
    PGresult     *res;
    vbp_call_t   *call = im->call;
    const char   *params[7];
    long long     inserted, updated, accounts;

    if (vbp_actor_int(call, "uid", uid, sizeof(uid)) != 0
        || vbp_actor_int(call, "org_id", org, sizeof(org)) != 0)
    {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    params[0] = im->key;
    params[1] = im->kind;

    res = vbp_db_query(call->db, "import_apply_orgs", 2, params);
    if (res == NULL) {
        return -1;
    }

    inserted = atoll(PQgetvalue(res, 0, 0));
    updated = atoll(PQgetvalue(res, 0, 1));
    PQclear(res);

    params[1] = uid;
    params[2] = json_string_value(json_object_get(call->actor, "username"));
    params[3] = org;
    params[4] = vbp_call_ip(call);

    res = vbp_db_query(call->db, "import_apply_accounts", 5, params);
    if (res == NULL) {
        return -1;
    }

    accounts = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);

    if (strcmp(im->kind, "hospital") == 0) {
        res = vbp_db_query(call->db, "import_enroll", 0, NULL);
        if (res == NULL) {
            return -1;
        }

        PQclear(res);
    }

    snprintf(rows, sizeof(rows), "%ld", im->rows);
    snprintf(ins, sizeof(ins), "%lld", inserted);
    snprintf(upd, sizeof(upd), "%lld", updated);
    snprintf(size, sizeof(size), "%lld", bytes);

    params[0] = uid;
    params[1] = im->kind;
    params[2] = sha256;
    params[3] = size;
    params[4] = rows;
    params[5] = ins;
    params[6] = upd;

    if (vbp_db_run(call->db, "import_log", 7, params) != 0) {
        return -1;
    }

    return import_done(im, "orgs_imported", "import", sha256, "kind", im->kind,
                       bytes, inserted, updated, "accounts", "新建主账号",
                       accounts, inserted + updated != 0,
                       "导入完成：没有需要更新的数据");
}


/* no bad row: the catalog made equal to the file, audited */
static int
catalog_apply(import_t *im, const char *sha256, long long bytes)
{
    PGresult     *res;
    vbp_call_t   *call = im->call;
    const char   *params[2];
    long long     inserted, updated, removed;

    params[0] = im->key;
    params[1] = im->project;

    res = vbp_db_query(call->db, "catalog_apply", 2, params);
    if (res == NULL) {
        return -1;
    }

    inserted = atoll(PQgetvalue(res, 0, 0));
    updated = atoll(PQgetvalue(res, 0, 1));
    removed = atoll(PQgetvalue(res, 0, 2));
    PQclear(res);

    return import_done(im, "catalog_imported", "project", im->project,
                       "sha256", sha256, bytes, inserted, updated, "removed",
                       "删除", removed, inserted + updated + removed != 0,
                       "导入完成：目录没有变化");
}


/*
 * The end of an import applied: its audit record and its answer.  EXTRA is
 * the kind's own count (accounts made, lines removed), WORD its name in the
 * summary; NOTE a detail of the record (the kind, the file's hash); SAME
 * the message when nothing changed.
 */
static int
import_done(import_t *im, const char *action, const char *target_type,
    const char *target_id, const char *note_key, const char *note,
    long long bytes, long long inserted, long long updated,
    const char *extra, const char *word, long long more, int changed,
    const char *same)
{
    char        summary[200];
    long long   unchanged;
    vbp_call_t *call = im->call;

    unchanged = im->rows - inserted - updated;

    if (vbp_audit_detail(call, action, target_type, target_id, NULL, NULL,
                         NULL,
                         json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}",
                                   note_key, note,
                                   "rows", (json_int_t) im->rows,
                                   "inserted", (json_int_t) inserted,
                                   "updated", (json_int_t) updated,
                                   extra, (json_int_t) more,
                                   "bytes", (json_int_t) bytes),
                         NULL)
        != 0)
    {
        return -1;
    }

    snprintf(summary, sizeof(summary),
             "共 %ld 行，新增 %lld，更新 %lld，未变 %lld，%s %lld",
             im->rows, inserted, updated, unchanged, word, more);

    call->data = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
                           "rows", (json_int_t) im->rows,
                           "inserted", (json_int_t) inserted,
                           "updated", (json_int_t) updated,
                           "unchanged", (json_int_t) unchanged,
                           extra, (json_int_t) more,
                           "summary", summary,
                           "message", changed ? "导入完成" : same);

    return call->data ? 0 : -1;
}


/* a value in COPY text format followed by a tab; returns bytes written */
static size_t
import_escape(char *out, size_t len, const char *s)
{
    size_t  n;

    for (n = 0; *s && n + 3 < len; s++) {
        switch (*s) {
        case '\\':
            out[n++] = '\\';
            out[n++] = '\\';
            break;
        case '\t':
            out[n++] = '\\';
            out[n++] = 't';
            break;
        case '\n':
            out[n++] = '\\';
            out[n++] = 'n';
            break;
        case '\r':
            out[n++] = '\\';
            out[n++] = 'r';
            break;
        default:
            out[n++] = *s;
        }
    }

    out[n++] = '\t';

    return n;
}
