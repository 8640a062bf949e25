
/*
 * cc -Wall -Wextra -Werror -O2 -g -o build/template_test ngx_module/t/template_test.c ngx_module/ngx_http_vbp_template.c -ljansson
 *
 * Unit test for the template engine; prints TAP and exits non-zero when
 * a case fails.  The compile_dir() cases work in a fresh directory under
 * $TMPDIR (or /tmp) and remove it afterwards.  Also meant to run clean
 * under valgrind --leak-check=full --error-exitcode=1.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "../ngx_http_vbp_template.h"


#define T_MAX  NGX_HTTP_VBP_TPL_MAX_DEPTH


typedef struct {
    char    *p;
    size_t   len;
    size_t   size;
    size_t   calls;
    size_t   fail_at;       /* fail on this call (1-based), 0: never */
    int      nomem;
} ngx_http_vbp_tpl_test_buf_t;


static void t_ok(int cond, const char *name);
static int t_sink(void *data, const char *p, size_t len);
static char *t_render_set(const ngx_http_vbp_tpl_set_t *set,
    const char *tpl, const char *json);
static void t_render_n(const char *name, const char **names,
    const char **srcs, size_t n, const char *tpl, const char *json,
    const char *expect);
static void t_render(const char *name, const char *src, const char *json,
    const char *expect);
static void t_error_n(const char *name, const char **names,
    const char **srcs, size_t n, const char *expect);
static void t_error(const char *name, const char *src, const char *expect);
static char *t_repeat(const char *a, size_t n, const char *mid,
    const char *b);

static void t_variables(void);
static void t_escaping(void);
static void t_values(void);
static void t_dotted(void);
static void t_sections(void);
static void t_inverted(void);
static void t_contexts(void);
static void t_partials(void);
static void t_depth(void);
static void t_errors(void);
static void t_limits(void);
static void t_api(void);
static void t_dir(void);


static int  t_count;
static int  t_failed;


int
main(void)
{
    t_variables();
    t_escaping();
    t_values();
    t_dotted();
    t_sections();
    t_inverted();
    t_contexts();
    t_partials();
    t_depth();
    t_errors();
    t_limits();
    t_api();
    t_dir();

    printf("1..%d\n", t_count);

    return t_failed ? 1 : 0;
}


