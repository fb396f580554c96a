// Config loading: TOML++ parses, the schema in config_fields() validates and fills the struct.
#include "mutualnet/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "io/files.h"
#include "tensor/error.h"

namespace mn {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

ConfigField num(std::string key, int64_t* t, double lo, double hi, std::string help) {
  ConfigField f;
  f.key = std::move(key), f.target = t;
  f.lo = lo, f.hi = hi, f.help = std::move(help);
  return f;
}
ConfigField num(std::string key, double* t, double lo, double hi, std::string help) {
  ConfigField f;
  f.key = std::move(key), f.target = t;
  f.lo = lo, f.hi = hi, f.help = std::move(help);
  return f;
}
ConfigField flag(std::string key, bool* t, std::string help) {
  ConfigField f;
  f.key = std::move(key), f.target = t;
  f.help = std::move(help);
  return f;
}
ConfigField text(std::string key, std::string* t, std::string help) {
  ConfigField f;
  f.key = std::move(key), f.target = t;
  f.help = std::move(help);
  return f;
}
// An enum key: `names` lists every allowed string with the value it parses to.
template <class E>
ConfigField choice(std::string key, E* t, std::vector<std::pair<std::string, E>> names, std::string help) {
  ConfigField f;
  f.key = std::move(key);
  for (const auto& [name, value] : names) f.choices.push_back(name);
  f.target = ChoiceTarget{[t, names] {
                            for (size_t i = 0; i < names.size(); ++i)
                              if (names[i].second == *t) return i;
                            fail("config: ", int(*t), " has no name");  // a value no name maps to
                          },
                          [t, names](size_t i) { *t = names.at(i).second; }};
  f.help = std::move(help);
  return f;
}
template <class T>
ConfigField list(std::string key, std::vector<T>* t, double lo, double hi, size_t min_items,
                 size_t max_items, std::string help) {
  ConfigField f;
  f.key = std::move(key), f.target = t;
  f.lo = lo, f.hi = hi, f.min_items = min_items, f.max_items = max_items, f.help = std::move(help);
  return f;
}
ConfigField not_result(ConfigField f) {
  f.affects_results = false;
  return f;
}

}  // namespace

const char* loss_name(LossKind k) { return k == LossKind::kl ? "kl" : "cross_entropy"; }

