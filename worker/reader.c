/*
 * Read children (vbp-worker -R): one process serves many nginx connections
 * at once, and the one-statement reads they ask for (vbp_op_t.read) share
 * its one PostgreSQL connection in libpq's pipeline mode.
 *
 * What a one-row read costs in a transaction child is mostly the hops: the
 * child wakes for the frame, sleeps on PostgreSQL, wakes for the rows.
 * Here, under load, one wake-up reads the frames of several requests, one
 * write sends all their statements, PostgreSQL runs them in one go and one
 * read brings all the rows back.  At idle a request costs what it costs
 * in a transaction child.
 *
 * The statements of one round share a Sync, that is one implicit
 * transaction; under READ COMMITTED each still reads its own snapshot, so
 * a call sees what it would see alone.  A statement that fails fails its
 * call; the others of its round, aborted with it, are sent again.  (libpq
 * 15 flushes at every Sync: one per round is also one write per round.)
 * A connection has at most one call in flight (nginx sends the next frame
 * after the answer, and a peer that sends early waits), so the ring of
 * calls in flight cannot overflow and answers leave in order.  Statements
 * lost with the connection are reads: they are sent again, once, on a new
 * connection.
 *
 * An operation that is not a pipelined read is still answered, the plain
 * way, once the pipeline has drained; it holds the whole child meanwhile,
 * so routes send only pipelined reads here (README, "The read pool").
 */

#define _GNU_SOURCE            /* accept4() */

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vbp.h"


#define READER_CONNS_MAX   1024
#define READER_EVENTS      64
#define READER_IN_FIRST    4096


typedef struct vbp_rconn_s  vbp_rconn_t;

struct vbp_rconn_s {
    int             fd;             /* -1 once closed, freed when not busy */
    unsigned char  *in;
    size_t          in_len;
    size_t          in_size;
    unsigned char  *out;            /* an answer not yet fully written */
    size_t          out_len;
    size_t          out_sent;
    time_t          active;
    unsigned        busy:1;         /* its call is in flight */
    unsigned        closing:1;      /* close once the answer is out */
    vbp_rconn_t    *prev;
    vbp_rconn_t    *next;
};


typedef struct {
    vbp_rconn_t     *conn;
    vbp_call_t       call;
    const vbp_op_t  *op;
    vbp_params_t     params;
    PGresult        *res;
    int              tries;         /* sendings after the first */
    unsigned         done:1;        /* its results are all in */
} vbp_rcall_t;


typedef struct {
    int              epfd;
    int              lfd;
    int              listening;
    int              pgfd;          /* the registered socket, or -1 */
    int              pg_out;        /* EPOLLOUT wanted on it */
    int              unsynced;      /* statements sent since the last Sync */
    int              syncs;         /* Syncs whose answer is to come */
    vbp_db_t         db;
    vbp_rconn_t     *conns;
    int              nconns;
    int              nclosed;       /* closed, to be freed */
    time_t           swept;
    vbp_rcall_t      ring[READER_CONNS_MAX];
    int              head;
    int              count;
    time_t           now;
} vbp_reader_t;


static char          vbp_listen_tag;
static char          vbp_pg_tag;
static vbp_reader_t  vbp_rd;


static void vbp_reader_accept(vbp_reader_t *rd);
static void vbp_listen_toggle(vbp_reader_t *rd, int on);
static void vbp_conn_read(vbp_reader_t *rd, vbp_rconn_t *c);
static void vbp_conn_serve(vbp_reader_t *rd, vbp_rconn_t *c);
static void vbp_conn_dispatch(vbp_reader_t *rd, vbp_rconn_t *c,
    json_t *frame, json_t *actor);
static void vbp_conn_answer(vbp_reader_t *rd, vbp_rconn_t *c,
    vbp_call_t *call);
static void vbp_conn_flush(vbp_reader_t *rd, vbp_rconn_t *c);
static void vbp_conn_close(vbp_reader_t *rd, vbp_rconn_t *c);
static void vbp_conn_sweep(vbp_reader_t *rd);
static int vbp_pg_ready(vbp_reader_t *rd);
static int vbp_pg_attach(vbp_reader_t *rd);
static void vbp_pg_detach(vbp_reader_t *rd);
static void vbp_pg_drop(vbp_reader_t *rd);
static int vbp_pg_send(vbp_reader_t *rd, vbp_rcall_t *r);
static void vbp_pg_flush(vbp_reader_t *rd);
static void vbp_pg_input(vbp_reader_t *rd);
static void vbp_pg_complete(vbp_reader_t *rd);
static void vbp_pg_broken(vbp_reader_t *rd);
static void vbp_pg_drain(vbp_reader_t *rd);
static void vbp_ring_fail_all(vbp_reader_t *rd);


