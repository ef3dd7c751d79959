// checkpoint.cpp — packing GPTQ / AWQ / float checkpoints into lowbit checkpoints, and loading one
// layer from either kind (see lowbit/checkpoint.hpp for the file layout).
#include "lowbit/checkpoint.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "host/log.hpp"
#include "lowbit/io.hpp"
#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace lowbit::ckpt {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

// ---- the input model: one file, or the shards of a directory ------------------------------------
class Model {
 public:
  explicit Model(const fs::path& input) {
    if (fs::is_directory(input)) {
      dir_ = input;
      fs::path index = input / "model.safetensors.index.json";
      std::vector<fs::path> files;
      if (fs::exists(index)) {
        json j = read_json(index);
        if (!j.contains("weight_map") || !j["weight_map"].is_object())
          throw Error(ErrorCode::Io, index.string() + ": no weight_map object");
        for (auto& [name, file] : j["weight_map"].items()) {
          if (!file.is_string()) throw Error(ErrorCode::Io, index.string() + ": weight_map[" + name + "] is not a file name");
          fs::path f = input / file.get<std::string>();
          if (std::find(files.begin(), files.end(), f) == files.end()) files.push_back(f);
        }
      } else {
        for (auto& e : fs::directory_iterator(input))
          if (e.path().extension() == ".safetensors") files.push_back(e.path());
        std::sort(files.begin(), files.end());
      }
      if (files.empty()) throw Error(ErrorCode::Io, input.string() + ": no .safetensors files in the directory");
      for (auto& f : files) add(f);
    } else {
      if (!fs::exists(input)) throw Error(ErrorCode::Io, input.string() + ": no such file or directory");
      if (input.extension() != ".safetensors")
        throw Error(ErrorCode::Io, input.string() + ": expected a .safetensors file or a model directory");
      dir_ = input.has_parent_path() ? input.parent_path() : fs::path(".");
      add(input);
    }
  }

  struct Ref {
    const io::SafetensorsFile* file;
    const io::TensorEntry* entry;
  };
  const Ref* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, Ref>& tensors() const { return by_name_; }
  const fs::path& dir() const { return dir_; }

  static json read_json(const fs::path& p) {
    std::ifstream f(p);
    if (!f) throw Error(ErrorCode::Io, p.string() + ": cannot read");
    try {
      return json::parse(f);
    } catch (const std::exception& e) {
      throw Error(ErrorCode::Io, p.string() + ": not valid JSON (" + e.what() + ")");
    }
  }

 private:
  void add(const fs::path& f) {
    files_.push_back(std::make_unique<io::SafetensorsFile>(io::SafetensorsFile::open(f)));
    for (const auto& t : files_.back()->tensors()) by_name_[t.name] = {files_.back().get(), &t};
  }
  fs::path dir_;
  std::vector<std::unique_ptr<io::SafetensorsFile>> files_;
  std::map<std::string, Ref> by_name_;
};

// Quantization settings found beside the model.
struct Config {
  std::string method;  // gptq | awq | "" (unknown)
  std::optional<int> group;
  std::optional<bool> sym;
  bool v2 = false;
};

Config read_config(const fs::path& dir) {
  Config c;
  json q;
  if (fs::exists(dir / "quantize_config.json")) {
    q = Model::read_json(dir / "quantize_config.json");
    if (!q.contains("quant_method")) c.method = "gptq";
  } else if (fs::exists(dir / "config.json")) {
    json cfg = Model::read_json(dir / "config.json");
    if (cfg.contains("quantization_config")) q = cfg["quantization_config"];
  }
  if (!q.is_object()) return c;
  if (q.contains("quant_method") && q["quant_method"].is_string()) c.method = q["quant_method"].get<std::string>();
  if (q.contains("bits") && q["bits"].is_number_integer() && q["bits"].get<int>() != 4)
    bad("checkpoint config says bits=" + std::to_string(q["bits"].get<int>()) + "; lowbit packs 4-bit weights only");
  if (q.contains("group_size") && q["group_size"].is_number_integer()) c.group = q["group_size"].get<int>();
  if (q.contains("q_group_size") && q["q_group_size"].is_number_integer()) c.group = q["q_group_size"].get<int>();
  if (q.contains("sym") && q["sym"].is_boolean()) c.sym = q["sym"].get<bool>();
  if (q.contains("zero_point") && q["zero_point"].is_boolean()) c.sym = !q["zero_point"].get<bool>();
  if (q.contains("checkpoint_format") && q["checkpoint_format"].is_string())
    c.v2 = q["checkpoint_format"].get<std::string>() == "gptq_v2";
  return c;
}

