
/*
 * Copyright (C) the VBP platform developers
 *
 * The left menu of every page: "vbp_menu GROUP TITLE URI [PERMISSION];"
 * lines, in the order written, filtered by the signed-in user's
 * permissions and with the entry of the current page marked.  A feature
 * adds its page with one line beside its locations; no template changes.
 */


#include "ngx_http_vbp_module.h"


typedef struct {
    ngx_str_t   group;          /* "-": an entry outside any group */
    ngx_str_t   title;
    ngx_str_t   uri;
    ngx_str_t   permission;     /* empty: every signed-in user */
} ngx_http_vbp_menu_entry_t;


static ngx_uint_t ngx_http_vbp_menu_covers(ngx_str_t *entry, ngx_str_t *uri);
static json_t *ngx_http_vbp_json_str(ngx_str_t *s);


char *
ngx_http_vbp_menu(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_vbp_main_conf_t *vmcf = conf;

    ngx_str_t                  *value;
    ngx_http_vbp_menu_entry_t  *e;

    value = cf->args->elts;

    if (value[3].len == 0 || value[3].data[0] != '/') {
        return "needs a URI that starts with \"/\"";
    }

    if (vmcf->menu == NULL) {
        vmcf->menu = ngx_array_create(cf->pool, 16,
                                      sizeof(ngx_http_vbp_menu_entry_t));
        if (vmcf->menu == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    e = ngx_array_push(vmcf->menu);
    if (e == NULL) {
        return NGX_CONF_ERROR;
    }

    e->group = value[1];
    e->title = value[2];
    e->uri = value[3];

    if (cf->args->nelts == 5) {
        e->permission = value[4];

    } else {
        ngx_str_null(&e->permission);
    }

    return NGX_CONF_OK;
}


/*
 * [{"title": GROUP or "", "items": [{"title", "href", "current"}]}]:
 * the groups that hold an entry the user may open; the current entry is
 * the one whose URI is the page's or, for the pages under it
 * (/users/edit under /users), the longest that leads to it; a page
 * elsewhere names its entry (vbp_menu_current: /filing is 报量项目's)
 */
json_t *
ngx_http_vbp_menu_json(ngx_http_request_t *r, json_t *session)
{
    size_t                      best_len;
    json_t                     *menu, *group, *item, *items, *best;
    ngx_str_t                  *last_group, *page;
    ngx_uint_t                  i;
    ngx_http_vbp_loc_conf_t    *vlcf;
    ngx_http_vbp_main_conf_t   *vmcf;
    ngx_http_vbp_menu_entry_t  *e;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_vbp_module);
    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_vbp_module);

    page = vlcf->menu_current.len ? &vlcf->menu_current : &r->uri;

    menu = json_array();

    if (menu == NULL || vmcf->menu == NULL || session == NULL) {
        return menu;
    }

    e = vmcf->menu->elts;
    group = NULL;
    last_group = NULL;
    best = NULL;
    best_len = 0;

    for (i = 0; i < vmcf->menu->nelts; i++) {
        if (e[i].permission.len
            && ngx_http_vbp_has_permission(session, &e[i].permission)
               != NGX_OK)
        {
            continue;
        }

        if (last_group == NULL || last_group->len != e[i].group.len
            || ngx_strncmp(last_group->data, e[i].group.data,
                           e[i].group.len) != 0)
        {
            group = json_pack("{s:[]}", "items");

            if (group == NULL || json_array_append_new(menu, group) != 0) {
                json_decref(menu);
                return NULL;
            }

            /* "" rather than absent: a template would find the page's */
            if (json_object_set_new(group, "title",
                    (e[i].group.len == 1 && e[i].group.data[0] == '-')
                    ? json_string("") : ngx_http_vbp_json_str(&e[i].group))
                != 0)
            {
                json_decref(menu);
                return NULL;
            }

            last_group = &e[i].group;
        }

        item = json_pack("{s:o, s:o, s:b}",
                         "title", ngx_http_vbp_json_str(&e[i].title),
                         "href", ngx_http_vbp_json_str(&e[i].uri),
                         "current", 0);
        items = json_object_get(group, "items");

        if (item == NULL || json_array_append_new(items, item) != 0) {
            json_decref(menu);
            return NULL;
        }

        if (e[i].uri.len > best_len && ngx_http_vbp_menu_covers(&e[i].uri,
                                                                page))
        {
            best = item;
            best_len = e[i].uri.len;
        }
    }

    if (best) {
        (void) json_object_set_new(best, "current", json_true());
    }

    return menu;
}


static ngx_uint_t
ngx_http_vbp_menu_covers(ngx_str_t *entry, ngx_str_t *uri)
{
    if (entry->len > uri->len
        || ngx_strncmp(entry->data, uri->data, entry->len) != 0)
    {
        return 0;
    }

    /* "/" is the home page only; "/users" covers "/users/edit" */
    return entry->len == uri->len
           || (entry->len > 1 && uri->data[entry->len] == '/');
}


static json_t *
ngx_http_vbp_json_str(ngx_str_t *s)
{
    return json_stringn((const char *) s->data, s->len);
}
