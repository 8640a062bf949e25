
/*
 * Copyright (C) the VBP platform developers
 *
 * Sessions kept in each nginx worker process, so that most requests need
 * no trip to Redis: an entry is the session as Redis holds it and its
 * parsed object, kept until Redis says the key changed.  Redis's
 * client-side caching says so (ngx_http_vbp_redis.c): the command
 * connection reads sessions with CLIENT TRACKING on, and every change of a
 * key this process read (sign-out, revocation, expiry, a touch by another
 * process) arrives on a second connection and drops the entry here.  While
 * that is not set up (Redis older than 6, or away), nothing is cached.
 *
 * The idle timeout still slides: a hit finds its entry touched within
 * the last vbp_session_timeout / 30 (at most a minute), or it sends EXPIRE
 * without waiting for it; an entry is never used longer than the timeout
 * after its last touch.  The least recently used entry makes room.
 */


#include "ngx_http_vbp_module.h"


struct ngx_http_vbp_scache_entry_s {
    ngx_rbtree_node_t           node;           /* key: crc32 of the id */
    ngx_queue_t                 lru;
    u_char                      sid[NGX_HTTP_VBP_SID_LEN];
    ngx_str_t                   raw;
    json_t                     *json;
    time_t                      touched;
};


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;            /* most recent first */
    ngx_uint_t                  count;
    ngx_uint_t                  max;
    time_t                      timeout;
    time_t                      touch;
    ngx_uint_t                  epoch;
    ngx_log_t                  *log;
} ngx_http_vbp_scache_t;


static void ngx_http_vbp_scache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_vbp_scache_entry_t *ngx_http_vbp_scache_lookup(u_char *sid);
static void ngx_http_vbp_scache_remove(ngx_http_vbp_scache_entry_t *e);


static ngx_http_vbp_scache_t  ngx_http_vbp_scache;


void
ngx_http_vbp_scache_init(ngx_cycle_t *cycle, ngx_uint_t max, time_t timeout)
{
    ngx_http_vbp_scache_t  *sc = &ngx_http_vbp_scache;

    ngx_rbtree_init(&sc->rbtree, &sc->sentinel, ngx_http_vbp_scache_insert);
    ngx_queue_init(&sc->lru);

    sc->count = 0;
    sc->max = max;
    sc->timeout = timeout;
    sc->touch = ngx_min(timeout / 30, 60);
    sc->log = cycle->log;
}


ngx_uint_t
ngx_http_vbp_scache_enabled(void)
{
    return ngx_http_vbp_scache.max > 0;
}


/* the cache's generation: a fetch started in an older one is not kept */
ngx_uint_t
ngx_http_vbp_scache_epoch(void)
{
    return ngx_http_vbp_scache.epoch;
}


/*
 * the live entry of a session id, or NULL; *touch is set when the idle
 * timeout in Redis is due to be pushed forward
 */
ngx_http_vbp_scache_entry_t *
ngx_http_vbp_scache_find(ngx_str_t *sid, ngx_uint_t *touch)
{
    time_t                        now;
    ngx_http_vbp_scache_t        *sc = &ngx_http_vbp_scache;
    ngx_http_vbp_scache_entry_t  *e;

    *touch = 0;

    if (sc->count == 0 || sid->len != NGX_HTTP_VBP_SID_LEN) {
        return NULL;
    }

    e = ngx_http_vbp_scache_lookup(sid->data);
    if (e == NULL) {
        return NULL;
    }

    now = ngx_time();

    if (now - e->touched >= sc->timeout) {
        ngx_http_vbp_scache_remove(e);
        return NULL;
    }

    if (now - e->touched >= sc->touch) {
        e->touched = now;
        *touch = 1;
    }

    ngx_queue_remove(&e->lru);
    ngx_queue_insert_head(&sc->lru, &e->lru);

    return e;
}


ngx_str_t *
ngx_http_vbp_scache_raw(ngx_http_vbp_scache_entry_t *e)
{
    return &e->raw;
}


json_t *
ngx_http_vbp_scache_json(ngx_http_vbp_scache_entry_t *e)
{
    return e->json;
}


/*
 * a session just read from Redis is kept, if nothing changed since the
 * read began; pttl, its time to live in ms, tells when it was last
 * touched.  Returns 1 when the caller is to touch it now.
 */