void
vbp_reader(int lfd)
{
    int                  i, n;
    sigset_t             none;
    vbp_rconn_t         *c;
    struct sched_param   sp;
    vbp_reader_t        *rd;
    struct epoll_event   ev[READER_EVENTS];

    rd = &vbp_rd;
    vbp_quit = 0;

    /* ps and pgrep tell the read children from the others */
    (void) prctl(PR_SET_NAME, "vbp-reader", 0, 0, 0);

    /*
     * a throughput process: woken by nginx's frame, it does not preempt
     * nginx, and finds the frames of several requests when it runs
     */
    memset(&sp, 0, sizeof(sp));

    if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0) {
        vbp_log("SCHED_BATCH: %s", strerror(errno));
    }

    if (vbp_signals(1) != 0) {
        _exit(1);
    }

    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);

    memset(rd, 0, sizeof(vbp_reader_t));
    rd->lfd = lfd;
    rd->pgfd = -1;
    rd->db.conninfo = vbp_config.conninfo;
    rd->db.broken = 1;

    rd->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (rd->epfd < 0) {
        vbp_log("epoll_create1: %s", strerror(errno));
        _exit(1);
    }

    vbp_listen_toggle(rd, 1);

    /* a database that is down now is tried again by the first request */
    if (vbp_db_connect(&rd->db) == 0) {
        (void) vbp_pg_attach(rd);
    }

    while (!vbp_quit || rd->count > 0) {
        if (vbp_quit && rd->listening) {
            vbp_listen_toggle(rd, 0);
        }

        n = epoll_wait(rd->epfd, ev, READER_EVENTS, 1000);

        if (n < 0 && errno != EINTR) {
            vbp_log("epoll_wait: %s", strerror(errno));
            break;
        }

        rd->now = time(NULL);

        for (i = 0; i < n; i++) {
            if (ev[i].data.ptr == &vbp_listen_tag) {
                vbp_reader_accept(rd);
                continue;
            }

            if (ev[i].data.ptr == &vbp_pg_tag) {
                if (ev[i].events & EPOLLOUT) {
                    vbp_pg_flush(rd);
                }

                if (rd->pgfd >= 0
                    && (ev[i].events & (EPOLLIN|EPOLLERR|EPOLLHUP)))
                {
                    vbp_pg_input(rd);
                }

                continue;
            }

            c = ev[i].data.ptr;

            if (c->fd >= 0 && (ev[i].events & EPOLLOUT) && c->out) {
                vbp_conn_flush(rd, c);
                vbp_conn_serve(rd, c);
            }

            if (c->fd >= 0
                && (ev[i].events & (EPOLLIN|EPOLLERR|EPOLLHUP|EPOLLRDHUP)))
            {
                vbp_conn_read(rd, c);
            }
        }

        /* the statements of every frame this round read go in one write */
        vbp_pg_flush(rd);

        vbp_conn_sweep(rd);
    }

    for (c = rd->conns; c; c = c->next) {
        vbp_conn_close(rd, c);
    }

    vbp_conn_sweep(rd);

    vbp_pg_detach(rd);
    vbp_db_close(&rd->db);
    vbp_sessions_close();
    vbp_frame_cleanup();
    close(rd->epfd);
}


/*
 * the shared socket wakes one read child at a time; a child that is full
 * stops listening until a connection of its own closes
 */
static void
vbp_listen_toggle(vbp_reader_t *rd, int on)
{
    struct epoll_event  ev;

    if (on == rd->listening) {
        return;
    }

    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = &vbp_listen_tag;

    if (epoll_ctl(rd->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, rd->lfd,
                  &ev) != 0)
    {
        vbp_log("epoll_ctl on the listening socket: %s", strerror(errno));
        return;
    }

    rd->listening = on;
}


