
/*
 * Copyright (C) the VBP platform developers
 *
 * ngx_http_vbp_module: directives, configuration and the phase handler
 * registration.  The request path is
 *
 *   ACCESS phase: session (and for sign-in: captcha, throttle) from Redis,
 *                 permission check                  ngx_http_vbp_session.c
 *   CONTENT:      one frame to a vbp-worker through
 *                 nginx's upstream machinery         ngx_http_vbp_worker.c
 *                 the JSON answer as JSON or a page  ngx_http_vbp_render.c
 */


#include "ngx_http_vbp_module.h"


static ngx_int_t ngx_http_vbp_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_vbp_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_vbp_body_limit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_vbp_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_vbp_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_vbp_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_vbp_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_vbp_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_vbp_op(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_vbp_set_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_vbp_page(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_vbp_login_throttle(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_vbp_error(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_vbp_captcha_fonts(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_vbp_init_process(ngx_cycle_t *cycle);
static void ngx_http_vbp_exit_process(ngx_cycle_t *cycle);


static ngx_conf_bitmask_t  ngx_http_vbp_next_upstream_masks[] = {
    { ngx_string("error"), NGX_HTTP_UPSTREAM_FT_ERROR },
    { ngx_string("timeout"), NGX_HTTP_UPSTREAM_FT_TIMEOUT },
    { ngx_string("invalid_response"), NGX_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { ngx_string("non_idempotent"), NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT },
    { ngx_string("off"), NGX_HTTP_UPSTREAM_FT_OFF },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_vbp_commands[] = {

    { ngx_string("vbp_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, redis),
      NULL },

    { ngx_string("vbp_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("vbp_templates"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, templates_dir),
      NULL },

    { ngx_string("vbp_session_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, session_cache),
      NULL },

    { ngx_string("vbp_session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, session_timeout),
      NULL },

    { ngx_string("vbp_cookie_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, cookie_name),
      NULL },

    { ngx_string("vbp_cookie_secure"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, cookie_secure),
      NULL },

    { ngx_string("vbp_login_page"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, login_page),
      NULL },

    { ngx_string("vbp_password_page"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, password_page),
      NULL },

    { ngx_string("vbp_error_page"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, error_page),
      NULL },

    { ngx_string("vbp_worker_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_vbp_main_conf_t, worker_concurrency),
      NULL },

    { ngx_string("vbp_worker_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_vbp_worker_queue,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("vbp_worker_pass"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_vbp_worker_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, upstream.upstream),
      NULL },

    { ngx_string("vbp_reader_pass"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_vbp_worker_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, reader),
      NULL },

    { ngx_string("vbp_read"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, read),
      NULL },

    { ngx_string("vbp_hash_pass"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_vbp_worker_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, hasher),
      NULL },

    { ngx_string("vbp_hash"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, hash),
      NULL },

    { ngx_string("vbp_worker_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("vbp_worker_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, upstream.send_timeout),
      NULL },

    { ngx_string("vbp_worker_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("vbp_worker_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, frame_max),
      NULL },

    { ngx_string("vbp_worker_next_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, upstream.next_upstream),
      &ngx_http_vbp_next_upstream_masks },

    { ngx_string("vbp_worker_next_upstream_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, upstream.next_upstream_tries),
      NULL },

    { ngx_string("vbp_op"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_vbp_op,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("vbp_permission"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, permission),
      NULL },

    { ngx_string("vbp_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, auth),
      NULL },

    { ngx_string("vbp_login"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, login),
      NULL },

    { ngx_string("vbp_password_change"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, password_change),
      NULL },

    { ngx_string("vbp_login_throttle"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_vbp_login_throttle,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("vbp_page"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_vbp_page,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("vbp_back"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, back),
      NULL },

    { ngx_string("vbp_download"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, download),
      NULL },

    { ngx_string("vbp_title"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, title),
      NULL },

    { ngx_string("vbp_menu_current"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, menu_current),
      NULL },

    { ngx_string("vbp_menu"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_http_vbp_menu,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("vbp_redirect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, redirect),
      NULL },

    { ngx_string("vbp_me"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_vbp_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_vbp_me_handler },

    { ngx_string("vbp_captcha"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_vbp_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_vbp_captcha_handler },

    { ngx_string("vbp_captcha_fonts"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_vbp_captcha_fonts,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("vbp_captcha_expose"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, captcha_expose),
      NULL },

    { ngx_string("vbp_captcha_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, captcha_ttl),
      NULL },

    { ngx_string("vbp_upload"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, upload),
      NULL },

    /* the answer names a stored file: nginx sends it (X-Accel-Redirect) */
    { ngx_string("vbp_file"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_vbp_loc_conf_t, file),
      NULL },

    { ngx_string("vbp_error"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_http_vbp_error,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_vbp_module_ctx = {
    ngx_http_vbp_preconfiguration,         /* preconfiguration */
    ngx_http_vbp_postconfiguration,        /* postconfiguration */

    ngx_http_vbp_create_main_conf,         /* create main configuration */
    ngx_http_vbp_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_vbp_create_loc_conf,          /* create location configuration */
    ngx_http_vbp_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_vbp_module = {
    NGX_MODULE_V1,
    &ngx_http_vbp_module_ctx,              /* module context */
    ngx_http_vbp_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_vbp_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_vbp_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_vbp_variables[] = {

    /* the body size the location allows, for the 413 answer: "20MB" */
    { ngx_string("vbp_body_limit"), NULL, ngx_http_vbp_body_limit_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_vbp_preconfiguration(ngx_conf_t *cf)
{
    /* jansson's allocator first: every block it hands out has a header */
    ngx_http_vbp_json_init();

    return ngx_http_vbp_add_variables(cf);
}


static ngx_int_t
ngx_http_vbp_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_vbp_variables; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * error_page evaluates it before it leaves the location that refused the
 * body, so it is that location's client_max_body_size
 */
static ngx_int_t
ngx_http_vbp_body_limit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    off_t                      size;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    size = clcf->client_max_body_size;

    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (size == 0) {
        v->len = ngx_sprintf(p, "unlimited") - p;

    } else if (size % (1024 * 1024) == 0) {
        v->len = ngx_sprintf(p, "%OMB", size / (1024 * 1024)) - p;

    } else if (size % 1024 == 0) {
        v->len = ngx_sprintf(p, "%OKB", size / 1024) - p;

    } else {
        v->len = ngx_sprintf(p, "%OB", size) - p;
    }

    v->data = p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_vbp_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_vbp_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_vbp_keepalive_log_handler;

    return NGX_OK;
}


static void *
ngx_http_vbp_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_vbp_main_conf_t  *vmcf;

    vmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_vbp_main_conf_t));
    if (vmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     vmcf->redis = { 0, NULL };
     *     vmcf->templates_dir = { 0, NULL };
     *     vmcf->templates = NULL;
     *     vmcf->cookie_name = { 0, NULL };
     *     vmcf->login_page = { 0, NULL };
     *     vmcf->password_page = { 0, NULL };
     *     vmcf->error_page = { 0, NULL };
     */

    vmcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    vmcf->session_timeout = NGX_CONF_UNSET;
    vmcf->session_cache = NGX_CONF_UNSET;
    vmcf->cookie_secure = NGX_CONF_UNSET;
    vmcf->worker_concurrency = NGX_CONF_UNSET;
    vmcf->queue_length = NGX_CONF_UNSET_UINT;
    vmcf->queue_timeout = NGX_CONF_UNSET_MSEC;

    return vmcf;
}


static char *
ngx_http_vbp_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_vbp_main_conf_t *vmcf = conf;

    ngx_conf_init_msec_value(vmcf->redis_timeout, 1000);
    ngx_conf_init_value(vmcf->session_timeout, 1800);
    ngx_conf_init_value(vmcf->session_cache, 10000);

    if (vmcf->session_cache < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"vbp_session_cache\" must be 0 or more");
        return NGX_CONF_ERROR;
    }
    ngx_conf_init_value(vmcf->cookie_secure, 0);

    /* see ngx_http_vbp_queue.c; 0: no waiting room */
    ngx_conf_init_value(vmcf->worker_concurrency, 16);
    ngx_conf_init_uint_value(vmcf->queue_length, 10000);
    ngx_conf_init_msec_value(vmcf->queue_timeout, 30000);

    if (vmcf->worker_concurrency < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"vbp_worker_concurrency\" must be 0 or more");
        return NGX_CONF_ERROR;
    }

    if (vmcf->redis.len == 0) {
        ngx_str_set(&vmcf->redis, "127.0.0.1:6379");
    }

    if (vmcf->cookie_name.len == 0) {
        ngx_str_set(&vmcf->cookie_name, "vbp_sid");
    }

    if (vmcf->login_page.len == 0) {
        ngx_str_set(&vmcf->login_page, "/login");
    }

    if (vmcf->password_page.len == 0) {
        ngx_str_set(&vmcf->password_page, "/password");
    }

    if (vmcf->error_page.len == 0) {
        ngx_str_set(&vmcf->error_page, "error.html");
    }

    if (ngx_http_vbp_captcha_check_fonts(cf, vmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* templates are needed by merge_loc_conf, which runs after this */
    return ngx_http_vbp_load_templates(cf, vmcf);
}


static void *
ngx_http_vbp_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_vbp_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_vbp_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.bufs.num = 0;
     *     conf->upstream.next_upstream = 0;
     *     conf->upstream.temp_path = NULL;
     *     conf->op = { 0, NULL };
     *     conf->ops = NULL;
     *     conf->permission = { 0, NULL };
     *     conf->page_name = { 0, NULL };
     *     conf->page = NULL;
     *     conf->redirect = { 0, NULL };
     *     conf->enabled = 0;
     */

    conf->upstream.local = NGX_CONF_UNSET_PTR;
    conf->upstream.socket_keepalive = NGX_CONF_UNSET;
    conf->upstream.next_upstream_tries = NGX_CONF_UNSET_UINT;
    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.next_upstream_timeout = NGX_CONF_UNSET_MSEC;
    conf->frame_max = NGX_CONF_UNSET_SIZE;

    /* the worker frame is read whole into one buffer, never buffered */
    conf->upstream.cyclic_temp_file = 0;
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.send_lowat = 0;
    conf->upstream.bufs.num = 0;
    conf->upstream.busy_buffers_size = 0;
    conf->upstream.max_temp_file_size = 0;
    conf->upstream.temp_file_write_size = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.intercept_404 = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 0;
    conf->upstream.force_ranges = 0;

    conf->auth = NGX_CONF_UNSET;
    conf->login = NGX_CONF_UNSET;
    conf->back = NGX_CONF_UNSET;
    conf->password_change = NGX_CONF_UNSET;
    conf->throttle_count = NGX_CONF_UNSET_UINT;
    conf->throttle_window = NGX_CONF_UNSET;
    conf->captcha_expose = NGX_CONF_UNSET;
    conf->captcha_ttl = NGX_CONF_UNSET;
    conf->upload = NGX_CONF_UNSET;
    conf->file = NGX_CONF_UNSET;
    conf->read = NGX_CONF_UNSET;
    conf->hash = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_vbp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_vbp_loc_conf_t *prev = parent;
    ngx_http_vbp_loc_conf_t *conf = child;

    ngx_str_t                  name;
    ngx_uint_t                 explicit;
    ngx_http_vbp_main_conf_t  *vmcf;

    ngx_conf_merge_ptr_value(conf->upstream.local, prev->upstream.local, NULL);
    ngx_conf_merge_value(conf->upstream.socket_keepalive,
                         prev->upstream.socket_keepalive, 0);
    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                              prev->upstream.next_upstream_tries, 2);
    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 5000);
    ngx_conf_merge_msec_value(conf->upstream.send_timeout,
                              prev->upstream.send_timeout, 30000);
    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 60000);
    ngx_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
                              prev->upstream.next_upstream_timeout, 0);
    ngx_conf_merge_size_value(conf->frame_max, prev->frame_max, 256 * 1024);

    /*
     * the answer is read into a small buffer first, and one of its exact
     * size only when its frame says it is larger: most answers are a few
     * kilobytes, and a 256k buffer per request is memory and malloc() time
     */
    conf->upstream.buffer_size = ngx_min(conf->frame_max,
                                         NGX_HTTP_VBP_FIRST_BUFFER);

    /*
     * "error" and "timeout" are safe to retry even for POST: the worker
     * runs an operation in one transaction, and a frame that reached no
     * worker changed nothing
     */
    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                                 prev->upstream.next_upstream,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_UPSTREAM_FT_ERROR
                                  |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                       |NGX_HTTP_UPSTREAM_FT_OFF;
    }

    explicit = conf->upstream.upstream != NULL;

    if (!explicit) {
        conf->upstream.upstream = prev->upstream.upstream;
    }

    if (conf->reader == NULL) {
        conf->reader = prev->reader;
    }

    /*
     * a pipelined read goes to the read pool where there is one, and to the
     * transaction pool, which runs it as well, where there is none
     */
    ngx_conf_merge_value(conf->read, prev->read, 0);

    if (conf->read && conf->reader && !explicit) {
        conf->upstream.upstream = conf->reader;
    }

    /*
     * an operation that hashes a password (argon2id, 64 MiB) goes to the
     * hash children, whose number bounds how many run at once, so that a
     * sign-in storm never takes the children that serve saves and reviews
     */
    if (conf->hasher == NULL) {
        conf->hasher = prev->hasher;
    }

    ngx_conf_merge_value(conf->hash, prev->hash, 0);

    if (conf->hash && conf->hasher && !explicit) {

        /* only a POST hashes: the form its page shows (GET) is not theirs */
        conf->unhashed = ngx_palloc(cf->pool,
                                    sizeof(ngx_http_upstream_conf_t));
        if (conf->unhashed == NULL) {
            return NGX_CONF_ERROR;
        }

        *conf->unhashed = conf->upstream;
        conf->upstream.upstream = conf->hasher;
    }

    ngx_conf_merge_value(conf->auth, prev->auth, 1);
    ngx_conf_merge_value(conf->login, prev->login, 0);
    ngx_conf_merge_value(conf->back, prev->back, 0);
    ngx_conf_merge_value(conf->password_change, prev->password_change, 0);
    ngx_conf_merge_uint_value(conf->throttle_count, prev->throttle_count, 30);
    ngx_conf_merge_value(conf->throttle_window, prev->throttle_window, 300);
    ngx_conf_merge_value(conf->captcha_expose, prev->captcha_expose, 0);
    ngx_conf_merge_value(conf->captcha_ttl, prev->captcha_ttl, 300);
    ngx_conf_merge_value(conf->upload, prev->upload, 0);
    ngx_conf_merge_value(conf->file, prev->file, 0);

    if (conf->login) {
        conf->auth = 0;
    }

    if (conf->page_name.len) {
        vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_vbp_module);

        if (vmcf->templates == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"vbp_page %V\" needs \"vbp_templates\"",
                               &conf->page_name);
            return NGX_CONF_ERROR;
        }

        name = conf->page_name;
        conf->page = (ngx_http_vbp_tpl_t *)
                         ngx_http_vbp_tpl_find(vmcf->templates,
                                               (const char *) name.data,
                                               name.len);
        if (conf->page == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "template \"%V\" not found in \"%V\"",
                               &conf->page_name, &vmcf->templates_dir);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->op.len && conf->upstream.upstream == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"vbp_op %V\" needs \"vbp_worker_pass\"",
                           &conf->op);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_vbp_op(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_loc_conf_t *vlcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i, m;
    ngx_http_vbp_op_t         *op;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_conf_bitmask_t  methods[] = {
        { ngx_string("GET"), NGX_HTTP_GET|NGX_HTTP_HEAD },
        { ngx_string("POST"), NGX_HTTP_POST },
        { ngx_string("PUT"), NGX_HTTP_PUT },
        { ngx_string("PATCH"), NGX_HTTP_PATCH },
        { ngx_string("DELETE"), NGX_HTTP_DELETE },
        { ngx_null_string, 0 }
    };

    if (vlcf->ops == NULL) {
        vlcf->ops = ngx_array_create(cf->pool, 2, sizeof(ngx_http_vbp_op_t));
        if (vlcf->ops == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    op = ngx_array_push(vlcf->ops);
    if (op == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    op->name = value[1];
    op->methods = 0;

    if (vlcf->op.len == 0) {
        vlcf->op = value[1];
    }

    for (i = 2; i < cf->args->nelts; i++) {
        for (m = 0; methods[m].name.len; m++) {
            if (value[i].len == methods[m].name.len
                && ngx_strncmp(value[i].data, methods[m].name.data,
                               value[i].len) == 0)
            {
                op->methods |= methods[m].mask;
                break;
            }
        }

        if (methods[m].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid method \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    /* a second operation of a location needs methods of its own */
    if (vlcf->ops->nelts > 1) {
        ngx_http_vbp_op_t  *ops = vlcf->ops->elts;

        for (i = 0; i + 1 < vlcf->ops->nelts; i++) {
            if (ops[i].methods == 0 || op->methods == 0
                || (ops[i].methods & op->methods))
            {
                return "names a method another vbp_op of this location has";
            }
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_vbp_op_handler;
    vlcf->enabled = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_vbp_set_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_loc_conf_t *vlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler && clcf->handler != ngx_http_vbp_page_handler) {
        return "conflicts with another content handler";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;
    vlcf->enabled = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_vbp_page(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_loc_conf_t *vlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (vlcf->page_name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    vlcf->page_name = value[1];
    vlcf->enabled = 1;

    /* a page without an operation renders from the session alone */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    if (clcf->handler == NULL) {
        clcf->handler = ngx_http_vbp_page_handler;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_vbp_login_throttle(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_loc_conf_t *vlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (vlcf->throttle_count != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n <= 0) {
        return "has an invalid attempt count";
    }

    vlcf->throttle_count = n;

    vlcf->throttle_window = ngx_parse_time(&value[2], 1);
    if (vlcf->throttle_window == (time_t) NGX_ERROR
        || vlcf->throttle_window == 0)
    {
        return "has an invalid window";
    }

    return NGX_CONF_OK;
}


/* vbp_error STATUS CODE MESSAGE [FIELD]: an answer of our own, in the
 * error format, for error_page targets (413, 502, 504) */
static char *
ngx_http_vbp_error(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_loc_conf_t *vlcf = conf;

    ngx_int_t                          status;
    ngx_str_t                         *value;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_compile_complex_value_t   ccv;

    if (vlcf->error_status) {
        return "is duplicate";
    }

    value = cf->args->elts;

    status = ngx_atoi(value[1].data, value[1].len);
    if (status < 400 || status > 599) {
        return "has an invalid status";
    }

    vlcf->error_status = status;
    vlcf->error_code = value[2];

    vlcf->error_message = ngx_palloc(cf->pool,
                                     sizeof(ngx_http_complex_value_t));
    if (vlcf->error_message == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[3];
    ccv.complex_value = vlcf->error_message;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 5) {
        vlcf->error_field = value[4];
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_vbp_error_handler;
    vlcf->enabled = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_vbp_init_process(ngx_cycle_t *cycle)
{
    ngx_http_vbp_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_vbp_module);

    ngx_http_vbp_queue_init_process(vmcf ? vmcf->worker_concurrency : 0);

    if (ngx_http_vbp_keepalive_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_vbp_captcha_init() != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "vbp: the captcha's font cache cannot be set up");
        return NGX_ERROR;
    }

    return ngx_http_vbp_redis_init_process(cycle);
}


static void
ngx_http_vbp_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_vbp_redis_exit_process(cycle);
    ngx_http_vbp_captcha_done();
}


/* vbp_captcha_fonts FILE ...: TrueType fonts the letters are drawn in */
static char *
ngx_http_vbp_captcha_fonts(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_main_conf_t *vmcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (vmcf->captcha_nfonts) {
        return "is duplicate";
    }

    if (cf->args->nelts - 1 > NGX_HTTP_VBP_CAPTCHA_FONTS_MAX) {
        return "names more than 8 fonts";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_conf_full_name(cf->cycle, &value[i], 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        /* ngx_conf_full_name() leaves a NUL after the name */
        vmcf->captcha_fonts[vmcf->captcha_nfonts++] = (char *) value[i].data;
    }

    return NGX_CONF_OK;
}
