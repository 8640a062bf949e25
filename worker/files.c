/*
 * Uploaded files (SPEC §7, DESIGN "Data rules"): PDFs and images only,
 * told by their content, stored once by SHA-256 under the file store (-S)
 * as ab/cdef..., and sent to a user only after the permission check, by
 * nginx from an internal location (the answer names it: vbp_file on).
 *
 * The store holds what some row names, and not much more: the right to
 * attach (the chain's transition, the project not ended) is checked before
 * any byte is written; an org uploads at most FILES_QUOTA bytes of files
 * that stand in one project, and an account at most FILES_RATE uploads in
 * FILES_RATE_WINDOW seconds; a file replaced by a newer one of its kind is
 * removed once no row names it.  A file is placed and removed only while
 * its uploads row is locked, so an upload of the same content at the same
 * moment never loses its bytes: it waits for the removal, then places
 * them again.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "vbp.h"


#define FILES_CHUNK        65536
#define FILES_NAME_MAX     120
#define FILES_URI          "/.vbp-files/"
#define FILES_QUOTA        (200LL * 1024 * 1024)
#define FILES_RATE         60
#define FILES_RATE_WINDOW  600


#define FILES_NOTICE_MAX   10


static int files_upload(vbp_call_t *call);
static int files_download(vbp_call_t *call);
static int files_notice_attach(vbp_call_t *call);
static int files_notice_detach(vbp_call_t *call);
static int files_notice_file(vbp_call_t *call);


const vbp_op_t  vbp_files_ops[] = {
    { .name = "files.upload", .handler = files_upload, .needs_actor = 1,
      .permission = "report" },
    { .name = "files.download", .handler = files_download, .needs_actor = 1,
      .permission = "report" },
    { .name = "notices.attach", .handler = files_notice_attach,
      .needs_actor = 1, .permission = "notice.publish" },
    { .name = "notices.detach", .handler = files_notice_detach,
      .needs_actor = 1, .permission = "notice.publish" },
    { .name = "notices.file", .handler = files_notice_file, .needs_actor = 1,
      .permission = "home" },
    { .name = NULL }
};


const vbp_stmt_t  vbp_files_stmts[] = {

    /* the content's row, locked until the upload commits: its bytes are
     * placed under that lock (files_release removes under it) */
    { "files_insert",
      "INSERT INTO uploads (sha256, bytes, content_type)"
      " VALUES ($1, $2::bigint, $3) ON CONFLICT (sha256)"
      " DO UPDATE SET bytes = EXCLUDED.bytes RETURNING sha256" },

    /* the file an attach replaces, if any */
    { "files_current",
      "SELECT sha256 FROM item_files WHERE item_id = $1::bigint"
      "  AND kind = $2 AND certificate = $3" },

    /* what the org's files in the item's project weigh already, but for
     * the one about to be replaced */
    { "files_weight",
      "SELECT coalesce(sum(u.bytes), 0) FROM review_items t"
      " JOIN review_items i ON i.project_id = t.project_id"
      "  AND (i.id = t.id OR (t.org_id IS NOT NULL AND i.org_id = t.org_id))"
      " JOIN item_files x ON x.item_id = i.id"
      " JOIN uploads u ON u.sha256 = x.sha256"
      " WHERE t.id = $1::bigint"
      "  AND NOT (x.item_id = t.id AND x.kind = $2 AND x.certificate = $3)" },

    /* a file no row names any more goes: its row locked first, then gone
     * if still unnamed (a new statement, a new snapshot: it sees what an
     * upload that held the lock committed) */
    { "files_release_lock",
      "SELECT 1 FROM uploads WHERE sha256 = $1 FOR UPDATE" },

    { "files_release",
      "DELETE FROM uploads u WHERE u.sha256 = $1"
      "  AND NOT EXISTS (SELECT 1 FROM item_files x WHERE x.sha256 = $1)"
      "  AND NOT EXISTS (SELECT 1 FROM notice_files f WHERE f.sha256 = $1)"
      "  AND NOT EXISTS (SELECT 1 FROM projects p"
      "                  WHERE p.commitment_sha = $1)"
      " RETURNING u.sha256" },

    /* the project whose template is replaced, locked, if not ended */
    { "files_template_lock",
      "SELECT coalesce(commitment_sha, '') FROM projects"
      " WHERE id = $1::integer AND vbp_project_status(projects) <> 'ended'"
      " FOR UPDATE" },

    { "files_attach",
      "INSERT INTO item_files (item_id, kind, certificate, sha256, filename,"
      "  uploaded_by) VALUES ($1::bigint, $2, $3, $4, $5, $6::integer)"
      " ON CONFLICT (item_id, kind, certificate) DO UPDATE"
      " SET sha256 = EXCLUDED.sha256, filename = EXCLUDED.filename,"
      "  uploaded_by = EXCLUDED.uploaded_by, uploaded_at = now()" },

    /* a certificate of the item's project (rule 4's note is per one) */
    { "files_certificate",
      "SELECT count(*) FROM catalog_lines c JOIN review_items i"
      " ON i.project_id = c.project_id WHERE i.id = $1::bigint"
      "  AND c.certificate = $2" },

    /* the province's own item: a province attaches while it may submit */
    { "files_province_item",
      "SELECT i.id FROM review_items i WHERE i.project_id = $1::integer"
      "  AND i.chain = 'demand' AND i.level = 'province'"
      "  AND i.region_id = $2::integer" },

    { "files_template_set",
      "UPDATE projects SET commitment_sha = $2, updated_at = now()"
      " WHERE id = $1::integer AND vbp_project_status(projects) <> 'ended'"
      " RETURNING id" },

    /* an item's file, if the actor sees the item (a hospital: its own) */
    { "files_of_item",
      "SELECT x.sha256, u.content_type, x.filename"
      " FROM item_files x JOIN uploads u ON u.sha256 = x.sha256"
      " JOIN review_items i ON i.id = x.item_id"
      " WHERE x.item_id = $1::bigint AND x.kind = $2 AND x.certificate = $3"
      "  AND i.scope_path LIKE $4 || '%'"
      "  AND ($5::integer IS NULL OR i.org_id = $5::integer"
      "       OR (i.level <> 'hospital' AND i.scope_path = $4))" },

    /* the commitment letter's template, for whoever sees the project */
    { "files_template",
      "SELECT p.commitment_sha, u.content_type, p.name || '-承诺书模板'"
      " FROM projects p JOIN uploads u ON u.sha256 = p.commitment_sha"
      " WHERE p.id = $1::integer AND ($2 = 'alliance' OR EXISTS (SELECT 1"
      "  FROM review_items i WHERE i.project_id = p.id"
      "   AND i.scope_path LIKE $3 || '%'"
      "   AND ($2 <> 'hospital' OR i.org_id = $4::integer)))" },

    /* a notice's attachments: its publisher's org only, locked */
    { "files_notice_own",
      "SELECT (SELECT count(*) FROM notice_files f"
      "  WHERE f.notice_id = n.id) FROM notices n"
      " WHERE n.id = $1::bigint AND n.author_org_id = $2::integer"
      "  AND n.withdrawn_at IS NULL FOR UPDATE" },

    { "files_notice_attach",
      "INSERT INTO notice_files (notice_id, sha256, filename)"
      " VALUES ($1::bigint, $2, $3) ON CONFLICT (notice_id, sha256)"
      " DO UPDATE SET filename = EXCLUDED.filename" },

    { "files_notice_detach",
      "DELETE FROM notice_files WHERE notice_id = $1::bigint AND sha256 = $2"
      " RETURNING sha256" },

    /* an attachment of a notice meant for the reader, or its own org's */
    { "files_notice_get",
      "SELECT f.sha256, u.content_type, f.filename"
      " FROM notice_files f JOIN notices n ON n.id = f.notice_id"
      " JOIN uploads u ON u.sha256 = f.sha256"
      " WHERE f.notice_id = $1::bigint AND f.sha256 = $2"
      "  AND (n.author_org_id = $3::integer"
      "       OR vbp_notice_for(n, $3::integer, $4, $5))" },

    { NULL, NULL }
};


