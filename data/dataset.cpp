// The three dataset kinds: IDX and CIFAR binary files are read and checked whole at construction
// (pixels kept as (N, H, W, C) bytes); image folders are listed at construction and read per sample.
#include "data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "io/files.h"
#include "tensor/random.h"

namespace mn::data {
namespace fs = std::filesystem;

const char* split_name(Split s) { return s == Split::train ? "train" : "test"; }

const char* format_name(Format f) {
  switch (f) {
    case Format::idx: return "idx";
    case Format::cifar10: return "cifar10";
    case Format::cifar100: return "cifar100";
    case Format::folder: return "folder";
  }
  return "?";
}

namespace {

// Whole file through zlib, which reads gzip and passes plain files through unchanged.
std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  MN_CHECK(f, path, ": cannot open file");
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  int n;
  while ((n = gzread(f, chunk, sizeof chunk)) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  int err = Z_OK;
  const std::string message = n < 0 ? gzerror(f, &err) : "";
  gzclose(f);
  MN_CHECK(n == 0, path, ": corrupt or truncated gzip data (", message, ")");
  return bytes;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

// Images stored as one (N, S, S, C) byte array.
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(std::string name, int size, int channels, int classes)
      : name_(std::move(name)), size_(size), channels_(channels), classes_(classes) {}
  int64_t size() const override { return int64_t(labels_.size()); }
  int64_t label(int64_t i) const override { return labels_[size_t(i)]; }
  int num_classes() const override { return classes_; }
  int channels() const override { return channels_; }
  int image_size() const override { return size_; }
  RawSample load(int64_t i) const override {
    MN_CHECK(i >= 0 && i < size(), name_, ": index ", i, " out of range [0, ", size(), ")");
    RawSample s;
    s.name = cat(name_, "[", i, "]");
    s.image = ImageU8(size_, size_, channels_);
    const size_t n = s.image.pixels.size();
    std::copy_n(pixels_.begin() + ptrdiff_t(size_t(i) * n), n, s.image.pixels.begin());
    return s;
  }
  std::string describe() const override {
    return cat(name_, ": ", size(), " images of ", channels_, "x", size_, "x", size_, ", ", classes_, " classes");
  }
  uint32_t content_crc32(int64_t count) const override {
    const size_t n = size_t(count), image_bytes = size_t(size_) * size_ * channels_;
    const uLong crc = crc32_z(crc32_z(0, nullptr, 0), pixels_.data(), n * image_bytes);
    return uint32_t(crc32_z(crc, labels_.data(), n));
  }

  std::vector<uint8_t> pixels_;  // (N, S, S, C)
  std::vector<uint8_t> labels_;

 private:
  std::string name_;
  int size_, channels_, classes_;
};

std::string find_idx_file(const std::string& root, const std::string& stem) {
  for (const std::string& p : {root + "/" + stem + ".gz", root + "/" + stem})
    if (fs::is_regular_file(p)) return p;
  fail("idx dataset: ", root, "/", stem, ".gz (or without .gz) not found. Expected the IDX files of MNIST / "
       "Fashion-MNIST in ", root, ": {train,t10k}-images-idx3-ubyte.gz and {train,t10k}-labels-idx1-ubyte.gz. "
       "Fashion-MNIST: apt-get install dataset-fashion-mnist (into /usr/share/datasets/fashion-mnist) or "
       "https://github.com/zalandoresearch/fashion-mnist");
}

// Parses an IDX file of unsigned bytes with `dims` dimensions; returns the sizes, data in `data`.
std::vector<uint32_t> parse_idx(const std::string& path, const std::vector<uint8_t>& bytes, int dims,
                                std::vector<uint8_t>& data) {
  const uint32_t want_magic = 0x0800u | uint32_t(dims);
  const size_t header = 4 + 4 * size_t(dims);
  const uint32_t magic = bytes.size() >= 4 ? big_endian_u32(bytes.data()) : 0;
  MN_CHECK(magic == want_magic, path, ": IDX magic number 0x", std::hex, magic, " (expected 0x", want_magic,
           std::dec, ": unsigned bytes in ", dims, " dimensions)");
  MN_CHECK(bytes.size() >= header, path, ": ", bytes.size(), " bytes is too short for an IDX header");
  std::vector<uint32_t> sizes(static_cast<size_t>(dims));
  size_t count = 1;
  for (int d = 0; d < dims; ++d) {
    sizes[size_t(d)] = big_endian_u32(bytes.data() + 4 + 4 * d);
    // A wrapped-around product could match the file's size and pass the check below.
    MN_CHECK(!__builtin_mul_overflow(count, size_t(sizes[size_t(d)]), &count), path,
             ": IDX header sizes overflow the value count (corrupt header)");
  }
  MN_CHECK(bytes.size() == header + count, path, ": ", bytes.size(), " bytes, but its header announces ",
           header + count, " (", header, "-byte header + ", count, " values): truncated or not an IDX file");
  data.assign(bytes.begin() + ptrdiff_t(header), bytes.end());
  return sizes;
}

}  // namespace

std::shared_ptr<const Dataset> load_idx(const std::string& root, Split split) {
  MN_CHECK(fs::is_directory(root), "idx dataset: directory ", root, " not found. It should hold the IDX files of "
           "MNIST / Fashion-MNIST ({train,t10k}-images-idx3-ubyte.gz, {train,t10k}-labels-idx1-ubyte.gz); "
           "Fashion-MNIST: apt-get install dataset-fashion-mnist (into /usr/share/datasets/fashion-mnist) or "
           "https://github.com/zalandoresearch/fashion-mnist");
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string image_path = find_idx_file(root, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_idx_file(root, prefix + "-labels-idx1-ubyte");
  std::vector<uint8_t> pixels, labels;
  const auto image_dims = parse_idx(image_path, read_maybe_gzip(image_path), 3, pixels);
  const auto label_dims = parse_idx(label_path, read_maybe_gzip(label_path), 1, labels);
  MN_CHECK(image_dims[1] == image_dims[2], image_path, ": images are ", image_dims[1], "x", image_dims[2],
           ", only square images are supported");
  MN_CHECK(image_dims[0] == label_dims[0], image_path, " holds ", image_dims[0], " images but ", label_path,
           " holds ", label_dims[0], " labels");
  MN_CHECK(!labels.empty(), image_path, ": no images");
  const int classes = *std::max_element(labels.begin(), labels.end()) + 1;
  auto ds = std::make_shared<InMemoryDataset>(cat("idx ", split_name(split), " (", root, ")"),
                                              int(image_dims[1]), 1, classes);
  ds->pixels_ = std::move(pixels);
  ds->labels_ = std::move(labels);
  return ds;
}

std::shared_ptr<const Dataset> synthetic_dataset(int64_t count, int side, int channels, int classes, uint64_t seed) {
  MN_CHECK(count > 0 && side > 0 && (channels == 1 || channels == 3) && classes >= 1 && classes <= 256,
           "synthetic dataset: ", count, " images of ", channels, "x", side, "x", side, " and ", classes,
           " classes is not a dataset (1 or 3 channels, at most 256 classes)");
  auto ds = std::make_shared<InMemoryDataset>(cat("synthetic (seed ", seed, ")"), side, channels, classes);
  ds->pixels_.resize(size_t(count) * side * side * channels);
  // Eight bytes per draw: 150 MB of CIFAR-shaped noise in a fraction of a second.
  for (size_t i = 0; i < ds->pixels_.size(); i += 8) {
    const uint64_t r = splitmix64(seed + i);
    for (size_t k = 0; k < 8 && i + k < ds->pixels_.size(); ++k) ds->pixels_[i + k] = uint8_t(r >> (8 * k));
  }
  ds->labels_.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) ds->labels_[size_t(i)] = uint8_t(splitmix64(~seed + uint64_t(i)) % uint64_t(classes));
  return ds;
}

std::shared_ptr<const Dataset> load_cifar(const std::string& root, Split split, int classes) {
  MN_CHECK(classes == 10 || classes == 100, "cifar: 10 or 100 classes, got ", classes);
  const bool c10 = classes == 10;
  const std::string subdir = c10 ? "cifar-10-batches-bin" : "cifar-100-binary";
  std::vector<std::string> names;
  if (c10 && split == Split::train)
    for (int i = 1; i <= 5; ++i) names.push_back(cat("data_batch_", i, ".bin"));
  else
    names.push_back(c10 ? "test_batch.bin" : split == Split::train ? "train.bin" : "test.bin");
  std::string dir;
  for (const std::string& d : {root, root + "/" + subdir})
    if (dir.empty() && fs::is_regular_file(d + "/" + names[0])) dir = d;
  const std::string url = c10 ? "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
                              : "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
  MN_CHECK(!dir.empty(), "cifar", classes, " dataset: ", root, "/", names[0], " not found (nor in ", root, "/",
           subdir, "). Expected the binary version of CIFAR-", classes, " (",
           c10 ? "data_batch_1.bin ... data_batch_5.bin, test_batch.bin" : "train.bin, test.bin",
           "): download ", url, " and unpack it into ", root);

  const size_t label_bytes = c10 ? 1 : 2, record = label_bytes + 3072;
  auto ds = std::make_shared<InMemoryDataset>(cat("cifar", classes, " ", split_name(split), " (", dir, ")"), 32, 3,
                                              classes);
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    MN_CHECK(fs::is_regular_file(path), path, ": file not found (the CIFAR-", classes, " binary version has ",
             names.size(), " ", split_name(split), " files; download ", url, ")");
    const std::vector<uint8_t> bytes = read_maybe_gzip(path);
    MN_CHECK(!bytes.empty() && bytes.size() % record == 0, path, ": ", bytes.size(),
             " bytes is not a whole number of CIFAR-", classes, " records (", record, " bytes each: ",
             c10 ? "1 label byte" : "coarse and fine label bytes", " + 3072 pixel bytes)");
    const size_t n = bytes.size() / record;
    const size_t base = ds->labels_.size();
    ds->labels_.resize(base + n);
    ds->pixels_.resize((base + n) * 3072);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* r = bytes.data() + i * record;
      const uint8_t label = r[label_bytes - 1];  // CIFAR-100: the fine label follows the coarse one
      MN_CHECK(label < classes, path, ": record ", i, " has label ", int(label), ", CIFAR-", classes,
               " labels are 0..", classes - 1);
      ds->labels_[base + i] = label;
      // Stored as 3 planes of 32x32 (R, G, B); kept as (H, W, C) like decoded images.
      uint8_t* dst = ds->pixels_.data() + (base + i) * 3072;
      for (int p = 0; p < 1024; ++p)
        for (int c = 0; c < 3; ++c) dst[p * 3 + c] = r[label_bytes + c * 1024 + p];
    }
  }
  return ds;
}

namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tga", ".gif"})
    if (ext == e) return true;
  return false;
}

// Sorted names of the visible sub-folders of dir.
std::vector<std::string> sub_folders(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && entry.path().filename().string()[0] != '.') out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Sorted paths of the image files under dir, recursively.
std::vector<std::string> image_files_under(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

class FolderDataset : public Dataset {
 public:
  FolderDataset(std::string dir, int channels) : dir_(std::move(dir)), channels_(channels) {}
  int64_t size() const override { return int64_t(files_.size()); }
  int64_t label(int64_t i) const override { return labels_[size_t(i)]; }
  int num_classes() const override { return int(classes_.size()); }
  int channels() const override { return channels_; }
  int image_size() const override { return 0; }
  RawSample load(int64_t i) const override {
    MN_CHECK(i >= 0 && i < size(), dir_, ": index ", i, " out of range [0, ", size(), ")");
    RawSample s;
    s.name = files_[size_t(i)];
    try {
      s.encoded = read_file<std::vector<uint8_t>>(s.name);
    } catch (const Error& e) {
      throw ImageError(e.what());  // an unreadable file is a bad image: data.on_bad_image decides
    }
    if (s.encoded.empty()) throw ImageError(cat(s.name, ": empty file"));
    return s;
  }
  std::string describe() const override {
    return cat("folder ", dir_, ": ", size(), " images, ", classes_.size(), " classes");
  }
  // Relative paths, so that the same images in a moved folder (data.root may change on a resume)
  // fingerprint the same.
  uint32_t content_crc32(int64_t count) const override {
    uLong crc = crc32_z(0, nullptr, 0);
    for (int64_t i = 0; i < count; ++i) {
      const std::string& f = files_[size_t(i)];
      crc = crc32_z(crc, reinterpret_cast<const Bytef*>(f.data() + dir_.size()), f.size() - dir_.size() + 1);
    }
    return uint32_t(crc);
  }

  std::vector<std::string> classes_, files_;
  std::vector<int32_t> labels_;

 private:
  std::string dir_;
  int channels_;
};

}  // namespace

