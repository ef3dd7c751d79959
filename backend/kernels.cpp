// kernels.cpp — finds embedded kernel files by name (see kernels.hpp).
#include "backend/kernels.hpp"

#include "lowbit/lowbit.hpp"

namespace lowbit::detail {

bool has_embedded_file(std::string_view name) {
  for (const EmbeddedFile* f = kEmbeddedFiles; f->name; ++f)
    if (name == f->name) return true;
  return false;
}

std::span<const unsigned char> embedded_file(std::string_view name) {
  for (const EmbeddedFile* f = kEmbeddedFiles; f->name; ++f)
    if (name == f->name) return {f->data, f->size};
  throw Error(ErrorCode::Internal, "embedded kernel file '" + std::string(name) + "' not found");
}

std::string embedded_text(std::string_view name) {
  auto d = embedded_file(name);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace lowbit::detail
