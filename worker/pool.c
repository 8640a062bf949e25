/*
 * The process model, after nginx's own: the master binds the socket,
 * pre-forks the children, and then only waits in sigsuspend() for signals,
 * whose handlers just set flags.  A child that dies is replaced; SIGHUP
 * replaces them all (each finishes its request first); SIGTERM or SIGINT
 * stops the pool the same graceful way.
 *
 * Children accept on the shared socket and serve one connection at a time
 * until it closes or idles out, so a busy child never holds back a request
 * that an idle child could take: the idle one is the one that accepts.
 * Read children (-R, reader.c) accept on a second socket and serve many
 * connections at once, for the pipelined reads routed to them.  Hash
 * children (-a) are transaction children on a third socket, at the lowest
 * priority, for the operations that hash a password (argon2id, 64 MiB):
 * their number bounds how many hashes run at once, and a sign-in storm
 * waits in their socket's queue instead of taking the children that serve
 * saves and reviews.
 *
 * A child dies with its master: it is sent SIGTERM when the master goes
 * (PR_SET_PDEATHSIG), finishes the request it serves and exits.  Every
 * child holds the master's lock file (flock, inherited), so a new master
 * waits for the children of an old one to be gone before it starts: two
 * pools never serve side by side.
 */

#define _GNU_SOURCE            /* accept4() */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vbp.h"


#define MAX_CHILDREN   256
#define STOP_TIMEOUT   30
#define LOCK_TIMEOUT   90       /* seconds to wait for an old pool's end */


typedef enum {
    VBP_CHILD_TRANSACT = 0,
    VBP_CHILD_READER,
    VBP_CHILD_HASHER
} vbp_child_kind_t;


volatile int                  vbp_quit;
static volatile sig_atomic_t  vbp_reap;
static volatile sig_atomic_t  vbp_reload;

static pid_t                  vbp_master;

static struct {
    pid_t             pid;
    time_t            started;
    int               fd;       /* the socket it accepts on */
    vbp_child_kind_t  kind;
} vbp_children[MAX_CHILDREN];


static int vbp_lock(const char *pidfile, const char *unix_path);
static int vbp_listen(const char *addr, char *unix_path, size_t len);
static pid_t vbp_spawn(int fd, vbp_child_kind_t kind);
static void vbp_child(int fd, vbp_child_kind_t kind);
static void vbp_serve(int c, vbp_db_t *db);
static unsigned char *vbp_handle(json_t *frame, json_t *actor, vbp_db_t *db,
    size_t *len);
static void vbp_on_signal(int signo);
static void vbp_stop_children(int nchildren);


