// The C ABI's view of a C++ tensor, for the C ABI contract tests.
#pragma once

#include "ffc/ffc.h"
#include "ffc/ffc.hpp"

namespace ffc::testing {

inline ffc_tensor_t c_view(const Tensor& v) {
  ffc_tensor_t c{};
  c.data = v.data;
  c.dtype = static_cast<ffc_dtype_t>(v.dtype);
  c.ndim = v.ndim;
  for (int i = 0; i < 3; ++i) {  // every slot, as the C struct has three
    c.shape[i] = v.shape[i];
    c.strides[i] = v.strides[i];
  }
  return c;
}

}  // namespace ffc::testing
