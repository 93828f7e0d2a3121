/* Images from files, the way Keras's load_img gives them: PNG (libpng) and
 * JPEG (libjpeg, EXIF orientation honoured) decoded to 8-bit gray or RGB,
 * converted between the two as PIL's convert() does, and resized as PIL's
 * resize(BILINEAR) does (bilinear, antialiased when shrinking: the filter
 * widens with the scale), to the same integer result. */
#ifndef NN_DATA_IMAGE_H
#define NN_DATA_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

/* JPEG via libjpeg (src/data/jpeg.c): gray (1 channel) or RGB (3), upright
 * by the EXIF orientation tag; pixels h*w*channels bytes, caller frees. */
nn_status nn_jpeg_read(const char *path, uint8_t **pixels, int *h, int *w, int *channels,
                       nn_error *err);

/* PNG or JPEG by the file's signature (by its name when the signature is
 * neither: that reader then says what is wrong). *dropped_alpha: a PNG's
 * alpha channel was dropped. */
nn_status nn_image_read(const char *path, uint8_t **pixels, int *h, int *w, int *channels,
                        bool *dropped_alpha, nn_error *err);
/* 'p' (PNG), 'j' (JPEG) or 0, by the first bytes of a file. */
char nn_image_kind(const uint8_t *head, size_t n);
/* A name ending in .png, .jpg or .jpeg (any case). */
bool nn_image_name(const char *name);

/* One image's pixels converted from `have` to `want` channels (1 or 3):
 * gray replicated, or PIL's luma L = (19595 R + 38470 G + 7471 B + 2^15) >> 16. */
void nn_image_channels(const uint8_t *px, size_t pixels, int have, int want, uint8_t *dst);

/* The image turned upright for an EXIF orientation 1..8 (as
 * PIL.ImageOps.exif_transpose): a new buffer (NULL: out of memory) and its
 * height and width. */
uint8_t *nn_image_orient(const uint8_t *src, int h, int w, int c, int orientation, int *oh,
                         int *ow);

/* src (sh x sw x c) resized to dst (dh x dw x c) as PIL's
 * Image.resize((dw, dh), BILINEAR, box): box = {x0, y0, x1, y1}, the source
 * region (NULL: all of it). NN_ERR_RUNTIME only when out of memory. */
nn_status nn_image_resize(const uint8_t *src, int sh, int sw, int c, const double *box,
                          uint8_t *dst, int dh, int dw, nn_error *err);
/* Keras's load_img(target_size=(dh, dw)): resized whole, or with crop the
 * largest centred region of dst's aspect ratio first (keep_aspect_ratio). */
nn_status nn_image_fit(const uint8_t *src, int sh, int sw, int c, bool crop, uint8_t *dst,
                       int dh, int dw, nn_error *err);

#endif
