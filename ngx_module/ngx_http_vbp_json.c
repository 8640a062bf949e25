
/*
 * jansson's memory in nginx: a page's from its request's pool.
 *
 * A page is the worker's answer parsed (json_loadb) and rendered through
 * its template: for a 50-line filing page, some 18 KB of JSON and 2,000
 * objects, each malloc()ed and then freed one by one when the request's
 * cleanup lets go of the answer -- a seventh of nginx's time for the page
 * in malloc, free and glibc's consolidation.  While the answer is parsed
 * and rendered (a window, ngx_http_vbp_json_pool()), what jansson
 * allocates is carved in order from 64 KB chunks that go back when the
 * request's pool goes (a process keeps four for the next page: a chunk
 * malloc()ed afresh each time was the kernel's page faults, and the pool's
 * own 4 KB blocks were a walk per allocation); a free of it does nothing.
 *
 * Every block jansson gets carries a header saying where it came from:
 * objects made outside that window (the session and its cache, a form's
 * arguments) are malloc()ed and freed whenever they go, even while a page
 * is being parsed.  Nothing made in the window may be kept past the
 * request: the answer is released by a cleanup of the same pool
 * (ngx_http_vbp_pool_json), which runs before the pool's memory goes.
 * Large blocks (a long string, a big object's table) and what a request
 * carves past NGX_HTTP_VBP_JSON_MAX are malloc()ed as outside it.
 *
 * Under valgrind the window stays shut: memcheck sees every object.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <valgrind/valgrind.h>

#include "ngx_http_vbp_module.h"


#define NGX_HTTP_VBP_JSON_CHUNK  (64 * 1024)        /* carved in order */
#define NGX_HTTP_VBP_JSON_KEEP   4                  /* chunks a process
                                                       keeps between pages:
                                                       a filing page takes
                                                       three or four */
#define NGX_HTTP_VBP_JSON_LARGE  2048               /* bytes, one block */
#define NGX_HTTP_VBP_JSON_MAX    (8 * 1024 * 1024)  /* a window carves */


typedef struct ngx_http_vbp_json_chunk_s  ngx_http_vbp_json_chunk_t;

struct ngx_http_vbp_json_chunk_s {
    ngx_http_vbp_json_chunk_t  *next;
    size_t                      used;
    uint64_t                    data[];         /* carved from here */
};


/* a request's window: its chunks go back when its pool goes */
typedef struct {
    ngx_http_vbp_json_chunk_t  *first;
    size_t                      carved;
} ngx_http_vbp_json_window_t;


/* before each block jansson gets: 16 bytes, so malloc's alignment holds */
typedef struct {
    uint32_t   from;
    uint32_t   pad[3];
} ngx_http_vbp_json_head_t;


enum {
    NGX_HTTP_VBP_JSON_HEAP = 0x48454150,            /* "HEAP" */
    NGX_HTTP_VBP_JSON_POOL = 0x504f4f4c             /* "POOL" */
};


static void ngx_http_vbp_json_cleanup(void *data);
static void *ngx_http_vbp_json_malloc(size_t size);
static void ngx_http_vbp_json_free(void *p);


static ngx_http_vbp_json_window_t  *ngx_http_vbp_json_current;
static ngx_http_vbp_json_chunk_t   *ngx_http_vbp_json_kept;
static ngx_uint_t                   ngx_http_vbp_json_nkept;


/* before jansson allocates anything: every block then has its header */
void
ngx_http_vbp_json_init(void)
{
    json_set_alloc_funcs(ngx_http_vbp_json_malloc, ngx_http_vbp_json_free);
}


/*
 * opens a window: what jansson allocates from now on goes with the pool
 * (NULL: it lives until freed).  Returns the window it replaces, for
 * ngx_http_vbp_json_restore().
 */
void *
ngx_http_vbp_json_pool(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_vbp_json_window_t  *was, *w;

    was = ngx_http_vbp_json_current;
    ngx_http_vbp_json_current = NULL;

    if (pool == NULL || RUNNING_ON_VALGRIND) {
        return was;
    }

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_http_vbp_json_window_t));
    if (cln == NULL) {
        return was;                             /* malloc() it is */
    }

    w = cln->data;
    w->first = NULL;
    w->carved = 0;

    /* registered before the answer's own cleanup, it runs after it */
    cln->handler = ngx_http_vbp_json_cleanup;
    ngx_http_vbp_json_current = w;

    return was;
}


void
ngx_http_vbp_json_restore(void *was)
{
    ngx_http_vbp_json_current = was;
}


/* what jansson's json_dumps() returned */
void
ngx_http_vbp_json_release(void *p)
{
    ngx_http_vbp_json_free(p);
}


/* the pool goes: its window's chunks are kept for the next, or freed */
static void
ngx_http_vbp_json_cleanup(void *data)
{
    ngx_http_vbp_json_window_t  *w = data;

    ngx_http_vbp_json_chunk_t  *c, *next;

    if (ngx_http_vbp_json_current == w) {
        ngx_http_vbp_json_current = NULL;
    }

    for (c = w->first; c; c = next) {
        next = c->next;

        if (ngx_http_vbp_json_nkept < NGX_HTTP_VBP_JSON_KEEP) {
            c->next = ngx_http_vbp_json_kept;
            ngx_http_vbp_json_kept = c;
            ngx_http_vbp_json_nkept++;

        } else {
            free(c);
        }
    }

    w->first = NULL;
}


static void *
ngx_http_vbp_json_malloc(size_t size)
{
    size_t                       need;
    ngx_http_vbp_json_head_t    *h;
    ngx_http_vbp_json_chunk_t   *c;
    ngx_http_vbp_json_window_t  *w;

    if (size > NGX_HTTP_VBP_JSON_LARGE) {
        w = NULL;

    } else {
        w = ngx_http_vbp_json_current;
    }

    /* 16 bytes a block, header included */
    need = (sizeof(ngx_http_vbp_json_head_t) + size + 15) & ~(size_t) 15;

    if (w == NULL || w->carved + need > NGX_HTTP_VBP_JSON_MAX) {
        if (size > NGX_MAX_SIZE_T_VALUE - sizeof(ngx_http_vbp_json_head_t)) {
            return NULL;
        }

        h = malloc(sizeof(ngx_http_vbp_json_head_t) + size);
        if (h == NULL) {
            return NULL;
        }

        h->from = NGX_HTTP_VBP_JSON_HEAP;
        return h + 1;
    }

    c = w->first;

    if (c == NULL
        || NGX_HTTP_VBP_JSON_CHUNK - sizeof(ngx_http_vbp_json_chunk_t)
           - c->used < need)
    {
        c = ngx_http_vbp_json_kept;

        if (c) {
            ngx_http_vbp_json_kept = c->next;
            ngx_http_vbp_json_nkept--;

        } else {
            c = malloc(NGX_HTTP_VBP_JSON_CHUNK);
            if (c == NULL) {
                return NULL;
            }
        }

        /* the chunk carved from is the first */
        c->used = 0;
        c->next = w->first;
        w->first = c;
    }

    h = (ngx_http_vbp_json_head_t *) ((u_char *) c->data + c->used);
    c->used += need;
    w->carved += need;

    h->from = NGX_HTTP_VBP_JSON_POOL;

    return h + 1;
}


static void
ngx_http_vbp_json_free(void *p)
{
    ngx_http_vbp_json_head_t  *h;

    if (p == NULL) {
        return;
    }

    h = (ngx_http_vbp_json_head_t *) p - 1;

    if (h->from == NGX_HTTP_VBP_JSON_HEAP) {
        free(h);
    }
}
