
/*
 * cc -Wall -Wextra -Werror -O2 -g -o build/captcha_test ngx_module/t/captcha_test.c ngx_module/ngx_http_vbp_captcha_image.c -lz
 *
 * Unit test for the captcha PNG renderer; prints TAP.  Run it from the
 * top of the work tree: it also writes build/captcha-sample.png (and a
 * few more samples) for a person to look at.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <zlib.h>

#include "../ngx_http_vbp_captcha_image.h"


#define NGX_HTTP_VBP_CAPTCHA_TEST_NOISE  NGX_HTTP_VBP_CAPTCHA_NOISE_BYTES


typedef struct {
    unsigned        width;
    unsigned        height;
    unsigned        palette;        /* PLTE entries */
    unsigned        chunks;
    unsigned char  *pixels;         /* inflated IDAT, malloc()ed */
    size_t          pixels_len;
    char            error[128];
} ngx_http_vbp_captcha_test_png_t;


static void ngx_http_vbp_captcha_test_ok(int cond, const char *name);
static void ngx_http_vbp_captcha_test_noise(unsigned char *buf, size_t len,
    uint32_t seed);
static uint32_t ngx_http_vbp_captcha_test_get32(const unsigned char *p);
static int ngx_http_vbp_captcha_test_parse(const unsigned char *png,
    size_t len, ngx_http_vbp_captcha_test_png_t *info);
static int ngx_http_vbp_captcha_test_save(const char *path,
    const unsigned char *data, size_t len);
static size_t ngx_http_vbp_captcha_test_count(
    const ngx_http_vbp_captcha_test_png_t *info, unsigned lo, unsigned hi);


static unsigned  ngx_http_vbp_captcha_test_n;
static unsigned  ngx_http_vbp_captcha_test_failed;