namespace {

// The run (name, device, seed) and the network.
std::vector<ConfigField> run_and_model_fields(Config& c) {
  using models::Arch;
  return {
      not_result(text("name", &c.name, "run directory runs/<name> (default: the config file's stem)")),
      not_result(choice("device", &c.device, {{"auto", DevicePolicy::automatic}, {"cpu", DevicePolicy::cpu}, {"cuda", DevicePolicy::cuda}},
                        "auto = cuda when a GPU is present")),
      choice("precision", &c.precision, {{"auto", PrecisionPolicy::automatic}, {"fp32", PrecisionPolicy::fp32},
             {"tf32", PrecisionPolicy::tf32}, {"bf16", PrecisionPolicy::bf16}},
             "auto = bf16 on CUDA (compute capability 8.0+, else tf32), fp32 on the CPU; bf16 = bfloat16 convs and matmuls with float32 sums (on CUDA, bfloat16 activations too)"),
      not_result(choice("memory_format", &c.memory_format, {{"auto", MemoryFormatPolicy::automatic},
                        {"nchw", MemoryFormatPolicy::nchw}, {"nhwc", MemoryFormatPolicy::nhwc}},
                        "layout of activations: auto = nhwc (channels-last, cuDNN's native layout) on CUDA, nchw on the CPU (nchw only)")),
      num("seed", &c.seed, 0, 9.2e18, "seeds initialisation, data order, augmentation and width sampling"),

      choice("model.arch", &c.model.arch, {{"wrn", Arch::wrn}, {"mobilenet_v1", Arch::mobilenet_v1},
             {"mobilenet_v2", Arch::mobilenet_v2}, {"resnet50", Arch::resnet50}}, "network family"),
      num("model.depth", &c.model.depth, 10, 1000, "WRN depth, 6n + 4"),
      num("model.widen", &c.model.widen, 1, 64, "WRN widen factor"),
      num("model.num_classes", &c.model.num_classes, 2, 100000, "classifier outputs"),
      num("model.in_channels", &c.model.in_channels, 1, 4, "image channels"),
      num("model.dropout", &c.model.dropout, 0, 0.99, "dropout probability where the model has dropout"),
      num("model.base_width", &c.model.base_width, 0.01, 1, "mn export: width 1.0 is this width of the network it was cut from"),
  };
}

// The dataset, its loaders and the augmentation.
std::vector<ConfigField> data_fields(Config& c) {
  return {
      choice("data.dataset", &c.data.dataset, {{"fashion_mnist", DatasetKind::fashion_mnist}, {"mnist", DatasetKind::mnist},
             {"cifar10", DatasetKind::cifar10}, {"cifar100", DatasetKind::cifar100}, {"folder", DatasetKind::folder}},
             "dataset format"),
      not_result(text("data.root", &c.data.root, "dataset directory")),
      list("data.resolutions", &c.data.resolutions, 4, 4096, 1, 16, "input sizes, largest first: R0 and its downscales"),
      list("data.mean", &c.data.mean, -10, 10, 1, 4, "per-channel mean of [0, 1] pixels"),
      list("data.std", &c.data.std, 1e-6, 10, 1, 4, "per-channel std of [0, 1] pixels"),
      num("data.train_limit", &c.data.train_limit, 0, 1e12, "use the first N training images (0 = all)"),
      num("data.test_limit", &c.data.test_limit, 0, 1e12, "evaluate on the first N test images (0 = all)"),
      not_result(num("data.workers", &c.data.workers, 0, 256, "loader threads (0 = one per core)")),
      flag("data.antialias", &c.data.antialias, "antialiased downscales instead of plain bilinear"),
      choice("data.on_bad_image", &c.data.on_bad_image, {{"fail", data::OnBadImage::fail}, {"skip", data::OnBadImage::skip}},
             "a corrupt image stops the run or is skipped"),
      not_result(choice("data.device_input", &c.data.device_input, {{"auto", DeviceInput::automatic},
                        {"on", DeviceInput::on}, {"off", DeviceInput::off}},
                        "training batches finished on the device (auto: on CUDA): built there for in-memory datasets with crop/flip/normalize transforms, else downscaled there")),

      choice("augment.crop", &c.augment.crop, {{"pad_crop", CropKind::pad_crop},
             {"random_resized_crop", CropKind::random_resized_crop}, {"none", CropKind::none}}, "training crop"),
      num("augment.pad", &c.augment.pad, 0, 64, "pad_crop: pixels padded on each side"),
      choice("augment.pad_mode", &c.augment.pad_mode, {{"reflect", data::PadMode::reflect}, {"zero", data::PadMode::zero}},
             "pad_crop: padding mode"),
      list("augment.scale", &c.augment.scale, 1e-3, 1, 2, 2, "random_resized_crop: [min, max] area fraction"),
      list("augment.ratio", &c.augment.ratio, 0.05, 20, 2, 2, "random_resized_crop: [min, max] aspect ratio"),
      flag("augment.flip", &c.augment.flip, "random horizontal flip"),
      num("augment.color_jitter", &c.augment.color_jitter, 0, 1, "brightness, contrast and saturation jitter"),
      num("augment.lighting", &c.augment.lighting, 0, 1, "PCA lighting noise std"),
      num("augment.eval_resize", &c.augment.eval_resize, 0, 8192, "evaluation: resize the shorter side to this, then centre-crop R0 (0 = off)"),
  };
}

// MutualNet's sub-network sampling, the optimizer and schedule, training and the sweep.
std::vector<ConfigField> training_fields(Config& c) {
  using Schedule = nn::LrSchedule::Kind;
  return {
      num("mutualnet.width_min", &c.mutualnet.width_min, 0.01, 1, "narrowest width multiplier"),
      num("mutualnet.width_max", &c.mutualnet.width_max, 0.01, 1, "widest width multiplier"),
      num("mutualnet.divisor", &c.mutualnet.divisor, 1, 64, "channel counts are multiples of this"),
      num("mutualnet.num_random_widths", &c.mutualnet.num_random_widths, 0, 16, "random widths per step besides min and max"),
      flag("mutualnet.distill", &c.mutualnet.distill, "sub-networks learn from the widest network's output (false: from labels)"),
      flag("mutualnet.random_resolution", &c.mutualnet.random_resolution, "sub-networks draw a resolution (false: all use R0)"),
      choice("mutualnet.max_loss", &c.mutualnet.max_loss, {{"cross_entropy", LossKind::cross_entropy}}, "loss of the widest network"),
      num("mutualnet.label_smoothing", &c.mutualnet.label_smoothing, 0, 0.99, "label smoothing of the widest network's cross-entropy"),

      num("optim.lr", &c.optim.lr, 0, 100, "peak learning rate"),
      num("optim.momentum", &c.optim.momentum, 0, 0.999, "SGD momentum"),
      flag("optim.nesterov", &c.optim.nesterov, "Nesterov momentum"),
      num("optim.weight_decay", &c.optim.weight_decay, 0, 1, "L2 weight decay"),
      flag("optim.no_decay_bn_depthwise", &c.optim.no_decay_bn_depthwise, "weight decay only on conv (not depthwise) and linear weights: none on BN, biases, depthwise convs"),
      choice("optim.schedule", &c.optim.schedule, {{"cosine", Schedule::cosine}, {"step", Schedule::step},
             {"constant", Schedule::constant}}, "learning-rate schedule, stepped per iteration"),
      num("optim.warmup_epochs", &c.optim.warmup_epochs, 0, 1000, "linear warm-up length"),
      list("optim.milestones", &c.optim.milestones, 1, 1e6, 0, 16, "step schedule: epochs where lr *= gamma"),
      num("optim.gamma", &c.optim.gamma, 0, 1, "step schedule factor"),

      num("train.epochs", &c.train.epochs, 1, 100000, "passes over the training set"),
      num("train.batch_size", &c.train.batch_size, 1, 65536, "images per step"),
      not_result(num("train.log_every", &c.train.log_every, 1, 1e9, "steps between metrics lines")),
      not_result(num("train.checkpoint_every", &c.train.checkpoint_every, 0, 1e9,
                     "steps between checkpoints of last/ within an epoch (0 = at epoch ends only)")),
      num("train.bn_calib_batches", &c.train.bn_calib_batches, 0, 10000, "training batches that recalibrate BN before an evaluation (0 = use the stored statistics, as mn export writes)"),
      not_result(num("train.eval_batch_size", &c.train.eval_batch_size, 1, 65536, "images per evaluation batch")),
      not_result(flag("train.validate", &c.train.validate, "BN-recalibrated validation after every epoch")),
      flag("train.sync_bn", &c.train.sync_bn, "several processes: batch norm statistics over the global batch, as one process (false: each process's share, as DDP's default)"),
      not_result(num("train.grad_bucket_mb", &c.train.grad_bucket_mb, 0.001, 1024, "several processes: MiB of gradients per all-reduce, each started as soon as its gradients are final in the last backward")),

      not_result(list("sweep.widths", &c.sweep.widths, 0.01, 1, 1, 1000, "widths of the sweep grid")),
      not_result(list("sweep.resolutions", &c.sweep.resolutions, 4, 4096, 0, 64, "resolutions of the sweep grid (empty: data.resolutions)")),
  };
}

}  // namespace

