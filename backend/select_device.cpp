// select_device.cpp — resolves a device selector (index or name substring) shared by all backends.
#include <algorithm>
#include <cctype>

#include "backend/device.hpp"

namespace lowbit::detail {

static std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

size_t select_device(const std::vector<std::string>& names, const std::string& selector, Backend b) {
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + std::to_string(i) + ": " + names[i];
  if (names.empty()) throw Error(ErrorCode::NotFound, std::string(to_string(b)) + ": no devices");
  if (selector.empty()) return 0;
  if (std::all_of(selector.begin(), selector.end(), [](unsigned char c) { return std::isdigit(c); })) {
    size_t i = std::stoul(selector);
    if (i < names.size()) return i;
  } else {
    for (size_t i = 0; i < names.size(); ++i)
      if (lower(names[i]).find(lower(selector)) != std::string::npos) return i;
  }
  throw Error(ErrorCode::NotFound, std::string(to_string(b)) + ": no device matches '" + selector +
                                       "' (devices: " + list + ")");
}

}  // namespace lowbit::detail
