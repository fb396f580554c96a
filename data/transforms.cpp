// Transforms: each parameter struct gets an apply() on the per-sample State below; Pipeline::run
// visits them in order. 8-bit geometry first, then float color work written straight into the
// batch row the loader hands in.
#include "data/transforms.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "data/decode.h"

namespace mn::data {
namespace {

// Python's round(): half to even (std::nearbyint in the default rounding mode).
int py_round(double v) { return int(std::nearbyint(v)); }

// One sample in flight: undecoded bytes, then 8-bit pixels, then float (C, S, S) in `out`.
struct State {
  RawSample& raw;
  int channels;
  std::span<float> out;
  int out_size;
  bool is_float = false;
  // A horizontal flip of the 8-bit image not carried out yet: the float conversion reads the
  // columns mirrored instead, which costs nothing.
  bool mirrored = false;

  // The 8-bit image, decoding the file at full size if no transform asked for less.
  ImageU8& image() {
    if (raw.is_encoded()) {
      raw.image = decode_image(raw.encoded, channels, raw.name).image;
      raw.encoded.clear();
    }
    MN_CHECK(raw.image.channels == channels, raw.name, ": image has ", raw.image.channels,
             " channels, the dataset is configured for ", channels);
    if (mirrored) {
      ImageU8& img = raw.image;
      const int c = img.channels;
      for (int y = 0; y < img.height; ++y) {
        uint8_t* row = img.row(y);
        for (int a = 0, b = img.width - 1; a < b; ++a, --b)
          for (int k = 0; k < c; ++k) std::swap(row[a * c + k], row[b * c + k]);
      }
      mirrored = false;
    }
    return raw.image;
  }
  // For a transform that will shrink a box of the image: the image size without decoding yet.
  std::pair<int, int> size_before_decode() {
    if (!raw.is_encoded()) return {raw.image.height, raw.image.width};
    const ImageHeader h = read_image_header(raw.encoded, raw.name);
    return {h.height, h.width};
  }
  // Decodes the file at the cheapest scale that keeps min_scale of its resolution; returns the
  // scale actually used (1 if already decoded).
  double decode_at_least(double min_scale) {
    if (!raw.is_encoded()) return 1.0;
    DecodedImage d = decode_image(raw.encoded, channels, raw.name, min_scale);
    raw.image = std::move(d.image);
    raw.encoded.clear();
    return d.scale;
  }
  // Switches to float in [0, 1], (C, H, W) in `out` (ToTensor), followed by `normalize` when
  // given (the same float operations as a separate pass, fused into the lookup table).
  std::span<float> floats(const Normalize* normalize = nullptr) {
    if (is_float) return out;
    const bool mirror = mirrored;
    mirrored = false;  // read mirrored below instead of flipped in place by image()
    const ImageU8& img = image();
    MN_CHECK(img.height == out_size && img.width == out_size, raw.name, ": transforms produced a ",
             img.height, "x", img.width, " image, the batch holds ", out_size, "x", out_size,
             " (add a crop transform, or make its size match the largest resolution)");
    const int n = out_size;
    const uint8_t* p = img.pixels.data();
    for (int c = 0; c < channels; ++c) {
      const std::array<float, 256> table = byte_table(c, normalize);
      float* dst = out.data() + size_t(c) * n * n;
      for (int y = 0; y < n; ++y) {
        const uint8_t* row = p + size_t(y) * n * channels + c;
        float* o = dst + size_t(y) * n;
        if (mirror)
          for (int x = 0; x < n; ++x) o[x] = table[row[(n - 1 - x) * channels]];
        else
          for (int x = 0; x < n; ++x) o[x] = table[row[x * channels]];
      }
    }
    is_float = true;
    return out;
  }
  void require_u8(const char* what) const {
    MN_CHECK(!is_float, "pipeline: ", what, " must come before color_jitter, lighting and normalize");
  }
};

void apply(const RandomResizedCrop& t, State& s, Generator& rng) {
  s.require_u8("random_resized_crop");
  const auto [h, w] = s.size_before_decode();
  const CropBox box = random_resized_crop_box(h, w, t, rng);
  const double scale =
      s.decode_at_least(std::max(double(t.size) / box.width, double(t.size) / box.height));
  const Box scaled{box.left * scale, box.top * scale, box.width * scale, box.height * scale};
  s.raw.image = resize_u8(s.image(), scaled, t.size, t.size, true);
}

void apply(const Resize& t, State& s, Generator&) {
  s.require_u8("resize");
  const auto [h, w] = s.size_before_decode();
  const auto [oh, ow] = resize_shorter_size(h, w, t.size);
  const double scale = s.decode_at_least(std::max(double(oh) / h, double(ow) / w));
  s.raw.image = resize_u8(s.image(), Box{0, 0, w * scale, h * scale}, oh, ow, true);
}

void apply(const CenterCrop& t, State& s, Generator&) {
  s.require_u8("center_crop");
  const ImageU8& src = s.image();
  const CropBox box = center_crop_box(src.height, src.width, t.size);
  ImageU8 dst(t.size, t.size, src.channels);
  std::fill(dst.pixels.begin(), dst.pixels.end(), uint8_t(0));  // where the box leaves the image
  const int c = src.channels;
  for (int y = 0; y < t.size; ++y) {
    const int sy = box.top + y;
    if (sy < 0 || sy >= src.height) continue;
    const int x0 = std::max(0, -box.left), x1 = std::min(t.size, src.width - box.left);
    if (x1 > x0)
      std::memcpy(dst.row(y) + x0 * c, src.row(sy) + (box.left + x0) * c, size_t(x1 - x0) * c);
  }
  s.raw.image = std::move(dst);
}

void apply(const PadRandomCrop& t, State& s, Generator& rng) {
  s.require_u8("pad_random_crop");
  const ImageU8& src = s.image();
  const CropBox box = pad_random_crop_box(src.height, src.width, t, rng, s.raw.name);
  const int top = box.top, left = box.left;
  // Source index of padded coordinate p, or -1 for zero padding.
  auto source = [&](int p, int n) {
    if (p >= 0 && p < n) return p;
    if (t.mode == PadMode::zero) return -1;
    return p < 0 ? -p : 2 * (n - 1) - p;
  };
  ImageU8 dst(t.size, t.size, src.channels);
  const int c = src.channels;
  for (int y = 0; y < t.size; ++y) {
    const int sy = source(top + y, src.height);
    uint8_t* out = dst.row(y);
    if (sy < 0) {
      std::fill(out, out + size_t(t.size) * src.channels, uint8_t(0));
      continue;
    }
    const uint8_t* in = src.row(sy);
    for (int x = 0; x < t.size; ++x) {
      const int sx = source(left + x, src.width);
      for (int k = 0; k < c; ++k) out[x * c + k] = sx < 0 ? 0 : in[sx * c + k];
    }
  }
  s.raw.image = std::move(dst);
}

void apply(const HorizontalFlip& t, State& s, Generator& rng) {
  if (!flip_drawn(t, rng)) return;
  if (s.is_float) {
    for (int r = 0; r < s.channels * s.out_size; ++r)
      std::reverse(s.out.begin() + size_t(r) * s.out_size, s.out.begin() + size_t(r + 1) * s.out_size);
    return;
  }
  s.image();
  s.mirrored = !s.mirrored;
}

// torchvision's rgb_to_grayscale weights.
float gray(const float* r, const float* g, const float* b, size_t i) {
  return 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
}

void apply(const ColorJitter& t, State& s, Generator& rng) {
  const std::span<float> x = s.floats();
  const size_t plane = size_t(s.out_size) * s.out_size;
  // torchvision draws the order first, then one factor per enabled adjustment.
  int order[3] = {0, 1, 2};
  for (int i = 2; i > 0; --i) std::swap(order[i], order[rng.randint(0, i)]);
  const double params[3] = {t.brightness, t.contrast, t.saturation};
  double factor[3] = {1, 1, 1};
  for (int k = 0; k < 3; ++k)
    if (params[k] > 0) factor[k] = rng.uniform(std::max(0.0, 1 - params[k]), 1 + params[k]);
  auto blend = [](float a, float b, float f) { return std::clamp(f * a + (1 - f) * b, 0.0f, 1.0f); };
  const bool rgb = s.channels == 3;
  float* r = x.data();
  float* g = rgb ? r + plane : r;
  float* b = rgb ? r + 2 * plane : r;
  for (int k : order) {
    const float f = float(factor[k]);
    if (params[k] <= 0) continue;
    if (k == 0) {  // brightness: blend with black
      for (float& v : x) v = blend(v, 0.0f, f);
    } else if (k == 1) {  // contrast: blend with the mean gray level
      double sum = 0;
      for (size_t i = 0; i < plane; ++i) sum += rgb ? gray(r, g, b, i) : r[i];
      const float mean = float(sum / plane);
      for (float& v : x) v = blend(v, mean, f);
    } else if (rgb) {  // saturation: blend with the pixel's gray (no-op on gray images)
      for (size_t i = 0; i < plane; ++i) {
        const float l = gray(r, g, b, i);
        r[i] = blend(r[i], l, f);
        g[i] = blend(g[i], l, f);
        b[i] = blend(b[i], l, f);
      }
    }
  }
}

void apply(const Lighting& t, State& s, Generator& rng) {
  // ImageNet RGB principal components (eigenvalues, eigenvectors as columns).
  static const double eigval[3] = {0.2175, 0.0188, 0.0045};
  static const double eigvec[3][3] = {
      {-0.5675, 0.7192, 0.4009}, {-0.5808, -0.0045, -0.8140}, {-0.5836, -0.6948, 0.4203}};
  const std::span<float> x = s.floats();
  double alpha[3];
  for (double& a : alpha) a = t.alphastd * rng.normal();
  const size_t plane = size_t(s.out_size) * s.out_size;
  for (int c = 0; c < 3; ++c) {
    double shift = 0;
    for (int j = 0; j < 3; ++j) shift += eigvec[c][j] * alpha[j] * eigval[j];
    for (size_t i = 0; i < plane; ++i) x[c * plane + i] += float(shift);
  }
}

void apply(const Normalize& t, State& s, Generator&) {
  if (!s.is_float) {  // straight after the 8-bit stage: fused into the conversion
    s.floats(&t);
    return;
  }
  const std::span<float> x = s.floats();
  const size_t plane = size_t(s.out_size) * s.out_size;
  for (int c = 0; c < s.channels; ++c) {
    const float mean = float(t.mean[c]), inv_std = float(1.0 / t.std[c]);
    for (size_t i = 0; i < plane; ++i) x[c * plane + i] = (x[c * plane + i] - mean) * inv_std;
  }
}

std::string list(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += cat(i ? ", " : "", v[i]);
  return s + "]";
}

void validate(const TransformSpec& spec) {
  std::visit(
      [](const auto& t) {
        using T = std::decay_t<decltype(t)>;
        if constexpr (std::is_same_v<T, RandomResizedCrop>) {
          MN_CHECK(t.size > 0, "random_resized_crop: size must be positive, got ", t.size);
          MN_CHECK(0 < t.scale_min && t.scale_min <= t.scale_max && t.scale_max <= 1,
                   "random_resized_crop: scale must satisfy 0 < min <= max <= 1, got [", t.scale_min,
                   ", ", t.scale_max, "]");
          MN_CHECK(0 < t.ratio_min && t.ratio_min <= t.ratio_max,
                   "random_resized_crop: ratio must satisfy 0 < min <= max, got [", t.ratio_min, ", ",
                   t.ratio_max, "]");
        } else if constexpr (std::is_same_v<T, Resize> || std::is_same_v<T, CenterCrop>) {
          MN_CHECK(t.size > 0, describe(t), ": size must be positive");
        } else if constexpr (std::is_same_v<T, PadRandomCrop>) {
          MN_CHECK(t.size > 0 && t.padding >= 0, "pad_random_crop: size must be positive and padding >= 0, got size ",
                   t.size, ", padding ", t.padding);
        } else if constexpr (std::is_same_v<T, HorizontalFlip>) {
          MN_CHECK(t.p >= 0 && t.p <= 1, "horizontal_flip: p must be in [0, 1], got ", t.p);
        } else if constexpr (std::is_same_v<T, ColorJitter>) {
          MN_CHECK(t.brightness >= 0 && t.contrast >= 0 && t.saturation >= 0,
                   "color_jitter: brightness, contrast and saturation must be >= 0, got ", t.brightness,
                   ", ", t.contrast, ", ", t.saturation);
        } else if constexpr (std::is_same_v<T, Lighting>) {
          MN_CHECK(t.alphastd >= 0, "lighting: alphastd must be >= 0, got ", t.alphastd);
        } else if constexpr (std::is_same_v<T, Normalize>) {
          MN_CHECK(!t.mean.empty() && t.mean.size() == t.std.size(), "normalize: mean ", list(t.mean),
                   " and std ", list(t.std), " need one value per channel each");
          for (double v : t.std) MN_CHECK(v > 0, "normalize: std must be positive, got ", list(t.std));
        }
      },
      spec);
}

bool is_color(const TransformSpec& spec) {
  return std::holds_alternative<ColorJitter>(spec) || std::holds_alternative<Lighting>(spec) ||
         std::holds_alternative<Normalize>(spec);
}

}  // namespace

std::string describe(const TransformSpec& spec) {
  return std::visit(
      [](const auto& t) -> std::string {
        using T = std::decay_t<decltype(t)>;
        if constexpr (std::is_same_v<T, RandomResizedCrop>)
          return cat("random_resized_crop(", t.size, ", scale=[", t.scale_min, ", ", t.scale_max,
                     "], ratio=[", t.ratio_min, ", ", t.ratio_max, "])");
        else if constexpr (std::is_same_v<T, Resize>)
          return cat("resize(", t.size, ")");
        else if constexpr (std::is_same_v<T, CenterCrop>)
          return cat("center_crop(", t.size, ")");
        else if constexpr (std::is_same_v<T, PadRandomCrop>)
          return cat("pad_random_crop(", t.size, ", padding=", t.padding, ", ",
                     t.mode == PadMode::reflect ? "reflect" : "zero", ")");
        else if constexpr (std::is_same_v<T, HorizontalFlip>)
          return cat("horizontal_flip(p=", t.p, ")");
        else if constexpr (std::is_same_v<T, ColorJitter>)
          return cat("color_jitter(brightness=", t.brightness, ", contrast=", t.contrast,
                     ", saturation=", t.saturation, ")");
        else if constexpr (std::is_same_v<T, Lighting>)
          return cat("lighting(alphastd=", t.alphastd, ")");
        else
          return cat("normalize(mean=", list(t.mean), ", std=", list(t.std), ")");
      },
      spec);
}

CropBox random_resized_crop_box(int height, int width, const RandomResizedCrop& t, Generator& rng) {
  const double area = double(height) * width;
  const double log_lo = std::log(t.ratio_min), log_hi = std::log(t.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(t.scale_min, t.scale_max);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int w = py_round(std::sqrt(target * aspect));
    const int h = py_round(std::sqrt(target / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int top = int(rng.randint(0, height - h));
      const int left = int(rng.randint(0, width - w));
      return {top, left, h, w};
    }
  }
  const double in_ratio = double(width) / height;
  int w = width, h = height;
  if (in_ratio < t.ratio_min)
    h = py_round(w / t.ratio_min);
  else if (in_ratio > t.ratio_max)
    w = py_round(h * t.ratio_max);
  return {(height - h) / 2, (width - w) / 2, h, w};
}

std::pair<int, int> resize_shorter_size(int height, int width, int size) {
  if (height <= width) return {size, int(double(size) * width / height)};
  return {int(double(size) * height / width), size};
}

CropBox center_crop_box(int height, int width, int size) {
  // Larger than the image: torchvision pads (size - n) // 2 before, the rest after.
  auto offset = [&](int n) { return n >= size ? py_round((n - size) / 2.0) : -((size - n) / 2); };
  return {offset(height), offset(width), size, size};
}

CropBox pad_random_crop_box(int height, int width, const PadRandomCrop& t, Generator& rng, const std::string& name) {
  const int ph = height + 2 * t.padding, pw = width + 2 * t.padding;
  MN_CHECK(ph >= t.size && pw >= t.size, "pad_random_crop: ", name, " padded to ", ph, "x", pw,
           " is smaller than the crop ", t.size);
  MN_CHECK(t.mode != PadMode::reflect || (t.padding < height && t.padding < width),
           "pad_random_crop: reflect padding ", t.padding, " needs an image larger than that, ", name, " is ",
           height, "x", width);
  const int top = int(rng.randint(0, ph - t.size)) - t.padding;
  const int left = int(rng.randint(0, pw - t.size)) - t.padding;
  return {top, left, t.size, t.size};
}

bool flip_drawn(const HorizontalFlip& t, Generator& rng) { return rng.uniform() < t.p; }

std::array<float, 256> byte_table(int channel, const Normalize* normalize) {
  // v / 255.0f exactly (torchvision's div(255)), looked up instead of divided.
  std::array<float, 256> table;
  for (int v = 0; v < 256; ++v) table[size_t(v)] = float(v) / 255.0f;
  if (normalize) {
    const float mean = float(normalize->mean[channel]), inv_std = float(1.0 / normalize->std[channel]);
    for (float& v : table) v = (v - mean) * inv_std;
  }
  return table;
}

Pipeline::Pipeline(std::vector<TransformSpec> transforms) : transforms_(std::move(transforms)) {
  bool seen_color = false;
  for (const TransformSpec& t : transforms_) {
    validate(t);
    const bool geometric = !is_color(t) && !std::holds_alternative<HorizontalFlip>(t);
    MN_CHECK(!(geometric && seen_color), "pipeline: ", data::describe(t),
             " must come before color_jitter, lighting and normalize (they work on float images)");
    seen_color = seen_color || is_color(t);
  }
  output_size();  // rejects a Resize left without a crop
}

std::optional<int> Pipeline::output_size() const {
  std::optional<int> size;
  bool open = false;  // after a Resize the aspect ratio is the image's
  for (const TransformSpec& t : transforms_) {
    if (const auto* r = std::get_if<RandomResizedCrop>(&t)) size = r->size, open = false;
    if (const auto* r = std::get_if<CenterCrop>(&t)) size = r->size, open = false;
    if (const auto* r = std::get_if<PadRandomCrop>(&t)) size = r->size, open = false;
    if (std::holds_alternative<Resize>(t)) open = true;
  }
  MN_CHECK(!open, "pipeline: resize keeps the aspect ratio, so image sizes would vary; follow it with center_crop");
  return size;
}

void Pipeline::check_channels(int channels) const {
  for (const TransformSpec& t : transforms_) {
    if (const auto* n = std::get_if<Normalize>(&t))
      MN_CHECK(int(n->mean.size()) == channels, "normalize: ", n->mean.size(), " mean/std values for ",
               channels, "-channel images");
    if (std::holds_alternative<Lighting>(t))
      MN_CHECK(channels == 3, "lighting: needs RGB images, the dataset has ", channels, " channel(s)");
  }
}

void Pipeline::run(RawSample& sample, int channels, Generator& rng, std::span<float> out, int out_size) const {
  MN_CHECK(out.size() == size_t(channels) * out_size * out_size, "pipeline: output buffer of ", out.size(),
           " floats for ", channels, "x", out_size, "x", out_size);
  State state{sample, channels, out, out_size};
  for (const TransformSpec& t : transforms_) std::visit([&](const auto& x) { apply(x, state, rng); }, t);
  state.floats();
}

std::string Pipeline::gather_unsupported() const {
  int crops = 0, normalizes = 0;
  for (const TransformSpec& t : transforms_) {
    crops += std::holds_alternative<PadRandomCrop>(t);
    normalizes += std::holds_alternative<Normalize>(t);
    if (!std::holds_alternative<PadRandomCrop>(t) && !std::holds_alternative<HorizontalFlip>(t) &&
        !std::holds_alternative<Normalize>(t))
      return cat(data::describe(t), " is not a crop, flip or normalize");
  }
  if (crops > 1) return "more than one pad_random_crop";
  // A second normalize works on floats the first produced: not one table lookup.
  if (normalizes > 1) return "more than one normalize";
  return "";
}

Gather Pipeline::draw_gather(int image_size, Generator& rng, const std::string& name) const {
  Gather g;
  for (const TransformSpec& t : transforms_) {
    if (const auto* crop = std::get_if<PadRandomCrop>(&t)) {
      const CropBox box = pad_random_crop_box(image_size, image_size, *crop, rng, name);
      g.top = box.top;
      // Cropping a mirrored image (padding is symmetric) is mirroring the opposite window.
      g.left = g.mirror ? image_size - crop->size - box.left : box.left;
    } else if (const auto* flip = std::get_if<HorizontalFlip>(&t)) {
      g.mirror = g.mirror != flip_drawn(*flip, rng);
    }
  }
  return g;
}

std::vector<float> Pipeline::gather_table(int channels) const {
  const Normalize* normalize = nullptr;
  for (const TransformSpec& t : transforms_)
    if (const auto* n = std::get_if<Normalize>(&t)) normalize = n;
  std::vector<float> table;
  for (int c = 0; c < channels; ++c) {
    const std::array<float, 256> b = byte_table(c, normalize);
    table.insert(table.end(), b.begin(), b.end());
  }
  return table;
}

PadMode Pipeline::gather_pad_mode() const {
  for (const TransformSpec& t : transforms_)
    if (const auto* crop = std::get_if<PadRandomCrop>(&t)) return crop->mode;
  return PadMode::zero;
}

std::string Pipeline::describe() const {
  std::string s;
  for (const TransformSpec& t : transforms_) s += (s.empty() ? "" : ", ") + data::describe(t);
  return s.empty() ? "none" : s;
}

}  // namespace mn::data
