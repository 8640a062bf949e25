
/*
 * Copyright (C) the VBP platform developers
 *
 * Answers: a worker's JSON reply (or an error of our own) becomes either a
 * JSON response for /api clients or an HTML page rendered from the
 * lua-free-templates set, which is compiled once at configuration load.
 */


#include "ngx_http_vbp_module.h"


typedef struct {
    ngx_pool_t  *pool;
    ngx_buf_t   *buf;
} ngx_http_vbp_out_t;


static int ngx_http_vbp_emit(void *data, const char *p, size_t len);
static ngx_buf_t *ngx_http_vbp_render_page(ngx_http_request_t *r,
    const ngx_http_vbp_tpl_t *tpl, ngx_http_vbp_ctx_t *ctx,
    ngx_int_t status, json_t *reply);
static ngx_buf_t *ngx_http_vbp_render_json(ngx_http_request_t *r,
    json_t *value);
static ngx_int_t ngx_http_vbp_set_headers(ngx_http_request_t *r,
    ngx_int_t status, ngx_str_t *type, off_t len);
static ngx_int_t ngx_http_vbp_add_header(ngx_http_request_t *r,
    const char *key, const char *value);
static ngx_int_t ngx_http_vbp_reply_cookies(ngx_http_request_t *r,
    json_t *reply);
static void ngx_http_vbp_free_templates(void *data);
static u_char *ngx_pstrdup_z(ngx_pool_t *pool, ngx_str_t *s);
static ngx_uint_t ngx_http_vbp_asked_api(ngx_http_request_t *r);
static json_t *ngx_http_vbp_here(ngx_http_request_t *r);
static json_t *ngx_http_vbp_arg_escape(ngx_http_request_t *r, json_t *text);
static ngx_int_t ngx_http_vbp_role_flag(json_t *root, json_t *session);
static ngx_int_t ngx_http_vbp_render_download(ngx_http_request_t *r,
    ngx_http_vbp_loc_conf_t *vlcf, json_t *reply, ngx_buf_t **out);
static const char *ngx_http_vbp_redirect_target(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx, ngx_http_vbp_loc_conf_t *vlcf);


static ngx_str_t  ngx_http_vbp_json_type = ngx_string("application/json");
static ngx_str_t  ngx_http_vbp_html_type =
    ngx_string("text/html; charset=utf-8");


