// checkpoint.cpp — packing GPTQ / AWQ / float checkpoints into lowbit checkpoints, and loading one
// layer from either kind (see lowbit/checkpoint.hpp for the file layout).
#include "lowbit/checkpoint.hpp"

#include <algorithm>
#include <bit>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "host/io/aligned_view.hpp"
#include "host/io/float_values.hpp"
#include "host/io/streaming.hpp"
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
  if (!is_float(r.entry->dtype)) bad("tensor '" + r.entry->name + "' is not a float tensor");
  return io::detail::float_values(r.entry->dtype, r.file->bytes(*r.entry));
}

// NAME.bias, if present, into `out`: fp16 bits always, and the fp32 values too when the file stores it
// as F32 (so that the GEMM epilogue can add it at fp32 precision).
void read_bias(const ModelFiles& m, const std::string& layer, int64_t n, LoadedLayer& out) {
  const ModelFiles::Ref* r = m.find(layer + ".bias");
  if (!r) return;
  if (r->entry->shape != Shape{n}) bad("tensor '" + layer + ".bias': shape " + shape_str(r->entry->shape) + ", expected [" + std::to_string(n) + "]");
  auto f = to_f32(*r);
  out.bias.resize(f.size());
  for (size_t i = 0; i < f.size(); ++i) out.bias[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f[i])));
  if (r->entry->dtype == DType::F32) out.bias_f32 = std::move(f);
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

// A GPTQ layer's tensors as aligned views (copies where the file misaligns them) and the GptqTensors
// pointing into them; heap-held so the pointers stay valid while it is passed around.
struct GptqViews {
  io::AlignedView<int32_t> qw, qz;
  io::AlignedView<uint16_t> sc;
  std::optional<io::AlignedView<int32_t>> gidx;
  GptqTensors t;
};
struct AwqViews {
  io::AlignedView<int32_t> qw, qz;
  io::AlignedView<uint16_t> sc;
  AwqTensors t;
};

std::unique_ptr<GptqViews> gptq_tensors(const ModelFiles& m, const std::string& L, const QuantConfig& cfg,
                                        const PackOptions& o) {
  Shape qs, zs, ss, gs;
  auto qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0] * 8, n = qs[1], G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, (n + 7) / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  check_group(L, group, k, G);
  std::optional<io::AlignedView<int32_t>> gidx;
  if (m.find(L + ".g_idx")) {
    gidx.emplace(view<int32_t>(m, L + ".g_idx", DType::I32, 1, gs));
    expect_shape(L + ".g_idx", gs, {k});
  }
  auto v = std::make_unique<GptqViews>(GptqViews{std::move(qw), std::move(qz), std::move(sc), std::move(gidx), {}});
  v->t = {v->qw.data(), v->qz.data(), v->sc.data(), v->gidx ? v->gidx->data() : nullptr, k, n, group, cfg.v2 ? 2 : 1,
          o.sym.value_or(cfg.sym.value_or(false))};
  return v;
}

std::unique_ptr<AwqViews> awq_tensors(const ModelFiles& m, const std::string& L, const QuantConfig& cfg,
                                      const PackOptions& o) {
  Shape qs, zs, ss;
  auto qw = view<int32_t>(m, L + ".qweight", DType::I32, 2, qs);
  auto qz = view<int32_t>(m, L + ".qzeros", DType::I32, 2, zs);
  auto sc = view<uint16_t>(m, L + ".scales", DType::F16, 2, ss);
  int64_t k = qs[0], n = qs[1] * 8, G = ss[0];
  expect_shape(L + ".scales", ss, {G, n});
  expect_shape(L + ".qzeros", zs, {G, n / 8});
  int group = o.group.value_or(cfg.group.value_or(G ? int(k / G) : 0));
  if (group == -1) group = int(k);
  check_group(L, group, k, G);
  auto v = std::make_unique<AwqViews>(AwqViews{std::move(qw), std::move(qz), std::move(sc), {}});
  v->t = {v->qw.data(), v->qz.data(), v->sc.data(), k, n, group};
  return v;
}

W4Host import_gptq_layer(const ModelFiles& m, const std::string& L, const QuantConfig& cfg, const PackOptions& o) {
  auto v = gptq_tensors(m, L, cfg, o);
  return in_layer(L, [&] { return import_gptq(v->t); });
}