/* what the first bytes say the file is: one of the types stored, or NULL */
static const char *
files_sniff(const unsigned char *p, size_t n, const char **ext)
{
    if (n >= 5 && memcmp(p, "%PDF-", 5) == 0) {
        *ext = ".pdf";
        return "application/pdf";
    }

    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        *ext = ".png";
        return "image/png";
    }

    if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0) {
        *ext = ".jpg";
        return "image/jpeg";
    }

    return NULL;
}


/*
 * Copies the upload into a temporary file of the store (tmp) and hashes
 * it: 0 done (sha256, type, bytes filled), 1 the call is answered (not a
 * PDF or image), -1 failure.  files_place() then puts it under its hash.
 */
static int
files_hash(vbp_call_t *call, const char *path, char *tmp, size_t tmplen,
    char *sha256, size_t len, const char **type, const char **ext,
    long long *bytes)
{
    int                                fd, out;
    ssize_t                            n;
    unsigned char                      buf[FILES_CHUNK];
    unsigned char                      digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state           st;

    if (vbp_config.file_store == NULL) {
        vbp_log("no file store (-S): uploads are refused");
        vbp_fail(call, 503, "unavailable", "文件存储未配置，请联系管理员");
        return 1;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        vbp_log("cannot open upload %s: %s", path, strerror(errno));
        vbp_fail(call, 400, "bad_upload", "上传的文件无法读取");
        return 1;
    }

    n = read(fd, buf, sizeof(buf));
    *type = n > 0 ? files_sniff(buf, (size_t) n, ext) : NULL;

    if (*type == NULL) {
        close(fd);
        vbp_field_error(call, "file", "只能上传 PDF 或图片（PNG、JPEG）文件");
        vbp_fail(call, 415, "unsupported_type",
                 "只能上传 PDF 或图片（PNG、JPEG）文件");
        return 1;
    }

    if ((size_t) snprintf(tmp, tmplen, "%s/.upload.%ld.XXXXXX",
                          vbp_config.file_store, (long) getpid())
        >= tmplen)
    {
        close(fd);
        return -1;
    }

    out = mkstemp(tmp);
    if (out == -1) {
        vbp_log("cannot create %s: %s", tmp, strerror(errno));
        close(fd);
        return -1;
    }

    crypto_hash_sha256_init(&st);
    *bytes = 0;

    while (n > 0) {
        crypto_hash_sha256_update(&st, buf, (unsigned long long) n);
        *bytes += n;

        if (write(out, buf, (size_t) n) != n) {
            vbp_log("cannot write %s: %s", tmp, strerror(errno));
            n = -1;
            break;
        }

        n = read(fd, buf, sizeof(buf));
    }

    close(fd);

    if (n < 0 || fsync(out) != 0 || close(out) != 0) {
        vbp_log("cannot store upload %s: %s", path, strerror(errno));
        (void) unlink(tmp);
        return -1;
    }

    (void) chmod(tmp, 0640);

    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(sha256, len, digest, sizeof(digest));

    return 0;
}


