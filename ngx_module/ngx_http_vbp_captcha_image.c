
/*
 * Image captcha: draws the answer text into a palette PNG.
 *
 * The glyphs come from a small 5x7 bitmap font, scaled up, slanted and
 * jittered per glyph, and anti-aliased by 4x4 supersampling into a few
 * palette shades.  A light gradient background, some curved noise lines
 * and dots are added; the noise stays thin so a person reads it easily.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ngx_http_vbp_captcha_image.h"


#define NGX_HTTP_VBP_CAPTCHA_GLYPH_W     5
#define NGX_HTTP_VBP_CAPTCHA_GLYPH_H     7

/* palette layout */
#define NGX_HTTP_VBP_CAPTCHA_BG_SHADES   8
#define NGX_HTTP_VBP_CAPTCHA_PAL_BG      0
#define NGX_HTTP_VBP_CAPTCHA_PAL_LINE    8
#define NGX_HTTP_VBP_CAPTCHA_PAL_DOT     12
#define NGX_HTTP_VBP_CAPTCHA_PAL_TEXT    16
#define NGX_HTTP_VBP_CAPTCHA_TEXT_COLORS 4
#define NGX_HTTP_VBP_CAPTCHA_TEXT_LEVELS 4
#define NGX_HTTP_VBP_CAPTCHA_PAL_SIZE    32

/* supersampling grid per pixel side */
#define NGX_HTTP_VBP_CAPTCHA_SS          4

/* fixed point: 1 pixel == 256 units */
#define NGX_HTTP_VBP_CAPTCHA_FP          256

#define NGX_HTTP_VBP_CAPTCHA_PNG_SIG     8
#define NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH   12          /* length+type+crc */
#define NGX_HTTP_VBP_CAPTCHA_IHDR_LEN    13


typedef struct {
    const unsigned char  *noise;
    size_t                len;
    size_t                pos;
    uint64_t              state;
} ngx_http_vbp_captcha_rng_t;


typedef struct {
    unsigned char        *pix;          /* rows of 1 filter byte + width */
    unsigned              width;
    unsigned              height;
    size_t                stride;
} ngx_http_vbp_captcha_canvas_t;


static uint32_t ngx_http_vbp_captcha_rand(ngx_http_vbp_captcha_rng_t *rng);
static long ngx_http_vbp_captcha_range(ngx_http_vbp_captcha_rng_t *rng,
    long lo, long hi);
static const char *ngx_http_vbp_captcha_glyph(int c);
static void ngx_http_vbp_captcha_palette(ngx_http_vbp_captcha_rng_t *rng,
    unsigned char *pal);
static void ngx_http_vbp_captcha_plot(ngx_http_vbp_captcha_canvas_t *cv,
    long x, long y, unsigned char color);
static void ngx_http_vbp_captcha_background(ngx_http_vbp_captcha_canvas_t *cv);
static void ngx_http_vbp_captcha_dots(ngx_http_vbp_captcha_canvas_t *cv,
    ngx_http_vbp_captcha_rng_t *rng, unsigned n);
static void ngx_http_vbp_captcha_line(ngx_http_vbp_captcha_canvas_t *cv,
    ngx_http_vbp_captcha_rng_t *rng);
static void ngx_http_vbp_captcha_text(ngx_http_vbp_captcha_canvas_t *cv,
    ngx_http_vbp_captcha_rng_t *rng, const char *text, size_t len);
static void ngx_http_vbp_captcha_draw_glyph(ngx_http_vbp_captcha_canvas_t *cv,
    const char *glyph, long cx, long cy, long scale, long shx, long shy,
    unsigned char color);
static int ngx_http_vbp_captcha_covered(const char *glyph, long u, long v,
    long scale);
static int ngx_http_vbp_captcha_cell(const char *glyph, long col, long row);
static int ngx_http_vbp_captcha_valid_size(unsigned width, unsigned height);
static unsigned char *ngx_http_vbp_captcha_put32(unsigned char *p,
    uint32_t v);
static unsigned char *ngx_http_vbp_captcha_chunk_end(unsigned char *start,
    unsigned char *end);


