/* Loading plugins: dlopen, the entry point, the ABI check, the records
 * `nnctl plugins` shows. */
#include <ctype.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layers/registry.h"
#include "plugin/internal.h"

#define MAX_PLUGINS 32

static nn_plugin_rec plugins[MAX_PLUGINS];
static int n_plugins;

int nn_plugin_count(void) { return n_plugins; }

nnctl_status nn_plugin_refuse(nnctl_registry *reg, const char *fmt, ...)
{
    if (reg->err.code == NN_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reg->err.msg, sizeof reg->err.msg, fmt, ap);
        va_end(ap);
        reg->err.code = NN_ERR_RUNTIME;
    }
    return NNCTL_ERROR;
}

nnctl_status nn_plugin_check_desc(nnctl_registry *reg, const char *kind, uint32_t size,
                                  size_t min_size, const char *name)
{
    if (!reg->declared)
        return nn_plugin_refuse(reg, "registered a %s before NNCTL_DECLARE_PLUGIN", kind);
    if (size < min_size)
        return nn_plugin_refuse(reg, "a %s descriptor of %u bytes (at least %zu expected): "
                                     "its size field is not set to sizeof",
                                kind, (unsigned)size, min_size);
    if (!name || !name[0])
        return nn_plugin_refuse(reg, "a %s without a name", kind);
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return nn_plugin_refuse(reg, "%s name \"%s\": letters, digits and '_' only", kind,
                                    name);
    if (strlen(name) >= 48)
        return nn_plugin_refuse(reg, "%s name \"%s\" is longer than 47 characters", kind, name);
    return NNCTL_OK;
}

void *nn_plugin_copy_desc(const void *d, uint32_t size, size_t full)
{
    void *c = calloc(1, full);
    if (c)
        memcpy(c, d, size < full ? size : full);
    return c;
}

const nn_doc_key *nn_plugin_keys(const nnctl_key_doc *keys)
{
    int n = 0;
    while (keys && keys[n].name)
        n++;
    nn_doc_key *out = calloc((size_t)n + 1, sizeof *out);
    for (int i = 0; out && i < n; i++)
        out[i] = (nn_doc_key){keys[i].name, keys[i].type ? keys[i].type : "",
                              keys[i].def ? keys[i].def : "", keys[i].doc ? keys[i].doc : ""};
    return out;
}

static nnctl_status declare(nnctl_registry *reg, const nnctl_plugin_info *info)
{
    nn_plugin_rec *r = reg->rec;
    if (reg->declared)
        return nn_plugin_refuse(reg, "declared itself twice");
    if (!info || info->size < offsetof(nnctl_plugin_info, name))
        return nn_plugin_refuse(reg, "declared itself without a plugin info");
    r->abi_major = info->abi_major;
    r->abi_minor = info->abi_minor;
    if (info->abi_major != NNCTL_PLUGIN_ABI_MAJOR)
        return nn_plugin_refuse(reg, "built for plugin ABI %d.%d; this nnctl has ABI %d.%d (the "
                                     "major version must match: rebuild the plugin against "
                                     "this nnctl's plugin.h)",
                                info->abi_major, info->abi_minor, NNCTL_PLUGIN_ABI_MAJOR,
                                NNCTL_PLUGIN_ABI_MINOR);
    if (info->abi_minor > NNCTL_PLUGIN_ABI_MINOR)
        return nn_plugin_refuse(reg, "built for plugin ABI %d.%d, newer than this nnctl's %d.%d "
                                     "(update nnctl, or rebuild the plugin against its "
                                     "plugin.h)",
                                info->abi_major, info->abi_minor, NNCTL_PLUGIN_ABI_MAJOR,
                                NNCTL_PLUGIN_ABI_MINOR);
    if (info->size < sizeof(nnctl_plugin_info) || !info->name || !info->name[0])
        return nn_plugin_refuse(reg, "declared itself without a name");
    for (const char *p = info->name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return nn_plugin_refuse(reg, "plugin name \"%s\": letters, digits and '_' only",
                                    info->name);
    for (int i = 0; i < n_plugins; i++)
        if (&plugins[i] != r && !strcmp(plugins[i].name, info->name))
            return nn_plugin_refuse(reg, "a plugin named \"%s\" is already loaded (from %s)",
                                    info->name, plugins[i].path);
    snprintf(r->name, sizeof r->name, "%s", info->name);
    snprintf(r->version, sizeof r->version, "%s", info->version ? info->version : "");
    snprintf(r->description, sizeof r->description, "%s",
             info->description ? info->description : "");
    snprintf(r->module, sizeof r->module, "nnctl.plugins.%s", r->name);
    reg->declared = true;
    return NNCTL_OK;
}

/* The host table's declare is the loader's; the rest is host.c's. */
static nnctl_host host_table;

nn_status nn_plugin_load(const char *path, nn_error *err)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return nn_fail(err, NN_ERR_USAGE, "plugin '%s': no such file", path);
    for (int i = 0; i < n_plugins; i++)
        if (!strcmp(plugins[i].path, real))
            return NN_OK;
    if (n_plugins == MAX_PLUGINS)
        return nn_fail(err, NN_ERR_USAGE, "plugin '%s': more than %d plugins", path,
                       MAX_PLUGINS);
    /* RTLD_LOCAL: plugins do not see each other's symbols (or ours) */
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return nn_fail(err, NN_ERR_USAGE, "plugin '%s': cannot load it: %s", path, dlerror());
    nnctl_status (*init)(const nnctl_host *, nnctl_registry *);
    *(void **)&init = dlsym(h, "nnctl_plugin_init");
    if (!init) {
        dlclose(h);
        return nn_fail(err, NN_ERR_USAGE,
                       "plugin '%s': no entry point nnctl_plugin_init (is it an nnctl plugin? "
                       "see include/nnctl/plugin.h)",
                       path);
    }
    if (!host_table.size) {
        host_table = nn_plugin_host;
        host_table.declare = declare;
    }
    nn_plugin_rec *r = &plugins[n_plugins];
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", real);
    r->handle = h;
    nnctl_registry reg = {.rec = r};
    /* visible to declare's duplicate check while init runs */
    n_plugins++;
    nnctl_status rc = init(&host_table, &reg);
    if (rc == NNCTL_OK && reg.err.code == NN_OK && !reg.declared)
        nn_plugin_refuse(&reg, "its nnctl_plugin_init did not call NNCTL_DECLARE_PLUGIN");
    if (rc != NNCTL_OK || reg.err.code != NN_OK) {
        /* types it registered before failing stay registered (rows must
         * outlive the program), so the library stays loaded too */
        const char *why = reg.err.code != NN_OK ? reg.err.msg : "its init failed";
        if (reg.err.code == NN_OK && rc != NNCTL_OK)
            why = "nnctl_plugin_init returned an error without a message";
        return nn_fail(err, NN_ERR_USAGE, "plugin '%s'%s%s%s: %s", path, r->name[0] ? " (" : "",
                       r->name, r->name[0] ? ")" : "", why);
    }
    return NN_OK;
}