std::vector<ConfigField> config_fields(Config& c) {
  std::vector<ConfigField> fields = run_and_model_fields(c);
  for (auto* part : {data_fields, training_fields}) {
    std::vector<ConfigField> more = part(c);
    fields.insert(fields.end(), more.begin(), more.end());
  }
  return fields;
}

namespace {

std::string number_text(double x) {
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (std::isnan(x)) return "nan";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  std::string s(buf, end);
  // TOML reads "1" as an integer: keep floats recognisable.
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (ch == '\n') { out += "\\n"; continue; }
    out += ch;
  }
  return out + "\"";
}

// What a field's target holds, for dispatching on its type: pointers point at the value, a
// ChoiceTarget stands for itself.
template <class T>
T* target_of(T* p) { return p; }
const ChoiceTarget* target_of(const ChoiceTarget& c) { return &c; }

std::string value_text(const ConfigField& f) {
  return std::visit(
      [&](const auto& p) -> std::string {
        using T = std::remove_cvref_t<decltype(*target_of(p))>;
        if constexpr (std::is_same_v<T, int64_t>) return std::to_string(*p);
        else if constexpr (std::is_same_v<T, double>) return number_text(*p);
        else if constexpr (std::is_same_v<T, bool>) return *p ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return quote(*p);
        else if constexpr (std::is_same_v<T, ChoiceTarget>) return quote(f.choices[p.get()]);
        else {
          std::string s = "[";
          for (size_t i = 0; i < p->size(); ++i) {
            if (i) s += ", ";
            if constexpr (std::is_same_v<T, std::vector<int64_t>>) s += std::to_string((*p)[i]);
            else s += number_text((*p)[i]);
          }
          return s + "]";
        }
      },
      f.target);
}

