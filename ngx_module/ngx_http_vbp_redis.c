
/*
 * Copyright (C) the VBP platform developers
 *
 * Redis from inside nginx's event loop: a hiredis (0.14) async context per
 * nginx worker process, its socket watched through an ngx_connection_t, and
 * a small "batch" API for request handlers: queue up to a few commands, and
 * get one callback, from a posted event, when every reply is in (or the
 * connection failed, or the timeout passed).
 *
 * A second connection, subscribed to Redis's invalidation channel, keeps
 * the session cache honest (ngx_http_vbp_session_cache.c): the command
 * connection has CLIENT TRACKING on, redirected to it.  Losing either
 * connection empties the cache until both are set up again.
 *
 * hiredis owns and closes the socket: the connection structure is freed
 * without closing the fd.  Replies are never handed to a request from
 * inside hiredis's own stack; the request may have gone away meanwhile, so
 * the batch outlives it and only forgets it.
 */


#include "ngx_http_vbp_module.h"

#include <sys/ioctl.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


struct ngx_http_vbp_redis_batch_s {
    ngx_http_request_t          *request;      /* NULL once it went away */
    ngx_http_vbp_redis_done_pt   done;
    ngx_pool_cleanup_t          *cleanup;
    ngx_event_t                  timer;
    ngx_event_t                  resume;
    ngx_int_t                    rc;

    ngx_uint_t                   ncmds;
    ngx_uint_t                   issued;
    ngx_uint_t                   answered;
    ngx_uint_t                   argc[NGX_HTTP_VBP_REDIS_MAX_CMDS];
    ngx_str_t                    argv[NGX_HTTP_VBP_REDIS_MAX_CMDS]
                                     [NGX_HTTP_VBP_REDIS_MAX_ARGS];
    ngx_http_vbp_redis_reply_t   replies[NGX_HTTP_VBP_REDIS_MAX_CMDS];
};


typedef struct {
    redisAsyncContext           *ac;
    ngx_connection_t            *conn;
    ngx_log_t                   *log;
    ngx_msec_t                   timeout;
    char                         host[256];
    int                          port;          /* 0: unix socket path */
    unsigned                     configured:1;
} ngx_http_vbp_redis_t;


/* the client-side caching set-up, in the order it happens */
typedef struct {
    long long                    client_id;     /* of the subscriber */
    unsigned                     sub_pending:1;
    unsigned                     sub_ready:1;
    unsigned                     track_pending:1;
    unsigned                     tracking:1;
    unsigned                     unsupported:1; /* Redis before 6 */
} ngx_http_vbp_redis_track_t;


