
/*
 * Copyright (C) the VBP platform developers
 *
 * The vbp-worker protocol over nginx's upstream machinery, in the manner of
 * ngx_http_memcached_module: one frame each way on a stream socket,
 * a 4-byte big-endian length followed by one JSON object.
 *
 *   request  {"body" (first: the size of a JSON body that follows the
 *             object as it came, ngx_http_vbp_body_as_is; then no "args"),
 *             "op", "actor" (from the session, never from the client),
 *             "args", "ip", "sid", "session_ttl", "captcha_ok",
 *             "form_op", "form_on_error" (a page's form after a POST),
 *             "flash" (vbp_back: keep the message for the next page),
 *             "page" (a page's answer: the options of its selects too)}
 *   answer   {"status", "data" | "error", "session", "clear_session"}
 *
 * The answer is read whole into u->buffer (vbp_worker_buffer_size bounds
 * it; a small buffer first, one of the frame's size when that is larger),
 * rendered, and the rendered body takes the buffer's place, so the
 * upstream module sends it and keeps the connection alive for the next
 * frame.
 */


#include "ngx_http_vbp_module.h"


#define NGX_HTTP_VBP_FRAME_HEADER  4


static void ngx_http_vbp_op_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_vbp_op_start(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx);
static ngx_int_t ngx_http_vbp_build_frame(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx);
static ngx_int_t ngx_http_vbp_captcha_ok(ngx_http_vbp_ctx_t *ctx);
static ngx_int_t ngx_http_vbp_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_vbp_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_vbp_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_vbp_parse_reply(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx, u_char *frame, size_t len, ngx_int_t *status,
    ngx_buf_t **out);
static ngx_int_t ngx_http_vbp_filter_init(void *data);
static ngx_int_t ngx_http_vbp_filter(void *data, ssize_t bytes);
static void ngx_http_vbp_abort_request(ngx_http_request_t *r);
static void ngx_http_vbp_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);


/* vbp_worker_pass and vbp_reader_pass: an upstream {} of worker sockets */