/*
 * Our own 5x7 font, one string per glyph, rows top to bottom, in alphabet
 * order.  Strokes are one cell wide; scaling makes them bold enough.
 */
static const char  ngx_http_vbp_captcha_font[][NGX_HTTP_VBP_CAPTCHA_GLYPH_H
                                               * NGX_HTTP_VBP_CAPTCHA_GLYPH_W
                                               + 1] =
{
    /* 2 */ ".###." "#...#" "....#" "..##." ".#..." "#...." "#####",
    /* 3 */ "####." "....#" "....#" ".###." "....#" "....#" "####.",
    /* 4 */ "...#." "..##." ".#.#." "#..#." "#####" "...#." "...#.",
    /* 5 */ "#####" "#...." "####." "....#" "....#" "#...#" ".###.",
    /* 6 */ "..##." ".#..." "#...." "####." "#...#" "#...#" ".###.",
    /* 7 */ "#####" "....#" "...#." "..#.." "..#.." ".#..." ".#...",
    /* 8 */ ".###." "#...#" "#...#" ".###." "#...#" "#...#" ".###.",
    /* 9 */ ".###." "#...#" "#...#" ".####" "....#" "...#." ".##..",
    /* A */ "..#.." ".#.#." "#...#" "#...#" "#####" "#...#" "#...#",
    /* B */ "####." "#...#" "#...#" "####." "#...#" "#...#" "####.",
    /* C */ ".####" "#...." "#...." "#...." "#...." "#...." ".####",
    /* D */ "###.." "#..#." "#...#" "#...#" "#...#" "#..#." "###..",
    /* E */ "#####" "#...." "#...." "####." "#...." "#...." "#####",
    /* F */ "#####" "#...." "#...." "####." "#...." "#...." "#....",
    /* G */ ".####" "#...." "#...." "#..##" "#...#" "#...#" ".###.",
    /* H */ "#...#" "#...#" "#...#" "#####" "#...#" "#...#" "#...#",
    /* J */ "..###" "...#." "...#." "...#." "...#." "#..#." ".##..",
    /* K */ "#...#" "#..#." "#.#.." "##..." "#.#.." "#..#." "#...#",
    /* L */ "#...." "#...." "#...." "#...." "#...." "#...." "#####",
    /* M */ "#...#" "##.##" "#.#.#" "#.#.#" "#...#" "#...#" "#...#",
    /* N */ "#...#" "##..#" "##..#" "#.#.#" "#..##" "#..##" "#...#",
    /* P */ "####." "#...#" "#...#" "####." "#...." "#...." "#....",
    /* Q */ ".###." "#...#" "#...#" "#...#" "#.#.#" "#..#." ".##.#",
    /* R */ "####." "#...#" "#...#" "####." "#.#.." "#..#." "#...#",
    /* S */ ".####" "#...." "#...." ".###." "....#" "....#" "####.",
    /* T */ "#####" "..#.." "..#.." "..#.." "..#.." "..#.." "..#..",
    /* U */ "#...#" "#...#" "#...#" "#...#" "#...#" "#...#" ".###.",
    /* V */ "#...#" "#...#" "#...#" ".#.#." ".#.#." ".#.#." "..#..",
    /* W */ "#...#" "#...#" "#...#" "#.#.#" "#.#.#" "##.##" "#...#",
    /* X */ "#...#" "#...#" ".#.#." "..#.." ".#.#." "#...#" "#...#",
    /* Y */ "#...#" "#...#" ".#.#." "..#.." "..#.." "..#.." "..#..",
    /* Z */ "#####" "....#" "...#." "..#.." ".#..." "#...." "#####"
};


/* dark, well separated text colours; four are picked per image */
static const unsigned char  ngx_http_vbp_captcha_ink[][3] = {
    {  28,  48, 140 },
    { 140,  28,  40 },
    {  20, 100,  48 },
    {  92,  30, 124 },
    { 112,  60,  18 },
    {  12,  88, 112 },
    {  40,  40,  40 },
    { 150,  40, 110 }
};