static ngx_int_t ngx_http_vbp_redis_connect(ngx_http_vbp_redis_t *rc);
static void ngx_http_vbp_redis_track(void);
static void ngx_http_vbp_redis_sub_id(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_vbp_redis_sub_message(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_vbp_redis_tracking_on(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_vbp_redis_touched(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_vbp_redis_add_read(void *data);
static void ngx_http_vbp_redis_del_read(void *data);
static void ngx_http_vbp_redis_add_write(void *data);
static void ngx_http_vbp_redis_del_write(void *data);
static void ngx_http_vbp_redis_cleanup(void *data);
static void ngx_http_vbp_redis_read_handler(ngx_event_t *ev);
static void ngx_http_vbp_redis_sub_read_handler(ngx_event_t *ev);
static void ngx_http_vbp_redis_write_handler(ngx_event_t *ev);
static void ngx_http_vbp_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_vbp_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_vbp_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_vbp_redis_finish(ngx_http_vbp_redis_batch_t *b);
static void ngx_http_vbp_redis_timeout(ngx_event_t *ev);
static void ngx_http_vbp_redis_resume(ngx_event_t *ev);
static void ngx_http_vbp_redis_request_gone(void *data);


static ngx_http_vbp_redis_t        ngx_http_vbp_redis;
static ngx_http_vbp_redis_t        ngx_http_vbp_redis_sub;
static ngx_http_vbp_redis_track_t  ngx_http_vbp_redis_track_state;


ngx_int_t
ngx_http_vbp_redis_init_process(ngx_cycle_t *cycle)
{
    u_char                    *colon;
    ngx_str_t                  addr;
    ngx_int_t                  port;
    ngx_http_vbp_main_conf_t  *vmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_vbp_module);
    if (vmcf == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ngx_http_vbp_redis, sizeof(ngx_http_vbp_redis_t));
    ngx_memzero(&ngx_http_vbp_redis_sub, sizeof(ngx_http_vbp_redis_t));
    ngx_memzero(&ngx_http_vbp_redis_track_state,
                sizeof(ngx_http_vbp_redis_track_t));

    ngx_http_vbp_scache_init(cycle, (ngx_uint_t) vmcf->session_cache,
                             vmcf->session_timeout);

    ngx_http_vbp_redis.log = cycle->log;
    ngx_http_vbp_redis.timeout = vmcf->redis_timeout;

    addr = vmcf->redis;

    if (addr.len > 5 && ngx_strncmp(addr.data, "unix:", 5) == 0) {
        addr.data += 5;
        addr.len -= 5;
        port = 0;

    } else {
        colon = ngx_strlchr(addr.data, addr.data + addr.len, ':');
        if (colon == NULL) {
            port = 6379;

        } else {
            port = ngx_atoi(colon + 1, addr.data + addr.len - colon - 1);
            addr.len = colon - addr.data;
        }

        if (port < 1 || port > 65535) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "invalid port in \"vbp_redis %V\"", &vmcf->redis);
            return NGX_ERROR;
        }
    }

    if (addr.len == 0 || addr.len >= sizeof(ngx_http_vbp_redis.host)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "invalid address in \"vbp_redis %V\"", &vmcf->redis);
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_http_vbp_redis.host, addr.data, addr.len);
    ngx_http_vbp_redis.host[addr.len] = '\0';
    ngx_http_vbp_redis.port = (int) port;
    ngx_http_vbp_redis.configured = 1;

    /* connect early; a failure here is retried by the first request */
    if (ngx_http_vbp_redis_connect(&ngx_http_vbp_redis) == NGX_OK) {
        ngx_http_vbp_redis_track();
    }

    return NGX_OK;
}


void
ngx_http_vbp_redis_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_vbp_redis.ac) {
        redisAsyncFree(ngx_http_vbp_redis.ac);
        ngx_http_vbp_redis.ac = NULL;
    }

    if (ngx_http_vbp_redis_sub.ac) {
        redisAsyncFree(ngx_http_vbp_redis_sub.ac);
        ngx_http_vbp_redis_sub.ac = NULL;
    }

    ngx_http_vbp_scache_flush();
}


/* both connections go to the address of the first */
static ngx_int_t
ngx_http_vbp_redis_connect(ngx_http_vbp_redis_t *rc)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    if (rc->ac) {
        return NGX_OK;
    }

    if (!ngx_http_vbp_redis.configured) {
        return NGX_ERROR;
    }

    if (ngx_http_vbp_redis.port) {
        ac = redisAsyncConnect(ngx_http_vbp_redis.host,
                               ngx_http_vbp_redis.port);
    } else {
        ac = redisAsyncConnectUnix(ngx_http_vbp_redis.host);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_vbp_redis.log, 0,
                      "vbp redis: out of memory");
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_vbp_redis.log, 0,
                      "vbp redis: connect to %s:%d failed: %s",
                      ngx_http_vbp_redis.host, ngx_http_vbp_redis.port,
                      ac->errstr);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, ngx_http_vbp_redis.log);
    if (c == NULL) {
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = (rc == &ngx_http_vbp_redis_sub)
                       ? ngx_http_vbp_redis_sub_read_handler
                       : ngx_http_vbp_redis_read_handler;
    c->write->handler = ngx_http_vbp_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_vbp_redis_add_read;
    ac->ev.delRead = ngx_http_vbp_redis_del_read;
    ac->ev.addWrite = ngx_http_vbp_redis_add_write;
    ac->ev.delWrite = ngx_http_vbp_redis_del_write;
    ac->ev.cleanup = ngx_http_vbp_redis_cleanup;

    (void) redisAsyncSetConnectCallback(ac, ngx_http_vbp_redis_connected);
    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_vbp_redis_disconnected);

    rc->ac = ac;
    rc->conn = c;

    return NGX_OK;
}


/*
 * hiredis reads at most 16k per call and expects to be called again while
 * data is pending, so the events are level-triggered (flags 0 on epoll)
 */

