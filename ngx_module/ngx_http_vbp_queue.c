
/*
 * Copyright (C) the VBP platform developers
 *
 * The waiting room in front of the transaction children.  In the deadline
 * rush thousands of saves arrive at once; the pool serves as many as it
 * has children, and what nginx connects beyond that waits in the pool
 * socket's listen queue -- until the queue is full, when connect() fails
 * with EAGAIN and nginx answers 502 to a request that only came at a busy
 * moment.  So each nginx worker lets at most vbp_worker_concurrency of its
 * requests into the pool at once; the others wait here, first come first
 * served, in memory, each up to vbp_worker_queue's timeout.  Only past that
 * time, or past the queue's length, is a request answered 503 (the
 * platform's "busy" page, Retry-After), never because others arrived in
 * the same instant.
 *
 * A slot is taken when the upstream starts and given back when it is
 * finalized (or, whatever happened, when the request's pool goes), and the
 * next waiting request is started from a posted event, in its own
 * connection's turn.  Reads and password hashes have pools of their own
 * and do not wait here.
 */


#include "ngx_http_vbp_module.h"


typedef struct {
    ngx_queue_t            link;
    ngx_http_request_t    *request;
    ngx_event_t            timer;       /* the wait is over: 503 */
    ngx_event_t            start;       /* admitted: start the upstream */
    unsigned               waiting:1;
    unsigned               admitted:1;
} ngx_http_vbp_waiter_t;


static void ngx_http_vbp_queue_timeout(ngx_event_t *ev);
static void ngx_http_vbp_queue_start(ngx_event_t *ev);
static void ngx_http_vbp_queue_cleanup(void *data);
static void ngx_http_vbp_queue_next(void);


static ngx_queue_t  ngx_http_vbp_waiting;
static ngx_uint_t   ngx_http_vbp_nwaiting;
static ngx_uint_t   ngx_http_vbp_active;
static ngx_uint_t   ngx_http_vbp_concurrency;


void
ngx_http_vbp_queue_init_process(ngx_uint_t concurrency)
{
    ngx_queue_init(&ngx_http_vbp_waiting);
    ngx_http_vbp_nwaiting = 0;
    ngx_http_vbp_active = 0;
    ngx_http_vbp_concurrency = concurrency;
}


/*
 * NGX_OK: go on to the pool now; NGX_AGAIN: waiting, the request's count
 * stays taken and start() is called when a slot is free; NGX_DECLINED: the
 * queue is full (503); NGX_ERROR
 */
ngx_int_t
ngx_http_vbp_queue_enter(ngx_http_request_t *r, ngx_http_vbp_ctx_t *ctx)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_vbp_waiter_t     *w;
    ngx_http_vbp_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);

    if (ngx_http_vbp_concurrency == 0) {
        return NGX_OK;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_vbp_waiter_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_vbp_queue_cleanup;
    cln->data = w;

    w->request = r;
    ctx->waiter = w;

    if (ngx_http_vbp_active < ngx_http_vbp_concurrency
        && ngx_queue_empty(&ngx_http_vbp_waiting))
    {
        w->admitted = 1;
        ngx_http_vbp_active++;
        return NGX_OK;
    }

    if (ngx_http_vbp_nwaiting >= vmcf->queue_length) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "vbp: %ui requests wait for the pool, "
                      "the queue is full", ngx_http_vbp_nwaiting);
        return NGX_DECLINED;
    }

    w->timer.handler = ngx_http_vbp_queue_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;

    w->start.handler = ngx_http_vbp_queue_start;
    w->start.data = w;
    w->start.log = r->connection->log;

    ngx_queue_insert_tail(&ngx_http_vbp_waiting, &w->link);
    ngx_http_vbp_nwaiting++;
    w->waiting = 1;

    ngx_add_timer(&w->timer, vmcf->queue_timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "vbp queue: waiting, %ui active, %ui waiting",
                   ngx_http_vbp_active, ngx_http_vbp_nwaiting);

    return NGX_AGAIN;
}


/* the upstream is done with the request: its slot goes to the next */
void
ngx_http_vbp_queue_leave(ngx_http_vbp_ctx_t *ctx)
{
    ngx_http_vbp_waiter_t  *w;

    w = ctx->waiter;

    if (w == NULL || !w->admitted) {
        return;
    }

    w->admitted = 0;
    ngx_http_vbp_active--;

    ngx_http_vbp_queue_next();
}


static void
ngx_http_vbp_queue_next(void)
{
    ngx_queue_t            *q;
    ngx_http_vbp_waiter_t  *w;

    while (ngx_http_vbp_active < ngx_http_vbp_concurrency
           && !ngx_queue_empty(&ngx_http_vbp_waiting))
    {
        q = ngx_queue_head(&ngx_http_vbp_waiting);
        ngx_queue_remove(q);
        ngx_http_vbp_nwaiting--;

        w = ngx_queue_data(q, ngx_http_vbp_waiter_t, link);
        w->waiting = 0;
        w->admitted = 1;
        ngx_http_vbp_active++;

        if (w->timer.timer_set) {
            ngx_del_timer(&w->timer);
        }

        ngx_post_event(&w->start, &ngx_posted_events);
    }
}


static void
ngx_http_vbp_queue_start(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_vbp_waiter_t  *w;

    w = ev->data;
    r = w->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_http_vbp_upstream_start(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_vbp_queue_timeout(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_vbp_waiter_t  *w;

    w = ev->data;
    r = w->request;
    c = r->connection;

    ngx_queue_remove(&w->link);
    ngx_http_vbp_nwaiting--;
    w->waiting = 0;

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "vbp: waited for the pool too long, %ui still waiting",
                  ngx_http_vbp_nwaiting);

    ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    ngx_http_run_posted_requests(c);
}


/* the request is gone, whatever happened: never leave it in the queue */
static void
ngx_http_vbp_queue_cleanup(void *data)
{
    ngx_http_vbp_waiter_t  *w = data;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (w->start.posted) {
        ngx_delete_posted_event(&w->start);
    }

    if (w->waiting) {
        ngx_queue_remove(&w->link);
        ngx_http_vbp_nwaiting--;
        w->waiting = 0;
    }

    if (w->admitted) {
        w->admitted = 0;
        ngx_http_vbp_active--;
        ngx_http_vbp_queue_next();
    }
}


/* vbp_worker_queue LENGTH TIMEOUT */
char *
ngx_http_vbp_worker_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_main_conf_t *vmcf = conf;

    ngx_int_t   n;
    ngx_msec_t  t;
    ngx_str_t  *value;

    if (vmcf->queue_length != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR) {
        return "needs a number of requests";
    }

    t = ngx_parse_time(&value[2], 0);
    if (t == (ngx_msec_t) NGX_ERROR || t == 0) {
        return "needs a time, as \"30s\"";
    }

    vmcf->queue_length = n;
    vmcf->queue_timeout = t;

    return NGX_CONF_OK;
}