ngx_uint_t
ngx_http_vbp_scache_put(ngx_str_t *sid, ngx_str_t *raw, json_t *json,
    ngx_uint_t epoch, long long pttl)
{
    time_t                        left, now, touched;
    ngx_uint_t                    touch;
    ngx_queue_t                  *q;
    ngx_http_vbp_scache_t        *sc = &ngx_http_vbp_scache;
    ngx_http_vbp_scache_entry_t  *e;

    now = ngx_time();

    left = (pttl < 0) ? sc->timeout : (time_t) (pttl / 1000);
    left = ngx_min(left, sc->timeout);
    touched = now - (sc->timeout - left);

    touch = now - touched >= sc->touch;

    if (touch) {
        touched = now;
    }

    if (sc->max == 0 || epoch != sc->epoch
        || sid->len != NGX_HTTP_VBP_SID_LEN || json == NULL)
    {
        return touch;
    }

    e = ngx_http_vbp_scache_lookup(sid->data);
    if (e) {
        ngx_http_vbp_scache_remove(e);
    }

    if (sc->count >= sc->max) {
        q = ngx_queue_last(&sc->lru);
        ngx_http_vbp_scache_remove(ngx_queue_data(q,
                                                  ngx_http_vbp_scache_entry_t,
                                                  lru));
    }

    e = ngx_alloc(sizeof(ngx_http_vbp_scache_entry_t) + raw->len, sc->log);
    if (e == NULL) {
        return touch;
    }

    ngx_memcpy(e->sid, sid->data, NGX_HTTP_VBP_SID_LEN);
    e->raw.data = (u_char *) (e + 1);
    e->raw.len = raw->len;
    ngx_memcpy(e->raw.data, raw->data, raw->len);
    e->json = json_incref(json);
    e->touched = touched;

    e->node.key = ngx_crc32_short(e->sid, NGX_HTTP_VBP_SID_LEN);
    ngx_rbtree_insert(&sc->rbtree, &e->node);
    ngx_queue_insert_head(&sc->lru, &e->lru);

    sc->count++;

    return touch;
}


/* Redis says a key changed: "vbp:sess:<id>" drops that session */
void
ngx_http_vbp_scache_invalidate(u_char *key, size_t len)
{
    ngx_http_vbp_scache_entry_t  *e;

    ngx_http_vbp_scache.epoch++;

    if (len != sizeof("vbp:sess:") - 1 + NGX_HTTP_VBP_SID_LEN
        || ngx_strncmp(key, "vbp:sess:", sizeof("vbp:sess:") - 1) != 0)
    {
        return;
    }

    e = ngx_http_vbp_scache_lookup(key + sizeof("vbp:sess:") - 1);
    if (e) {
        ngx_http_vbp_scache_remove(e);
    }
}


/* a touch read the session back: keep the entry only if it is the same */
void
ngx_http_vbp_scache_confirm(u_char *sid, u_char *raw, size_t len)
{
    ngx_http_vbp_scache_entry_t  *e;

    e = ngx_http_vbp_scache_lookup(sid);

    if (e && (raw == NULL || e->raw.len != len
              || ngx_memcmp(e->raw.data, raw, len) != 0))
    {
        ngx_http_vbp_scache_remove(e);
    }
}


/* no word from Redis can be trusted to come: forget everything */
void
ngx_http_vbp_scache_flush(void)
{
    ngx_queue_t            *q;
    ngx_http_vbp_scache_t  *sc = &ngx_http_vbp_scache;

    sc->epoch++;

    while (!ngx_queue_empty(&sc->lru)) {
        q = ngx_queue_head(&sc->lru);
        ngx_http_vbp_scache_remove(ngx_queue_data(q,
                                                  ngx_http_vbp_scache_entry_t,
                                                  lru));
    }
}


/* ordered by the hash, then by the id itself, as limit_req orders keys */
static void
ngx_http_vbp_scache_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_memcmp(((ngx_http_vbp_scache_entry_t *) node)->sid,
                            ((ngx_http_vbp_scache_entry_t *) temp)->sid,
                            NGX_HTTP_VBP_SID_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_vbp_scache_entry_t *
ngx_http_vbp_scache_lookup(u_char *sid)
{
    ngx_int_t                     rc;
    uint32_t                      hash;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_vbp_scache_entry_t  *e;

    hash = ngx_crc32_short(sid, NGX_HTTP_VBP_SID_LEN);

    node = ngx_http_vbp_scache.rbtree.root;
    sentinel = ngx_http_vbp_scache.rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        e = (ngx_http_vbp_scache_entry_t *) node;
        rc = ngx_memcmp(sid, e->sid, NGX_HTTP_VBP_SID_LEN);

        if (rc == 0) {
            return e;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* requests that took the parsed session keep their own reference */
static void
ngx_http_vbp_scache_remove(ngx_http_vbp_scache_entry_t *e)
{
    ngx_rbtree_delete(&ngx_http_vbp_scache.rbtree, &e->node);
    ngx_queue_remove(&e->lru);
    json_decref(e->json);
    ngx_free(e);

    ngx_http_vbp_scache.count--;
}