/* the path of a stored file by its hash: store/ab/cdef... */
static int
files_path(const char *sha256, char *dir, size_t dlen, char *path,
    size_t plen)
{
    return (size_t) snprintf(dir, dlen, "%s/%.2s", vbp_config.file_store,
                             sha256) >= dlen
           || (size_t) snprintf(path, plen, "%s/%.2s/%s",
                                vbp_config.file_store, sha256, sha256 + 2)
              >= plen
           ? -1 : 0;
}


/*
 * The hashed temporary file kept: its uploads row written (or locked, the
 * same content uploaded before) until the transaction ends, then the file
 * put under its hash -- the same content twice is one file, a rename over
 * it changes nothing.  0, or -1 (the temporary file gone).
 */
static int
files_keep(vbp_call_t *call, const char *tmp, const char *sha256,
    long long bytes, const char *type)
{
    char         dir[4100], dest[4200], size[24];
    const char  *params[3];

    snprintf(size, sizeof(size), "%lld", bytes);
    params[0] = sha256;
    params[1] = size;
    params[2] = type;

    if (vbp_db_run(call->db, "files_insert", 3, params) != 0) {
        (void) unlink(tmp);
        return -1;
    }

    if (files_path(sha256, dir, sizeof(dir), dest, sizeof(dest)) != 0) {
        (void) unlink(tmp);
        return -1;
    }

    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        vbp_log("cannot create %s: %s", dir, strerror(errno));
        (void) unlink(tmp);
        return -1;
    }

    if (rename(tmp, dest) != 0) {
        vbp_log("cannot store %s: %s", dest, strerror(errno));
        (void) unlink(tmp);
        return -1;
    }

    return 0;
}


