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

#include "host/io/streaming.hpp"
#include "host/log.hpp"
#include "lowbit/io.hpp"
#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace lowbit::ckpt {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

json read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw Error(ErrorCode::Io, p.string() + ": cannot read");
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Io, p.string() + ": not valid JSON (" + e.what() + ")");
  }
}

// ---- the input model: one file, or the shards of a directory ------------------------------------
// Every file a model input is read from: its .safetensors files (the index's shards, or every one in
// the directory) and, where present, the index and the config files beside it.
struct ModelFiles {
  fs::path dir;
  std::vector<fs::path> shards;
  std::vector<fs::path> all() const {
    std::vector<fs::path> r = shards;
    for (const char* name : {"model.safetensors.index.json", "quantize_config.json", "config.json"})
      if (fs::exists(dir / name)) r.push_back(dir / name);
    return r;
  }
};

ModelFiles model_files(const fs::path& input) {
  ModelFiles m;
  if (fs::is_directory(input)) {
    m.dir = input;
    fs::path index = input / "model.safetensors.index.json";
    if (fs::exists(index)) {
      json j = read_json(index);
      if (!j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error(ErrorCode::Io, index.string() + ": no weight_map object");
      for (auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string()) throw Error(ErrorCode::Io, index.string() + ": weight_map[" + name + "] is not a file name");
        fs::path f = input / file.get<std::string>();
        if (std::find(m.shards.begin(), m.shards.end(), f) == m.shards.end()) m.shards.push_back(f);
      }
    } else {
      for (auto& e : fs::directory_iterator(input))
        if (e.path().extension() == ".safetensors") m.shards.push_back(e.path());
      std::sort(m.shards.begin(), m.shards.end());
    }
    if (m.shards.empty()) throw Error(ErrorCode::Io, input.string() + ": no .safetensors files in the directory");
  } else {
    if (!fs::exists(input)) throw Error(ErrorCode::Io, input.string() + ": no such file or directory");
    if (input.extension() != ".safetensors")
      throw Error(ErrorCode::Io, input.string() + ": expected a .safetensors file or a model directory");
    m.dir = input.has_parent_path() ? input.parent_path() : fs::path(".");
    m.shards.push_back(input);
  }
  return m;
}

class Model {
 public:
  explicit Model(const ModelFiles& files) : dir_(files.dir) {
    for (auto& f : files.shards) add(f);
  }
  explicit Model(const fs::path& input) : Model(model_files(input)) {}

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
  // Drops tensor `name`'s pages from memory once it has been used (see io::MappedFile::release).
  void release(const std::string& name) const {
    if (const Ref* r = find(name)) r->file->mapping()->release(r->file->bytes(*r->entry));
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
    q = read_json(dir / "quantize_config.json");
    if (!q.contains("quant_method")) c.method = "gptq";
  } else if (fs::exists(dir / "config.json")) {
    json cfg = read_json(dir / "config.json");
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

// Runs `f`, prefixing any Error with the layer's name.
template <class F>
auto in_layer(const std::string& L, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    bad("layer '" + L + "': " + e.what());
  }
}

void check_group(const std::string& L, int group, int64_t k, int64_t G) {
  if (G <= 0 || group <= 0 || k % group || k / group != G)
    bad("layer '" + L + "': group size " + std::to_string(group) + " disagrees with K=" + std::to_string(k) + " and " +
        std::to_string(G) + " scale rows");
}

// Views of a GPTQ / AWQ layer's tensors, their shapes checked.
GptqTensors gptq_tensors(const Model& m, const std::string& L, const Config& cfg, const PackOptions& o) {
  Shape qs, zs, ss, gs;
  auto* qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto* qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto* sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0] * 8, n = qs[1], G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, (n + 7) / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  check_group(L, group, k, G);
  const int32_t* gidx = nullptr;
  if (m.find(L + ".g_idx")) {
    gidx = view<int32_t>(m, L + ".g_idx", DType::I32, 1, gs);
    expect_shape(L + ".g_idx", gs, {k});
  }
  return {qw, qz, sc, gidx, k, n, group, cfg.v2 ? 2 : 1, o.sym.value_or(cfg.sym.value_or(false))};
}

AwqTensors awq_tensors(const Model& m, const std::string& L, const Config& cfg, const PackOptions& o) {
  Shape qs, zs, ss;
  auto* qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto* qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto* sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0], n = qs[1] * 8, G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, n / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  check_group(L, group, k, G);
  return {qw, qz, sc, k, n, group};
}

W4Host import_gptq_layer(const Model& m, const std::string& L, const Config& cfg, const PackOptions& o) {
  GptqTensors t = gptq_tensors(m, L, cfg, o);
  return in_layer(L, [&] { return import_gptq(t); });
}

