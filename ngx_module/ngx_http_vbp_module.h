
/*
 * Copyright (C) the VBP platform developers
 *
 * Shared declarations of ngx_http_vbp_module: one module, one concern per
 * file (redis adapter, session check, worker upstream, rendering, forms,
 * captcha), all glued together through the configuration and request
 * context declared here.
 */


#ifndef _NGX_HTTP_VBP_MODULE_H_INCLUDED_
#define _NGX_HTTP_VBP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_vbp_template.h"
#include "ngx_http_vbp_captcha_image.h"


#define NGX_HTTP_VBP_SID_LEN         43     /* 32 random bytes, base64url */
#define NGX_HTTP_VBP_CAPTCHA_ID_LEN  22     /* 16 random bytes, base64url */
#define NGX_HTTP_VBP_REDIS_MAX_ARGS  4
#define NGX_HTTP_VBP_FIRST_BUFFER    8192   /* see vbp_worker_buffer_size */
#define NGX_HTTP_VBP_REDIS_MAX_CMDS  6


typedef struct ngx_http_vbp_redis_batch_s  ngx_http_vbp_redis_batch_t;
typedef struct ngx_http_vbp_scache_entry_s  ngx_http_vbp_scache_entry_t;


typedef struct {
    ngx_str_t                   redis;
    ngx_msec_t                  redis_timeout;
    ngx_str_t                   templates_dir;
    ngx_http_vbp_tpl_set_t     *templates;
    time_t                      session_timeout;
    ngx_int_t                   session_cache;  /* entries per process */
    ngx_str_t                   cookie_name;
    ngx_flag_t                  cookie_secure;
    ngx_str_t                   login_page;
    ngx_str_t                   password_page;
    ngx_str_t                   error_page;
    char                       *captcha_fonts[NGX_HTTP_VBP_CAPTCHA_FONTS_MAX];
    ngx_uint_t                  captcha_nfonts;
    ngx_array_t                *menu;           /* vbp_menu entries */
    ngx_int_t                   worker_concurrency; /* per nginx worker */
    ngx_uint_t                  queue_length;   /* vbp_worker_queue */
    ngx_msec_t                  queue_timeout;
} ngx_http_vbp_main_conf_t;


/* vbp_op NAME [METHOD ...]: the operation a method of a location runs */
typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  methods;        /* 0: every method */
} ngx_http_vbp_op_t;


typedef struct {
    ngx_http_upstream_conf_t    upstream;
    ngx_http_upstream_srv_conf_t  *reader;      /* vbp_reader_pass */
    ngx_flag_t                  read;           /* vbp_read: a pipelined read */
    ngx_http_upstream_srv_conf_t  *hasher;      /* vbp_hash_pass */
    ngx_flag_t                  hash;           /* vbp_hash: hashes a password */
    ngx_http_upstream_conf_t   *unhashed;       /* its GET: the worker pool */
    size_t                      frame_max;      /* vbp_worker_buffer_size */

    ngx_str_t                   op;             /* the first one, for logs */
    ngx_array_t                *ops;            /* ngx_http_vbp_op_t */
    ngx_str_t                   permission;     /* empty: any signed-in user */
    ngx_flag_t                  auth;
    ngx_flag_t                  login;
    ngx_flag_t                  password_change;
    ngx_uint_t                  throttle_count;
    time_t                      throttle_window;
    ngx_str_t                   page_name;
    ngx_http_vbp_tpl_t         *page;
    ngx_str_t                   title;          /* vbp_title: <title>, <h1> */
    ngx_str_t                   menu_current;   /* vbp_menu_current: the
                                                   entry a page belongs to */
    ngx_str_t                   redirect;
    ngx_flag_t                  back;           /* vbp_back: to "next" */
    ngx_str_t                   download;       /* vbp_download: file name */

    ngx_flag_t                  captcha_expose;
    time_t                      captcha_ttl;
    ngx_flag_t                  upload;         /* body to a file */
    ngx_flag_t                  file;           /* vbp_file: a stored file */
    ngx_uint_t                  error_status;   /* vbp_error */
    ngx_str_t                   error_code;
    ngx_http_complex_value_t   *error_message;
    ngx_str_t                   error_field;

    unsigned                    enabled:1;      /* any vbp content handler */
} ngx_http_vbp_loc_conf_t;