int
vbp_pool_run(vbp_pool_conf_t *pc)
{
    int               fd, rfd, hfd, i, nchildren, status, lock;
    char              unix_path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    char              reader_path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    char              hasher_path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    pid_t             pid;
    FILE             *f;
    sigset_t          set, none;
    const char       *pidfile;

    pidfile = pc->pidfile;

    if (pc->reader_addr == NULL) {
        pc->readers = 0;
    }

    if (pc->hasher_addr == NULL) {
        pc->hashers = 0;
    }

    nchildren = pc->children + pc->readers + pc->hashers;

    if (pc->children < 1 || nchildren > MAX_CHILDREN) {
        vbp_log("children must be 1..%d in all", MAX_CHILDREN);
        return 1;
    }

    unix_path[0] = '\0';
    reader_path[0] = '\0';
    hasher_path[0] = '\0';

    /* before any socket is touched: an old pool may still serve on it */
    if (strncmp(pc->listen_addr, "unix:", 5) == 0) {
        snprintf(unix_path, sizeof(unix_path), "%s", pc->listen_addr + 5);
    } else if (pc->listen_addr[0] == '/') {
        snprintf(unix_path, sizeof(unix_path), "%s", pc->listen_addr);
    }

    lock = vbp_lock(pidfile, unix_path);
    if (lock == -2) {
        return 1;
    }

    unix_path[0] = '\0';

    fd = vbp_listen(pc->listen_addr, unix_path, sizeof(unix_path));
    if (fd < 0) {
        return 1;
    }

    rfd = -1;
    hfd = -1;

    if (pc->readers) {
        rfd = vbp_listen(pc->reader_addr, reader_path, sizeof(reader_path));
        if (rfd < 0) {
            return 1;
        }
    }

    if (pc->hashers) {
        hfd = vbp_listen(pc->hasher_addr, hasher_path, sizeof(hasher_path));
        if (hfd < 0) {
            return 1;
        }
    }

    if (pidfile) {
        f = fopen(pidfile, "w");
        if (f == NULL || fprintf(f, "%d\n", (int) getpid()) < 0
            || fclose(f) != 0)
        {
            vbp_log("cannot write %s: %s", pidfile, strerror(errno));
            return 1;
        }
    }

    if (vbp_signals(0) != 0) {
        return 1;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);

    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        return 1;
    }

    sigemptyset(&none);

    vbp_master = getpid();

    for (i = 0; i < nchildren; i++) {
        if (i < pc->children) {
            vbp_children[i].kind = VBP_CHILD_TRANSACT;
            vbp_children[i].fd = fd;

        } else if (i < pc->children + pc->readers) {
            vbp_children[i].kind = VBP_CHILD_READER;
            vbp_children[i].fd = rfd;

        } else {
            vbp_children[i].kind = VBP_CHILD_HASHER;
            vbp_children[i].fd = hfd;
        }

        vbp_children[i].pid = vbp_spawn(vbp_children[i].fd,
                                        vbp_children[i].kind);
        vbp_children[i].started = time(NULL);
    }

    vbp_log("listening on %s with %d children", pc->listen_addr,
            pc->children);

    if (pc->readers) {
        vbp_log("reads on %s with %d children", pc->reader_addr,
                pc->readers);
    }

    if (pc->hashers) {
        vbp_log("password hashing on %s with %d children", pc->hasher_addr,
                pc->hashers);
    }

    while (!vbp_quit) {
        sigsuspend(&none);

        if (vbp_reload) {
            vbp_reload = 0;
            vbp_log("reload: replacing the children");

            for (i = 0; i < nchildren; i++) {
                if (vbp_children[i].pid > 0) {
                    kill(vbp_children[i].pid, SIGTERM);
                }
            }
        }

        if (!vbp_reap) {
            continue;
        }

        vbp_reap = 0;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (i = 0; i < nchildren; i++) {
                if (vbp_children[i].pid != pid) {
                    continue;
                }

                if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM) {
                    vbp_log("child %d killed by signal %d", (int) pid,
                            WTERMSIG(status));
                }

                if (vbp_quit) {
                    vbp_children[i].pid = 0;
                    break;
                }

                /* a child that keeps dying at once is not respawned in a loop */
                if (time(NULL) - vbp_children[i].started < 1) {
                    sleep(1);
                }

                vbp_children[i].pid = vbp_spawn(vbp_children[i].fd,
                                                vbp_children[i].kind);
                vbp_children[i].started = time(NULL);
                break;
            }
        }
    }

    vbp_log("stopping");
    vbp_stop_children(nchildren);

    close(fd);

    if (rfd >= 0) {
        close(rfd);
    }

    if (hfd >= 0) {
        close(hfd);
    }

    if (unix_path[0]) {
        unlink(unix_path);
    }

    if (reader_path[0]) {
        unlink(reader_path);
    }

    if (hasher_path[0]) {
        unlink(hasher_path);
    }

    if (lock >= 0) {
        close(lock);
    }

    if (pidfile) {
        unlink(pidfile);
    }

    return 0;
}


static void
vbp_stop_children(int nchildren)
{
    int     i, alive, status;
    pid_t   pid;
    time_t  deadline;

    for (i = 0; i < nchildren; i++) {
        if (vbp_children[i].pid > 0) {
            kill(vbp_children[i].pid, SIGTERM);
        }
    }

    deadline = time(NULL) + STOP_TIMEOUT;

    for ( ;; ) {
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (i = 0; i < nchildren; i++) {
                if (vbp_children[i].pid == pid) {
                    vbp_children[i].pid = 0;
                }
            }
        }

        for (alive = 0, i = 0; i < nchildren; i++) {
            alive += vbp_children[i].pid > 0;
        }

        if (alive == 0) {
            return;
        }

        if (time(NULL) >= deadline) {
            for (i = 0; i < nchildren; i++) {
                if (vbp_children[i].pid > 0) {
                    vbp_log("child %d did not stop, killing it",
                            (int) vbp_children[i].pid);
                    kill(vbp_children[i].pid, SIGKILL);
                }
            }

            deadline = time(NULL) + STOP_TIMEOUT;
        }

        usleep(20000);
    }
}


