/*
 * Frames: a 4-byte big-endian length, then one JSON object.  Reads are
 * bounded in size and time: an idle kept-alive connection is given up after
 * the idle timeout, a frame that started must arrive within FRAME_TIMEOUT.
 */

#include <errno.h>
#include <poll.h>
#include <stdint.h>
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
vbp_frame_read(int fd, size_t max, int idle_timeout, json_t **frame)
{
    int             rc;
    size_t          len;
    unsigned char   head[4], *body;
    json_error_t    err;
    struct pollfd   pfd;

    *frame = NULL;

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

    *frame = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES,
                        &err);
    free(body);

    if (*frame == NULL || !json_is_object(*frame)) {
        vbp_log("refused a frame that is not a JSON object: %s", err.text);
        json_decref(*frame);
        *frame = NULL;
        return -1;
    }

    return 1;
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


int
vbp_frame_write(int fd, json_t *answer)
{
    char     *text;
    size_t    len, off;
    ssize_t   n;

    text = json_dumps(answer, JSON_COMPACT);
    if (text == NULL) {
        return -1;
    }

    len = strlen(text);

    /* the header goes in front of the text in one write */
    {
        unsigned char  *out;

        out = malloc(len + 4);
        if (out == NULL) {
            free(text);
            return -1;
        }

        out[0] = (unsigned char) (len >> 24);
        out[1] = (unsigned char) (len >> 16);
        out[2] = (unsigned char) (len >> 8);
        out[3] = (unsigned char) len;
        memcpy(out + 4, text, len);
        free(text);

        for (off = 0; off < len + 4; off += (size_t) n) {
            n = write(fd, out + off, len + 4 - off);

            if (n < 0) {
                if (errno == EINTR) {
                    n = 0;
                    continue;
                }

                free(out);
                return -1;
            }
        }

        free(out);
    }

    return 0;
}
