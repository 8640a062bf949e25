
/*
 * Logic-less, mustache-like HTML templates: compiler and renderer.
 *
 * Compiling turns each source into a flat array of nodes; section starts
 * know the index of their end node, partial nodes point at the compiled
 * template, so rendering is one loop over the nodes with a fixed-size
 * stack of frames (open sections and partial returns).  The compiler
 * bounds that stack: sections plus partial includes open at once may not
 * exceed NGX_HTTP_VBP_TPL_MAX_DEPTH, and partial cycles are rejected.
 */


#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "ngx_http_vbp_template.h"


#define NGX_HTTP_VBP_TPL_TEXT       0
#define NGX_HTTP_VBP_TPL_VAR        1
#define NGX_HTTP_VBP_TPL_RAW        2
#define NGX_HTTP_VBP_TPL_SECTION    3
#define NGX_HTTP_VBP_TPL_INVERTED   4
#define NGX_HTTP_VBP_TPL_END        5
#define NGX_HTTP_VBP_TPL_PARTIAL    6
#define NGX_HTTP_VBP_TPL_COMMENT    7       /* parsed, never stored */

/* partial graph walk */
#define NGX_HTTP_VBP_TPL_NEW        0
#define NGX_HTTP_VBP_TPL_BUSY       1
#define NGX_HTTP_VBP_TPL_DONE       2

/* fits "%.2f" of the largest double */
#define NGX_HTTP_VBP_TPL_NUM_LEN    352

#define NGX_HTTP_VBP_TPL_EXT        ".html"
#define NGX_HTTP_VBP_TPL_EXT_LEN    (sizeof(NGX_HTTP_VBP_TPL_EXT) - 1)


typedef struct {
    unsigned                    op;
    unsigned                    line;
    unsigned                    level;      /* sections open around it */
    const char                 *s;          /* text or name, in tpl->src */
    size_t                      len;
    size_t                      jump;       /* section start: its END */
    ngx_http_vbp_tpl_t         *partial;
} ngx_http_vbp_tpl_node_t;


struct ngx_http_vbp_tpl_s {
    char                       *name;
    size_t                      name_len;
    char                       *path;       /* as shown in errors */
    char                       *src;        /* text nodes point here */
    size_t                      len;
    ngx_http_vbp_tpl_node_t    *nodes;
    size_t                      nnodes;
    size_t                      nalloc;
    unsigned                    depth;      /* frames needed, partials too */
    unsigned                    state;
};


struct ngx_http_vbp_tpl_set_s {
    ngx_http_vbp_tpl_t         *tpls;       /* sorted by name */
    size_t                      n;
    size_t                      nalloc;
};


typedef struct {
    unsigned                    op;
    const char                 *name;
    size_t                      len;
    const char                 *next;       /* first byte after the tag */
} ngx_http_vbp_tpl_tag_t;


typedef struct {
    ngx_http_vbp_tpl_t         *tpl;
    size_t                      open[NGX_HTTP_VBP_TPL_MAX_DEPTH];
    unsigned                    nopen;
    unsigned                    line;
    char                       *err;
    size_t                      errlen;
} ngx_http_vbp_tpl_parse_t;


typedef struct {
    const ngx_http_vbp_tpl_t   *tpl;        /* partial: where to return */
    size_t                      pc;         /* partial: return; else body */
    json_t                     *list;       /* array iterated, or NULL */
    size_t                      index;
    unsigned                    partial:1;
    unsigned                    pushed:1;   /* a context was pushed */
} ngx_http_vbp_tpl_frame_t;


typedef struct {
    const ngx_http_vbp_tpl_t   *tpl;
    size_t                      pc;
    json_t                     *ctx[NGX_HTTP_VBP_TPL_MAX_DEPTH + 1];
    size_t                      nctx;
    ngx_http_vbp_tpl_frame_t    frames[NGX_HTTP_VBP_TPL_MAX_DEPTH];
    size_t                      nframes;
    ngx_http_vbp_tpl_emit_pt    emit;
    void                       *data;
} ngx_http_vbp_tpl_render_t;


static void ngx_http_vbp_tpl_error(char *err, size_t errlen, const char *path,
    unsigned line, const char *fmt, ...);
static char *ngx_http_vbp_tpl_strndup(const char *s, size_t len);
static const char *ngx_http_vbp_tpl_search(const char *p, const char *end,
    const char *needle, size_t len);
static unsigned ngx_http_vbp_tpl_lines(const char *p, const char *end);
static int ngx_http_vbp_tpl_name_cmp(const char *a, size_t alen,
    const char *b, size_t blen);
static int ngx_http_vbp_tpl_sort_cmp(const void *a, const void *b);
static ngx_http_vbp_tpl_t *ngx_http_vbp_tpl_append(ngx_http_vbp_tpl_set_t *set);
static int ngx_http_vbp_tpl_add_file(ngx_http_vbp_tpl_set_t *set,
    const char *dir, const char *name, char *err, size_t errlen);
static int ngx_http_vbp_tpl_read(const char *path, char **buf, size_t *len,
    char *err, size_t errlen);
static int ngx_http_vbp_tpl_finish(ngx_http_vbp_tpl_set_t *set, char *err,
    size_t errlen);