// A TOML node as the user wrote it, for error messages.
std::string node_text(const toml::node& n) {
  if (auto v = n.as_string()) return quote(v->get());
  if (auto v = n.as_integer()) return std::to_string(v->get());
  if (auto v = n.as_floating_point()) return number_text(v->get());
  if (auto v = n.as_boolean()) return v->get() ? "true" : "false";
  if (auto a = n.as_array()) {
    std::string s = "[";
    for (size_t i = 0; i < a->size(); ++i) s += (i ? ", " : "") + node_text(*a->get(i));
    return s + "]";
  }
  if (n.is_table()) return "{...}";
  std::ostringstream os;
  os << n.type();
  return os.str();
}

std::string kind_text(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
  }
}

std::string bound_text(double x) {
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os << x;
  return os.str();
}

std::string allowed_text(const ConfigField& f) {
  std::string range = " in [" + bound_text(f.lo) + ", " + bound_text(f.hi) + "]";
  return std::visit(
      [&](const auto& p) -> std::string {
        using T = std::remove_cvref_t<decltype(*target_of(p))>;
        if constexpr (std::is_same_v<T, int64_t>) return "an integer" + range;
        else if constexpr (std::is_same_v<T, double>) return "a number" + range;
        else if constexpr (std::is_same_v<T, bool>) return "true or false";
        else if constexpr (std::is_same_v<T, std::string>) return "a string";
        else if constexpr (std::is_same_v<T, ChoiceTarget>) {
          std::string s = "one of ";
          for (size_t i = 0; i < f.choices.size(); ++i) s += (i ? ", " : "") + quote(f.choices[i]);
          return s;
        } else {
          std::string count = f.min_items == f.max_items
                                  ? std::to_string(f.min_items)
                                  : std::to_string(f.min_items) + " to " + std::to_string(f.max_items);
          const char* what = std::is_same_v<T, std::vector<int64_t>> ? " integers" : " numbers";
          return "a list of " + count + what + range;
        }
      },
      f.target);
}

std::string last_part(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

// The valid key closest to a misspelt one: by the whole dotted key, or by its last part alone
// (so "epochs" at the top level finds "train.epochs").
std::string nearest_key(const std::string& key, const std::vector<std::string>& valid) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& v : valid) {
    size_t d = std::min(edit_distance(key, v), edit_distance(last_part(key), last_part(v)) + 1);
    if (d < best_d) best_d = d, best = v;
  }
  return best;
}

struct Schema {
  std::vector<ConfigField> fields;
  std::vector<std::string> sections;

  explicit Schema(Config& c) : fields(config_fields(c)) {
    for (const auto& f : fields) {
      size_t dot = f.key.find('.');
      if (dot != std::string::npos) {
        std::string s = f.key.substr(0, dot);
        if (std::find(sections.begin(), sections.end(), s) == sections.end()) sections.push_back(s);
      }
    }
  }
  const ConfigField* find(const std::string& key) const {
    for (const auto& f : fields)
      if (f.key == key) return &f;
    return nullptr;
  }
  bool is_section(const std::string& key) const {
    return std::find(sections.begin(), sections.end(), key) != sections.end();
  }
  [[noreturn]] void unknown(const std::string& key, const std::string& where) const {
    std::vector<std::string> valid = sections;
    for (const auto& f : fields) valid.push_back(f.key);
    fail(where, ": unknown key '", key, "'; did you mean '", nearest_key(key, valid), "'?");
  }
};

std::string where_of(const std::string& source, const toml::source_region& r) {
  if (r.begin.line == 0) return source;
  return source + ":" + std::to_string(r.begin.line);
}

[[noreturn]] void bad_value(const ConfigField& f, const toml::node& n, const std::string& where,
                            const std::string& why) {
  fail(where, ": ", f.key, " = ", node_text(n), " ", why, "; expected ", allowed_text(f));
}

