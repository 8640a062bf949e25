
/*
 * Copyright (C) the VBP platform developers
 *
 * GET /captcha: a new image captcha.  The answer goes to Redis under a
 * random id (single use: the sign-in takes it with GETDEL; it expires after
 * vbp_captcha_ttl), the id to the browser in the vbp_cap cookie, and the
 * picture drawn by ngx_http_vbp_captcha_image.c (libgd, the TrueType fonts
 * of vbp_captcha_fonts) to the body.
 */


#include "ngx_http_vbp_module.h"

#include <sys/random.h>


#define NGX_HTTP_VBP_CAPTCHA_LEN  4


typedef struct {
    ngx_str_t   id;
    u_char      text[NGX_HTTP_VBP_CAPTCHA_LEN + 1];
} ngx_http_vbp_captcha_t;


static void ngx_http_vbp_captcha_stored(ngx_http_request_t *r,
    ngx_http_vbp_redis_reply_t *replies, ngx_uint_t n, ngx_int_t rc);
static ngx_int_t ngx_http_vbp_captcha_send(ngx_http_request_t *r,
    ngx_http_vbp_captcha_t *cap);


ngx_int_t
ngx_http_vbp_captcha_handler(ngx_http_request_t *r)
{
    u_char                       pick[NGX_HTTP_VBP_CAPTCHA_LEN];
    u_char                      *key, *ttl;
    ngx_int_t                    rc, n;
    ngx_str_t                    argv[4];
    ngx_uint_t                   i;
    ngx_http_vbp_ctx_t          *ctx;
    ngx_http_vbp_captcha_t      *cap;
    ngx_http_vbp_loc_conf_t     *vlcf;
    ngx_http_vbp_redis_batch_t  *b;

    static const char  alphabet[] = NGX_HTTP_VBP_CAPTCHA_ALPHABET;

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

    cap = ngx_pcalloc(r->pool, sizeof(ngx_http_vbp_captcha_t));
    key = ngx_pnalloc(r->pool, sizeof("vbp:cap:")
                               + NGX_HTTP_VBP_CAPTCHA_ID_LEN + 2);
    ttl = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (cap == NULL || key == NULL || ttl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cap->id.data = ngx_pnalloc(r->pool, NGX_HTTP_VBP_CAPTCHA_ID_LEN + 2);
    if (cap->id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = ngx_http_vbp_random_token(cap->id.data, 16);
    if (n != NGX_HTTP_VBP_CAPTCHA_ID_LEN) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cap->id.len = n;

    /* 32 letters: a byte modulo 32 is unbiased */
    if (getrandom(pick, sizeof(pick), 0) != (ssize_t) sizeof(pick)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NGX_HTTP_VBP_CAPTCHA_LEN; i++) {
        cap->text[i] = alphabet[pick[i] % (sizeof(alphabet) - 1)];
    }

    b = ngx_http_vbp_redis_batch(r, ngx_http_vbp_captcha_stored);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&argv[0], "SETEX");
    argv[1].data = key;
    argv[1].len = ngx_sprintf(key, "vbp:cap:%V", &cap->id) - key;
    argv[2].data = ttl;
    argv[2].len = ngx_sprintf(ttl, "%T", vlcf->captcha_ttl) - ttl;
    argv[3].data = cap->text;
    argv[3].len = NGX_HTTP_VBP_CAPTCHA_LEN;

    if (ngx_http_vbp_redis_add(b, 4, argv) != NGX_OK
        || ngx_http_vbp_redis_send(b) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->captcha = cap;
    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_vbp_captcha_stored(ngx_http_request_t *r,
    ngx_http_vbp_redis_reply_t *replies, ngx_uint_t n, ngx_int_t rc)
{
    ngx_http_vbp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp: captcha store unavailable");

        rc = ngx_http_vbp_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable",
                                     "服务暂时不可用，请稍后再试");
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_vbp_captcha_send(r, ctx->captcha));
}


static ngx_int_t
ngx_http_vbp_captcha_send(ngx_http_request_t *r, ngx_http_vbp_captcha_t *cap)
{
    int                        size;
    void                      *png;
    uint64_t                   seed;
    ngx_buf_t                 *b;
    ngx_str_t                  type = ngx_string("image/png");
    ngx_table_elt_t           *h;
    ngx_http_vbp_loc_conf_t   *vlcf;
    ngx_http_vbp_main_conf_t  *vmcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);
    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t) sizeof(seed)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_vbp_captcha_png((const char *) cap->text,
                                 NGX_HTTP_VBP_CAPTCHA_LEN,
                                 (const char *const *) vmcf->captcha_fonts,
                                 vmcf->captcha_nfonts, seed, &png, &size,
                                 NULL)
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp: the captcha could not be drawn");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        ngx_http_vbp_captcha_free(png);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, png, size);
    ngx_http_vbp_captcha_free(png);

    if (ngx_http_vbp_set_cookie(r, ngx_http_vbp_captcha_cookie_name(),
                                &cap->id, vlcf->captcha_ttl)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* for test configurations only: off unless asked for */
    if (vlcf->captcha_expose) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        ngx_str_set(&h->key, "X-Captcha-Answer");
        h->value.data = cap->text;
        h->value.len = NGX_HTTP_VBP_CAPTCHA_LEN;
    }

    return ngx_http_vbp_send_buf(r, NGX_HTTP_OK, &type, b);
}


/*
 * vbp_captcha_fonts: the fonts are tried when the configuration is read,
 * so that a missing one fails "nginx -t" rather than every sign-in
 */
char *
ngx_http_vbp_captcha_check_fonts(ngx_conf_t *cf, ngx_http_vbp_main_conf_t *vmcf)
{
    ngx_uint_t   i;
    const char  *err;

    static char  *defaults[] = { NGX_HTTP_VBP_CAPTCHA_DEFAULT_FONTS };

    if (vmcf->captcha_nfonts == 0) {
        ngx_memcpy(vmcf->captcha_fonts, defaults, sizeof(defaults));
        vmcf->captcha_nfonts = sizeof(defaults) / sizeof(defaults[0]);
    }

    for (i = 0; i < vmcf->captcha_nfonts; i++) {
        err = ngx_http_vbp_captcha_font_check(vmcf->captcha_fonts[i]);

        if (err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "vbp_captcha_fonts: cannot draw with \"%s\": %s",
                               vmcf->captcha_fonts[i], err);
            ngx_http_vbp_captcha_done();
            return NGX_CONF_ERROR;
        }
    }

    /* each worker sets up its own cache (init_process) */
    ngx_http_vbp_captcha_done();

    return NGX_CONF_OK;
}