W4Host import_awq_layer(const Model& m, const std::string& L, const Config& cfg, const PackOptions& o) {
  AwqTensors t = awq_tensors(m, L, cfg, o);
  return in_layer(L, [&] { return import_awq(t); });
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

template <class T>
io::Bytes bytes_of(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

// A layer to pack: its sizes (declared in the output header up front), how to compute it, and the
// input tensors it is made from (released from memory once it is computed).
struct PlannedLayer {
  std::string name;
  W4Host layout;
  std::function<W4Host()> build;
  std::vector<std::string> sources;
};

PlannedLayer plan_layer(const Model& m, const std::string& name, const Model::Ref& r, const std::string& scheme,
                        const Config& cfg, const PackOptions& o) {
  PlannedLayer p;
  if (scheme == "rtn") {
    p.name = name.substr(0, name.size() - 7);
    int64_t n = r.entry->shape[0], k = r.entry->shape[1];
    int group = o.group.value_or(128);
    bool sym = o.sym.value_or(true);
    p.layout = in_layer(p.name, [&] { return w4_layout(n, k, group, sym); });
    p.build = [&r, n, k, group, sym] {
      auto f = to_f32(r);
      return quantize_w4_rtn(f.data(), n, k, group, sym);
    };
    p.sources = {name};
  } else {
    p.name = name.substr(0, name.size() - 8);
    if (scheme == "gptq") {
      GptqTensors t = gptq_tensors(m, p.name, cfg, o);
      p.layout = in_layer(p.name, [&] { return gptq_layout(t); });
      p.build = [t] { return import_gptq(t); };
    } else {
      AwqTensors t = awq_tensors(m, p.name, cfg, o);
      p.layout = in_layer(p.name, [&] { return w4_layout(t.n, t.k, t.group, false); });
      p.build = [t] { return import_awq(t); };
    }
    for (const char* s : {".qweight", ".qzeros", ".scales", ".g_idx"}) p.sources.push_back(p.name + s);
  }
  return p;
}

// Declares the parts of a planned layer; the layer is computed when the first part is written.
void add_layer(io::SafetensorsWriter& out, json& layers, const Model& m, PlannedLayer p) {
  const W4Host& lay = p.layout;
  const std::string& L = p.name;
  int parts = 2 + !lay.sym + !lay.perm.empty();
  auto w = io::detail::shared_result<W4Host>(
      [&m, p] {
        W4Host r = in_layer(p.name, p.build);
        for (const auto& s : p.sources) m.release(s);
        if (r.n != p.layout.n || r.k != p.layout.k || r.group != p.layout.group || r.sym != p.layout.sym ||
            r.perm.size() != p.layout.perm.size())
          throw Error(ErrorCode::Internal, "layer '" + p.name + "': packed layer differs from its planned layout");
        return r;
      },
      parts);
  auto part = [&](const std::string& suffix, DType dtype, const Shape& shape, auto member) {
    out.add_lazy(L + suffix, dtype, shape, [w, member](const io::SafetensorsWriter::Sink& sink) {
      w->use([&](const W4Host& r) { sink(bytes_of(r.*member)); });
    });
  };
  part(".qweight", DType::U32, {lay.k_words(), lay.n}, &W4Host::qweight);
  part(".scales", DType::F16, {lay.groups(), lay.n}, &W4Host::scales);
  if (!lay.sym) part(".qzeros", DType::U8, {lay.groups(), lay.n}, &W4Host::zeros);
  if (!lay.perm.empty()) part(".perm", DType::I32, {lay.k}, &W4Host::perm);
  layers[L] = {{"n", lay.n}, {"k", lay.k}, {"group", lay.group}, {"sym", lay.sym}, {"act_order", !lay.perm.empty()}};
}

}  // namespace

PackReport pack_checkpoint(const fs::path& input, const fs::path& output, const PackOptions& o) {
  io::check_output_path(output);  // the output folder first, before anything is read
  ModelFiles files = model_files(input);
  io::check_output_path(output, files.all());
  Model m(files);
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
    if (rep.source == "rtn") {
      if (!name.ends_with(".weight") || r.entry->shape.size() != 2 || !is_float(r.entry->dtype)) continue;
      if (!std::regex_match(name.substr(0, name.size() - 7), only)) continue;
    } else if (!name.ends_with(".qweight")) {
      continue;
    }
    PlannedLayer p = plan_layer(m, name, r, rep.source, cfg, o);
    used.insert(p.sources.begin(), p.sources.end());
    rep.layers.push_back(p.name);
    add_layer(out, layers, m, std::move(p));
  }
  if (rep.layers.empty()) bad("no layers to pack in " + input.string() + " (scheme " + rep.source + ")");
  for (auto& [name, r] : m.tensors()) {
    if (used.count(name)) continue;
    out.add_lazy(name, r.entry->dtype, r.entry->shape, io::detail::copy_then_release(r.file->mapping(), r.file->bytes(*r.entry)));
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
  out.write(output, o.progress);
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