static void
vbp_reader_accept(vbp_reader_t *rd)
{
    int                  fd;
    vbp_rconn_t         *c;
    struct epoll_event   ev;

    while (rd->nconns < READER_CONNS_MAX && !vbp_quit) {
        fd = accept4(rd->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                vbp_log("accept: %s", strerror(errno));
            }

            return;
        }

        c = calloc(1, sizeof(vbp_rconn_t));

        /* edge-triggered: read until a short read, write until EAGAIN */
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;

        if (c == NULL || epoll_ctl(rd->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            vbp_log("cannot serve a connection: %s", strerror(errno));
            free(c);
            close(fd);
            continue;
        }

        c->fd = fd;
        c->active = rd->now ? rd->now : time(NULL);
        c->next = rd->conns;

        if (rd->conns) {
            rd->conns->prev = c;
        }

        rd->conns = c;
        rd->nconns++;
    }

    if (rd->nconns >= READER_CONNS_MAX) {
        vbp_listen_toggle(rd, 0);
    }
}


static void
vbp_conn_read(vbp_reader_t *rd, vbp_rconn_t *c)
{
    size_t          size, limit;
    ssize_t         n;
    unsigned char  *p;

    /* the largest frame fits whole; nginx sends no frame ahead of time */
    limit = VBP_FRAME_HEADER + vbp_config.frame_max;

    for ( ;; ) {
        if (c->in_len == c->in_size && c->in_size >= limit) {
            vbp_conn_serve(rd, c);

            if (c->fd < 0) {
                return;
            }

            if (c->in_len == c->in_size) {
                vbp_log("a connection sent frames ahead of its answers");
                vbp_conn_close(rd, c);
                return;
            }
        }

        if (c->in_len == c->in_size) {
            size = c->in_size ? c->in_size * 2 : READER_IN_FIRST;
            size = size < limit ? size : limit;

            p = realloc(c->in, size);
            if (p == NULL) {
                vbp_conn_close(rd, c);
                return;
            }

            c->in = p;
            c->in_size = size;
        }

        n = read(c->fd, c->in + c->in_len, c->in_size - c->in_len);

        if (n > 0) {
            c->in_len += (size_t) n;

            if (c->in_len < c->in_size) {
                break;          /* a short read: nothing more for now */
            }

            continue;
        }

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0 && errno == EAGAIN) {
            break;
        }

        if (n < 0) {
            vbp_conn_close(rd, c);
            return;
        }

        /* the peer is done sending: what it sent is answered, then closed */
        c->closing = 1;
        break;
    }

    if (c->closing && !c->busy && c->out == NULL) {
        /* a frame waiting in the buffer still gets its answer */
        c->closing = 0;
        vbp_conn_serve(rd, c);

        if (c->fd >= 0) {
            c->closing = 1;

            if (!c->busy && c->out == NULL) {
                vbp_conn_close(rd, c);
            }
        }

        return;
    }

    vbp_conn_serve(rd, c);
}


/* the frames waiting in the buffer, one at a time */
static void
vbp_conn_serve(vbp_reader_t *rd, vbp_rconn_t *c)
{
    int          bad;
    size_t       len;
    json_t      *frame, *actor;
    vbp_call_t   call;

    while (c->fd >= 0 && !c->busy && c->out == NULL && !c->closing
           && c->in_len >= VBP_FRAME_HEADER)
    {
        len = ((size_t) c->in[0] << 24) | ((size_t) c->in[1] << 16)
              | ((size_t) c->in[2] << 8) | c->in[3];

        bad = len == 0 || len > vbp_config.frame_max;

        if (bad) {
            vbp_log("refused a frame of %zu bytes (limit %zu)", len,
                    vbp_config.frame_max);

        } else if (c->in_len < VBP_FRAME_HEADER + len) {
            return;

        } else {
            bad = vbp_frame_decode(c->in + VBP_FRAME_HEADER, len, &frame,
                                   &actor) != 0;
        }

        c->active = rd->now;

        if (bad) {
            /* the stream cannot be trusted after a bad frame */
            c->in_len = 0;
            c->closing = 1;

            vbp_call_bad_frame(&call);
            vbp_conn_answer(rd, c, &call);
            return;
        }

        c->in_len -= VBP_FRAME_HEADER + len;
        memmove(c->in, c->in + VBP_FRAME_HEADER + len, c->in_len);

        vbp_conn_dispatch(rd, c, frame, actor);
    }
}