#define NGX_HTTP_VBP_CAPTCHA_INKS                                             \
    (sizeof(ngx_http_vbp_captcha_ink) / sizeof(ngx_http_vbp_captcha_ink[0]))


int
ngx_http_vbp_captcha_png(const char *text, size_t len, unsigned width,
    unsigned height, const unsigned char *noise, size_t noiselen,
    unsigned char *out, size_t outlen, size_t *written)
{
    int                            rc;
    size_t                         i, raw, head;
    unsigned                       n, k;
    uLongf                         zlen;
    unsigned char                  pal[NGX_HTTP_VBP_CAPTCHA_PAL_SIZE * 3];
    unsigned char                 *p, *chunk;
    ngx_http_vbp_captcha_rng_t     rng;
    ngx_http_vbp_captcha_canvas_t  cv;

    if (text == NULL || noise == NULL || out == NULL || written == NULL) {
        return NGX_HTTP_VBP_CAPTCHA_EINVAL;
    }

    if (len == 0 || len > NGX_HTTP_VBP_CAPTCHA_MAX_LEN
        || noiselen < NGX_HTTP_VBP_CAPTCHA_NOISE_BYTES
        || !ngx_http_vbp_captcha_valid_size(width, height))
    {
        return NGX_HTTP_VBP_CAPTCHA_EINVAL;
    }

    for (i = 0; i < len; i++) {
        if (ngx_http_vbp_captcha_glyph((unsigned char) text[i]) == NULL) {
            return NGX_HTTP_VBP_CAPTCHA_EINVAL;
        }
    }

    *written = 0;

    head = NGX_HTTP_VBP_CAPTCHA_PNG_SIG
           + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH + NGX_HTTP_VBP_CAPTCHA_IHDR_LEN
           + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH + sizeof(pal)
           + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH;        /* IDAT framing */

    /* IDAT framing and IEND must fit around the compressed data */
    if (outlen < head + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH) {
        return NGX_HTTP_VBP_CAPTCHA_ENOSPC;
    }

    cv.width = width;
    cv.height = height;
    cv.stride = (size_t) width + 1;
    raw = cv.stride * height;

    /* the only allocation: rows already carry their filter byte (0) */
    cv.pix = malloc(raw);
    if (cv.pix == NULL) {
        return NGX_HTTP_VBP_CAPTCHA_EINVAL;
    }

    rng.noise = noise;
    rng.len = noiselen;
    rng.pos = 0;
    rng.state = 0x9e3779b97f4a7c15ULL ^ noiselen;

    ngx_http_vbp_captcha_palette(&rng, pal);

    /* behind the text: background, most dots, half of the lines */
    ngx_http_vbp_captcha_background(&cv);
    ngx_http_vbp_captcha_dots(&cv, &rng, width * height / 45);

    n = 2 + (unsigned) ngx_http_vbp_captcha_range(&rng, 0, 2);

    for (k = 0; k < (n + 1) / 2; k++) {
        ngx_http_vbp_captcha_line(&cv, &rng);
    }

    ngx_http_vbp_captcha_text(&cv, &rng, text, len);

    /*
     * The rest of the lines and a few dots go over the glyphs so they are
     * not trivially separable; one pixel wide, they do not hurt reading.
     */
    for ( /* void */ ; k < n; k++) {
        ngx_http_vbp_captcha_line(&cv, &rng);
    }

    ngx_http_vbp_captcha_dots(&cv, &rng, width * height / 160);

    /* signature */
    p = out;
    memcpy(p, "\x89PNG\r\n\x1a\n", NGX_HTTP_VBP_CAPTCHA_PNG_SIG);
    p += NGX_HTTP_VBP_CAPTCHA_PNG_SIG;

    /* IHDR: 8-bit palette, deflate, no interlace */
    chunk = p;
    p = ngx_http_vbp_captcha_put32(p, NGX_HTTP_VBP_CAPTCHA_IHDR_LEN);
    memcpy(p, "IHDR", 4);
    p += 4;
    p = ngx_http_vbp_captcha_put32(p, width);
    p = ngx_http_vbp_captcha_put32(p, height);
    *p++ = 8;       /* bit depth */
    *p++ = 3;       /* colour type: indexed */
    *p++ = 0;       /* compression */
    *p++ = 0;       /* filter method */
    *p++ = 0;       /* interlace */
    p = ngx_http_vbp_captcha_chunk_end(chunk, p);

    /* PLTE */
    chunk = p;
    p = ngx_http_vbp_captcha_put32(p, sizeof(pal));
    memcpy(p, "PLTE", 4);
    p += 4;
    memcpy(p, pal, sizeof(pal));
    p += sizeof(pal);
    p = ngx_http_vbp_captcha_chunk_end(chunk, p);

    /* IDAT: compress straight into the caller's buffer */
    chunk = p;
    zlen = (uLongf) (outlen - head - NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH);

    rc = compress2(p + 8, &zlen, cv.pix, (uLong) raw, Z_BEST_COMPRESSION);

    free(cv.pix);

    if (rc != Z_OK) {
        return (rc == Z_BUF_ERROR) ? NGX_HTTP_VBP_CAPTCHA_ENOSPC
                                   : NGX_HTTP_VBP_CAPTCHA_EINVAL;
    }

    p = ngx_http_vbp_captcha_put32(p, (uint32_t) zlen);
    memcpy(p, "IDAT", 4);
    p += 4 + zlen;
    p = ngx_http_vbp_captcha_chunk_end(chunk, p);

    /* IEND */
    chunk = p;
    p = ngx_http_vbp_captcha_put32(p, 0);
    memcpy(p, "IEND", 4);
    p += 4;
    p = ngx_http_vbp_captcha_chunk_end(chunk, p);

    *written = (size_t) (p - out);

    return NGX_HTTP_VBP_CAPTCHA_OK;
}