nn_status nn_cli_take_plugins(int *argc, char **argv, nn_error *err)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i], *file = NULL;
        if (!strcmp(a, "--")) {
            /* the rest is positional */
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (!strcmp(a, "--plugin")) {
            if (i + 1 >= *argc)
                return nn_fail(err, NN_ERR_USAGE, "--plugin needs a file");
            file = argv[++i];
        } else if (!strncmp(a, "--plugin=", 9)) {
            file = a + 9;
        }
        if (file) {
            nn_status st = nn_plugin_load(file, err);
            if (st)
                return st;
            continue;
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    *argc = out;
    return NN_OK;
}

nn_status nn_spec_plugins(nn_spec *spec, bool keep_going, nn_error *err)
{
    nn_spec_node *root = nn_spec_root(spec);
    if (!nn_spec_has(root, "plugins"))
        return NN_OK;
    const char *files[MAX_PLUGINS];
    int n;
    nn_status st = nn_spec_string_array(root, "plugins", true, MAX_PLUGINS, files, &n, err);
    nn_status first = NN_OK;
    for (int i = 0; !st && i < n; i++) {
        char path[PATH_MAX];
        const char *dir = nn_spec_dir(spec);
        if (files[i][0] != '/' && dir && dir[0])
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        else
            snprintf(path, sizeof path, "%s", files[i]);
        if (access(path, F_OK) != 0)
            snprintf(path, sizeof path, "%s", files[i]);
        if ((st = nn_plugin_load(path, err)))
            nn_error_prefix(err, "%s: plugins", nn_spec_filename(spec));
        if (st && keep_going) {
            first = first ? first : st;
            st = NN_OK;
        }
    }
    return st ? st : first;
}

const char *nn_plugin_name_of(const void *row_plugin)
{
    const nn_plugin_rec *r = row_plugin;
    return r ? r->name : NULL;
}

static void keys_out(FILE *out, const nn_doc_key *keys)
{
    for (int k = 0; keys && keys[k].name; k++)
        fprintf(out, "      %-18s %-8s default %-10s %s\n", keys[k].name, keys[k].type,
                keys[k].def, keys[k].doc);
}

void nn_plugins_describe(FILE *out)
{
    for (int i = 0; i < n_plugins; i++) {
        const nn_plugin_rec *r = &plugins[i];
        fprintf(out, "%s %s (plugin ABI %d.%d): %s\n  file: %s\n", r->name, r->version,
                r->abi_major, r->abi_minor, r->description, r->path);
        const nn_layer_type *lt;
        for (int k = 0; (lt = nn_layer_type_at(k)); k++)
            if (lt->plugin == r) {
                fprintf(out, "  layer %s (Keras class %s): %s\n", lt->name, lt->keras_class,
                        lt->doc ? lt->doc : "");
                keys_out(out, lt->keys);
            }
        const nn_reg_type *rt;
        for (int k = 0; (rt = nn_reg_type_at(k)); k++)
            if (rt->plugin == r) {
                fprintf(out, "  regularizer %s (Keras class %s): %s\n", rt->name,
                        rt->keras_class, rt->doc ? rt->doc : "");
                keys_out(out, rt->keys);
            }
        const nn_loss_info *li;
        for (int k = 0; (li = nn_loss_at(k)); k++)
            if (li->plugin == r) {
                fprintf(out, "  loss %s: %s\n", li->name, li->doc ? li->doc : "");
                keys_out(out, li->keys);
            }
        const nn_metric_type *mt;
        for (int k = 0; (mt = nn_metric_type_at(k)); k++)
            if (mt->plugin == r) {
                fprintf(out, "  metric %s: %s\n", mt->name, mt->doc ? mt->doc : "");
                keys_out(out, mt->keys);
            }
        const nn_callback_type *ct;
        for (int k = 0; (ct = nn_callback_type_at(k)); k++)
            if (ct->plugin == r) {
                fprintf(out, "  callback %s: %s\n", ct->name, ct->doc ? ct->doc : "");
                keys_out(out, ct->keys);
            }
    }
}