static void
vbp_conn_dispatch(vbp_reader_t *rd, vbp_rconn_t *c, json_t *frame,
    json_t *actor)
{
    int               rc;
    vbp_call_t        call;
    vbp_rcall_t      *r;
    const vbp_op_t   *op;

    vbp_call_init(&call, frame, actor);
    call.db = &rd->db;

    op = vbp_call_prepare(&call);

    if (op == NULL) {
        vbp_conn_answer(rd, c, &call);
        return;
    }

    if (op->read == NULL) {
        /* not a read: the plain way, on a connection out of pipeline mode */
        c->busy = 1;
        vbp_pg_drain(rd);
        vbp_pg_detach(rd);

        vbp_call_execute(&call, op, &rd->db);

        if (!rd->db.broken) {
            (void) vbp_pg_attach(rd);
        }

        c->busy = 0;
        vbp_conn_answer(rd, c, &call);
        return;
    }

    /* at most one call per connection, at most READER_CONNS_MAX in all */
    r = &rd->ring[(rd->head + rd->count) % READER_CONNS_MAX];
    r->call = call;

    rc = op->read->params(&r->call, &r->params);

    if (rc != 0) {
        if (rc < 0) {
            vbp_call_reset(&r->call);
            vbp_fail(&r->call, 500, "internal", "系统内部错误，请稍后再试");
        }

        vbp_conn_answer(rd, c, &r->call);
        return;
    }

    if (vbp_pg_ready(rd) != 0) {
        vbp_fail(&r->call, 503, "unavailable", "数据库暂时不可用，请稍后再试");
        vbp_conn_answer(rd, c, &r->call);
        return;
    }

    r->conn = c;
    r->op = op;
    r->res = NULL;
    r->tries = 0;
    r->done = 0;

    c->busy = 1;
    rd->count++;

    if (vbp_pg_send(rd, r) != 0) {
        vbp_pg_broken(rd);
    }
}


/* the answer frame goes out, and the call ends */
static void
vbp_conn_answer(vbp_reader_t *rd, vbp_rconn_t *c, vbp_call_t *call)
{
    c->busy = 0;

    if (c->fd >= 0) {
        c->out = vbp_call_encode(call, &c->out_len);
        c->out_sent = 0;
    }

    vbp_call_end(call);

    if (c->fd < 0) {
        return;
    }

    if (c->out == NULL) {
        vbp_conn_close(rd, c);
        return;
    }

    c->active = rd->now;

    vbp_conn_flush(rd, c);
}


static void
vbp_conn_flush(vbp_reader_t *rd, vbp_rconn_t *c)
{
    ssize_t  n;

    while (c->out_sent < c->out_len) {
        n = write(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);

        if (n > 0) {
            c->out_sent += (size_t) n;
            continue;
        }

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0 && errno == EAGAIN) {
            return;             /* EPOLLOUT comes back here */
        }

        vbp_conn_close(rd, c);
        return;
    }

    free(c->out);
    c->out = NULL;

    if (c->closing) {
        vbp_conn_close(rd, c);
    }
}


/*
 * the descriptor goes now; the structure at the end of the round, once no
 * call and no event of this round refers to it (vbp_conn_sweep)
 */
