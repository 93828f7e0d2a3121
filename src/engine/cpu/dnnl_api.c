/* Loading oneDNN at run time (dnnl_api.h says why). */
#define NN_DNNL_LOADER
#include "engine/cpu/dnnl_api.h"

#ifdef NN_HAVE_DNNL

#include <dlfcn.h>
#include <pthread.h>

nn_dnnl_api nn_dnnl;

static bool loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    /* the soname Debian's libdnnl2 installs (the ABI the header describes) */
    void *lib = dlopen("libdnnl.so.2", RTLD_LAZY | RTLD_LOCAL);
    if (!lib)
        return;
    bool all = true;
#define NN_DNNL_SYM(f) all = all && (*(void **)&nn_dnnl.f = dlsym(lib, #f)) != NULL;
    NN_DNNL_FUNCS(NN_DNNL_SYM)
#undef NN_DNNL_SYM
    loaded = all;
    /* the library stays loaded: its primitives may be in use until exit */
}

bool nn_dnnl_load(void)
{
    pthread_once(&once, load);
    return loaded;
}

#endif
