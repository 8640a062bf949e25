
/*
 * Copyright (C) the VBP platform developers
 *
 * The ACCESS phase: who is asking, and may they?  The session cookie is
 * looked up in this process's session cache (ngx_http_vbp_session_cache.c)
 * or else in Redis (GET and EXPIRE, or GETEX when nothing is cached, so the
 * idle timeout slides with every request);
 * on the sign-in location the per-IP throttle is read and the captcha is
 * taken (GETDEL: an answer works once).  The throttle counts failed
 * sign-ins only (the answer adds them), so the hospitals behind one NAT
 * address sign in as often as they like while a guesser is stopped.  The handler is re-entrant the way
 * ngx_http_auth_request_module's is: the first call starts the lookup and
 * returns NGX_AGAIN, the reply resumes the phases.
 */


#include "ngx_http_vbp_module.h"


static void ngx_http_vbp_access_done(ngx_http_request_t *r,
    ngx_http_vbp_redis_reply_t *replies, ngx_uint_t n, ngx_int_t rc);
static ngx_int_t ngx_http_vbp_access_decide(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx);
static ngx_int_t ngx_http_vbp_access_deny(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_vbp_session_unread(ngx_http_request_t *r);
static ngx_int_t ngx_http_vbp_session_cached(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx, ngx_str_t *key, ngx_str_t *ttl);
static void ngx_http_vbp_session_keep(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx, long long pttl);
static ngx_int_t ngx_http_vbp_valid_token(ngx_str_t *s, size_t len);
static ngx_int_t ngx_http_vbp_check_origin(ngx_http_request_t *r);
static ngx_int_t ngx_http_vbp_login_target(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx, ngx_str_t *login, ngx_str_t *to);


static ngx_str_t  ngx_http_vbp_captcha_cookie = ngx_string("vbp_cap");


ngx_int_t
ngx_http_vbp_access_handler(ngx_http_request_t *r)
{
    u_char                      *key;
    ngx_int_t                    rc;
    ngx_str_t                    argv[4], ttl;
    ngx_http_vbp_ctx_t          *ctx;
    ngx_http_vbp_loc_conf_t     *vlcf;
    ngx_http_vbp_main_conf_t    *vmcf;
    ngx_http_vbp_redis_batch_t  *b;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    /* the answers to nginx's own errors need nobody: Redis may be why */
    if (!vlcf->enabled || r != r->main || vlcf->error_status) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_vbp_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->access_done) {
        return ctx->access_rc;
    }

    if (ctx->access_started) {
        return NGX_AGAIN;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    if (ngx_http_vbp_get_cookie(r, &vmcf->cookie_name, &ctx->sid) != NGX_OK
        || ngx_http_vbp_valid_token(&ctx->sid, NGX_HTTP_VBP_SID_LEN)
           != NGX_OK)
    {
        ngx_str_null(&ctx->sid);
    }

    b = NULL;

    if (ctx->sid.len) {
        key = ngx_pnalloc(r->pool, sizeof("vbp:sess:") + ctx->sid.len);
        ttl.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);
        if (key == NULL || ttl.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ttl.len = ngx_sprintf(ttl.data, "%T", vmcf->session_timeout)
                  - ttl.data;

        argv[1].data = key;
        argv[1].len = ngx_sprintf(key, "vbp:sess:%V", &ctx->sid) - key;

        rc = ngx_http_vbp_session_cached(r, ctx, &argv[1], &ttl);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            b = ngx_http_vbp_redis_batch(r, ngx_http_vbp_access_done);
            if (b == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            /*
             * tracking remembers the keys that read-only commands read, and
             * a write (EXPIRE too) makes every other process drop its copy:
             * GET and PTTL here; the touch, when it is due, comes after
             */
            if (ngx_http_vbp_redis_tracking()) {
                ctx->session_cmds = 2;
                ctx->session_epoch = ngx_http_vbp_scache_epoch();

                ngx_str_set(&argv[0], "GET");
                rc = ngx_http_vbp_redis_add(b, 2, argv);

                if (rc == NGX_OK) {
                    ngx_str_set(&argv[0], "PTTL");
                    rc = ngx_http_vbp_redis_add(b, 2, argv);
                }

            } else {
                ctx->session_cmds = 1;

                ngx_str_set(&argv[0], "GETEX");
                ngx_str_set(&argv[2], "EX");
                argv[3] = ttl;
                rc = ngx_http_vbp_redis_add(b, 4, argv);
            }

            if (rc != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    if (vlcf->login && r->method == NGX_HTTP_POST) {
        if (b == NULL) {
            b = ngx_http_vbp_redis_batch(r, ngx_http_vbp_access_done);
            if (b == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        key = ngx_pnalloc(r->pool, sizeof("vbp:thr:") + NGX_SOCKADDR_STRLEN);
        if (key == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the failures so far; the answer counts a new one (see
         * ngx_http_vbp_throttle_failed) */
        ngx_str_set(&argv[0], "GET");
        argv[1].data = key;
        argv[1].len = ngx_sprintf(key, "vbp:thr:%V", &r->connection->addr_text)
                      - key;

        if (ngx_http_vbp_redis_add(b, 2, argv) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_vbp_get_cookie(r, &ngx_http_vbp_captcha_cookie,
                                    &ctx->captcha_id) == NGX_OK
            && ngx_http_vbp_valid_token(&ctx->captcha_id,
                                        NGX_HTTP_VBP_CAPTCHA_ID_LEN)
               == NGX_OK)
        {
            key = ngx_pnalloc(r->pool, sizeof("vbp:cap:")
                                       + ctx->captcha_id.len);
            if (key == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_str_set(&argv[0], "GETDEL");
            argv[1].data = key;
            argv[1].len = ngx_sprintf(key, "vbp:cap:%V", &ctx->captcha_id)
                          - key;

            if (ngx_http_vbp_redis_add(b, 2, argv) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

        } else {
            ngx_str_null(&ctx->captcha_id);
        }
    }

    if (b == NULL) {
        ctx->access_done = 1;
        ctx->access_rc = ngx_http_vbp_access_decide(r, ctx);

        if (ctx->answered) {
            ngx_http_finalize_request(r, ctx->send_rc);
            return NGX_DONE;
        }

        return ctx->access_rc;
    }

    if (ngx_http_vbp_redis_send(b) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->access_started = 1;

    /* notice a client that leaves while Redis answers */
    r->read_event_handler = ngx_http_test_reading;

    return NGX_AGAIN;
}


static void
ngx_http_vbp_access_done(ngx_http_request_t *r,
    ngx_http_vbp_redis_reply_t *replies, ngx_uint_t n, ngx_int_t rc)
{
    ngx_uint_t           i;
    json_error_t         jerr;
    ngx_http_vbp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);

    ctx->access_done = 1;
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "vbp: session store unavailable");

        ctx->access_rc = ngx_http_vbp_access_deny(r,
                                            NGX_HTTP_SERVICE_UNAVAILABLE);
        ngx_http_finalize_request(r, ctx->send_rc);
        return;
    }

    i = 0;

    if (ctx->session_cmds) {
        if (replies[i].type == 1 /* REDIS_REPLY_STRING */) {
            ctx->session_raw = replies[i].str;

            /* a session for the cache is parsed once, whoever asked */
            if (ctx->session_cmds == 1 && ngx_http_vbp_session_unread(r)) {
                ctx->session_unread = 1;

            } else {
                ctx->session = json_loadb((const char *) ctx->session_raw.data,
                                          ctx->session_raw.len, 0, &jerr);

                if (ctx->session == NULL || !json_is_object(ctx->session)
                    || ngx_http_vbp_pool_json(r->pool, ctx->session)
                       != NGX_OK)
                {
                    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                                  "vbp: unreadable session \"%V\"",
                                  &ctx->sid);
                    ctx->session = NULL;

                } else if (ctx->session_cmds == 2) {
                    ngx_http_vbp_session_keep(r, ctx, replies[1].integer);
                }
            }
        }

        if (ctx->session == NULL && !ctx->session_unread) {
            ngx_str_null(&ctx->sid);
            ctx->session_gone = 1;      /* the sign-in page says it ended */
        }

        i = ctx->session_cmds;
    }

    if (i + 1 <= n) {
        if (replies[i].type == 1 /* REDIS_REPLY_STRING */) {
            ctx->throttle_hits = ngx_atoi(replies[i].str.data,
                                          replies[i].str.len);
        }

        i++;

        if (i < n && replies[i].type == 1 /* REDIS_REPLY_STRING */) {
            ctx->captcha_answer = replies[i].str;
        }
    }

    ctx->access_rc = ngx_http_vbp_access_decide(r, ctx);

    if (ctx->answered) {
        ngx_http_finalize_request(r, ctx->send_rc);
        return;
    }

    ngx_http_core_run_phases(r);
}


/*
 * /api/me sends the session as Redis holds it: when nothing else needs to
 * look inside (no permission, no pending-change check, a safe method), it
 * is not parsed at all, which is most of the cost of that request
 */
static ngx_int_t
ngx_http_vbp_session_unread(ngx_http_request_t *r)
{
    ngx_http_vbp_loc_conf_t   *vlcf;
    ngx_http_core_loc_conf_t  *clcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    return clcf->handler == ngx_http_vbp_me_handler
           && vlcf->permission.len == 0
           && vlcf->password_change == 1
           && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));
}


/*
 * the answer to one of nginx's own errors shows the menu and the user when
 * this process holds the session already; it never waits for Redis, which
 * may be why the request failed
 */
ngx_int_t
ngx_http_vbp_error_session(ngx_http_request_t *r)
{
    ngx_uint_t                    touch;
    ngx_http_vbp_ctx_t           *ctx;
    ngx_http_vbp_main_conf_t     *vmcf;
    ngx_http_vbp_scache_entry_t  *e;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    ctx = ngx_http_vbp_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->session || !ngx_http_vbp_redis_tracking()
        || ngx_http_vbp_get_cookie(r, &vmcf->cookie_name, &ctx->sid) != NGX_OK
        || ngx_http_vbp_valid_token(&ctx->sid, NGX_HTTP_VBP_SID_LEN) != NGX_OK)
    {
        return NGX_OK;
    }

    e = ngx_http_vbp_scache_find(&ctx->sid, &touch);
    if (e == NULL) {
        return NGX_OK;
    }

    /* the request holds a reference: the entry may go meanwhile */
    ctx->session = json_incref(ngx_http_vbp_scache_json(e));

    if (ngx_http_vbp_pool_json(r->pool, ctx->session) != NGX_OK) {
        ctx->session = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * the session from this process's cache: NGX_OK, or NGX_DECLINED to ask
 * Redis.  The request takes its own copy of the text and a reference to
 * the parsed object: the entry may go while the request runs.
 */
static ngx_int_t
ngx_http_vbp_session_cached(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx,
    ngx_str_t *key, ngx_str_t *ttl)
{
    ngx_str_t                    *raw;
    ngx_uint_t                    touch;
    ngx_http_vbp_scache_entry_t  *e;

    if (!ngx_http_vbp_redis_tracking()) {
        return NGX_DECLINED;
    }

    e = ngx_http_vbp_scache_find(&ctx->sid, &touch);
    if (e == NULL) {
        return NGX_DECLINED;
    }

    raw = ngx_http_vbp_scache_raw(e);

    ctx->session_raw.data = ngx_pnalloc(r->pool, raw->len + 1);
    if (ctx->session_raw.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->session_raw.data, raw->data, raw->len);
    ctx->session_raw.data[raw->len] = '\0';
    ctx->session_raw.len = raw->len;

    ctx->session = json_incref(ngx_http_vbp_scache_json(e));

    if (ngx_http_vbp_pool_json(r->pool, ctx->session) != NGX_OK) {
        ctx->session = NULL;
        return NGX_ERROR;
    }

    if (touch) {
        ngx_http_vbp_redis_touch(key, ttl);
    }

    return NGX_OK;
}


/*
 * a session read from Redis goes into the cache, as old as its remaining
 * time to live says it is; this request touches it if that is due
 */
static void
ngx_http_vbp_session_keep(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx,
    long long pttl)
{
    u_char                       buf[sizeof("vbp:sess:") + NGX_TIME_T_LEN
                                     + NGX_HTTP_VBP_SID_LEN];
    ngx_str_t                    key, ttl;
    ngx_http_vbp_main_conf_t    *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    if (!ngx_http_vbp_scache_put(&ctx->sid, &ctx->session_raw, ctx->session,
                                 ctx->session_epoch, pttl))
    {
        return;
    }

    key.data = buf;
    key.len = ngx_sprintf(buf, "vbp:sess:%V", &ctx->sid) - buf;
    ttl.data = buf + key.len;
    ttl.len = ngx_sprintf(ttl.data, "%T", vmcf->session_timeout) - ttl.data;

    ngx_http_vbp_redis_touch(&key, &ttl);
}


static ngx_int_t
ngx_http_vbp_access_decide(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx)
{
    json_t                    *must;
    ngx_http_vbp_loc_conf_t   *vlcf;
    ngx_http_vbp_main_conf_t  *vmcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    if (vlcf->login) {
        if (r->method == NGX_HTTP_POST
            && ctx->throttle_hits >= (ngx_int_t) vlcf->throttle_count)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "vbp: sign-in attempts from %V throttled",
                          &r->connection->addr_text);
            return ngx_http_vbp_access_deny(r, NGX_HTTP_TOO_MANY_REQUESTS);
        }

        return NGX_OK;
    }

    if (ctx->session_unread) {
        return NGX_OK;
    }

    if (ctx->session == NULL) {
        return vlcf->auth ? ngx_http_vbp_access_deny(r, NGX_HTTP_UNAUTHORIZED)
                          : NGX_OK;
    }

    must = json_object_get(ctx->session, "must_change_password");

    if (json_is_true(must) && vlcf->auth && !vlcf->password_change) {
        ctx->answered = 1;

        if (ngx_http_vbp_wants_page(r)) {
            vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);
            ctx->send_rc = ngx_http_vbp_send_redirect(r,
                                                      &vmcf->password_page);
            return NGX_DONE;
        }

        ctx->send_rc = ngx_http_vbp_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "password_change_required",
                                          "首次登录或密码重置后须先修改密码");
        return NGX_DONE;
    }

    if (vlcf->permission.len
        && ngx_http_vbp_has_permission(ctx->session, &vlcf->permission)
           != NGX_OK)
    {
        return ngx_http_vbp_access_deny(r, NGX_HTTP_FORBIDDEN);
    }

    return NGX_OK;
}


/*
 * the sign-in page for a signed-out visit: it returns to the page asked
 * for ("next", a GET only: a form posted meanwhile cannot be replayed), and
 * says the session ended when the browser still sent one ("expired")
 */
static ngx_int_t
ngx_http_vbp_login_target(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx,
    ngx_str_t *login, ngx_str_t *to)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   here;
    ngx_uint_t  next;

    here = r->unparsed_uri;
    next = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
           && ngx_http_vbp_local_path(&here) == NGX_OK
           && !(here.len == 1 && here.data[0] == '/');

    if (!next && !ctx->session_gone) {
        *to = *login;
        return NGX_OK;
    }

    len = login->len + sizeof("?expired=1&next=") - 1;

    if (next) {
        len += here.len + 2 * ngx_escape_uri(NULL, here.data, here.len,
                                             NGX_ESCAPE_ARGS);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    to->data = p;
    p = ngx_cpymem(p, login->data, login->len);
    *p++ = '?';

    if (ctx->session_gone) {
        p = ngx_cpymem(p, "expired=1", sizeof("expired=1") - 1);
    }

    if (next) {
        if (ctx->session_gone) {
            *p++ = '&';
        }

        p = ngx_cpymem(p, "next=", sizeof("next=") - 1);
        p = (u_char *) ngx_escape_uri(p, here.data, here.len, NGX_ESCAPE_ARGS);
    }

    to->len = p - to->data;

    return NGX_OK;
}


/*
 * answers the request from the access phase; the caller finalizes it and
 * stops the phase engine (NGX_DONE) without touching the request again
 */

static ngx_int_t
ngx_http_vbp_access_deny(ngx_http_request_t *r, ngx_int_t status)
{
    ngx_str_t                  to;
    ngx_http_vbp_ctx_t        *ctx;
    ngx_http_vbp_main_conf_t  *vmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);
    ctx->answered = 1;

    switch (status) {

    case NGX_HTTP_UNAUTHORIZED:
        if (ngx_http_vbp_wants_page(r)) {
            vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

            if (ngx_http_vbp_login_target(r, ctx, &vmcf->login_page, &to)
                != NGX_OK)
            {
                ctx->send_rc = NGX_ERROR;
                break;
            }

            ctx->send_rc = ngx_http_vbp_send_redirect(r, &to);
            break;
        }

        ctx->send_rc = ngx_http_vbp_send_error(r, status, "unauthenticated",
                                        "未登录或登录已超时，请重新登录");
        break;

    case NGX_HTTP_FORBIDDEN:
        ctx->send_rc = ngx_http_vbp_send_error(r, status, "forbidden",
                                               "没有该操作的权限");
        break;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        ctx->send_rc = ngx_http_vbp_send_error(r, status, "throttled",
                                        "登录尝试过于频繁，请稍后再试");
        break;

    default:
        ctx->send_rc = ngx_http_vbp_send_error(r,
                                        NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "unavailable",
                                        "服务暂时不可用，请稍后再试");
        break;
    }

    return NGX_DONE;
}