W4Host import_awq_layer(const ModelFiles& m, const std::string& L, const QuantConfig& cfg, const PackOptions& o) {
  auto v = awq_tensors(m, L, cfg, o);
  return in_layer(L, [&] { return import_awq(v->t); });
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

// The lowbit.scheme of a lowbit checkpoint ("w4a16" or "qoq"), or "" for any other file.
std::string lowbit_scheme(const ModelFiles& m) {
  for (auto& [name, r] : m.tensors()) {
    auto it = r.file->metadata().find("lowbit.scheme");
    if (it == r.file->metadata().end() || (it->second != "w4a16" && it->second != "qoq")) return "";
    return it->second;
  }
  return "";
}

// The values of tensor `name`, which must have dtype `want` and shape `shape`.
template <class T>
std::vector<T> tensor_values(const ModelFiles& m, const std::string& name, DType want, const Shape& shape) {
  Shape got;
  auto v = view<T>(m, name, want, shape.size(), got);
  expect_shape(name, got, shape);
  return {v.begin(), v.end()};
}

// A layer of a lowbit checkpoint (its NAME.qweight exists).
W4Host read_lowbit_layer(const ModelFiles& m, const std::string& L) {
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
  w.qweight = tensor_values<uint32_t>(m, L + ".qweight", DType::U32, {w.k_words(), w.n});
  w.scales = tensor_values<uint16_t>(m, L + ".scales", DType::F16, {w.groups(), w.n});
  if (!w.sym) w.zeros = tensor_values<uint8_t>(m, L + ".qzeros", DType::U8, {w.groups(), w.n});
  if (has_perm) w.perm = tensor_values<int32_t>(m, L + ".perm", DType::I32, {w.k});
  validate_w4(w);
  return w;
}

// A layer of a QoQ checkpoint (its NAME.qweight exists): tensors typed and shaped as lowbit.layers says,
// values checked (validate_qoq).
QoqHost read_qoq_layer(const ModelFiles& m, const std::string& L) {
  const io::SafetensorsFile& file = *m.find(L + ".qweight")->file;
  QoqLayerMeta meta = read_qoq_layer_meta(file, L);
  QoqHost w;
  w.n = meta.n, w.k = meta.k, w.group = meta.group, w.per_channel = meta.per_channel;
  w.qweight = tensor_values<uint32_t>(m, L + ".qweight", DType::U32, {w.k_words(), w.n});
  w.s1 = tensor_values<uint16_t>(m, L + ".s1", DType::F16, {w.n});
  if (w.per_channel) {
    for (const char* t : {".s2", ".qzeros"})
      if (m.find(L + t))
        throw Error(ErrorCode::Io, layer_meta_where(file) + ": layer '" + L + "': 'per_channel' is true but the checkpoint has tensor '" + L + t + "'");
  } else {
    w.s2 = tensor_values<uint8_t>(m, L + ".s2", DType::U8, {w.groups(), w.n});
    w.zeros = tensor_values<uint8_t>(m, L + ".qzeros", DType::U8, {w.groups(), w.n});
  }
  in_layer(L, [&] { validate_qoq(w); });
  return w;
}

template <class T>
io::Bytes bytes_of(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

// A layer to pack: its sizes (declared in the output header up front), how to compute it, and the
// input tensors it is made from (released from memory once it is computed).
template <class H>
struct Planned {
  std::string name;
  H layout;
  std::function<H()> build;
  std::vector<std::string> sources;
};
using PlannedLayer = Planned<W4Host>;

// The float NAME.weight [n, k] of `r` as a QoQ layer (level-1 clamps and s1 overflows added to `report`).
Planned<QoqHost> plan_qoq_layer(const std::string& name, const ModelFiles::Ref& r, const PackOptions& o,
                                std::shared_ptr<QoqReport> report) {
  Planned<QoqHost> p;
  p.name = name.substr(0, name.size() - 7);
  int64_t n = r.entry->shape[0], k = r.entry->shape[1];
  int group = o.group.value_or(128);
  p.layout = in_layer(p.name, [&] { return qoq_layout(n, k, group); });
  p.build = [&r, n, k, group, report] {
    auto f = to_f32(r);
    QoqReport one;
    QoqHost q = quantize_qoq(f.data(), n, k, group, &one);
    report->level1_clamped += one.level1_clamped;
    report->s1_overflow += one.s1_overflow;
    return q;
  };
  p.sources = {name};
  return p;
}

PlannedLayer plan_layer(const ModelFiles& m, const std::string& name, const ModelFiles::Ref& r, const std::string& scheme,
                        const QuantConfig& cfg, const PackOptions& o) {
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
    // The views are taken again when the layer is built, so that aligned copies (misaligned input
    // tensors) live for one layer at a time.
    std::string L = p.name;
    if (scheme == "gptq") {
      p.layout = in_layer(L, [&] { return gptq_layout(gptq_tensors(m, L, cfg, o)->t); });
      p.build = [&m, L, &cfg, &o] { return import_gptq(gptq_tensors(m, L, cfg, o)->t); };
    } else {
      auto v = awq_tensors(m, L, cfg, o);
      p.layout = in_layer(L, [&] { return w4_layout(v->t.n, v->t.k, v->t.group, false); });
      p.build = [&m, L, &cfg, &o] { return import_awq(awq_tensors(m, L, cfg, o)->t); };
    }
    for (const char* s : {".qweight", ".qzeros", ".scales", ".g_idx"}) p.sources.push_back(p.name + s);
  }
  return p;
}

// One output tensor of a packed layer: name suffix, dtype, shape and its bytes in the computed layer.
template <class H>
struct Part {
  const char* suffix;
  DType dtype;
  Shape shape;
  std::function<io::Bytes(const H&)> bytes;
};

std::vector<Part<W4Host>> parts_of(const W4Host& lay) {
  std::vector<Part<W4Host>> p = {{".qweight", DType::U32, {lay.k_words(), lay.n}, [](const W4Host& r) { return bytes_of(r.qweight); }},
                                 {".scales", DType::F16, {lay.groups(), lay.n}, [](const W4Host& r) { return bytes_of(r.scales); }}};
  if (!lay.sym) p.push_back({".qzeros", DType::U8, {lay.groups(), lay.n}, [](const W4Host& r) { return bytes_of(r.zeros); }});
  if (!lay.perm.empty()) p.push_back({".perm", DType::I32, {lay.k}, [](const W4Host& r) { return bytes_of(r.perm); }});
  return p;
}
std::vector<Part<QoqHost>> parts_of(const QoqHost& lay) {
  std::vector<Part<QoqHost>> p = {{".qweight", DType::U32, {lay.k_words(), lay.n}, [](const QoqHost& r) { return bytes_of(r.qweight); }},
                                  {".s1", DType::F16, {lay.n}, [](const QoqHost& r) { return bytes_of(r.s1); }}};
  if (!lay.per_channel) {
    p.push_back({".s2", DType::U8, {lay.groups(), lay.n}, [](const QoqHost& r) { return bytes_of(r.s2); }});
    p.push_back({".qzeros", DType::U8, {lay.groups(), lay.n}, [](const QoqHost& r) { return bytes_of(r.zeros); }});
  }
  return p;
}

json layer_entry(const W4Host& l) {
  return {{"n", l.n}, {"k", l.k}, {"group", l.group}, {"sym", l.sym}, {"act_order", !l.perm.empty()}};
}
json layer_entry(const QoqHost& l) { return {{"n", l.n}, {"k", l.k}, {"group", l.group}, {"per_channel", l.per_channel}}; }

bool same_layout(const W4Host& a, const W4Host& b) {
  return a.n == b.n && a.k == b.k && a.group == b.group && a.sym == b.sym && a.perm.size() == b.perm.size();
}
bool same_layout(const QoqHost& a, const QoqHost& b) {
  return a.n == b.n && a.k == b.k && a.group == b.group && a.per_channel == b.per_channel;
}

// Declares the parts of a planned layer; the layer is computed when the first part is written.
template <class H>
void add_layer(io::SafetensorsWriter& out, json& layers, const ModelFiles& m, Planned<H> p) {
  std::vector<Part<H>> parts = parts_of(p.layout);
  layers[p.name] = layer_entry(p.layout);
  const std::string L = p.name;
  auto w = io::detail::shared_result<H>(
      [&m, p] {
        H r = in_layer(p.name, p.build);
        for (const auto& s : p.sources) m.release(s);
        if (!same_layout(r, p.layout))
          throw Error(ErrorCode::Internal, "layer '" + p.name + "': packed layer differs from its planned layout");
        return r;
      },
      int(parts.size()));
  for (auto& part : parts)
    out.add_lazy(L + part.suffix, part.dtype, part.shape, [w, bytes = part.bytes](const io::SafetensorsWriter::Sink& sink) {
      w->use([&](const H& r) { sink(bytes(r)); });
    });
}

}  // namespace

