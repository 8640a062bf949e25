
/*
 * Unit test of the per-call JSON memory (worker/jpool.c); prints TAP.
 * Built by make (see Makefile), run by t/010-c-units.t.
 */


#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/valgrind.h>

#include "../vbp.h"


static int  tests, failed;
static int  vg;     /* under valgrind the pool is off: its checks count */


static void
ok(int cond, const char *name)
{
    tests++;
    failed += !cond;
    printf("%s %d - %s\n", cond ? "ok" : "not ok", tests, name);
}


static size_t
in_use(void)
{
    return mallinfo2().uordblks;
}


/* a 50-line save's body, as the worker parses it */
static json_t *
parse_save(void)
{
    int     i;
    char    body[8192];
    size_t  n;

    n = (size_t) snprintf(body, sizeof(body), "{\"project\":1,\"lines\":[");

    for (i = 0; i < 50; i++) {
        n += (size_t) snprintf(body + n, sizeof(body) - n,
                               "%s{\"catalog_line_id\":%d,\"last_year\":%d,"
                               "\"demand\":%d,\"in_use\":true}",
                               i ? "," : "", 100 + i, i * 7, i * 9);
    }

    n += (size_t) snprintf(body + n, sizeof(body) - n, "]}");

    return json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL);
}


int
main(void)
{
    int                 i, aligned;
    char               *text, big[40000];
    size_t              base, peak, grown;
    json_t             *kept, *j, *s;
    json_malloc_t       jm;
    json_free_t         jf;

    vbp_jpool_init();
    vg = RUNNING_ON_VALGRIND;

    /* made outside a call: lives through any number of calls */
    kept = json_pack("{s:s, s:i}", "name", "保留的对象", "n", 42);
    ok(kept != NULL, "an object made outside a call");

    (void) vbp_jpool_enable(1);

    j = parse_save();
    ok(json_array_size(json_object_get(j, "lines")) == 50,
       "a save's body parses in the pool");
    json_decref(j);
    vbp_jpool_reset();

    /* the calls reuse the block the child keeps: nothing grows */
    base = in_use();
    peak = 0;

    for (i = 0; i < 2000; i++) {
        j = parse_save();
        text = json_dumps(j, JSON_COMPACT);
        if (in_use() - base > peak) {
            peak = in_use() - base;
        }
        vbp_json_free(text);
        json_decref(j);
        vbp_jpool_reset();
    }

    grown = in_use() - base;
    printf("# 2,000 calls: heap grew by %zu bytes, at most %zu in a call\n",
           grown, peak);
    ok(vg || grown == 0, "2,000 calls leave the heap as it was");
    ok(vg || peak <= 64 * 1024,
       "a save's JSON takes no more than the kept block");

    /* a filing page's answer takes two or three blocks: kept, reused */
    base = 0;
    for (i = 0; i < 200; i++) {
        json_t  *a = parse_save(), *b = parse_save(), *c = parse_save();

        json_decref(a);
        json_decref(b);
        json_decref(c);
        vbp_jpool_reset();

        if (i == 0) {
            base = in_use();
        }
    }
    ok(vg || in_use() == base, "calls of three blocks reuse the kept ones");

    /* one of many blocks gives back all but the kept */
    {
        json_t  *many[12];

        for (i = 0; i < 12; i++) {
            many[i] = parse_save();
        }
        peak = in_use();
        for (i = 0; i < 12; i++) {
            json_decref(many[i]);
        }
        vbp_jpool_reset();
        printf("# a call of 12 bodies: %zu bytes beyond three blocks,"
               " %zu after its end\n", peak - base, in_use() - base);
        /* the fourth block is kept too */
        ok(vg || (peak - base > 256 * 1024
                  && in_use() - base < 64 * 1024 + 1024),
           "a call of many blocks gives back all but the kept ones");
    }

    s = json_object_get(kept, "name");
    ok(s && strcmp(json_string_value(s), "保留的对象") == 0
       && json_integer_value(json_object_get(kept, "n")) == 42,
       "the object made outside a call is intact after them");

    /* carved memory is aligned as malloc's */
    json_get_alloc_funcs(&jm, &jf);
    aligned = 1;
    for (i = 1; i < 300; i++) {
        void  *p = jm((size_t) i);
        aligned = aligned && p && ((uintptr_t) p % 16) == 0;
        jf(p);
    }
    vbp_jpool_reset();
    ok(aligned, "carved blocks are 16-byte aligned");

    /* a long string is the heap's, freed when it goes */
    base = in_use();
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = json_string(big);
    ok(s && json_string_length(s) == sizeof(big) - 1, "a 40 KB string");
    json_decref(s);
    ok(vg || in_use() <= base,
       "a long string made in a call is freed at once");
    vbp_jpool_reset();

    /* a call that makes and drops more than the cap: what follows the cap
     * is malloc()ed and freed, so the call holds no more than the cap */
    base = in_use();
    peak = 0;
    for (i = 0; i < 400000; i++) {
        s = json_sprintf("行 %d 的一段说明文字", i);
        json_decref(s);
        if (i % 1000 == 0 && in_use() - base > peak) {
            peak = in_use() - base;
        }
    }
    printf("# 400,000 strings made and dropped in one call: at most %zu"
           " bytes held\n", peak);
    ok(vg || peak <= 4 * 1024 * 1024 + 128 * 1024,
       "a long call stays bounded");
    vbp_jpool_reset();
    ok(vg || in_use() - base <= 64 * 1024, "and its end gives it all back");

    /* off again (the frame cache's objects): heap blocks */
    (void) vbp_jpool_enable(0);
    base = in_use();
    j = parse_save();
    ok(vg || in_use() > base, "with the pool off, objects are the heap's");
    json_decref(j);
    for (i = 0; i < 1000; i++) {
        json_decref(parse_save());
    }
    /* (glibc counts the chunks its caches hold as in use) */
    ok(vg || in_use() - base < 16 * 1024, "and are freed one by one");

    json_decref(kept);

    printf("1..%d\n", tests);
    return failed != 0;
}
