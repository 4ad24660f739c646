// The integer kernels' argument checks, shared by their sources: a failed check throws
// std::invalid_argument, which reaches Python as a ValueError with its message.
#pragma once

#include <stdexcept>
#include <string>

namespace omnicodec {

inline void check(bool condition, const std::string& message) {
  if (!condition) throw std::invalid_argument(message);
}

}  // namespace omnicodec
