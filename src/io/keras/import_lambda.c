/* Keras 2's InceptionResNetV2 joins each residual branch to its trunk with
 * layers.Lambda(lambda inputs, scale: inputs[0] + inputs[1] * scale,
 * arguments={"scale": s}). A Lambda stores its function as marshalled
 * CPython bytecode, which nnctl never runs; this file reads that bytecode
 * instead and accepts the Lambda as a custom_scale layer only when it is
 * exactly that function: two arguments (inputs, scale), the instructions
 * LOAD_FAST inputs, LOAD_CONST 0, BINARY_SUBSCR, LOAD_FAST inputs,
 * LOAD_CONST 1, BINARY_SUBSCR, LOAD_FAST scale, multiply, add,
 * RETURN_VALUE (CPython 3.8 to 3.10: BINARY_MULTIPLY and BINARY_ADD; 3.11
 * and 3.12: BINARY_OP 5 and 0, after RESUME, CACHE entries skipped), the
 * constants read from the code's tuple. Any other Lambda is refused naming
 * why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/import_internal.h"

/* CPython opcodes (stable from 3.8 to 3.12 for these) */
enum {
    OP_CACHE = 0,
    OP_BINARY_MULTIPLY = 20, /* <= 3.10 */
    OP_BINARY_ADD = 23,      /* <= 3.10 */
    OP_BINARY_SUBSCR = 25,
    OP_RETURN_VALUE = 83,
    OP_LOAD_CONST = 100,
    OP_BINARY_OP = 122, /* >= 3.11: arg 0 add, 5 multiply */
    OP_LOAD_FAST = 124,
    OP_RESUME = 151,
};

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Base64 (newlines allowed, as Keras writes it) into a malloc'd buffer. */
static unsigned char *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r' || *s == '=')
            continue;
        int v = b64_value(*s);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *len = o;
    return out;
}

typedef struct {
    const unsigned char *p, *end;
} reader;

static bool get_u32(reader *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return false;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    return true;
}

/* The marshalled code object's argument count, bytecode and the small
 * integers of its constants tuple (others marked absent). */
typedef struct {
    uint32_t argcount;
    const unsigned char *code;
    uint32_t code_len;
    int n_consts;
    long long consts[16];
    bool is_int[16];
    int ints_before_code; /* 6: CPython <= 3.10, 5: 3.11+ */
} code_obj;

static bool read_code(reader *r, int ints, code_obj *c)
{
    if (r->p >= r->end || (r->p[0] & 0x7f) != 'c')
        return false;
    r->p++;
    uint32_t v[6];
    for (int i = 0; i < ints; i++)
        if (!get_u32(r, &v[i]))
            return false;
    c->argcount = v[0];
    c->ints_before_code = ints;
    if (r->p >= r->end || (r->p[0] & 0x7f) != 's')
        return false;
    r->p++;
    if (!get_u32(r, &c->code_len) || (size_t)(r->end - r->p) < c->code_len)
        return false;
    c->code = r->p;
    r->p += c->code_len;
    /* the constants: a small tuple ')' n or a tuple '(' u32 */
    if (r->p >= r->end)
        return false;
    unsigned char t = r->p[0] & 0x7f;
    r->p++;
    uint32_t n;
    if (t == ')') {
        if (r->p >= r->end)
            return false;
        n = *r->p++;
    } else if (t != '(' || !get_u32(r, &n)) {
        return false;
    }
    if (n > 16)
        return false;
    c->n_consts = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        if (r->p >= r->end)
            return false;
        unsigned char k = r->p[0] & 0x7f;
        r->p++;
        c->is_int[i] = false;
        if (k == 'N' || k == 'T' || k == 'F')
            continue;
        uint32_t x;
        if (k != 'i' || !get_u32(r, &x))
            return false; /* anything else: not the function looked for */
        c->is_int[i] = true;
        c->consts[i] = (int32_t)x;
    }
    return true;
}

/* Does the bytecode compute inputs[0] + inputs[1] * scale? */
static bool is_scale_add(const code_obj *c)
{
    bool new_ops = c->ints_before_code == 5;
    int ops[16], args[16], n = 0;
    for (uint32_t i = 0; i + 1 < c->code_len; i += 2) {
        int op = c->code[i], arg = c->code[i + 1];
        if (new_ops && (op == OP_CACHE || op == OP_RESUME))
            continue;
        if (n == 16)
            return false;
        ops[n] = op;
        args[n++] = arg;
    }
    const int want[10] = {OP_LOAD_FAST,  OP_LOAD_CONST, OP_BINARY_SUBSCR,
                          OP_LOAD_FAST,  OP_LOAD_CONST, OP_BINARY_SUBSCR,
                          OP_LOAD_FAST,  new_ops ? OP_BINARY_OP : OP_BINARY_MULTIPLY,
                          new_ops ? OP_BINARY_OP : OP_BINARY_ADD, OP_RETURN_VALUE};
    if (n != 10)
        return false;
    for (int i = 0; i < 10; i++)
        if (ops[i] != want[i])
            return false;
    if (args[0] != 0 || args[3] != 0 || args[6] != 1)
        return false; /* inputs, inputs, scale */
    if (new_ops && (args[7] != 5 || args[8] != 0))
        return false; /* multiply, then add */
    for (int k = 0; k < 2; k++) {
        int at = args[k == 0 ? 1 : 4];
        if (at >= c->n_consts || !c->is_int[at] || c->consts[at] != k)
            return false; /* inputs[0], inputs[1] */
    }
    return true;
}

nn_status kx_import_lambda(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    static const char why[] = "a Lambda layer holds Python code, which nnctl does not run; it "
                              "reads one Lambda only, Keras 2's InceptionResNetV2 residual "
                              "inputs[0] + inputs[1] * scale with arguments {\"scale\": s}";
    json_t *args = kx_get(L, "arguments", NULL);
    json_t *scale = json_object_get(args, "scale");
    json_t *fn = kx_get(L, "function", NULL);
    json_t *ft = kx_get(L, "function_type", NULL);
    const char *b64 = json_is_array(fn) ? json_string_value(json_array_get(fn, 0))
                                        : json_string_value(fn);
    if (!json_is_object(args) || json_object_size(args) != 1 || !json_is_number(scale) ||
        !b64 || (ft && (!json_is_string(ft) || strcmp(json_string_value(ft), "lambda"))))
        return kx_fail(L, "%s (this one's arguments or function differ)", why);
    if (s->n_in != 2)
        return kx_fail(L, "%s (this one takes %d inputs)", why, s->n_in);
    size_t len = 0;
    unsigned char *raw = b64_decode(b64, &len);
    if (!raw)
        return kx_fail(L, "%s (its function is not base64 text)", why);
    bool ok = false;
    for (int ints = 5; ints <= 6 && !ok; ints++) {
        reader r = {raw, raw + len};
        code_obj c;
        ok = read_code(&r, ints, &c) && c.argcount == 2 && is_scale_add(&c);
    }
    free(raw);
    if (!ok)
        return kx_fail(L, "%s (its bytecode computes something else, or comes from a Python "
                          "other than CPython 3.8 to 3.12)",
                       why);
    kx_printf(t, "type = \"custom_scale\";");
    kx_key_float(t, "scale", json_number_value(scale));
    s->rank = s->in_rank[0];
    return NN_OK;
}
