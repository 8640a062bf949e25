/*
 * jansson's memory, a call at a time.  A call parses its frame and body,
 * builds its answer and lets go of all of it when the answer is sent.
 * Allocated and freed one by one, the ~700 objects of a 50-line save were
 * a quarter of the worker's time at saturation: malloc, free, and the
 * fastbin consolidation glibc then ran on every large block libpq asked
 * for.  So while a call runs, jansson's memory is carved in order from a
 * block kept by the child, and all of it goes at once when the call ends
 * (vbp_jpool_reset); a free inside a call does nothing.
 *
 * Every block jansson gets carries a header saying where it came from, so
 * that objects made outside a call (the frame cache's, kept across calls;
 * the parent's) are freed with free() whenever they go.  A call that has
 * carved VBP_JPOOL_MAX bytes (an import of many rows) goes on with
 * malloc() and free(), so it holds no more than it holds live plus that.
 * A child keeps VBP_JPOOL_KEEP blocks (256 KB) between calls.
 *
 * Under valgrind the pool stays off: memcheck sees every object as its
 * own block, leaks and use after free included.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <valgrind/valgrind.h>

#include "vbp.h"


#define VBP_JPOOL_BLOCK  (64 * 1024)
#define VBP_JPOOL_KEEP   4                  /* blocks a child keeps: a
                                               filing page's answer takes
                                               two, and a block malloc()ed
                                               and freed at every call was
                                               the kernel's page faults */
#define VBP_JPOOL_MAX    (4 * 1024 * 1024)  /* carved in a call, at most */
#define VBP_JPOOL_ALIGN  16


typedef struct vbp_jpool_block_s  vbp_jpool_block_t;

struct vbp_jpool_block_s {
    vbp_jpool_block_t  *next;
    size_t              size;
    size_t              used;
    max_align_t         data[];             /* carved from here */
};


/* before each block jansson gets: 16 bytes, so malloc's alignment holds */
typedef struct {
    uint32_t   from;
    uint32_t   pad[3];
} vbp_jpool_head_t;


enum {
    VBP_JPOOL_HEAP = 0x48454150,            /* "HEAP" */
    VBP_JPOOL_CALL = 0x43414c4c             /* "CALL" */
};


static void *vbp_jpool_malloc(size_t size);
static void vbp_jpool_free(void *p);


static int                 vbp_jpool_on;
static size_t              vbp_jpool_carved;
static vbp_jpool_block_t  *vbp_jpool_first;     /* in the order carved */
static vbp_jpool_block_t  *vbp_jpool_cur;


/* before anything jansson allocates: every block then has its header */
void
vbp_jpool_init(void)
{
    json_set_alloc_funcs(vbp_jpool_malloc, vbp_jpool_free);
}


/*
 * on: what jansson allocates from now on goes when the call ends; off:
 * it lives until freed.  Returns the previous setting.
 */
int
vbp_jpool_enable(int on)
{
    int  was;

    was = vbp_jpool_on;
    vbp_jpool_on = on && !RUNNING_ON_VALGRIND;

    return was;
}


/* the call has ended: all it carved goes; the first blocks are kept */
void
vbp_jpool_reset(void)
{
    size_t              n;
    vbp_jpool_block_t  *b, *next;

    for (n = 0, b = vbp_jpool_first; b; b = next, n++) {
        next = b->next;
        b->used = 0;

        if (n == VBP_JPOOL_KEEP - 1) {
            b->next = NULL;

        } else if (n >= VBP_JPOOL_KEEP) {
            free(b);
        }
    }

    vbp_jpool_cur = vbp_jpool_first;
    vbp_jpool_carved = 0;
}


/* what jansson's json_dumps() returned */
void
vbp_json_free(void *p)
{
    vbp_jpool_free(p);
}


static void *
vbp_jpool_malloc(size_t size)
{
    size_t              need;
    vbp_jpool_block_t  *b;
    vbp_jpool_head_t   *h;

    if (size > SIZE_MAX - sizeof(vbp_jpool_head_t) - VBP_JPOOL_ALIGN) {
        return NULL;
    }

    need = (sizeof(vbp_jpool_head_t) + size + VBP_JPOOL_ALIGN - 1)
           & ~(size_t) (VBP_JPOOL_ALIGN - 1);

    /* a large block (a long string) is malloc()ed: the kept block stays
     * the size it was made */
    if (!vbp_jpool_on || need > VBP_JPOOL_BLOCK / 4
        || vbp_jpool_carved + need > VBP_JPOOL_MAX)
    {
        h = malloc(sizeof(vbp_jpool_head_t) + size);
        if (h == NULL) {
            return NULL;
        }

        h->from = VBP_JPOOL_HEAP;
        return h + 1;
    }

    b = vbp_jpool_cur;

    /* the next block (empty since the last reset), or a new one */
    if (b == NULL || b->size - b->used < need) {
        if (b && b->next) {
            b = b->next;

        } else {
            b = malloc(VBP_JPOOL_BLOCK);
            if (b == NULL) {
                return NULL;
            }

            b->size = VBP_JPOOL_BLOCK - sizeof(vbp_jpool_block_t);
            b->used = 0;
            b->next = NULL;

            if (vbp_jpool_cur) {
                vbp_jpool_cur->next = b;
            } else {
                vbp_jpool_first = b;
            }
        }

        vbp_jpool_cur = b;
    }

    h = (vbp_jpool_head_t *) ((char *) b->data + b->used);
    b->used += need;
    vbp_jpool_carved += need;

    h->from = VBP_JPOOL_CALL;

    return h + 1;
}


static void
vbp_jpool_free(void *p)
{
    vbp_jpool_head_t  *h;

    if (p == NULL) {
        return;
    }

    h = (vbp_jpool_head_t *) p - 1;

    if (h->from == VBP_JPOOL_HEAP) {
        free(h);
    }
}