// Typed view of a tensor with the expected dtype and rank.
template <class T>
const T* view(const Model& m, const std::string& name, DType want, size_t rank, Shape& shape) {
  const Model::Ref* r = m.find(name);
  if (!r) throw Error(ErrorCode::NotFound, "missing tensor '" + name + "'");
  if (r->entry->dtype != want || r->entry->shape.size() != rank)
    bad("tensor '" + name + "': expected " + std::string(io::safetensors_dtype(want)) + " of rank " + std::to_string(rank) +
        ", got " + io::safetensors_dtype(r->entry->dtype) + " " + shape_str(r->entry->shape));
  shape = r->entry->shape;
  return reinterpret_cast<const T*>(r->file->bytes(*r->entry).data());
}

void expect_shape(const std::string& name, const Shape& got, const Shape& want) {
  if (got != want) bad("tensor '" + name + "': shape " + shape_str(got) + ", expected " + shape_str(want));
}

std::vector<float> to_f32(const Model::Ref& r) {
  auto b = r.file->bytes(*r.entry);
  size_t n = size_t(numel(r.entry->shape));
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t v;
    switch (r.entry->dtype) {
      case DType::F32: std::memcpy(&v, b.data() + 4 * i, 4); break;
      case DType::F16: { uint16_t h; std::memcpy(&h, b.data() + 2 * i, 2); v = fmt::lb_f16_to_f32(h); break; }
      case DType::BF16: { uint16_t h; std::memcpy(&h, b.data() + 2 * i, 2); v = fmt::lb_bf16_to_f32(h); break; }
      case DType::F64: { double d; std::memcpy(&d, b.data() + 8 * i, 8); v = std::bit_cast<uint32_t>(float(d)); break; }
      default: bad("tensor '" + r.entry->name + "' is not a float tensor");
    }
    out[i] = std::bit_cast<float>(v);
  }
  return out;
}

std::vector<uint16_t> bias_f16(const Model& m, const std::string& layer, int64_t n) {
  const Model::Ref* r = m.find(layer + ".bias");
  if (!r) return {};
  if (r->entry->shape != Shape{n}) bad("tensor '" + layer + ".bias': shape " + shape_str(r->entry->shape) + ", expected [" + std::to_string(n) + "]");
  auto f = to_f32(*r);
  std::vector<uint16_t> h(f.size());
  for (size_t i = 0; i < f.size(); ++i) h[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f[i])));
  return h;
}

W4Host import_gptq_layer(const Model& m, const std::string& L, const Config& cfg, const PackOptions& o) {
  Shape qs, zs, ss, gs;
  auto* qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto* qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto* sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0] * 8, n = qs[1], G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, (n + 7) / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  if (G <= 0 || group <= 0 || k % group || k / group != G)
    bad("layer '" + L + "': group size " + std::to_string(group) + " disagrees with K=" + std::to_string(k) + " and " +
        std::to_string(G) + " scale rows");
  const int32_t* gidx = nullptr;
  if (m.find(L + ".g_idx")) {
    gidx = view<int32_t>(m, L + ".g_idx", DType::I32, 1, gs);
    expect_shape(L + ".g_idx", gs, {k});
  }
  GptqTensors t{qw, qz, sc, gidx, k, n, group, cfg.v2 ? 2 : 1, o.sym.value_or(cfg.sym.value_or(false))};
  try {
    return import_gptq(t);
  } catch (const Error& e) {
    bad("layer '" + L + "': " + e.what());
  }
}

