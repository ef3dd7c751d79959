// model_files.cpp — one file or the shards of a model directory as one tensor map (see model_files.hpp).
#include "host/quant/model_files.hpp"

#include <algorithm>

#include "host/io/strict_json.hpp"

namespace fs = std::filesystem;

namespace lowbit::ckpt {

namespace {

[[noreturn]] void fail(const std::string& m) { throw Error(ErrorCode::Io, m); }

// A weight_map file name must stay inside the model directory: relative, without "..".
fs::path shard_path(const fs::path& index, const std::string& tensor, const std::string& file) {
  fs::path rel(file);
  bool outside = file.empty() || rel.is_absolute() || rel.has_root_name() ||
                 std::any_of(rel.begin(), rel.end(), [](const fs::path& part) { return part == ".."; });
  if (outside)
    fail(index.string() + ": weight_map['" + tensor + "'] = '" + file + "' names a file outside the model directory");
  return (index.parent_path() / rel).lexically_normal();  // "./a" and "a" are one shard
}

}  // namespace

ModelFiles::ModelFiles(const fs::path& input) {
  if (fs::is_directory(input)) {
    dir_ = input;
    open_directory(input);
    return;
  }
  if (!fs::exists(input)) fail(input.string() + ": no such file or directory");
  if (input.extension() != ".safetensors") fail(input.string() + ": expected a .safetensors file or a model directory");
  dir_ = input.has_parent_path() ? input.parent_path() : fs::path(".");
  add(input);
}

void ModelFiles::open_directory(const fs::path& dir) {
  fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) return open_indexed(index);
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  if (files.empty()) fail(dir.string() + ": no .safetensors files in the directory");
  std::sort(files.begin(), files.end());
  for (auto& f : files) add(f);
}

void ModelFiles::open_indexed(const fs::path& index) {
  nlohmann::json j = io::detail::read_strict_json_file(index);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(index.string() + ": no weight_map object");
  std::map<std::string, fs::path> shard_of;  // tensor -> the shard the index puts it in
  std::vector<fs::path> files;
  for (auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) fail(index.string() + ": weight_map['" + name + "'] is not a file name");
    fs::path f = shard_path(index, name, file.get<std::string>());
    shard_of[name] = f;
    if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
  }
  if (files.empty()) fail(index.string() + ": the weight_map lists no tensors");
  for (auto& f : files) add(f);
  for (const auto& [name, ref] : by_name_) {
    auto it = shard_of.find(name);
    if (it == shard_of.end())
      fail(index.string() + ": tensor '" + name + "' in " + ref.file->path().string() + " is not listed in the weight_map");
    if (it->second != ref.file->path())
      fail(index.string() + ": tensor '" + name + "' is in " + ref.file->path().string() + ", but the index maps it to " +
           it->second.string());
  }
  for (const auto& [name, f] : shard_of)
    if (!by_name_.count(name))
      fail(index.string() + ": the index maps tensor '" + name + "' to " + f.string() + ", which does not hold it");
}

void ModelFiles::add(const fs::path& f) {
  files_.push_back(std::make_unique<io::SafetensorsFile>(io::SafetensorsFile::open(f)));
  const io::SafetensorsFile* file = files_.back().get();
  for (const auto& t : file->tensors()) {
    auto [it, fresh] = by_name_.try_emplace(t.name, Ref{file, &t});
    if (!fresh)
      fail("tensor '" + t.name + "' is in both " + it->second.file->path().string() + " and " + file->path().string() +
           " (a tensor belongs to one shard)");
  }
}

std::vector<fs::path> ModelFiles::paths() const {
  std::vector<fs::path> r;
  for (const auto& f : files_) r.push_back(f->path());
  for (const char* name : {"model.safetensors.index.json", "quantize_config.json", "config.json"})
    if (fs::exists(dir_ / name)) r.push_back(dir_ / name);
  return r;
}

void ModelFiles::release(const std::string& name) const {
  if (const Ref* r = find(name)) r->file->mapping()->release(r->file->bytes(*r->entry));
}

const ModelFiles::Ref* ModelFiles::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &it->second;
}

}  // namespace lowbit::ckpt