static int ngx_http_vbp_tpl_parse(ngx_http_vbp_tpl_t *tpl, char *err,
    size_t errlen);
static int ngx_http_vbp_tpl_parse_tag(ngx_http_vbp_tpl_parse_t *ps,
    const char *p, const char *end, ngx_http_vbp_tpl_tag_t *tag);
static int ngx_http_vbp_tpl_check_name(ngx_http_vbp_tpl_parse_t *ps,
    ngx_http_vbp_tpl_tag_t *tag);
static int ngx_http_vbp_tpl_handle_tag(ngx_http_vbp_tpl_parse_t *ps,
    ngx_http_vbp_tpl_tag_t *tag);
static int ngx_http_vbp_tpl_close_tag(ngx_http_vbp_tpl_parse_t *ps,
    ngx_http_vbp_tpl_tag_t *tag);
static ngx_http_vbp_tpl_node_t *ngx_http_vbp_tpl_add_node(
    ngx_http_vbp_tpl_parse_t *ps, unsigned op, const char *s, size_t len);
static int ngx_http_vbp_tpl_link(ngx_http_vbp_tpl_set_t *set, char *err,
    size_t errlen);
static ngx_http_vbp_tpl_t *ngx_http_vbp_tpl_resolve(
    ngx_http_vbp_tpl_set_t *set, const char *name, size_t len);
static int ngx_http_vbp_tpl_measure(ngx_http_vbp_tpl_t *tpl, unsigned base,
    char *err, size_t errlen);

static int ngx_http_vbp_tpl_step(ngx_http_vbp_tpl_render_t *r,
    const ngx_http_vbp_tpl_node_t *n);
static json_t *ngx_http_vbp_tpl_get(ngx_http_vbp_tpl_render_t *r,
    const char *s, size_t len);
static int ngx_http_vbp_tpl_empty(json_t *v);
static int ngx_http_vbp_tpl_open(ngx_http_vbp_tpl_render_t *r,
    const ngx_http_vbp_tpl_node_t *n);
static int ngx_http_vbp_tpl_close(ngx_http_vbp_tpl_render_t *r);
static int ngx_http_vbp_tpl_include(ngx_http_vbp_tpl_render_t *r,
    const ngx_http_vbp_tpl_node_t *n);
static int ngx_http_vbp_tpl_emit_value(ngx_http_vbp_tpl_render_t *r,
    json_t *v, int escape);
static size_t ngx_http_vbp_tpl_format_real(double d, char *buf, size_t size);
static int ngx_http_vbp_tpl_emit_escaped(ngx_http_vbp_tpl_render_t *r,
    const char *p, size_t len);


/* compiling */


ngx_http_vbp_tpl_set_t *
ngx_http_vbp_tpl_compile_dir(const char *dir, char *err, size_t errlen)
{
    DIR                     *d;
    size_t                   len;
    struct dirent           *de;
    ngx_http_vbp_tpl_set_t  *set;

    if (err && errlen) {
        err[0] = '\0';
    }

    set = calloc(1, sizeof(ngx_http_vbp_tpl_set_t));
    if (set == NULL) {
        ngx_http_vbp_tpl_error(err, errlen, NULL, 0, "out of memory");
        return NULL;
    }

    d = opendir(dir);
    if (d == NULL) {
        ngx_http_vbp_tpl_error(err, errlen, NULL, 0,
                               "%s: cannot open directory: %s",
                               dir, strerror(errno));
        free(set);
        return NULL;
    }

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        /* hidden files are editor or VCS leftovers, never templates */
        if (de->d_name[0] == '.'
            || len <= NGX_HTTP_VBP_TPL_EXT_LEN
            || strcmp(de->d_name + len - NGX_HTTP_VBP_TPL_EXT_LEN,
                      NGX_HTTP_VBP_TPL_EXT) != 0)
        {
            continue;
        }

        if (ngx_http_vbp_tpl_add_file(set, dir, de->d_name, err, errlen)
            != 0)
        {
            closedir(d);
            ngx_http_vbp_tpl_set_free(set);
            return NULL;
        }
    }

    closedir(d);

    if (ngx_http_vbp_tpl_finish(set, err, errlen) != 0) {
        ngx_http_vbp_tpl_set_free(set);
        return NULL;
    }

    return set;
}


