
/*
 * Image captcha: draws the answer text into a palette PNG.
 *
 * Plain C99, libc and zlib only; no nginx headers, so it can be unit
 * tested on its own.  All randomness comes from the caller (noise bytes),
 * which keeps the renderer deterministic.
 */


#ifndef _NGX_HTTP_VBP_CAPTCHA_IMAGE_H_INCLUDED_
#define _NGX_HTTP_VBP_CAPTCHA_IMAGE_H_INCLUDED_


#include <stddef.h>


/* no 0/O/1/I: they are too easily confused */
#define NGX_HTTP_VBP_CAPTCHA_ALPHABET     "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#define NGX_HTTP_VBP_CAPTCHA_MAX_LEN      8

/* minimum number of caller-supplied random bytes */
#define NGX_HTTP_VBP_CAPTCHA_NOISE_BYTES  256

#define NGX_HTTP_VBP_CAPTCHA_MIN_WIDTH    80
#define NGX_HTTP_VBP_CAPTCHA_MAX_WIDTH    400
#define NGX_HTTP_VBP_CAPTCHA_MIN_HEIGHT   30
#define NGX_HTTP_VBP_CAPTCHA_MAX_HEIGHT   120

#define NGX_HTTP_VBP_CAPTCHA_DEFAULT_WIDTH   120
#define NGX_HTTP_VBP_CAPTCHA_DEFAULT_HEIGHT  40

#define NGX_HTTP_VBP_CAPTCHA_OK           0
#define NGX_HTTP_VBP_CAPTCHA_EINVAL      -1
#define NGX_HTTP_VBP_CAPTCHA_ENOSPC      -2


/*
 * Draw text (chars from the alphabet, 1..MAX_LEN of them) into a PNG image
 * of width x height pixels (80..400 x 30..120; others are rejected).
 * noise: caller-supplied random bytes (at least NOISE_BYTES) that decide
 * jitter, glyph offsets, slant, colours and noise lines/dots, so the
 * function itself is deterministic for a given input.
 * out: caller buffer of outlen bytes; on success *written is the PNG size.
 * Returns 0 on success, -1 on bad arguments (or when the temporary pixel
 * buffer cannot be allocated), -2 when outlen is too small.
 */
int ngx_http_vbp_captcha_png(const char *text, size_t len, unsigned width,
    unsigned height, const unsigned char *noise, size_t noiselen,
    unsigned char *out, size_t outlen, size_t *written);

/*
 * An upper bound for outlen for the given size, so the caller can allocate
 * once; 0 if the size is out of range.
 */
size_t ngx_http_vbp_captcha_png_bound(unsigned width, unsigned height);


#endif /* _NGX_HTTP_VBP_CAPTCHA_IMAGE_H_INCLUDED_ */
