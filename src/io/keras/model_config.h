#ifndef NN_IO_KERAS_JSON_H
#define NN_IO_KERAS_JSON_H

#include "model/model.h"

/* The Keras version our files declare: tf.keras 2 layout. */
#define NN_KERAS_VERSION "2.15.0"

#endif