std::shared_ptr<const Dataset> load_folder(const std::string& root, Split split, int channels) {
  MN_CHECK(channels == 1 || channels == 3, "folder dataset: channels must be 1 or 3, got ", channels);
  std::vector<std::string> candidates = split == Split::train ? std::vector<std::string>{"train"}
                                                              : std::vector<std::string>{"val", "test"};
  std::string dir;
  for (const std::string& c : candidates)
    if (dir.empty() && fs::is_directory(root + "/" + c)) dir = root + "/" + c;
  const std::string layout = cat("Expected the ImageNet layout: ", root, "/train/<class>/<image> and ", root,
                                 "/val/<class>/<image> (one folder per class, classes sorted by name; "
                                 "jpg, png, bmp, ppm, pgm, tga or gif files)");
  MN_CHECK(!dir.empty(), "folder dataset: ", root, "/", candidates[0],
           candidates.size() > 1 ? " (or " + root + "/test)" : std::string(), " not found. ", layout);

  auto ds = std::make_shared<FolderDataset>(dir, channels);
  ds->classes_ = sub_folders(dir);
  MN_CHECK(!ds->classes_.empty(), "folder dataset: no class folders in ", dir, ". ", layout);
  for (size_t c = 0; c < ds->classes_.size(); ++c) {
    for (std::string& f : image_files_under(dir + "/" + ds->classes_[c])) {
      ds->files_.push_back(std::move(f));
      ds->labels_.push_back(int32_t(c));
    }
  }
  MN_CHECK(!ds->files_.empty(), "folder dataset: no image files under ", dir, ". ", layout);
  return ds;
}