/* "unix:/path", "/path" or "host:port" */
static int
vbp_listen(const char *addr, char *unix_path, size_t len)
{
    int                 fd, one, rc;
    char                host[256], *colon;
    struct addrinfo     hints, *ai;
    struct sockaddr_un  sun;

    if (strncmp(addr, "unix:", 5) == 0 || addr[0] == '/') {
        if (strncmp(addr, "unix:", 5) == 0) {
            addr += 5;
        }

        if (strlen(addr) >= sizeof(sun.sun_path) || strlen(addr) >= len) {
            vbp_log("socket path too long: %s", addr);
            return -1;
        }

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        strcpy(sun.sun_path, addr);
        strcpy(unix_path, addr);

        (void) unlink(addr);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0
            /* nginx's workers run as another user */
            || chmod(addr, 0666) != 0)
        {
            vbp_log("cannot bind %s: %s", addr, strerror(errno));
            return -1;
        }

    } else {
        if (strlen(addr) >= sizeof(host)) {
            return -1;
        }

        strcpy(host, addr);
        colon = strrchr(host, ':');
        if (colon == NULL) {
            vbp_log("listen address needs a port: %s", addr);
            return -1;
        }

        *colon = '\0';

        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;

        rc = getaddrinfo(host, colon + 1, &hints, &ai);
        if (rc != 0) {
            vbp_log("bad listen address %s: %s", addr, gai_strerror(rc));
            return -1;
        }

        one = 1;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0
            || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))
            || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        {
            vbp_log("cannot bind %s: %s", addr, strerror(errno));
            freeaddrinfo(ai);
            return -1;
        }

        freeaddrinfo(ai);
    }

    /* non-blocking: children poll it and race for accept() */
    /*
     * the kernel caps the queue at net.core.somaxconn (4096 by default);
     * nginx's waiting room (vbp_worker_concurrency) keeps what it connects
     * well below that, and the hash children's sign-ins wait here
     */
    if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || listen(fd, SOMAXCONN) != 0) {
        vbp_log("cannot listen on %s: %s", addr, strerror(errno));
        return -1;
    }

    return fd;
}


/*
 * the lock every process of a pool holds: the master takes it, children
 * inherit it.  Returns its descriptor, -1 when there is no file to lock
 * (TCP without -p), -2 when an old pool did not end in time.
 */
static int
vbp_lock(const char *pidfile, const char *unix_path)
{
    int     fd, waited;
    char    path[PATH_MAX];

    if (pidfile) {
        snprintf(path, sizeof(path), "%s.lock", pidfile);
    } else if (unix_path[0]) {
        snprintf(path, sizeof(path), "%s.lock", unix_path);
    } else {
        vbp_log("no -p and no unix socket: nothing guards against a second"
                " pool on this address");
        return -1;
    }

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        vbp_log("cannot open %s: %s", path, strerror(errno));
        return -2;
    }

    for (waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited++) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            vbp_log("cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return -2;
        }

        if (waited == 0) {
            vbp_log("children of an earlier pool still run (%s is held):"
                    " waiting for them to finish", path);
        }

        if (waited >= LOCK_TIMEOUT * 10) {
            vbp_log("the earlier pool did not end in %d s: not starting",
                    LOCK_TIMEOUT);
            close(fd);
            return -2;
        }

        usleep(100000);
    }

    return fd;
}


static pid_t
vbp_spawn(int fd, vbp_child_kind_t kind)
{
    pid_t  pid;

    pid = fork();

    if (pid < 0) {
        vbp_log("fork failed: %s", strerror(errno));
        return 0;
    }

    if (pid == 0) {
        /* the master's death is a SIGTERM: finish the request, then go */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0
            || getppid() != vbp_master)
        {
            _exit(0);
        }

        if (kind == VBP_CHILD_READER) {
            vbp_reader(fd);

        } else {
            vbp_child(fd, kind);
        }

        _exit(0);
    }

    return pid;
}


