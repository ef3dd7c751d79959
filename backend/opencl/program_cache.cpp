// program_cache.cpp — in-process and on-disk OpenCL program cache (see program_cache.hpp).
#include "backend/opencl/program_cache.hpp"

#include <cstring>
#include <vector>

#include "host/cache_dir.hpp"
#include "host/log.hpp"

namespace fs = std::filesystem;

namespace lowbit::detail::cl {

namespace {

constexpr char kMagic[8] = {'L', 'B', 'C', 'L', 'B', 'I', 'N', '1'};
constexpr size_t kHeader = sizeof kMagic + 8 + 16;  // magic, payload size (u64 LE), hash_hex(payload)

std::string build_log(cl_program p, cl_device_id d) {
  size_t n = 0;
  if (clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  if (clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, n, s.data(), nullptr) != CL_SUCCESS) return "";
  while (!s.empty() && (s.back() == '\0' || s.back() == '\n')) s.pop_back();
  return s;
}

}  // namespace

ProgramCache::ProgramCache(cl_context ctx, cl_device_id dev, std::string driver_key, fs::path dir)
    : ctx_(ctx), dev_(dev), driver_key_(std::move(driver_key)), dir_(std::move(dir)) {}

ProgramCacheStats ProgramCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

cl_program ProgramCache::get(const std::string& label, const std::string& source, const std::string& options) {
  std::lock_guard lock(mu_);
  std::string key = options + '\0' + source;
  if (auto it = programs_.find(key); it != programs_.end()) {
    ++stats_.memory_hits;
    return it->second.get();
  }
  fs::path file;
  if (!dir_.empty()) file = dir_ / ("opencl-" + hash_hex(driver_key_ + '\0' + source + '\0' + options) + ".bin");
  Program p;
  if (!file.empty()) p = load_binary(file, options);
  if (p) {
    ++stats_.disk_loads;
    log().debug("opencl: program {} [{}] loaded from cache {}", label, options, file.string());
  } else {
    p = build_from_source(label, source, options);
    ++stats_.source_builds;
    log().debug("opencl: program {} [{}] built from source", label, options);
    if (!file.empty()) store_binary(p.get(), file);
  }
  cl_program raw = p.get();
  programs_.emplace(std::move(key), std::move(p));
  return raw;
}

Program ProgramCache::build_from_source(const std::string& label, const std::string& source,
                                        const std::string& options) {
  cl_int err = CL_SUCCESS;
  const char* src = source.c_str();
  size_t len = source.size();
  Program p(clCreateProgramWithSource(ctx_, 1, &src, &len, &err));
  check(err, "clCreateProgramWithSource");
  err = clBuildProgram(p.get(), 1, &dev_, options.c_str(), nullptr, nullptr);
  if (err != CL_SUCCESS) {
    std::string logtext = build_log(p.get(), dev_);
    if (err == CL_OUT_OF_HOST_MEMORY || err == CL_OUT_OF_RESOURCES) fail(err, "clBuildProgram(" + label + ")");
    throw Error(ErrorCode::Backend, "opencl: clBuildProgram(" + label + ", '" + options + "'): " + error_name(err) +
                                        "\nbuild log:\n" + logtext);
  }
  return p;
}

ProgramCacheEntry parse_program_cache_entry(std::span<const unsigned char> bytes) {
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return {{}, "bad header"};
  uint64_t size = 0;
  for (int i = 0; i < 8; ++i) size |= uint64_t(bytes[sizeof kMagic + i]) << (8 * i);
  if (size == 0 || size != bytes.size() - kHeader) return {{}, "truncated"};
  std::span<const unsigned char> binary = bytes.subspan(kHeader, size);
  if (hash_hex(std::string(reinterpret_cast<const char*>(binary.data()), binary.size())) !=
      std::string(reinterpret_cast<const char*>(bytes.data() + sizeof kMagic + 8), 16))
    return {{}, "checksum mismatch"};
  return {binary, ""};
}

Program ProgramCache::load_binary(const fs::path& file, const std::string& options) {
  std::vector<unsigned char> bytes;
  if (!read_file(file, bytes)) return {};  // no entry yet
  auto reject = [&](const std::string& why) {
    ++stats_.disk_rejected;
    log().warn("opencl: ignoring program cache file {} ({}); rebuilding from source", file.string(), why);
    return Program{};
  };
  ProgramCacheEntry entry = parse_program_cache_entry(bytes);
  if (!entry.problem.empty()) return reject(entry.problem);

  cl_int err = CL_SUCCESS, status = CL_SUCCESS;
  const unsigned char* bin = entry.binary.data();
  size_t len = entry.binary.size();
  Program p(clCreateProgramWithBinary(ctx_, 1, &dev_, &len, &bin, &status, &err));
  if (err != CL_SUCCESS || status != CL_SUCCESS)
    return reject(std::string("clCreateProgramWithBinary: ") + error_name(err != CL_SUCCESS ? err : status));
  err = clBuildProgram(p.get(), 1, &dev_, options.c_str(), nullptr, nullptr);
  if (err != CL_SUCCESS) return reject(std::string("clBuildProgram: ") + error_name(err));
  return p;
}

void ProgramCache::store_binary(cl_program p, const fs::path& file) {
  size_t size = 0;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, nullptr) != CL_SUCCESS || size == 0) {
    log().debug("opencl: driver returned no program binary; not caching {}", file.string());
    return;
  }
  std::vector<unsigned char> out(kHeader + size);
  unsigned char* bin = out.data() + kHeader;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, nullptr) != CL_SUCCESS) {
    log().debug("opencl: clGetProgramInfo(CL_PROGRAM_BINARIES) failed; not caching {}", file.string());
    return;
  }
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  for (int i = 0; i < 8; ++i) out[sizeof kMagic + i] = static_cast<unsigned char>(uint64_t(size) >> (8 * i));
  std::string h = hash_hex(std::string(reinterpret_cast<const char*>(bin), size));
  std::memcpy(out.data() + sizeof kMagic + 8, h.data(), 16);
  try {
    write_file_atomic(file, out.data(), out.size());
    ++stats_.disk_writes;
  } catch (const Error& e) {
    log().warn("opencl: cannot write program cache: {}", e.what());
  }
}

}  // namespace lowbit::detail::cl