static void
ngx_http_vbp_redis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "vbp redis: cannot watch the read event");
        }
    }
}


static void
ngx_http_vbp_redis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_vbp_redis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "vbp redis: cannot watch the write event");
        }
    }
}


static void
ngx_http_vbp_redis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* called by hiredis when it frees the context, possibly from our handler */

static void
ngx_http_vbp_redis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    ngx_http_vbp_redis_del_read(c);
    ngx_http_vbp_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (ngx_http_vbp_redis.conn == c) {
        ngx_http_vbp_redis.conn = NULL;
        ngx_http_vbp_redis.ac = NULL;

        /* the new connection must ask for tracking again */
        ngx_http_vbp_redis_track_state.tracking = 0;
        ngx_http_vbp_redis_track_state.track_pending = 0;
        ngx_http_vbp_scache_flush();
    }

    if (ngx_http_vbp_redis_sub.conn == c) {
        ngx_http_vbp_redis_sub.conn = NULL;
        ngx_http_vbp_redis_sub.ac = NULL;

        ngx_http_vbp_redis_track_state.sub_pending = 0;
        ngx_http_vbp_redis_track_state.sub_ready = 0;
        ngx_http_vbp_redis_track_state.tracking = 0;
        ngx_http_vbp_scache_flush();
    }

    /* hiredis closes the fd itself */
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_http_vbp_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    /* may free c through the cleanup hook: nothing may follow */
    redisAsyncHandleRead(c->data);
}


/*
 * Invalidations are taken whole when they come: hiredis reads 16k at a
 * time, and what stayed in the socket would wait behind requests that
 * arrived after it.  That, and epoll reporting descriptors in the order
 * they became ready, is why a request never meets a session whose change
 * reached this host before the request did.
 */
static void
ngx_http_vbp_redis_sub_read_handler(ngx_event_t *ev)
{
    int                pending;
    ngx_connection_t  *c = ev->data;

    for ( ;; ) {
        /* may free c through the cleanup hook */
        redisAsyncHandleRead(c->data);

        if (ngx_http_vbp_redis_sub.conn != c
            || ioctl(c->fd, FIONREAD, &pending) == -1 || pending <= 0)
        {
            return;
        }
    }
}


static void
ngx_http_vbp_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_http_vbp_redis_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_vbp_redis.log, 0,
                      "vbp redis: connect to %s:%d failed: %s",
                      ngx_http_vbp_redis.host, ngx_http_vbp_redis.port,
                      ac->errstr);
    }
}


static void
ngx_http_vbp_redis_disconnected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_vbp_redis.log, 0,
                      "vbp redis: connection lost: %s", ac->errstr);
    }
}


ngx_http_vbp_redis_batch_t *
ngx_http_vbp_redis_batch(ngx_http_request_t *r,
    ngx_http_vbp_redis_done_pt done)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_vbp_redis_batch_t  *b;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    b = ngx_calloc(sizeof(ngx_http_vbp_redis_batch_t), r->connection->log);
    if (b == NULL) {
        return NULL;
    }

    b->request = r;
    b->done = done;
    b->cleanup = cln;
    b->rc = NGX_OK;

    b->timer.handler = ngx_http_vbp_redis_timeout;
    b->timer.data = b;
    b->timer.log = ngx_cycle->log;

    b->resume.handler = ngx_http_vbp_redis_resume;
    b->resume.data = b;
    b->resume.log = ngx_cycle->log;

    cln->handler = ngx_http_vbp_redis_request_gone;
    cln->data = b;

    return b;
}


/* argv strings must live in the request pool until the batch is sent */

ngx_int_t
ngx_http_vbp_redis_add(ngx_http_vbp_redis_batch_t *b, ngx_uint_t argc,
    ngx_str_t *argv)
{
    ngx_uint_t  i;

    if (b->ncmds == NGX_HTTP_VBP_REDIS_MAX_CMDS
        || argc > NGX_HTTP_VBP_REDIS_MAX_ARGS)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < argc; i++) {
        b->argv[b->ncmds][i] = argv[i];
    }

    b->argc[b->ncmds++] = argc;

    return NGX_OK;
}


/* the done callback always comes later, from a posted event */