size_t
ngx_http_vbp_captcha_png_bound(unsigned width, unsigned height)
{
    size_t  raw;

    if (!ngx_http_vbp_captcha_valid_size(width, height)) {
        return 0;
    }

    raw = ((size_t) width + 1) * height;

    return NGX_HTTP_VBP_CAPTCHA_PNG_SIG
           + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH + NGX_HTTP_VBP_CAPTCHA_IHDR_LEN
           + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH + NGX_HTTP_VBP_CAPTCHA_PAL_SIZE * 3
           + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH + compressBound((uLong) raw)
           + NGX_HTTP_VBP_CAPTCHA_CHUNK_OVH;
}


static int
ngx_http_vbp_captcha_valid_size(unsigned width, unsigned height)
{
    return width >= NGX_HTTP_VBP_CAPTCHA_MIN_WIDTH
           && width <= NGX_HTTP_VBP_CAPTCHA_MAX_WIDTH
           && height >= NGX_HTTP_VBP_CAPTCHA_MIN_HEIGHT
           && height <= NGX_HTTP_VBP_CAPTCHA_MAX_HEIGHT;
}


/*
 * splitmix64 stepped with the next noise byte: every noise byte affects
 * the picture, and we never run dry however many values are drawn.
 */
static uint32_t
ngx_http_vbp_captcha_rand(ngx_http_vbp_captcha_rng_t *rng)
{
    uint64_t  z;

    rng->state += 0x9e3779b97f4a7c15ULL + rng->noise[rng->pos];
    rng->pos = (rng->pos + 1) % rng->len;

    z = rng->state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;

    return (uint32_t) (z >> 32);
}


/* uniform-enough integer in [lo, hi] */
static long
ngx_http_vbp_captcha_range(ngx_http_vbp_captcha_rng_t *rng, long lo, long hi)
{
    if (hi <= lo) {
        return lo;
    }

    return lo + (long) (ngx_http_vbp_captcha_rand(rng)
                        % (uint32_t) (hi - lo + 1));
}