/* an account uploads at most FILES_RATE files in FILES_RATE_WINDOW
 * seconds: 1 (the call answered 429) past it */
static int
files_too_often(vbp_call_t *call, const char *uid)
{
    char  key[64];

    snprintf(key, sizeof(key), "vbp:uploads:%s", uid);

    if (vbp_redis_count(key, FILES_RATE_WINDOW, 1) > FILES_RATE) {
        vbp_fail(call, 429, "throttled", "上传过于频繁，请稍后再试");
        return 1;
    }

    return 0;
}


/*
 * A file that a newer one replaced: gone from the store when no row names
 * it any more, under its row's lock.  The bytes go before the commit: if
 * it fails, the row of an unnamed file stays, and the next upload of that
 * content places its bytes again.  0, or -1.
 */
static int
files_release(vbp_call_t *call, const char *sha256)
{
    int          rc;
    char         dir[4100], path[4200], gone[80];
    const char  *params[1];

    params[0] = sha256;

    if (vbp_db_run(call->db, "files_release_lock", 1, params) != 0) {
        return -1;
    }

    rc = vbp_db_value(call->db, "files_release", 1, params, gone,
                      sizeof(gone));
    if (rc <= 0) {
        return rc;
    }

    if (files_path(sha256, dir, sizeof(dir), path, sizeof(path)) == 0
        && unlink(path) != 0 && errno != ENOENT)
    {
        vbp_log("cannot remove %s: %s", path, strerror(errno));
    }

    return 0;
}


/*
 * The answer of a download: the stored file of the first row (sha256,
 * content type, name), for nginx to send from its internal location
 * (vbp_file); inline=1 to be viewed in the browser (the headers keep it
 * from running as a page: ngx_http_vbp_render_file).  No row: 404 with
 * MISSING.  Frees RES; 0, or -1.
 */
static int
files_answer(vbp_call_t *call, PGresult *res, const char *missing)
{
    char  uri[128];

    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        vbp_fail(call, 404, "not_found", missing);
        return 0;
    }

    snprintf(uri, sizeof(uri), FILES_URI "%.2s/%s", PQgetvalue(res, 0, 0),
             PQgetvalue(res, 0, 0) + 2);

    call->data = json_pack("{s:s, s:s, s:s, s:b}", "accel", uri,
                           "content_type", PQgetvalue(res, 0, 1),
                           "filename", PQgetvalue(res, 0, 2),
                           "inline", vbp_arg_flag(call, "inline"));
    PQclear(res);

    return call->data ? 0 : -1;
}


