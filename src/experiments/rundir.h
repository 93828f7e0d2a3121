/* Run directories a process writes into: locked for the life of the
 * process, never overwritten silently, numbered when nobody named one.
 *
 * The lock is flock(2) on DIR/.nnctl.lock, taken without waiting and held
 * until the process exits (a killed process frees it; the file stays). The
 * file holds one line naming the holder (pid, host, command, start time),
 * which a refused process reports.
 *
 *   nn_run_lock lk;
 *   char dir[4096];
 *   if (nn_run_dir_claim_new("runs/mnist_mlp", dir, sizeof dir, "train", &lk, &err))
 *       ...                                // dir: runs/mnist_mlp, or -2, -3, ...
 *   nn_run_lock_release(&lk);              // or let exit release it
 */
#ifndef NN_EXPERIMENTS_RUNDIR_H
#define NN_EXPERIMENTS_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

#define NN_RUN_LOCK_FILE ".nnctl.lock"
/* A parent (nnctl sweep) that holds a directory's lock for a child puts
 * the open descriptor's number here; the child's nn_run_lock_take on that
 * directory then shares the lock instead of being refused. */
#define NN_RUN_LOCK_FD_ENV "NNCTL_RUN_LOCK_FD"

typedef struct nn_run_lock {
    bool held;
    int fd;
} nn_run_lock;

/* Creates dir (mkdir -p) and locks it for this process. `command` says
 * who holds it ("train", "sweep", ...). When another process holds it:
 * NN_ERR_RUNTIME, "DIR is in use by nnctl COMMAND (pid N on host H, since
 * T)". On a file system without locks, a warning and *l not held. */
nn_status nn_run_lock_take(const char *dir, const char *command, nn_run_lock *l, nn_error *err);
/* Frees the lock (exit does too). Safe on a lock not held. */
void nn_run_lock_release(nn_run_lock *l);

/* Does dir hold a run: any of the files nnctl train writes (see
 * nn_run_files_list) besides spec.cfg, which a run writes before it has
 * done anything worth keeping? */
bool nn_run_dir_holds_run(const char *dir);

/* The default run directory for base ("runs/mnist_mlp"): base for the
 * first run, then base-2, base-3, ... (one more than the highest number
 * there is; a directory that holds no run and is not locked is reused).
 * Taking the lock is part of choosing, so two processes never get the same
 * directory. out gets the path. */
nn_status nn_run_dir_claim_new(const char *base, char *out, size_t len, const char *command,
                               nn_run_lock *l, nn_error *err);
/* The highest-numbered of base, base-2, ... that has a file `name` (e.g.
 * "last.h5"); NN_ERR_USAGE naming base when none has. */
nn_status nn_run_dir_latest(const char *base, const char *name, char *out, size_t len,
                            nn_error *err);

/* The files nnctl train wrote in a directory: spec.cfg, run.json,
 * eval.json, model.h5, last.h5, history.csv, checkpoints (ckpt-*.h5), the
 * TensorBoard event files under tb/, and where the run's own spec.cfg put
 * its history, checkpoints (the path template, {...} matching anything)
 * and events when elsewhere inside the directory. Nothing else (a user's
 * notes, a sweep's train.log, the lock file) is listed. Each comes with its
 * inode, so a file a new run has since written under the name is told
 * apart from the old one. */
typedef struct nn_run_file {
    char *path;
    dev_t dev;
    ino_t ino;
} nn_run_file;

typedef struct nn_run_files {
    nn_run_file *f;
    int n;
    char **dirs; /* folders holding some of them (deepest first) */
    int n_dirs;
} nn_run_files;

nn_status nn_run_files_list(const char *dir, nn_run_files *out, nn_error *err);
/* Drops path (when listed, by inode) from the list: a file the new run
 * reads (train.init_from) is never removed. */
void nn_run_files_keep(nn_run_files *files, const char *path);
/* Removes the listed files that are still the same files (same inode), then
 * the listed folders left empty. Returns how many files went. */
int nn_run_files_remove(const nn_run_files *files);
void nn_run_files_free(nn_run_files *files);

#endif