W4Host import_awq_layer(const Model& m, const std::string& L, const Config& cfg, const PackOptions& o) {
  Shape qs, zs, ss;
  auto* qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto* qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto* sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0], n = qs[1] * 8, G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, n / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  if (G <= 0 || group <= 0 || k % group || k / group != G)
    bad("layer '" + L + "': group size " + std::to_string(group) + " disagrees with K=" + std::to_string(k) + " and " +
        std::to_string(G) + " scale rows");
  try {
    return import_awq({qw, qz, sc, k, n, group});
  } catch (const Error& e) {
    bad("layer '" + L + "': " + e.what());
  }
}

std::string resolve_scheme(const std::string& requested, const Config& cfg, const Model& m) {
  if (!requested.empty() && requested != "auto") return requested;
  if (cfg.method == "gptq" || cfg.method == "awq") return cfg.method;
  bool has_qweight = false;
  for (auto& [name, r] : m.tensors()) has_qweight |= name.size() > 8 && name.ends_with(".qweight");
  if (!has_qweight) return "rtn";
  bad("cannot tell GPTQ from AWQ: no quantize_config.json or config.json quantization_config beside " +
      m.dir().string() + " (pass --scheme gptq|awq)");
}

bool is_lowbit(const Model& m) {
  for (auto& [name, r] : m.tensors()) {
    auto it = r.file->metadata().find("lowbit.scheme");
    return it != r.file->metadata().end() && it->second == "w4a16";
  }
  return false;
}

// A layer of a lowbit checkpoint.
W4Host read_lowbit_layer(const Model& m, const std::string& L) {
  Shape qs, ss, zs, ps;
  auto* qw = view<uint32_t>(m, L + ".qweight", DType::U32, 2, qs);
  auto* sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  const auto& meta = m.find(L + ".qweight")->file->metadata();
  json layers = json::parse(meta.count("lowbit.layers") ? meta.at("lowbit.layers") : "{}", nullptr, false);
  if (layers.is_discarded() || !layers.contains(L)) throw Error(ErrorCode::Io, "lowbit checkpoint: no metadata for layer '" + L + "'");
  const json& d = layers[L];
  W4Host w;
  w.n = d.value("n", int64_t(0));
  w.k = d.value("k", int64_t(0));
  w.group = d.value("group", 0);
  w.sym = d.value("sym", true);
  expect_shape(L + ".qweight", qs, {w.k_words(), w.n});
  expect_shape(L + ".scales", ss, {w.groups(), w.n});
  w.qweight.assign(qw, qw + numel(qs));
  w.scales.assign(sc, sc + numel(ss));
  if (!w.sym) {
    auto* z = view<uint8_t>(m, L + ".qzeros", DType::U8, 2, zs);
    expect_shape(L + ".qzeros", zs, {w.groups(), w.n});
    w.zeros.assign(z, z + numel(zs));
  }
  if (m.find(L + ".perm")) {
    auto* p = view<int32_t>(m, L + ".perm", DType::I32, 1, ps);
    w.perm.assign(p, p + numel(ps));
  }
  validate_w4(w);
  return w;
}

void add_layer(io::SafetensorsWriter& out, json& layers, const std::string& L, const W4Host& w) {
  auto bytes = [](const auto& v) {
    std::vector<uint8_t> b(v.size() * sizeof(v[0]));
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  out.add_owned(L + ".qweight", DType::U32, {w.k_words(), w.n}, bytes(w.qweight));
  out.add_owned(L + ".scales", DType::F16, {w.groups(), w.n}, bytes(w.scales));
  if (!w.sym) out.add_owned(L + ".qzeros", DType::U8, {w.groups(), w.n}, bytes(w.zeros));
  if (!w.perm.empty()) out.add_owned(L + ".perm", DType::I32, {w.k}, bytes(w.perm));
  layers[L] = {{"n", w.n}, {"k", w.k}, {"group", w.group}, {"sym", w.sym}, {"act_order", !w.perm.empty()}};
}

}  // namespace

