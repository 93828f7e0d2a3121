#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/gzfile.h"

gzFile nn_gz_open(const char *path, const char *what, nn_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        close(fd);
        nn_fail(err, NN_ERR_RUNTIME, "'%s': is a directory, expected %s", path, what);
        return NULL;
    }
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: out of memory", path);
        return NULL;
    }
    gzbuffer(f, 1u << 20);
    return f;
}