static void
t_ok(int cond, const char *name)
{
    t_count++;

    if (!cond) {
        t_failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", t_count, name);
}


static int
t_sink(void *data, const char *p, size_t len)
{
    char                         *np;
    size_t                        size;
    ngx_http_vbp_tpl_test_buf_t  *b = data;

    b->calls++;

    if (b->fail_at && b->calls >= b->fail_at) {
        return -1;
    }

    if (b->len + len + 1 > b->size) {
        size = (b->len + len + 1) * 2;

        np = realloc(b->p, size);
        if (np == NULL) {
            b->nomem = 1;
            return -1;
        }

        b->p = np;
        b->size = size;
    }

    memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = '\0';

    return 0;
}


/* renders into a malloc()ed string; NULL when anything failed */
static char *
t_render_set(const ngx_http_vbp_tpl_set_t *set, const char *tpl,
    const char *json)
{
    json_t                       *ctx;
    json_error_t                  jerr;
    ngx_http_vbp_tpl_test_buf_t   b;
    const ngx_http_vbp_tpl_t     *t;

    memset(&b, 0, sizeof(b));

    t = ngx_http_vbp_tpl_find(set, tpl, strlen(tpl));
    if (t == NULL) {
        printf("# template \"%s\" not found\n", tpl);
        return NULL;
    }

    ctx = NULL;

    if (json) {
        ctx = json_loads(json, JSON_DECODE_ANY, &jerr);
        if (ctx == NULL) {
            printf("# bad test json: %s\n", jerr.text);
            return NULL;
        }
    }

    if (ngx_http_vbp_tpl_render(t, ctx, t_sink, &b) != 0) {
        printf("# render failed\n");
        json_decref(ctx);
        free(b.p);
        return NULL;
    }

    json_decref(ctx);

    if (b.p == NULL) {
        b.p = calloc(1, 1);
    }

    return b.p;
}


static void
t_render_n(const char *name, const char **names, const char **srcs, size_t n,
    const char *tpl, const char *json, const char *expect)
{
    char                    *out, err[256];
    ngx_http_vbp_tpl_set_t  *set;

    set = ngx_http_vbp_tpl_compile_strings(names, srcs, n, err, sizeof(err));
    if (set == NULL) {
        printf("# compile failed: %s\n", err);
        t_ok(0, name);
        return;
    }

    out = t_render_set(set, tpl, json);

    if (out && strcmp(out, expect) != 0) {
        printf("# expected: \"%s\"\n#      got: \"%s\"\n", expect, out);
    }

    t_ok(out && strcmp(out, expect) == 0, name);

    free(out);
    ngx_http_vbp_tpl_set_free(set);
}


static void
t_render(const char *name, const char *src, const char *json,
    const char *expect)
{
    const char  *names[1] = { "t.html" };
    const char  *srcs[1];

    srcs[0] = src;
    t_render_n(name, names, srcs, 1, "t.html", json, expect);
}


static void
t_error_n(const char *name, const char **names, const char **srcs, size_t n,
    const char *expect)
{
    char                     err[256];
    ngx_http_vbp_tpl_set_t  *set;

    memset(err, 'x', sizeof(err));

    set = ngx_http_vbp_tpl_compile_strings(names, srcs, n, err, sizeof(err));
    if (set) {
        printf("# compiled, expected error \"%s\"\n", expect);
        ngx_http_vbp_tpl_set_free(set);
        t_ok(0, name);
        return;
    }

    if (strcmp(err, expect) != 0) {
        printf("# expected: \"%s\"\n#      got: \"%s\"\n", expect, err);
    }

    t_ok(strcmp(err, expect) == 0, name);
}


static void
t_error(const char *name, const char *src, const char *expect)
{
    const char  *names[1] = { "t.html" };
    const char  *srcs[1];

    srcs[0] = src;
    t_error_n(name, names, srcs, 1, expect);
}


/* a * n + mid + b * n, malloc()ed */
static char *
t_repeat(const char *a, size_t n, const char *mid, const char *b)
{
    char    *s;
    size_t   i, alen, blen, mlen;

    alen = strlen(a);
    blen = strlen(b);
    mlen = strlen(mid);

    s = malloc(n * (alen + blen) + mlen + 1);
    if (s == NULL) {
        exit(2);
    }

    s[0] = '\0';

    for (i = 0; i < n; i++) {
        strcat(s, a);
    }

    strcat(s, mid);

    for (i = 0; i < n; i++) {
        strcat(s, b);
    }

    return s;
}


static void
t_variables(void)
{
    t_render("text only", "Hello\n  world } { }}\n", "{}",
             "Hello\n  world } { }}\n");
    t_render("empty template", "", "{}", "");
    t_render("variable", "Hi {{name}}!", "{\"name\":\"Bob\"}", "Hi Bob!");
    t_render("chinese text and value",
             "<p>你好，{{name}}！欢迎光临</p>\n",
             "{\"name\":\"世界\"}",
             "<p>你好，世界！欢迎光临</p>\n");
    t_render("chinese escaped and raw", "{{s}}|{{{s}}}",
             "{\"s\":\"中文<b>\\u00e9\"}",
             "中文&lt;b&gt;é|中文<b>é");
    t_render("whitespace inside tags",
             "{{ name }}|{{name }}|{{  name}}|{{\tname\t}}|{{{ name }}}"
             "|{{& name }}|{{# s }}S{{/ s }}|{{ #s }}T{{ /s }}",
             "{\"name\":\"n\",\"s\":true}",
             "n|n|n|n|n|n|S|T");
    t_render("comments are dropped",
             "a{{! hidden }}b{{!\nmulti {x} {{ \nline\n}}c{{!}}d",
             "{}", "abcd");
    t_render("missing variable", "[{{nope}}]", "{}", "[]");
    t_render("same template text twice", "{{a}}{{a}}", "{\"a\":\"x\"}",
             "xx");
    t_render("extra brace after tag is text", "{{a}}}{{{a}}}}",
             "{\"a\":\"x\"}", "x}x}");
}


static void
t_escaping(void)
{
    t_render("escape &", "{{s}}", "{\"s\":\"&\"}", "&amp;");
    t_render("escape <", "{{s}}", "{\"s\":\"<\"}", "&lt;");
    t_render("escape >", "{{s}}", "{\"s\":\">\"}", "&gt;");
    t_render("escape \"", "{{s}}", "{\"s\":\"\\\"\"}", "&quot;");
    t_render("escape '", "{{s}}", "{\"s\":\"'\"}", "&#39;");
    t_render("escape mixed", "{{s}}",
             "{\"s\":\"a&b<c>d\\\"e'f&&\"}",
             "a&amp;b&lt;c&gt;d&quot;e&#39;f&amp;&amp;");
    t_render("triple is raw", "{{{s}}}", "{\"s\":\"<a href='x'>&\\\"</a>\"}",
             "<a href='x'>&\"</a>");
    t_render("ampersand is raw", "{{&s}}{{& s}}", "{\"s\":\"<&>\"}",
             "<&><&>");
    t_render("template text is not escaped", "<b>&amp;'\"</b>", "{}",
             "<b>&amp;'\"</b>");
}


static void
t_values(void)
{
    t_render("integers", "{{a}} {{b}} {{c}} {{d}}",
             "{\"a\":42,\"b\":-7,\"c\":0,\"d\":9007199254740993}",
             "42 -7 0 9007199254740993");
    t_render("reals", "{{a}} {{b}} {{c}} {{d}} {{e}} {{f}}",
             "{\"a\":3.5,\"b\":2.0,\"c\":3.14159,\"d\":-2.25,"
             "\"e\":-0.001,\"f\":1e20}",
             "3.5 2 3.14 -2.25 0 100000000000000000000");
    t_render("booleans", "{{t}} {{f}}", "{\"t\":true,\"f\":false}",
             "true false");
    t_render("null, object, array print nothing", "[{{n}}{{o}}{{a}}]",
             "{\"n\":null,\"o\":{\"x\":1},\"a\":[1,2]}", "[]");
    t_render("dot is the current context", "{{.}}", "\"<root>\"",
             "&lt;root&gt;");
    t_render("dot on an object prints nothing", "[{{.}}]", "{\"a\":1}",
             "[]");
    t_render("NULL context", "x{{a}}{{#a}}y{{/a}}{{^a}}z{{/a}}[{{.}}]",
             NULL, "xz[]");
}


static void
t_dotted(void)
{
    const char  *json = "{\"a\":{\"b\":{\"c\":\"deep\",\"n\":5}},"
                        "\"s\":\"str\",\"site\":{\"name\":\"Site\"},"
                        "\"items\":[{\"x\":1},{\"x\":2}],"
                        "\"inner\":{\"a\":{}}}";

    t_render("dotted name", "{{a.b.c}}/{{a.b.n}}", json, "deep/5");
    t_render("dotted name to object", "[{{a.b}}]", json, "[]");
    t_render("dotted name missing part", "[{{a.x.c}}][{{a.b.c.d}}]", json,
             "[][]");
    t_render("dotted name through a string", "[{{s.length}}]", json, "[]");
    t_render("dotted first part from outer context",
             "{{#items}}{{x}}:{{site.name}};{{/items}}", json,
             "1:Site;2:Site;");
    t_render("dotted rest strictly inside",
             "{{#inner}}[{{a.b.c}}]{{/inner}}", json, "[]");
    t_render("dotted section", "{{#a.b}}{{c}}{{/a.b}}", json, "deep");
    t_render("dotted inverted", "{{^a.zz}}none{{/a.zz}}", json, "none");
}


static void
t_sections(void)
{
    t_render("section over array of objects",
             "<ul>{{#users}}<li>{{name}}</li>{{/users}}</ul>",
             "{\"users\":[{\"name\":\"a\"},{\"name\":\"<b>\"}]}",
             "<ul><li>a</li><li>&lt;b&gt;</li></ul>");
    t_render("nested sections over arrays of objects",
             "{{#posts}}[{{title}}:{{#tags}}{{t}}{{#more}}+{{/more}},"
             "{{/tags}}{{^tags}}none{{/tags}}]{{/posts}}",
             "{\"posts\":[{\"title\":\"T1\",\"tags\":[{\"t\":\"x\"},"
             "{\"t\":\"y\",\"more\":true}]},{\"title\":\"T2\",\"tags\":[]},"
             "{\"title\":\"T3\",\"tags\":[{\"t\":\"z\"}]}]}",
             "[T1:x,y+,][T2:none][T3:z,]");
    t_render("section over array of scalars", "{{#xs}}({{.}}){{/xs}}",
             "{\"xs\":[\"a\",\"<b>\",3,true,null]}",
             "(a)(&lt;b&gt;)(3)(true)()");
    t_render("section over nested arrays",
             "{{#m}}[{{#.}}{{.}}{{/.}}]{{/m}}",
             "{\"m\":[[1,2],[],[3]]}", "[12][][3]");
    t_render("empty array renders nothing", "[{{#xs}}x{{/xs}}]",
             "{\"xs\":[]}", "[]");
    t_render("section over object", "{{#u}}{{n}}/{{top}}{{/u}}",
             "{\"u\":{\"n\":\"x\"},\"top\":\"T\"}", "x/T");
    t_render("section over empty object", "{{#e}}yes{{/e}}", "{\"e\":{}}",
             "yes");
    t_render("truthy scalars render once, context unchanged",
             "{{#t}}{{t}}{{/t}}|{{#i}}{{i}}{{/i}}|{{#n}}{{n}}{{/n}}|"
             "{{#r}}{{r}}{{/r}}|{{#s}}{{s}}{{/s}}",
             "{\"t\":true,\"i\":1,\"n\":-3,\"r\":0.5,\"s\":\"str\"}",
             "true|1|-3|0.5|str");
    t_render("falsy values render nothing",
             "[{{#f}}F{{/f}}{{#n}}N{{/n}}{{#m}}M{{/m}}{{#z}}Z{{/z}}"
             "{{#r}}R{{/r}}{{#s}}S{{/s}}{{#a}}A{{/a}}]",
             "{\"f\":false,\"n\":null,\"z\":0,\"r\":0.0,\"s\":\"\","
             "\"a\":[]}",
             "[]");
    t_render("section text around sections",
             "a\n{{#x}}\nb\n{{/x}}\nc\n", "{\"x\":true}",
             "a\n\nb\n\nc\n");
    t_render("same name nested", "{{#a}}{{#a}}x{{/a}}{{/a}}",
             "{\"a\":[1,2]}", "xxxx");
    t_render("skipped section with nested sections",
             "<{{#no}}{{#a}}{{#b}}x{{/b}}{{/a}}{{/no}}>",
             "{\"a\":true,\"b\":true}", "<>");
}


static void
t_inverted(void)
{
    t_render("inverted renders for falsy values",
             "{{^f}}F{{/f}}{{^n}}N{{/n}}{{^m}}M{{/m}}{{^z}}Z{{/z}}"
             "{{^r}}R{{/r}}{{^s}}S{{/s}}{{^a}}A{{/a}}",
             "{\"f\":false,\"n\":null,\"z\":0,\"r\":0.0,\"s\":\"\","
             "\"a\":[]}",
             "FNMZRSA");
    t_render("inverted skips truthy values",
             "[{{^t}}T{{/t}}{{^i}}I{{/i}}{{^s}}S{{/s}}{{^a}}A{{/a}}"
             "{{^o}}O{{/o}}{{^e}}E{{/e}}]",
             "{\"t\":true,\"i\":2,\"s\":\"x\",\"a\":[0],\"o\":{\"k\":1},"
             "\"e\":{}}",
             "[]");
    t_render("inverted keeps the context", "{{^x}}{{y}}{{/x}}",
             "{\"y\":\"Y\"}", "Y");
}


static void
t_contexts(void)
{
    t_render("lookup falls back to outer contexts",
             "{{#items}}{{n}}@{{site}} {{/items}}",
             "{\"site\":\"S\",\"items\":[{\"n\":1},{\"n\":2,\"site\":\"own\"}]}",
             "1@S 2@own ");
    t_render("lookup through three levels",
             "{{#a}}{{#b}}{{#c}}{{x}}{{y}}{{z}}{{/c}}{{/b}}{{/a}}",
             "{\"x\":1,\"a\":{\"y\":2,\"b\":[{\"c\":{\"z\":3}},"
             "{\"c\":{\"z\":4,\"y\":5}}]}}",
             "123154");
    t_render("inner null shadows outer", "{{#items}}[{{title}}]{{/items}}",
             "{\"title\":\"Site\",\"items\":[{\"title\":null},{}]}",
             "[][Site]");
    t_render("context restored after section",
             "{{#o}}{{v}}{{/o}}{{v}}{{#l}}{{v}}{{/l}}{{v}}",
             "{\"v\":\"r\",\"o\":{\"v\":\"o\"},\"l\":[{\"v\":\"1\"},"
             "{\"v\":\"2\"}]}",
             "or12r");
}


static void
t_partials(void)
{
    const char  *names[] = { "page.html", "layout_head.html", "item.html",
                             "brand.html", "empty.html" };
    const char  *srcs[] = {
        ("{{> layout_head}}<ul>{{#items}}{{> item.html}}{{/items}}</ul>"
         "{{>empty}}{{>layout_head.html}}"),
        "<h1>{{title}} {{> brand }}</h1>",
        "<li>{{name}}|{{title}}</li>",
        "[{{site}}]",
        ""
    };
    const char  *json = "{\"title\":\"T\",\"site\":\"站点\","
                        "\"items\":[{\"name\":\"a\"},"
                        "{\"name\":\"b\",\"title\":\"own\"}]}";

    t_render_n("partial include, both name forms, nested", names, srcs, 5,
               "page.html", json,
               "<h1>T [站点]</h1><ul><li>a|T</li><li>b|own</li></ul>"
               "<h1>T [站点]</h1>");
    t_render_n("partial rendered alone", names, srcs, 5, "item.html",
               "{\"name\":\"n\"}", "<li>n|</li>");

    {
        const char  *n2[] = { "b", "b.html", "main.html" };
        const char  *s2[] = { "exact", "suffixed", "{{> b}}|{{> b.html}}" };

        t_render_n("partial exact name wins", n2, s2, 3, "main.html", "{}",
                   "exact|suffixed");
    }
}


static void
t_depth(void)
{
    int          i;
    char        *src, *inner, *outer, err[256];
    json_t      *ctx, *o;
    const char  *names[2], *srcs[2];

    ngx_http_vbp_tpl_test_buf_t   b;
    ngx_http_vbp_tpl_set_t       *set;

    /* 32 nested object sections, each pushing a context */
    src = t_repeat("{{#a}}", T_MAX, "{{v}}{{w}}", "{{/a}}");
    names[0] = "t.html";
    srcs[0] = src;

    set = ngx_http_vbp_tpl_compile_strings(names, srcs, 1, err, sizeof(err));
    t_ok(set != NULL, "32 nested sections compile");

    o = json_pack("{s:s}", "v", "deep");
    for (i = 0; i < T_MAX; i++) {
        o = json_pack("{s:o}", "a", o);
    }

    json_object_set_new(o, "w", json_string("!"));
    ctx = o;

    memset(&b, 0, sizeof(b));
    t_ok(set && ngx_http_vbp_tpl_render(ngx_http_vbp_tpl_find(set, "t.html",
                                                              6),
                                        ctx, t_sink, &b) == 0
         && b.p && strcmp(b.p, "deep!") == 0,
         "32 nested sections render");

    free(b.p);
    json_decref(ctx);
    ngx_http_vbp_tpl_set_free(set);
    free(src);

    src = t_repeat("{{#a}}\n", T_MAX + 1, "x", "{{/a}}");
    t_error("33 nested sections", src,
            "t.html:33: sections nested deeper than 32");
    free(src);

    /* partial frames count: 20 + 1 + 11 fits, 20 + 1 + 12 does not */
    names[0] = "outer.html";
    names[1] = "inner.html";

    outer = t_repeat("{{#a}}", 20, "\n{{> inner}}", "{{/a}}");
    inner = t_repeat("{{#a}}", 11, "{{v}}", "{{/a}}");
    srcs[0] = outer;
    srcs[1] = inner;

    t_render_n("partial at the depth limit", names, srcs, 2, "outer.html",
               "{\"a\":true,\"v\":\"ok\"}", "\nok");

    free(inner);
    inner = t_repeat("{{#a}}", 12, "{{v}}", "{{/a}}");
    srcs[1] = inner;

    t_error_n("partial past the depth limit", names, srcs, 2,
              "outer.html:2: sections and partials nested deeper than 32");

    free(inner);
    free(outer);

    /* a deep chain of partials, no sections */
    {
        char         nb[40][24], sb[40][24];
        const char  *cn[40], *cs[40];

        for (i = 0; i < 40; i++) {
            snprintf(nb[i], sizeof(nb[i]), "p%02d.html", i);
            if (i < 39) {
                snprintf(sb[i], sizeof(sb[i]), "{{> p%02d}}", i + 1);

            } else {
                snprintf(sb[i], sizeof(sb[i]), "end");
            }
            cn[i] = nb[i];
            cs[i] = sb[i];
        }

        /* p07 .. p39: 32 includes open at once */
        t_render_n("chain of 32 partials", cn + 7, cs + 7, 33, "p07.html",
                   "{}", "end");
        t_error_n("chain of 33 partials", cn + 6, cs + 6, 34,
                  "p38.html:1: sections and partials nested deeper than 32");
    }
}


static void
t_errors(void)
{
    t_error("unclosed tag", "ab\n{{name", "t.html:2: unclosed tag");
    t_error("unclosed tag with one brace", "x\n{{#a}\n{{/a}",
            "t.html:2: unclosed tag");
    t_error("unclosed triple", "x\n\n{{{name}}\n", "t.html:3: unclosed tag");
    t_error("unclosed comment", "a\n{{! never\nclosed }\n",
            "t.html:2: unclosed tag");
    t_error("unclosed section", "line1\n{{#items}}\nx\n",
            "t.html:2: unclosed section \"items\"");
    t_error("close skips an open section", "{{#a}}\n{{^b}}\n{{#c}}{{/c}}{{/a}}",
            "t.html:3: mismatched {{/a}}, expected {{/b}}");
    t_error("unclosed inverted", "\n\n{{^b}}",
            "t.html:3: unclosed section \"b\"");
    t_error("mismatched close", "{{#a}}\n{{#b}}\n{{/a}}\n{{/b}}",
            "t.html:3: mismatched {{/a}}, expected {{/b}}");
    t_error("close without open", "x\n{{/a}}",
            "t.html:2: unexpected {{/a}}, no section is open");
    t_error("close after all closed", "{{#a}}{{/a}}\n{{/a}}",
            "t.html:2: unexpected {{/a}}, no section is open");
    t_error("empty name", "a\n{{ }}", "t.html:2: empty name in tag");
    t_error("empty section name", "{{#}}{{/}}", "t.html:1: empty name in tag");
    t_error("empty partial name", "\n{{>  }}", "t.html:2: empty name in tag");
    t_error("empty raw name", "{{{}}}", "t.html:1: empty name in tag");
    t_error("empty ampersand name", "{{&}}", "t.html:1: empty name in tag");
    t_error("space in name", "{{a b}}", "t.html:1: bad character ' ' in name");
    t_error("slash in name", "\n{{a/b}}",
            "t.html:2: bad character '/' in name");
    t_error("html in name", "{{<b>}}", "t.html:1: bad character '<' in name");
    t_error("non-ascii name", "{{名字}}",
            "t.html:1: bad character 0xe5 in name");
    t_error("bad partial name", "{{> ../etc/passwd}}",
            "t.html:1: bad character '/' in name");
    t_error("double dot", "{{a..b}}", "t.html:1: bad name \"a..b\"");
    t_error("leading dot", "{{#.a}}{{/.a}}", "t.html:1: bad name \".a\"");
    t_error("trailing dot", "{{{a.}}}", "t.html:1: bad name \"a.\"");
    t_error("missing partial", "x\ny\n{{> nope}}",
            "t.html:3: partial \"nope\" not found");
    t_error("partial includes itself", "a\n{{#x}}{{> t}}{{/x}}",
            "t.html:2: partial cycle through \"t.html\"");
    t_error("line count after multi-line tags",
            "{{!\n\n}}{{{a\n}}}\n{{x y}}",
            "t.html:5: bad character ' ' in name");

    {
        const char  *names[] = { "b.html", "a.html", "c.html" };
        const char  *srcs[] = { "B\n\n{{> c}}", "A\n{{> b}}",
                                "{{#x}}\n{{> a.html}}{{/x}}" };

        t_error_n("partial cycle through three files", names, srcs, 3,
                  "c.html:2: partial cycle through \"a.html\"");
    }

    {
        const char  *names[] = { "ok.html", "bad.html" };
        const char  *srcs[] = { "{{> bad}}", "fine\n{{#s}}\n" };

        t_error_n("error in second file", names, srcs, 2,
                  "bad.html:2: unclosed section \"s\"");
    }

    {
        const char  *names[] = { "t.html", "u.html", "t.html" };
        const char  *srcs[] = { "a", "b", "c" };

        t_error_n("duplicate names", names, srcs, 3,
                  "t.html:1: duplicate template name");
    }
}


static void
t_limits(void)
{
    char        *big, err[8];
    size_t       max;
    const char  *names[1] = { "big.html" };
    const char  *srcs[1];

    ngx_http_vbp_tpl_set_t  *set;

    max = NGX_HTTP_VBP_TPL_MAX_SIZE;

    big = malloc(max + 2);
    if (big == NULL) {
        exit(2);
    }

    memset(big, 'x', max + 1);
    big[max + 1] = '\0';
    srcs[0] = big;

    t_error_n("source larger than 1 MiB", names, srcs, 1,
              "big.html:1: template larger than 1 MiB");

    big[max] = '\0';

    set = ngx_http_vbp_tpl_compile_strings(names, srcs, 1, NULL, 0);
    t_ok(set != NULL, "source of exactly 1 MiB compiles");
    ngx_http_vbp_tpl_set_free(set);

    free(big);

    /* a short buffer is truncated, still terminated */
    names[0] = "t.html";
    srcs[0] = "{{";
    memset(err, 'x', sizeof(err));

    set = ngx_http_vbp_tpl_compile_strings(names, srcs, 1, err, sizeof(err));
    t_ok(set == NULL && strcmp(err, "t.html:") == 0,
         "error truncated to the buffer");
}


static void
t_api(void)
{
    char                         err[256];
    json_t                      *ctx;
    ngx_http_vbp_tpl_set_t      *set;
    const ngx_http_vbp_tpl_t    *t;
    ngx_http_vbp_tpl_test_buf_t  b;

    const char  *names[] = { "home.html", "about.html", "zz.html" };
    const char  *srcs[] = { "a{{x}}b{{#l}}c{{/l}}d", "about", "z" };

    set = ngx_http_vbp_tpl_compile_strings(names, srcs, 3, err, sizeof(err));
    t_ok(set != NULL && err[0] == '\0', "compile clears err");

    t = ngx_http_vbp_tpl_find(set, "home.html?x=1", 9);
    t_ok(t != NULL, "find with length");
    t_ok(ngx_http_vbp_tpl_find(set, "about.html", 10) != NULL
         && ngx_http_vbp_tpl_find(set, "zz.html", 7) != NULL,
         "find all");
    t_ok(ngx_http_vbp_tpl_find(set, "home", 4) == NULL
         && ngx_http_vbp_tpl_find(set, "home.htm", 8) == NULL
         && ngx_http_vbp_tpl_find(set, "home.html ", 10) == NULL
         && ngx_http_vbp_tpl_find(set, "", 0) == NULL
         && ngx_http_vbp_tpl_find(NULL, "home.html", 9) == NULL,
         "find misses");

    ctx = json_pack("{s:s,s:[i,i,i]}", "x", "<>", "l", 1, 2, 3);

    /* calls: "a" "&lt;" "&gt;" "b" "c" ... */
    memset(&b, 0, sizeof(b));
    b.fail_at = 3;
    t_ok(ngx_http_vbp_tpl_render(t, ctx, t_sink, &b) == -1 && b.calls == 3,
         "emit failure aborts rendering");
    free(b.p);

    memset(&b, 0, sizeof(b));
    b.fail_at = 7;
    t_ok(ngx_http_vbp_tpl_render(t, ctx, t_sink, &b) == -1 && b.calls == 7
         && strcmp(b.p, "a&lt;&gt;bcc") == 0,
         "emit failure inside a section");
    free(b.p);

    memset(&b, 0, sizeof(b));
    t_ok(ngx_http_vbp_tpl_render(t, ctx, t_sink, &b) == 0
         && strcmp(b.p, "a&lt;&gt;bcccd") == 0
         && ngx_http_vbp_tpl_render(t, ctx, t_sink, &b) == 0
         && strcmp(b.p, "a&lt;&gt;bcccda&lt;&gt;bcccd") == 0,
         "render twice");
    free(b.p);

    t_ok(ngx_http_vbp_tpl_render(NULL, ctx, t_sink, &b) == -1,
         "render NULL template");

    /* string values are emitted by length, NUL included */
    json_object_set_new(ctx, "x", json_stringn("a\0<", 3));
    memset(&b, 0, sizeof(b));
    t_ok(ngx_http_vbp_tpl_render(t, ctx, t_sink, &b) == 0
         && b.len == 12 && memcmp(b.p, "aa\0&lt;bcccd", 12) == 0,
         "NUL inside a string value");
    free(b.p);

    json_decref(ctx);
    ngx_http_vbp_tpl_set_free(set);
    ngx_http_vbp_tpl_set_free(NULL);

    set = ngx_http_vbp_tpl_compile_strings(NULL, NULL, 0, err, sizeof(err));
    t_ok(set != NULL && ngx_http_vbp_tpl_find(set, "a", 1) == NULL,
         "empty set");
    ngx_http_vbp_tpl_set_free(set);
}


static int
t_write(const char *dir, const char *name, const char *text, size_t len)
{
    char   path[512];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "wb");
    if (f == NULL) {
        return -1;
    }

    if (fwrite(text, 1, len, f) != len) {
        fclose(f);
        return -1;
    }

    return fclose(f);
}