static void
vbp_child(int fd, vbp_child_kind_t kind)
{
    int                  c;
    sigset_t             none;
    vbp_db_t             db;
    struct pollfd        pfd;
    struct sched_param   sp;

    vbp_quit = 0;

    /* ps and pgrep tell the kinds of children apart */
    (void) prctl(PR_SET_NAME, kind == VBP_CHILD_HASHER ? "vbp-hasher"
                                                       : "vbp-worker",
                 0, 0, 0);

    /*
     * a hash is all CPU and memory bandwidth: the hash children run only
     * on what the rest leaves (SCHED_IDLE: any other task that wakes takes
     * the core at once), so a sign-in storm slows sign-ins, not saves.
     * make bench measures it (nice 10 with SCHED_BATCH let the saves' p99
     * almost triple under a storm; SCHED_IDLE keeps it under double).
     */
    if (kind == VBP_CHILD_HASHER) {
        memset(&sp, 0, sizeof(sp));

        if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0) {
            vbp_log("hash child: cannot lower its priority: %s",
                    strerror(errno));
        }
    }

    if (vbp_signals(1) != 0) {
        _exit(1);
    }

    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);

    memset(&db, 0, sizeof(db));
    db.conninfo = vbp_config.conninfo;
    db.broken = 1;

    /* a database that is down now is tried again by the first request */
    (void) vbp_db_connect(&db);

    pfd.fd = fd;
    pfd.events = POLLIN;

    /* a call's JSON goes at once when it has been answered (jpool.c) */
    (void) vbp_jpool_enable(1);

    while (!vbp_quit) {
        if (poll(&pfd, 1, 1000) <= 0) {
            continue;
        }

        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            continue;
        }

        vbp_serve(c, &db);
        close(c);
        vbp_jpool_reset();
    }

    vbp_db_close(&db);
    vbp_sessions_close();
    vbp_frame_cleanup();
}


static void
vbp_serve(int c, vbp_db_t *db)
{
    int             rc;
    size_t          len;
    json_t         *frame, *actor;
    vbp_call_t      call;
    unsigned char  *out;

    while (!vbp_quit) {
        rc = vbp_frame_read(c, vbp_config.frame_max, vbp_config.idle_timeout,
                            &frame, &actor);
        if (rc == 0) {
            return;
        }

        if (rc < 0) {
            vbp_call_bad_frame(&call);
            out = vbp_call_encode(&call, &len);
            vbp_call_end(&call);
            vbp_jpool_reset();

            if (out) {
                (void) vbp_frame_send(c, out, len);
                free(out);
            }

            return;
        }

        out = vbp_handle(frame, actor, db, &len);

        if (out == NULL) {
            return;
        }

        rc = vbp_frame_send(c, out, len);
        free(out);

        if (rc != 0) {
            return;
        }
    }
}


static unsigned char *
vbp_handle(json_t *frame, json_t *actor, vbp_db_t *db, size_t *len)
{
    vbp_call_t      call;
    unsigned char  *out;

    vbp_call_init(&call, frame, actor);
    vbp_call_run(&call, db);

    out = vbp_call_encode(&call, len);
    vbp_call_end(&call);
    vbp_jpool_reset();

    return out;
}


static void
vbp_on_signal(int signo)
{
    switch (signo) {
    case SIGCHLD:
        vbp_reap = 1;
        break;
    case SIGHUP:
        vbp_reload = 1;
        break;
    default:
        vbp_quit = 1;
    }
}


/* no SA_RESTART: a signal must interrupt poll(), epoll_wait(), accept() */
int
vbp_signals(int child)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vbp_on_signal;
    sigemptyset(&sa.sa_mask);

    if (sigaction(SIGTERM, &sa, NULL) != 0
        || sigaction(SIGINT, &sa, NULL) != 0)
    {
        return -1;
    }

    if (!child) {
        if (sigaction(SIGCHLD, &sa, NULL) != 0
            || sigaction(SIGHUP, &sa, NULL) != 0)
        {
            return -1;
        }

        return 0;
    }

    sa.sa_handler = SIG_DFL;
    if (sigaction(SIGCHLD, &sa, NULL) != 0) {
        return -1;
    }

    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGHUP, &sa, NULL) != 0
        || sigaction(SIGPIPE, &sa, NULL) != 0)
    {
        return -1;
    }

    return 0;
}
