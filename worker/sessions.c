/*
 * Sessions in Redis, written by the worker when an operation signs a user
 * in or out (the nginx module only reads them):
 *
 *   vbp:sess:<sid>    the actor as JSON, expiring after the idle timeout
 *   vbp:usess:<uid>   the set of a user's session ids, to end them all
 *   vbp:probe:<uid>   usernames found taken by that account's creations
 *                     (vbp_redis_count: the probe of a global namespace)
 *
 * A blocking hiredis connection per child, made again after any failure.
 * Callers do this before COMMIT, so a failure rolls the change back.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#include "vbp.h"


#define USER_SET_TTL  (7 * 24 * 3600)


static redisContext  *vbp_redis;


static int vbp_redis_ready(void);
static int vbp_redis_run(int argc, const char **argv, const size_t *argvlen,
    redisReply **out);


static int
vbp_redis_ready(void)
{
    struct timeval  tv = { 2, 0 };

    if (vbp_redis) {
        return 0;
    }

    /* -r unix:/path (same host) or host:port */
    if (vbp_config.redis_port == 0) {
        vbp_redis = redisConnectUnixWithTimeout(vbp_config.redis_host, tv);
    } else {
        vbp_redis = redisConnectWithTimeout(vbp_config.redis_host,
                                            vbp_config.redis_port, tv);
    }

    if (vbp_redis == NULL || vbp_redis->err) {
        vbp_log("redis %s:%d: %s", vbp_config.redis_host,
                vbp_config.redis_port,
                vbp_redis ? vbp_redis->errstr : "out of memory");
        vbp_sessions_close();
        return -1;
    }

    if (redisSetTimeout(vbp_redis, tv) != REDIS_OK) {
        vbp_sessions_close();
        return -1;
    }

    return 0;
}


void
vbp_sessions_close(void)
{
    if (vbp_redis) {
        redisFree(vbp_redis);
        vbp_redis = NULL;
    }
}


/* one command; a lost connection is made again and the command retried */
static int
vbp_redis_run(int argc, const char **argv, const size_t *argvlen,
    redisReply **out)
{
    int          attempt;
    redisReply  *reply;

    for (attempt = 0; attempt < 2; attempt++) {
        if (vbp_redis_ready() != 0) {
            return -1;
        }

        reply = redisCommandArgv(vbp_redis, argc, argv, argvlen);

        if (reply == NULL) {
            vbp_log("redis: %s", vbp_redis->errstr);
            vbp_sessions_close();
            continue;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            vbp_log("redis: %s", reply->str);
            freeReplyObject(reply);
            return -1;
        }

        if (out) {
            *out = reply;
        } else {
            freeReplyObject(reply);
        }

        return 0;
    }

    return -1;
}


int
vbp_session_store(const char *sid, long long uid, const char *json,
    long long ttl)
{
    char         key[128], ukey[64], sttl[24], uttl[24];
    const char  *argv[5];
    size_t       len[5];

    snprintf(key, sizeof(key), "vbp:sess:%s", sid);
    snprintf(ukey, sizeof(ukey), "vbp:usess:%lld", uid);
    snprintf(sttl, sizeof(sttl), "%lld", ttl);
    snprintf(uttl, sizeof(uttl), "%d", USER_SET_TTL);

    argv[0] = "SET"; argv[1] = key; argv[2] = json;
    argv[3] = "EX"; argv[4] = sttl;

    for (int i = 0; i < 5; i++) {
        len[i] = strlen(argv[i]);
    }

    if (vbp_redis_run(5, argv, len, NULL) != 0) {
        return -1;
    }

    argv[0] = "SADD"; argv[1] = ukey; argv[2] = sid;
    len[0] = 4; len[1] = strlen(ukey); len[2] = strlen(sid);

    if (vbp_redis_run(3, argv, len, NULL) != 0) {
        return -1;
    }

    argv[0] = "EXPIRE"; argv[2] = uttl;
    len[0] = 6; len[2] = strlen(uttl);

    return vbp_redis_run(3, argv, len, NULL);
}


int
vbp_session_delete(const char *sid, long long uid)
{
    char         key[128], ukey[64];
    const char  *argv[3];
    size_t       len[3];

    snprintf(key, sizeof(key), "vbp:sess:%s", sid);
    snprintf(ukey, sizeof(ukey), "vbp:usess:%lld", uid);

    argv[0] = "DEL"; argv[1] = key;
    len[0] = 3; len[1] = strlen(key);

    if (vbp_redis_run(2, argv, len, NULL) != 0) {
        return -1;
    }

    argv[0] = "SREM"; argv[1] = ukey; argv[2] = sid;
    len[0] = 4; len[1] = strlen(ukey); len[2] = strlen(sid);

    return vbp_redis_run(3, argv, len, NULL);
}