static void
vbp_conn_close(vbp_reader_t *rd, vbp_rconn_t *c)
{
    if (c->fd >= 0) {
        (void) epoll_ctl(rd->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        rd->nclosed++;
    }
}


/*
 * frees the closed connections, and closes those idle longer than -i (as a
 * transaction child gives up an idle one), or all idle ones when stopping
 */
static void
vbp_conn_sweep(vbp_reader_t *rd)
{
    int           freed, idle;
    vbp_rconn_t  *c, *next;

    /* idle ones once a second; closed ones as soon as there are any */
    idle = rd->now != rd->swept || vbp_quit;

    if (!idle && rd->nclosed == 0) {
        return;
    }

    rd->swept = rd->now;
    freed = 0;

    for (c = rd->conns; c; c = next) {
        next = c->next;

        if (c->busy) {
            continue;
        }

        if (idle && c->fd >= 0 && c->out == NULL
            && (vbp_quit || rd->now - c->active >= vbp_config.idle_timeout))
        {
            vbp_conn_close(rd, c);
        }

        if (c->fd >= 0) {
            continue;
        }

        if (c->prev) {
            c->prev->next = c->next;

        } else {
            rd->conns = c->next;
        }

        if (c->next) {
            c->next->prev = c->prev;
        }

        free(c->in);
        free(c->out);
        free(c);

        rd->nconns--;
        rd->nclosed--;
        freed = 1;
    }

    if (freed && !vbp_quit) {
        vbp_listen_toggle(rd, 1);
    }
}


/* a connection in pipeline mode, made again if it was lost: 0 or -1 */
static int
vbp_pg_ready(vbp_reader_t *rd)
{
    if (!rd->db.broken && rd->pgfd >= 0) {
        return 0;
    }

    /* nothing is in flight here: a lost connection answered its calls */
    vbp_pg_detach(rd);

    if (vbp_db_connect(&rd->db) != 0) {
        return -1;
    }

    return vbp_pg_attach(rd);
}


static int
vbp_pg_attach(vbp_reader_t *rd)
{
    int                  fd;
    struct epoll_event   ev;

    fd = PQsocket(rd->db.conn);

    if (fd < 0 || PQsetnonblocking(rd->db.conn, 1) != 0
        || PQenterPipelineMode(rd->db.conn) != 1)
    {
        vbp_log("cannot pipeline: %s", PQerrorMessage(rd->db.conn));
        vbp_db_close(&rd->db);
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = &vbp_pg_tag;

    if (epoll_ctl(rd->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        vbp_log("epoll_ctl on the database socket: %s", strerror(errno));
        vbp_db_close(&rd->db);
        return -1;
    }

    rd->pgfd = fd;
    rd->pg_out = 0;
    rd->unsynced = 0;
    rd->syncs = 0;

    return 0;
}


/* out of the event loop and of pipeline mode, for a plain operation */
static void
vbp_pg_detach(vbp_reader_t *rd)
{
    if (rd->pgfd < 0) {
        return;
    }

    (void) epoll_ctl(rd->epfd, EPOLL_CTL_DEL, rd->pgfd, NULL);
    rd->pgfd = -1;

    if (rd->db.conn && !rd->db.broken
        && (PQexitPipelineMode(rd->db.conn) != 1
            || PQsetnonblocking(rd->db.conn, 0) != 0))
    {
        vbp_log("cannot leave pipeline mode: %s",
                PQerrorMessage(rd->db.conn));
        vbp_db_close(&rd->db);
    }
}


/* the connection is given up: out of the event loop, closed */
static void
vbp_pg_drop(vbp_reader_t *rd)
{
    if (rd->pgfd >= 0) {
        (void) epoll_ctl(rd->epfd, EPOLL_CTL_DEL, rd->pgfd, NULL);
        rd->pgfd = -1;
    }

    vbp_db_close(&rd->db);
}


/* queued in libpq; the round's Sync (vbp_pg_flush) sends it */
static int
vbp_pg_send(vbp_reader_t *rd, vbp_rcall_t *r)
{
    int  i;

    for (i = 0; i < r->params.n; i++) {
        r->params.values[i] = r->params.text[i];
    }

    if (PQsendQueryPrepared(rd->db.conn, r->op->read->stmt, r->params.n,
                            r->params.values, NULL, NULL, 0) != 1)
    {
        vbp_log("statement \"%s\" not sent: %s", r->op->read->stmt,
                PQerrorMessage(rd->db.conn));
        return -1;
    }

    rd->unsynced++;

    return 0;
}


static void
vbp_pg_flush(vbp_reader_t *rd)
{
    int                  rc, want;
    struct epoll_event   ev;

    if (rd->pgfd < 0) {
        return;
    }

    if (rd->unsynced) {
        if (PQpipelineSync(rd->db.conn) != 1) {
            vbp_pg_broken(rd);
            return;
        }

        rd->unsynced = 0;
        rd->syncs++;
    }

    if (rd->syncs == 0) {
        return;
    }

    rc = PQflush(rd->db.conn);

    if (rc < 0) {
        vbp_pg_broken(rd);
        return;
    }

    want = rc == 1;

    if (want != rd->pg_out) {
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
        ev.data.ptr = &vbp_pg_tag;

        if (epoll_ctl(rd->epfd, EPOLL_CTL_MOD, rd->pgfd, &ev) != 0) {
            vbp_pg_broken(rd);
            return;
        }

        rd->pg_out = want;
    }
}


/*
 * results come in the order the statements went: each statement's rows,
 * then NULL; after the last of a round, the Sync
 */
static void
vbp_pg_input(vbp_reader_t *rd)
{
    PGconn       *conn;
    PGresult     *res;
    vbp_rcall_t  *r;

    conn = rd->db.conn;

    if (PQconsumeInput(conn) != 1) {
        vbp_pg_broken(rd);
        return;
    }

    /* an answer may lose or remake the connection: then the loop ends */
    while ((rd->count > 0 || rd->syncs > 0) && rd->pgfd >= 0
           && rd->db.conn == conn && !PQisBusy(conn))
    {
        res = PQgetResult(conn);
        r = rd->count > 0 ? &rd->ring[rd->head] : NULL;

        if (res == NULL) {
            if (r == NULL || !r->done) {
                break;          /* nothing more yet */
            }

            vbp_pg_complete(rd);
            continue;
        }

        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            rd->syncs--;
            continue;
        }

        if (r == NULL || r->done) {
            PQclear(res);       /* a second result of one statement */
            continue;
        }

        r->res = res;
        r->done = 1;
    }

    if (rd->pgfd >= 0 && rd->db.conn == conn
        && PQstatus(conn) != CONNECTION_OK)
    {
        vbp_pg_broken(rd);
    }
}


/* the call at the head of the ring has its result: answer it */
static void
vbp_pg_complete(vbp_reader_t *rd)
{
    int              ok;
    vbp_rcall_t     *r, *tail;
    vbp_rconn_t     *c;
    ExecStatusType   st;

    r = &rd->ring[rd->head];
    rd->head = (rd->head + 1) % READER_CONNS_MAX;
    rd->count--;

    st = PQresultStatus(r->res);

    /* aborted by a failing statement before it in its round: again */
    if (st == PGRES_PIPELINE_ABORTED && r->tries < 2) {
        PQclear(r->res);
        r->res = NULL;
        r->done = 0;
        r->tries++;

        tail = &rd->ring[(rd->head + rd->count) % READER_CONNS_MAX];
        if (tail != r) {
            *tail = *r;
        }

        rd->count++;

        if (vbp_pg_send(rd, tail) != 0) {
            vbp_pg_broken(rd);
        }

        return;
    }

    ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;

    if (ok) {
        ok = r->op->read->answer(&r->call, r->res) == 0;

    } else {
        vbp_log("statement \"%s\" failed: %s", r->op->read->stmt,
                PQresultErrorMessage(r->res));
    }

    if (!ok) {
        vbp_call_reset(&r->call);
        vbp_fail(&r->call, 500, "internal", "系统内部错误，请稍后再试");
    }

    PQclear(r->res);
    r->res = NULL;

    c = r->conn;
    vbp_conn_answer(rd, c, &r->call);
    vbp_conn_serve(rd, c);
}


/*
 * the connection is lost: the reads in flight are sent once more on a new
 * one; when there is none, or they were sent again already, they get 503
 */
static void
vbp_pg_broken(vbp_reader_t *rd)
{
    int           i, again;
    vbp_rcall_t  *r;

    vbp_log("database connection lost: %s",
            rd->db.conn ? PQerrorMessage(rd->db.conn) : "");

    vbp_pg_drop(rd);

    again = 1;

    for (i = 0; i < rd->count; i++) {
        r = &rd->ring[(rd->head + i) % READER_CONNS_MAX];
        PQclear(r->res);
        r->res = NULL;
        r->done = 0;
        again = again && r->tries < 2;
    }

    if (rd->count == 0) {
        return;
    }

    if (again && vbp_pg_ready(rd) == 0) {
        for (i = 0; i < rd->count; i++) {
            r = &rd->ring[(rd->head + i) % READER_CONNS_MAX];
            r->tries = 2;

            if (vbp_pg_send(rd, r) != 0) {
                break;
            }
        }

        if (i == rd->count) {
            return;
        }

        vbp_pg_drop(rd);
    }

    vbp_ring_fail_all(rd);
}


static void
vbp_ring_fail_all(vbp_reader_t *rd)
{
    vbp_rcall_t  *r;

    rd->unsynced = 0;
    rd->syncs = 0;

    while (rd->count > 0) {
        r = &rd->ring[rd->head];
        rd->head = (rd->head + 1) % READER_CONNS_MAX;
        rd->count--;

        PQclear(r->res);
        r->res = NULL;

        vbp_call_reset(&r->call);
        vbp_fail(&r->call, 503, "unavailable", "数据库暂时不可用，请稍后再试");
        vbp_conn_answer(rd, r->conn, &r->call);
    }
}


/* every call in flight answered, before the connection is used plainly */
static void
vbp_pg_drain(vbp_reader_t *rd)
{
    struct pollfd  pfd;

    while ((rd->count > 0 || rd->syncs > 0) && rd->pgfd >= 0) {
        vbp_pg_flush(rd);

        if (rd->pgfd < 0) {
            break;
        }

        pfd.fd = rd->pgfd;
        pfd.events = POLLIN | (rd->pg_out ? POLLOUT : 0);

        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR) {
            break;
        }

        if (pfd.revents & POLLOUT) {
            vbp_pg_flush(rd);
        }

        if (rd->pgfd >= 0 && (pfd.revents & (POLLIN|POLLERR|POLLHUP))) {
            vbp_pg_input(rd);
        }
    }

    vbp_ring_fail_all(rd);
}
