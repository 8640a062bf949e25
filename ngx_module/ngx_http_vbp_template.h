
/*
 * Logic-less, mustache-like HTML templates.
 *
 * Templates are compiled once (at configuration load) into a flat array
 * of nodes per template; rendering walks that array with a fixed-size
 * stack and never allocates, so it is cheap enough for every request.
 *
 * Plain C99, libc and jansson only; no nginx headers, so it can be unit
 * tested on its own (see t/template_test.c).
 *
 * Language:
 *   {{name}}  {{a.b.c}}  {{.}}        HTML-escaped value
 *   {{{name}}}  {{& name}}            unescaped value
 *   {{#name}}...{{/name}}             section: array / object / truthy
 *   {{^name}}...{{/name}}             inverted section
 *   {{> name}}  {{> name.html}}       partial, resolved at compile time
 *   {{! comment }}                    ignored
 */


#ifndef _NGX_HTTP_VBP_TEMPLATE_H_INCLUDED_
#define _NGX_HTTP_VBP_TEMPLATE_H_INCLUDED_


#include <stddef.h>

#include <jansson.h>


/* sections plus partial includes open at once, checked at compile time */
#define NGX_HTTP_VBP_TPL_MAX_DEPTH   32

/* largest template source accepted */
#define NGX_HTTP_VBP_TPL_MAX_SIZE    (1024 * 1024)


typedef struct ngx_http_vbp_tpl_set_s  ngx_http_vbp_tpl_set_t;
typedef struct ngx_http_vbp_tpl_s      ngx_http_vbp_tpl_t;

/* Output sink: returns 0 on success, -1 to abort rendering. */
typedef int (*ngx_http_vbp_tpl_emit_pt)(void *data, const char *p, size_t len);


/*
 * Compiles every "*.html" regular file directly in dir (hidden files are
 * skipped); a template's name is its file name, e.g. "home.html".  On error
 * returns NULL and writes "FILE:LINE: what is wrong" into err (always
 * NUL-terminated when errlen > 0).
 */
ngx_http_vbp_tpl_set_t *ngx_http_vbp_tpl_compile_dir(const char *dir,
    char *err, size_t errlen);

/* The same for in-memory sources; names double as file names in errors. */
ngx_http_vbp_tpl_set_t *ngx_http_vbp_tpl_compile_strings(const char **names,
    const char **sources, size_t n, char *err, size_t errlen);

void ngx_http_vbp_tpl_set_free(ngx_http_vbp_tpl_set_t *set);

/* Exact name lookup ("home.html"); name need not be NUL-terminated. */
const ngx_http_vbp_tpl_t *ngx_http_vbp_tpl_find(
    const ngx_http_vbp_tpl_set_t *set, const char *name, size_t len);

/*
 * Renders tpl with ctx (borrowed, may be NULL) as the root context.
 * Returns 0, or -1 when emit failed.
 */
int ngx_http_vbp_tpl_render(const ngx_http_vbp_tpl_t *tpl, json_t *ctx,
    ngx_http_vbp_tpl_emit_pt emit, void *data);


#endif /* _NGX_HTTP_VBP_TEMPLATE_H_INCLUDED_ */