PackReport pack_checkpoint(const fs::path& input, const fs::path& output, const PackOptions& o) {
  io::check_output_path(output);  // the output folder first, before anything is read
  ModelFiles m(input);
  io::check_output_path(output, m.paths());
  if (!lowbit_scheme(m).empty()) bad(input.string() + " is already a lowbit checkpoint");
  QuantConfig cfg = read_quant_config(m.dir());
  PackReport rep;
  rep.source = resolve_scheme(o.scheme, cfg, m);
  if (rep.source != "gptq" && rep.source != "awq" && rep.source != "rtn" && rep.source != "qoq")
    bad("unknown scheme '" + rep.source + "' (expected gptq, awq, rtn or qoq)");
  const bool qoq = rep.source == "qoq", from_float = qoq || rep.source == "rtn";
  if (qoq && o.sym) bad("--sym / --asym do not apply to --scheme qoq (level 2 is asymmetric, --group -1 symmetric)");
  auto qoq_report = std::make_shared<QoqReport>();
  io::SafetensorsWriter out;
  json layers = json::object();
  std::set<std::string> used;
  std::regex only(o.layers_regex.empty() ? ".*" : o.layers_regex);
  for (auto& [name, r] : m.tensors()) {
    if (from_float) {
      if (!name.ends_with(".weight") || r.entry->shape.size() != 2 || !is_float(r.entry->dtype)) continue;
      if (!std::regex_match(name.substr(0, name.size() - 7), only)) continue;
    } else if (!name.ends_with(".qweight")) {
      continue;
    }
    auto plan = [&](auto p) {
      used.insert(p.sources.begin(), p.sources.end());
      rep.layers.push_back(p.name);
      add_layer(out, layers, m, std::move(p));
    };
    if (qoq) plan(plan_qoq_layer(name, r, o, qoq_report));
    else plan(plan_layer(m, name, r, rep.source, cfg, o));
  }
  if (rep.layers.empty()) bad("no layers to pack in " + input.string() + " (scheme " + rep.source + ")");
  for (auto& [name, r] : m.tensors()) {
    if (used.count(name)) continue;
    out.add_lazy(name, r.entry->dtype, r.entry->shape, io::detail::copy_then_release(r.file->mapping(), r.file->bytes(*r.entry)));
    rep.copied.push_back(name);
  }
  if (rep.source == "gptq" && cfg.v2) rep.source = "gptq_v2";
  const json& first = layers.begin().value();
  if (qoq) {
    out.set_metadata("lowbit.scheme", "qoq");
    out.set_metadata("lowbit.layout", std::to_string(kQoqLayoutVersion));
    out.set_metadata("lowbit.group_size", first["per_channel"].get<bool>() ? "-1" : std::to_string(first["group"].get<int>()));
  } else {
    out.set_metadata("lowbit.scheme", "w4a16");
    out.set_metadata("lowbit.layout", std::to_string(kW4LayoutVersion));
    out.set_metadata("lowbit.group_size", std::to_string(first["group"].get<int>()));
    out.set_metadata("lowbit.sym", first["sym"].get<bool>() ? "true" : "false");
  }
  out.set_metadata("lowbit.source", rep.source);
  out.set_metadata("lowbit.version", io::library_version());
  out.set_metadata("lowbit.layers", layers.dump());
  out.write(output, o.progress);
  rep.qoq = *qoq_report;
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
  if (std::string scheme = lowbit_scheme(m); !scheme.empty()) {
    auto lay = m.find(name + ".qweight")->file->metadata();
    if (scheme == "qoq") out.qoq = read_qoq_layer(m, name);
    else out.w = read_lowbit_layer(m, name);
    out.source = lay.count("lowbit.source") ? lay.at("lowbit.source") : "lowbit";
  } else {
    QuantConfig cfg = read_quant_config(m.dir());
    PackOptions o;
    out.source = resolve_scheme(scheme_hint, cfg, m);
    if (out.source == "gptq") out.w = import_gptq_layer(m, name, cfg, o);
    else if (out.source == "awq") out.w = import_awq_layer(m, name, cfg, o);
    else bad("'" + checkpoint.string() + "' holds no GPTQ/AWQ layer '" + name + "'");
  }
  read_bias(m, name, out.n(), out);
  return out;
}

}  // namespace lowbit::ckpt
