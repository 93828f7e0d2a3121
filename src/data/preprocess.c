/* Keras's applications.imagenet_utils.preprocess_input modes, applied to
 * 0..255 pixel values (channels last) where the data are fed to a model:
 *   caffe: RGB to BGR, then the ImageNet mean (BGR 103.939, 116.779,
 *          123.68) subtracted (VGG, ResNet)
 *   tf:    x / 127.5 - 1, to [-1, 1] (MobileNet, Inception, Xception)
 *   torch: x / 255, then (x - mean) / std with the ImageNet mean (0.485,
 *          0.456, 0.406) and std (0.229, 0.224, 0.225) (DenseNet) */
#include <string.h>

#include "data/dataset.h"

const char *const nn_preprocess_names[] = {"none", "caffe", "tf", "torch", NULL};

void nn_preprocess_apply(nn_preprocess mode, float *x, size_t pixels, int channels)
{
    if (mode == NN_PRE_TF) {
        for (size_t i = 0; i < pixels * (size_t)channels; i++)
            x[i] = x[i] / 127.5f - 1.0f;
        return;
    }
    if (channels != 3 || (mode != NN_PRE_CAFFE && mode != NN_PRE_TORCH))
        return; /* nn_preprocess_check refused it before */
    static const float caffe_mean[3] = {103.939f, 116.779f, 123.68f}; /* B, G, R */
    static const float torch_mean[3] = {0.485f, 0.456f, 0.406f}, torch_std[3] = {0.229f, 0.224f,
                                                                                0.225f};
    for (size_t i = 0; i < pixels; i++) {
        float *p = x + 3 * i;
        if (mode == NN_PRE_CAFFE) {
            float r = p[0];
            p[0] = p[2] - caffe_mean[0];
            p[1] = p[1] - caffe_mean[1];
            p[2] = r - caffe_mean[2];
        } else {
            for (int c = 0; c < 3; c++)
                p[c] = (p[c] / 255.0f - torch_mean[c]) / torch_std[c];
        }
    }
}

nn_status nn_preprocess_check(nn_preprocess mode, double scale, int channels, nn_error *err)
{
    if (mode == NN_PRE_NONE)
        return NN_OK;
    if (scale != 1.0)
        return nn_fail(err, NN_ERR_USAGE,
                       "data.preprocess = \"%s\" works on 0..255 pixel values, as Keras's "
                       "preprocess_input: data.scale must be 1 (it is %g)",
                       nn_preprocess_names[mode], scale);
    if (mode != NN_PRE_TF && channels != 3)
        return nn_fail(err, NN_ERR_USAGE,
                       "data.preprocess = \"%s\" takes RGB images (3 channels), but the inputs "
                       "have %d",
                       nn_preprocess_names[mode], channels);
    return NN_OK;
}