ngx_http_vbp_tpl_set_t *
ngx_http_vbp_tpl_compile_strings(const char **names, const char **sources,
    size_t n, char *err, size_t errlen)
{
    size_t                   i, len;
    ngx_http_vbp_tpl_t      *tpl;
    ngx_http_vbp_tpl_set_t  *set;

    if (err && errlen) {
        err[0] = '\0';
    }

    set = calloc(1, sizeof(ngx_http_vbp_tpl_set_t));
    if (set == NULL) {
        ngx_http_vbp_tpl_error(err, errlen, NULL, 0, "out of memory");
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (names[i] == NULL || sources[i] == NULL) {
            ngx_http_vbp_tpl_error(err, errlen, NULL, 0,
                                   "template #%zu has no name or source", i);
            goto failed;
        }

        len = strnlen(sources[i], NGX_HTTP_VBP_TPL_MAX_SIZE + 1);
        if (len > NGX_HTTP_VBP_TPL_MAX_SIZE) {
            ngx_http_vbp_tpl_error(err, errlen, names[i], 1,
                                   "template larger than 1 MiB");
            goto failed;
        }

        tpl = ngx_http_vbp_tpl_append(set);
        if (tpl == NULL) {
            goto nomem;
        }

        tpl->name_len = strlen(names[i]);
        tpl->name = ngx_http_vbp_tpl_strndup(names[i], tpl->name_len);
        tpl->path = ngx_http_vbp_tpl_strndup(names[i], tpl->name_len);
        tpl->src = ngx_http_vbp_tpl_strndup(sources[i], len);
        tpl->len = len;

        if (tpl->name == NULL || tpl->path == NULL || tpl->src == NULL) {
            goto nomem;
        }
    }

    if (ngx_http_vbp_tpl_finish(set, err, errlen) != 0) {
        goto failed;
    }

    return set;

nomem:

    ngx_http_vbp_tpl_error(err, errlen, NULL, 0, "out of memory");

failed:

    ngx_http_vbp_tpl_set_free(set);
    return NULL;
}


void
ngx_http_vbp_tpl_set_free(ngx_http_vbp_tpl_set_t *set)
{
    size_t  i;

    if (set == NULL) {
        return;
    }

    for (i = 0; i < set->n; i++) {
        free(set->tpls[i].name);
        free(set->tpls[i].path);
        free(set->tpls[i].src);
        free(set->tpls[i].nodes);
    }

    free(set->tpls);
    free(set);
}


