// SKIP_WITHOUT_GPU(): GPU test bodies skip, with the reason, where no CUDA device is present.
#pragma once

#include <gtest/gtest.h>

#include "ffc/ffc.hpp"

// In a GoogleTest body: skips the test, with the reason, where this machine has no CUDA device.
#define SKIP_WITHOUT_GPU()                                                                         \
  do {                                                                                             \
    if (::ffc::cuda_device_count() == 0) {                                                         \
      GTEST_SKIP() << "no CUDA device on this machine: the GPU suite runs on the lent H100 "       \
                      "(scripts/gpu_check.sh)";                                                    \
    }                                                                                              \
  } while (0)
