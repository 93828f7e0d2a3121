/* PNG reading and atomic writing with libpng 1.6.
 *
 * libpng reports errors by longjmp to the setjmp in png_jmpbuf; everything
 * that is assigned after setjmp and used on the error path is volatile, and
 * the error callback copies libpng's message into our context so it ends up
 * in the nn_error. Warnings are dropped (library code never prints). */
#define _GNU_SOURCE /* mkostemp */
#include "data/dataset.h"
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PNG_MAX_SIDE 16384

typedef struct png_ctx {
    FILE *fp;
    char msg[512]; /* libpng's (or our I/O callback's) message */
    bool ours;     /* msg is complete in itself (not a libpng message) */
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    if (c && c->msg[0] == '\0')
        snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Our own read callback, so a short file says "truncated", not "Read Error". */
static void on_png_read(png_structp png, png_bytep buf, size_t len)
{
    png_ctx *c = png_get_io_ptr(png);
    size_t got = fread(buf, 1, len, c->fp);
    if (got != len) {
        c->ours = true;
        if (ferror(c->fp))
            snprintf(c->msg, sizeof c->msg, "read error: %s", strerror(errno));
        else
            snprintf(c->msg, sizeof c->msg, "truncated (unexpected end of file)");
        png_error(png, c->msg);
    }
}

static void on_png_write(png_structp png, png_bytep buf, size_t len)
{
    png_ctx *c = png_get_io_ptr(png);
    if (fwrite(buf, 1, len, c->fp) != len) {
        snprintf(c->msg, sizeof c->msg, "write error: %s", strerror(errno));
        png_error(png, c->msg);
    }
}

static void on_png_flush(png_structp png)
{
    png_ctx *c = png_get_io_ptr(png);
    if (fflush(c->fp) != 0) {
        snprintf(c->msg, sizeof c->msg, "write error: %s", strerror(errno));
        png_error(png, c->msg);
    }
}

typedef struct png_image_out {
    uint8_t *pixels;
    png_uint_32 h, w;
    int channels;
    bool dropped_alpha;
} png_image_out;

/* Decodes the PNG after its signature; returns false with ctx->msg set
 * (ctx->ours when the message is ours rather than libpng's). The setjmp
 * lives here so that ctx and out, which the error path reads, belong to
 * the caller's frame. */
static bool png_read_stream(png_ctx *ctx, png_image_out *out)
{
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        snprintf(ctx->msg, sizeof ctx->msg, "out of memory creating a PNG reader");
        ctx->ours = true;
        return false;
    }

    /* Assigned after setjmp and read after a longjmp: volatile. */
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;

    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        free(pix);
        return false;
    }

    png_set_read_fn(png, ctx, on_png_read);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);

    png_uint_32 pw = 0, ph = 0;
    int depth = 0, ctype = 0, interlace = 0;
    png_get_IHDR(png, info, &pw, &ph, &depth, &ctype, &interlace, NULL, NULL);
    if (pw > PNG_MAX_SIDE || ph > PNG_MAX_SIDE) {
        snprintf(ctx->msg, sizeof ctx->msg, "image is %ux%u (WxH), larger than the %dx%d limit",
                 (unsigned)pw, (unsigned)ph, PNG_MAX_SIDE, PNG_MAX_SIDE);
        ctx->ours = true;
        png_longjmp(png, 1);
    }
    if (depth == 16) {
        snprintf(ctx->msg, sizeof ctx->msg, "16-bit PNG not supported; convert to 8-bit");
        ctx->ours = true;
        png_longjmp(png, 1);
    }

    bool has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    bool alpha = (ctype & PNG_COLOR_MASK_ALPHA) != 0;
    int want = (ctype & PNG_COLOR_MASK_COLOR) ? 3 : 1; /* palette has the COLOR bit */
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png); /* also expands tRNS to an alpha channel */
        alpha = alpha || has_trns;
    } else if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (alpha)
        png_set_strip_alpha(png);
    if (interlace != PNG_INTERLACE_NONE)
        png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int got_ch = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (got_ch != want || png_get_bit_depth(png, info) != 8 ||
        rowbytes != (size_t)pw * (size_t)want) {
        snprintf(ctx->msg, sizeof ctx->msg,
                 "unsupported PNG layout (color type %d, bit depth %d, %d channels)", ctype,
                 depth, got_ch);
        ctx->ours = true;
        png_longjmp(png, 1);
    }

    size_t bytes = (size_t)ph * rowbytes;
    pix = malloc(bytes ? bytes : 1);
    rows = malloc(sizeof(png_bytep) * (ph ? ph : 1));
    if (!pix || !rows) {
        snprintf(ctx->msg, sizeof ctx->msg, "out of memory for a %ux%u image", (unsigned)pw,
                 (unsigned)ph);
        ctx->ours = true;
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < ph; y++)
        rows[y] = pix + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->pixels = pix;
    out->h = ph;
    out->w = pw;
    out->channels = want;
    /* A tRNS chunk on gray/RGB (one transparent color) is ignored too. */
    out->dropped_alpha = alpha || has_trns;
    return true;
}