char *
ngx_http_vbp_load_templates(ngx_conf_t *cf, ngx_http_vbp_main_conf_t *vmcf)
{
    char                 err[1024];
    ngx_pool_cleanup_t  *cln;

    if (vmcf->templates_dir.len == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &vmcf->templates_dir, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    /* ngx_conf_full_name() leaves a NUL after the name */
    vmcf->templates = ngx_http_vbp_tpl_compile_dir(
                          (const char *) vmcf->templates_dir.data,
                          err, sizeof(err));

    if (vmcf->templates == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "vbp_templates: %s", err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_vbp_free_templates;
    cln->data = vmcf->templates;

    return NGX_CONF_OK;
}


static void
ngx_http_vbp_free_templates(void *data)
{
    ngx_http_vbp_tpl_set_free(data);
}


/*
 * the client asked for a URI under /api/: the one it sent, or for a request
 * line nginx gave up on (414), where it began in the header buffer
 */
static ngx_uint_t
ngx_http_vbp_asked_api(ngx_http_request_t *r)
{
    u_char  *p, *last;
    size_t   n = sizeof("/api/") - 1;

    if (r->unparsed_uri.len) {
        p = r->unparsed_uri.data;
        last = p + r->unparsed_uri.len;

    } else if (r->uri_start && r->header_in
               && r->uri_start >= r->header_in->start
               && r->uri_start < r->header_in->last)
    {
        p = r->uri_start;
        last = r->header_in->last;

    } else {
        return 0;
    }

    return (size_t) (last - p) >= n && ngx_strncmp(p, "/api/", n) == 0;
}


ngx_int_t
ngx_http_vbp_wants_page(ngx_http_request_t *r)
{
    ngx_http_vbp_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    /*
     * an answer for nginx's own errors (error_page) knows nothing of the
     * location that failed: the URI the client asked for says it
     */
    if (vlcf->error_status) {
        return !ngx_http_vbp_asked_api(r);
    }

    /* a download answers its refusals as the API does under /api/ */
    return vlcf->page != NULL || vlcf->redirect.len
           || ((vlcf->download.len || vlcf->file)
               && !ngx_http_vbp_asked_api(r));
}


/*
 * turns the worker's reply into headers and one body buffer; returns the
 * HTTP status to send
 */

ngx_int_t
ngx_http_vbp_render_reply(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx,
    ngx_int_t status, json_t *reply, ngx_buf_t **out)
{
    json_t                    *value, *wrap;
    ngx_buf_t                 *b;
    ngx_str_t                 *type;
    const char                *location;
    ngx_http_vbp_loc_conf_t   *vlcf;
    ngx_http_vbp_main_conf_t  *vmcf;
    const ngx_http_vbp_tpl_t  *tpl;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    if (ngx_http_vbp_reply_cookies(r, reply) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * an action of a list (vbp_back) returns to the list as the user left
     * it, refused or done: its message waits there (worker, vbp_flash); a
     * form page's refusal (a GET operation to show it again) stays on the
     * form, each error at its field
     */
    if (vlcf->redirect.len
        && !(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))   /* its form */
        && (status < 300
            || (vlcf->back && ctx && ctx->form_op.len == 0
                && status < 500 && status != NGX_HTTP_UNAUTHORIZED
                && status != NGX_HTTP_FORBIDDEN)))
    {
        b = ngx_create_temp_buf(r->pool, 1);
        location = ngx_http_vbp_redirect_target(r, ctx, vlcf);

        if (b == NULL || location == NULL
            || ngx_http_vbp_add_header(r, "Location", location) != NGX_OK)
        {
            return NGX_ERROR;
        }

        *out = b;
        status = NGX_HTTP_SEE_OTHER;
        type = &ngx_http_vbp_html_type;

    } else if (vlcf->download.len && status < 300) {
        return ngx_http_vbp_render_download(r, vlcf, reply, out);

    } else if (vlcf->page) {
        b = ngx_http_vbp_render_page(r, vlcf->page, ctx, status, reply);
        type = &ngx_http_vbp_html_type;

    } else if ((vlcf->download.len || vlcf->file)
               && !ngx_http_vbp_asked_api(r))
    {
        /* a refused download is the platform's error page, or under /api/
         * the error format */
        vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);
        tpl = vmcf->templates
              ? ngx_http_vbp_tpl_find(vmcf->templates,
                                      (const char *) vmcf->error_page.data,
                                      vmcf->error_page.len)
              : NULL;

        b = tpl ? ngx_http_vbp_render_page(r, tpl, ctx, status, reply) : NULL;
        type = &ngx_http_vbp_html_type;

    } else if (status < 300) {
        value = json_object_get(reply, "data");
        b = ngx_http_vbp_render_json(r, value ? value : json_object());
        type = &ngx_http_vbp_json_type;

    } else {
        wrap = json_pack("{sO}", "error", json_object_get(reply, "error"));
        if (wrap == NULL
            || ngx_http_vbp_pool_json(r->pool, wrap) != NGX_OK)
        {
            return NGX_ERROR;
        }

        b = ngx_http_vbp_render_json(r, wrap);
        type = &ngx_http_vbp_json_type;
    }

    if (b == NULL) {
        return NGX_ERROR;
    }

    *out = b;

    if (ngx_http_vbp_set_headers(r, status, type, b->last - b->pos)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return status;
}


/*
 * a file the worker made (vbp_download NAME): data.file is its text, sent
 * as an attachment; its type is its name's (.csv: UTF-8 text for Excel,
 * which the worker starts with a BOM)
 */
static ngx_int_t
ngx_http_vbp_render_download(ngx_http_request_t *r,
    ngx_http_vbp_loc_conf_t *vlcf, json_t *reply, ngx_buf_t **out)
{
    u_char     *p;
    size_t      len;
    json_t     *file;
    ngx_buf_t  *b;
    ngx_str_t   type;

    file = json_object_get(json_object_get(reply, "data"), "file");
    if (!json_is_string(file)) {
        return NGX_ERROR;
    }

    len = json_string_length(file);

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    p = ngx_pnalloc(r->pool, sizeof("attachment; filename=\"\"")
                             + vlcf->download.len);
    if (b == NULL || p == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, json_string_value(file), len);

    /* the name is the configuration's: ASCII, no quote */
    *ngx_sprintf(p, "attachment; filename=\"%V\"", &vlcf->download) = '\0';

    if (vlcf->download.len > 4
        && ngx_strncasecmp(vlcf->download.data + vlcf->download.len - 4,
                           (u_char *) ".csv", 4) == 0)
    {
        ngx_str_set(&type, "text/csv; charset=utf-8");

    } else {
        ngx_str_set(&type, "application/octet-stream");
    }

    if (ngx_http_vbp_add_header(r, "Content-Disposition", (const char *) p)
        != NGX_OK
        || ngx_http_vbp_set_headers(r, NGX_HTTP_OK, &type, b->last - b->pos)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    *out = b;

    return NGX_HTTP_OK;
}


/*
 * where a redirect goes: the form's "next" when it is a path of this site
 * under the configured target (any path for a target of "/": the page a
 * signed-out user asked for), else the target; "done=1" tells the page
 * that a message waits for it
 */
static const char *
ngx_http_vbp_redirect_target(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx,
    ngx_http_vbp_loc_conf_t *vlcf)
{
    u_char      *p, *last;
    size_t       len, under;
    ngx_str_t    next;
    const char  *arg;

    /* where the operation's answer says to go on (a new record's own
     * page), else the form's "next": a path under vbp_redirect's either way */
    arg = ctx ? json_string_value(json_object_get(
                    json_object_get(ctx->reply, "data"), "next"))
              : NULL;

    if (arg == NULL && ctx) {
        arg = json_string_value(json_object_get(ctx->args, "next"));
    }

    next.data = (u_char *) arg;
    next.len = arg ? ngx_strlen(arg) : 0;

    under = vlcf->redirect.len;
    p = ngx_strlchr(vlcf->redirect.data, vlcf->redirect.data + under, '?');
    if (p) {
        under = p - vlcf->redirect.data;
    }

    if (ngx_http_vbp_local_path(&next) != NGX_OK
        || next.len < under
        || ngx_strncmp(next.data, vlcf->redirect.data, under) != 0
        || (under > 1 && next.len > under && next.data[under] != '?'
            && next.data[under] != '/'))
    {
        next = vlcf->redirect;
    }

    len = next.len + sizeof("?done=1");

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NULL;
    }

    last = ngx_cpymem(p, next.data, next.len);

    if (vlcf->back) {
        last = ngx_cpymem(last, ngx_strlchr(next.data, next.data + next.len,
                                            '?')
                                ? "&done=1" : "?done=1", 7);
    }

    *last = '\0';

    return (const char *) p;
}


static ngx_int_t
ngx_http_vbp_role_flag(json_t *root, json_t *session)
{
    char        key[48];
    const char *role;

    role = json_string_value(json_object_get(session, "role"));

    if (role == NULL || ngx_strlen(role) > sizeof(key) - sizeof("role_")) {
        return NGX_OK;
    }

    ngx_sprintf((u_char *) key, "role_%s%Z", role);

    return json_object_set_new(root, key, json_true()) == 0 ? NGX_OK
                                                            : NGX_ERROR;
}


/* the page's URI without the "done" that brought a message to it */
static json_t *
ngx_http_vbp_here(ngx_http_request_t *r)
{
    u_char      *p, *q, *last, *end, *arg;
    ngx_str_t    uri;
    ngx_uint_t   first;

    uri = r->unparsed_uri;
    end = uri.data + uri.len;

    q = ngx_strlchr(uri.data, end, '?');
    if (q == NULL) {
        return json_stringn((const char *) uri.data, uri.len);
    }

    p = ngx_pnalloc(r->pool, uri.len);
    if (p == NULL) {
        return NULL;
    }

    last = ngx_cpymem(p, uri.data, q - uri.data);
    first = 1;

    while (q < end) {
        arg = q + 1;
        q = ngx_strlchr(arg, end, '&');
        if (q == NULL) {
            q = end;
        }

        if (q == arg
            || (q - arg >= 4 && ngx_strncmp(arg, "done", 4) == 0
                && (q - arg == 4 || arg[4] == '=')))
        {
            continue;
        }

        *last++ = first ? '?' : '&';
        last = ngx_cpymem(last, arg, q - arg);
        first = 0;
    }

    return json_stringn((const char *) p, last - p);
}


/* TEXT (a JSON string) escaped as the value of a query argument */
static json_t *
ngx_http_vbp_arg_escape(ngx_http_request_t *r, json_t *text)
{
    u_char  *p, *last;
    size_t   len;

    len = json_string_length(text);
    p = ngx_pnalloc(r->pool, len * 3);
    if (p == NULL) {
        return NULL;
    }

    last = (u_char *) ngx_escape_uri(p, (u_char *) json_string_value(text),
                                     len, NGX_ESCAPE_ARGS);

    return json_stringn((const char *) p, last - p);
}


/* a path of this site: "/x...", never "//host" or "/\\host", printable */
ngx_int_t
ngx_http_vbp_local_path(ngx_str_t *s)
{
    size_t  i;

    if (s->len == 0 || s->len > 2048 || s->data[0] != '/'
        || (s->len > 1 && (s->data[1] == '/' || s->data[1] == '\\')))
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] <= 0x20 || s->data[i] >= 0x7f || s->data[i] == '\\') {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * an answer of the form {"status":NNN,"data":X}, for a JSON location: X is
 * the body as it stands in the frame (the worker writes "data" last and
 * extras before it, so the shape says there is nothing else to act on);
 * the closing brace becomes the final newline.  NGX_DECLINED: not that
 * shape or not a JSON location, render the parsed reply instead.
 */
ngx_int_t
ngx_http_vbp_render_data(ngx_http_request_t *r, u_char *frame, size_t len,
    ngx_buf_t **out)
{
    u_char                   *p;
    ngx_int_t                 status;
    ngx_buf_t                *b;
    ngx_http_vbp_loc_conf_t  *vlcf;

    static const char  head[] = "{\"status\":";
    static const char  data[] = ",\"data\":";

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    if (vlcf->page || vlcf->redirect.len || vlcf->download.len || vlcf->file
        || len < sizeof(head) - 1 + 3 + sizeof(data) - 1 + 2
        || ngx_strncmp(frame, head, sizeof(head) - 1) != 0
        || ngx_strncmp(frame + sizeof(head) - 1 + 3, data, sizeof(data) - 1)
           != 0
        || frame[len - 1] != '}')
    {
        return NGX_DECLINED;
    }

    p = frame + sizeof(head) - 1;
    status = ngx_atoi(p, 3);

    if (status < 200 || status > 299) {
        return NGX_DECLINED;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = frame;
    b->pos = p + 3 + sizeof(data) - 1;
    b->last = frame + len;
    b->end = b->last;
    b->temporary = 1;
    b->last[-1] = '\n';

    *out = b;

    if (ngx_http_vbp_set_headers(r, status, &ngx_http_vbp_json_type,
                                 b->last - b->pos)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return status;
}


/* "session": {"id": ...} signs in, "clear_session": true signs out */

static ngx_int_t
ngx_http_vbp_reply_cookies(ngx_http_request_t *r, json_t *reply)
{
    json_t                    *sid;
    ngx_str_t                  value;
    ngx_http_vbp_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    sid = json_object_get(json_object_get(reply, "session"), "id");

    if (json_is_string(sid)) {
        value.data = (u_char *) json_string_value(sid);
        value.len = json_string_length(sid);

        return ngx_http_vbp_set_cookie(r, &vmcf->cookie_name, &value, -1);
    }

    if (json_is_true(json_object_get(reply, "clear_session"))) {
        ngx_str_set(&value, "");
        return ngx_http_vbp_set_cookie(r, &vmcf->cookie_name, &value, 0);
    }

    return NGX_OK;
}


static ngx_buf_t *
ngx_http_vbp_render_page(ngx_http_request_t *r, const ngx_http_vbp_tpl_t *tpl,
    ngx_http_vbp_ctx_t *ctx, ngx_int_t status, json_t *reply)
{
    json_t                   *root, *form, *value;
    const char               *key;
    ngx_http_vbp_out_t        out;
    ngx_http_vbp_loc_conf_t  *vlcf;

    root = json_object();
    form = json_object();

    if (root == NULL || form == NULL
        || ngx_http_vbp_pool_json(r->pool, root) != NGX_OK)
    {
        json_decref(form);
        return NULL;
    }

    /* what the user typed goes back into the form, but never a secret */
    if (ctx && ctx->args) {
        json_object_foreach(ctx->args, key, value) {
            if (ngx_strstr(key, "password") != NULL
                || ngx_strcmp(key, "_csrf") == 0
                || ngx_strcmp(key, "captcha") == 0)
            {
                continue;
            }

            /* "next" and "back" are links on the page: a path of this
             * site or nothing */
            if (ngx_strcmp(key, "next") == 0 || ngx_strcmp(key, "back") == 0)
            {
                ngx_str_t  next;

                next.data = (u_char *) json_string_value(value);
                next.len = next.data ? json_string_length(value) : 0;

                if (ngx_http_vbp_local_path(&next) != NGX_OK) {
                    continue;
                }
            }

            (void) json_object_set(form, key, value);
        }
    }

    if (json_object_set_new(root, "form", form) != 0
        || json_object_set_new(root, "status", json_integer(status)) != 0)
    {
        return NULL;
    }

    if (ctx && ctx->session) {
        (void) json_object_set(root, "me", ctx->session);
        (void) json_object_set(root, "csrf",
                               json_object_get(ctx->session, "csrf"));

        value = ngx_http_vbp_menu_json(r, ctx->session);
        if (value == NULL || json_object_set_new(root, "menu", value) != 0) {
            return NULL;
        }

        /* "role_alliance": true ..., so a page can offer what a role may */
        if (ngx_http_vbp_role_flag(root, ctx->session) != NGX_OK) {
            return NULL;
        }
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    /* where a list's actions return to (their "next"), as it is now */
    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        value = ngx_http_vbp_here(r);

        /* and as a query argument, for a link that leads back here */
        if (value == NULL
            || json_object_set_new(root, "here_arg",
                                   ngx_http_vbp_arg_escape(r, value)) != 0
            || json_object_set_new(root, "here", value) != 0)
        {
            return NULL;
        }
    }

    if (vlcf->title.len
        && json_object_set_new(root, "title",
                               json_stringn((const char *) vlcf->title.data,
                                            vlcf->title.len))
           != 0)
    {
        return NULL;
    }

    if (reply) {
        value = json_object_get(reply, "data");
        if (value) {
            (void) json_object_set(root, "data", value);
        }

        value = json_object_get(reply, "error");
        if (value) {
            (void) json_object_set(root, "error", value);
        }

        /* the options the request chose, for <select> on pages */
        value = json_object_get(reply, "chosen");
        if (value) {
            (void) json_object_set(root, "chosen", value);
        }
    }

    out.pool = r->pool;
    out.buf = ngx_create_temp_buf(r->pool, 8192);
    if (out.buf == NULL) {
        return NULL;
    }

    if (ngx_http_vbp_tpl_render(tpl, root, ngx_http_vbp_emit, &out) != 0) {
        return NULL;
    }

    return out.buf;
}


static int
ngx_http_vbp_emit(void *data, const char *p, size_t len)
{
    ngx_http_vbp_out_t *out = data;

    size_t      size, used;
    ngx_buf_t  *b;

    b = out->buf;

    if ((size_t) (b->end - b->last) < len) {
        used = b->last - b->pos;
        size = ngx_max(2 * (size_t) (b->end - b->start), used + len);

        b = ngx_create_temp_buf(out->pool, size);
        if (b == NULL) {
            return -1;
        }

        b->last = ngx_cpymem(b->last, out->buf->pos, used);
        ngx_pfree(out->pool, out->buf->start);
        out->buf = b;
    }

    b->last = ngx_cpymem(b->last, p, len);

    return 0;
}


static ngx_buf_t *
ngx_http_vbp_render_json(ngx_http_request_t *r, json_t *value)
{
    size_t      len;
    ngx_buf_t  *b;

    len = json_dumpb(value, NULL, 0, JSON_COMPACT|JSON_ENCODE_ANY);
    if (len == 0) {
        return NULL;
    }

    /* a final newline, as command-line clients expect */
    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NULL;
    }

    if (json_dumpb(value, (char *) b->last, len,
                   JSON_COMPACT|JSON_ENCODE_ANY) != len)
    {
        return NULL;
    }

    b->last += len;
    *b->last++ = '\n';

    return b;
}


/* nginx has no reason phrase for these; clients show the phrase */
ngx_int_t
ngx_http_vbp_status_line(ngx_int_t status, ngx_str_t *line)
{
    switch (status) {
    case 422:
        ngx_str_set(line, "422 Unprocessable Entity");
        return NGX_OK;
    case 423:
        ngx_str_set(line, "423 Locked");
        return NGX_OK;
    default:
        ngx_str_null(line);
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_http_vbp_set_headers(ngx_http_request_t *r, ngx_int_t status,
    ngx_str_t *type, off_t len)
{
    r->headers_out.status = status;
    (void) ngx_http_vbp_status_line(status, &r->headers_out.status_line);
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    /* answers are per user: never cached, never framed, never sniffed */
    if (ngx_http_vbp_add_header(r, "Cache-Control", "no-store") != NGX_OK
        || ngx_http_vbp_add_header(r, "X-Content-Type-Options", "nosniff")
           != NGX_OK
        || ngx_http_vbp_add_header(r, "X-Frame-Options", "DENY") != NGX_OK
        || ngx_http_vbp_add_header(r, "Referrer-Policy", "same-origin")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (type == &ngx_http_vbp_html_type
        && ngx_http_vbp_add_header(r, "Content-Security-Policy",
                                   "default-src 'self'; img-src 'self' data:; "
                                   "style-src 'self'; frame-ancestors 'none'; "
                                   "form-action 'self'; base-uri 'none'")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_vbp_add_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    if (key[0] == 'L') {
        r->headers_out.location = h;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_vbp_send_buf(ngx_http_request_t *r, ngx_int_t status,
    ngx_str_t *type, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    if (ngx_http_vbp_set_headers(r, status, type, b->last - b->pos)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (b->last == b->pos) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* an error of our own, in the form the location answers in */

ngx_int_t
ngx_http_vbp_send_error(ngx_http_request_t *r, ngx_int_t status,
    const char *code, const char *message)
{
    return ngx_http_vbp_send_field_error(r, status, code, message, NULL);
}


/* the location of an error_page: the status, code and message it names */
ngx_int_t
ngx_http_vbp_error_handler(ngx_http_request_t *r)
{
    ngx_str_t                 message;
    ngx_http_vbp_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    if (ngx_http_vbp_wants_page(r) && ngx_http_vbp_error_session(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the message may name variables ($arg_limit of the 413 target) */
    if (ngx_http_complex_value(r, vlcf->error_message, &message) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    message.data = (u_char *) ngx_pstrdup_z(r->pool, &message);
    if (message.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_vbp_send_field_error(r, vlcf->error_status,
               (const char *) vlcf->error_code.data,
               (const char *) message.data,
               vlcf->error_field.len ? (const char *) vlcf->error_field.data
                                     : NULL);
}


/* a copy of s with a NUL after it */
static u_char *
ngx_pstrdup_z(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}


/* an error in the worker's format; with a field, the message sits there */
ngx_int_t
ngx_http_vbp_send_field_error(ngx_http_request_t *r, ngx_int_t status,
    const char *code, const char *message, const char *field)
{
    json_t                    *reply;
    ngx_buf_t                 *b;
    ngx_http_vbp_ctx_t        *ctx;
    ngx_http_vbp_main_conf_t  *vmcf;
    const ngx_http_vbp_tpl_t  *tpl;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    reply = json_pack("{s{ssss}}", "error", "code", code, "message", message);
    if (reply == NULL || ngx_http_vbp_pool_json(r->pool, reply) != NGX_OK) {
        return NGX_ERROR;
    }

    if (field
        && json_object_set_new(json_object_get(reply, "error"), "fields",
                               json_pack("{ss}", field, message)) != 0)
    {
        return NGX_ERROR;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);

    tpl = NULL;

    if (ngx_http_vbp_wants_page(r) && vmcf->templates) {
        tpl = ngx_http_vbp_tpl_find(vmcf->templates,
                                    (const char *) vmcf->error_page.data,
                                    vmcf->error_page.len);
    }

    if (tpl) {
        b = ngx_http_vbp_render_page(r, tpl, ctx, status, reply);
        if (b == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_vbp_send_buf(r, status, &ngx_http_vbp_html_type, b);
    }

    b = ngx_http_vbp_render_json(r, reply);
    if (b == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_vbp_send_buf(r, status, &ngx_http_vbp_json_type, b);
}


ngx_int_t
ngx_http_vbp_send_redirect(ngx_http_request_t *r, ngx_str_t *to)
{
    u_char     *location;
    ngx_buf_t  *b;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    location = ngx_pnalloc(r->pool, to->len + 1);
    b = ngx_calloc_buf(r->pool);
    if (location == NULL || b == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(location, to->data, to->len);
    location[to->len] = '\0';

    if (ngx_http_vbp_add_header(r, "Location", (const char *) location)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_vbp_send_buf(r, (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
                                    ? NGX_HTTP_MOVED_TEMPORARILY
                                    : NGX_HTTP_SEE_OTHER,
                                 &ngx_http_vbp_html_type, b);
}


/* a page without an operation (sign-in form, password form) */

ngx_int_t
ngx_http_vbp_page_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_buf_t                *b;
    ngx_http_vbp_ctx_t       *ctx;
    ngx_http_vbp_loc_conf_t  *vlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);
    ctx = ngx_http_vbp_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->args.len && ctx->args == NULL) {
        ngx_str_t  empty = ngx_null_string, error;

        if (ngx_http_vbp_parse_args(r, &empty, &ctx->args, &error)
            == NGX_ERROR)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    b = ngx_http_vbp_render_page(r, vlcf->page, ctx, NGX_HTTP_OK, NULL);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_vbp_send_buf(r, NGX_HTTP_OK, &ngx_http_vbp_html_type, b);
}


/*
 * A stored file the worker allowed (vbp_file on): data names its internal
 * URI ("accel"), type and name.  The headers for the client go out now;
 * the upstream is told to redirect as an X-Accel-Redirect header would, so
 * nginx's own machinery serves the file from the internal location.
 */
ngx_int_t
ngx_http_vbp_render_file(ngx_http_request_t *r, json_t *reply,
    ngx_buf_t **out)
{
    u_char           *p, *disposition, *dot;
    size_t            len, n;
    json_t           *data;
    ngx_str_t         type;
    ngx_int_t         inline_;
    ngx_buf_t        *b;
    const char       *uri, *ctype, *name, *ext;
    ngx_table_elt_t  *h;

    static const char  key[] = "X-Accel-Redirect";
    static const char  lowcase[] = "x-accel-redirect";

    data = json_object_get(reply, "data");
    uri = json_string_value(json_object_get(data, "accel"));
    ctype = json_string_value(json_object_get(data, "content_type"));
    name = json_string_value(json_object_get(data, "filename"));

    /* only what the worker stores or makes: never a type a browser would
     * run */
    if (uri == NULL || ctype == NULL || name == NULL
        || ngx_strncmp(uri, "/.vbp-files/", sizeof("/.vbp-files/") - 1) != 0
        || (ngx_strcmp(ctype, "application/pdf") != 0
            && ngx_strcmp(ctype, "image/png") != 0
            && ngx_strcmp(ctype, "image/jpeg") != 0
            && ngx_strcmp(ctype, "text/csv; charset=utf-8") != 0))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp worker named no stored file");
        return NGX_ERROR;
    }

    ext = ctype[0] == 'a' ? "pdf" : ctype[0] == 't' ? "csv"
          : ctype[6] == 'p' ? "png" : "jpg";

    /* made files (a CSV) are always saved, never shown */
    inline_ = json_is_true(json_object_get(data, "inline")) && ctype[0] != 't';

    /*
     * attachment (or inline, to be viewed in the browser); filename=
     * "file.pdf"; filename*=UTF-8''<the name>, with the extension of its
     * type when the name lacks it (a template named by its project)
     */
    len = ngx_strlen(name);
    dot = ngx_strlchr((u_char *) name, (u_char *) name + len, '.');
    while (dot && ngx_strlchr(dot + 1, (u_char *) name + len, '.')) {
        dot = ngx_strlchr(dot + 1, (u_char *) name + len, '.');
    }

    if (dot && ngx_strcasecmp(dot + 1, (u_char *) ext) != 0
        && !(ext[0] == 'j' && ngx_strcasecmp(dot + 1, (u_char *) "jpeg")
                              == 0))
    {
        dot = NULL;
    }

    n = sizeof("attachment; filename=\"file.pdf\"; filename*=UTF-8''.pdf")
        + 3 * len;

    disposition = ngx_pnalloc(r->pool, n);
    if (disposition == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(disposition,
                    "%s; filename=\"file.%s\"; filename*=UTF-8''",
                    inline_ ? "inline" : "attachment", ext);
    p = (u_char *) ngx_escape_uri(p, (u_char *) name, len,
                                  NGX_ESCAPE_URI_COMPONENT);
    if (dot == NULL) {
        p = ngx_sprintf(p, ".%s", ext);
    }
    *p = '\0';

    type.data = (u_char *) ctype;
    type.len = ngx_strlen(ctype);

    /* an uploaded file viewed in the browser runs nothing of its own:
     * no script, no request anywhere, no framing */
    if (ngx_http_vbp_set_headers(r, NGX_HTTP_OK, &type, -1) != NGX_OK
        || ngx_http_vbp_add_header(r, "Content-Disposition",
                                   (const char *) disposition)
           != NGX_OK
        || ngx_http_vbp_add_header(r, "Content-Security-Policy",
                                   "default-src 'none'; img-src 'self'; "
                                   "style-src 'unsafe-inline'; "
                                   "frame-ancestors 'none'")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->upstream->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = (u_char *) key;
    h->key.len = sizeof(key) - 1;
    h->lowcase_key = (u_char *) lowcase;
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
    h->value.data = (u_char *) uri;
    h->value.len = ngx_strlen(uri);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    r->upstream->headers_in.x_accel_redirect = h;

    b = ngx_create_temp_buf(r->pool, 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    *out = b;

    return NGX_HTTP_OK;
}