// Checks one value against its field and stores it.
void assign(const ConfigField& f, const toml::node& n, const std::string& where) {
  auto bad = [&](const std::string& why) { bad_value(f, n, where, why); };
  auto in_range = [&](double x) { return std::isfinite(x) && x >= f.lo && x <= f.hi; };
  auto number_of = [&](const toml::node& e, bool integer) -> double {
    if (auto v = e.as_integer()) return static_cast<double>(v->get());
    if (auto v = e.as_floating_point(); v && !integer) return v->get();
    bad_value(f, n, where, "is " + kind_text(e));
  };
  std::visit(
      [&](const auto& p) {
        using T = std::remove_cvref_t<decltype(*target_of(p))>;
        if constexpr (std::is_same_v<T, int64_t>) {
          double x = number_of(n, true);
          if (!in_range(x)) bad("is out of range");
          *p = n.as_integer()->get();
        } else if constexpr (std::is_same_v<T, double>) {
          double x = number_of(n, false);
          if (!in_range(x)) bad("is out of range");
          *p = x;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!n.is_boolean()) bad("is " + kind_text(n));
          *p = n.as_boolean()->get();
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (!n.is_string()) bad("is " + kind_text(n));
          *p = n.as_string()->get();
        } else if constexpr (std::is_same_v<T, ChoiceTarget>) {
          if (!n.is_string()) bad("is " + kind_text(n));
          auto it = std::find(f.choices.begin(), f.choices.end(), n.as_string()->get());
          if (it == f.choices.end()) bad("is not allowed");
          p.set(size_t(it - f.choices.begin()));
        } else {
          const toml::array* a = n.as_array();
          if (!a) bad("is " + kind_text(n));
          if (a->size() < f.min_items || a->size() > f.max_items) bad("has " + std::to_string(a->size()) + " items");
          T out;
          constexpr bool integer = std::is_same_v<T, std::vector<int64_t>>;
          for (const toml::node& e : *a) {
            double x = number_of(e, integer);
            if (!in_range(x)) bad("has an item out of range (" + node_text(e) + ")");
            out.push_back(static_cast<typename T::value_type>(x));
          }
          *p = std::move(out);
        }
      },
      f.target);
}

void walk(const toml::table& t, const std::string& prefix, const Schema& schema,
          const std::string& source) {
  for (auto&& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    const std::string where = where_of(source, k.source().begin.line ? k.source() : v.source());
    if (v.is_table() && prefix.empty() && schema.is_section(key)) {
      walk(*v.as_table(), key, schema, source);
      continue;
    }
    const ConfigField* f = schema.find(key);
    if (!f) schema.unknown(key, where);
    assign(*f, v, where);
  }
}

// toml++ 3.3.0 (Debian 12's) reaches __builtin_unreachable on some non-ASCII characters where it
// looks for whitespace (found by tests/fuzz/config_fuzz.cpp; marzer/tomlplusplus#295, fixed after
// 3.3.0), so configs are ASCII: other characters are written as \uXXXX escapes in strings.
void check_ascii(const std::string& text, const std::string& source) {
  const auto bad = std::find_if(text.begin(), text.end(), [](char ch) { return static_cast<unsigned char>(ch) >= 0x80; });
  if (bad == text.end()) return;
  fail(source, ":", std::count(text.begin(), bad, '\n') + 1, ": non-ASCII byte 0x", std::hex,
       int(static_cast<unsigned char>(*bad)), std::dec, "; configs are ASCII (write other characters as \\uXXXX "
       "escapes in strings)");
}

void apply_override(const std::string& arg, const Schema& schema) {
  const std::string where = "--set " + arg;
  check_ascii(arg, "--set");
  size_t eq = arg.find('=');
  MN_CHECK(eq != std::string::npos && eq > 0, where, ": expected key=value (e.g. train.epochs=5)");
  const std::string key = arg.substr(0, eq), value = arg.substr(eq + 1);
  const ConfigField* f = schema.find(key);
  if (!f) schema.unknown(key, where);
  // Strings may be given bare (--set data.root=/data/cifar); everything else is a TOML value.
  const bool is_string = std::holds_alternative<std::string*>(f->target) ||
                         std::holds_alternative<ChoiceTarget>(f->target);
  const bool bare_string = is_string && (value.empty() || value.front() != '"');
  std::string doc = "v = ";
  doc += bare_string ? quote(value) : value;
  toml::table parsed;
  try {
    parsed = toml::parse(std::string_view(doc), std::string_view("--set"));
  } catch (const toml::parse_error& e) {
    fail(where, ": '", value, "' is not a value; expected ", allowed_text(*f));
  }
  assign(*f, *parsed.get("v"), where);
}