static void
t_unlink(const char *dir, const char *name)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}


static void
t_dir_error(const char *name, const char *dir, const char *file,
    const char *what)
{
    char                     err[256], expect[512];
    ngx_http_vbp_tpl_set_t  *set;

    snprintf(expect, sizeof(expect), "%s/%s%s", dir, file, what);

    set = ngx_http_vbp_tpl_compile_dir(dir, err, sizeof(err));
    if (set) {
        ngx_http_vbp_tpl_set_free(set);
        printf("# compiled, expected error \"%s\"\n", expect);
        t_ok(0, name);
        return;
    }

    if (strcmp(err, expect) != 0) {
        printf("# expected: \"%s\"\n#      got: \"%s\"\n", expect, err);
    }

    t_ok(strcmp(err, expect) == 0, name);
}


static void
t_dir(void)
{
    char                    *big, *out, dir[256], path[300], err[256];
    const char              *tmp;
    ngx_http_vbp_tpl_set_t  *set;

    const char  *home = "{{> layout_head}}<main>{{body}}</main>\n";
    const char  *head = "<head><title>{{title}}</title></head>\n";

    tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/vbp_tpl_XXXXXX", tmp ? tmp : "/tmp");

    if (mkdtemp(dir) == NULL) {
        t_ok(0, "mkdtemp");
        return;
    }

    snprintf(path, sizeof(path), "%s/sub.html", dir);

    t_ok(t_write(dir, "home.html", home, strlen(home)) == 0
         && t_write(dir, "layout_head.html", head, strlen(head)) == 0
         && t_write(dir, "notes.txt", "{{ not a template", 17) == 0
         && t_write(dir, ".hidden.html", "{{", 2) == 0
         && t_write(dir, "home.html~", "{{", 2) == 0
         && mkdir(path, 0700) == 0,
         "create template directory");

    set = ngx_http_vbp_tpl_compile_dir(dir, err, sizeof(err));
    if (set == NULL) {
        printf("# %s\n", err);
    }

    out = set ? t_render_set(set, "home.html",
                             "{\"title\":\"标题 & co\",\"body\":\"正文\"}")
              : NULL;
    t_ok(out && strcmp(out, "<head><title>标题 &amp; co</title></head>\n"
                            "<main>正文</main>\n") == 0,
         "compile_dir and render");
    free(out);

    t_ok(set && ngx_http_vbp_tpl_find(set, "layout_head.html", 16)
         && !ngx_http_vbp_tpl_find(set, "notes.txt", 9)
         && !ngx_http_vbp_tpl_find(set, "sub.html", 8)
         && !ngx_http_vbp_tpl_find(set, ".hidden.html", 12)
         && !ngx_http_vbp_tpl_find(set, "home.html~", 10),
         "compile_dir takes only *.html files");
    ngx_http_vbp_tpl_set_free(set);

    snprintf(path, sizeof(path), "%s/", dir);
    set = ngx_http_vbp_tpl_compile_dir(path, err, sizeof(err));
    t_ok(set && ngx_http_vbp_tpl_find(set, "home.html", 9),
         "compile_dir with a trailing slash");
    ngx_http_vbp_tpl_set_free(set);

    t_write(dir, "bad.html", "ok\n{{#x}}\n", strlen("ok\n{{#x}}\n"));
    t_dir_error("compile_dir error names the file", dir, "bad.html",
                ":2: unclosed section \"x\"");
    t_unlink(dir, "bad.html");

    t_write(dir, "news.html", "<p>新闻</p>\n{{>missing}}",
            strlen("<p>新闻</p>\n{{>missing}}"));
    t_dir_error("compile_dir missing partial", dir, "news.html",
                ":2: partial \"missing\" not found");
    t_unlink(dir, "news.html");

    snprintf(path, sizeof(path), "%s/gone.html", dir);
    t_ok(symlink("no-such-file", path) == 0, "create dangling symlink");
    t_dir_error("compile_dir unreadable file", dir, "gone.html",
                ":1: cannot read: No such file or directory");
    unlink(path);

    big = malloc(NGX_HTTP_VBP_TPL_MAX_SIZE + 1);
    if (big == NULL) {
        exit(2);
    }

    memset(big, 'x', NGX_HTTP_VBP_TPL_MAX_SIZE + 1);
    t_write(dir, "big.html", big, NGX_HTTP_VBP_TPL_MAX_SIZE + 1);
    t_dir_error("compile_dir file larger than 1 MiB", dir, "big.html",
                ":1: template larger than 1 MiB");

    t_write(dir, "big.html", big, NGX_HTTP_VBP_TPL_MAX_SIZE);
    set = ngx_http_vbp_tpl_compile_dir(dir, err, sizeof(err));
    t_ok(set != NULL, "compile_dir file of exactly 1 MiB");
    ngx_http_vbp_tpl_set_free(set);
    t_unlink(dir, "big.html");
    free(big);

    t_unlink(dir, "home.html");
    t_unlink(dir, "layout_head.html");
    t_unlink(dir, "notes.txt");
    t_unlink(dir, ".hidden.html");
    t_unlink(dir, "home.html~");
    snprintf(path, sizeof(path), "%s/sub.html", dir);
    rmdir(path);

    set = ngx_http_vbp_tpl_compile_dir(dir, err, sizeof(err));
    t_ok(set && !ngx_http_vbp_tpl_find(set, "home.html", 9),
         "compile_dir on an empty directory");
    ngx_http_vbp_tpl_set_free(set);

    t_ok(rmdir(dir) == 0, "remove template directory");

    set = ngx_http_vbp_tpl_compile_dir(dir, err, sizeof(err));
    snprintf(path, sizeof(path), "%s: cannot open directory: ", dir);
    t_ok(set == NULL && strncmp(err, path, strlen(path)) == 0,
         "compile_dir on a missing directory");
}
