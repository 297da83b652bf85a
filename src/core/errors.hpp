// Error helpers shared by every layer: one exception type (ffc::Error), messages that name the
// argument, the value and the rule.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>

#include "ffc/ffc.hpp"

namespace ffc::core {

[[noreturn]] inline void throw_error(Status status, const std::string& message) {
  throw Error(status, message);
}

[[noreturn]] inline void throw_invalid(const std::string& message) {
  throw Error(Status::kInvalidArgument, message);
}

// "(2, 3, 4)" for the first `n` entries of `values`.
inline std::string tuple_string(const int64_t* values, int n) {
  std::ostringstream out;
  out << '(';
  for (int i = 0; i < n; ++i) out << (i ? ", " : "") << values[i];
  if (n == 1) out << ',';
  out << ')';
  return out.str();
}

}  // namespace ffc::core