ngx_int_t
ngx_http_vbp_redis_send(ngx_http_vbp_redis_batch_t *b)
{
    int          rc;
    ngx_uint_t   i, k;
    const char  *argv[NGX_HTTP_VBP_REDIS_MAX_ARGS];
    size_t       argvlen[NGX_HTTP_VBP_REDIS_MAX_ARGS];

    if (ngx_http_vbp_redis_connect(&ngx_http_vbp_redis) == NGX_OK) {

        ngx_http_vbp_redis_track();

        for (i = 0; i < b->ncmds; i++) {
            for (k = 0; k < b->argc[i]; k++) {
                argv[k] = (const char *) b->argv[i][k].data;
                argvlen[k] = b->argv[i][k].len;
            }

            rc = redisAsyncCommandArgv(ngx_http_vbp_redis.ac,
                                       ngx_http_vbp_redis_reply, b,
                                       (int) b->argc[i], argv, argvlen);
            if (rc != REDIS_OK) {
                break;
            }

            b->issued++;
        }
    }

    if (b->issued < b->ncmds) {
        b->rc = NGX_ERROR;
    }

    if (b->issued == 0) {
        ngx_post_event(&b->resume, &ngx_posted_events);
        return NGX_OK;
    }

    ngx_add_timer(&b->timer, ngx_http_vbp_redis.timeout);

    return NGX_OK;
}


static void
ngx_http_vbp_redis_reply(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply                  *reply = data;
    ngx_http_vbp_redis_batch_t  *b = privdata;

    ngx_http_request_t          *r;
    ngx_http_vbp_redis_reply_t  *slot;

    slot = &b->replies[b->answered++];
    r = b->request;

    if (reply == NULL) {
        /* the context is being freed: connection lost or timed out */
        b->rc = NGX_ERROR;

    } else {
        slot->type = reply->type;
        slot->integer = reply->integer;

        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_http_vbp_redis.log, 0,
                          "vbp redis: %*s", (size_t) reply->len, reply->str);
            b->rc = NGX_ERROR;

        } else if ((reply->type == REDIS_REPLY_STRING
                    || reply->type == REDIS_REPLY_STATUS)
                   && r != NULL)
        {
            slot->str.data = ngx_pnalloc(r->pool, reply->len + 1);
            if (slot->str.data == NULL) {
                b->rc = NGX_ERROR;

            } else {
                ngx_memcpy(slot->str.data, reply->str, reply->len);
                slot->str.data[reply->len] = '\0';
                slot->str.len = reply->len;
            }
        }
    }

    if (b->answered == b->issued) {
        ngx_http_vbp_redis_finish(b);
    }
}


static void
ngx_http_vbp_redis_finish(ngx_http_vbp_redis_batch_t *b)
{
    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }

    if (b->request == NULL) {
        ngx_free(b);
        return;
    }

    ngx_post_event(&b->resume, &ngx_posted_events);
}


static void
ngx_http_vbp_redis_timeout(ngx_event_t *ev)
{
    int                          pending;
    ngx_http_vbp_redis_batch_t  *b = ev->data;

    /*
     * A worker busy past the timeout (a burst of a thousand connections on
     * a slow machine: make bench) may not have read a reply that is in the
     * socket already: read what is there before giving up.  Only for a
     * request's batch, which outlives its callback (finish posts resume).
     */
    if (b->request && ngx_http_vbp_redis.ac && ngx_http_vbp_redis.conn
        && ioctl(ngx_http_vbp_redis.conn->fd, FIONREAD, &pending) != -1
        && pending > 0)
    {
        redisAsyncHandleRead(ngx_http_vbp_redis.ac);

        if (b->answered == b->issued) {
            return;
        }
    }

    ngx_log_error(NGX_LOG_ERR, ngx_http_vbp_redis.log, 0,
                  "vbp redis: no reply within %M ms, reconnecting",
                  ngx_http_vbp_redis.timeout);

    b->rc = NGX_ERROR;

    /* answers every pending command with a NULL reply, ours included */
    if (ngx_http_vbp_redis.ac) {
        redisAsyncFree(ngx_http_vbp_redis.ac);
    }
}


