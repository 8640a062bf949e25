
/*
 * Copyright (C) the VBP platform developers
 *
 * Image captcha: the answer drawn with libgd and TrueType fonts, each
 * letter in a font, size, angle and colour of its own, the whole warped by
 * two sine waves and crossed by lines drawn in the letters' colours, on a
 * background of arcs and speckles.
 *
 * No nginx headers, so it is unit tested on its own
 * (ngx_module/t/captcha_test.c).  The randomness of the drawing comes from
 * the caller's seed; the answer itself is the caller's.
 */


#ifndef _NGX_HTTP_VBP_CAPTCHA_IMAGE_H_INCLUDED_
#define _NGX_HTTP_VBP_CAPTCHA_IMAGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* no 0/O/1/I: they are too easily confused */
#define NGX_HTTP_VBP_CAPTCHA_ALPHABET     "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#define NGX_HTTP_VBP_CAPTCHA_MAX_LEN      8

#define NGX_HTTP_VBP_CAPTCHA_WIDTH        140
#define NGX_HTTP_VBP_CAPTCHA_HEIGHT       48

#define NGX_HTTP_VBP_CAPTCHA_FONTS_MAX    8

/* Debian's fonts-dejavu-core */
#define NGX_HTTP_VBP_CAPTCHA_FONT_DIR     "/usr/share/fonts/truetype/dejavu/"
#define NGX_HTTP_VBP_CAPTCHA_DEFAULT_FONTS                                    \
    NGX_HTTP_VBP_CAPTCHA_FONT_DIR "DejaVuSans-Bold.ttf",                      \
    NGX_HTTP_VBP_CAPTCHA_FONT_DIR "DejaVuSerif-Bold.ttf",                     \
    NGX_HTTP_VBP_CAPTCHA_FONT_DIR "DejaVuSansMono-Bold.ttf"


/*
 * Draws text (1..MAX_LEN letters of the alphabet) with the fonts (TrueType
 * files, nfonts of them) into a PNG of WIDTH x HEIGHT pixels.  On success
 * returns 0 and *png (to be freed with ngx_http_vbp_captcha_free()) of
 * *size bytes; -1 on bad arguments, a font that cannot be used or no
 * memory.  err, when not NULL, receives libgd's word on a font.
 */
int ngx_http_vbp_captcha_png(const char *text, size_t len,
    const char *const *fonts, size_t nfonts, uint64_t seed,
    void **png, int *size, const char **err);

void ngx_http_vbp_captcha_free(void *png);

/* NULL when the letters can be drawn with this TrueType font, else why */
const char *ngx_http_vbp_captcha_font_check(const char *font);

/* libgd's font cache, once per process that draws */
int ngx_http_vbp_captcha_init(void);
void ngx_http_vbp_captcha_done(void);


#endif /* _NGX_HTTP_VBP_CAPTCHA_IMAGE_H_INCLUDED_ */
