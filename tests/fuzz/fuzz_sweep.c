/* libFuzzer target: see targets.h (nn_fuzz_sweep). Built by `make fuzz`. */
#include "targets.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return nn_fuzz_sweep(data, size);
}
