// checkpoint_meta.cpp — config json and lowbit.layers metadata, checked key by key (see checkpoint_meta.hpp).
#include "host/quant/checkpoint_meta.hpp"

#include <limits>

#include "host/io/strict_json.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace lowbit::ckpt {

namespace {

constexpr int64_t kMaxLayerDim = std::numeric_limits<int32_t>::max();

[[noreturn]] void fail(const std::string& where, const std::string& m) { throw Error(ErrorCode::Io, where + ": " + m); }

// The value of `key` in object `o`, or nullptr when it is absent or null.
const json* setting(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

std::optional<int64_t> int_setting(const std::string& where, const json& o, const char* key, int64_t lo, int64_t hi) {
  const json* v = setting(o, key);
  if (!v) return std::nullopt;
  bool in_range = v->is_number_unsigned() ? v->get<uint64_t>() <= uint64_t(hi) && lo <= int64_t(v->get<uint64_t>())
                  : v->is_number_integer() ? v->get<int64_t>() >= lo && v->get<int64_t>() <= hi
                                           : false;
  if (!in_range)
    fail(where, "'" + std::string(key) + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                    "], got " + v->dump());
  return v->get<int64_t>();
}

std::optional<bool> bool_setting(const std::string& where, const json& o, const char* key) {
  const json* v = setting(o, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail(where, "'" + std::string(key) + "' must be true or false, got " + v->dump());
  return v->get<bool>();
}

std::optional<std::string> string_setting(const std::string& where, const json& o, const char* key) {
  const json* v = setting(o, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail(where, "'" + std::string(key) + "' must be a string, got " + v->dump());
  return v->get<std::string>();
}

}  // namespace

QuantConfig read_quant_config(const fs::path& dir) {
  QuantConfig c;
  json q;
  std::string where;
  if (fs::path p = dir / "quantize_config.json"; fs::exists(p)) {
    where = p.string();
    q = io::detail::read_strict_json_file(p);
    if (!q.is_object()) fail(where, "not a JSON object");
    c.method = "gptq";  // AutoGPTQ's file; quant_method, when present, says otherwise
  } else if (fs::path p = dir / "config.json"; fs::exists(p)) {
    json cfg = io::detail::read_strict_json_file(p);
    if (!cfg.is_object()) fail(p.string(), "not a JSON object");
    const json* qc = setting(cfg, "quantization_config");
    if (!qc) return c;
    if (!qc->is_object()) fail(p.string(), "'quantization_config' must be an object, got " + qc->dump());
    where = p.string() + ": quantization_config";
    q = *qc;
  } else {
    return c;
  }
  const int64_t int_max = std::numeric_limits<int>::max(), int_min = std::numeric_limits<int>::min();
  if (auto m = string_setting(where, q, "quant_method")) c.method = *m;
  if (auto bits = int_setting(where, q, "bits", int_min, int_max); bits && *bits != 4)
    throw Error(ErrorCode::InvalidArgument,
                "checkpoint config says bits=" + std::to_string(*bits) + "; lowbit packs 4-bit weights only");
  if (auto g = int_setting(where, q, "group_size", int_min, int_max)) c.group = int(*g);
  if (auto g = int_setting(where, q, "q_group_size", int_min, int_max)) c.group = int(*g);
  if (auto s = bool_setting(where, q, "sym")) c.sym = *s;
  if (auto z = bool_setting(where, q, "zero_point")) c.sym = !*z;
  if (auto f = string_setting(where, q, "checkpoint_format")) c.v2 = *f == "gptq_v2";
  return c;
}

std::string layer_meta_where(const io::SafetensorsFile& file) {
  return file.path().string() + ": metadata 'lowbit.layers'";
}

namespace {

// The entry of `layer` in lowbit.layers, with `keys` present; `where` becomes the place to name in errors.
json layer_entry(const io::SafetensorsFile& file, const std::string& layer, std::initializer_list<const char*> keys,
                 std::string& where) {
  where = layer_meta_where(file);
  auto it = file.metadata().find("lowbit.layers");
  if (it == file.metadata().end()) fail(file.path().string(), "no 'lowbit.layers' metadata in a lowbit checkpoint");
  json j = io::detail::parse_strict_json(it->second, where);
  if (!j.is_object()) fail(where, "not a JSON object");
  auto entry = j.find(layer);
  if (entry == j.end()) fail(where, "no entry for layer '" + layer + "'");
  if (!entry->is_object()) fail(where, "entry '" + layer + "' is not an object");
  where += ": layer '" + layer + "'";
  for (const char* key : keys)
    if (!setting(*entry, key)) fail(where, "'" + std::string(key) + "' is missing");
  return *entry;
}

// n, k and group (dividing k) of an entry.
void layer_dims(const std::string& where, const json& e, int64_t& n, int64_t& k, int& group) {
  n = *int_setting(where, e, "n", 1, kMaxLayerDim);
  k = *int_setting(where, e, "k", 1, kMaxLayerDim);
  group = int(*int_setting(where, e, "group", 1, k));
  if (k % group) fail(where, "'group' " + std::to_string(group) + " does not divide 'k' " + std::to_string(k));
}

}  // namespace

LayerMeta read_layer_meta(const io::SafetensorsFile& file, const std::string& layer) {
  std::string where;
  json e = layer_entry(file, layer, {"n", "k", "group", "sym"}, where);
  LayerMeta m;
  layer_dims(where, e, m.n, m.k, m.group);
  m.sym = *bool_setting(where, e, "sym");
  m.act_order = bool_setting(where, e, "act_order");
  return m;
}

QoqLayerMeta read_qoq_layer_meta(const io::SafetensorsFile& file, const std::string& layer) {
  std::string where;
  json e = layer_entry(file, layer, {"n", "k", "group", "per_channel"}, where);
  QoqLayerMeta m;
  layer_dims(where, e, m.n, m.k, m.group);
  m.per_channel = *bool_setting(where, e, "per_channel");
  if (m.per_channel && m.group != m.k)
    fail(where, "a per-channel layer has 'group' = 'k', got group " + std::to_string(m.group) + " and k " + std::to_string(m.k));
  return m;
}

}  // namespace lowbit::ckpt
