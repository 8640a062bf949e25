/*
 * Frames: a 4-byte big-endian length, then one JSON object.  Reads are
 * bounded in size and time: an idle kept-alive connection is given up after
 * the idle timeout, a frame that started must arrive within FRAME_TIMEOUT.
 */

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vbp.h"


#define FRAME_TIMEOUT_MS  30000


static int vbp_read_full(int fd, unsigned char *buf, size_t len,
    int timeout_ms);


/*
 * returns 1 with *frame set, 0 when the peer closed or stayed idle (or we
 * are quitting), -1 on a broken or oversized frame
 */
int
vbp_frame_read(int fd, size_t max, int idle_timeout, json_t **frame,
    json_t **actor)
{
    int             rc;
    size_t          len;
    unsigned char   head[4], *body;
    struct pollfd   pfd;

    *frame = NULL;
    *actor = NULL;

    pfd.fd = fd;
    pfd.events = POLLIN;

    for ( ;; ) {
        rc = poll(&pfd, 1, idle_timeout * 1000);

        if (rc > 0) {
            break;
        }

        if (rc == 0 || vbp_quit || errno != EINTR) {
            return 0;
        }
    }

    rc = vbp_read_full(fd, head, 1, FRAME_TIMEOUT_MS);
    if (rc <= 0) {
        return rc;
    }

    if (vbp_read_full(fd, head + 1, 3, FRAME_TIMEOUT_MS) != 1) {
        return -1;
    }

    len = ((size_t) head[0] << 24) | ((size_t) head[1] << 16)
          | ((size_t) head[2] << 8) | head[3];

    if (len == 0 || len > max) {
        vbp_log("refused a frame of %zu bytes (limit %zu)", len, max);
        return -1;
    }

    body = malloc(len);
    if (body == NULL) {
        return -1;
    }

    if (vbp_read_full(fd, body, len, FRAME_TIMEOUT_MS) != 1) {
        free(body);
        return -1;
    }

    rc = vbp_frame_decode(body, len, frame, actor);
    free(body);

    return rc == 0 ? 1 : -1;
}


/*
 * The actor is most of a frame, and the same text comes again and again
 * (a user's session, as nginx holds it); so does the rest of a frame (the
 * same user asking the same thing): parsing them was most of what a small
 * read cost here.  So the frame's top level is scanned for the "actor"
 * member, and each part's parsed object comes from a small cache keyed by
 * its exact text.  The objects are shared: nothing may change them.
 * Anything the scan does not expect goes to jansson whole, which says
 * what is wrong.
 */

#define VBP_CACHED      64              /* direct-mapped by hash */
#define VBP_CACHED_MAX  16384           /* longer texts are not kept */


typedef struct {
    uint64_t   hash;
    size_t     len;
    char      *text;
    json_t    *json;
} vbp_cached_t;


static vbp_cached_t  vbp_actors[VBP_CACHED];
static vbp_cached_t  vbp_rests[VBP_CACHED];


static int vbp_frame_split(const unsigned char *body, size_t len,
    const unsigned char **actor, size_t *actor_len, unsigned char **rest,
    size_t *rest_len, int *no_args);