int
main(void)
{
    int                               rc;
    size_t                            bound, w1, w2, i, len;
    unsigned char                    *a, *b;
    unsigned char                     noise[NGX_HTTP_VBP_CAPTCHA_TEST_NOISE];
    unsigned char                     noise2[NGX_HTTP_VBP_CAPTCHA_TEST_NOISE];
    unsigned char                     tiny[64];
    ngx_http_vbp_captcha_test_png_t   info;
    char                              name[128];

    static const struct {
        const char  *text;
        unsigned     width;
        unsigned     height;
    } samples[] = {
        { "K7QM",     120, 40 },
        { "W3X9B",    120, 40 },
        { "2345",      80, 30 },
        { "ABCDEFGH", 400, 120 },
        { "JKLMNPQR", 200, 60 },
        { "STUVWXYZ", 160, 50 },
        { "6789EFGH", 120, 40 }
    };

    printf("1..31\n");

    bound = ngx_http_vbp_captcha_png_bound(NGX_HTTP_VBP_CAPTCHA_MAX_WIDTH,
                                           NGX_HTTP_VBP_CAPTCHA_MAX_HEIGHT);
    a = malloc(bound);
    b = malloc(bound);
    if (a == NULL || b == NULL) {
        printf("Bail out! malloc\n");
        return 1;
    }

    ngx_http_vbp_captcha_test_noise(noise, sizeof(noise), 1);
    ngx_http_vbp_captcha_test_noise(noise2, sizeof(noise2), 2);

    /* default size render and full structural check */

    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise, sizeof(noise),
                                  a, bound, &w1);
    ngx_http_vbp_captcha_test_ok(rc == 0, "render 120x40 K7QM");

    memset(&info, 0, sizeof(info));
    rc = ngx_http_vbp_captcha_test_parse(a, w1, &info);
    if (rc != 0) {
        printf("# %s\n", info.error);
    }
    ngx_http_vbp_captcha_test_ok(rc == 0,
                             "signature, chunk layout, CRCs, IDAT inflates");
    ngx_http_vbp_captcha_test_ok(info.width == 120 && info.height == 40,
                                 "IHDR width/height");
    ngx_http_vbp_captcha_test_ok(info.pixels_len == 40 * (1 + 120),
                                 "inflated size = height * (1 + rowbytes)");
    ngx_http_vbp_captcha_test_ok(
        info.chunks == 4 && info.palette > 0 && info.palette <= 256,
        "IHDR, PLTE, IDAT, IEND only; palette sane");

    /* text pixels are the palette's upper half (16..31) */
    ngx_http_vbp_captcha_test_ok(
        ngx_http_vbp_captcha_test_count(&info, 16, 31) > 200,
        "text is drawn");
    ngx_http_vbp_captcha_test_ok(
        ngx_http_vbp_captcha_test_count(&info, 0, 7) > 120 * 40 / 2,
        "mostly background");

    free(info.pixels);
    info.pixels = NULL;

    ngx_http_vbp_captcha_test_ok(ngx_http_vbp_captcha_test_save(
                                     "build/captcha-sample.png", a, w1) == 0,
                                 "wrote build/captcha-sample.png");

    /* determinism */

    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise, sizeof(noise),
                                  b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == 0 && w1 == w2 && memcmp(a, b, w1) == 0,
                                 "same noise gives the same image");

    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise2, sizeof(noise2),
                                  b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == 0 && (w1 != w2 || memcmp(a, b, w1)),
                                 "different noise gives a different image");

    memcpy(noise2, noise, sizeof(noise));
    noise2[sizeof(noise2) - 1] ^= 1;
    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise2, sizeof(noise2),
                                  b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == 0 && (w1 != w2 || memcmp(a, b, w1)),
                                 "last noise byte matters too");

    rc = ngx_http_vbp_captcha_png("K7QN", 4, 120, 40, noise, sizeof(noise),
                                  b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == 0 && (w1 != w2 || memcmp(a, b, w1)),
                                 "different text gives a different image");

    /* exact fit succeeds, one byte less is -2 */

    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise, sizeof(noise),
                                  b, w1, &w2);
    ngx_http_vbp_captcha_test_ok(rc == 0 && w2 == w1 && memcmp(a, b, w1) == 0,
                                 "outlen == PNG size works");

    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise, sizeof(noise),
                                  b, w1 - 1, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -2, "outlen one short -> -2");

    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise, sizeof(noise),
                                  tiny, sizeof(tiny), &w2);
    ngx_http_vbp_captcha_test_ok(rc == -2, "tiny outlen -> -2");

    rc = ngx_http_vbp_captcha_png("K7QM", 4, 120, 40, noise, sizeof(noise),
                                  tiny, 0, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -2, "zero outlen -> -2");

    /* bad arguments */

    rc = ngx_http_vbp_captcha_png("", 0, 120, 40, noise, sizeof(noise),
                                  b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -1, "empty text -> -1");

    rc = ngx_http_vbp_captcha_png("K0QM", 4, 120, 40, noise, sizeof(noise),
                                  b, bound, &w2)
         + ngx_http_vbp_captcha_png("KOQM", 4, 120, 40, noise, sizeof(noise),
                                    b, bound, &w2)
         + ngx_http_vbp_captcha_png("K1QM", 4, 120, 40, noise, sizeof(noise),
                                    b, bound, &w2)
         + ngx_http_vbp_captcha_png("KIQM", 4, 120, 40, noise, sizeof(noise),
                                    b, bound, &w2)
         + ngx_http_vbp_captcha_png("k7qm", 4, 120, 40, noise, sizeof(noise),
                                    b, bound, &w2)
         + ngx_http_vbp_captcha_png("K7 M", 4, 120, 40, noise, sizeof(noise),
                                    b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -6,
                                 "0, O, 1, I, lower case, space -> -1");

    rc = ngx_http_vbp_captcha_png("K7\0M", 4, 120, 40, noise, sizeof(noise),
                                  b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -1, "embedded NUL -> -1");

    rc = ngx_http_vbp_captcha_png("ABCDEFGHJ", 9, 120, 40, noise,
                                  sizeof(noise), b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -1, "9 chars -> -1");

    rc = ngx_http_vbp_captcha_png("ABCD", 4, 79, 40, noise, sizeof(noise),
                                  b, bound, &w2)
         + ngx_http_vbp_captcha_png("ABCD", 4, 401, 40, noise, sizeof(noise),
                                    b, bound, &w2)
         + ngx_http_vbp_captcha_png("ABCD", 4, 120, 29, noise, sizeof(noise),
                                    b, bound, &w2)
         + ngx_http_vbp_captcha_png("ABCD", 4, 120, 121, noise, sizeof(noise),
                                    b, bound, &w2)
         + ngx_http_vbp_captcha_png("ABCD", 4, 0, 0, noise, sizeof(noise),
                                    b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -5, "bad sizes -> -1");

    rc = ngx_http_vbp_captcha_png("ABCD", 4, 120, 40, noise,
                                  NGX_HTTP_VBP_CAPTCHA_NOISE_BYTES - 1,
                                  b, bound, &w2)
         + ngx_http_vbp_captcha_png("ABCD", 4, 120, 40, NULL, sizeof(noise),
                                    b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == -2, "short or NULL noise -> -1");

    rc = ngx_http_vbp_captcha_png(NULL, 4, 120, 40, noise, sizeof(noise),
                                  b, bound, &w2)
         + ngx_http_vbp_captcha_png("ABCD", 4, 120, 40, noise, sizeof(noise),
                                    NULL, bound, &w2)
         + ngx_http_vbp_captcha_png("ABCD", 4, 120, 40, noise, sizeof(noise),
                                    b, bound, NULL);
    ngx_http_vbp_captcha_test_ok(rc == -3, "NULL text/out/written -> -1");

    ngx_http_vbp_captcha_test_ok(
        ngx_http_vbp_captcha_png_bound(79, 40) == 0
        && ngx_http_vbp_captcha_png_bound(120, 121) == 0
        && ngx_http_vbp_captcha_png_bound(120, 40) > 0
        && ngx_http_vbp_captcha_png_bound(120, 40) < bound,
        "bound: 0 out of range, grows with size");

    /* the bound holds at the maximum size even for incompressible noise */

    rc = 0;
    for (i = 0; i < 20; i++) {
        ngx_http_vbp_captcha_test_noise(noise2, sizeof(noise2),
                                        100 + (uint32_t) i);
        if (ngx_http_vbp_captcha_png("ABCDEFGH", 8, 400, 120, noise2,
                                     sizeof(noise2), b, bound, &w2) != 0
            || w2 > bound)
        {
            rc = -1;
        }
    }
    ngx_http_vbp_captcha_test_ok(rc == 0, "bound holds at 400x120, 8 chars");

    memset(&info, 0, sizeof(info));
    rc = ngx_http_vbp_captcha_test_parse(b, w2, &info);
    ngx_http_vbp_captcha_test_ok(rc == 0 && info.width == 400
                                 && info.height == 120
                                 && info.pixels_len == 120 * 401,
                                 "400x120 parses, size right");
    free(info.pixels);
    info.pixels = NULL;

    /* a larger noise buffer is fine, all bytes 0 or 0xff too */

    memset(noise2, 0, sizeof(noise2));
    rc = ngx_http_vbp_captcha_png("2345", 4, 80, 30, noise2, sizeof(noise2),
                                  b, bound, &w2);
    memset(noise2, 0xff, sizeof(noise2));
    rc += ngx_http_vbp_captcha_png("2345", 4, 80, 30, noise2,
                                   sizeof(noise2), b, bound, &w2);
    ngx_http_vbp_captcha_test_ok(rc == 0, "constant noise renders");

    {
        unsigned char  big[4096];

        ngx_http_vbp_captcha_test_noise(big, sizeof(big), 7);
        rc = ngx_http_vbp_captcha_png("Z", 1, 80, 30, big, sizeof(big),
                                      b, bound, &w2);
        ngx_http_vbp_captcha_test_ok(rc == 0, "single char, 4 KB of noise");
    }

    /* every glyph of the alphabet, at the edges of the size range */

    len = strlen(NGX_HTTP_VBP_CAPTCHA_ALPHABET);
    rc = 0;
    for (i = 0; i < len; i += NGX_HTTP_VBP_CAPTCHA_MAX_LEN) {
        unsigned  sz;

        for (sz = 0; sz < 4; sz++) {
            if (ngx_http_vbp_captcha_png(NGX_HTTP_VBP_CAPTCHA_ALPHABET + i,
                                         NGX_HTTP_VBP_CAPTCHA_MAX_LEN,
                                         (sz & 1) ? 400 : 80,
                                         (sz & 2) ? 120 : 30,
                                         noise, sizeof(noise),
                                         b, bound, &w2) != 0)
            {
                rc = -1;
                continue;
            }

            memset(&info, 0, sizeof(info));
            if (ngx_http_vbp_captcha_test_parse(b, w2, &info) != 0) {
                rc = -1;
            }
            free(info.pixels);
            info.pixels = NULL;
        }
    }
    ngx_http_vbp_captcha_test_ok(rc == 0, "whole alphabet at corner sizes");

    /* samples to look at */

    rc = 0;
    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        ngx_http_vbp_captcha_test_noise(noise2, sizeof(noise2),
                                        1000 + (uint32_t) i);
        if (ngx_http_vbp_captcha_png(samples[i].text, strlen(samples[i].text),
                                     samples[i].width, samples[i].height,
                                     noise2, sizeof(noise2), b, bound, &w2)
            != 0)
        {
            rc = -1;
            continue;
        }

        snprintf(name, sizeof(name), "build/captcha-sample-%u.png",
                 (unsigned) i);
        if (ngx_http_vbp_captcha_test_save(name, b, w2) != 0) {
            rc = -1;
        }
    }
    ngx_http_vbp_captcha_test_ok(rc == 0, "wrote build/captcha-sample-N.png");

    /* a stale *written must not look like success */

    w2 = 12345;
    rc = ngx_http_vbp_captcha_png("ABCD", 4, 120, 40, noise, sizeof(noise),
                                  tiny, sizeof(tiny), &w2);
    ngx_http_vbp_captcha_test_ok(rc == -2 && w2 == 0,
                                 "*written is 0 on -2");

    free(a);
    free(b);

    return ngx_http_vbp_captcha_test_failed ? 1 : 0;
}