static void
ngx_http_vbp_redis_resume(ngx_event_t *ev)
{
    ngx_http_vbp_redis_batch_t  *b = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = b->request;
    c = r->connection;

    b->cleanup->handler = NULL;

    b->done(r, b->replies, b->ncmds, b->rc);

    ngx_free(b);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_vbp_redis_request_gone(void *data)
{
    ngx_http_vbp_redis_batch_t  *b = data;

    if (b->resume.posted) {
        ngx_delete_posted_event(&b->resume);
        ngx_free(b);
        return;
    }

    /* replies still pending: the reply callback frees the batch */
    b->request = NULL;
}


/*
 * Client-side caching: the subscriber asks for its id and subscribes to
 * __redis__:invalidate, then the command connection turns tracking on,
 * redirected to it.  NOLOOP: this process's own touches invalidate nothing
 * here.  Each step starts the next from its reply; a lost connection
 * starts over from the first request after it.
 */

static void
ngx_http_vbp_redis_track(void)
{
    ngx_http_vbp_redis_track_t  *t = &ngx_http_vbp_redis_track_state;

    if (!ngx_http_vbp_scache_enabled() || t->unsupported) {
        return;
    }

    if (!t->sub_ready) {
        if (t->sub_pending
            || ngx_http_vbp_redis_connect(&ngx_http_vbp_redis_sub) != NGX_OK)
        {
            return;
        }

        if (redisAsyncCommand(ngx_http_vbp_redis_sub.ac,
                              ngx_http_vbp_redis_sub_id, NULL, "CLIENT ID")
            == REDIS_OK)
        {
            t->sub_pending = 1;
        }

        return;
    }

    if (t->tracking || t->track_pending || ngx_http_vbp_redis.ac == NULL) {
        return;
    }

    /* "off" first: a subscriber that came back has a new id */
    if (redisAsyncCommand(ngx_http_vbp_redis.ac, NULL, NULL,
                          "CLIENT TRACKING off") == REDIS_OK
        && redisAsyncCommand(ngx_http_vbp_redis.ac,
                             ngx_http_vbp_redis_tracking_on, NULL,
                             "CLIENT TRACKING on REDIRECT %lld NOLOOP",
                             t->client_id) == REDIS_OK)
    {
        t->track_pending = 1;
    }
}


static void
ngx_http_vbp_redis_sub_id(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply  *reply = data;

    if (reply == NULL) {
        return;                 /* the connection went: cleanup resets */
    }

    if (reply->type != REDIS_REPLY_INTEGER
        || redisAsyncCommand(ac, ngx_http_vbp_redis_sub_message, NULL,
                             "SUBSCRIBE __redis__:invalidate") != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_http_vbp_redis.log, 0,
                      "vbp redis: no session cache: CLIENT ID failed");
        ngx_http_vbp_redis_track_state.unsupported = 1;
        return;
    }

    ngx_http_vbp_redis_track_state.client_id = reply->integer;
}


static void
ngx_http_vbp_redis_sub_message(redisAsyncContext *ac, void *data,
    void *privdata)
{
    size_t       i;
    redisReply  *reply = data, *kind, *keys;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    kind = reply->element[0];

    if (kind->len == sizeof("subscribe") - 1
        && ngx_strncmp(kind->str, "subscribe", kind->len) == 0)
    {
        ngx_http_vbp_redis_track_state.sub_pending = 0;
        ngx_http_vbp_redis_track_state.sub_ready = 1;
        ngx_http_vbp_redis_track();
        return;
    }

    if (kind->len != sizeof("message") - 1
        || ngx_strncmp(kind->str, "message", kind->len) != 0)
    {
        return;
    }

    keys = reply->element[2];

    switch (keys->type) {

    case REDIS_REPLY_ARRAY:
        for (i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type == REDIS_REPLY_STRING) {
                ngx_http_vbp_scache_invalidate(
                                        (u_char *) keys->element[i]->str,
                                        keys->element[i]->len);
            }
        }
        break;

    case REDIS_REPLY_STRING:
        ngx_http_vbp_scache_invalidate((u_char *) keys->str, keys->len);
        break;

    default:
        /* a nil: Redis flushed its keys, or dropped its tracking table */
        ngx_http_vbp_scache_flush();
    }
}