ngx_int_t
ngx_http_vbp_has_permission(json_t *session, ngx_str_t *perm)
{
    size_t       i;
    json_t      *perms, *p;
    const char  *s;

    perms = json_object_get(session, "permissions");

    json_array_foreach(perms, i, p) {
        s = json_string_value(p);

        if (s && ngx_strlen(s) == perm->len
            && ngx_strncmp(s, perm->data, perm->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * unsafe methods need the session's CSRF token, from the X-CSRF-Token
 * header (API) or the _csrf form field (pages); a foreign Origin is always
 * refused, and on the sign-in form, which needs no session, the captcha
 * bound to its own cookie does the rest
 */

ngx_int_t
ngx_http_vbp_check_csrf(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx)
{
    size_t            i, len;
    json_t           *field;
    ngx_str_t         sent, name;
    const char       *token;
    ngx_uint_t        diff;

    ngx_http_vbp_loc_conf_t  *vlcf;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS)) {
        return NGX_OK;
    }

    if (ngx_http_vbp_check_origin(r) != NGX_OK) {
        return NGX_DECLINED;
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    if (ctx->session == NULL || vlcf->login) {
        return NGX_OK;
    }

    token = json_string_value(json_object_get(ctx->session, "csrf"));
    if (token == NULL) {
        return NGX_DECLINED;
    }

    ngx_str_set(&name, "X-CSRF-Token");
    ngx_http_vbp_request_header(r, &name, &sent);

    if (sent.len == 0 && ctx->args) {
        field = json_object_get(ctx->args, "_csrf");
        if (json_is_string(field)) {
            sent.data = (u_char *) json_string_value(field);
            sent.len = json_string_length(field);
        }
    }

    len = ngx_strlen(token);

    if (sent.len != len || len == 0) {
        return NGX_DECLINED;
    }

    /* constant time */
    diff = 0;
    for (i = 0; i < len; i++) {
        diff |= sent.data[i] ^ (u_char) token[i];
    }

    return diff == 0 ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_vbp_check_origin(ngx_http_request_t *r)
{
    u_char     *p;
    ngx_str_t   origin, host, name = ngx_string("Origin");

    if (r->headers_in.host == NULL) {
        return NGX_OK;
    }

    host = r->headers_in.host->value;
    ngx_http_vbp_request_header(r, &name, &origin);

    if (origin.len == 0
        || (origin.len == 4 && ngx_strncmp(origin.data, "null", 4) == 0))
    {
        return NGX_OK;
    }

    p = ngx_strlcasestrn(origin.data, origin.data + origin.len,
                         (u_char *) "://", 3 - 1);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    p += 3;

    if ((size_t) (origin.data + origin.len - p) == host.len
        && ngx_strncasecmp(p, host.data, host.len) == 0)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "vbp: cross-site request from origin \"%V\" refused",
                  &origin);

    return NGX_DECLINED;
}


/* the first request header of that name, or an empty value */

void
ngx_http_vbp_request_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_null(value);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            *value = h[i].value;
            return;
        }
    }
}