static const char *
ngx_http_vbp_captcha_glyph(int c)
{
    const char  *s;

    if (c == '\0') {
        return NULL;
    }

    s = strchr(NGX_HTTP_VBP_CAPTCHA_ALPHABET, c);
    if (s == NULL) {
        return NULL;
    }

    return ngx_http_vbp_captcha_font[s - NGX_HTTP_VBP_CAPTCHA_ALPHABET];
}


static void
ngx_http_vbp_captcha_palette(ngx_http_vbp_captcha_rng_t *rng,
    unsigned char *pal)
{
    int            i, c, k, l;
    unsigned char  from[3], to[3], mid[3], used[NGX_HTTP_VBP_CAPTCHA_INKS];
    unsigned char *e;

    /* a gentle gradient between two light tints */
    for (c = 0; c < 3; c++) {
        from[c] = (unsigned char) ngx_http_vbp_captcha_range(rng, 232, 252);
        to[c] = (unsigned char) ngx_http_vbp_captcha_range(rng, 218, 248);
        mid[c] = (unsigned char) ((from[c] + to[c]) / 2);
    }

    for (i = 0; i < NGX_HTTP_VBP_CAPTCHA_BG_SHADES; i++) {
        e = pal + 3 * (NGX_HTTP_VBP_CAPTCHA_PAL_BG + i);

        for (c = 0; c < 3; c++) {
            e[c] = (unsigned char) (from[c] + (to[c] - from[c]) * i
                                    / (NGX_HTTP_VBP_CAPTCHA_BG_SHADES - 1));
        }
    }

    /* noise lines: mid tones, visible but well lighter than the ink */
    for (i = 0; i < 4; i++) {
        e = pal + 3 * (NGX_HTTP_VBP_CAPTCHA_PAL_LINE + i);

        for (c = 0; c < 3; c++) {
            e[c] = (unsigned char) ngx_http_vbp_captcha_range(rng, 90, 190);
        }
    }

    /* dots: lighter still */
    for (i = 0; i < 4; i++) {
        e = pal + 3 * (NGX_HTTP_VBP_CAPTCHA_PAL_DOT + i);

        for (c = 0; c < 3; c++) {
            e[c] = (unsigned char) ngx_http_vbp_captcha_range(rng, 120, 215);
        }
    }

    /* ink: distinct colours, each in coverage levels blended with the bg */
    memset(used, 0, sizeof(used));

    for (k = 0; k < NGX_HTTP_VBP_CAPTCHA_TEXT_COLORS; k++) {
        i = (int) ngx_http_vbp_captcha_range(rng, 0,
                                             NGX_HTTP_VBP_CAPTCHA_INKS - 1);
        while (used[i]) {
            i = (i + 1) % (int) NGX_HTTP_VBP_CAPTCHA_INKS;
        }

        used[i] = 1;

        for (l = 1; l <= NGX_HTTP_VBP_CAPTCHA_TEXT_LEVELS; l++) {
            e = pal + 3 * (NGX_HTTP_VBP_CAPTCHA_PAL_TEXT
                           + k * NGX_HTTP_VBP_CAPTCHA_TEXT_LEVELS + l - 1);

            for (c = 0; c < 3; c++) {
                e[c] = (unsigned char)
                       ((mid[c] * (NGX_HTTP_VBP_CAPTCHA_TEXT_LEVELS - l)
                         + ngx_http_vbp_captcha_ink[i][c] * l)
                        / NGX_HTTP_VBP_CAPTCHA_TEXT_LEVELS);
            }
        }
    }
}


static void
ngx_http_vbp_captcha_plot(ngx_http_vbp_captcha_canvas_t *cv, long x, long y,
    unsigned char color)
{
    if (x < 0 || y < 0 || x >= (long) cv->width || y >= (long) cv->height) {
        return;
    }

    cv->pix[(size_t) y * cv->stride + 1 + (size_t) x] = color;
}


static void
ngx_http_vbp_captcha_background(ngx_http_vbp_captcha_canvas_t *cv)
{
    unsigned        x, y;
    unsigned char  *row;

    for (y = 0; y < cv->height; y++) {
        row = cv->pix + (size_t) y * cv->stride;
        row[0] = 0;                                 /* filter: none */

        for (x = 0; x < cv->width; x++) {
            row[1 + x] = (unsigned char) (NGX_HTTP_VBP_CAPTCHA_PAL_BG
                              + x * NGX_HTTP_VBP_CAPTCHA_BG_SHADES / cv->width);
        }
    }
}