std::vector<std::string> folder_classes(const std::string& root) {
  const std::string dir = root + "/train";
  MN_CHECK(fs::is_directory(dir), "folder dataset: ", dir, " not found (its sub-folders name the classes)");
  return sub_folders(dir);
}

std::vector<std::string> image_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    MN_CHECK(fs::exists(p), p, ": no such file or folder");
    for (std::string& f : fs::is_directory(p) ? image_files_under(p) : std::vector<std::string>{p}) files.push_back(std::move(f));
  }
  MN_CHECK(!files.empty(), "no image files (jpg, png, bmp, ppm, pgm, tga, gif) in ", paths.at(0), paths.size() > 1 ? " ..." : "");
  return files;
}

std::shared_ptr<const Dataset> load_image_files(const std::vector<std::string>& files, int channels) {
  auto ds = std::make_shared<FolderDataset>("of the given images", channels);
  ds->classes_ = {"?"};  // unlabelled
  ds->files_ = files;
  ds->labels_.assign(files.size(), 0);
  return ds;
}

namespace {

// The first `limit` images of another dataset.
class Prefix : public Dataset {
 public:
  Prefix(std::shared_ptr<const Dataset> base, int64_t limit) : base_(std::move(base)), size_(limit) {}
  int64_t size() const override { return size_; }
  int64_t label(int64_t i) const override { return base_->label(i); }
  int num_classes() const override { return base_->num_classes(); }
  int channels() const override { return base_->channels(); }
  int image_size() const override { return base_->image_size(); }
  RawSample load(int64_t i) const override {
    MN_CHECK(i >= 0 && i < size_, "dataset: index ", i, " out of range [0, ", size_, ")");
    return base_->load(i);
  }
  std::string describe() const override { return cat(base_->describe(), " (first ", size_, " used)"); }
  uint32_t content_crc32(int64_t count) const override { return base_->content_crc32(count); }

 private:
  std::shared_ptr<const Dataset> base_;
  int64_t size_;
};

std::shared_ptr<const Dataset> make_full_dataset(const DatasetConfig& config) {
  const int channels = config.channels;
  if (config.format != Format::folder) {
    const int natural = config.format == Format::idx ? 1 : 3;
    MN_CHECK(channels == 0 || channels == natural, format_name(config.format), " dataset: images have ", natural,
             " channel(s), channels = ", channels, " is not supported");
  }
  switch (config.format) {
    case Format::idx: return load_idx(config.root, config.split);
    case Format::cifar10: return load_cifar(config.root, config.split, 10);
    case Format::cifar100: return load_cifar(config.root, config.split, 100);
    case Format::folder: break;
  }
  return load_folder(config.root, config.split, channels == 0 ? 3 : channels);
}

}  // namespace

std::shared_ptr<const Dataset> make_dataset(const DatasetConfig& config) {
  MN_CHECK(config.limit >= 0, "dataset: limit must be >= 0 (0 = all images), got ", config.limit);
  std::shared_ptr<const Dataset> ds = make_full_dataset(config);
  if (config.limit == 0 || config.limit >= ds->size()) return ds;
  return std::make_shared<Prefix>(std::move(ds), config.limit);
}

Fingerprint fingerprint(const Dataset& d) {
  return {.images = d.size(), .classes = d.num_classes(), .crc32 = d.content_crc32(d.size())};
}

std::string fingerprint_change(const Fingerprint& before, const Fingerprint& now) {
  if (before.images != now.images) return cat(before.images, " -> ", now.images, " images");
  if (before.classes != now.classes) return cat(before.classes, " -> ", now.classes, " classes");
  if (before.crc32 != now.crc32)
    return cat("as many images and classes, but other file names, pixels or labels (CRC-32 ", hex32(before.crc32),
               " -> ", hex32(now.crc32), ")");
  return "";
}

}  // namespace mn::data
