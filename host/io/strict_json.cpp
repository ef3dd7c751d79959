// strict_json.cpp — nlohmann's parser with a callback that sees every object key, so duplicates are
// found per object (see strict_json.hpp).
#include "host/io/strict_json.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::io::detail {

namespace {

constexpr int kMaxDepth = 64;  // lowbit's files nest 3 levels; deeper is an attack on the parser

// One open object or array while parsing: the keys seen so far and its own name (for messages).
struct Level {
  std::set<std::string> keys;
  std::string last_key;  // the key whose value is being parsed (objects)
  std::string name;      // the key this object or array is the value of ("" at the top)
};

}  // namespace

nlohmann::json parse_strict_json(std::string_view text, const std::string& where) {
  using json = nlohmann::json;
  std::vector<Level> open;
  auto on_event = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (open.size() >= size_t(kMaxDepth))
          throw Error(ErrorCode::Io, where + ": JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
        open.push_back({{}, {}, open.empty() ? "" : (open.back().last_key.empty() ? open.back().name : open.back().last_key)});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        Level& level = open.back();
        if (!level.keys.insert(key).second)
          throw Error(ErrorCode::Io, where + ": duplicate key '" + key + "'" +
                                         (level.name.empty() ? "" : " in '" + level.name + "'"));
        level.last_key = key;
        break;
      }
      case json::parse_event_t::value: break;
    }
    return true;
  };
  try {
    return json::parse(text, on_event);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::Io, where + " is not valid JSON (" + e.what() + ")");
  }
}

nlohmann::json read_strict_json_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream text;
  if (!f || !(text << f.rdbuf())) throw Error(ErrorCode::Io, path.string() + ": cannot read");
  return parse_strict_json(text.str(), path.string());
}

}  // namespace lowbit::io::detail
