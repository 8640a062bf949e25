
/*
 * Copyright (C) the VBP platform developers
 *
 * Request arguments: the query string and an urlencoded or JSON body become
 * one JSON object, which is what a worker operation receives as "args".
 * Browsers post forms, province systems post JSON; the worker sees the same.
 */


#include "ngx_http_vbp_module.h"

#include <sys/random.h>


#define NGX_HTTP_VBP_MAX_ARGS  1000
#define NGX_HTTP_VBP_AS_IS_MAX (1024 * 1024)


static ngx_int_t ngx_http_vbp_parse_urlencoded(ngx_pool_t *pool, u_char *p,
    u_char *last, json_t *args, ngx_str_t *error);
static ngx_int_t ngx_http_vbp_add_arg(json_t *args, const char *key,
    json_t *value);


void
ngx_http_vbp_cleanup_json(void *data)
{
    json_decref(data);
}


/* ties a json value's lifetime to a pool */

ngx_int_t
ngx_http_vbp_pool_json(ngx_pool_t *pool, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_vbp_cleanup_json;
    cln->data = json;

    return NGX_OK;
}


ngx_int_t
ngx_http_vbp_random_token(u_char *dst, size_t nbytes)
{
    u_char     raw[64];
    ssize_t    n;
    ngx_str_t  src, out;

    if (nbytes > sizeof(raw)) {
        return NGX_ERROR;
    }

    n = getrandom(raw, nbytes, 0);
    if (n != (ssize_t) nbytes) {
        return NGX_ERROR;
    }

    src.data = raw;
    src.len = nbytes;
    out.data = dst;

    /* dst must hold ngx_base64_encoded_length(nbytes) bytes */
    ngx_encode_base64url(&out, &src);

    return out.len;
}


/* the whole body in one piece; bounded by client_max_body_size */

ngx_int_t
ngx_http_vbp_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = (u_char *) "";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    *p = '\0';
    body->len = len;

    return NGX_OK;
}


/*
 * A JSON body the module needs nothing of goes to the worker as it came,
 * after the frame's object, and the worker parses it: jansson's parse and
 * dump here cost as much again as the worker's own parse (a 50-line 暂存:
 * a fifth of what nginx and the worker spent on it).  Needed here are a
 * form's fields (a page shows them again, "next"), the CSRF token when it
 * is not in the header, the captcha, and the query string merged in:
 * those requests are parsed here.
 */
ngx_int_t
ngx_http_vbp_body_as_is(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_str_t                 token, name = ngx_string("X-CSRF-Token");
    ngx_table_elt_t          *ct;
    ngx_http_vbp_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);
    ct = r->headers_in.content_type;

    if (body->len == 0 || body->len > NGX_HTTP_VBP_AS_IS_MAX
        || r->args.len || vlcf->login || vlcf->page || vlcf->redirect.len
        || vlcf->back || vlcf->upload
        || ct == NULL || ct->value.len < 16
        || ngx_strncasecmp(ct->value.data, (u_char *) "application/json", 16)
           != 0)
    {
        return 0;
    }

    ngx_http_vbp_request_header(r, &name, &token);

    return token.len != 0;
}


/*
 * returns NGX_OK, NGX_ERROR (out of memory), or NGX_DECLINED with a
 * message for the client in error
 */

