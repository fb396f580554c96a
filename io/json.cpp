// JSON parse (recursive descent over the RFC 8259 grammar) and dump.
#include "io/json.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "tensor/error.h"

namespace mn {

namespace {

const char* kind_name(Json::Kind k) {
  switch (k) {
    case Json::Kind::null: return "null";
    case Json::Kind::boolean: return "a boolean";
    case Json::Kind::number: return "a number";
    case Json::Kind::string: return "a string";
    case Json::Kind::array: return "an array";
    case Json::Kind::object: return "an object";
  }
  return "?";
}

struct Parser {
  const std::string& s;
  const std::string& what;
  size_t i = 0;

  [[noreturn]] void error(const std::string& msg) const {
    fail(what, ": invalid JSON at byte ", i, ": ", msg);
  }
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  char peek() {
    skip_ws();
    if (i >= s.size()) error("unexpected end");
    return s[i];
  }
  void expect(char c) {
    if (peek() != c) error(cat("expected '", c, "', found '", s[i], "'"));
    ++i;
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s.compare(i, n, word) != 0) return false;
    i += n;
    return true;
  }

  Json value(int depth) {
    if (depth > 64) error("nesting deeper than 64");
    char c = peek();
    if (c == '{') {
      ++i;
      Json obj = Json::object();
      if (peek() == '}') { ++i; return obj; }
      while (true) {
        if (peek() != '"') error("expected a key string");
        std::string key = string();
        expect(':');
        obj.set(key, value(depth + 1));
        if (peek() == ',') { ++i; continue; }
        expect('}');
        return obj;
      }
    }
    if (c == '[') {
      ++i;
      Json arr = Json::array();
      if (peek() == ']') { ++i; return arr; }
      while (true) {
        arr.push(value(depth + 1));
        if (peek() == ',') { ++i; continue; }
        expect(']');
        return arr;
      }
    }
    if (c == '"') return Json(string());
    if (literal("true")) return Json(true);
    if (literal("false")) return Json(false);
    if (literal("null")) return Json();
    return number();
  }

  Json number() {
    size_t start = i;
    if (i < s.size() && s[i] == '-') ++i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                            s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
      ++i;
    double x = 0;
    auto [end, ec] = std::from_chars(s.data() + start, s.data() + i, x);
    if (start == i || ec != std::errc() || end != s.data() + i) {
      i = start;
      error("expected a value");
    }
    return Json(x);
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  uint32_t hex4() {
    if (i + 4 > s.size()) error("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s[i++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else error("bad \\u escape");
    }
    return v;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i >= s.size()) error("unterminated string");
      char c = s[i++];
      if (c == '"') return out;
      if (c != '\\') { out += c; continue; }
      if (i >= s.size()) error("unterminated escape");
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s.compare(i, 2, "\\u") == 0) {  // surrogate pair
            i += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: error(cat("bad escape \\", e));
      }
    }
  }
};

void dump_to(const Json& j, std::string& out) {
  switch (j.kind()) {
    case Json::Kind::null: out += "null"; break;
    case Json::Kind::boolean: out += j.as_bool() ? "true" : "false"; break;
    case Json::Kind::number: {
      double x = j.as_number();
      if (!std::isfinite(x)) { out += "null"; break; }  // JSON has no NaN/Inf
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
      out.append(buf, end);
      break;
    }
    case Json::Kind::string: out += json_quote(j.as_string()); break;
    case Json::Kind::array: {
      out += '[';
      bool first = true;
      for (const Json& v : j.items()) {
        if (!first) out += ',';
        first = false;
        dump_to(v, out);
      }
      out += ']';
      break;
    }
    case Json::Kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : j.members()) {
        if (!first) out += ',';
        first = false;
        out += json_quote(k);
        out += ':';
        dump_to(v, out);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

Json Json::parse(const std::string& text, const std::string& what) {
  Parser p{text, what};
  Json v = p.value(0);
  p.skip_ws();
  if (p.i != text.size()) p.error("trailing characters");
  return v;
}

std::string Json::dump() const {
  std::string out;
  dump_to(*this, out);
  return out;
}

bool Json::as_bool(const std::string& what) const {
  MN_CHECK(kind_ == Kind::boolean, what, ": expected a boolean, found ", kind_name(kind_));
  return bool_;
}
double Json::as_number(const std::string& what) const {
  MN_CHECK(kind_ == Kind::number, what, ": expected a number, found ", kind_name(kind_));
  return number_;
}
int64_t Json::as_int(const std::string& what) const {
  double x = as_number(what);
  MN_CHECK(x == std::floor(x) && std::fabs(x) <= 9007199254740992.0, what,
           ": expected an integer, found ", x);
  return static_cast<int64_t>(x);
}
const std::string& Json::as_string(const std::string& what) const {
  MN_CHECK(kind_ == Kind::string, what, ": expected a string, found ", kind_name(kind_));
  return string_;
}
const std::vector<Json>& Json::items(const std::string& what) const {
  MN_CHECK(kind_ == Kind::array, what, ": expected an array, found ", kind_name(kind_));
  return array_;
}
const std::vector<std::pair<std::string, Json>>& Json::members(const std::string& what) const {
  MN_CHECK(kind_ == Kind::object, what, ": expected an object, found ", kind_name(kind_));
  return object_;
}

Json& Json::push(Json v) {
  MN_CHECK(kind_ == Kind::array, "json: push on ", kind_name(kind_));
  array_.push_back(std::move(v));
  return array_.back();
}
size_t Json::size() const {
  if (kind_ == Kind::array) return array_.size();
  if (kind_ == Kind::object) return object_.size();
  return 0;
}
Json& Json::set(const std::string& key, Json v) {
  MN_CHECK(kind_ == Kind::object, "json: set '", key, "' on ", kind_name(kind_));
  for (auto& [k, old] : object_)
    if (k == key) return old = std::move(v);
  object_.emplace_back(key, std::move(v));
  return object_.back().second;
}
const Json* Json::find(const std::string& key) const {
  if (kind_ != Kind::object) return nullptr;
  for (const auto& [k, v] : object_)
    if (k == key) return &v;
  return nullptr;
}
const Json& Json::at(const std::string& key) const {
  const Json* v = find(key);
  MN_CHECK(v != nullptr, "json: missing key '", key, "'");
  return *v;
}

}  // namespace mn
