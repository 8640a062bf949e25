/*
 * A push parser for CSV (RFC 4180: commas, double quotes doubled inside
 * quoted fields, CRLF or LF).  Bytes are fed in chunks of any size; each
 * complete record goes to a callback with the line it started on, so memory
 * stays at one record whatever the size of the file.  Fields longer than
 * VBP_CSV_FIELD_MAX or records wider than VBP_CSV_FIELDS_MAX are errors of
 * that record, not of the parse.  The writer's half: vbp_csv_header() and
 * vbp_csv_cell() build an export Excel opens as UTF-8.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vbp.h"


static int vbp_csv_end_field(vbp_csv_t *csv);
static int vbp_csv_end_record(vbp_csv_t *csv);


void
vbp_csv_init(vbp_csv_t *csv, vbp_record_pt record, void *data)
{
    memset(csv, 0, sizeof(*csv));
    csv->record = record;
    csv->data = data;
    csv->line = 1;
    csv->record_line = 1;
    csv->at_start = 1;
    csv->error_col = -1;
}


/* 0, or -1 when the callback asked to stop */
int
vbp_csv_feed(vbp_csv_t *csv, const char *buf, size_t len)
{
    size_t  i;
    char    c;

    for (i = 0; i < len; i++) {
        c = buf[i];

        /* a UTF-8 byte order mark at the very start is not data */
        if (csv->bom < 3 && csv->line == 1 && csv->len == 0
            && csv->nfields == 0 && !csv->quoted)
        {
            static const char  bom[] = "\xEF\xBB\xBF";

            if (c == bom[csv->bom]) {
                csv->bom++;
                continue;
            }

            csv->bom = 3;
        }

        if (csv->quoted) {
            if (csv->quote_pending) {
                csv->quote_pending = 0;

                if (c == '"') {
                    goto append;
                }

                csv->quoted = 0;
                /* fall through to the unquoted handling of c */

            } else if (c == '"') {
                csv->quote_pending = 1;
                continue;

            } else {
                if (c == '\n') {
                    csv->line++;
                }

                goto append;
            }
        }

        switch (c) {

        case ',':
            csv->cr = 0;
            if (vbp_csv_end_field(csv) != 0) {
                return -1;
            }
            continue;

        case '\r':
            csv->cr = 1;
            continue;

        case '\n':
            csv->cr = 0;
            if (vbp_csv_end_record(csv) != 0) {
                return -1;
            }
            csv->line++;
            csv->record_line = csv->line;
            continue;

        case '"':
            if (csv->len == 0 && !csv->was_quoted) {
                csv->quoted = 1;
                csv->was_quoted = 1;
                continue;
            }

            if (csv->error == NULL) {
                csv->error = "引号位置不正确（字段中的引号须写成两个引号，"
                             "并用引号括住整个字段）";
            }
            continue;

        default:
            if (csv->was_quoted && csv->error == NULL) {
                csv->error = "引号位置不正确（字段中的引号须写成两个引号，"
                             "并用引号括住整个字段）";
            }
            break;
        }

    append:

        /* a NUL would end the C string the field becomes: the value would
         * be cut short without a word */
        if (c == '\0' && csv->error == NULL) {
            csv->error = "含有控制字符";
            csv->error_col = csv->nfields;
        }

        if (csv->cr) {
            /* a lone CR inside a record is kept as data */
            csv->cr = 0;
            if (csv->len < VBP_CSV_FIELD_MAX) {
                csv->field[csv->len] = '\r';
            }
            csv->len++;
        }

        if (csv->len < VBP_CSV_FIELD_MAX) {
            csv->field[csv->len] = c;
        }

        csv->len++;
    }

    return 0;
}


/* the end of the input: the last record, or the error of an open quote */
int
vbp_csv_finish(vbp_csv_t *csv)
{
    if (csv->quoted && !csv->quote_pending) {
        if (csv->error == NULL) {
            csv->error = "引号未闭合";
        }
    }

    csv->quoted = 0;
    csv->quote_pending = 0;

    if (csv->len == 0 && csv->nfields == 0 && !csv->was_quoted) {
        return 0;                   /* the file ended with a newline */
    }

    return vbp_csv_end_record(csv);
}


static int
vbp_csv_end_field(vbp_csv_t *csv)
{
    size_t  len, used;

    if (csv->nfields >= VBP_CSV_FIELDS_MAX) {
        csv->too_wide = 1;
        csv->len = 0;
        csv->was_quoted = 0;
        return 0;
    }

    len = csv->len < VBP_CSV_FIELD_MAX ? csv->len : VBP_CSV_FIELD_MAX;
    used = csv->used;

    if (csv->len > VBP_CSV_FIELD_MAX && csv->error == NULL) {
        csv->error = "字段过长";
        csv->error_col = csv->nfields;
    }

    memcpy(csv->text + used, csv->field, len);
    csv->text[used + len] = '\0';

    /* the writer's guard (vbp_csv_cell) comes off: a file exported here
     * and imported again keeps "=1" as "=1", not "'=1" */
    if (len >= 2 && csv->field[0] == '\'' && csv->field[1] != '\0'
        && strchr("=+-@", csv->field[1]) != NULL)
    {
        memmove(csv->text + used, csv->text + used + 1, len);
    }

    csv->fields[csv->nfields++] = csv->text + used;
    csv->used = used + len + 1;

    csv->len = 0;
    csv->was_quoted = 0;

    return 0;
}


