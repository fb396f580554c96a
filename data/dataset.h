// Datasets: an indexable list of (image, label). In-memory ones (IDX, CIFAR binary) hand out
// decoded pixels; image folders hand out file bytes, decoded by the loader's workers.
// Every method is safe to call from several threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/transforms.h"

namespace mn::data {

enum class Split { train, test };
const char* split_name(Split s);

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  virtual int num_classes() const = 0;
  virtual int channels() const = 0;  // 1 or 3, what the pipeline receives
  // Side of the (square) images for in-memory datasets; 0 when images vary (folders).
  virtual int image_size() const = 0;
  virtual RawSample load(int64_t index) const = 0;  // image folders read the file here
  virtual std::string describe() const = 0;         // "cifar100 train: 50000 images, 100 classes"
  // CRC-32 of what the first `count` samples are: pixels and labels of in-memory datasets, the
  // file paths (relative to the split's folder, class folder included) of image folders.
  virtual uint32_t content_crc32(int64_t count) const = 0;
};

// What a run records of its training set, so that a resume on data that changed (its order,
// labels and data position would silently differ) is refused: counts and a CRC-32 of the contents.
// Cheap: an image folder's file names, not its files, are hashed.
struct Fingerprint {
  int64_t images = 0;
  int64_t classes = 0;
  uint32_t crc32 = 0;
};
Fingerprint fingerprint(const Dataset& d);
// What changed from `before` to `now` ("60000 -> 59000 images"); "" when nothing did.
std::string fingerprint_change(const Fingerprint& before, const Fingerprint& now);

// The file layouts make_dataset reads (see the load_* functions below).
enum class Format { idx, cifar10, cifar100, folder };
const char* format_name(Format f);

struct DatasetConfig {
  Format format = Format::idx;
  std::string root = "/usr/share/datasets/fashion-mnist";
  Split split = Split::train;
  int channels = 0;  // folder only: 1 (gray) or 3 (RGB, the default)
  int64_t limit = 0;  // > 0: only the first `limit` images (tiny runs, tests)
};

std::shared_ptr<const Dataset> make_dataset(const DatasetConfig& config);

// IDX files (MNIST, Fashion-MNIST): <root>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
std::shared_ptr<const Dataset> load_idx(const std::string& root, Split split);
// CIFAR binary: CIFAR-10 data_batch_{1..5}.bin / test_batch.bin (label byte + 3072 pixel bytes),
// CIFAR-100 train.bin / test.bin (coarse + fine label bytes + pixels; the fine label is used),
// in <root> or in the folder the archive unpacks to (cifar-10-batches-bin, cifar-100-binary).
std::shared_ptr<const Dataset> load_cifar(const std::string& root, Split split, int classes);
// ImageNet layout: <root>/train/<class>/**/<image>, <root>/val (or test)/<class>/**/<image>;
// classes sorted by folder name, files sorted by path.
std::shared_ptr<const Dataset> load_folder(const std::string& root, Split split, int channels);
// The class names of that layout: <root>/train's sub-folders, sorted (label order).
std::vector<std::string> folder_classes(const std::string& root);
// `count` random images (count, side, side, channels) and labels in [0, classes), from `seed`: an
// in-memory dataset of a real one's shape for benchmarks and tests (mn bench train --input).
std::shared_ptr<const Dataset> synthetic_dataset(int64_t count, int side, int channels, int classes, uint64_t seed);
// Image files to classify (mn predict): each path a file, or a folder whose image files
// (recursively, sorted) are taken; a missing path, or no image at all, is an error naming it.
std::vector<std::string> image_files(const std::vector<std::string>& paths);
// Those files as a dataset, in order, every label 0.
std::shared_ptr<const Dataset> load_image_files(const std::vector<std::string>& files, int channels);

}  // namespace mn::data