static void
ngx_http_vbp_captcha_dots(ngx_http_vbp_captcha_canvas_t *cv,
    ngx_http_vbp_captcha_rng_t *rng, unsigned n)
{
    long           x, y;
    unsigned       i;
    unsigned char  color;

    for (i = 0; i < n; i++) {
        x = ngx_http_vbp_captcha_range(rng, 0, cv->width - 1);
        y = ngx_http_vbp_captcha_range(rng, 0, cv->height - 1);
        color = (unsigned char) (NGX_HTTP_VBP_CAPTCHA_PAL_DOT
                                 + ngx_http_vbp_captcha_range(rng, 0, 3));

        ngx_http_vbp_captcha_plot(cv, x, y, color);

        /* every few dots is a 2x1 speck, so they are not all identical */
        if (ngx_http_vbp_captcha_range(rng, 0, 3) == 0) {
            ngx_http_vbp_captcha_plot(cv, x + 1, y, color);
        }
    }
}


/* a one pixel quadratic Bezier across most of the width */
static void
ngx_http_vbp_captcha_line(ngx_http_vbp_captcha_canvas_t *cv,
    ngx_http_vbp_captcha_rng_t *rng)
{
    long           w, h, x0, y0, x1, y1, x2, y2, steps, t, u, x, y;
    unsigned char  color;

    w = cv->width;
    h = cv->height;

    x0 = ngx_http_vbp_captcha_range(rng, 0, w / 5);
    y0 = ngx_http_vbp_captcha_range(rng, h / 8, h - 1 - h / 8);
    x2 = ngx_http_vbp_captcha_range(rng, w - 1 - w / 5, w - 1);
    y2 = ngx_http_vbp_captcha_range(rng, h / 8, h - 1 - h / 8);
    x1 = ngx_http_vbp_captcha_range(rng, w / 4, w - 1 - w / 4);
    y1 = ngx_http_vbp_captcha_range(rng, -h / 2, h + h / 2);

    color = (unsigned char) (NGX_HTTP_VBP_CAPTCHA_PAL_LINE
                             + ngx_http_vbp_captcha_range(rng, 0, 3));

    /* dense enough that consecutive points touch */
    steps = 2 * (w + 2 * h);

    for (t = 0; t <= steps; t++) {
        u = steps - t;
        x = (u * u * x0 + 2 * u * t * x1 + t * t * x2 + steps * steps / 2)
            / (steps * steps);
        y = (u * u * y0 + 2 * u * t * y1 + t * t * y2 + steps * steps / 2)
            / (steps * steps);

        ngx_http_vbp_captcha_plot(cv, x, y, color);
    }
}