/* ends every session of a user: password change, reset, disable */
int
vbp_sessions_revoke(long long uid)
{
    int          rc;
    char         ukey[64], key[128];
    size_t       i, len[2];
    const char  *argv[2];
    redisReply  *members;

    snprintf(ukey, sizeof(ukey), "vbp:usess:%lld", uid);

    argv[0] = "SMEMBERS"; argv[1] = ukey;
    len[0] = 8; len[1] = strlen(ukey);

    if (vbp_redis_run(2, argv, len, &members) != 0) {
        return -1;
    }

    rc = 0;

    for (i = 0; rc == 0 && members->type == REDIS_REPLY_ARRAY
                && i < members->elements; i++)
    {
        snprintf(key, sizeof(key), "vbp:sess:%s", members->element[i]->str);

        argv[0] = "DEL"; argv[1] = key;
        len[0] = 3; len[1] = strlen(key);

        rc = vbp_redis_run(2, argv, len, NULL);
    }

    freeReplyObject(members);

    if (rc != 0) {
        return -1;
    }

    argv[0] = "DEL"; argv[1] = ukey;
    len[0] = 3; len[1] = strlen(ukey);

    return vbp_redis_run(2, argv, len, NULL);
}


/* ends the sessions of every user whose id is in column col of res */
int
vbp_sessions_revoke_rows(PGresult *res, int col)
{
    int  row;

    for (row = 0; row < PQntuples(res); row++) {
        if (vbp_sessions_revoke(atoll(PQgetvalue(res, row, col))) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * counts an event under key in a window of seconds that starts with the
 * first one (INCR, then EXPIRE NX); returns the count so far, or -1 when
 * Redis cannot be reached.  With add 0 the count is only read.
 */
long long
vbp_redis_count(const char *key, int window, int add)
{
    char          ttl[24];
    long long     n;
    const char   *argv[4];
    size_t        len[4];
    redisReply   *reply;

    argv[0] = add ? "INCR" : "GET";
    argv[1] = key;
    len[0] = strlen(argv[0]);
    len[1] = strlen(key);

    if (vbp_redis_run(2, argv, len, &reply) != 0) {
        return -1;
    }

    n = reply->type == REDIS_REPLY_INTEGER ? reply->integer
        : reply->type == REDIS_REPLY_STRING ? atoll(reply->str) : 0;
    freeReplyObject(reply);

    if (!add) {
        return n;
    }

    snprintf(ttl, sizeof(ttl), "%d", window);
    argv[0] = "EXPIRE"; argv[2] = ttl; argv[3] = "NX";
    len[0] = 6; len[2] = strlen(ttl); len[3] = 2;

    if (vbp_redis_run(4, argv, len, NULL) != 0) {
        return -1;
    }

    return n;
}


/*
 * the message of an action for the page it returns to (vbp_back): one per
 * session, for a minute, read once.  A lost message costs a line of text,
 * never the action, so failures are only logged.
 */
void
vbp_flash_put(const char *sid, json_t *flash)
{
    char        key[128], *text;
    const char *argv[5];
    size_t      len[5];

    text = json_dumps(flash, JSON_COMPACT);
    if (text == NULL) {
        return;
    }

    snprintf(key, sizeof(key), "vbp:flash:%s", sid);

    argv[0] = "SET"; argv[1] = key; argv[2] = text;
    argv[3] = "EX"; argv[4] = "60";

    for (int i = 0; i < 5; i++) {
        len[i] = strlen(argv[i]);
    }

    if (vbp_redis_run(5, argv, len, NULL) != 0) {
        vbp_log("flash: not kept");
    }

    vbp_json_free(text);
}


json_t *
vbp_flash_take(const char *sid)
{
    char         key[128];
    json_t      *flash;
    const char  *argv[2];
    size_t       len[2];
    redisReply  *reply;

    snprintf(key, sizeof(key), "vbp:flash:%s", sid);

    argv[0] = "GETDEL"; argv[1] = key;
    len[0] = 6; len[1] = strlen(key);

    if (vbp_redis_run(2, argv, len, &reply) != 0) {
        return NULL;
    }

    flash = (reply->type == REDIS_REPLY_STRING)
            ? json_loadb(reply->str, reply->len, 0, NULL) : NULL;
    freeReplyObject(reply);

    if (flash && !json_is_object(flash)) {
        json_decref(flash);
        flash = NULL;
    }

    return flash;
}