/* a file name the user gave, or the kind's own, with the type's ending */
static const char *
files_name(vbp_call_t *call, const char *fallback, const char *ext,
    char *out, size_t len)
{
    const char  *s, *dot;

    s = vbp_arg_string(call, "name", 0, FILES_NAME_MAX, NULL);

    if (s == NULL || *s == '\0' || strpbrk(s, "/\\\"") != NULL) {
        snprintf(out, len, "%s%s", fallback, ext);
        return out;
    }

    dot = strrchr(s, '.');
    snprintf(out, len, "%.*s%s", (int) (dot ? (size_t) (dot - s) : strlen(s)),
             s, ext);

    return out;
}


static const char *
files_kind_title(const char *kind)
{
    return strcmp(kind, "commitment") == 0 ? "承诺书"
           : strcmp(kind, "summary") == 0 ? "需求量汇总表"
           : strcmp(kind, "in_use_note") == 0 ? "在用仪器说明"
           : strcmp(kind, "province_summary") == 0 ? "盖章汇总数据"
           : "承诺书模板";
}


/*
 * POST (the body is the file) ?project=&kind=&certificate=&name=
 *   a hospital: commitment, summary, in_use_note (with a certificate) of
 *               its filing, while it may edit it (the save transition)
 *   a province: province_summary of its own item, while it may submit
 *   the alliance: commitment_template of a project not ended
 */