/* GET /api/me: the session itself, without a trip to a worker */

ngx_int_t
ngx_http_vbp_me_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_str_t            type = ngx_string("application/json");
    ngx_http_vbp_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);

    if (ctx == NULL || (ctx->session == NULL && !ctx->session_unread)) {
        return ngx_http_vbp_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                       "unauthenticated",
                                       "未登录或登录已超时，请重新登录");
    }

    b = ngx_create_temp_buf(r->pool, ctx->session_raw.len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, ctx->session_raw.data,
                         ctx->session_raw.len);
    *b->last++ = '\n';

    return ngx_http_vbp_send_buf(r, NGX_HTTP_OK, &type, b);
}


ngx_int_t
ngx_http_vbp_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
#if (nginx_version >= 1023000)
    if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, name,
                                          value)
        == NULL)
    {
        return NGX_DECLINED;
    }
#else
    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, name,
                                          value)
        == NGX_DECLINED)
    {
        return NGX_DECLINED;
    }
#endif

    return NGX_OK;
}


ngx_int_t
ngx_http_vbp_set_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, time_t max_age)
{
    u_char                    *p;
    size_t                     len;
    ngx_table_elt_t           *h;
    ngx_http_vbp_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    len = name->len + 1 + value->len
          + sizeof("; Path=/; HttpOnly; SameSite=Lax; Secure") - 1
          + sizeof("; Max-Age=") - 1 + NGX_TIME_T_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Set-Cookie");
    h->value.data = p;

    p = ngx_sprintf(p, "%V=%V; Path=/; HttpOnly; SameSite=Lax", name, value);

    if (vmcf->cookie_secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    if (max_age >= 0) {
        p = ngx_sprintf(p, "; Max-Age=%T", max_age);
    }

    h->value.len = p - h->value.data;

    return NGX_OK;
}


/* random tokens are base64url of a fixed length; anything else is noise */

static ngx_int_t
ngx_http_vbp_valid_token(ngx_str_t *s, size_t len)
{
    size_t  i;
    u_char  ch;

    if (s->len != len) {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        ch = s->data[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_str_t *
ngx_http_vbp_captcha_cookie_name(void)
{
    return &ngx_http_vbp_captcha_cookie;
}


/*
 * a sign-in failed (401, or 423 for a locked pair): one more for the
 * client's throttle, in a window that starts with its first failure; the
 * request does not wait for Redis
 */
void
ngx_http_vbp_throttle_failed(ngx_http_request_t *r)
{
    u_char                   *key, *ttl;
    ngx_str_t                 argv[4];
    ngx_http_vbp_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    key = ngx_pnalloc(r->pool, sizeof("vbp:thr:") + NGX_SOCKADDR_STRLEN);
    ttl = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (key == NULL || ttl == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "INCR");
    argv[1].data = key;
    argv[1].len = ngx_sprintf(key, "vbp:thr:%V", &r->connection->addr_text)
                  - key;

    if (ngx_http_vbp_redis_fire(2, argv) != NGX_OK) {
        return;
    }

    ngx_str_set(&argv[0], "EXPIRE");
    argv[2].data = ttl;
    argv[2].len = ngx_sprintf(ttl, "%T", vlcf->throttle_window) - ttl;
    ngx_str_set(&argv[3], "NX");

    (void) ngx_http_vbp_redis_fire(4, argv);
}
