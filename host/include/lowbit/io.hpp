// io.hpp — tensor files: NumPy .npy and .safetensors, read through mmap (no copy of the file) and
// written atomically (temp file in the same folder, then rename: never a partial output, and an
// interrupted run leaves no temp file), plus the file-level conversions the `lowbit convert` command runs.
//
//   auto st = lowbit::io::SafetensorsFile::open("model.safetensors");
//   for (const auto& t : st.tensors()) use(t.name, t.dtype, t.shape, st.bytes(t));
//
//   lowbit::io::SafetensorsWriter w;
//   w.add("x", lowbit::DType::F32, {2, 3}, data_span);   // borrowed until write()
//   w.add_lazy("y", lowbit::DType::U8, {n}, [&](const auto& sink) { sink(make_y()); });  // made in write()
//   w.write("out.safetensors");
//
// Every malformed or lying file is reported as lowbit::Error(ErrorCode::Io, "<file>: <tensor>: <problem>").
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"
#include "lowbit/progress.hpp"

namespace lowbit::io {

using Bytes = std::span<const uint8_t>;

// A read-only memory mapping of a whole file (empty files map to an empty span). Move-only.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  Bytes bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }
  // Drops the pages of `part` (a span of this mapping) from the process's memory once it has been used;
  // they are read from the file again if touched. Streaming writers call it so that peak memory stays
  // about one tensor. Spans outside the mapping are ignored.
  void release(Bytes part) const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::filesystem::path path_;
};

// ---- .npy ----------------------------------------------------------------------------------------
// Reads versions 1.0, 2.0 and 3.0, little-endian '<f4' '<f2' '<f8' '|u1' '|i1' '<i4' '<u4', C order.
class NpyFile {
 public:
  static NpyFile open(const std::filesystem::path& path);
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  Bytes bytes() const { return data_; }  // valid while this object (or a copy) lives
  const std::shared_ptr<MappedFile>& mapping() const { return map_; }

 private:
  std::shared_ptr<MappedFile> map_;
  DType dtype_ = DType::F32;
  Shape shape_;
  Bytes data_;
};
// Writes a C-order .npy (version 1.0, or 2.0 when the header needs it). BF16 has no npy dtype.
void write_npy(const std::filesystem::path& path, DType dtype, const Shape& shape, Bytes data);
// The npy descr string of a dtype ('<f4', '|u1', ...); throws InvalidArgument for BF16.
std::string npy_descr(DType d);

// ---- .safetensors ----------------------------------------------------------------------------------
struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // data_offsets, relative to the start of the data section
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);
  // Tensors in file order (by data offset; ties by name).
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const TensorEntry* find(const std::string& name) const;  // nullptr if absent
  const TensorEntry& at(const std::string& name) const;    // throws Error(NotFound)
  Bytes bytes(const TensorEntry& t) const;                 // zero-copy view into the mapping
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return map_->path(); }
  const std::shared_ptr<MappedFile>& mapping() const { return map_; }

 private:
  std::shared_ptr<MappedFile> map_;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
  uint64_t data_start_ = 0;
};

// Collects tensor declarations and streams them into a temp file that is renamed over `path` only when
// everything was written. The header comes first (sizes are known from dtype and shape); then each
// tensor is produced, written and freed in turn, in the order added, so a writer of lazy tensors needs
// memory for about one tensor. In the file, tensors are laid out by dtype size (largest first), then by
// name, like the safetensors reference writer: every tensor is aligned to its dtype, with no holes.
class SafetensorsWriter {
 public:
  using Sink = std::function<void(Bytes)>;           // appends the next bytes of the tensor produced
  using Producer = std::function<void(const Sink&)>;  // must hand the sink exactly the declared bytes
  void add(const std::string& name, DType dtype, const Shape& shape, Bytes data);  // borrowed until write() returns
  void add_owned(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> data);
  // A lazy tensor: `produce` runs once, during write(); a wrong byte count fails the write (Internal).
  void add_lazy(const std::string& name, DType dtype, const Shape& shape, Producer produce);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // `progress` is called after each tensor is written: done/total tensors, bytes, the tensor's name.
  void write(const std::filesystem::path& path, const ProgressFn& progress = {}) const;

 private:
  struct Entry {
    DType dtype;
    Shape shape;
    uint64_t size;
    Producer produce;
  };
  std::map<std::string, Entry> entries_;
  std::vector<std::string> added_;  // names in the order added: the order tensors are produced
  std::map<std::string, std::string> metadata_;
};

// Safetensors dtype names ("F32", "BF16", "U8", ...) <-> DType; parse throws Io naming the dtype.
const char* safetensors_dtype(DType d);
DType parse_safetensors_dtype(const std::string& s);

// ---- file-level conversions (what `lowbit convert` does) ------------------------------------------
// Metadata keys written into converted files.
inline constexpr const char* kMetaVersion = "lowbit.version";    // library version that wrote it
inline constexpr const char* kMetaFormat = "lowbit.format";      // format name, e.g. "mxfp4"
inline constexpr const char* kMetaPacked = "lowbit.packed";      // "true" | "false"
inline constexpr const char* kMetaSaturate = "lowbit.saturate";  // "true" | "false"
inline constexpr const char* kMetaTensors = "lowbit.tensors";    // JSON: {name: {shape, dtype}}
const char* library_version();

struct QuantizeFileOptions {
  Format format = Format::E4M3;
  bool saturate = true;
  bool packed = false;
  ProgressFn progress;  // after each output tensor is written (codes, scales, ... and copied tensors)
};
struct DequantizeFileOptions {
  Format format = Format::E4M3;  // the format the input must hold
  ProgressFn progress;           // after each output tensor is written
};
struct ConvertedTensor {
  std::string name;
  Shape shape;
  bool quantized = false;  // false: copied unchanged
};
// Throws lowbit::Error unless OUTPUT can be written without touching an input: its folder exists and
// is writable, it is not a directory, and it is none of `inputs` (compared by device and inode, so
// symlinks, hard links and other spellings of a path are caught). Commands call it before any work.
void check_output_path(const std::filesystem::path& output, const std::vector<std::filesystem::path>& inputs = {});
// Cheap checks of a conversion's paths (extensions, output location as check_output_path, input is a
// readable file) so that a command can fail before it brings up a device. `quantize` picks the direction.
void check_convert_paths(const std::filesystem::path& input, const std::filesystem::path& output, bool quantize);
// INPUT .npy (float32/float16, named "x") or .safetensors (F32/F16/BF16 tensors quantized, others
// copied) -> OUTPUT .safetensors holding `x` (FP8 codes) or `x.codes` + `x.scales` (+ `x.tensor_scale`).
std::vector<ConvertedTensor> quantize_file(Context& ctx, const std::filesystem::path& input,
                                           const std::filesystem::path& output, const QuantizeFileOptions& o);
// INPUT .safetensors written by quantize_file with `format` -> float32 OUTPUT: .npy (exactly one
// quantized tensor) or .safetensors (other tensors copied).
std::vector<ConvertedTensor> dequantize_file(Context& ctx, const std::filesystem::path& input,
                                             const std::filesystem::path& output, const DequantizeFileOptions& o);
std::vector<ConvertedTensor> dequantize_file(Context& ctx, const std::filesystem::path& input,
                                             const std::filesystem::path& output, Format format);

}  // namespace lowbit::io
