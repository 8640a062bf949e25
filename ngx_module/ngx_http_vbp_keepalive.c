
/*
 * Copyright (C) the VBP platform developers
 *
 * Kept-alive clients survive a graceful reload.  When nginx reloads, each
 * old worker closes its idle keep-alive connections at once
 * (ngx_close_idle_connections()), and a client that sent its next request
 * on one in that moment gets a reset: a lost request, 1-2 of them per
 * reload under load.  Here a kept-alive connection is not marked idle, so
 * the old worker leaves it open: the next request on it is served, with
 * "Connection: close" (nginx's header filter says so while exiting), or
 * the keepalive timer ends it as on any other day.  An old worker thus
 * lingers at most keepalive_timeout after a reload.
 *
 * The mark is set by ngx_http_set_keepalive() after the log phase, so the
 * log handler notes the connection and a posted event clears the mark once
 * nginx has finished with it.
 */


#include "ngx_http_vbp_module.h"


typedef struct {
    ngx_connection_t   *connection;
    ngx_atomic_uint_t   number;         /* the connection may be reused */
} ngx_http_vbp_kept_t;


static void ngx_http_vbp_keepalive_sweep(ngx_event_t *ev);


static ngx_array_t  *ngx_http_vbp_kept;
static ngx_event_t   ngx_http_vbp_keepalive_event;


ngx_int_t
ngx_http_vbp_keepalive_init_process(ngx_cycle_t *cycle)
{
    ngx_http_vbp_kept = ngx_array_create(cycle->pool, 64,
                                         sizeof(ngx_http_vbp_kept_t));
    if (ngx_http_vbp_kept == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ngx_http_vbp_keepalive_event, sizeof(ngx_event_t));
    ngx_http_vbp_keepalive_event.handler = ngx_http_vbp_keepalive_sweep;
    ngx_http_vbp_keepalive_event.log = cycle->log;
    ngx_http_vbp_keepalive_event.data = cycle;

    return NGX_OK;
}


/* the LOG phase of every request: its connection may be kept alive next */
ngx_int_t
ngx_http_vbp_keepalive_log_handler(ngx_http_request_t *r)
{
    ngx_http_vbp_kept_t  *k;

    if (ngx_http_vbp_kept == NULL || r != r->main || ngx_exiting
        || r->connection->fd == (ngx_socket_t) -1)
    {
        return NGX_OK;
    }

    k = ngx_array_push(ngx_http_vbp_kept);
    if (k == NULL) {
        return NGX_OK;
    }

    k->connection = r->connection;
    k->number = r->connection->number;

    if (!ngx_http_vbp_keepalive_event.posted) {
        ngx_post_event(&ngx_http_vbp_keepalive_event, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_vbp_keepalive_sweep(ngx_event_t *ev)
{
    ngx_uint_t            i;
    ngx_connection_t     *c;
    ngx_http_vbp_kept_t  *k;

    k = ngx_http_vbp_kept->elts;

    for (i = 0; i < ngx_http_vbp_kept->nelts; i++) {
        c = k[i].connection;

        /* still the same connection, now waiting for its next request */
        if (c->fd != (ngx_socket_t) -1 && c->number == k[i].number
            && c->idle && !ngx_exiting)
        {
            c->idle = 0;
        }
    }

    ngx_http_vbp_kept->nelts = 0;
}
