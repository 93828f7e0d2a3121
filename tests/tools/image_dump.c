/* Decodes one image as nnctl does and writes its pixels as a .npy array
 * (float32, shape (H, W, C)), for tests/oracle/test_images.py.
 *
 *   image_dump IN OUT.npy [HEIGHT WIDTH [crop] [gray|rgb]]
 *
 * With HEIGHT and WIDTH the image is resized as predict --resize does
 * (--crop with "crop"); gray/rgb converts the channels first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "data/npy.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 7) {
        fprintf(stderr, "usage: image_dump IN OUT.npy [HEIGHT WIDTH [crop] [gray|rgb]]\n");
        return 2;
    }
    nn_error err = {0};
    uint8_t *px;
    int h, w, c;
    bool alpha;
    if (nn_image_read(argv[1], &px, &h, &w, &c, &alpha, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int H = h, W = w, C = c;
    bool crop = false;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "crop"))
            crop = true;
        else if (!strcmp(argv[i], "gray"))
            C = 1;
        else if (!strcmp(argv[i], "rgb"))
            C = 3;
    }
    if (argc >= 5) {
        H = atoi(argv[3]);
        W = atoi(argv[4]);
        if (H < 1 || W < 1)
            return 2;
    }
    uint8_t *conv = malloc((size_t)h * w * C), *out = malloc((size_t)H * W * C);
    float *f = malloc(sizeof *f * (size_t)H * W * C);
    if (!conv || !out || !f)
        return 1;
    nn_image_channels(px, (size_t)h * w, c, C, conv);
    if (nn_image_fit(conv, h, w, C, crop, out, H, W, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < (size_t)H * W * C; i++)
        f[i] = out[i];
    size_t shape[3] = {(size_t)H, (size_t)W, (size_t)C};
    if (nn_npy_write_f32(argv[2], f, 3, shape, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    free(px), free(conv), free(out), free(f);
    return 0;
}
