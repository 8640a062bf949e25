/*
 * Text that people type or import: valid UTF-8, one line, and nothing a
 * reader cannot see.  One check for every argument (ops.c) and every
 * imported cell (import.c), so that a name cannot hide a control character
 * or turn its neighbours around with a bidirectional override.
 */

#include <string.h>

#include "vbp.h"


/* the code point at *p, which moves past it; -1 for invalid UTF-8 */
long
vbp_utf8_next(const unsigned char **p)
{
    long                  cp;
    size_t                n, i;
    const unsigned char  *s = *p;

    if (s[0] < 0x80) {
        *p = s + 1;
        return s[0];
    }

    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 1;
        cp = s[0] & 0x1F;

    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 2;
        cp = s[0] & 0x0F;

    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 3;
        cp = s[0] & 0x07;

    } else {
        return -1;
    }

    for (i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return -1;
        }

        cp = (cp << 6) | (s[i] & 0x3F);
    }

    /* overlong forms, surrogates and beyond U+10FFFF are not UTF-8 */
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
        || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    {
        return -1;
    }

    *p = s + n + 1;

    return cp;
}


/* characters that are there without being seen, or that reorder text */
static int
vbp_text_invisible(long cp)
{
    return cp < 0x20 || cp == 0x7F
           || (cp >= 0x80 && cp <= 0x9F)            /* C1 controls */
           || cp == 0xAD                            /* soft hyphen */
           || cp == 0x061C                          /* Arabic letter mark */
           || (cp >= 0x200B && cp <= 0x200F)        /* zero width, LRM, RLM */
           || (cp >= 0x2028 && cp <= 0x202E)        /* separators, embeddings */
           || (cp >= 0x2060 && cp <= 0x206F)        /* isolates, invisibles */
           || cp == 0xFEFF                          /* a BOM inside text */
           || (cp >= 0xFFF9 && cp <= 0xFFFB)        /* annotations */
           || (cp & 0xFFFE) == 0xFFFE;              /* non-characters */
}


/*
 * NULL when the len bytes at s are one line of visible text, else what is
 * wrong, for the message next to the field; *chars counts the characters
 */
const char *
vbp_text_check(const char *s, size_t len, size_t *chars)
{
    long                  cp;
    size_t                n;
    const unsigned char  *p, *end;

    p = (const unsigned char *) s;
    end = p + len;

    for (n = 0; p < end; n++) {
        if (*p == '\0') {
            return "含有控制字符";
        }

        cp = vbp_utf8_next(&p);

        if (cp < 0 || p > end) {
            return "不是有效的 UTF-8 文本";
        }

        if (vbp_text_invisible(cp)) {
            return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)
                   ? "含有控制字符" : "含有不可见的格式字符";
        }
    }

    if (chars) {
        *chars = n;
    }

    return NULL;
}


/* as vbp_text_check(), for a text of several lines: line ends (LF, CR)
 * and tabs are allowed, every other control character is not */
const char *
vbp_text_check_lines(const char *s, size_t len, size_t *chars)
{
    size_t       n, start, total;
    const char  *why;

    total = 0;

    for (start = 0, n = 0; n <= len; n++) {
        if (n < len && s[n] != '\n' && s[n] != '\r' && s[n] != '\t') {
            continue;
        }

        if (n > start) {
            size_t  part;

            why = vbp_text_check(s + start, n - start, &part);
            if (why) {
                return why;
            }

            total += part;
        }

        total += n < len;
        start = n + 1;
    }

    if (chars) {
        *chars = total;
    }

    return NULL;
}


/*
 * NULL when s holds only Chinese characters, letters and digits (the names
 * of sub-accounts, seed 001), else the message
 */
const char *
vbp_text_plain_name(const char *s)
{
    long                  cp;
    const unsigned char  *p;

    for (p = (const unsigned char *) s; *p; /* void */ ) {
        cp = vbp_utf8_next(&p);

        if (cp < 0) {
            return "不是有效的 UTF-8 文本";
        }

        if (!((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z')
              || (cp >= 'a' && cp <= 'z')
              || (cp >= 0x4E00 && cp <= 0x9FFF)     /* CJK unified */
              || (cp >= 0x3400 && cp <= 0x4DBF)))   /* extension A */
        {
            return "只能包含汉字、字母和数字";
        }
    }

    return NULL;
}


/*
 * A count as typed by a clerk into OUT (at most LEN - 1 digits): ASCII
 * digits, full-width ones (０-９, what a Chinese input method types)
 * read as such, spaces around or between them (half or full width) left
 * out.  NULL, or what is wrong with it.
 */
const char *
vbp_text_digits(const char *s, char *out, size_t len)
{
    long                  cp;
    size_t                n;
    const unsigned char  *p;

    n = 0;

    for (p = (const unsigned char *) s; *p; /* void */ ) {
        cp = vbp_utf8_next(&p);

        if (cp == ' ' || cp == 0x3000) {
            continue;
        }

        if (cp >= 0xFF10 && cp <= 0xFF19) {
            cp = '0' + (cp - 0xFF10);
        }

        if (cp == '-' || cp == 0xFF0D) {
            return "数量不能为负数";
        }

        if (cp == '.' || cp == 0xFF0E || cp == 0x3002) {
            return "数量应为整数，不能有小数";
        }

        if (cp < '0' || cp > '9') {
            return "数量应为整数，只能填写数字";
        }

        if (n + 1 >= len) {
            return "数量过大（最大 2147483647）";
        }

        out[n++] = (char) cp;
    }

    out[n] = '\0';

    return NULL;
}
