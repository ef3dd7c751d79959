// shared_library.cpp — the one source of lowbit_shared (cmake/install.cmake): the shared library is the
// whole static library linked in; this file only names what it is.
namespace lowbit::detail {
extern const char kSharedLibrary[];
const char kSharedLibrary[] = "liblowbit: the lowbit library (C++ and C API) as a shared library";
}  // namespace lowbit::detail