PackReport pack_checkpoint(const fs::path& input, const fs::path& output, const PackOptions& o) {
  Model m(input);
  if (is_lowbit(m)) bad(input.string() + " is already a lowbit checkpoint");
  Config cfg = read_config(m.dir());
  PackReport rep;
  rep.source = resolve_scheme(o.scheme, cfg, m);
  if (rep.source != "gptq" && rep.source != "awq" && rep.source != "rtn")
    bad("unknown scheme '" + rep.source + "' (expected gptq, awq or rtn)");
  io::SafetensorsWriter out;
  json layers = json::object();
  std::set<std::string> used;
  std::regex only(o.layers_regex.empty() ? ".*" : o.layers_regex);
  for (auto& [name, r] : m.tensors()) {
    std::string L;
    W4Host w;
    if (rep.source == "rtn") {
      if (!name.ends_with(".weight") || r.entry->shape.size() != 2 || !is_float(r.entry->dtype)) continue;
      L = name.substr(0, name.size() - 7);
      if (!std::regex_match(L, only)) continue;
      auto f = to_f32(r);
      try {
        w = quantize_w4_rtn(f.data(), r.entry->shape[0], r.entry->shape[1], o.group.value_or(128), o.sym.value_or(true));
      } catch (const Error& e) {
        bad("layer '" + L + "': " + e.what());
      }
      used.insert(name);
    } else {
      if (!name.ends_with(".qweight")) continue;
      L = name.substr(0, name.size() - 8);
      w = rep.source == "gptq" ? import_gptq_layer(m, L, cfg, o) : import_awq_layer(m, L, cfg, o);
      for (const char* s : {".qweight", ".qzeros", ".scales", ".g_idx"}) used.insert(L + s);
    }
    add_layer(out, layers, L, w);
    rep.layers.push_back(L);
  }
  if (rep.layers.empty()) bad("no layers to pack in " + input.string() + " (scheme " + rep.source + ")");
  for (auto& [name, r] : m.tensors()) {
    if (used.count(name)) continue;
    out.add(name, r.entry->dtype, r.entry->shape, r.file->bytes(*r.entry));
    rep.copied.push_back(name);
  }
  if (rep.source == "gptq" && cfg.v2) rep.source = "gptq_v2";
  out.set_metadata("lowbit.scheme", "w4a16");
  out.set_metadata("lowbit.layout", std::to_string(kW4LayoutVersion));
  out.set_metadata("lowbit.source", rep.source);
  out.set_metadata("lowbit.version", io::library_version());
  const json& first = layers.begin().value();
  out.set_metadata("lowbit.group_size", std::to_string(first["group"].get<int>()));
  out.set_metadata("lowbit.sym", first["sym"].get<bool>() ? "true" : "false");
  out.set_metadata("lowbit.layers", layers.dump());
  out.write(output);
  log().info("packed {} layer(s) from {} ({}), copied {} tensor(s) -> {}", rep.layers.size(), input.string(), rep.source,
             rep.copied.size(), output.string());
  return rep;
}

LoadedLayer load_layer(const fs::path& checkpoint, const std::string& name, const std::string& scheme_hint) {
  Model m(checkpoint);
  LoadedLayer out;
  if (!m.find(name + ".qweight")) {
    std::string some;
    int shown = 0;
    for (auto& [t, r] : m.tensors())
      if (t.ends_with(".qweight") && shown++ < 8) some += (some.empty() ? "" : ", ") + t.substr(0, t.size() - 8);
    throw Error(ErrorCode::NotFound, "layer '" + name + "' not found in " + checkpoint.string() +
                                         (some.empty() ? " (it has no packed layers)" : " (layers: " + some + ")"));
  }
  if (is_lowbit(m)) {
    auto lay = m.find(name + ".qweight")->file->metadata();
    out.w = read_lowbit_layer(m, name);
    out.source = lay.count("lowbit.source") ? lay.at("lowbit.source") : "lowbit";
  } else {
    Config cfg = read_config(m.dir());
    PackOptions o;
    out.source = resolve_scheme(scheme_hint, cfg, m);
    if (out.source == "gptq") out.w = import_gptq_layer(m, name, cfg, o);
    else if (out.source == "awq") out.w = import_awq_layer(m, name, cfg, o);
    else bad("'" + checkpoint.string() + "' holds no GPTQ/AWQ layer '" + name + "'");
  }
  out.bias = bias_f16(m, name, out.w.n);
  return out;
}

}  // namespace lowbit::ckpt
