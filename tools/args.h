// The one command-line parser of `mn`: each command declares its positionals and options once, in
// a Spec; the parser, the usage text of `mn CMD --help` and the listing of `mn --help` all read it.
//
//   const Spec kSpec{"bench train", "times the MutualNet step",
//                    {positional("CONFIG", "the experiment's config"),
//                     option("--steps", "N", "timed steps", "20"),
//                     repeated("--set", "key=value", "overrides a config key")}};
//   const Args args(kSpec, argc, argv);  // throws mn::Error, or HelpRequested on -h/--help
//   int64_t steps = args.integer("--steps");
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mn::cli {

struct Arg {
  std::string name;      // "--steps" for an option, "CONFIG" for a positional
  std::string value;     // an option's value as the usage shows it ("N", "key=value"); empty: a switch
  std::string help;      // one line
  std::string fallback;  // the value when not given
  bool required = false;
  bool repeated = false;
};

Arg positional(std::string name, std::string help);
Arg optional_positional(std::string name, std::string help);
Arg positionals(std::string name, std::string help);  // one or more; takes every positional left (declare it last)
Arg option(std::string name, std::string value, std::string help, std::string fallback = "");
Arg required_option(std::string name, std::string value, std::string help);
Arg repeated(std::string name, std::string value, std::string help);  // given any number of times
Arg flag(std::string name, std::string help);                         // --name alone, no value

struct Spec {
  std::string name;     // as typed after `mn`: "train", "bench train"
  std::string summary;  // one line: what the command does
  std::vector<Arg> args;
};

// Thrown by the parser on -h or --help; mn.cpp answers it with usage(spec) on stdout, exit 0.
struct HelpRequested {};

class Args {
 public:
  Args(const Spec& spec, int argc, char** argv);

  std::string get(const std::string& name) const;  // the last value given, else the fallback
  bool has(const std::string& name) const;         // given on the command line (a switch: set)
  std::vector<std::string> all(const std::string& name) const;  // every value, in order
  int64_t integer(const std::string& name) const;  // get(name), which must be an integer
  double number(const std::string& name) const;    // get(name), which must be a number
  // For checks a declaration cannot express: "MESSAGE (see mn CMD --help)" as an mn::Error.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Arg& declared(const std::string& name) const;

  const Spec& spec_;
  std::map<std::string, std::vector<std::string>> given_;
};

// "mn NAME ARG...", wrapped to 100 columns for text that starts at `column` (continuation lines
// indented under the first ARG).
std::string synopsis(const Spec& spec, size_t column = 0);
// `mn CMD --help`: synopsis, summary, then one line per argument.
std::string usage(const Spec& spec);
// The candidate closest to `word` in edit distance, or "" when none is close enough to be a typo.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace mn::cli