static void
ngx_http_vbp_captcha_text(ngx_http_vbp_captcha_canvas_t *cv,
    ngx_http_vbp_captcha_rng_t *rng, const char *text, size_t len)
{
    long           w, h, margin, cell, scale, s, gw, gh, cx, cy, room;
    long           shx, shy;
    size_t         i;
    unsigned char  color;

    w = (long) cv->width * NGX_HTTP_VBP_CAPTCHA_FP;
    h = (long) cv->height * NGX_HTTP_VBP_CAPTCHA_FP;

    margin = w / 16;
    cell = (w - 2 * margin) / (long) len;

    /*
     * Glyph size: about 70% of the height, and at most 80% of a cell so
     * neighbours do not touch even when jittered towards each other.
     */
    scale = h * 70 / 100 / NGX_HTTP_VBP_CAPTCHA_GLYPH_H;

    if (scale > cell * 80 / 100 / NGX_HTTP_VBP_CAPTCHA_GLYPH_W) {
        scale = cell * 80 / 100 / NGX_HTTP_VBP_CAPTCHA_GLYPH_W;
    }

    for (i = 0; i < len; i++) {
        /* +-6% size, so the glyphs do not look stamped */
        s = scale * ngx_http_vbp_captcha_range(rng, 94, 106) / 100;
        gw = s * NGX_HTTP_VBP_CAPTCHA_GLYPH_W;
        gh = s * NGX_HTTP_VBP_CAPTCHA_GLYPH_H;

        cx = margin + cell * (long) i + cell / 2;
        room = (cell - gw) / 2;
        if (room > 0) {
            cx += ngx_http_vbp_captcha_range(rng, -room * 2 / 3, room * 2 / 3);
        }

        cy = h / 2;
        room = (h - gh) / 2;
        if (room > 0) {
            cy += ngx_http_vbp_captcha_range(rng, -room * 2 / 3, room * 2 / 3);
        }

        /* slant (x sheared by y) plus a small tilt: reads as a rotation */
        shx = ngx_http_vbp_captcha_range(rng, -70, 70);
        shy = ngx_http_vbp_captcha_range(rng, -30, 30);

        color = (unsigned char) (NGX_HTTP_VBP_CAPTCHA_PAL_TEXT
                                 + ngx_http_vbp_captcha_range(rng, 0,
                                       NGX_HTTP_VBP_CAPTCHA_TEXT_COLORS - 1)
                                   * NGX_HTTP_VBP_CAPTCHA_TEXT_LEVELS);

        ngx_http_vbp_captcha_draw_glyph(cv,
                                        ngx_http_vbp_captcha_glyph(
                                            (unsigned char) text[i]),
                                        cx, cy, s, shx, shy, color);
    }
}


/*
 * Inverse mapping: for every subsample of every pixel near the glyph find
 * the font cell it lands in.  All values are fixed point (FP per pixel),
 * shx/shy are shear factors in 1/256.  color is the first of the glyph
 * colour's coverage levels.
 */
static void
ngx_http_vbp_captcha_draw_glyph(ngx_http_vbp_captcha_canvas_t *cv,
    const char *glyph, long cx, long cy, long scale, long shx, long shy,
    unsigned char color)
{
    long  x, y, x0, y0, x1, y1, ex, ey, sx, sy, dx, dy, u, v;
    long  hits, level, total;

    /* half extents plus what the shear can add, with a pixel to spare */
    ex = scale * NGX_HTTP_VBP_CAPTCHA_GLYPH_W / 2;
    ey = scale * NGX_HTTP_VBP_CAPTCHA_GLYPH_H / 2;
    ex += (labs(shx) * ey + labs(shy) * ex) / NGX_HTTP_VBP_CAPTCHA_FP
          + NGX_HTTP_VBP_CAPTCHA_FP;
    ey += (labs(shy) * ex) / NGX_HTTP_VBP_CAPTCHA_FP + NGX_HTTP_VBP_CAPTCHA_FP;

    x0 = (cx - ex) / NGX_HTTP_VBP_CAPTCHA_FP;
    x1 = (cx + ex) / NGX_HTTP_VBP_CAPTCHA_FP;
    y0 = (cy - ey) / NGX_HTTP_VBP_CAPTCHA_FP;
    y1 = (cy + ey) / NGX_HTTP_VBP_CAPTCHA_FP;

    if (x0 < 0) {
        x0 = 0;
    }

    if (y0 < 0) {
        y0 = 0;
    }

    if (x1 > (long) cv->width - 1) {
        x1 = (long) cv->width - 1;
    }

    if (y1 > (long) cv->height - 1) {
        y1 = (long) cv->height - 1;
    }

    total = NGX_HTTP_VBP_CAPTCHA_SS * NGX_HTTP_VBP_CAPTCHA_SS;

    for (y = y0; y <= y1; y++) {
        for (x = x0; x <= x1; x++) {

            hits = 0;

            for (sy = 0; sy < NGX_HTTP_VBP_CAPTCHA_SS; sy++) {
                for (sx = 0; sx < NGX_HTTP_VBP_CAPTCHA_SS; sx++) {

                    dx = x * NGX_HTTP_VBP_CAPTCHA_FP
                         + (2 * sx + 1) * NGX_HTTP_VBP_CAPTCHA_FP
                           / (2 * NGX_HTTP_VBP_CAPTCHA_SS)
                         - cx;
                    dy = y * NGX_HTTP_VBP_CAPTCHA_FP
                         + (2 * sy + 1) * NGX_HTTP_VBP_CAPTCHA_FP
                           / (2 * NGX_HTTP_VBP_CAPTCHA_SS)
                         - cy;

                    /* positive shx leans the top to the right */
                    u = dx + shx * dy / NGX_HTTP_VBP_CAPTCHA_FP;
                    v = dy + shy * dx / NGX_HTTP_VBP_CAPTCHA_FP;

                    hits += ngx_http_vbp_captcha_covered(glyph, u, v,
                                                         scale);
                }
            }

            if (hits == 0) {
                continue;
            }

            level = (hits * NGX_HTTP_VBP_CAPTCHA_TEXT_LEVELS + total / 2)
                    / total;

            if (level == 0) {
                continue;
            }

            ngx_http_vbp_captcha_plot(cv, x, y,
                                      (unsigned char) (color + level - 1));
        }
    }
}


