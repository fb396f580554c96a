// JSON: exact dumps, round trips, escapes, and malformed text named in errors.
#include <doctest/doctest.h>

#include "io/json.h"
#include "tests/common/test_util.h"

using namespace mn;
using test::error_of;

TEST_CASE("json: objects keep insertion order and dump compactly") {
  Json j = Json::object();
  j.set("step", int64_t{1200});
  j.set("lr", 0.1);
  j.set("name", "wrn\"10\"");
  Json list = Json::array();
  list.push(true);
  list.push(Json());
  list.push(-2.5e-7);
  j.set("list", list);
  j.set("step", int64_t{1201});  // replaces, keeps the position
  CHECK(j.dump() == R"({"step":1201,"lr":0.1,"name":"wrn\"10\"","list":[true,null,-2.5e-07]})");
}

TEST_CASE("json: parse reads back what dump wrote, numbers to the last bit") {
  Json j = Json::object();
  j.set("third", 1.0 / 3.0);
  j.set("big", int64_t{9007199254740992});
  j.set("text", "tab\there, newline\n, control \x01, unicode \xc3\xa9");
  Json back = Json::parse(j.dump(), "test");
  CHECK(back.at("third").as_number() == 1.0 / 3.0);
  CHECK(back.at("big").as_int() == 9007199254740992);
  CHECK(back.at("text").as_string() == j.at("text").as_string());
  CHECK(back.dump() == j.dump());
}

TEST_CASE("json: \\u escapes, surrogate pairs and whitespace") {
  Json j = Json::parse(" { \"a\" : [ \"\\u00e9\\ud83d\\ude00\\/\" ] }\r\n", "test");
  CHECK(j.at("a").items()[0].as_string() == "\xc3\xa9\xf0\x9f\x98\x80/");
}

TEST_CASE("json: malformed text and wrong kinds are errors naming the source") {
  CHECK(error_of([] { Json::parse("{\"a\":1,}", "runs/x/trainer.json"); }) ==
        "runs/x/trainer.json: invalid JSON at byte 7: expected a key string");
  CHECK(error_of([] { Json::parse("[1, 2", "f"); }) == "f: invalid JSON at byte 5: unexpected end");
  CHECK(error_of([] { Json::parse("{} x", "f"); }) == "f: invalid JSON at byte 3: trailing characters");
  CHECK(error_of([] { Json::parse("\"abc", "f"); }) == "f: invalid JSON at byte 4: unterminated string");
  CHECK(error_of([] { Json::parse("\"\\ud83d\\u0041\"", "f"); }) ==
        "f: invalid JSON at byte 13: bad surrogate pair");
  CHECK(error_of([] { Json::parse("1e", "f"); }) == "f: invalid JSON at byte 0: expected a value");
  CHECK(error_of([] { Json::parse(std::string(100, '['), "f"); }) ==
        "f: invalid JSON at byte 65: nesting deeper than 64");
  const Json j = Json::parse("{\"step\": 1.5}", "f");
  CHECK(error_of([&] { j.at("step").as_int("trainer.json: step"); }) ==
        "trainer.json: step: expected an integer, found 1.5");
  CHECK(error_of([&] { j.at("epoch"); }) == "json: missing key 'epoch'");
  CHECK(error_of([&] { j.at("step").as_string("s"); }) == "s: expected a string, found a number");
}

TEST_CASE("json: an object from an initializer list keeps the members' order and kinds") {
  const Json j = Json::object({{"kind", "val"}, {"step", int64_t{3}}, {"top1", 88.5}, {"ok", true}});
  CHECK(j.dump() == R"({"kind":"val","step":3,"top1":88.5,"ok":true})");
}