static int
files_upload(vbp_call_t *call)
{
    int          rc;
    char         sha256[crypto_hash_sha256_BYTES * 2 + 1], project[24];
    char         item[24], ids[32], uid[24], name[200], count[24];
    char         region[24], old[80], tmp[4200];
    long long    bytes;
    json_t      *r;
    const char  *path, *kind, *role, *cert, *type, *ext, *params[6];

    static const char *const  kinds[] = {
        "commitment", "summary", "in_use_note", "province_summary",
        "commitment_template", NULL
    };

    role = vbp_actor_str(call, "role");
    kind = vbp_arg_choice(call, "kind", kinds, "请选择文件类别");
    cert = vbp_arg_string(call, "certificate", 0, 64, NULL);
    (void) vbp_arg_id(call, "project", project, sizeof(project));
    path = vbp_upload_path(call, "file", "请选择要上传的文件");

    if (path == NULL || call->status) {
        return 0;
    }

    if (role == NULL || vbp_actor_int(call, "uid", uid, sizeof(uid)) != 0) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    /* who may attach what: the kind decides the item, the role the kind */
    if ((strcmp(role, "hospital") == 0)
        != (strcmp(kind, "commitment") == 0 || strcmp(kind, "summary") == 0
            || strcmp(kind, "in_use_note") == 0)
        || (strcmp(kind, "province_summary") == 0
            && strcmp(role, "province_bureau") != 0)
        || (strcmp(kind, "commitment_template") == 0
            && !vbp_actor_has(call, "report.projects")))
    {
        vbp_fail(call, 403, "forbidden", "您不能上传这类文件");
        return 0;
    }

    if (strcmp(kind, "in_use_note") == 0 && (cert == NULL || *cert == '\0')) {
        vbp_field_error(call, "certificate", "请选择注册证");
        return 0;
    }

    if (strcmp(kind, "in_use_note") != 0) {
        cert = "";
    }

    /* the item, and the right to change it, before the bytes are stored */
    if (strcmp(role, "hospital") == 0) {
        rc = vbp_filing_item(call, item, sizeof(item));
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }

        snprintf(ids, sizeof(ids), "{%s}", item);
        rc = vbp_chain_fire_call(call, "demand", "save", ids, NULL, NULL);
        if (rc != 0 || call->status) {
            return rc;
        }

        if (*cert) {
            params[0] = item;
            params[1] = cert;
            if (vbp_db_value(call->db, "files_certificate", 2, params, count,
                             sizeof(count)) < 0)
            {
                return -1;
            }

            if (strcmp(count, "0") == 0) {
                vbp_field_error(call, "certificate", "不是本项目目录中的注册证");
                return 0;
            }
        }

    } else if (strcmp(role, "province_bureau") == 0) {
        r = json_object_get(json_object_get(call->actor, "region"), "id");
        snprintf(region, sizeof(region), "%lld",
                 (long long) json_integer_value(r));
        params[0] = project;
        params[1] = region;

        rc = vbp_db_value(call->db, "files_province_item", 2, params, item,
                          sizeof(item));
        if (rc < 0) {
            return -1;
        }

        if (rc == 0) {
            vbp_fail(call, 404, "not_found", "本级未参加该报量项目");
            return 0;
        }

        snprintf(ids, sizeof(ids), "{%s}", item);
        rc = vbp_chain_fire_call(call, "demand", "attach", ids, NULL, NULL);
        if (rc != 0 || call->status) {
            return rc;
        }
    }

    /* the project whose template this is: locked, not ended */
    old[0] = '\0';

    if (strcmp(kind, "commitment_template") == 0) {
        params[0] = project;
        rc = vbp_db_value(call->db, "files_template_lock", 1, params, old,
                          sizeof(old));
        if (rc < 0) {
            return -1;
        }

        if (rc == 0) {
            vbp_fail(call, 404, "not_found", "报量项目不存在或已结束");
            return 0;
        }

    } else {
        params[0] = item;
        params[1] = kind;
        params[2] = cert;
        if (vbp_db_value(call->db, "files_current", 3, params, old,
                         sizeof(old)) < 0)
        {
            return -1;
        }
    }

    /* an account uploads at most FILES_RATE files in the window */
    if (files_too_often(call, uid)) {
        return 0;
    }

    rc = files_hash(call, path, tmp, sizeof(tmp), sha256, sizeof(sha256),
                    &type, &ext, &bytes);
    if (rc != 0) {
        return rc > 0 ? 0 : -1;
    }

    /* an org's files that stand in one project weigh FILES_QUOTA at most */
    if (strcmp(kind, "commitment_template") != 0) {
        params[0] = item;
        params[1] = kind;
        params[2] = cert;
        if (vbp_db_value(call->db, "files_weight", 3, params, count,
                         sizeof(count)) < 0)
        {
            (void) unlink(tmp);
            return -1;
        }

        if (atoll(count) + bytes > FILES_QUOTA) {
            char  msg[160];

            (void) unlink(tmp);
            snprintf(msg, sizeof(msg), "本单位在本项目中上传的文件合计不能超过 %lldMB"
                     "（已用 %lldMB），请压缩文件或替换已上传的文件",
                     FILES_QUOTA / (1024 * 1024),
                     atoll(count) / (1024 * 1024));
            vbp_field_error(call, "file", msg);
            vbp_fail(call, 413, "quota", msg);
            return 0;
        }
    }

    if (files_keep(call, tmp, sha256, bytes, type) != 0) {
        return -1;
    }

    (void) files_name(call, files_kind_title(kind), ext, name, sizeof(name));

    if (strcmp(kind, "commitment_template") == 0) {
        params[0] = project;
        params[1] = sha256;

        rc = vbp_db_value(call->db, "files_template_set", 2, params, count,
                          sizeof(count));
        if (rc < 0) {
            return -1;
        }

        if (rc == 0) {
            vbp_fail(call, 404, "not_found", "报量项目不存在或已结束");
            return 0;
        }

        snprintf(item, sizeof(item), "%s", project);

    } else {
        params[0] = item;
        params[1] = kind;
        params[2] = cert;
        params[3] = sha256;
        params[4] = name;
        params[5] = uid;

        if (vbp_db_run(call->db, "files_attach", 6, params) != 0) {
            return -1;
        }
    }

    /* the file this one replaced, if nothing else names it */
    if (old[0] && strcmp(old, sha256) != 0 && files_release(call, old) != 0) {
        return -1;
    }

    if (vbp_audit_detail(call, "file_uploaded",
                         strcmp(kind, "commitment_template") == 0
                         ? "project" : "review_item", item, NULL, NULL, NULL,
                         json_pack("{s:s, s:s, s:s, s:s, s:I}", "kind", kind,
                                   "certificate", cert, "name", name,
                                   "sha256", sha256, "bytes",
                                   (json_int_t) bytes),
                         NULL)
        != 0)
    {
        return -1;
    }

    call->status = 201;
    call->data = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "message",
                           "文件已上传", "kind", kind, "name", name,
                           "sha256", sha256, "bytes", (json_int_t) bytes,
                           "content_type", type);

    return call->data ? 0 : -1;
}


