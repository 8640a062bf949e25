
/*
 * Copyright (C) the VBP platform developers
 *
 * The captcha picture, drawn with libgd (FreeType underneath).  What makes
 * it hard to read by machine and still easy for a clerk:
 *
 *   - each letter has its own font, size, angle, colour and height, so no
 *     two letters of one picture, nor one letter in two pictures, match a
 *     template;
 *   - the whole is warped by two sine waves of random phase, which bends
 *     strokes and baselines;
 *   - two wavy lines in the letters' own colours run through the text, so
 *     colour and connected components do not separate the letters;
 *   - arcs and speckles under the text defeat a plain threshold.
 *
 * About 1.5 ms of CPU per picture (build/captcha_test prints it): cheap
 * next to the argon2id hash of the sign-in it guards.
 */


#include <math.h>
#include <string.h>
#include <gd.h>

#include "ngx_http_vbp_captcha_image.h"


#define W  NGX_HTTP_VBP_CAPTCHA_WIDTH
#define H  NGX_HTTP_VBP_CAPTCHA_HEIGHT


typedef struct {
    uint64_t  state;
} ngx_http_vbp_rng_t;


static uint64_t ngx_http_vbp_rng_next(ngx_http_vbp_rng_t *rng);
static int ngx_http_vbp_rng_range(ngx_http_vbp_rng_t *rng, int lo, int hi);
static double ngx_http_vbp_rng_unit(ngx_http_vbp_rng_t *rng);
static void ngx_http_vbp_captcha_background(gdImagePtr im,
    ngx_http_vbp_rng_t *rng);
static const char *ngx_http_vbp_captcha_letters(gdImagePtr im,
    const char *text, size_t len, const char *const *fonts, size_t nfonts,
    ngx_http_vbp_rng_t *rng, int *colors);
static void ngx_http_vbp_captcha_strike(gdImagePtr im,
    ngx_http_vbp_rng_t *rng, int color);
static gdImagePtr ngx_http_vbp_captcha_warp(gdImagePtr im,
    ngx_http_vbp_rng_t *rng);


int
ngx_http_vbp_captcha_init(void)
{
    return gdFontCacheSetup() == 0 ? 0 : -1;
}


void
ngx_http_vbp_captcha_done(void)
{
    gdFontCacheShutdown();
}


int
ngx_http_vbp_captcha_png(const char *text, size_t len,
    const char *const *fonts, size_t nfonts, uint64_t seed, void **png,
    int *size, const char **err)
{
    int                  colors[NGX_HTTP_VBP_CAPTCHA_MAX_LEN];
    size_t               i;
    gdImagePtr           im, warped;
    const char          *why;
    ngx_http_vbp_rng_t   rng;

    if (len == 0 || len > NGX_HTTP_VBP_CAPTCHA_MAX_LEN || nfonts == 0
        || nfonts > NGX_HTTP_VBP_CAPTCHA_FONTS_MAX || png == NULL
        || size == NULL)
    {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (text[i] == '\0'
            || strchr(NGX_HTTP_VBP_CAPTCHA_ALPHABET, text[i]) == NULL)
        {
            return -1;
        }
    }

    /* xorshift must not start from 0 */
    rng.state = seed ? seed : 0x9E3779B97F4A7C15ULL;

    im = gdImageCreateTrueColor(W, H);
    if (im == NULL) {
        return -1;
    }

    ngx_http_vbp_captcha_background(im, &rng);

    why = ngx_http_vbp_captcha_letters(im, text, len, fonts, nfonts, &rng,
                                       colors);
    if (why) {
        if (err) {
            *err = why;
        }

        gdImageDestroy(im);
        return -1;
    }

    ngx_http_vbp_captcha_strike(im, &rng, colors[0]);
    ngx_http_vbp_captcha_strike(im, &rng, colors[len - 1]);

    warped = ngx_http_vbp_captcha_warp(im, &rng);
    gdImageDestroy(im);

    if (warped == NULL) {
        return -1;
    }

    /* true colour: about 5 KB; a palette would halve that for 60 % more
     * CPU, which the sign-in storm needs more than the bytes */
    *png = gdImagePngPtrEx(warped, size, 6);
    gdImageDestroy(warped);

    return *png ? 0 : -1;
}


/*
 * NULL when FreeType can draw the letters with this font, else libgd's
 * word: only the bounding box is measured (no picture), which loads the
 * font as drawing would
 */
const char *
ngx_http_vbp_captcha_font_check(const char *font)
{
    int   brect[8];

    return gdImageStringFT(NULL, brect, 0, (char *) font, 20.0, 0.0, 0, 0,
                           (char *) NGX_HTTP_VBP_CAPTCHA_ALPHABET);
}


void
ngx_http_vbp_captcha_free(void *png)
{
    gdFree(png);
}