nn_status nn_png_read(const char *path, uint8_t **pixels, int *h, int *w, int *channels,
                      bool *dropped_alpha, nn_error *err)
{
    *pixels = NULL;
    *h = *w = *channels = 0;
    if (dropped_alpha)
        *dropped_alpha = false;

    FILE *fp = fopen(path, "rbe");
    if (!fp)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': is a directory, expected a PNG file", path);
    }
    uint8_t sig[8];
    size_t nsig = fread(sig, 1, sizeof sig, fp);
    if (nsig < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        fclose(fp);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': not a PNG file (bad signature)", path);
    }

    png_ctx ctx = {.fp = fp, .msg = "", .ours = false};
    png_image_out img = {0};
    bool ok = png_read_stream(&ctx, &img);
    fclose(fp);
    if (!ok) {
        const char *m = ctx.msg[0] ? ctx.msg : "unknown libpng error";
        if (ctx.ours)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, m);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': invalid PNG: %s", path, m);
    }
    *pixels = img.pixels;
    *h = (int)img.h;
    *w = (int)img.w;
    *channels = img.channels;
    if (dropped_alpha)
        *dropped_alpha = img.dropped_alpha;
    return NN_OK;
}

/* Writes the PNG body to an open stream; returns false with ctx->msg set. */
static bool png_write_stream(png_ctx *ctx, const uint8_t *pixels, int h, int w, int channels)
{
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        snprintf(ctx->msg, sizeof ctx->msg, "out of memory creating a PNG writer");
        return false;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        if (!ctx->msg[0])
            snprintf(ctx->msg, sizeof ctx->msg, "unknown libpng error");
        return false;
    }
    png_set_write_fn(png, ctx, on_png_write, on_png_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!rows) {
        snprintf(ctx->msg, sizeof ctx->msg, "out of memory");
        png_longjmp(png, 1);
    }
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)(pixels + (size_t)y * (size_t)w * (size_t)channels);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return true;
}

nn_status nn_png_write(const char *path, const uint8_t *pixels, int h, int w, int channels,
                       nn_error *err)
{
    if (channels != 1 && channels != 3)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': cannot write a PNG with %d channels (1 gray or 3 RGB)", path,
                       channels);
    if (h < 1 || w < 1 || h > PNG_MAX_SIDE || w > PNG_MAX_SIDE)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': cannot write a %dx%d PNG (each side 1 to %d)", path, h, w,
                       PNG_MAX_SIDE);
    if (!pixels)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': no pixels to write", path);

    /* Temp file in the same directory, so the final rename is atomic. */
    size_t plen = strlen(path);
    char *tmp = nn_malloc(plen + 16, err);
    if (!tmp)
        return NN_ERR_RUNTIME;
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot create a temporary file: %s", path,
                strerror(errno));
        free(tmp);
        return NN_ERR_RUNTIME;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; images are not secrets */
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return NN_ERR_RUNTIME;
    }

    png_ctx ctx = {.fp = fp, .msg = ""};
    bool ok = png_write_stream(&ctx, pixels, h, w, channels);
    if (ok && fflush(fp) != 0) {
        snprintf(ctx.msg, sizeof ctx.msg, "write error: %s", strerror(errno));
        ok = false;
    }
    if (ok && fsync(fd) != 0) {
        snprintf(ctx.msg, sizeof ctx.msg, "fsync failed: %s", strerror(errno));
        ok = false;
    }
    if (fclose(fp) != 0 && ok) {
        snprintf(ctx.msg, sizeof ctx.msg, "close failed: %s", strerror(errno));
        ok = false;
    }
    if (ok && rename(tmp, path) != 0) {
        snprintf(ctx.msg, sizeof ctx.msg, "cannot rename the temporary file into place: %s",
                 strerror(errno));
        ok = false;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, ctx.msg);
    }
    free(tmp);

    /* Make the rename itself durable; failure here loses nothing written. */
    nn_fsync_parent_dir(path);
    return NN_OK;
}
