// arg_check.cpp — unknown-option and missing-sub-command messages (see arg_check.hpp).
#include "tools/arg_check.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::cli {

namespace {

// Levenshtein distance between a and b.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Every option spelling of `app` ("--to", "-b", ...).
std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
    for (const auto& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

// The name closest to `typed` (a prefix of it, or within a third of its length in edits), or "".
std::string closest_name(const std::vector<std::string>& names, const std::string& typed) {
  std::string best;
  size_t best_d = std::max<size_t>(1, typed.size() / 3) + 1;
  for (const auto& n : names) {
    size_t d = n.rfind(typed, 0) == 0 ? 1 : edit_distance(typed, n);
    if (d < best_d) best = n, best_d = d;
  }
  return best;
}

std::string closest_option(const CLI::App& app, const std::string& typed) { return closest_name(option_names(app), typed); }

bool is_number(const std::string& s) {
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0' && end != s.c_str();
}

CLI::App* sub_named(CLI::App& app, const std::string& name) {
  auto subs = app.get_subcommands([&](CLI::App* s) { return s->get_name() == name; });
  return subs.empty() ? nullptr : subs.front();
}

std::string sub_names(CLI::App& app) {
  std::string s;
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) s += (s.empty() ? "" : ", ") + sub->get_name();
  return s;
}

std::string path_of(const CLI::App* app) {
  std::string p;
  for (; app; app = app->get_parent()) p = app->get_name() + (p.empty() ? "" : " " + p);
  return p;
}

}  // namespace

void check_arguments(CLI::App& root, int argc, char** argv) {
  CLI::App* app = &root;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-' && !is_number(arg)) {
      // "--name=value" and short clusters "-bvulkan" name the option before the value.
      const std::string name = arg[1] == '-' ? arg.substr(0, arg.find('=')) : arg.substr(0, 2);
      if (name == "-h" || name == "--help") help = true;
      if (app->get_option_no_throw(name) || (app == &root && name == "--version")) continue;
      const std::string near = name.size() > 2 ? closest_option(*app, name) : "";  // "-x": no guess
      throw Error(ErrorCode::InvalidArgument,
                  "unknown option '" + name + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?") +
                      " (see " + path_of(app) + " --help)");
    }
    if (CLI::App* sub = sub_named(*app, arg)) {
      app = sub;
    } else if (app != &root && app->get_require_subcommand_min() > 0) {
      throw Error(ErrorCode::InvalidArgument, path_of(app) + ": unknown op '" + arg + "' (expected one of: " +
                                                  sub_names(*app) + "; see " + path_of(app) + " --help)");
    }
  }
  if (!help && app->get_require_subcommand_min() > 0 && app != &root)
    throw Error(ErrorCode::InvalidArgument,
                path_of(app) + " needs one of: " + sub_names(*app) + " (see " + path_of(app) + " --help)");
}

void check_choice(const std::string& flag, const std::string& value, const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return;
  std::string list, near = closest_name(choices, value);
  for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
  throw Error(ErrorCode::InvalidArgument, flag + ": unknown value '" + value + "'" +
                                              (near.empty() ? "" : "; did you mean '" + near + "'?") + " (expected " +
                                              list + ")");
}

}  // namespace lowbit::cli