static void
ngx_http_vbp_captcha_test_ok(int cond, const char *name)
{
    ngx_http_vbp_captcha_test_n++;

    if (!cond) {
        ngx_http_vbp_captcha_test_failed++;
    }

    printf("%sok %u - %s\n", cond ? "" : "not ",
           ngx_http_vbp_captcha_test_n, name);
}


/* a fixed xorshift stream, so the test itself is reproducible */
static void
ngx_http_vbp_captcha_test_noise(unsigned char *buf, size_t len,
    uint32_t seed)
{
    size_t    i;
    uint32_t  x;

    x = seed * 2654435761u + 1;

    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char) (x >> 24);
    }
}


static uint32_t
ngx_http_vbp_captcha_test_get32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


/*
 * An independent reader: walks the chunks, recomputes every CRC, checks
 * the order, inflates the IDAT data and checks filter bytes and indices.
 */
static int
ngx_http_vbp_captcha_test_parse(const unsigned char *png, size_t len,
    ngx_http_vbp_captcha_test_png_t *info)
{
    size_t          pos, clen, idat_len, i, j, stride;
    uint32_t        crc;
    uLongf          out_len;
    unsigned char  *idat, *tmp;
    int             seen_ihdr, seen_plte, seen_iend;

    info->pixels = NULL;
    info->chunks = 0;

    if (len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0) {
        snprintf(info->error, sizeof(info->error), "bad signature");
        return -1;
    }

    idat = NULL;
    idat_len = 0;
    seen_ihdr = seen_plte = seen_iend = 0;
    pos = 8;

    while (pos < len) {
        if (seen_iend) {
            snprintf(info->error, sizeof(info->error), "data after IEND");
            goto failed;
        }

        if (len - pos < 12) {
            snprintf(info->error, sizeof(info->error), "truncated chunk");
            goto failed;
        }

        clen = ngx_http_vbp_captcha_test_get32(png + pos);
        if (clen > len - pos - 12) {
            snprintf(info->error, sizeof(info->error), "chunk too long");
            goto failed;
        }

        crc = (uint32_t) crc32(crc32(0L, Z_NULL, 0), png + pos + 4,
                               (uInt) (clen + 4));
        if (crc != ngx_http_vbp_captcha_test_get32(png + pos + 8 + clen)) {
            snprintf(info->error, sizeof(info->error), "bad CRC in %.4s",
                     png + pos + 4);
            goto failed;
        }

        info->chunks++;

        if (memcmp(png + pos + 4, "IHDR", 4) == 0) {
            if (pos != 8 || clen != 13) {
                snprintf(info->error, sizeof(info->error), "bad IHDR");
                goto failed;
            }

            info->width = ngx_http_vbp_captcha_test_get32(png + pos + 8);
            info->height = ngx_http_vbp_captcha_test_get32(png + pos + 12);

            /* 8-bit indexed, deflate, filter 0, no interlace */
            if (memcmp(png + pos + 16, "\x08\x03\x00\x00\x00", 5) != 0) {
                snprintf(info->error, sizeof(info->error), "bad IHDR type");
                goto failed;
            }

            seen_ihdr = 1;

        } else if (memcmp(png + pos + 4, "PLTE", 4) == 0) {
            if (!seen_ihdr || idat != NULL || clen % 3 || clen == 0
                || clen > 768)
            {
                snprintf(info->error, sizeof(info->error), "bad PLTE");
                goto failed;
            }

            info->palette = (unsigned) (clen / 3);
            seen_plte = 1;

        } else if (memcmp(png + pos + 4, "IDAT", 4) == 0) {
            if (!seen_plte) {
                snprintf(info->error, sizeof(info->error), "IDAT early");
                goto failed;
            }

            tmp = realloc(idat, idat_len + clen + 1);
            if (tmp == NULL) {
                goto failed;
            }

            idat = tmp;
            memcpy(idat + idat_len, png + pos + 8, clen);
            idat_len += clen;

        } else if (memcmp(png + pos + 4, "IEND", 4) == 0) {
            if (clen != 0 || idat == NULL) {
                snprintf(info->error, sizeof(info->error), "bad IEND");
                goto failed;
            }

            seen_iend = 1;

        } else {
            snprintf(info->error, sizeof(info->error), "unexpected %.4s",
                     png + pos + 4);
            goto failed;
        }

        pos += 12 + clen;
    }

    if (!seen_iend) {
        snprintf(info->error, sizeof(info->error), "no IEND");
        goto failed;
    }

    stride = (size_t) info->width + 1;

    /* one spare byte: a stream that inflates to more would not fit */
    out_len = (uLongf) (stride * info->height + 1);
    info->pixels = malloc(out_len);
    if (info->pixels == NULL) {
        goto failed;
    }

    if (uncompress(info->pixels, &out_len, idat, (uLong) idat_len) != Z_OK) {
        snprintf(info->error, sizeof(info->error), "uncompress failed");
        goto failed;
    }

    info->pixels_len = out_len;

    if (out_len != stride * info->height) {
        snprintf(info->error, sizeof(info->error), "inflated %lu bytes",
                 (unsigned long) out_len);
        goto failed;
    }

    for (i = 0; i < info->height; i++) {
        if (info->pixels[i * stride] != 0) {
            snprintf(info->error, sizeof(info->error), "filter byte != 0");
            goto failed;
        }

        for (j = 1; j < stride; j++) {
            if (info->pixels[i * stride + j] >= info->palette) {
                snprintf(info->error, sizeof(info->error),
                         "index beyond palette");
                goto failed;
            }
        }
    }

    free(idat);

    return 0;

failed:

    free(idat);
    free(info->pixels);
    info->pixels = NULL;

    return -1;
}


static size_t
ngx_http_vbp_captcha_test_count(const ngx_http_vbp_captcha_test_png_t *info,
    unsigned lo, unsigned hi)
{
    size_t  i, n, stride;

    n = 0;
    stride = (size_t) info->width + 1;

    for (i = 0; i < info->pixels_len; i++) {
        if (i % stride != 0 && info->pixels[i] >= lo && info->pixels[i] <= hi)
        {
            n++;
        }
    }

    return n;
}


static int
ngx_http_vbp_captcha_test_save(const char *path, const unsigned char *data,
    size_t len)
{
    FILE  *f;

    /* build/ may not exist yet in a fresh tree */
    (void) mkdir("build", 0755);

    f = fopen(path, "wb");
    if (f == NULL) {
        return -1;
    }

    if (fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }

    return fclose(f) == 0 ? 0 : -1;
}