static int
vbp_csv_end_record(vbp_csv_t *csv)
{
    int           i, rc;
    vbp_record_t  rec;

    if (vbp_csv_end_field(csv) != 0) {
        return -1;
    }

    rec.line = csv->record_line;
    rec.fields = csv->fields;
    rec.nfields = csv->nfields;
    rec.error = csv->too_wide ? "列数过多" : csv->error;
    rec.error_col = csv->too_wide ? -1 : csv->error_col;

    /* a line of nothing but blanks and commas is skipped, as spreadsheets
     * write them */
    rc = 0;

    for (i = 0; i < rec.nfields && rec.fields[i][strspn(rec.fields[i], " ")]
                                   == '\0'; i++)
    {
        /* void */
    }

    if (i < rec.nfields || rec.error) {
        rc = csv->record(csv->data, &rec);
    }

    csv->nfields = 0;
    csv->used = 0;
    csv->error = NULL;
    csv->error_col = -1;
    csv->too_wide = 0;
    csv->at_start = 1;

    return rc;
}


/* the start of an export: the BOM Excel needs to read UTF-8, the header */
int
vbp_csv_header(vbp_buf_t *out, const char *header)
{
    return vbp_buf_add(out, "\xEF\xBB\xBF", 3)
           || vbp_buf_add(out, header, strlen(header))
           || vbp_buf_add(out, "\r\n", 2);
}


/* one CSV cell: quoted, and never a formula when Excel opens the file */
int
vbp_csv_cell(vbp_buf_t *out, const char *s, int last)
{
    int  rc;

    rc = vbp_buf_add(out, "\"", 1);

    if (s && (*s == '=' || *s == '+' || *s == '-' || *s == '@')) {
        rc = rc || vbp_buf_add(out, "'", 1);
    }

    for ( /* void */ ; rc == 0 && s && *s; s++) {
        rc = (*s == '"') ? vbp_buf_add(out, "\"\"", 2)
                         : vbp_buf_add(out, s, 1);
    }

    return rc || vbp_buf_add(out, last ? "\"\r\n" : "\",", last ? 3 : 2);
}


typedef struct {
    int        fd;
    vbp_buf_t  out;
    long long  rows;
} vbp_csv_file_t;


#define VBP_CSV_FLUSH  65536

static int
vbp_csv_flush(vbp_csv_file_t *f)
{
    size_t   done;
    ssize_t  n;

    for (done = 0; done < f->out.len; done += (size_t) n) {
        n = write(f->fd, f->out.data + done, f->out.len - done);
        if (n <= 0) {
            vbp_log("cannot write a download: %s", strerror(errno));
            return -1;
        }
    }

    f->out.len = 0;

    return 0;
}


static int
vbp_csv_file_row(void *data, PGresult *res)
{
    int              rc, col, cols;
    vbp_csv_file_t  *f = data;

    cols = PQnfields(res);
    rc = 0;

    for (col = 0; rc == 0 && col < cols; col++) {
        rc = vbp_csv_cell(&f->out, PQgetvalue(res, 0, col), col == cols - 1);
    }

    f->rows++;

    return rc || (f->out.len >= VBP_CSV_FLUSH && vbp_csv_flush(f) != 0)
           ? -1 : 0;
}


/*
 * A statement's rows as a CSV download (UTF-8 with a BOM, the header, a
 * cell per value): written row by row into a made file of the store
 * (store.c), never held whole, and named in call->data for nginx to send
 * (vbp_file: {accel, content_type, filename, rows}).  0, or -1.
 */
int
vbp_csv_download(vbp_call_t *call, const char *header, const char *stmt,
    int nparams, const char *const *params, const char *filename)
{
    int             rc;
    char            uri[128];
    vbp_csv_file_t  f;

    f.fd = vbp_store_create("csv", uri, sizeof(uri));
    if (f.fd == -1) {
        vbp_fail(call, 503, "unavailable", "暂时无法生成文件，请稍后再试");
        return 0;
    }

    vbp_buf_init(&f.out);
    f.rows = 0;

    rc = vbp_csv_header(&f.out, header) ? -1 : 0;

    if (rc == 0) {
        rc = vbp_db_rows(call->db, stmt, nparams, params, vbp_csv_file_row,
                         &f);
    }

    if (rc == 0) {
        rc = vbp_csv_flush(&f);
    }

    vbp_buf_free(&f.out);

    if (close(f.fd) != 0) {
        rc = -1;
    }

    if (rc != 0) {
        vbp_store_discard(uri);
        return -1;
    }

    call->data = json_pack("{s:s, s:s, s:s, s:I}", "accel", uri,
                           "content_type", "text/csv; charset=utf-8",
                           "filename", filename, "rows", (json_int_t) f.rows);

    return call->data ? 0 : -1;
}
