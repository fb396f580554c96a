// A small JSON value for the files a run writes and reads back: safetensors headers,
// trainer.json, metrics.jsonl lines, sweep.json. Objects keep their keys in insertion order so
// the files read the way they were written.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mn {

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : kind_(Kind::boolean), bool_(b) {}
  Json(double x) : kind_(Kind::number), number_(x) {}
  Json(int x) : Json(static_cast<double>(x)) {}
  Json(int64_t x) : Json(static_cast<double>(x)) {}
  Json(uint64_t x) : Json(static_cast<double>(x)) {}
  Json(const char* s) : kind_(Kind::string), string_(s) {}
  Json(std::string s) : kind_(Kind::string), string_(std::move(s)) {}
  static Json array() { Json j; j.kind_ = Kind::array; return j; }
  // Members in order: Json::object({{"kind", "train"}, {"step", step}}).
  static Json object(std::initializer_list<std::pair<std::string, Json>> members = {}) {
    Json j;
    j.kind_ = Kind::object;
    j.object_.assign(members.begin(), members.end());
    return j;
  }

  // what names the file or field in error messages ("runs/x/trainer.json").
  static Json parse(const std::string& text, const std::string& what);
  std::string dump() const;  // compact, one line; numbers in shortest round-trip form

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_object() const { return kind_ == Kind::object; }

  // Typed reads; each throws an mn::Error naming `what` (the key path) on a kind mismatch.
  bool as_bool(const std::string& what = "value") const;
  double as_number(const std::string& what = "value") const;
  int64_t as_int(const std::string& what = "value") const;  // must be an exact integer
  const std::string& as_string(const std::string& what = "value") const;
  const std::vector<Json>& items(const std::string& what = "value") const;
  const std::vector<std::pair<std::string, Json>>& members(const std::string& what = "value") const;

  // Arrays.
  Json& push(Json v);
  size_t size() const;
  // Objects: set replaces an existing key; at() throws naming the missing key; find() may be null.
  Json& set(const std::string& key, Json v);
  const Json& at(const std::string& key) const;
  const Json* find(const std::string& key) const;

 private:
  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::vector<std::pair<std::string, Json>> object_;
};

std::string json_quote(const std::string& s);  // "..." with JSON escapes

}  // namespace mn
