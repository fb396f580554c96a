#include "tools/args.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include "tensor/error.h"

namespace mn::cli {

namespace {

bool is_positional(const Arg& a) { return a.name[0] != '-'; }

// As the synopsis and the errors show an argument: "RUN", "--width W", "--explain".
std::string with_value(const Arg& a) { return a.value.empty() ? a.name : a.name + " " + a.value; }

// The whole of `s` as a T (no sign, space or suffix around it).
template <class T>
bool parse_whole(const std::string& s, T& v) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Arg positional(std::string name, std::string help) { return {name, "", help, "", true, false}; }
Arg optional_positional(std::string name, std::string help) { return {name, "", help, "", false, false}; }
Arg positionals(std::string name, std::string help) { return {name, "", help, "", true, true}; }
Arg option(std::string name, std::string value, std::string help, std::string fallback) {
  return {name, value, help, fallback, false, false};
}
Arg required_option(std::string name, std::string value, std::string help) {
  return {name, value, help, "", true, false};
}
Arg repeated(std::string name, std::string value, std::string help) { return {name, value, help, "", false, true}; }
Arg flag(std::string name, std::string help) { return {name, "", help, "", false, false}; }

Args::Args(const Spec& spec, int argc, char** argv) : spec_(spec) {
  std::vector<const Arg*> positionals;
  std::vector<std::string> options;
  for (const Arg& a : spec.args) {
    if (is_positional(a)) positionals.push_back(&a);
    else options.push_back(a.name);
  }
  size_t next_positional = 0;
  for (int i = 0; i < argc; ++i) {
    const std::string token = argv[i];
    if (token == "-h" || token == "--help") throw HelpRequested{};
    if (token.size() < 2 || token[0] != '-') {
      if (next_positional == positionals.size()) fail(cat("unexpected argument '", token, "'"));
      const Arg& p = *positionals[next_positional];
      given_[p.name].push_back(token);
      if (!p.repeated) ++next_positional;
      continue;
    }
    const size_t eq = token.find('=');  // --name=value
    const std::string name = token.substr(0, eq);
    if (std::find(options.begin(), options.end(), name) == options.end()) {
      const std::string guess = nearest(name, options);
      fail(cat("unknown option '", name, "'", guess.empty() ? "" : "; did you mean " + guess + "?"));
    }
    const Arg& arg = declared(name);
    std::string value;
    if (arg.value.empty()) {
      if (eq != std::string::npos) fail(cat(name, " takes no value"));
    } else if (eq != std::string::npos) {
      value = token.substr(eq + 1);
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {  // "--x --y": x lacks one
      value = argv[++i];
    } else {
      fail(cat(name, " needs a value: ", with_value(arg)));
    }
    std::vector<std::string>& values = given_[name];
    if (!arg.repeated) values.clear();  // given twice, the last one counts
    values.push_back(value);
  }
  for (const Arg& a : spec.args)
    if (a.required && !given_.count(a.name)) fail(cat("missing ", with_value(a)));
}

const Arg& Args::declared(const std::string& name) const {
  for (const Arg& a : spec_.args)
    if (a.name == name) return a;
  mn::fail("mn ", spec_.name, " does not declare '", name, "'");  // a bug in the command, not the user's
}

std::string Args::get(const std::string& name) const {
  const auto it = given_.find(name);
  return it == given_.end() ? declared(name).fallback : it->second.back();
}

bool Args::has(const std::string& name) const {
  declared(name);
  return given_.count(name) > 0;
}

std::vector<std::string> Args::all(const std::string& name) const {
  declared(name);
  const auto it = given_.find(name);
  return it == given_.end() ? std::vector<std::string>{} : it->second;
}

int64_t Args::integer(const std::string& name) const {
  const std::string s = get(name);
  int64_t v = 0;
  if (!parse_whole(s, v)) fail(cat(name, ": '", s, "' is not an integer"));
  return v;
}

double Args::number(const std::string& name) const {
  const std::string s = get(name);
  double v = 0;
  if (!parse_whole(s, v)) fail(cat(name, ": '", s, "' is not a number"));
  return v;
}

void Args::fail(const std::string& message) const { mn::fail(message, " (see mn ", spec_.name, " --help)"); }

std::string synopsis(const Spec& spec, size_t column) {
  std::string out = "mn " + spec.name;
  const size_t indent = column + out.size() + 1;
  size_t at = column + out.size();
  for (const Arg& a : spec.args) {
    const std::string text = cat(a.required ? "" : "[", with_value(a), a.required ? "" : "]", a.repeated ? "..." : "");
    if (at + 1 + text.size() > 100) {
      out.append("\n").append(indent, ' ');
      at = indent;
    } else {
      out += ' ';
      ++at;
    }
    out += text;
    at += text.size();
  }
  return out;
}

std::string usage(const Spec& spec) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const Arg& a : spec.args)
    rows.emplace_back(with_value(a), a.fallback.empty() ? a.help : a.help + " (default: " + a.fallback + ")");
  rows.emplace_back("-h, --help", "prints this help");
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string out = "usage: " + synopsis(spec, 7) + "\n\n" + spec.summary + "\n\n";
  for (const auto& [left, help] : rows) out += "  " + left + std::string(width + 2 - left.size(), ' ') + help + "\n";
  return out;
}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 4) + 1;  // more edits than that: not a typo
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace mn::cli
