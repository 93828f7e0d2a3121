/* JPEG reading with libjpeg (Debian's libjpeg62-turbo): baseline and
 * progressive, gray or colour (YCbCr and RGB come out as RGB; CMYK, which
 * needs a colour profile to look right, is refused), with the default
 * decoder settings Pillow also uses (the accurate integer IDCT, fancy
 * upsampling), so the pixels equal Pillow's. The EXIF orientation tag is
 * honoured, as PIL.ImageOps.exif_transpose does: a photo taken sideways
 * comes out upright.
 *
 * libjpeg reports errors through error_exit, which must not return: ours
 * keeps the message and longjmps back to the setjmp in nn_jpeg_read. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "data/dataset.h"
#include "data/image.h"

#define JPEG_MAX_SIDE 16384

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void on_error(j_common_ptr c)
{
    jerr *e = (jerr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jmp, 1);
}

/* Warnings: libjpeg decodes on past damage (as Pillow does), but a file
 * that ends early would come out with its missing part gray: an error, as
 * Pillow's "image file is truncated". */
static void on_emit(j_common_ptr c, int level)
{
    if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) {
        jerr *e = (jerr *)c->err;
        snprintf(e->msg, sizeof e->msg, "truncated (unexpected end of file)");
        longjmp(e->jmp, 1);
    }
}

static unsigned get16(const uint8_t *p, bool le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p, bool le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The Orientation tag (0x0112) of IFD0 in an APP1 "Exif\0\0" block; 1
 * (upright) when absent or unreadable. */
static int exif_orientation(const uint8_t *d, unsigned len)
{
    if (len < 14 || memcmp(d, "Exif\0\0", 6))
        return 1;
    const uint8_t *t = d + 6;
    size_t n = len - 6;
    bool le;
    if (!memcmp(t, "II*\0", 4))
        le = true;
    else if (!memcmp(t, "MM\0*", 4))
        le = false;
    else
        return 1;
    uint32_t ifd = get32(t + 4, le);
    if (ifd > n || n - ifd < 2)
        return 1;
    unsigned count = get16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            return 1;
        if (get16(t + e, le) == 0x0112 && get16(t + e + 2, le) == 3 /* SHORT */) {
            unsigned v = get16(t + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

nn_status nn_jpeg_read(const char *path, uint8_t **pixels, int *h, int *w, int *channels,
                       nn_error *err)
{
    *pixels = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, strerror(errno));
    struct jpeg_decompress_struct ci;
    jerr je;
    /* what the error path frees: volatile across the longjmp */
    uint8_t *volatile px = NULL;
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = on_error;
    je.pub.emit_message = on_emit;
    je.msg[0] = '\0';
    if (setjmp(je.jmp)) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        free(px);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': not a readable JPEG image: %s", path, je.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&ci, TRUE);
    int orient = 1;
    for (jpeg_saved_marker_ptr m = ci.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && (orient = exif_orientation(m->data, m->data_length)) != 1)
            break;
    if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': a CMYK JPEG (print colours): convert it to RGB first", path);
    }
    bool gray = ci.jpeg_color_space == JCS_GRAYSCALE;
    ci.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    ci.dct_method = JDCT_ISLOW;
    ci.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&ci);
    int W = (int)ci.output_width, H = (int)ci.output_height, C = ci.output_components;
    if (W < 1 || H < 1 || W > JPEG_MAX_SIDE || H > JPEG_MAX_SIDE || (C != 1 && C != 3)) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': a %dx%d JPEG with %d channels (at most %d "
                                            "pixels a side, 1 or 3 channels)",
                       path, W, H, C, JPEG_MAX_SIDE);
    }
    size_t row = (size_t)W * (size_t)C;
    px = malloc(row * (size_t)H);
    if (!px) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': out of memory (%dx%d)", path, W, H);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW r = px + row * ci.output_scanline;
        jpeg_read_scanlines(&ci, &r, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    fclose(f);
    uint8_t *img = px;
    if (orient != 1) {
        uint8_t *o = nn_image_orient(img, H, W, C, orient, &H, &W);
        free(img);
        if (!o)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': out of memory", path);
        img = o;
    }
    *pixels = img;
    *h = H;
    *w = W;
    *channels = C;
    return NN_OK;
}