void check_consistency(const Config& c, const std::string& source) {
  auto bad = [&](const auto&... msg) { fail(source, ": ", msg...); };
  if (c.mutualnet.width_min > c.mutualnet.width_max)
    bad("mutualnet.width_min = ", c.mutualnet.width_min, " exceeds mutualnet.width_max = ", c.mutualnet.width_max);
  for (size_t i = 1; i < c.data.resolutions.size(); ++i)
    if (c.data.resolutions[i] >= c.data.resolutions[i - 1])
      bad("data.resolutions must be strictly decreasing (largest first), got ", c.data.resolutions[i - 1], " then ", c.data.resolutions[i]);
  if (static_cast<int64_t>(c.data.mean.size()) != c.model.in_channels || static_cast<int64_t>(c.data.std.size()) != c.model.in_channels)
    bad("data.mean and data.std need one value per channel (model.in_channels = ", c.model.in_channels, "), got ", c.data.mean.size(), " and ", c.data.std.size());
  if (c.model.arch == models::Arch::wrn && (c.model.depth - 4) % 6 != 0)
    bad("model.depth = ", c.model.depth, " is not 6n + 4 (WRN depths: 10, 16, 22, 28, 40, ...)");
  if (c.augment.eval_resize > 0 && c.augment.eval_resize < c.data.resolutions[0])
    bad("augment.eval_resize = ", c.augment.eval_resize, " is smaller than the centre crop data.resolutions[0] = ",
        c.data.resolutions[0], " (its border would be black)");
  if (c.augment.scale[0] > c.augment.scale[1]) bad("augment.scale must be [min, max]");
  if (c.augment.ratio[0] > c.augment.ratio[1]) bad("augment.ratio must be [min, max]");
  const std::string dataset = config_value(c, "data.dataset");
  const bool gray = c.data.dataset == DatasetKind::fashion_mnist || c.data.dataset == DatasetKind::mnist;
  const bool cifar = c.data.dataset == DatasetKind::cifar10 || c.data.dataset == DatasetKind::cifar100;
  if (gray && c.model.in_channels != 1) bad("data.dataset = ", dataset, " has 1 channel, model.in_channels = ", c.model.in_channels);
  if (cifar && c.model.in_channels != 3) bad("data.dataset = ", dataset, " has 3 channels, model.in_channels = ", c.model.in_channels);
  const int64_t classes = c.data.dataset == DatasetKind::cifar100 ? 100 : c.data.dataset == DatasetKind::folder ? 0 : 10;
  if (classes && c.model.num_classes != classes)
    bad("data.dataset = ", dataset, " has ", classes, " classes, model.num_classes = ", c.model.num_classes);
}

}  // namespace

Config parse_config(const std::string& text, const std::string& source,
                    const std::vector<std::string>& overrides) {
  Config c;
  Schema schema(c);
  toml::table root;
  check_ascii(text, source);
  try {
    root = toml::parse(std::string_view(text), std::string_view(source));
  } catch (const toml::parse_error& e) {
    fail(where_of(source, e.source()), ": ", e.description());
  }
  walk(root, "", schema, source);
  for (const std::string& o : overrides) apply_override(o, schema);
  if (c.name.empty()) c.name = std::filesystem::path(source).stem().string();
  check_consistency(c, source);
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  MN_CHECK(path_exists(path), "config ", path, " not found");
  return parse_config(read_file(path), path, overrides);
}

std::string config_to_toml(const Config& c) {
  Config copy = c;
  std::string out, section;
  for (const ConfigField& f : config_fields(copy)) {
    size_t dot = f.key.find('.');
    std::string s = dot == std::string::npos ? "" : f.key.substr(0, dot);
    if (s != section) {
      out += "\n[" + s + "]\n";
      section = s;
    }
    std::string line = last_part(f.key) + " = " + value_text(f);
    line.resize(std::max<size_t>(line.size() + 2, 36), ' ');
    out += line + "# " + f.help + "\n";
  }
  return out;
}

std::string config_hash(const Config& c) {
  Config copy = c;
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (const ConfigField& f : config_fields(copy)) {
    if (!f.affects_results) continue;
    for (char ch : f.key + "=" + value_text(f) + "\n") {
      h ^= static_cast<unsigned char>(ch);
      h *= 1099511628211ull;
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<std::string> config_diff(const Config& from, const Config& to) {
  Config a = from, b = to;
  std::vector<ConfigField> fa = config_fields(a), fb = config_fields(b);
  std::vector<std::string> out;
  for (size_t i = 0; i < fa.size(); ++i) {
    if (!fa[i].affects_results) continue;
    std::string va = value_text(fa[i]), vb = value_text(fb[i]);
    if (va != vb) out.push_back(fa[i].key + ": " + va + " -> " + vb);
  }
  return out;
}

std::string config_value(const Config& c, const std::string& key) {
  Config copy = c;
  for (const ConfigField& f : config_fields(copy))
    if (f.key == key) return value_text(f);
  fail("config: no key '", key, "'");
}

}  // namespace mn
