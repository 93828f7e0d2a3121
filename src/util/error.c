#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nn_status nn_fail(nn_error *err, nn_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

nn_status nn_error_prefix(nn_error *err, const char *fmt, ...)
{
    if (!err)
        return NN_ERR_RUNTIME;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return err->code;
}

void *nn_malloc(size_t bytes, nn_error *err)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        nn_fail(err, NN_ERR_RUNTIME, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *nn_calloc(size_t count, size_t size, nn_error *err)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        nn_fail(err, NN_ERR_RUNTIME, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

char *nn_strdup(const char *s, nn_error *err)
{
    size_t n = strlen(s) + 1;
    char *p = nn_malloc(n, err);
    if (p)
        memcpy(p, s, n);
    return p;
}

static int quiet_process;

void nn_set_quiet(int quiet) { quiet_process = quiet; }

int nn_is_quiet(void) { return quiet_process; }

static nn_error deferred;

void nn_error_defer(nn_status code, const char *fmt, ...)
{
    if (deferred.code != NN_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(deferred.msg, sizeof deferred.msg, fmt, ap);
    va_end(ap);
    deferred.code = code;
}

nn_status nn_error_take_deferred(nn_error *err)
{
    nn_status code = deferred.code;
    if (code != NN_OK && err)
        *err = deferred;
    deferred.code = NN_OK;
    return code;
}
