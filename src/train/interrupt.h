/* Ctrl-C and SIGTERM during training: the first one asks the fit loop to
 * stop after the current batch (it then writes a resumable checkpoint); a
 * second one ends the process at once, which is safe because every file is
 * written to a temporary name and renamed. */
#ifndef NN_TRAIN_INTERRUPT_H
#define NN_TRAIN_INTERRUPT_H

void nn_interrupt_install(void);
void nn_interrupt_uninstall(void);
/* The signal received (SIGINT, SIGTERM), or 0. */
int nn_interrupt_pending(void);

#endif