/*
 * Does the glyph cover point (u, v), given relative to the glyph centre
 * in the same units as scale (the size of one font cell)?
 */
static int
ngx_http_vbp_captcha_covered(const char *glyph, long u, long v, long scale)
{
    long  col, row, fx, fy, nx, ny;

    /* cell = floor(u / scale + W / 2), without floats */
    u = 2 * u + NGX_HTTP_VBP_CAPTCHA_GLYPH_W * scale;
    v = 2 * v + NGX_HTTP_VBP_CAPTCHA_GLYPH_H * scale;

    if (u < 0 || v < 0) {
        return 0;
    }

    col = u / (2 * scale);
    row = v / (2 * scale);

    if (col >= NGX_HTTP_VBP_CAPTCHA_GLYPH_W
        || row >= NGX_HTTP_VBP_CAPTCHA_GLYPH_H)
    {
        return 0;
    }

    if (ngx_http_vbp_captcha_cell(glyph, col, row)) {
        return 1;
    }

    /*
     * Smooth the staircase of diagonal strokes: an empty cell gets the
     * half towards a corner where both neighbours are set but the diagonal
     * one is not (an inner corner of an L keeps its square shape).
     */
    fx = u % (2 * scale);
    fy = v % (2 * scale);

    for (ny = -1; ny <= 1; ny += 2) {
        for (nx = -1; nx <= 1; nx += 2) {

            /* outside the triangle cut off by that corner's anti-diagonal */
            if ((nx < 0 ? 2 * scale - fx : fx) + (ny < 0 ? 2 * scale - fy : fy)
                <= 2 * scale)
            {
                continue;
            }

            if (ngx_http_vbp_captcha_cell(glyph, col + nx, row)
                && ngx_http_vbp_captcha_cell(glyph, col, row + ny)
                && !ngx_http_vbp_captcha_cell(glyph, col + nx, row + ny))
            {
                return 1;
            }
        }
    }

    return 0;
}


/* is the font cell set; outside the glyph counts as empty */
static int
ngx_http_vbp_captcha_cell(const char *glyph, long col, long row)
{
    if (col < 0 || row < 0 || col >= NGX_HTTP_VBP_CAPTCHA_GLYPH_W
        || row >= NGX_HTTP_VBP_CAPTCHA_GLYPH_H)
    {
        return 0;
    }

    return glyph[row * NGX_HTTP_VBP_CAPTCHA_GLYPH_W + col] == '#';
}


static unsigned char *
ngx_http_vbp_captcha_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;

    return p + 4;
}


/* start points at the chunk length, end past the data: append the CRC */
static unsigned char *
ngx_http_vbp_captcha_chunk_end(unsigned char *start, unsigned char *end)
{
    uLong  crc;

    crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, start + 4, (uInt) (end - start - 4));

    return ngx_http_vbp_captcha_put32(end, (uint32_t) crc);
}
