/* Ctrl-C and SIGTERM during training: the first one asks the fit loop to
 * stop after the current batch (it then writes a resumable checkpoint); the
 * same signal again ends the process at once, which is safe because every
 * file is written to a temporary name and renamed. (The other signal after
 * the first changes nothing: under mpirun a Ctrl-C reaches each rank as
 * SIGINT from the terminal and SIGTERM from mpirun.) */
#ifndef NN_TRAIN_INTERRUPT_H
#define NN_TRAIN_INTERRUPT_H

/* Pairs nest: only the outermost install sets the handler (and clears a
 * pending signal) and only its uninstall restores the default, so a
 * command can keep Ctrl-C handling across training and what follows. */
void nn_interrupt_install(void);
void nn_interrupt_uninstall(void);
/* The signal received (SIGINT, SIGTERM), or 0. */
int nn_interrupt_pending(void);

#endif