static const unsigned char *vbp_json_space(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *vbp_json_string(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *vbp_json_value(const unsigned char *p,
    const unsigned char *end);
static int vbp_frame_body(const unsigned char *body, size_t *len,
    const unsigned char **raw, size_t *raw_len);
static int vbp_frame_object(const unsigned char *body, size_t len,
    json_t **frame, json_t **actor);
static json_t *vbp_parse_object(const unsigned char *text, size_t len);
static json_t *vbp_cached_object(vbp_cached_t *cache,
    const unsigned char *text, size_t len);


/*
 * the JSON object of a frame's body, and its actor when that came apart
 * (else NULL: the frame holds it); 0, or -1 (logged)
 */
int
vbp_frame_decode(const unsigned char *body, size_t len, json_t **frame,
    json_t **actor)
{
    size_t                raw_len;
    json_t               *args;
    const unsigned char  *raw;

    *frame = NULL;
    *actor = NULL;

    /* a JSON body nginx passed as it came follows the object (it wrote
     * its size first): the call's arguments, parsed here once */
    if (vbp_frame_body(body, &len, &raw, &raw_len) != 0) {
        vbp_log("refused a frame whose body does not fit it");
        return -1;
    }

    if (raw) {
        if (vbp_frame_object(body, len, frame, actor) != 0) {
            return -1;
        }

        /* the arguments are the body's alone; and a frame without "args"
         * is the call's own, never a cached (shared) object */
        if (json_object_get(*frame, "args") != NULL) {
            vbp_log("refused a frame with both a body and arguments");
            json_decref(*frame);
            json_decref(*actor);
            *frame = NULL;
            *actor = NULL;
            return -1;
        }

        args = json_loadb((const char *) raw, raw_len,
                          JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, NULL);

        if (!json_is_object(args)) {
            json_decref(args);
            args = NULL;
        }

        if (json_object_set_new(*frame, args ? "args" : "bad_body",
                                args ? args : json_true()) != 0)
        {
            json_decref(*frame);
            json_decref(*actor);
            *frame = NULL;
            *actor = NULL;
            return -1;
        }

        return 0;
    }

    return vbp_frame_object(body, len, frame, actor);
}


/*
 * "body" as the object's first member: the size of the bytes after the
 * object, which *len then leaves out; 0 (with *raw NULL when there is
 * none), or -1
 */
static int
vbp_frame_body(const unsigned char *body, size_t *len,
    const unsigned char **raw, size_t *raw_len)
{
    size_t                n, at;
    static const char     key[] = "{\"body\":";

    *raw = NULL;
    *raw_len = 0;

    at = sizeof(key) - 1;

    if (*len <= at || memcmp(body, key, at) != 0) {
        return 0;
    }

    for (n = 0; at < *len && body[at] >= '0' && body[at] <= '9'; at++) {
        if (n > *len) {
            return -1;
        }

        n = n * 10 + (size_t) (body[at] - '0');
    }

    if (at == sizeof(key) - 1 || at >= *len || body[at] != ','
        || n == 0 || n >= *len - at)
    {
        return -1;
    }

    *raw = body + *len - n;
    *raw_len = n;
    *len -= n;

    return 0;
}


/* the frame's object (and its actor, see vbp_frame_decode) */
static int
vbp_frame_object(const unsigned char *body, size_t len, json_t **frame,
    json_t **actor)
{
    int                   no_args;
    size_t                actor_len, rest_len;
    json_error_t          err;
    unsigned char        *rest;
    const unsigned char  *actor_text;

    *frame = NULL;
    *actor = NULL;
    actor_text = NULL;
    actor_len = 0;
    no_args = 0;

    if (vbp_frame_split(body, len, &actor_text, &actor_len, &rest,
                        &rest_len, &no_args) == 0)
    {
        /*
         * only frames without arguments are kept: they are the repeated
         * reads, and no password or other input stays in memory
         */
        *frame = no_args ? vbp_cached_object(vbp_rests, rest, rest_len)
                         : vbp_parse_object(rest, rest_len);
        free(rest);

        /* an "actor" spelt with escapes is a duplicate: jansson says so */
        if (*frame && json_object_get(*frame, "actor") == NULL) {
            *actor = vbp_cached_object(vbp_actors, actor_text, actor_len);

            if (*actor) {
                return 0;
            }
        }

        json_decref(*frame);
    }

    /* a NUL in an argument reaches vbp_arg_string(), which refuses it */
    *frame = json_loadb((const char *) body, len,
                        JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, &err);

    if (*frame == NULL || !json_is_object(*frame)) {
        vbp_log("refused a frame that is not a JSON object: %s", err.text);
        json_decref(*frame);
        *frame = NULL;
        return -1;
    }

    return 0;
}


/*
 * 0: the body is one object with one "actor" member, which is *actor; *rest
 * (malloc()ed) is the body without it.  -1: anything else.
 */
static int
vbp_frame_split(const unsigned char *body, size_t len,
    const unsigned char **actor, size_t *actor_len, unsigned char **rest,
    size_t *rest_len, int *no_args)
{
    int                   found;
    const unsigned char  *p, *end, *member, *key_end, *value, *after;
    const unsigned char  *sep, *cut, *cut_end;

    end = body + len;
    found = 0;
    sep = NULL;
    cut = cut_end = NULL;

    p = vbp_json_space(body, end);
    if (p == end || *p != '{') {
        return -1;
    }

    p = vbp_json_space(p + 1, end);

    for ( ;; ) {
        if (p == end || *p != '"') {
            return -1;
        }

        member = p;
        key_end = vbp_json_string(p, end);
        if (key_end == NULL) {
            return -1;
        }

        p = vbp_json_space(key_end, end);
        if (p == end || *p != ':') {
            return -1;
        }

        value = vbp_json_space(p + 1, end);
        after = vbp_json_value(value, end);
        if (after == NULL) {
            return -1;
        }

        p = vbp_json_space(after, end);
        if (p == end || (*p != ',' && *p != '}')) {
            return -1;
        }

        if (key_end - member == 6 && memcmp(member, "\"args\"", 6) == 0) {
            *no_args = after - value == 2 && memcmp(value, "{}", 2) == 0;
        }

        if (key_end - member == 7 && memcmp(member, "\"actor\"", 7) == 0) {
            if (found++) {
                return -1;
            }

            *actor = value;
            *actor_len = after - value;

            /* the member goes with the comma after it, or the one before */
            cut = member;
            cut_end = (*p == ',') ? p + 1 : p;

            if (*p == '}' && sep) {
                cut = sep;
            }
        }

        if (*p == '}') {
            break;
        }

        sep = p;
        p = vbp_json_space(p + 1, end);
    }

    if (vbp_json_space(p + 1, end) != end || found != 1) {
        return -1;
    }

    *rest_len = len - (size_t) (cut_end - cut);
    *rest = malloc(*rest_len);
    if (*rest == NULL) {
        return -1;
    }

    memcpy(*rest, body, (size_t) (cut - body));
    memcpy(*rest + (cut - body), cut_end, (size_t) (end - cut_end));

    return 0;
}


static const unsigned char *
vbp_json_space(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


/* p at the opening quote: just past the closing one, or NULL */
static const unsigned char *
vbp_json_string(const unsigned char *p, const unsigned char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }

        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


/* just past the value at p, or NULL; jansson checks what is inside */
static const unsigned char *
vbp_json_value(const unsigned char *p, const unsigned char *end)
{
    size_t                depth;
    const unsigned char  *start;

    if (p == end) {
        return NULL;
    }

    if (*p == '"') {
        return vbp_json_string(p, end);
    }

    if (*p == '{' || *p == '[') {
        for (depth = 0; p < end; ) {
            if (*p == '"') {
                p = vbp_json_string(p, end);
                if (p == NULL) {
                    return NULL;
                }

                continue;
            }

            if (*p == '{' || *p == '[') {
                depth++;

            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) {
                    return p + 1;
                }
            }

            p++;
        }

        return NULL;
    }

    for (start = p; p < end; p++) {
        if (*p == ',' || *p == '}' || *p == ']' || *p == ' ' || *p == '\t'
            || *p == '\n' || *p == '\r')
        {
            break;
        }
    }

    return p > start ? p : NULL;
}


/* the object the text is, or NULL */
static json_t *
vbp_parse_object(const unsigned char *text, size_t len)
{
    json_t        *json;
    json_error_t   err;

    json = json_loadb((const char *) text, len,
                      JSON_REJECT_DUPLICATES|JSON_ALLOW_NUL, &err);

    if (!json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    return json;
}


/* a new reference to the object the text stands for, or NULL */
static json_t *
vbp_cached_object(vbp_cached_t *cache, const unsigned char *text, size_t len)
{
    int            pooled;
    size_t         i;
    json_t        *json;
    uint64_t       hash;
    vbp_cached_t  *slot;

    /*
     * the length and the last bytes: an actor ends with the session's own
     * random CSRF token, the rest of a frame with the session id; memcmp()
     * decides
     */
    hash = 14695981039346656037ULL;                 /* FNV-1a */
    hash = (hash ^ len) * 1099511628211ULL;

    for (i = len > 48 ? len - 48 : 0; i < len; i++) {
        hash = (hash ^ text[i]) * 1099511628211ULL;
    }

    slot = &cache[hash % VBP_CACHED];

    if (slot->json && slot->hash == hash && slot->len == len
        && memcmp(slot->text, text, len) == 0)
    {
        return json_incref(slot->json);
    }

    /* a kept object outlives the call (jpool.c) */
    pooled = vbp_jpool_enable(0);
    json = vbp_parse_object(text, len);
    (void) vbp_jpool_enable(pooled);

    if (json == NULL || len > VBP_CACHED_MAX) {
        return json;
    }

    free(slot->text);
    json_decref(slot->json);
    slot->json = NULL;

    slot->text = malloc(len);
    if (slot->text == NULL) {
        return json;
    }

    memcpy(slot->text, text, len);
    slot->hash = hash;
    slot->len = len;
    slot->json = json_incref(json);

    return json;
}


/* a child that ends leaves nothing behind */
void
vbp_frame_cleanup(void)
{
    size_t  i;

    for (i = 0; i < VBP_CACHED; i++) {
        free(vbp_actors[i].text);
        json_decref(vbp_actors[i].json);
        free(vbp_rests[i].text);
        json_decref(vbp_rests[i].json);
    }

    memset(vbp_actors, 0, sizeof(vbp_actors));
    memset(vbp_rests, 0, sizeof(vbp_rests));
}


static unsigned char *
vbp_frame_finish(vbp_buf_t *out, size_t *len)
{
    size_t          body;
    unsigned char  *p;

    body = out->len - VBP_FRAME_HEADER;

    if (body > 0x7fffffff) {
        vbp_buf_free(out);
        return NULL;
    }

    p = (unsigned char *) out->data;
    p[0] = (unsigned char) (body >> 24);
    p[1] = (unsigned char) (body >> 16);
    p[2] = (unsigned char) (body >> 8);
    p[3] = (unsigned char) body;

    *len = out->len;

    return p;
}


/* the frame's length is written when it is finished */
static int
vbp_frame_start(vbp_buf_t *out)
{
    static const char  header[VBP_FRAME_HEADER];

    vbp_buf_init(out);

    return vbp_buf_add(out, header, VBP_FRAME_HEADER);
}


/*
 * an answer frame written straight from its parts, without an answer
 * object: {"status":N, the extra members, "key":value}.  Status first and
 * the data last, as nginx expects to pass data on unparsed.
 */
unsigned char *
vbp_frame_encode_answer(int status, json_t *extra, const char *key,
    json_t *value, size_t *len)
{
    int               rc;
    char              head[32];
    json_t           *name, *v;
    const char       *k;
    vbp_buf_t   out;

    if (vbp_frame_start(&out) != 0) {
        return NULL;
    }

    rc = vbp_buf_append(head, (size_t) snprintf(head, sizeof(head),
                                                  "{\"status\":%d", status),
                          &out);

    json_object_foreach(extra, k, v) {
        name = json_string(k);

        rc = rc || name == NULL
             || vbp_buf_append(",", 1, &out)
             || json_dump_callback(name, vbp_buf_append, &out,
                                   JSON_ENCODE_ANY)
             || vbp_buf_append(":", 1, &out)
             || json_dump_callback(v, vbp_buf_append, &out,
                                   JSON_ENCODE_ANY | JSON_COMPACT);

        json_decref(name);
    }

    rc = rc
         || vbp_buf_append(",\"", 2, &out)
         || vbp_buf_append(key, strlen(key), &out)
         || vbp_buf_append("\":", 2, &out)
         || json_dump_callback(value, vbp_buf_append, &out,
                               JSON_ENCODE_ANY | JSON_COMPACT)
         || vbp_buf_append("}", 1, &out);

    if (rc) {
        vbp_buf_free(&out);
        return NULL;
    }

    return vbp_frame_finish(&out, len);
}


/* a whole frame out on a blocking socket: 0 or -1 */
int
vbp_frame_send(int fd, const unsigned char *out, size_t len)
{
    size_t   off;
    ssize_t  n;

    for (off = 0; off < len; off += (size_t) n) {
        n = write(fd, out + off, len - off);

        if (n < 0) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }

            return -1;
        }
    }

    return 0;
}



/* 1: all read; 0: closed before the first byte; -1: error or timeout */
static int
vbp_read_full(int fd, unsigned char *buf, size_t len, int timeout_ms)
{
    size_t          got;
    ssize_t         n;
    struct pollfd   pfd;

    pfd.fd = fd;
    pfd.events = POLLIN;

    for (got = 0; got < len; got += (size_t) n) {
        n = read(fd, buf + got, len - got);

        if (n > 0) {
            continue;
        }

        if (n == 0) {
            return got == 0 ? 0 : -1;
        }

        if (errno == EINTR) {
            n = 0;
            continue;
        }

        if (errno != EAGAIN) {
            return -1;
        }

        if (poll(&pfd, 1, timeout_ms) <= 0) {
            return -1;
        }

        n = 0;
    }

    return 1;
}
