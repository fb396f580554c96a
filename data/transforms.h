// Per-sample transforms with torchvision's definitions, built from plain parameter structs (the
// trainer fills them from its config) and run as a Pipeline by the loader's worker threads.
// Geometric transforms work on 8-bit images; the first color transform converts to float in
// [0, 1] (torchvision's ToTensor); the result is a float (C, S, S) image.
// Random transforms draw, in list order, from the sample's own generator: the loader seeds one
// per (seed, epoch, sample index), so results do not depend on threads or on the batch.
#pragma once
#include <array>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "data/image.h"
#include "data/resample.h"
#include "tensor/random.h"

namespace mn::data {

// torchvision RandomResizedCrop: a box of area fraction in [scale_min, scale_max] and aspect
// ratio (log-uniform) in [ratio_min, ratio_max], resized to size x size (antialiased bilinear).
// When the file is a JPEG, it is decoded at the smallest DCT scale that keeps the box at least
// `size` pixels on each side.
struct RandomResizedCrop {
  int size = 224;
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
};
// torchvision Resize(int): the shorter side becomes `size`, the longer int(size * long / short).
struct Resize {
  int size = 256;
};
// torchvision CenterCrop: size x size from the middle (zero padding if the image is smaller).
struct CenterCrop {
  int size = 224;
};
enum class PadMode { zero, reflect };
// torchvision RandomCrop(size, padding, padding_mode): pad every side, then a random window.
struct PadRandomCrop {
  int size = 32;
  int padding = 4;
  PadMode mode = PadMode::reflect;
};
struct HorizontalFlip {
  double p = 0.5;
};
// torchvision ColorJitter(brightness, contrast, saturation): factors uniform in
// [max(0, 1 - v), 1 + v], applied in a random order, clamped to [0, 1].
struct ColorJitter {
  double brightness = 0.4, contrast = 0.4, saturation = 0.4;
};
// AlexNet-style PCA lighting noise (the public MutualNet ImageNet recipe, std 0.1) with the
// ImageNet RGB eigen-decomposition; on RGB images in [0, 1].
struct Lighting {
  double alphastd = 0.1;
};
// (x - mean[c]) / std[c], one value per channel.
struct Normalize {
  std::vector<double> mean, std;
};

using TransformSpec = std::variant<RandomResizedCrop, Resize, CenterCrop, PadRandomCrop,
                                   HorizontalFlip, ColorJitter, Lighting, Normalize>;

std::string describe(const TransformSpec& spec);  // "random_resized_crop(224, scale=[0.25, 1], ...)"

// Integer crop box (torchvision's (top, left, height, width)).
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
};
// torchvision RandomResizedCrop.get_params: ten tries at a random box, then the central crop of
// the largest allowed aspect ratio.
CropBox random_resized_crop_box(int height, int width, const RandomResizedCrop& t, Generator& rng);
// torchvision's Resize(int) output size for an image of this size: (height, width).
std::pair<int, int> resize_shorter_size(int height, int width, int size);
// torchvision CenterCrop offsets: round((H - size) / 2) with Python's round-half-to-even.
CropBox center_crop_box(int height, int width, int size);
// torchvision RandomCrop.get_params on the image padded by t.padding: the window's corner in the
// unpadded image (negative: in the padding). `name` (the sample) appears in errors.
CropBox pad_random_crop_box(int height, int width, const PadRandomCrop& t, Generator& rng, const std::string& name);
// Whether a HorizontalFlip flips this sample.
bool flip_drawn(const HorizontalFlip& t, Generator& rng);
// What each byte value of channel c becomes: v / 255 (ToTensor), then the normalization if given.
std::array<float, 256> byte_table(int channel, const Normalize* normalize);

// A sample's output as a gather from its decoded image (see Pipeline::gather_unsupported): the
// window's corner (in the padding where negative) and whether it is read mirrored.
struct Gather {
  int top = 0, left = 0;
  bool mirror = false;
};

// A sample as a dataset hands it over: either decoded pixels (IDX, CIFAR) or the bytes of an image
// file (folders), decoded lazily so the first crop can pick a reduced JPEG decode scale.
struct RawSample {
  std::string name;              // file path, or "dataset[index]"; appears in errors
  ImageU8 image;                 // when decoded
  std::vector<uint8_t> encoded;  // when a file
  bool is_encoded() const { return !encoded.empty() || image.pixels.empty(); }
};

class Pipeline {
 public:
  Pipeline() = default;
  explicit Pipeline(std::vector<TransformSpec> transforms);

  // The side of the square images this pipeline produces, or nullopt when it keeps the input's
  // size (no crop). Throws when a Resize is not followed by a crop (the size would vary).
  std::optional<int> output_size() const;
  // Checks the per-channel parameters (Normalize lengths, Lighting needs RGB) for `channels`.
  void check_channels(int channels) const;

  // Runs every transform on one sample decoded to `channels` and writes the float (C, S, S)
  // result to out. S must equal the output size (or the input size when there is no crop).
  void run(RawSample& sample, int channels, Generator& rng, std::span<float> out, int out_size) const;

  // A pipeline of an optional pad_random_crop, horizontal flips and at most one normalize, run on
  // decoded images, is a gather per output pixel (tensor/crop_batch.h): a window, a mirror flag
  // and a table of what each byte becomes. "" when this pipeline is one; otherwise why not.
  std::string gather_unsupported() const;
  // The gather of one sample of an image_size x image_size image, drawn by the generator calls
  // run() makes, in its order, so both give the same output.
  Gather draw_gather(int image_size, Generator& rng, const std::string& name) const;
  std::vector<float> gather_table(int channels) const;  // (channels, 256): byte_table of each channel
  PadMode gather_pad_mode() const;                      // the crop's padding (zero without a crop)

  const std::vector<TransformSpec>& transforms() const { return transforms_; }
  std::string describe() const;

 private:
  std::vector<TransformSpec> transforms_;
};

}  // namespace mn::data
