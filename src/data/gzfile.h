/* Opening data files that may or may not be gzip-compressed (zlib reads
 * both), with the errors every loader gives the same way. */
#ifndef NN_DATA_GZFILE_H
#define NN_DATA_GZFILE_H

#include <zlib.h>

#include "util/error.h"

/* path opened for reading through zlib with a 1 MiB buffer; NULL with err
 * set when it cannot be opened or is a directory ("expected <what>"). */
gzFile nn_gz_open(const char *path, const char *what, nn_error *err);

#endif