char *
ngx_http_vbp_worker_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                      *value;
    ngx_url_t                       u;
    ngx_http_upstream_srv_conf_t  **field;

    field = (ngx_http_upstream_srv_conf_t **) ((char *) conf + cmd->offset);

    if (*field) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    *field = ngx_http_upstream_add(cf, &u, 0);
    if (*field == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_vbp_op_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_http_vbp_op_t        *ops;
    ngx_http_vbp_ctx_t       *ctx;
    ngx_http_vbp_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    ctx = ngx_http_vbp_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ops = vlcf->ops->elts;
    ctx->op.len = 0;

    for (i = 0; i < vlcf->ops->nelts; i++) {
        if (ops[i].methods == 0 || (r->method & ops[i].methods)) {
            ctx->op = ops[i].name;
            break;
        }
    }

    /*
     * a page shown again after a POST needs what its GET shows: the worker
     * runs that operation too (worker/ops.c, vbp_call_refill)
     */
    ngx_str_null(&ctx->form_op);

    if (vlcf->page && r->method == NGX_HTTP_POST && ctx->op.len
        && ngx_http_vbp_wants_page(r))
    {
        for (i = 0; i < vlcf->ops->nelts; i++) {
            if ((ops[i].methods & NGX_HTTP_GET)
                && !(ops[i].methods & NGX_HTTP_POST))
            {
                ctx->form_op = ops[i].name;
                break;
            }
        }
    }

    if (ctx->op.len == 0) {

        /* the form that posts to this location */
        if ((r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) && vlcf->page) {
            return ngx_http_vbp_page_handler(r);
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    /* an upload goes to a file the worker streams; it is removed after */
    if (vlcf->upload) {
        r->request_body_in_file_only = 1;
        r->request_body_in_persistent_file = 1;
        r->request_body_in_clean_file = 1;
        r->request_body_file_log_level = 0;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_vbp_op_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_vbp_op_body(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_http_vbp_ctx_t  *ctx;

    ctx = ngx_http_vbp_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_vbp_op_start(r, ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


static ngx_int_t
ngx_http_vbp_op_start(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   body, error;
    ngx_http_upstream_conf_t   *conf;
    ngx_http_vbp_loc_conf_t    *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    if (vlcf->upload) {
        ngx_str_set(&body, "");     /* arguments come in the query string */

    } else if (ngx_http_vbp_read_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_vbp_body_as_is(r, &body)) {
        ctx->body = body;
        ngx_str_set(&body, "");
    }

    rc = ngx_http_vbp_parse_args(r, &body, &ctx->args, &error);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_vbp_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "bad_request",
                                       (const char *) error.data);
    }

    if (ngx_http_vbp_check_csrf(r, ctx) != NGX_OK) {
        return ngx_http_vbp_send_error(r, NGX_HTTP_FORBIDDEN, "csrf",
                                       "页面已过期或来源不明，请刷新页面后重试");
    }

    if (ngx_http_vbp_build_frame(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    conf = (vlcf->unhashed && !(r->method & NGX_HTTP_POST))
           ? vlcf->unhashed : &vlcf->upstream;

    /* the transaction children's requests wait their turn here */
    if (conf->upstream != vlcf->reader && conf->upstream != vlcf->hasher) {
        rc = ngx_http_vbp_queue_enter(r, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;        /* the body's count carries on */
        }

        if (rc == NGX_DECLINED) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_vbp_upstream_start(r);

    return NGX_DONE;
}


/* the request goes to its pool (at once, or when the waiting room says) */
void
ngx_http_vbp_upstream_start(ngx_http_request_t *r)
{
    ngx_http_vbp_ctx_t       *ctx;
    ngx_http_upstream_t      *u;
    ngx_http_vbp_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);
    ctx = ngx_http_vbp_get_ctx(r);

    if (ctx == NULL || ngx_http_upstream_create(r) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    u = r->upstream;

    ngx_str_set(&u->schema, "vbp://");
    u->output.tag = (ngx_buf_tag_t) &ngx_http_vbp_module;
    u->conf = (vlcf->unhashed && !(r->method & NGX_HTTP_POST))
              ? vlcf->unhashed : &vlcf->upstream;

    u->create_request = ngx_http_vbp_create_request;
    u->reinit_request = ngx_http_vbp_reinit_request;
    u->process_header = ngx_http_vbp_process_header;
    u->abort_request = ngx_http_vbp_abort_request;
    u->finalize_request = ngx_http_vbp_finalize_request;

    u->input_filter_init = ngx_http_vbp_filter_init;
    u->input_filter = ngx_http_vbp_filter;
    u->input_filter_ctx = ctx;

    /* the body was read by us; the count taken for it carries on */
    ngx_http_upstream_init(r);
}


/*
 * The frame is written as text: jansson only dumps the arguments when there
 * are any, and the actor is the session exactly as Redis holds it (the
 * worker wrote it, the access phase checked it), spliced in.  Strings that
 * come from outside the module are escaped for JSON.
 */
static ngx_int_t
ngx_http_vbp_build_frame(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx)
{
    u_char                    *p;
    char                      *args;
    size_t                     len, args_len;
    ngx_uint_t                 page, back;
    ngx_buf_t                 *b;
    ngx_str_t                  ip, path, type;
    ngx_temp_file_t           *upload;
    ngx_http_vbp_loc_conf_t   *vlcf;
    ngx_http_vbp_main_conf_t  *vmcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);
    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    ip = r->connection->addr_text;

    upload = (vlcf->upload && r->request_body) ? r->request_body->temp_file
                                                : NULL;
    ngx_str_null(&path);
    ngx_str_null(&type);

    if (upload) {
        path = upload->file.name;

        if (r->headers_in.content_type) {
            type = r->headers_in.content_type->value;
        }
    }

    args = NULL;
    args_len = 2;

    if (json_object_size(ctx->args)) {
        args = json_dumps(ctx->args, JSON_COMPACT);
        if (args == NULL) {
            return NGX_ERROR;
        }

        args_len = ngx_strlen(args);
    }

    len = sizeof("{\"op\":\"\",\"args\":,\"ip\":\"\",\"session_ttl\":}") - 1
          + ctx->op.len + ngx_escape_json(NULL, ctx->op.data, ctx->op.len)
          + args_len
          + sizeof("\"body\":,") - 1 + NGX_SIZE_T_LEN + ctx->body.len
          + ip.len + ngx_escape_json(NULL, ip.data, ip.len)
          + NGX_TIME_T_LEN;

    if (ctx->session) {
        len += sizeof(",\"sid\":\"\",\"actor\":") - 1 + ctx->sid.len
               + ngx_escape_json(NULL, ctx->sid.data, ctx->sid.len)
               + ctx->session_raw.len;
    }

    if (upload) {
        len += sizeof(",\"upload\":{\"path\":\"\",\"size\":,\"type\":\"\"}") - 1
               + path.len + ngx_escape_json(NULL, path.data, path.len)
               + NGX_OFF_T_LEN
               + type.len + ngx_escape_json(NULL, type.data, type.len);
    }

    if (vlcf->login) {
        len += sizeof(",\"captcha_ok\":false") - 1;
    }

    page = vlcf->page && ngx_http_vbp_wants_page(r);

    if (page) {
        len += sizeof(",\"page\":true") - 1;
    }

    /* only the action keeps its message; the page it leads to reads it */
    back = vlcf->back && !(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD));

    if (back) {
        len += sizeof(",\"flash\":true") - 1;
    }

    if (ctx->form_op.len) {
        len += sizeof(",\"form_op\":\"\",\"form_on_error\":true") - 1
               + ctx->form_op.len
               + ngx_escape_json(NULL, ctx->form_op.data, ctx->form_op.len);
    }

    b = (len > 0x7fffffff) ? NULL
        : ngx_create_temp_buf(r->pool, NGX_HTTP_VBP_FRAME_HEADER + len);

    if (b == NULL) {
        ngx_http_vbp_json_release(args);
        return NGX_ERROR;
    }

    p = b->last + NGX_HTTP_VBP_FRAME_HEADER;

    /* a body passed as it is follows the object; its size comes first */
    if (ctx->body.len) {
        p = ngx_sprintf(p, "{\"body\":%uz,", ctx->body.len);

    } else {
        *p++ = '{';
    }

    p = ngx_cpymem(p, "\"op\":\"", sizeof("\"op\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, ctx->op.data, ctx->op.len);
    *p++ = '"';

    if (args) {
        p = ngx_cpymem(p, ",\"args\":", sizeof(",\"args\":") - 1);
        p = ngx_cpymem(p, args, args_len);
        ngx_http_vbp_json_release(args);

    } else if (ctx->body.len == 0) {
        p = ngx_cpymem(p, ",\"args\":{}", sizeof(",\"args\":{}") - 1);
    }

    p = ngx_cpymem(p, ",\"ip\":\"", sizeof(",\"ip\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, ip.data, ip.len);
    p = ngx_sprintf(p, "\",\"session_ttl\":%T", vmcf->session_timeout);

    if (ctx->session) {
        p = ngx_cpymem(p, ",\"sid\":\"", sizeof(",\"sid\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, ctx->sid.data, ctx->sid.len);
        *p++ = '"';
    }

    if (upload) {
        p = ngx_cpymem(p, ",\"upload\":{\"path\":\"",
                       sizeof(",\"upload\":{\"path\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, path.data, path.len);
        p = ngx_sprintf(p, "\",\"size\":%O,\"type\":\"", upload->file.offset);
        p = (u_char *) ngx_escape_json(p, type.data, type.len);
        p = ngx_cpymem(p, "\"}", 2);
    }

    if (vlcf->login) {
        p = ngx_sprintf(p, ",\"captcha_ok\":%s",
                        ngx_http_vbp_captcha_ok(ctx) == NGX_OK
                        ? "true" : "false");
    }

    /* a page: the worker adds what its selects offer */
    if (page) {
        p = ngx_cpymem(p, ",\"page\":true", sizeof(",\"page\":true") - 1);
    }

    /* the answer's message waits in Redis for the page "next" leads to */
    if (back) {
        p = ngx_cpymem(p, ",\"flash\":true", sizeof(",\"flash\":true") - 1);
    }

    if (ctx->form_op.len) {
        p = ngx_cpymem(p, ",\"form_op\":\"", sizeof(",\"form_op\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, ctx->form_op.data, ctx->form_op.len);
        *p++ = '"';

        /* after a success that redirects the form is not shown */
        if (vlcf->redirect.len) {
            p = ngx_cpymem(p, ",\"form_on_error\":true",
                           sizeof(",\"form_on_error\":true") - 1);
        }
    }

    if (ctx->session) {
        p = ngx_cpymem(p, ",\"actor\":", sizeof(",\"actor\":") - 1);
        p = ngx_cpymem(p, ctx->session_raw.data, ctx->session_raw.len);
    }

    *p++ = '}';

    if (ctx->body.len) {
        p = ngx_cpymem(p, ctx->body.data, ctx->body.len);
    }

    len = p - b->last - NGX_HTTP_VBP_FRAME_HEADER;

    b->last[0] = (u_char) (len >> 24);
    b->last[1] = (u_char) (len >> 16);
    b->last[2] = (u_char) (len >> 8);
    b->last[3] = (u_char) len;
    b->last = p;

    ctx->frame = b;

    return NGX_OK;
}


/* the answer Redis held for this captcha, compared case-insensitively */

static ngx_int_t
ngx_http_vbp_captcha_ok(ngx_http_vbp_ctx_t *ctx)
{
    json_t  *typed;
    size_t   len;

    if (ctx->captcha_answer.len == 0) {
        return NGX_DECLINED;
    }

    typed = json_object_get(ctx->args, "captcha");
    if (!json_is_string(typed)) {
        return NGX_DECLINED;
    }

    len = json_string_length(typed);

    if (len != ctx->captcha_answer.len
        || ngx_strncasecmp((u_char *) json_string_value(typed),
                           ctx->captcha_answer.data, len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_vbp_create_request(ngx_http_request_t *r)
{
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_vbp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);

    /* a fresh descriptor each try: a retry resends the frame from its start */
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->frame->pos;
    b->last = ctx->frame->last;
    b->memory = 1;
    b->flush = 1;

    cl->buf = b;
    cl->next = NULL;

    r->upstream->request_bufs = cl;

    return NGX_OK;
}


static ngx_int_t
ngx_http_vbp_reinit_request(ngx_http_request_t *r)
{
    ngx_http_vbp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);
    ctx->reply_len = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_vbp_process_header(ngx_http_request_t *r)
{
    size_t                avail, len;
    u_char               *p, *grown;
    ngx_int_t             code, rc;
    ngx_buf_t            *out;
    void                 *was;
    ngx_http_upstream_t  *u;
    ngx_http_vbp_ctx_t   *ctx;

    ngx_http_vbp_loc_conf_t  *vlcf;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);

    p = u->buffer.pos;
    avail = u->buffer.last - p;

    if (avail < NGX_HTTP_VBP_FRAME_HEADER) {
        return NGX_AGAIN;
    }

    len = ((size_t) p[0] << 24) | ((size_t) p[1] << 16)
          | ((size_t) p[2] << 8) | (size_t) p[3];

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    if (len == 0 || len > vlcf->frame_max - NGX_HTTP_VBP_FRAME_HEADER) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp worker sent a frame of %uz bytes, "
                      "vbp_worker_buffer_size is %uz",
                      len, vlcf->frame_max);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    /* larger than the first buffer: the rest is read into one that fits */
    if (NGX_HTTP_VBP_FRAME_HEADER + len > (size_t) (u->buffer.end - p)) {
        grown = ngx_palloc(r->pool, NGX_HTTP_VBP_FRAME_HEADER + len);
        if (grown == NULL) {
            return NGX_ERROR;
        }

        u->buffer.start = grown;
        u->buffer.pos = grown;
        u->buffer.last = ngx_cpymem(grown, p, avail);
        u->buffer.end = grown + NGX_HTTP_VBP_FRAME_HEADER + len;

        return NGX_AGAIN;
    }

    if (avail < NGX_HTTP_VBP_FRAME_HEADER + len) {
        return NGX_AGAIN;
    }

    if (avail > NGX_HTTP_VBP_FRAME_HEADER + len) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp worker sent data after its answer");
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    /* the common answer, data for an API call, needs no parsing */
    code = ngx_http_vbp_render_data(r, p + NGX_HTTP_VBP_FRAME_HEADER, len,
                                    &out);
    if (code == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (code != NGX_DECLINED) {
        goto done;
    }

    /* the answer and its page live as long as the request (json.c) */
    was = ngx_http_vbp_json_pool(r->pool);
    rc = ngx_http_vbp_parse_reply(r, ctx, p + NGX_HTTP_VBP_FRAME_HEADER, len,
                                  &code, &out);
    ngx_http_vbp_json_restore(was);

    if (rc != NGX_OK) {
        return rc;
    }

done:

    /* the frame is consumed whole: the connection is clean for the next */
    u->keepalive = 1;

    /* the rendered body replaces the frame as what is left to send */
    u->buffer.start = out->start;
    u->buffer.pos = out->pos;
    u->buffer.last = out->last;
    u->buffer.end = out->end;

    u->headers_in.status_n = code;
    (void) ngx_http_vbp_status_line(code, &u->headers_in.status_line);
    u->headers_in.content_length_n = out->last - out->pos;
    u->state->status = code;

    return NGX_OK;
}


/*
 * the worker's answer parsed and rendered: *status and *out, NGX_OK;
 * NGX_HTTP_UPSTREAM_INVALID_HEADER or NGX_ERROR
 */
static ngx_int_t
ngx_http_vbp_parse_reply(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx,
    u_char *frame, size_t len, ngx_int_t *status, ngx_buf_t **out)
{
    json_t                   *reply, *value;
    ngx_int_t                 code;
    json_error_t              jerr;
    ngx_http_vbp_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    reply = json_loadb((const char *) frame, len, 0, &jerr);

    if (reply == NULL || ngx_http_vbp_pool_json(r->pool, reply) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp worker sent invalid JSON: %s", jerr.text);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    value = json_object_get(reply, "status");
    code = json_is_integer(value) ? (ngx_int_t) json_integer_value(value) : 0;

    if (code < 200 || code > 599) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp worker sent an answer without a valid status");
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    ctx->reply = reply;

    if (vlcf->login && (code == NGX_HTTP_UNAUTHORIZED || code == 423)) {
        ngx_http_vbp_throttle_failed(r);
    }

    if (vlcf->file && code < 300) {
        code = ngx_http_vbp_render_file(r, reply, out);

    } else {
        code = ngx_http_vbp_render_reply(r, ctx, code, reply, out);
    }

    if (code == NGX_ERROR) {
        return NGX_ERROR;
    }

    *status = code;

    return NGX_OK;
}


static ngx_int_t
ngx_http_vbp_filter_init(void *data)
{
    ngx_http_vbp_ctx_t  *ctx = data;

    ctx->request->upstream->length =
                              ctx->request->upstream->headers_in.content_length_n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_vbp_filter(void *data, ssize_t bytes)
{
    ngx_http_vbp_ctx_t  *ctx = data;

    ngx_buf_t            *b;
    ngx_chain_t          *cl, **ll;
    ngx_http_upstream_t  *u;

    u = ctx->request->upstream;
    b = &u->buffer;

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    cl = ngx_chain_get_free_buf(ctx->request->pool, &u->free_bufs);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    *ll = cl;

    cl->buf->flush = 1;
    cl->buf->memory = 1;
    cl->buf->pos = b->last;
    b->last += bytes;
    cl->buf->last = b->last;
    cl->buf->tag = u->output.tag;

    u->length -= bytes;

    if (u->length < 0) {
        u->length = 0;
    }

    return NGX_OK;
}


static void
ngx_http_vbp_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abort http vbp request");
}


static void
ngx_http_vbp_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_vbp_ctx_t  *ctx;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "finalize http vbp request");

    /* the pool is done with it: the next one waiting may go */
    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);
    if (ctx) {
        ngx_http_vbp_queue_leave(ctx);
    }
}
