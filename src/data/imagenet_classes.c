/* ImageNet-1k's 1,000 class names in class-index order, built into the
 * binary from datasets/imagenet/classes.txt so that `predict --labels
 * imagenet` works wherever nnctl is copied, with no data file to find.
 * The Makefile makes this object depend on the text file (.incbin is not
 * seen by the compiler's dependency output). */
#include "data/dataset.h"

__asm__(".pushsection .rodata\n"
        ".global nn_imagenet_text_begin\n"
        ".hidden nn_imagenet_text_begin\n"
        ".global nn_imagenet_text_end\n"
        ".hidden nn_imagenet_text_end\n"
        "nn_imagenet_text_begin:\n"
        ".incbin \"datasets/imagenet/classes.txt\"\n"
        "nn_imagenet_text_end:\n"
        ".popsection\n");

extern const char nn_imagenet_text_begin[] __attribute__((visibility("hidden")));
extern const char nn_imagenet_text_end[] __attribute__((visibility("hidden")));

nn_status nn_class_names_imagenet(nn_class_names *names, nn_error *err)
{
    nn_status st = nn_class_names_parse(nn_imagenet_text_begin,
                                        (size_t)(nn_imagenet_text_end - nn_imagenet_text_begin),
                                        NN_IMAGENET_CLASSES + 1, names, err);
    if (!st && names->n != NN_IMAGENET_CLASSES) {
        nn_class_names_free(names);
        return nn_fail(err, NN_ERR_RUNTIME, "the built-in ImageNet class names hold %d names, "
                                            "not %d: the build's classes.txt is damaged",
                       names->n, NN_IMAGENET_CLASSES);
    }
    return st;
}
