// checkpoint.cpp — packing GPTQ / AWQ / float checkpoints into lowbit checkpoints, and loading one
// layer from either kind (see lowbit/checkpoint.hpp for the file layout).
#include "lowbit/checkpoint.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "host/io/aligned_view.hpp"
#include "host/log.hpp"
#include "host/quant/checkpoint_meta.hpp"
#include "host/quant/model_files.hpp"
#include "lowbit/io.hpp"
#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace lowbit::ckpt {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

// Typed view of a tensor with the expected dtype and rank (an aligned copy when the file puts it at an
// address not aligned for T).
template <class T>
io::AlignedView<T> view(const ModelFiles& m, const std::string& name, DType want, size_t rank, Shape& shape) {
  const ModelFiles::Ref* r = m.find(name);
  if (!r) throw Error(ErrorCode::NotFound, "missing tensor '" + name + "'");
  if (r->entry->dtype != want || r->entry->shape.size() != rank)
    bad("tensor '" + name + "': expected " + std::string(io::safetensors_dtype(want)) + " of rank " + std::to_string(rank) +
        ", got " + io::safetensors_dtype(r->entry->dtype) + " " + shape_str(r->entry->shape));
  shape = r->entry->shape;
  return io::AlignedView<T>(r->file->bytes(*r->entry));
}

void expect_shape(const std::string& name, const Shape& got, const Shape& want) {
  if (got != want) bad("tensor '" + name + "': shape " + shape_str(got) + ", expected " + shape_str(want));
}

std::vector<float> to_f32(const ModelFiles::Ref& r) {
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

std::vector<uint16_t> bias_f16(const ModelFiles& m, const std::string& layer, int64_t n) {
  const ModelFiles::Ref* r = m.find(layer + ".bias");
  if (!r) return {};
  if (r->entry->shape != Shape{n}) bad("tensor '" + layer + ".bias': shape " + shape_str(r->entry->shape) + ", expected [" + std::to_string(n) + "]");
  auto f = to_f32(*r);
  std::vector<uint16_t> h(f.size());
  for (size_t i = 0; i < f.size(); ++i) h[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f[i])));
  return h;
}

W4Host import_gptq_layer(const ModelFiles& m, const std::string& L, const QuantConfig& cfg, const PackOptions& o) {
  Shape qs, zs, ss, gs;
  auto qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0] * 8, n = qs[1], G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, (n + 7) / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  if (G <= 0 || group <= 0 || k % group || k / group != G)
    bad("layer '" + L + "': group size " + std::to_string(group) + " disagrees with K=" + std::to_string(k) + " and " +
        std::to_string(G) + " scale rows");
  std::optional<io::AlignedView<int32_t>> gidx;
  if (m.find(L + ".g_idx")) {
    gidx.emplace(view<int32_t>(m, L + ".g_idx", DType::I32, 1, gs));
    expect_shape(L + ".g_idx", gs, {k});
  }
  GptqTensors t{qw.data(), qz.data(), sc.data(), gidx ? gidx->data() : nullptr, k, n, group, cfg.v2 ? 2 : 1,
                o.sym.value_or(cfg.sym.value_or(false))};
  try {
    return import_gptq(t);
  } catch (const Error& e) {
    bad("layer '" + L + "': " + e.what());
  }
}

W4Host import_awq_layer(const ModelFiles& m, const std::string& L, const QuantConfig& cfg, const PackOptions& o) {
  Shape qs, zs, ss;
  auto qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0], n = qs[1] * 8, G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, n / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  if (G <= 0 || group <= 0 || k % group || k / group != G)
    bad("layer '" + L + "': group size " + std::to_string(group) + " disagrees with K=" + std::to_string(k) + " and " +
        std::to_string(G) + " scale rows");
  try {
    return import_awq({qw.data(), qz.data(), sc.data(), k, n, group});
  } catch (const Error& e) {
    bad("layer '" + L + "': " + e.what());
  }
}

std::string resolve_scheme(const std::string& requested, const QuantConfig& cfg, const ModelFiles& m) {
  if (!requested.empty() && requested != "auto") return requested;
  if (cfg.method == "gptq" || cfg.method == "awq") return cfg.method;
  bool has_qweight = false;
  for (auto& [name, r] : m.tensors()) has_qweight |= name.size() > 8 && name.ends_with(".qweight");
  if (!has_qweight) return "rtn";
  bad("cannot tell GPTQ from AWQ: no quantize_config.json or config.json quantization_config beside " +
      m.dir().string() + " (pass --scheme gptq|awq)");
}

bool is_lowbit(const ModelFiles& m) {
  for (auto& [name, r] : m.tensors()) {
    auto it = r.file->metadata().find("lowbit.scheme");
    return it != r.file->metadata().end() && it->second == "w4a16";
  }
  return false;
}

// A layer of a lowbit checkpoint.
W4Host read_lowbit_layer(const ModelFiles& m, const std::string& L) {
  Shape qs, ss, zs, ps;
  auto qw = view<uint32_t>(m, L + ".qweight", DType::U32, 2, qs);
  auto sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  const io::SafetensorsFile& file = *m.find(L + ".qweight")->file;
  LayerMeta meta = read_layer_meta(file, L);
  bool has_perm = m.find(L + ".perm") != nullptr;
  if (meta.act_order && *meta.act_order != has_perm)
    throw Error(ErrorCode::Io, layer_meta_where(file) + ": layer '" + L + "': 'act_order' is " +
                                   (*meta.act_order ? "true" : "false") + " but the checkpoint " +
                                   (has_perm ? "has" : "lacks") + " tensor '" + L + ".perm'");
  W4Host w;
  w.n = meta.n;
  w.k = meta.k;
  w.group = meta.group;
  w.sym = meta.sym;
  expect_shape(L + ".qweight", qs, {w.k_words(), w.n});
  expect_shape(L + ".scales", ss, {w.groups(), w.n});
  w.qweight.assign(qw.begin(), qw.end());
  w.scales.assign(sc.begin(), sc.end());
  if (!w.sym) {
    auto z = view<uint8_t>(m, L + ".qzeros", DType::U8, 2, zs);
    expect_shape(L + ".qzeros", zs, {w.groups(), w.n});
    w.zeros.assign(z.begin(), z.end());
  }
  if (has_perm) {
    auto p = view<int32_t>(m, L + ".perm", DType::I32, 1, ps);
    w.perm.assign(p.begin(), p.end());
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
  ModelFiles m(input);
  if (is_lowbit(m)) bad(input.string() + " is already a lowbit checkpoint");
  QuantConfig cfg = read_quant_config(m.dir());
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
  ModelFiles m(checkpoint);
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
    QuantConfig cfg = read_quant_config(m.dir());
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
