// strict_json.hpp — JSON from files lowbit does not trust (safetensors headers, lowbit metadata, index
// and config json). nlohmann keeps the last of duplicate object keys without a word; the safetensors
// format and lowbit reject them. Every problem is a lowbit::Error(Io) naming where the text came from.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lowbit::io::detail {

// Parses `text`, rejecting invalid JSON, duplicate keys in any object and nesting deeper than 64 levels.
// `where` names the text in messages ("model.safetensors: header", "x.safetensors: metadata 'k'").
nlohmann::json parse_strict_json(std::string_view text, const std::string& where);

// Reads a whole JSON file and parses it like parse_strict_json; messages start with the file's path.
nlohmann::json read_strict_json_file(const std::filesystem::path& path);

}  // namespace lowbit::io::detail
