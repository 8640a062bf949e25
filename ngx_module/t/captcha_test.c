
/*
 * Unit test of the captcha picture (ngx_http_vbp_captcha_image.c); prints
 * TAP.  Built by make (see Makefile), run by t/010-c-units.t from the top
 * of the work tree; writes build/captcha-sample-N.png for a person to look
 * at, and prints the cost of one picture.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gd.h>

#include "../ngx_http_vbp_captcha_image.h"


static const char *const  fonts[] = { NGX_HTTP_VBP_CAPTCHA_DEFAULT_FONTS };
static const size_t       nfonts = sizeof(fonts) / sizeof(fonts[0]);

static int  tests, failed;


static void
ok(int cond, const char *name)
{
    tests++;
    failed += !cond;
    printf("%s %d - %s\n", cond ? "ok" : "not ok", tests, name);
}


/* the picture decoded again, or NULL */
static gdImagePtr
decode(void *png, int size)
{
    return gdImageCreateFromPngPtr(size, png);
}


/* the number of distinct colours (up to 64 counted) and of dark pixels */
static void
census(gdImagePtr im, int *colours, int *dark)
{
    int  x, y, c, i, seen[64];

    *colours = 0;
    *dark = 0;

    for (y = 0; y < gdImageSY(im); y++) {
        for (x = 0; x < gdImageSX(im); x++) {
            c = gdImageGetPixel(im, x, y);

            for (i = 0; i < *colours && seen[i] != c; i++) {
                /* void */
            }

            if (i == *colours && *colours < 64) {
                seen[(*colours)++] = c;
            }

            if (gdImageRed(im, c) + gdImageGreen(im, c) + gdImageBlue(im, c)
                < 3 * 130)
            {
                (*dark)++;
            }
        }
    }
}


int
main(void)
{
    int          size, size2, colours, dark, i, n;
    char         name[64];
    void        *png, *png2;
    FILE        *f;
    double       ms;
    clock_t      t0;
    gdImagePtr   im;
    const char  *err;

    static const char *const  bad_font[] = { "/nonexistent/font.ttf" };

    ok(ngx_http_vbp_captcha_init() == 0, "the font cache is set up");

    png = NULL;
    ok(ngx_http_vbp_captcha_png("K7QM", 4, fonts, nfonts, 42, &png, &size,
                                NULL) == 0,
       "a picture is drawn with the default fonts");
    ok(size > 100 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "it is a PNG");

    im = decode(png, size);
    ok(im != NULL, "libgd reads it back");

    if (im) {
        ok(gdImageSX(im) == NGX_HTTP_VBP_CAPTCHA_WIDTH
           && gdImageSY(im) == NGX_HTTP_VBP_CAPTCHA_HEIGHT,
           "of the announced size");
        census(im, &colours, &dark);
        ok(colours >= 16, "in many colours (noise, letters, lines)");
        ok(dark > 200 && dark < NGX_HTTP_VBP_CAPTCHA_WIDTH
                                * NGX_HTTP_VBP_CAPTCHA_HEIGHT / 2,
           "with letters drawn, not a blot");
        gdImageDestroy(im);
    }

    png2 = NULL;
    ok(ngx_http_vbp_captcha_png("K7QM", 4, fonts, nfonts, 42, &png2, &size2,
                                NULL) == 0
       && size2 == size && memcmp(png, png2, size) == 0,
       "one seed, one picture: the drawing is the caller's randomness");
    ngx_http_vbp_captcha_free(png2);

    png2 = NULL;
    ok(ngx_http_vbp_captcha_png("K7QM", 4, fonts, nfonts, 43, &png2, &size2,
                                NULL) == 0
       && (size2 != size || memcmp(png, png2, size) != 0),
       "another seed, the same text: another picture");
    ngx_http_vbp_captcha_free(png2);
    ngx_http_vbp_captcha_free(png);

    /* bad arguments are refused, never drawn */
    ok(ngx_http_vbp_captcha_png("", 0, fonts, nfonts, 1, &png, &size, NULL)
       == -1, "no text: refused");
    ok(ngx_http_vbp_captcha_png("ABCDEFGHJ", 9, fonts, nfonts, 1, &png, &size,
                                NULL) == -1, "too long: refused");
    ok(ngx_http_vbp_captcha_png("AB0C", 4, fonts, nfonts, 1, &png, &size,
                                NULL) == -1, "a letter outside the alphabet (0)");
    ok(ngx_http_vbp_captcha_png("abcd", 4, fonts, nfonts, 1, &png, &size,
                                NULL) == -1, "lower case: refused");
    ok(ngx_http_vbp_captcha_png("ABCD", 4, fonts, 0, 1, &png, &size, NULL)
       == -1, "no font: refused");

    err = NULL;
    ok(ngx_http_vbp_captcha_png("ABCD", 4, bad_font, 1, 1, &png, &size, &err)
       == -1 && err != NULL, "a font that cannot be read: refused, with why");

    ok(ngx_http_vbp_captcha_font_check(fonts[0]) == NULL,
       "the font check passes a font that draws");
    ok(ngx_http_vbp_captcha_font_check(bad_font[0]) != NULL,
       "... and names what is wrong with one that does not");

    /* samples for the eye */
    for (i = 0; i < 4; i++) {
        static const char *const  words[] = { "K7QM", "3HXW", "PZ9R", "A4NE" };

        if (ngx_http_vbp_captcha_png(words[i], 4, fonts, nfonts, 1000 + i,
                                     &png, &size, NULL) == 0)
        {
            snprintf(name, sizeof(name), "build/captcha-sample-%d.png", i);
            f = fopen(name, "wb");
            if (f) {
                (void) fwrite(png, 1, size, f);
                (void) fclose(f);
            }
            ngx_http_vbp_captcha_free(png);
        }
    }

    /* the cost of one picture, for the sign-in storm (not asserted) */
    n = 500;
    t0 = clock();

    for (i = 0; i < n; i++) {
        if (ngx_http_vbp_captcha_png("K7QM", 4, fonts, nfonts, i + 1, &png,
                                     &size, NULL) == 0)
        {
            ngx_http_vbp_captcha_free(png);
        }
    }

    ms = (double) (clock() - t0) * 1000.0 / CLOCKS_PER_SEC / n;
    printf("# %.3f ms of CPU per picture (%d pictures)\n", ms, n);

    ngx_http_vbp_captcha_done();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