typedef struct {
    ngx_http_request_t         *request;

    /* session, filled by the access phase */
    ngx_str_t                   sid;
    ngx_str_t                   session_raw;    /* JSON text from Redis */
    json_t                     *session;
    ngx_uint_t                  session_cmds;   /* Redis commands for it */
    ngx_uint_t                  session_epoch;  /* of the cache, at GET */
    ngx_str_t                   captcha_id;
    ngx_str_t                   captcha_answer; /* what Redis held */
    ngx_int_t                   throttle_hits;

    ngx_int_t                   access_rc;
    ngx_int_t                   send_rc;        /* when we answered */
    unsigned                    access_started:1;
    unsigned                    access_done:1;
    unsigned                    answered:1;
    unsigned                    session_unread:1;   /* raw only (/api/me) */
    unsigned                    session_gone:1;     /* a sid Redis lacks */

    /* the operation, request arguments and the worker's reply */
    ngx_str_t                   op;
    ngx_str_t                   form_op;        /* the GET's, after a POST */
    json_t                     *args;
    ngx_str_t                   body;           /* a JSON body passed as is */
    ngx_buf_t                  *frame;
    size_t                      reply_len;
    json_t                     *reply;
    ngx_buf_t                  *out;

    void                       *captcha;        /* being stored */
    void                       *waiter;         /* in the waiting room */
} ngx_http_vbp_ctx_t;


/* one reply of a Redis batch, copied out of hiredis's reply object */
typedef struct {
    ngx_int_t                   type;           /* REDIS_REPLY_* or 0 */
    long long                   integer;
    ngx_str_t                   str;
} ngx_http_vbp_redis_reply_t;


typedef void (*ngx_http_vbp_redis_done_pt)(ngx_http_request_t *r,
    ngx_http_vbp_redis_reply_t *replies, ngx_uint_t n, ngx_int_t rc);


extern ngx_module_t  ngx_http_vbp_module;


/* ngx_http_vbp_redis.c */
ngx_int_t ngx_http_vbp_redis_init_process(ngx_cycle_t *cycle);
void ngx_http_vbp_redis_exit_process(ngx_cycle_t *cycle);
ngx_http_vbp_redis_batch_t *ngx_http_vbp_redis_batch(ngx_http_request_t *r,
    ngx_http_vbp_redis_done_pt done);
ngx_int_t ngx_http_vbp_redis_add(ngx_http_vbp_redis_batch_t *b,
    ngx_uint_t argc, ngx_str_t *argv);
ngx_int_t ngx_http_vbp_redis_send(ngx_http_vbp_redis_batch_t *b);
ngx_uint_t ngx_http_vbp_redis_tracking(void);
void ngx_http_vbp_redis_touch(ngx_str_t *key, ngx_str_t *ttl);
ngx_int_t ngx_http_vbp_redis_fire(ngx_uint_t argc, ngx_str_t *argv);

/* ngx_http_vbp_session_cache.c */
void ngx_http_vbp_scache_init(ngx_cycle_t *cycle, ngx_uint_t max,
    time_t timeout);
ngx_uint_t ngx_http_vbp_scache_enabled(void);
ngx_uint_t ngx_http_vbp_scache_epoch(void);
ngx_http_vbp_scache_entry_t *ngx_http_vbp_scache_find(ngx_str_t *sid,
    ngx_uint_t *touch);
ngx_str_t *ngx_http_vbp_scache_raw(ngx_http_vbp_scache_entry_t *e);
json_t *ngx_http_vbp_scache_json(ngx_http_vbp_scache_entry_t *e);
ngx_uint_t ngx_http_vbp_scache_put(ngx_str_t *sid, ngx_str_t *raw,
    json_t *json, ngx_uint_t epoch, long long pttl);
void ngx_http_vbp_scache_invalidate(u_char *key, size_t len);
void ngx_http_vbp_scache_confirm(u_char *sid, u_char *raw, size_t len);
void ngx_http_vbp_scache_flush(void);

/* ngx_http_vbp_session.c */
ngx_int_t ngx_http_vbp_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_vbp_me_handler(ngx_http_request_t *r);
void ngx_http_vbp_throttle_failed(ngx_http_request_t *r);
ngx_int_t ngx_http_vbp_check_csrf(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx);
ngx_str_t *ngx_http_vbp_captcha_cookie_name(void);
ngx_int_t ngx_http_vbp_has_permission(json_t *session, ngx_str_t *perm);
ngx_int_t ngx_http_vbp_error_session(ngx_http_request_t *r);
ngx_int_t ngx_http_vbp_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_vbp_set_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, time_t max_age);