/*
 * GET ?item=&kind=&certificate=  (or ?project=&kind=commitment_template):
 * the file, by nginx from the store (vbp_file on), to those who see it
 */
static int
files_download(vbp_call_t *call)
{
    int          rc;
    char         id[24], org[24];
    PGresult    *res;
    const char  *kind, *cert, *role, *params[5];

    static const char *const  kinds[] = {
        "commitment", "summary", "in_use_note", "province_summary",
        "commitment_template", NULL
    };

    kind = vbp_arg_choice(call, "kind", kinds, "请选择文件类别");
    cert = vbp_arg_string(call, "certificate", 0, 64, NULL);
    role = vbp_actor_str(call, "role");

    if (call->status) {
        return 0;
    }

    if (role == NULL || vbp_actor_path(call) == NULL
        || vbp_actor_int(call, "org_id", org, sizeof(org)) != 0)
    {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    if (strcmp(kind, "commitment_template") == 0) {
        if (vbp_arg_id(call, "project", id, sizeof(id)) != 0) {
            return 0;
        }

        params[0] = id;
        params[1] = role;
        params[2] = vbp_actor_path(call);
        params[3] = org;
        res = vbp_db_query(call->db, "files_template", 4, params);

    } else {
        if (vbp_arg_id(call, "item", id, sizeof(id)) != 0) {
            return 0;
        }

        params[0] = id;
        params[1] = kind;
        params[2] = cert ? cert : "";
        params[3] = vbp_actor_path(call);
        params[4] = strcmp(role, "hospital") == 0 ? org : NULL;
        res = vbp_db_query(call->db, "files_of_item", 5, params);
    }

    if (res == NULL) {
        return -1;
    }

    return files_answer(call, res, "文件不存在，或不在您的管辖范围内");

    rc = call->data ? 0 : -1;

    return rc;
}


/* the notice of args.id, the actor's org's own and not withdrawn, locked:
 * 0 (its attachments counted in *count), 1 answered, -1 */
static int
files_notice_own(vbp_call_t *call, char *id, size_t len, long *count)
{
    char         org[24], n[24];
    const char  *params[2];

    if (vbp_actor_int(call, "org_id", org, sizeof(org)) != 0) {
        vbp_fail_unauthenticated(call);
        return 1;
    }

    if (vbp_arg_id(call, "id", id, len) != 0) {
        return 1;
    }

    params[0] = id;
    params[1] = org;

    switch (vbp_db_value(call->db, "files_notice_own", 2, params, n,
                         sizeof(n)))
    {
    case 1:
        *count = atol(n);
        return 0;
    case 0:
        vbp_fail(call, 404, "not_found", "公告不存在或已撤销");
        return 1;
    default:
        return -1;
    }
}


/*
 * POST (the body is the file) ?id=&name=: a PDF attached to the org's own
 * announcement, at most FILES_NOTICE_MAX of them
 */
static int
files_notice_attach(vbp_call_t *call)
{
    int          rc;
    char         id[24], uid[24], tmp[4200], name[200];
    char         sha256[crypto_hash_sha256_BYTES * 2 + 1];
    long         count;
    long long    bytes;
    const char  *path, *type, *ext, *params[3];

    path = vbp_upload_path(call, "file", "请选择要上传的文件");
    if (path == NULL || call->status) {
        return 0;
    }

    if (vbp_actor_int(call, "uid", uid, sizeof(uid)) != 0) {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    rc = files_notice_own(call, id, sizeof(id), &count);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    if (count >= FILES_NOTICE_MAX) {
        vbp_field_error(call, "file", "每个公告最多 10 个附件");
        vbp_fail(call, 409, "too_many", "每个公告最多 10 个附件");
        return 0;
    }

    if (files_too_often(call, uid)) {
        return 0;
    }

    rc = files_hash(call, path, tmp, sizeof(tmp), sha256, sizeof(sha256),
                    &type, &ext, &bytes);
    if (rc != 0) {
        return rc > 0 ? 0 : -1;
    }

    /* policy files are read as PDFs (seed 002's 政策文件) */
    if (strcmp(type, "application/pdf") != 0) {
        (void) unlink(tmp);
        vbp_field_error(call, "file", "公告附件只能是 PDF 文件");
        vbp_fail(call, 415, "unsupported_type", "公告附件只能是 PDF 文件");
        return 0;
    }

    if (files_keep(call, tmp, sha256, bytes, type) != 0) {
        return -1;
    }

    (void) files_name(call, "附件", ext, name, sizeof(name));

    params[0] = id;
    params[1] = sha256;
    params[2] = name;

    if (vbp_db_run(call->db, "files_notice_attach", 3, params) != 0
        || vbp_audit_detail(call, "file_uploaded", "notice", id, NULL, NULL,
                            NULL, json_pack("{s:s, s:s, s:s, s:I}",
                                            "kind", "notice_file",
                                            "name", name, "sha256", sha256,
                                            "bytes", (json_int_t) bytes),
                            NULL)
           != 0)
    {
        return -1;
    }

    call->status = 201;
    call->data = json_pack("{s:s, s:s, s:s, s:I}", "message", "附件已上传",
                           "name", name, "sha256", sha256,
                           "bytes", (json_int_t) bytes);

    return call->data ? 0 : -1;
}


/* POST {id, sha256}: an attachment taken off the org's own announcement */
static int
files_notice_detach(vbp_call_t *call)
{
    int          rc;
    char         id[24], gone[80];
    long         count;
    const char  *sha256, *params[2];

    sha256 = vbp_arg_string(call, "sha256", 64, 64, "请选择附件");
    if (call->status) {
        return 0;
    }

    rc = files_notice_own(call, id, sizeof(id), &count);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }

    params[0] = id;
    params[1] = sha256;

    rc = vbp_db_value(call->db, "files_notice_detach", 2, params, gone,
                      sizeof(gone));
    if (rc < 0) {
        return -1;
    }

    if (rc == 0) {
        vbp_fail(call, 404, "not_found", "附件不存在");
        return 0;
    }

    if (files_release(call, gone) != 0
        || vbp_audit_detail(call, "file_removed", "notice", id, NULL, NULL,
                            NULL, json_pack("{s:s}", "sha256", gone), NULL)
           != 0)
    {
        return -1;
    }

    call->data = json_pack("{s:s}", "message", "附件已删除");

    return call->data ? 0 : -1;
}


/* GET {id, sha256, inline}: an attachment of a notice the actor may read */
static int
files_notice_file(vbp_call_t *call)
{
    char         id[24], org[24];
    PGresult    *res;
    const char  *sha256, *params[5];

    sha256 = vbp_arg_string(call, "sha256", 64, 64, "请选择附件");
    if (call->status || vbp_arg_id(call, "id", id, sizeof(id)) != 0) {
        return 0;
    }

    if (vbp_actor_int(call, "org_id", org, sizeof(org)) != 0
        || vbp_actor_str(call, "role") == NULL || vbp_actor_path(call) == NULL)
    {
        vbp_fail_unauthenticated(call);
        return 0;
    }

    params[0] = id;
    params[1] = sha256;
    params[2] = org;
    params[3] = vbp_actor_str(call, "role");
    params[4] = vbp_actor_path(call);

    res = vbp_db_query(call->db, "files_notice_get", 5, params);
    if (res == NULL) {
        return -1;
    }

    return files_answer(call, res, "附件不存在，或不是发给本单位的");
}
