#include <signal.h>
#include <string.h>

#include "train/interrupt.h"

static volatile sig_atomic_t pending;
static int depth; /* installs not yet undone: the outermost pair counts */

static void on_signal(int sig)
{
    if (pending == sig) {
        /* the same signal again (a second Ctrl-C): default action, now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    /* another signal after the first is the same request: Ctrl-C on
     * mpirun reaches each rank from the terminal (SIGINT) and from mpirun
     * (SIGTERM), and the rank must still stop at a batch boundary and
     * save */
    if (!pending)
        pending = sig;
}

void nn_interrupt_install(void)
{
    if (depth++ > 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pending = 0;
}

void nn_interrupt_uninstall(void)
{
    if (depth > 0 && --depth > 0)
        return;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int nn_interrupt_pending(void) { return pending; }
