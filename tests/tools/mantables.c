/* mantables: the man page's tables, from the registry rows, so that
 * docs/nnctl.1 cannot drift from what nnctl has.
 *
 *   mantables TABLE      roff for one table: layers, activations,
 *                        initializers, regularizers, losses, metrics,
 *                        optimizers, callbacks, commands
 *   mantables --names    every registered name, one a line "TABLE NAME"
 *   mantables --check-keys
 *                        parses every layer and callback row with the
 *                        settings its own docs give and lists the keys its
 *                        parser read that its docs lack (exit 1 if any)
 *
 * scripts/man-tables splices the tables into docs/nnctl.1 (make man);
 * tests/integration/man.sh checks the page against this tool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "layers/common.h"
#include "layers/registry.h"
#include "model/activations.h"
#include "objectives/losses.h"
#include "objectives/metrics.h"
#include "train/callbacks/callbacks.h"
#include "train/optimizers.h"

/* roff text: backslashes and dashes escaped, no line starting with a dot */
static void roff(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", stdout);
        else if (*s == '-')
            fputs("\\-", stdout);
        else
            putchar(*s);
    }
}

static void keys_out(const nn_doc_key *keys)
{
    if (!keys || !keys[0].name)
        return;
    puts(".RS");
    for (int k = 0; keys[k].name; k++) {
        printf(".TP\n.B ");
        roff(keys[k].name);
        printf("\n");
        roff(keys[k].type);
        printf(", ");
        roff(!strcmp(keys[k].def, "required") ? "required" : "default ");
        if (strcmp(keys[k].def, "required"))
            roff(keys[k].def);
        printf(": ");
        roff(keys[k].doc);
        printf(".\n");
    }
    puts(".RE");
}

static void layers(void)
{
    const nn_layer_type *t;
    for (int i = 0; (t = nn_layer_type_at(i)); i++) {
        if (!strcmp(t->name, "input"))
            continue;
        printf(".TP\n.B ");
        roff(t->name);
        printf("\n");
        roff(t->doc ? t->doc : "");
        printf(" (Keras: ");
        roff(t->keras_class);
        for (int k = 0; t->keras_aliases && t->keras_aliases[k]; k++) {
            printf(", ");
            roff(t->keras_aliases[k]);
        }
        printf("%s).\n", t->export_onnx && t->export_c  ? "; exports to ONNX and C"
                         : t->export_onnx              ? "; exports to ONNX"
                         : t->export_c                 ? "; exports to C"
                                                       : "");
        keys_out(t->keys);
    }
}

static void callbacks(void)
{
    const nn_callback_type *t;
    for (int i = 0; (t = nn_callback_type_at(i)); i++) {
        printf(".TP\n.B ");
        roff(t->name);
        printf("\n");
        roff(t->doc ? t->doc : "");
        if (t->keras_class) {
            printf(" (Keras's ");
            roff(t->keras_class);
            printf(")");
        }
        printf(".\n");
        keys_out(t->keys);
    }
}

/* ".BR a , b , ... z ." from a list of names */
static void name_list(const char *const *names, const char *const *keras, int n)
{
    for (int i = 0; i < n; i++) {
        printf(".B ");
        roff(names[i]);
        if (keras && keras[i] && strcmp(keras[i], names[i])) {
            printf("\n(Keras ");
            roff(keras[i]);
            printf(")");
        }
        printf("%s\n", i + 1 < n ? "," : ".");
    }
}

static void activations(void)
{
    const char *names[128];
    name_list(names, NULL, nn_activation_names(names, 128));
}

static void initializers(void)
{
    const char *names[64], *keras[64];
    int n = 0;
    while (n < 64 && (names[n] = nn_initializer_name_at(n, &keras[n])))
        n++;
    name_list(names, keras, n);
}

static void regularizers(void)
{
    const nn_reg_type *t;
    for (int i = 0; (t = nn_reg_type_at(i)); i++) {
        printf(".TP\n.B ");
        roff(t->name);
        printf("\n");
        roff(t->doc ? t->doc : "");
        printf(".\n");
        keys_out(t->keys);
    }
}

static void losses(void)
{
    const char *names[64], *keras[64];
    const nn_loss_info *L;
    int n = 0;
    for (; n < 64 && (L = nn_loss_at(n)); n++) {
        names[n] = L->name;
        keras[n] = L->keras_name;
    }
    name_list(names, keras, n);
}

static void metrics(void)
{
    const char *names[64];
    int n = 0;
    while (n < 64 && (names[n] = nn_metric_builtin_name(n)))
        n++;
    name_list(names, NULL, n);
}

static void optimizers(void)
{
    const char *names[32], *keras[32];
    int n = 0;
    while (n < 32 && (names[n] = nn_optimizer_name_at(n, &keras[n])))
        n++;
    name_list(names, keras, n);
}

static void commands(void)
{
    const nn_command *c;
    for (int i = 0; (c = nn_command_at(i)); i++) {
        printf(".TP\n.B nnctl ");
        roff(c->name);
        printf("\n");
        roff(c->help);
        printf(".\n");
    }
}

