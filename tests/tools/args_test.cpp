// The command-line parser of tools/args.h: every kind of argument, the generated usage text, and
// the exact one-line errors.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/common/test_util.h"
#include "tools/args.h"

using namespace mn;
using namespace mn::cli;
using test::error_of;

namespace {

const Spec kDemo{"demo run",
                 "Runs a demo.",
                 {positional("IN", "the input"),
                  optional_positional("OUT", "the output"),
                  required_option("--width", "W", "a width"),
                  option("--steps", "N", "steps", "20"),
                  repeated("--set", "key=value", "overrides a key"),
                  flag("--fast", "skips the slow part")}};

Args parse(std::vector<std::string> words) {
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return Args(kDemo, static_cast<int>(argv.size()), argv.data());
}

std::string parse_error(const std::vector<std::string>& words) {
  return error_of([&] { parse(words); });
}

}  // namespace

TEST_CASE("args: positionals, options, repeated options and switches") {
  const Args a = parse({"in.txt", "--width", "0.5", "--set", "a=1", "--steps", "7", "--fast", "--set", "b=2", "out"});
  CHECK(a.get("IN") == "in.txt");
  CHECK(a.get("OUT") == "out");
  CHECK(a.number("--width") == 0.5);
  CHECK(a.integer("--steps") == 7);
  CHECK(a.all("--set") == std::vector<std::string>{"a=1", "b=2"});
  CHECK(a.has("--fast"));
}

TEST_CASE("args: a repeated positional takes every positional left") {
  const Spec spec{"demo", "Demo.", {positional("RUN", "a run"), positionals("IMAGE", "images"), option("--k", "K", "k", "5")}};
  std::vector<std::string> words = {"run", "a.jpg", "--k", "3", "b.jpg", "c.jpg"};
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  const Args a(spec, static_cast<int>(argv.size()), argv.data());
  CHECK(a.get("RUN") == "run");
  CHECK(a.all("IMAGE") == std::vector<std::string>{"a.jpg", "b.jpg", "c.jpg"});
  CHECK(a.integer("--k") == 3);
  CHECK(synopsis(spec) == "mn demo RUN IMAGE... [--k K]");
  CHECK(error_of([&] { Args(spec, 1, argv.data()); }) == "missing IMAGE (see mn demo --help)");
}

TEST_CASE("args: what is not given has its fallback") {
  const Args a = parse({"in", "--width", "1"});
  CHECK(a.get("OUT") == "");
  CHECK(!a.has("--steps"));
  CHECK(a.integer("--steps") == 20);
  CHECK(a.all("--set").empty());
  CHECK(!a.has("--fast"));
}

TEST_CASE("args: --name=value, and the last of an option given twice") {
  const Args a = parse({"--width=0.25", "--set=k=v", "in", "--steps", "1", "--steps=2", "--set", "x="});
  CHECK(a.get("--width") == "0.25");
  CHECK(a.all("--set") == std::vector<std::string>{"k=v", "x="});
  CHECK(a.get("--steps") == "2");
}

TEST_CASE("args: -h and --help anywhere before an error ask for help, whatever is missing") {
  CHECK_THROWS_AS(parse({"--help"}), HelpRequested);
  CHECK_THROWS_AS(parse({"-h"}), HelpRequested);
  CHECK_THROWS_AS(parse({"in", "--steps", "3", "--help", "--bogus"}), HelpRequested);
  CHECK(parse({"in", "--width", "1", "--set", "-h"}).all("--set") == std::vector<std::string>{"-h"});
}

TEST_CASE("args: one-line errors that point at --help") {
  CHECK(parse_error({"in", "--width", "1", "--stpes", "3"}) ==
        "unknown option '--stpes'; did you mean --steps? (see mn demo run --help)");
  CHECK(parse_error({"in", "--bogus=3"}) == "unknown option '--bogus' (see mn demo run --help)");
  CHECK(parse_error({"in", "--width"}) == "--width needs a value: --width W (see mn demo run --help)");
  CHECK(parse_error({"in", "--width", "--fast"}) == "--width needs a value: --width W (see mn demo run --help)");
  CHECK(parse_error({"in", "--width", "1", "--fast=yes"}) == "--fast takes no value (see mn demo run --help)");
  CHECK(parse_error({"--width", "1"}) == "missing IN (see mn demo run --help)");
  CHECK(parse_error({"in"}) == "missing --width W (see mn demo run --help)");
  CHECK(parse_error({"in", "out", "extra", "--width", "1"}) == "unexpected argument 'extra' (see mn demo run --help)");
  CHECK(error_of([] { parse({"in", "--width", "1", "--steps", "abc"}).integer("--steps"); }) ==
        "--steps: 'abc' is not an integer (see mn demo run --help)");
  CHECK(error_of([] { parse({"in", "--width", "1", "--steps", "2.5"}).integer("--steps"); }) ==
        "--steps: '2.5' is not an integer (see mn demo run --help)");
  CHECK(error_of([] { parse({"in", "--width", "1e"}).number("--width"); }) ==
        "--width: '1e' is not a number (see mn demo run --help)");
  CHECK(error_of([] { parse({"in", "--width", "1"}).fail("give OUT or --fast"); }) ==
        "give OUT or --fast (see mn demo run --help)");
  CHECK(error_of([] { parse({"in", "--width", "1"}).get("--nope"); }) == "mn demo run does not declare '--nope'");
}

TEST_CASE("args: the usage text is generated from the declaration") {
  CHECK(synopsis(kDemo) == "mn demo run IN [OUT] --width W [--steps N] [--set key=value]... [--fast]");
  CHECK(usage(kDemo) == R"(usage: mn demo run IN [OUT] --width W [--steps N] [--set key=value]... [--fast]

Runs a demo.

  IN               the input
  OUT              the output
  --width W        a width
  --steps N        steps (default: 20)
  --set key=value  overrides a key
  --fast           skips the slow part
  -h, --help       prints this help
)");
}

TEST_CASE("args: a long synopsis wraps before column 100, under its first argument") {
  Spec wide{"wide", "", {}};
  for (int i = 0; i < 10; ++i) wide.args.push_back(option(cat("--a", i), "VALUE", ""));
  CHECK(synopsis(wide) ==
        "mn wide [--a0 VALUE] [--a1 VALUE] [--a2 VALUE] [--a3 VALUE] [--a4 VALUE] [--a5 VALUE] [--a6 VALUE]\n"
        "        [--a7 VALUE] [--a8 VALUE] [--a9 VALUE]");
  CHECK(synopsis(wide, 7).find("[--a5 VALUE]\n               [--a6 VALUE]") != std::string::npos);
}

TEST_CASE("args: nearest suggests only what looks like a typo") {
  CHECK(nearest("trian", {"train", "eval", "sweep"}) == "train");
  CHECK(nearest("--resolution", {"--resolutions", "--widths"}) == "--resolutions");
  CHECK(nearest("xyz", {"train", "eval"}) == "");
}