static void
ngx_http_vbp_redis_tracking_on(redisAsyncContext *ac, void *data,
    void *privdata)
{
    redisReply  *reply = data;

    ngx_http_vbp_redis_track_state.track_pending = 0;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_vbp_redis.log, 0,
                      "vbp redis: no session cache, CLIENT TRACKING: %*s",
                      (size_t) reply->len, reply->str);
        ngx_http_vbp_redis_track_state.unsupported = 1;

        if (ngx_http_vbp_redis_sub.ac) {
            redisAsyncFree(ngx_http_vbp_redis_sub.ac);
        }

        return;
    }

    /* what was fetched before this reply may not be tracked: not kept */
    ngx_http_vbp_scache_flush();
    ngx_http_vbp_redis_track_state.tracking = 1;
}


/* sessions may be cached: the invalidations of Redis arrive */
ngx_uint_t
ngx_http_vbp_redis_tracking(void)
{
    ngx_http_vbp_redis_track_t  *t = &ngx_http_vbp_redis_track_state;

    return t->tracking && t->sub_ready && ngx_http_vbp_redis_sub.ac != NULL;
}


/*
 * the idle timeout of a cached session slides on: EXPIRE, then GET, which
 * tracks the key again (the write untracked it) and checks the session is
 * still the one cached; the request does not wait for either
 */
void
ngx_http_vbp_redis_touch(ngx_str_t *key, ngx_str_t *ttl)
{
    u_char      *sid;
    const char  *argv[3];
    size_t       argvlen[3];

    if (ngx_http_vbp_redis.ac == NULL
        || key->len != sizeof("vbp:sess:") - 1 + NGX_HTTP_VBP_SID_LEN)
    {
        return;
    }

    sid = ngx_alloc(NGX_HTTP_VBP_SID_LEN, ngx_http_vbp_redis.log);
    if (sid == NULL) {
        return;
    }

    ngx_memcpy(sid, key->data + sizeof("vbp:sess:") - 1,
               NGX_HTTP_VBP_SID_LEN);

    argv[0] = "EXPIRE";
    argvlen[0] = sizeof("EXPIRE") - 1;
    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;
    argv[2] = (const char *) ttl->data;
    argvlen[2] = ttl->len;

    if (redisAsyncCommandArgv(ngx_http_vbp_redis.ac, NULL, NULL, 3, argv,
                              argvlen) != REDIS_OK)
    {
        ngx_free(sid);
        return;
    }

    argv[0] = "GET";
    argvlen[0] = sizeof("GET") - 1;

    if (redisAsyncCommandArgv(ngx_http_vbp_redis.ac,
                              ngx_http_vbp_redis_touched, sid, 2, argv,
                              argvlen) != REDIS_OK)
    {
        ngx_free(sid);
        ngx_http_vbp_scache_confirm(key->data + sizeof("vbp:sess:") - 1,
                                    NULL, 0);
    }
}


static void
ngx_http_vbp_redis_touched(redisAsyncContext *ac, void *data, void *privdata)
{
    u_char      *sid = privdata;
    redisReply  *reply = data;

    if (reply && reply->type == REDIS_REPLY_STRING) {
        ngx_http_vbp_scache_confirm(sid, (u_char *) reply->str, reply->len);

    } else {
        /* gone, or the connection with it (and the cache then, too) */
        ngx_http_vbp_scache_confirm(sid, NULL, 0);
    }

    ngx_free(sid);
}


/* a command nobody waits for (counters); NGX_ERROR when not connected */
ngx_int_t
ngx_http_vbp_redis_fire(ngx_uint_t argc, ngx_str_t *argv)
{
    ngx_uint_t   i;
    const char  *args[NGX_HTTP_VBP_REDIS_MAX_ARGS];
    size_t       lens[NGX_HTTP_VBP_REDIS_MAX_ARGS];

    if (ngx_http_vbp_redis.ac == NULL || argc > NGX_HTTP_VBP_REDIS_MAX_ARGS) {
        return NGX_ERROR;
    }

    for (i = 0; i < argc; i++) {
        args[i] = (const char *) argv[i].data;
        lens[i] = argv[i].len;
    }

    return redisAsyncCommandArgv(ngx_http_vbp_redis.ac, NULL, NULL, (int) argc,
                                 args, lens)
           == REDIS_OK ? NGX_OK : NGX_ERROR;
}