static void names(void)
{
    const nn_layer_type *lt;
    for (int i = 0; (lt = nn_layer_type_at(i)); i++)
        if (strcmp(lt->name, "input"))
            printf("layers %s\n", lt->name);
    const char *a[128];
    int n = nn_activation_names(a, 128);
    for (int i = 0; i < n; i++)
        printf("activations %s\n", a[i]);
    const char *s;
    for (int i = 0; (s = nn_initializer_name_at(i, NULL)); i++)
        printf("initializers %s\n", s);
    const nn_reg_type *rt;
    for (int i = 0; (rt = nn_reg_type_at(i)); i++)
        printf("regularizers %s\n", rt->name);
    const nn_loss_info *L;
    for (int i = 0; (L = nn_loss_at(i)); i++)
        printf("losses %s\n", L->name);
    for (int i = 0; (s = nn_metric_builtin_name(i)); i++)
        printf("metrics %s\n", s);
    for (int i = 0; (s = nn_optimizer_name_at(i, NULL)); i++)
        printf("optimizers %s\n", s);
    const nn_callback_type *ct;
    for (int i = 0; (ct = nn_callback_type_at(i)); i++)
        printf("callbacks %s\n", ct->name);
    const nn_command *c;
    for (int i = 0; (c = nn_command_at(i)); i++)
        printf("commands %s\n", c->name);
}

/* ---- every key a parser reads is documented --------------------------- */

/* A value for a key that its doc says is required, by its type. */
static void sample_value(const nn_doc_key *k, const char *row, char *buf, size_t n)
{
    if (!strcmp(k->name, "layer"))
        snprintf(buf, n, "{ type = \"%s\"; units = 2; }",
                 !strcmp(row, "time_distributed") ? "dense" : "lstm");
    else if (!strcmp(k->name, "target_shape"))
        snprintf(buf, n, "[4, -1]");
    else if (!strcmp(k->name, "activation"))
        snprintf(buf, n, "\"relu\"");
    else if (!strcmp(k->name, "command"))
        snprintf(buf, n, "\"true\"");
    else if (!strncmp(k->type, "float", 5))
        snprintf(buf, n, "0.5");
    else if (!strncmp(k->type, "string", 6))
        snprintf(buf, n, "\"x\"");
    else
        snprintf(buf, n, "2");
}

static int documented(const nn_doc_key *keys, const char *key)
{
    static const char *const common[] = {"type", "name", "inputs", "trainable", NULL};
    for (int i = 0; common[i]; i++)
        if (!strcmp(common[i], key))
            return 1;
    for (int i = 0; keys && keys[i].name; i++)
        if (!strcmp(keys[i].name, key))
            return 1;
    return 0;
}

/* Settings text with every key the docs call required. */
static void settings(const nn_doc_key *keys, const char *row, char *text, size_t n)
{
    size_t o = (size_t)snprintf(text, n, "g = { ");
    for (int i = 0; keys && keys[i].name && o < n; i++)
        if (!strcmp(keys[i].def, "required")) {
            char v[128];
            sample_value(&keys[i], row, v, sizeof v);
            o += (size_t)snprintf(text + o, n - o, "%s = %s; ", keys[i].name, v);
        }
    snprintf(text + o, n > o ? n - o : 0, "};");
}

static int check_keys(void)
{
    int bad = 0;
    nn_error err;
    const nn_layer_type *t;
    for (int i = 0; (t = nn_layer_type_at(i)); i++) {
        if (!strcmp(t->name, "input") || !t->parse)
            continue;
        char text[2048];
        settings(t->keys, t->name, text, sizeof text);
        nn_spec *s;
        nn_spec_node *g;
        if (nn_spec_load_string(&s, text, t->name, &err) ||
            nn_spec_group(nn_spec_root(s), "g", true, &g, &err)) {
            fprintf(stderr, "%s: %s\n", t->name, err.msg);
            return 2;
        }
        nn_node n = {.type = t, .trainable = true};
        snprintf(n.name, sizeof n.name, "%s", t->name);
        if (t->parse(&n, g, &err))
            fprintf(stderr, "note: %s did not parse from its documented required keys "
                            "(%s): only the keys read before that are checked\n",
                    t->name, err.msg);
        const char *key;
        for (int k = 0; (key = nn_spec_known_key(g, k)); k++)
            if (!documented(t->keys, key)) {
                printf("layer %s reads key \"%s\", which its row does not document\n", t->name,
                       key);
                bad = 1;
            }
        nn_node_free_cfg(&n);
        nn_spec_free(s);
    }
    return bad;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tables[] = {{"layers", layers},         {"activations", activations},
                  {"initializers", initializers}, {"regularizers", regularizers},
                  {"losses", losses},         {"metrics", metrics},
                  {"optimizers", optimizers}, {"callbacks", callbacks},
                  {"commands", commands}};
    if (argc == 2 && !strcmp(argv[1], "--names")) {
        names();
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--check-keys"))
        return check_keys();
    for (size_t i = 0; argc == 2 && i < sizeof tables / sizeof tables[0]; i++)
        if (!strcmp(argv[1], tables[i].name)) {
            tables[i].fn();
            return fflush(stdout) ? 1 : 0;
        }
    fprintf(stderr, "usage: mantables TABLE | --names | --check-keys\n");
    return 2;
}