/* ngx_http_vbp_worker.c */
ngx_int_t ngx_http_vbp_op_handler(ngx_http_request_t *r);
void ngx_http_vbp_upstream_start(ngx_http_request_t *r);
char *ngx_http_vbp_worker_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_vbp_queue.c */
void ngx_http_vbp_queue_init_process(ngx_uint_t concurrency);
ngx_int_t ngx_http_vbp_queue_enter(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx);
void ngx_http_vbp_queue_leave(ngx_http_vbp_ctx_t *ctx);
char *ngx_http_vbp_worker_queue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_vbp_menu.c */
char *ngx_http_vbp_menu(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
json_t *ngx_http_vbp_menu_json(ngx_http_request_t *r, json_t *session);

/* ngx_http_vbp_render.c */
ngx_int_t ngx_http_vbp_wants_page(ngx_http_request_t *r);
ngx_int_t ngx_http_vbp_render_reply(ngx_http_request_t *r,
    ngx_http_vbp_ctx_t *ctx, ngx_int_t status, json_t *reply, ngx_buf_t **out);
ngx_int_t ngx_http_vbp_render_data(ngx_http_request_t *r, u_char *frame,
    size_t len, ngx_buf_t **out);
ngx_int_t ngx_http_vbp_render_file(ngx_http_request_t *r, json_t *reply,
    ngx_buf_t **out);
ngx_int_t ngx_http_vbp_send_error(ngx_http_request_t *r, ngx_int_t status,
    const char *code, const char *message);
ngx_int_t ngx_http_vbp_send_field_error(ngx_http_request_t *r,
    ngx_int_t status, const char *code, const char *message,
    const char *field);
ngx_int_t ngx_http_vbp_error_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_vbp_send_redirect(ngx_http_request_t *r, ngx_str_t *to);
ngx_int_t ngx_http_vbp_send_buf(ngx_http_request_t *r, ngx_int_t status,
    ngx_str_t *type, ngx_buf_t *b);
ngx_int_t ngx_http_vbp_page_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_vbp_local_path(ngx_str_t *s);
ngx_int_t ngx_http_vbp_status_line(ngx_int_t status, ngx_str_t *line);
char *ngx_http_vbp_load_templates(ngx_conf_t *cf,
    ngx_http_vbp_main_conf_t *vmcf);

/* ngx_http_vbp_form.c */
ngx_int_t ngx_http_vbp_body_as_is(ngx_http_request_t *r, ngx_str_t *body);
void ngx_http_vbp_request_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_vbp_parse_args(ngx_http_request_t *r, ngx_str_t *body,
    json_t **args, ngx_str_t *error);
ngx_int_t ngx_http_vbp_read_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_vbp_random_token(u_char *dst, size_t nbytes);
void ngx_http_vbp_cleanup_json(void *data);
ngx_int_t ngx_http_vbp_pool_json(ngx_pool_t *pool, json_t *json);

/* ngx_http_vbp_json.c */
void ngx_http_vbp_json_init(void);
void *ngx_http_vbp_json_pool(ngx_pool_t *pool);
void ngx_http_vbp_json_restore(void *was);
void ngx_http_vbp_json_release(void *p);

/* ngx_http_vbp_keepalive.c */
ngx_int_t ngx_http_vbp_keepalive_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_vbp_keepalive_log_handler(ngx_http_request_t *r);

/* ngx_http_vbp_captcha.c */
ngx_int_t ngx_http_vbp_captcha_handler(ngx_http_request_t *r);
char *ngx_http_vbp_captcha_check_fonts(ngx_conf_t *cf,
    ngx_http_vbp_main_conf_t *vmcf);


static ngx_inline ngx_http_vbp_ctx_t *
ngx_http_vbp_get_ctx(ngx_http_request_t *r)
{
    ngx_http_vbp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_vbp_module);
    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_vbp_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_http_vbp_module);

    return ctx;
}


#endif /* _NGX_HTTP_VBP_MODULE_H_INCLUDED_ */