const ngx_http_vbp_tpl_t *
ngx_http_vbp_tpl_find(const ngx_http_vbp_tpl_set_t *set, const char *name,
    size_t len)
{
    int                  rc;
    size_t               lo, hi, mid;
    ngx_http_vbp_tpl_t  *tpl;

    if (set == NULL || name == NULL) {
        return NULL;
    }

    lo = 0;
    hi = set->n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        tpl = &set->tpls[mid];

        rc = ngx_http_vbp_tpl_name_cmp(name, len, tpl->name, tpl->name_len);
        if (rc == 0) {
            return tpl;
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


static void
ngx_http_vbp_tpl_error(char *err, size_t errlen, const char *path,
    unsigned line, const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    n = 0;

    if (path) {
        n = snprintf(err, errlen, "%s:%u: ", path, line);
        if (n < 0) {
            n = 0;
        }

        if ((size_t) n >= errlen) {
            return;
        }
    }

    va_start(args, fmt);
    vsnprintf(err + n, errlen - n, fmt, args);
    va_end(args);
}


static char *
ngx_http_vbp_tpl_strndup(const char *s, size_t len)
{
    char  *p;

    p = malloc(len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


/* like memmem(), which is not C99 */
static const char *
ngx_http_vbp_tpl_search(const char *p, const char *end, const char *needle,
    size_t len)
{
    while ((size_t) (end - p) >= len) {
        p = memchr(p, needle[0], end - p - len + 1);
        if (p == NULL) {
            return NULL;
        }

        if (memcmp(p, needle, len) == 0) {
            return p;
        }

        p++;
    }

    return NULL;
}


static unsigned
ngx_http_vbp_tpl_lines(const char *p, const char *end)
{
    unsigned  n;

    n = 0;

    while ((p = memchr(p, '\n', end - p)) != NULL) {
        n++;
        p++;
    }

    return n;
}


/* byte order, the same as strcmp() for names without NUL */
static int
ngx_http_vbp_tpl_name_cmp(const char *a, size_t alen, const char *b,
    size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);
    if (rc != 0) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


static int
ngx_http_vbp_tpl_sort_cmp(const void *a, const void *b)
{
    const ngx_http_vbp_tpl_t  *ta = a, *tb = b;

    return ngx_http_vbp_tpl_name_cmp(ta->name, ta->name_len,
                                     tb->name, tb->name_len);
}


static ngx_http_vbp_tpl_t *
ngx_http_vbp_tpl_append(ngx_http_vbp_tpl_set_t *set)
{
    size_t               n;
    ngx_http_vbp_tpl_t  *tpls;

    if (set->n == set->nalloc) {
        n = set->nalloc ? set->nalloc * 2 : 8;

        tpls = realloc(set->tpls, n * sizeof(ngx_http_vbp_tpl_t));
        if (tpls == NULL) {
            return NULL;
        }

        set->tpls = tpls;
        set->nalloc = n;
    }

    memset(&set->tpls[set->n], 0, sizeof(ngx_http_vbp_tpl_t));

    return &set->tpls[set->n++];
}


static int
ngx_http_vbp_tpl_add_file(ngx_http_vbp_tpl_set_t *set, const char *dir,
    const char *name, char *err, size_t errlen)
{
    char                *path;
    size_t               dlen, nlen, slash;
    struct stat          st;
    ngx_http_vbp_tpl_t  *tpl;

    dlen = strlen(dir);
    nlen = strlen(name);
    slash = (dlen && dir[dlen - 1] != '/') ? 1 : 0;

    path = malloc(dlen + slash + nlen + 1);
    if (path == NULL) {
        ngx_http_vbp_tpl_error(err, errlen, NULL, 0, "out of memory");
        return -1;
    }

    memcpy(path, dir, dlen);
    memcpy(path + dlen, "/", slash);
    memcpy(path + dlen + slash, name, nlen + 1);

    if (stat(path, &st) != 0) {
        ngx_http_vbp_tpl_error(err, errlen, path, 1, "cannot read: %s",
                               strerror(errno));
        free(path);
        return -1;
    }

    /* "*.html" directories and the like are not templates */
    if (!S_ISREG(st.st_mode)) {
        free(path);
        return 0;
    }

    tpl = ngx_http_vbp_tpl_append(set);
    if (tpl == NULL) {
        ngx_http_vbp_tpl_error(err, errlen, NULL, 0, "out of memory");
        free(path);
        return -1;
    }

    tpl->path = path;
    tpl->name_len = nlen;
    tpl->name = ngx_http_vbp_tpl_strndup(name, nlen);
    if (tpl->name == NULL) {
        ngx_http_vbp_tpl_error(err, errlen, NULL, 0, "out of memory");
        return -1;
    }

    return ngx_http_vbp_tpl_read(path, &tpl->src, &tpl->len, err, errlen);
}


static int
ngx_http_vbp_tpl_read(const char *path, char **buf, size_t *len, char *err,
    size_t errlen)
{
    int     failed;
    char   *p;
    FILE   *f;
    size_t  n, size, got;

    f = fopen(path, "rb");
    if (f == NULL) {
        ngx_http_vbp_tpl_error(err, errlen, path, 1, "cannot read: %s",
                               strerror(errno));
        return -1;
    }

    n = 0;
    size = 0;

    /* read up to one byte over the limit, to tell "too large" */
    do {
        if (n == size) {
            size = size ? size * 2 : 16384;
            if (size > NGX_HTTP_VBP_TPL_MAX_SIZE + 1) {
                size = NGX_HTTP_VBP_TPL_MAX_SIZE + 1;
            }

            p = realloc(*buf, size);
            if (p == NULL) {
                fclose(f);
                ngx_http_vbp_tpl_error(err, errlen, NULL, 0, "out of memory");
                return -1;
            }

            *buf = p;
        }

        got = fread(*buf + n, 1, size - n, f);
        n += got;

    } while (got && n <= NGX_HTTP_VBP_TPL_MAX_SIZE);

    failed = ferror(f);
    fclose(f);

    if (failed) {
        ngx_http_vbp_tpl_error(err, errlen, path, 1, "cannot read");
        return -1;
    }

    if (n > NGX_HTTP_VBP_TPL_MAX_SIZE) {
        ngx_http_vbp_tpl_error(err, errlen, path, 1,
                               "template larger than 1 MiB");
        return -1;
    }

    *len = n;

    return 0;
}


static int
ngx_http_vbp_tpl_finish(ngx_http_vbp_tpl_set_t *set, char *err,
    size_t errlen)
{
    size_t               i;
    ngx_http_vbp_tpl_t  *tpl;

    /* sorted: binary search in find(), and errors in a stable order */
    if (set->n > 1) {
        qsort(set->tpls, set->n, sizeof(ngx_http_vbp_tpl_t),
              ngx_http_vbp_tpl_sort_cmp);
    }

    for (i = 1; i < set->n; i++) {
        if (ngx_http_vbp_tpl_sort_cmp(&set->tpls[i - 1], &set->tpls[i]) == 0) {
            ngx_http_vbp_tpl_error(err, errlen, set->tpls[i].path, 1,
                                   "duplicate template name");
            return -1;
        }
    }

    for (i = 0; i < set->n; i++) {
        if (ngx_http_vbp_tpl_parse(&set->tpls[i], err, errlen) != 0) {
            return -1;
        }
    }

    if (ngx_http_vbp_tpl_link(set, err, errlen) != 0) {
        return -1;
    }

    for (i = 0; i < set->n; i++) {
        tpl = &set->tpls[i];

        if (ngx_http_vbp_tpl_measure(tpl, 0, err, errlen) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_vbp_tpl_parse(ngx_http_vbp_tpl_t *tpl, char *err, size_t errlen)
{
    const char                *p, *q, *end;
    ngx_http_vbp_tpl_tag_t     tag;
    ngx_http_vbp_tpl_parse_t   ps;

    memset(&ps, 0, sizeof(ngx_http_vbp_tpl_parse_t));
    ps.tpl = tpl;
    ps.line = 1;
    ps.err = err;
    ps.errlen = errlen;

    p = tpl->src;
    end = p + tpl->len;

    while (p < end) {
        q = ngx_http_vbp_tpl_search(p, end, "{{", 2);
        if (q == NULL) {
            q = end;
        }

        if (q > p
            && ngx_http_vbp_tpl_add_node(&ps, NGX_HTTP_VBP_TPL_TEXT, p, q - p)
               == NULL)
        {
            return -1;
        }

        ps.line += ngx_http_vbp_tpl_lines(p, q);

        if (q == end) {
            break;
        }

        if (ngx_http_vbp_tpl_parse_tag(&ps, q, end, &tag) != 0
            || ngx_http_vbp_tpl_handle_tag(&ps, &tag) != 0)
        {
            return -1;
        }

        ps.line += ngx_http_vbp_tpl_lines(q, tag.next);
        p = tag.next;
    }

    if (ps.nopen) {
        q = tpl->nodes[ps.open[ps.nopen - 1]].s;
        ngx_http_vbp_tpl_error(err, errlen, tpl->path,
                               tpl->nodes[ps.open[ps.nopen - 1]].line,
                               "unclosed section \"%.*s\"",
                               (int) tpl->nodes[ps.open[ps.nopen - 1]].len, q);
        return -1;
    }

    return 0;
}


static int
ngx_http_vbp_tpl_parse_tag(ngx_http_vbp_tpl_parse_t *ps, const char *p,
    const char *end, ngx_http_vbp_tpl_tag_t *tag)
{
    size_t       clen;
    const char  *s, *e, *close;

    s = p + 2;

    if (s < end && *s == '{') {
        s++;
        tag->op = NGX_HTTP_VBP_TPL_RAW;
        close = "}}}";
        clen = 3;

    } else {
        tag->op = NGX_HTTP_VBP_TPL_VAR;
        close = "}}";
        clen = 2;
    }

    e = ngx_http_vbp_tpl_search(s, end, close, clen);
    if (e == NULL) {
        ngx_http_vbp_tpl_error(ps->err, ps->errlen, ps->tpl->path, ps->line,
                               "unclosed tag");
        return -1;
    }

    tag->next = e + clen;

    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
    }

    if (tag->op == NGX_HTTP_VBP_TPL_VAR && s < e) {
        switch (*s) {
        case '#': tag->op = NGX_HTTP_VBP_TPL_SECTION; s++; break;
        case '^': tag->op = NGX_HTTP_VBP_TPL_INVERTED; s++; break;
        case '/': tag->op = NGX_HTTP_VBP_TPL_END; s++; break;
        case '>': tag->op = NGX_HTTP_VBP_TPL_PARTIAL; s++; break;
        case '&': tag->op = NGX_HTTP_VBP_TPL_RAW; s++; break;
        case '!': tag->op = NGX_HTTP_VBP_TPL_COMMENT; return 0;
        }
    }

    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
    }

    while (e > s
           && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
    {
        e--;
    }

    tag->name = s;
    tag->len = e - s;

    return ngx_http_vbp_tpl_check_name(ps, tag);
}


static int
ngx_http_vbp_tpl_check_name(ngx_http_vbp_tpl_parse_t *ps,
    ngx_http_vbp_tpl_tag_t *tag)
{
    size_t          i;
    unsigned char   c;
    const char     *name;

    name = tag->name;

    if (tag->len == 0) {
        ngx_http_vbp_tpl_error(ps->err, ps->errlen, ps->tpl->path, ps->line,
                               "empty name in tag");
        return -1;
    }

    for (i = 0; i < tag->len; i++) {
        c = (unsigned char) name[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
        {
            continue;
        }

        if (c >= 0x20 && c < 0x7f) {
            ngx_http_vbp_tpl_error(ps->err, ps->errlen, ps->tpl->path,
                                   ps->line, "bad character '%c' in name", c);

        } else {
            ngx_http_vbp_tpl_error(ps->err, ps->errlen, ps->tpl->path,
                                   ps->line, "bad character 0x%02x in name",
                                   c);
        }

        return -1;
    }

    /* "." alone is the current context; otherwise no empty path parts */
    if (!(tag->len == 1 && name[0] == '.')
        && (name[0] == '.' || name[tag->len - 1] == '.'
            || ngx_http_vbp_tpl_search(name, name + tag->len, "..", 2)))
    {
        ngx_http_vbp_tpl_error(ps->err, ps->errlen, ps->tpl->path, ps->line,
                               "bad name \"%.*s\"", (int) tag->len, name);
        return -1;
    }

    return 0;
}


static int
ngx_http_vbp_tpl_handle_tag(ngx_http_vbp_tpl_parse_t *ps,
    ngx_http_vbp_tpl_tag_t *tag)
{
    ngx_http_vbp_tpl_t  *tpl;

    tpl = ps->tpl;

    switch (tag->op) {

    case NGX_HTTP_VBP_TPL_COMMENT:
        return 0;

    case NGX_HTTP_VBP_TPL_SECTION:
    case NGX_HTTP_VBP_TPL_INVERTED:
        if (ps->nopen == NGX_HTTP_VBP_TPL_MAX_DEPTH) {
            ngx_http_vbp_tpl_error(ps->err, ps->errlen, tpl->path, ps->line,
                                   "sections nested deeper than %d",
                                   NGX_HTTP_VBP_TPL_MAX_DEPTH);
            return -1;
        }

        if (ngx_http_vbp_tpl_add_node(ps, tag->op, tag->name, tag->len)
            == NULL)
        {
            return -1;
        }

        ps->open[ps->nopen++] = tpl->nnodes - 1;

        if (ps->nopen > tpl->depth) {
            tpl->depth = ps->nopen;
        }

        return 0;

    case NGX_HTTP_VBP_TPL_END:
        return ngx_http_vbp_tpl_close_tag(ps, tag);

    default:
        return ngx_http_vbp_tpl_add_node(ps, tag->op, tag->name, tag->len)
               ? 0 : -1;
    }
}


static int
ngx_http_vbp_tpl_close_tag(ngx_http_vbp_tpl_parse_t *ps,
    ngx_http_vbp_tpl_tag_t *tag)
{
    ngx_http_vbp_tpl_t       *tpl;
    ngx_http_vbp_tpl_node_t  *start;

    tpl = ps->tpl;

    if (ps->nopen == 0) {
        ngx_http_vbp_tpl_error(ps->err, ps->errlen, tpl->path, ps->line,
                               "unexpected {{/%.*s}}, no section is open",
                               (int) tag->len, tag->name);
        return -1;
    }

    start = &tpl->nodes[ps->open[ps->nopen - 1]];

    if (start->len != tag->len
        || memcmp(start->s, tag->name, tag->len) != 0)
    {
        ngx_http_vbp_tpl_error(ps->err, ps->errlen, tpl->path, ps->line,
                               "mismatched {{/%.*s}}, expected {{/%.*s}}",
                               (int) tag->len, tag->name,
                               (int) start->len, start->s);
        return -1;
    }

    ps->nopen--;

    if (ngx_http_vbp_tpl_add_node(ps, tag->op, tag->name, tag->len)
        == NULL)
    {
        return -1;
    }

    /* by index: add_node() may have moved the nodes */
    tpl->nodes[ps->open[ps->nopen]].jump = tpl->nnodes - 1;

    return 0;
}


static ngx_http_vbp_tpl_node_t *
ngx_http_vbp_tpl_add_node(ngx_http_vbp_tpl_parse_t *ps, unsigned op,
    const char *s, size_t len)
{
    size_t                    n;
    ngx_http_vbp_tpl_t       *tpl;
    ngx_http_vbp_tpl_node_t  *nodes, *node;

    tpl = ps->tpl;

    if (tpl->nnodes == tpl->nalloc) {
        n = tpl->nalloc ? tpl->nalloc * 2 : 16;

        nodes = realloc(tpl->nodes, n * sizeof(ngx_http_vbp_tpl_node_t));
        if (nodes == NULL) {
            ngx_http_vbp_tpl_error(ps->err, ps->errlen, NULL, 0,
                                   "out of memory");
            return NULL;
        }

        tpl->nodes = nodes;
        tpl->nalloc = n;
    }

    node = &tpl->nodes[tpl->nnodes++];

    node->op = op;
    node->line = ps->line;
    node->level = ps->nopen;
    node->s = s;
    node->len = len;
    node->jump = 0;
    node->partial = NULL;

    return node;
}


static int
ngx_http_vbp_tpl_link(ngx_http_vbp_tpl_set_t *set, char *err, size_t errlen)
{
    size_t                    i, j;
    ngx_http_vbp_tpl_t       *tpl;
    ngx_http_vbp_tpl_node_t  *n;

    for (i = 0; i < set->n; i++) {
        tpl = &set->tpls[i];

        for (j = 0; j < tpl->nnodes; j++) {
            n = &tpl->nodes[j];

            if (n->op != NGX_HTTP_VBP_TPL_PARTIAL) {
                continue;
            }

            n->partial = ngx_http_vbp_tpl_resolve(set, n->s, n->len);
            if (n->partial == NULL) {
                ngx_http_vbp_tpl_error(err, errlen, tpl->path, n->line,
                                       "partial \"%.*s\" not found",
                                       (int) n->len, n->s);
                return -1;
            }
        }
    }

    return 0;
}


/* "name" is "name" itself, or else "name.html" */
static ngx_http_vbp_tpl_t *
ngx_http_vbp_tpl_resolve(ngx_http_vbp_tpl_set_t *set, const char *name,
    size_t len)
{
    size_t               i;
    ngx_http_vbp_tpl_t  *tpl;

    tpl = (ngx_http_vbp_tpl_t *) ngx_http_vbp_tpl_find(set, name, len);
    if (tpl) {
        return tpl;
    }

    for (i = 0; i < set->n; i++) {
        tpl = &set->tpls[i];

        if (tpl->name_len == len + NGX_HTTP_VBP_TPL_EXT_LEN
            && memcmp(tpl->name, name, len) == 0
            && memcmp(tpl->name + len, NGX_HTTP_VBP_TPL_EXT,
                      NGX_HTTP_VBP_TPL_EXT_LEN) == 0)
        {
            return tpl;
        }
    }

    return NULL;
}


/*
 * Computes tpl->depth, the render frames tpl needs including everything
 * it includes, and rejects partial cycles.  base is the frames already
 * open in the includers; it grows by at least one per level and the walk
 * stops past the limit, so the recursion is bounded by the depth limit.
 */
static int
ngx_http_vbp_tpl_measure(ngx_http_vbp_tpl_t *tpl, unsigned base, char *err,
    size_t errlen)
{
    size_t                    i;
    unsigned                  need;
    ngx_http_vbp_tpl_t       *p;
    ngx_http_vbp_tpl_node_t  *n;

    if (tpl->state == NGX_HTTP_VBP_TPL_DONE) {
        return 0;
    }

    tpl->state = NGX_HTTP_VBP_TPL_BUSY;

    for (i = 0; i < tpl->nnodes; i++) {
        n = &tpl->nodes[i];

        if (n->op != NGX_HTTP_VBP_TPL_PARTIAL) {
            continue;
        }

        p = n->partial;
        need = n->level + 1;

        if (p->state == NGX_HTTP_VBP_TPL_BUSY) {
            ngx_http_vbp_tpl_error(err, errlen, tpl->path, n->line,
                                   "partial cycle through \"%s\"", p->name);
            return -1;
        }

        if (base + need <= NGX_HTTP_VBP_TPL_MAX_DEPTH) {
            if (ngx_http_vbp_tpl_measure(p, base + need, err, errlen) != 0) {
                return -1;
            }

            need += p->depth;
        }

        if (base + need > NGX_HTTP_VBP_TPL_MAX_DEPTH) {
            ngx_http_vbp_tpl_error(err, errlen, tpl->path, n->line,
                                   "sections and partials nested deeper "
                                   "than %d", NGX_HTTP_VBP_TPL_MAX_DEPTH);
            return -1;
        }

        if (need > tpl->depth) {
            tpl->depth = need;
        }
    }

    tpl->state = NGX_HTTP_VBP_TPL_DONE;

    return 0;
}


/* rendering */


int
ngx_http_vbp_tpl_render(const ngx_http_vbp_tpl_t *tpl, json_t *ctx,
    ngx_http_vbp_tpl_emit_pt emit, void *data)
{
    ngx_http_vbp_tpl_frame_t   *f;
    ngx_http_vbp_tpl_render_t   r;

    if (tpl == NULL || emit == NULL) {
        return -1;
    }

    r.tpl = tpl;
    r.pc = 0;
    r.ctx[0] = ctx;
    r.nctx = 1;
    r.nframes = 0;
    r.emit = emit;
    r.data = data;

    for ( ;; ) {

        if (r.pc == r.tpl->nnodes) {
            if (r.nframes == 0) {
                return 0;
            }

            /* the end of a partial: back to the includer */
            f = &r.frames[--r.nframes];
            r.tpl = f->tpl;
            r.pc = f->pc;
            continue;
        }

        if (ngx_http_vbp_tpl_step(&r, &r.tpl->nodes[r.pc]) != 0) {
            return -1;
        }
    }
}


static int
ngx_http_vbp_tpl_step(ngx_http_vbp_tpl_render_t *r,
    const ngx_http_vbp_tpl_node_t *n)
{
    json_t  *v;

    switch (n->op) {

    case NGX_HTTP_VBP_TPL_TEXT:
        r->pc++;
        return r->emit(r->data, n->s, n->len);

    case NGX_HTTP_VBP_TPL_VAR:
    case NGX_HTTP_VBP_TPL_RAW:
        r->pc++;
        v = ngx_http_vbp_tpl_get(r, n->s, n->len);
        return ngx_http_vbp_tpl_emit_value(r, v,
                                           n->op == NGX_HTTP_VBP_TPL_VAR);

    case NGX_HTTP_VBP_TPL_SECTION:
    case NGX_HTTP_VBP_TPL_INVERTED:
        return ngx_http_vbp_tpl_open(r, n);

    case NGX_HTTP_VBP_TPL_END:
        return ngx_http_vbp_tpl_close(r);

    default: /* NGX_HTTP_VBP_TPL_PARTIAL */
        return ngx_http_vbp_tpl_include(r, n);
    }
}


/* the first path part through the stack, the rest strictly inside it */
static json_t *
ngx_http_vbp_tpl_get(ngx_http_vbp_tpl_render_t *r, const char *s, size_t len)
{
    size_t       i;
    json_t      *v;
    const char  *dot, *end;

    if (len == 1 && s[0] == '.') {
        return r->ctx[r->nctx - 1];
    }

    end = s + len;

    dot = memchr(s, '.', len);
    if (dot == NULL) {
        dot = end;
    }

    v = NULL;

    for (i = r->nctx; i-- > 0; /* void */) {
        if (json_is_object(r->ctx[i])) {
            v = json_object_getn(r->ctx[i], s, dot - s);
            if (v) {
                break;
            }
        }
    }

    while (v && dot < end) {
        s = dot + 1;

        dot = memchr(s, '.', end - s);
        if (dot == NULL) {
            dot = end;
        }

        v = json_is_object(v) ? json_object_getn(v, s, dot - s) : NULL;
    }

    return v;
}


/* whether a section over v renders nothing (and so its inverse does) */
static int
ngx_http_vbp_tpl_empty(json_t *v)
{
    if (v == NULL) {
        return 1;
    }

    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_TRUE:
        return 0;
    case JSON_ARRAY:
        return json_array_size(v) == 0;
    case JSON_STRING:
        return json_string_length(v) == 0;
    case JSON_INTEGER:
        return json_integer_value(v) == 0;
    case JSON_REAL:
        return json_real_value(v) == 0.0;
    default:
        return 1;
    }
}


static int
ngx_http_vbp_tpl_open(ngx_http_vbp_tpl_render_t *r,
    const ngx_http_vbp_tpl_node_t *n)
{
    int                        empty;
    json_t                    *v;
    ngx_http_vbp_tpl_frame_t  *f;

    v = ngx_http_vbp_tpl_get(r, n->s, n->len);
    empty = ngx_http_vbp_tpl_empty(v);

    if (n->op == NGX_HTTP_VBP_TPL_INVERTED ? !empty : empty) {
        r->pc = n->jump + 1;
        return 0;
    }

    /* the compiler bounds the depth; this only guards against bugs */
    if (r->nframes == NGX_HTTP_VBP_TPL_MAX_DEPTH) {
        return -1;
    }

    f = &r->frames[r->nframes++];
    f->tpl = r->tpl;
    f->pc = r->pc + 1;
    f->list = NULL;
    f->index = 0;
    f->partial = 0;
    f->pushed = 0;

    if (n->op == NGX_HTTP_VBP_TPL_SECTION) {
        if (json_is_array(v)) {
            f->list = v;
            f->pushed = 1;
            r->ctx[r->nctx++] = json_array_get(v, 0);

        } else if (json_is_object(v)) {
            f->pushed = 1;
            r->ctx[r->nctx++] = v;
        }
    }

    r->pc++;

    return 0;
}


static int
ngx_http_vbp_tpl_close(ngx_http_vbp_tpl_render_t *r)
{
    ngx_http_vbp_tpl_frame_t  *f;

    if (r->nframes == 0) {
        return -1;
    }

    f = &r->frames[r->nframes - 1];
    if (f->partial) {
        return -1;
    }

    if (f->list && ++f->index < json_array_size(f->list)) {
        r->ctx[r->nctx - 1] = json_array_get(f->list, f->index);
        r->pc = f->pc;
        return 0;
    }

    if (f->pushed) {
        r->nctx--;
    }

    r->nframes--;
    r->pc++;

    return 0;
}


static int
ngx_http_vbp_tpl_include(ngx_http_vbp_tpl_render_t *r,
    const ngx_http_vbp_tpl_node_t *n)
{
    ngx_http_vbp_tpl_frame_t  *f;

    if (r->nframes == NGX_HTTP_VBP_TPL_MAX_DEPTH) {
        return -1;
    }

    f = &r->frames[r->nframes++];
    f->tpl = r->tpl;
    f->pc = r->pc + 1;
    f->list = NULL;
    f->index = 0;
    f->partial = 1;
    f->pushed = 0;

    r->tpl = n->partial;
    r->pc = 0;

    return 0;
}


static int
ngx_http_vbp_tpl_emit_value(ngx_http_vbp_tpl_render_t *r, json_t *v,
    int escape)
{
    int          n;
    char         buf[NGX_HTTP_VBP_TPL_NUM_LEN];
    size_t       len;
    const char  *p;

    if (v == NULL) {
        return 0;
    }

    switch (json_typeof(v)) {

    case JSON_STRING:
        p = json_string_value(v);
        len = json_string_length(v);
        break;

    case JSON_INTEGER:
        n = snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        p = buf;
        len = (n > 0) ? (size_t) n : 0;
        break;

    case JSON_REAL:
        p = buf;
        len = ngx_http_vbp_tpl_format_real(json_real_value(v), buf,
                                           sizeof(buf));
        break;

    case JSON_TRUE:
        p = "true";
        len = 4;
        break;

    case JSON_FALSE:
        p = "false";
        len = 5;
        break;

    default:
        /* null, objects and arrays print nothing */
        return 0;
    }

    if (len == 0) {
        return 0;
    }

    if (escape) {
        return ngx_http_vbp_tpl_emit_escaped(r, p, len);
    }

    return r->emit(r->data, p, len);
}


/* at most two decimals, trailing zeros dropped: 3.5, 2, 0.25 */
static size_t
ngx_http_vbp_tpl_format_real(double d, char *buf, size_t size)
{
    int     n;
    size_t  len;

    n = snprintf(buf, size, "%.2f", d);
    if (n <= 0) {
        return 0;
    }

    len = ((size_t) n < size) ? (size_t) n : size - 1;

    if (memchr(buf, '.', len)) {
        while (buf[len - 1] == '0') {
            len--;
        }

        if (buf[len - 1] == '.') {
            len--;
        }
    }

    /* a tiny negative number rounds to "-0" */
    if (len == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        len = 1;
    }

    return len;
}


static int
ngx_http_vbp_tpl_emit_escaped(ngx_http_vbp_tpl_render_t *r, const char *p,
    size_t len)
{
    size_t       rlen;
    const char  *start, *end, *rep;

    start = p;
    end = p + len;

    for ( /* void */ ; p < end; p++) {

        switch (*p) {
        case '&':  rep = "&amp;";  rlen = 5; break;
        case '<':  rep = "&lt;";   rlen = 4; break;
        case '>':  rep = "&gt;";   rlen = 4; break;
        case '"':  rep = "&quot;"; rlen = 6; break;
        case '\'': rep = "&#39;";  rlen = 5; break;
        default:   continue;
        }

        if (p > start && r->emit(r->data, start, p - start) != 0) {
            return -1;
        }

        if (r->emit(r->data, rep, rlen) != 0) {
            return -1;
        }

        start = p + 1;
    }

    if (p > start) {
        return r->emit(r->data, start, p - start);
    }

    return 0;
}
