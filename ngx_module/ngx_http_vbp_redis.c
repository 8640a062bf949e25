
/*
 * Copyright (C) the VBP platform developers
 *
 * Redis from inside nginx's event loop: a hiredis (0.14) async context per
 * nginx worker process, its socket watched through an ngx_connection_t, and
 * a small "batch" API for request handlers: queue up to a few commands, and
 * get one callback, from a posted event, when every reply is in (or the
 * connection failed, or the timeout passed).
 *
 * hiredis owns and closes the socket: the connection structure is freed
 * without closing the fd.  Replies are never handed to a request from
 * inside hiredis's own stack; the request may have gone away meanwhile, so
 * the batch outlives it and only forgets it.
 */


#include "ngx_http_vbp_module.h"

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


static ngx_int_t ngx_http_vbp_redis_connect(void);
static void ngx_http_vbp_redis_add_read(void *data);
static void ngx_http_vbp_redis_del_read(void *data);
static void ngx_http_vbp_redis_add_write(void *data);
static void ngx_http_vbp_redis_del_write(void *data);
static void ngx_http_vbp_redis_cleanup(void *data);
static void ngx_http_vbp_redis_read_handler(ngx_event_t *ev);
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


static ngx_http_vbp_redis_t  ngx_http_vbp_redis;


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
    (void) ngx_http_vbp_redis_connect();

    return NGX_OK;
}


void
ngx_http_vbp_redis_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_vbp_redis.ac) {
        redisAsyncFree(ngx_http_vbp_redis.ac);
        ngx_http_vbp_redis.ac = NULL;
    }
}


static ngx_int_t
ngx_http_vbp_redis_connect(void)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    if (ngx_http_vbp_redis.ac) {
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
    c->read->handler = ngx_http_vbp_redis_read_handler;
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

    ngx_http_vbp_redis.ac = ac;
    ngx_http_vbp_redis.conn = c;

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

    if (ngx_http_vbp_redis_connect() == NGX_OK) {

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
    ngx_http_vbp_redis_batch_t  *b = ev->data;

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