ngx_int_t
ngx_http_vbp_parse_args(ngx_http_request_t *r, ngx_str_t *body,
    json_t **out, ngx_str_t *error)
{
    json_t          *args, *value;
    ngx_int_t        rc;
    json_error_t     jerr;
    ngx_table_elt_t *ct;

    args = json_object();
    if (args == NULL || ngx_http_vbp_pool_json(r->pool, args) != NGX_OK) {
        return NGX_ERROR;
    }

    *out = args;

    if (r->args.len) {
        rc = ngx_http_vbp_parse_urlencoded(r->pool, r->args.data,
                                           r->args.data + r->args.len,
                                           args, error);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (body->len == 0) {
        return NGX_OK;
    }

    ct = r->headers_in.content_type;

    if (ct && ct->value.len >= 16
        && ngx_strncasecmp(ct->value.data, (u_char *) "application/json", 16)
           == 0)
    {
        /* a NUL inside a string is kept: the worker refuses it with its
         * field, where the user sees it */
        value = json_loadb((const char *) body->data, body->len,
                           JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, &jerr);
        if (value == NULL || !json_is_object(value)) {
            json_decref(value);
            ngx_str_set(error, "请求体不是合法的 JSON 对象");
            return NGX_DECLINED;
        }

        /* body wins over the query string */
        rc = json_object_update(*out, value);
        json_decref(value);

        return rc == 0 ? NGX_OK : NGX_ERROR;
    }

    if (ct == NULL
        || (ct->value.len >= 33
            && ngx_strncasecmp(ct->value.data,
                               (u_char *) "application/x-www-form-urlencoded",
                               33) == 0))
    {
        return ngx_http_vbp_parse_urlencoded(r->pool, body->data,
                                             body->data + body->len,
                                             *out, error);
    }

    ngx_str_set(error, "不支持的请求体类型");
    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_vbp_parse_urlencoded(ngx_pool_t *pool, u_char *p, u_char *last,
    json_t *args, ngx_str_t *error)
{
    u_char      *amp, *eq, *k, *v, *dst;
    size_t       klen, vlen;
    json_t      *value;
    ngx_uint_t   count;

    for (count = 0; p < last; p = amp + 1) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            continue;
        }

        if (++count > NGX_HTTP_VBP_MAX_ARGS) {
            ngx_str_set(error, "参数过多");
            return NGX_DECLINED;
        }

        eq = ngx_strlchr(p, amp, '=');
        klen = (eq ? eq : amp) - p;
        vlen = eq ? (size_t) (amp - eq - 1) : 0;

        k = ngx_pnalloc(pool, klen + 1);
        v = ngx_pnalloc(pool, vlen + 1);
        if (k == NULL || v == NULL) {
            return NGX_ERROR;
        }

        /* '+' is a space in forms; ngx_unescape_uri leaves it alone */
        for (dst = p; dst < p + klen; dst++) {
            if (*dst == '+') { *dst = ' '; }
        }

        if (eq) {
            for (dst = eq + 1; dst < amp; dst++) {
                if (*dst == '+') { *dst = ' '; }
            }
        }

        dst = k;
        ngx_unescape_uri(&dst, &p, klen, 0);
        klen = dst - k;
        k[klen] = '\0';

        if (eq) {
            dst = v;
            p = eq + 1;
            ngx_unescape_uri(&dst, &p, vlen, 0);
            vlen = dst - v;
        }

        v[vlen] = '\0';

        if (klen == 0 || ngx_strlen(k) != klen) {
            ngx_str_set(error, "参数名不合法");
            return NGX_DECLINED;
        }

        /* json_stringn refuses invalid UTF-8 (and so does the worker) */
        value = json_stringn((const char *) v, vlen);
        if (value == NULL) {
            ngx_str_set(error, "参数不是合法的 UTF-8 文本");
            return NGX_DECLINED;
        }

        if (ngx_http_vbp_add_arg(args, (const char *) k, value) != NGX_OK) {
            ngx_str_set(error, "参数名不是合法的 UTF-8 文本");
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* a repeated key (checkbox lists: ids=1&ids=2) becomes an array */

static ngx_int_t
ngx_http_vbp_add_arg(json_t *args, const char *key, json_t *value)
{
    json_t  *prev, *list;

    prev = json_object_get(args, key);

    if (prev == NULL) {
        return json_object_set_new(args, key, value) == 0 ? NGX_OK
                                                          : NGX_ERROR;
    }

    if (json_is_array(prev)) {
        return json_array_append_new(prev, value) == 0 ? NGX_OK : NGX_ERROR;
    }

    list = json_array();
    if (list == NULL
        || json_array_append(list, prev) != 0
        || json_array_append_new(list, value) != 0
        || json_object_set_new(args, key, list) != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
