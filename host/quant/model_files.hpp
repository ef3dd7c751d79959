// model_files.hpp — the input model of `lowbit pack` / `run linear`: one .safetensors file, or the
// shards of a directory (listed by model.safetensors.index.json, else every *.safetensors in it), as one
// name -> tensor map. Shards that disagree are rejected, never merged: a tensor in two shards, an index
// that maps a tensor to a shard without it or does not list a shard's tensor, or names a file outside
// the directory, is an Error(Io) naming the tensor and the files.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/io.hpp"

namespace lowbit::ckpt {

class ModelFiles {
 public:
  explicit ModelFiles(const std::filesystem::path& input);

  struct Ref {
    const io::SafetensorsFile* file;
    const io::TensorEntry* entry;
  };
  const Ref* find(const std::string& name) const;  // nullptr when absent
  const std::map<std::string, Ref>& tensors() const { return by_name_; }
  const std::filesystem::path& dir() const { return dir_; }  // where config json files are looked for
  // Every file this model is read from: its shards and, where present, the index and config json files
  // (an output must not be any of them).
  std::vector<std::filesystem::path> paths() const;
  // Drops tensor `name`'s pages from memory once it has been used (see io::MappedFile::release).
  void release(const std::string& name) const;

 private:
  void open_directory(const std::filesystem::path& dir);
  void open_indexed(const std::filesystem::path& index);
  void add(const std::filesystem::path& file);

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<io::SafetensorsFile>> files_;
  std::map<std::string, Ref> by_name_;
};

}  // namespace lowbit::ckpt