static void
ngx_http_vbp_captcha_background(gdImagePtr im, ngx_http_vbp_rng_t *rng)
{
    int  i, c, x, y;

    c = gdTrueColor(ngx_http_vbp_rng_range(rng, 226, 250),
                    ngx_http_vbp_rng_range(rng, 226, 250),
                    ngx_http_vbp_rng_range(rng, 226, 250));
    gdImageFilledRectangle(im, 0, 0, W - 1, H - 1, c);

    for (i = 0; i < 7; i++) {
        c = gdTrueColor(ngx_http_vbp_rng_range(rng, 140, 215),
                        ngx_http_vbp_rng_range(rng, 140, 215),
                        ngx_http_vbp_rng_range(rng, 140, 215));
        gdImageArc(im, ngx_http_vbp_rng_range(rng, 0, W),
                   ngx_http_vbp_rng_range(rng, 0, H),
                   ngx_http_vbp_rng_range(rng, 30, 2 * W),
                   ngx_http_vbp_rng_range(rng, 20, 2 * H),
                   ngx_http_vbp_rng_range(rng, 0, 359),
                   ngx_http_vbp_rng_range(rng, 0, 359), c);
    }

    for (i = 0; i < 180; i++) {
        x = ngx_http_vbp_rng_range(rng, 0, W - 1);
        y = ngx_http_vbp_rng_range(rng, 0, H - 1);
        c = gdTrueColor(ngx_http_vbp_rng_range(rng, 90, 200),
                        ngx_http_vbp_rng_range(rng, 90, 200),
                        ngx_http_vbp_rng_range(rng, 90, 200));
        gdImageSetPixel(im, x, y, c);
    }
}


/* NULL, or libgd's word on a font that failed */
static const char *
ngx_http_vbp_captcha_letters(gdImagePtr im, const char *text, size_t len,
    const char *const *fonts, size_t nfonts, ngx_http_vbp_rng_t *rng,
    int *colors)
{
    int          x, y, step, brect[8];
    char         letter[2];
    char        *why;
    size_t       i;
    double       pt, angle;
    const char  *font;

    step = (W - 16) / (int) len;
    x = ngx_http_vbp_rng_range(rng, 6, 12);
    letter[1] = '\0';

    for (i = 0; i < len; i++) {
        font = fonts[ngx_http_vbp_rng_next(rng) % nfonts];
        pt = 19.0 + 5.0 * ngx_http_vbp_rng_unit(rng);
        angle = (ngx_http_vbp_rng_unit(rng) - 0.5) * 0.7;
        y = H / 2 + (int) (pt * 0.48) + ngx_http_vbp_rng_range(rng, -4, 3);

        colors[i] = gdTrueColor(ngx_http_vbp_rng_range(rng, 10, 120),
                                ngx_http_vbp_rng_range(rng, 10, 120),
                                ngx_http_vbp_rng_range(rng, 10, 120));

        letter[0] = text[i];

        why = gdImageStringFT(im, brect, colors[i], (char *) font, pt, angle,
                              x + ngx_http_vbp_rng_range(rng, -2, 3), y,
                              letter);
        if (why) {
            return why;
        }

        x += step + ngx_http_vbp_rng_range(rng, -3, 2);
    }

    return NULL;
}


/* a wavy line through the text, in a letter's colour */
static void
ngx_http_vbp_captcha_strike(gdImagePtr im, ngx_http_vbp_rng_t *rng,
    int color)
{
    int     x, y, px, py;
    double  amp, period, phase, mid;

    amp = 3.0 + 5.0 * ngx_http_vbp_rng_unit(rng);
    period = 30.0 + 50.0 * ngx_http_vbp_rng_unit(rng);
    phase = 6.2832 * ngx_http_vbp_rng_unit(rng);
    mid = H * (0.35 + 0.3 * ngx_http_vbp_rng_unit(rng));

    px = 0;
    py = (int) (mid + amp * sin(phase));

    for (x = 4; x <= W; x += 4) {
        y = (int) (mid + amp * sin(6.2832 * x / period + phase));
        gdImageLine(im, px, py, x, y, color);
        px = x;
        py = y;
    }
}


/* every pixel taken from a place moved by two sine waves */
static gdImagePtr
ngx_http_vbp_captcha_warp(gdImagePtr im, ngx_http_vbp_rng_t *rng)
{
    int          x, y, sx, sy, bg;
    double       ax, ay, px, py, fx, fy;
    gdImagePtr   out;

    out = gdImageCreateTrueColor(W, H);
    if (out == NULL) {
        return NULL;
    }

    ax = 1.0 + 1.5 * ngx_http_vbp_rng_unit(rng);
    ay = 1.5 + 2.0 * ngx_http_vbp_rng_unit(rng);
    px = 24.0 + 16.0 * ngx_http_vbp_rng_unit(rng);
    py = 50.0 + 40.0 * ngx_http_vbp_rng_unit(rng);
    fx = 6.2832 * ngx_http_vbp_rng_unit(rng);
    fy = 6.2832 * ngx_http_vbp_rng_unit(rng);

    bg = im->tpixels[0][0];

    for (y = 0; y < H; y++) {
        for (x = 0; x < W; x++) {
            sx = x + (int) lrint(ax * sin(6.2832 * y / px + fx));
            sy = y + (int) lrint(ay * sin(6.2832 * x / py + fy));

            out->tpixels[y][x] = (sx >= 0 && sx < W && sy >= 0 && sy < H)
                                 ? im->tpixels[sy][sx] : bg;
        }
    }

    return out;
}


/* xorshift64*: the drawing needs variety, not secrecy */
static uint64_t
ngx_http_vbp_rng_next(ngx_http_vbp_rng_t *rng)
{
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;

    return rng->state * 0x2545F4914F6CDD1DULL;
}


static int
ngx_http_vbp_rng_range(ngx_http_vbp_rng_t *rng, int lo, int hi)
{
    return lo + (int) (ngx_http_vbp_rng_next(rng) % (uint64_t) (hi - lo + 1));
}


static double
ngx_http_vbp_rng_unit(ngx_http_vbp_rng_t *rng)
{
    return (double) (ngx_http_vbp_rng_next(rng) >> 11) / 9007199254740992.0;
}
