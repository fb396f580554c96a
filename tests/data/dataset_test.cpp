// Dataset readers on files the tests generate (IDX raw and gzipped, CIFAR-10/100 binary, image
// folders), every bad-input case, and the real Fashion-MNIST test set from Debian's package.
#include <doctest/doctest.h>
#include <zlib.h>

#include <filesystem>

#include "data/dataset.h"
#include "tests/common/test_util.h"
#include "tests/data/helpers.h"

using namespace mn;
using namespace mn::data;
using namespace mn::data::testing;
using test::error_of;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> idx_file(uint32_t magic, std::vector<uint32_t> dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(v >> s));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  gzclose(f);
}

// 5 images of 4x4, pixel (y, x) of image i = 16 * i + 4 * y + x; labels 3, 1, 4, 1, 5.
void write_idx(const test::TempDir& dir, const std::string& prefix, bool gzip) {
  std::vector<uint8_t> pixels(5 * 16), labels = {3, 1, 4, 1, 5};
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i);
  const auto images = idx_file(0x803, {5, 4, 4}, pixels);
  const auto label_file = idx_file(0x801, {5}, labels);
  if (gzip) {
    write_gzip(dir.file(prefix + "-images-idx3-ubyte.gz"), images);
    write_gzip(dir.file(prefix + "-labels-idx1-ubyte.gz"), label_file);
  } else {
    write_file(dir.file(prefix + "-images-idx3-ubyte"), images);
    write_file(dir.file(prefix + "-labels-idx1-ubyte"), label_file);
  }
}

// CIFAR record i: label(s), then R, G, B planes with R = i, G = pixel index % 256, B = 255 - i.
std::vector<uint8_t> cifar_file(int records, int label_bytes, int first_label) {
  std::vector<uint8_t> out;
  for (int i = 0; i < records; ++i) {
    if (label_bytes == 2) out.push_back(uint8_t(i % 20));  // coarse
    out.push_back(uint8_t(first_label + i));
    for (int p = 0; p < 1024; ++p) out.push_back(uint8_t(i));
    for (int p = 0; p < 1024; ++p) out.push_back(uint8_t(p % 256));
    for (int p = 0; p < 1024; ++p) out.push_back(uint8_t(255 - i));
  }
  return out;
}

}  // namespace

TEST_CASE("IDX files load raw or gzipped, pixels and labels in order") {
  for (bool gzip : {false, true}) {
    const test::TempDir dir("mn_data_idx");
    write_idx(dir, "train", gzip);
    write_idx(dir, "t10k", gzip);
    auto ds = make_dataset({.format = Format::idx, .root = dir.path, .split = Split::test});
    CHECK(ds->size() == 5);
    CHECK(ds->channels() == 1);
    CHECK(ds->image_size() == 4);
    CHECK(ds->num_classes() == 6);
    CHECK(ds->label(2) == 4);
    const RawSample s = ds->load(3);
    CHECK(s.name.find("[3]") != std::string::npos);
    REQUIRE(s.image.pixels.size() == 16);
    CHECK(s.image.pixels[0] == 48);
    CHECK(s.image.row(2)[1] == 48 + 9);
  }
}

TEST_CASE("IDX errors name the file and what was expected") {
  const test::TempDir dir("mn_data_idx_errors");
  CHECK(error_of([&] { load_idx(dir.path + "/nowhere", Split::train); })
            .find("idx dataset: directory " + dir.path + "/nowhere not found") == 0);
  CHECK(error_of([&] { load_idx(dir.path + "/nowhere", Split::train); }).find("apt-get install dataset-fashion-mnist") !=
        std::string::npos);
  CHECK(error_of([&] { load_idx(dir.path, Split::train); })
            .find(dir.path + "/train-images-idx3-ubyte.gz (or without .gz) not found") != std::string::npos);

  write_idx(dir, "train", false);
  // Wrong magic number: the labels file where images are expected.
  fs::copy_file(dir.file("train-labels-idx1-ubyte"), dir.file("train-images-idx3-ubyte"),
                fs::copy_options::overwrite_existing);
  CHECK(error_of([&] { load_idx(dir.path, Split::train); }) ==
        dir.file("train-images-idx3-ubyte") + ": IDX magic number 0x801 (expected 0x803: unsigned bytes in 3 dimensions)");
  // Truncated images.
  std::vector<uint8_t> pixels(5 * 16);
  auto images = idx_file(0x803, {5, 4, 4}, pixels);
  images.resize(images.size() - 7);
  write_file(dir.file("train-images-idx3-ubyte"), images);
  CHECK(error_of([&] { load_idx(dir.path, Split::train); }) ==
        dir.file("train-images-idx3-ubyte") +
            ": 89 bytes, but its header announces 96 (16-byte header + 80 values): truncated or not an IDX file");
  // Counts that disagree.
  write_file(dir.file("train-images-idx3-ubyte"), idx_file(0x803, {4, 4, 4}, std::vector<uint8_t>(64)));
  CHECK(error_of([&] { load_idx(dir.path, Split::train); }).find("holds 4 images but") != std::string::npos);
  // Sizes whose product wraps around to 0 (4 x 2^31 x 2^31 = 2^64): was a 0-byte dataset of 4 images
  // of 2^31 x 2^31 pixels.
  write_file(dir.file("train-images-idx3-ubyte"), idx_file(0x803, {4, 1u << 31, 1u << 31}, {}));
  write_file(dir.file("train-labels-idx1-ubyte"), idx_file(0x801, {4}, {0, 1, 2, 3}));
  CHECK(error_of([&] { load_idx(dir.path, Split::train); }) ==
        dir.file("train-images-idx3-ubyte") + ": IDX header sizes overflow the value count (corrupt header)");
  // A corrupt gzip stream.
  std::vector<uint8_t> gz = read_file<std::vector<uint8_t>>(dir.file("train-labels-idx1-ubyte"));
  write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), idx_file(0x803, {5, 4, 4}, pixels));
  std::vector<uint8_t> broken = read_file<std::vector<uint8_t>>(dir.file("t10k-images-idx3-ubyte.gz"));
  broken.resize(broken.size() / 2);
  write_file(dir.file("t10k-images-idx3-ubyte.gz"), broken);
  write_file(dir.file("t10k-labels-idx1-ubyte"), gz);
  CHECK(error_of([&] { load_idx(dir.path, Split::test); }).find("t10k-images-idx3-ubyte.gz: ") != std::string::npos);
}

TEST_CASE("the real Fashion-MNIST test set: 10000 images, 1000 per class") {
  auto ds = make_dataset({.format = Format::idx, .root = "/usr/share/datasets/fashion-mnist", .split = Split::test});
  REQUIRE(ds->size() == 10000);
  CHECK(ds->num_classes() == 10);
  CHECK(ds->image_size() == 28);
  std::vector<int> histogram(10);
  for (int64_t i = 0; i < ds->size(); ++i) ++histogram[size_t(ds->label(i))];
  CHECK(histogram == std::vector<int>(10, 1000));
  CHECK(ds->label(0) == 9);  // an ankle boot
  // A prefix for tiny runs.
  auto first = make_dataset({.format = Format::idx, .root = "/usr/share/datasets/fashion-mnist", .split = Split::test, .limit = 300});
  CHECK(first->size() == 300);
  CHECK(first->label(1) == 2);
  CHECK(first->load(0).image.pixels == ds->load(0).image.pixels);
  CHECK(first->describe().find("(first 300 used)") != std::string::npos);
  int sum = 0;
  for (uint8_t p : ds->load(0).image.pixels) sum += p;
  CHECK(sum == 33456);
}

TEST_CASE("CIFAR-10 and CIFAR-100 binaries: planes to pixels, fine labels, archive folders") {
  const test::TempDir dir("mn_data_cifar");
  fs::create_directory(dir.file("cifar-10-batches-bin"));
  for (int b = 1; b <= 5; ++b)
    write_file(dir.file("cifar-10-batches-bin/data_batch_" + std::to_string(b) + ".bin"), cifar_file(2, 1, b));
  write_file(dir.file("cifar-10-batches-bin/test_batch.bin"), cifar_file(3, 1, 0));
  auto train = make_dataset({.format = Format::cifar10, .root = dir.path, .split = Split::train});
  CHECK(train->size() == 10);
  CHECK(train->label(0) == 1);
  CHECK(train->label(9) == 6);  // batch 5, record 1
  auto test = make_dataset({.format = Format::cifar10, .root = dir.path, .split = Split::test});
  REQUIRE(test->size() == 3);
  CHECK(test->num_classes() == 10);
  const RawSample s = test->load(2);
  CHECK(s.image.channels == 3);
  CHECK(s.image.row(0)[0] == 2);
  CHECK(s.image.row(0)[1] == 0);
  CHECK(s.image.row(0)[2] == 253);
  CHECK(s.image.row(1)[5 * 3 + 1] == 37);  // pixel 32 + 5

  write_file(dir.file("train.bin"), cifar_file(4, 2, 90));
  auto c100 = make_dataset({.format = Format::cifar100, .root = dir.path, .split = Split::train});
  CHECK(c100->size() == 4);
  CHECK(c100->num_classes() == 100);
  CHECK(c100->label(3) == 93);  // the fine label, not the coarse 3
  CHECK(c100->load(1).image.row(0)[0] == 1);
}

TEST_CASE("CIFAR errors: missing files say where to get them, wrong sizes and labels name the file") {
  const test::TempDir dir("mn_data_cifar_errors");
  const std::string missing = error_of([&] { load_cifar(dir.path, Split::test, 100); });
  CHECK(missing.find("cifar100 dataset: " + dir.path + "/test.bin not found") == 0);
  CHECK(missing.find("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz") != std::string::npos);
  write_file(dir.file("data_batch_1.bin"), cifar_file(1, 1, 0));
  CHECK(error_of([&] { load_cifar(dir.path, Split::train, 10); }) ==
        dir.file("data_batch_2.bin") +
            ": file not found (the CIFAR-10 binary version has 5 train files; download "
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)");
  std::vector<uint8_t> cut = cifar_file(2, 1, 0);
  cut.pop_back();
  write_file(dir.file("test_batch.bin"), cut);
  CHECK(error_of([&] { load_cifar(dir.path, Split::test, 10); }) ==
        dir.file("test_batch.bin") +
            ": 6145 bytes is not a whole number of CIFAR-10 records (3073 bytes each: 1 label byte + 3072 pixel bytes)");
  write_file(dir.file("test_batch.bin"), cifar_file(2, 1, 9));
  CHECK(error_of([&] { load_cifar(dir.path, Split::test, 10); }) ==
        dir.file("test_batch.bin") + ": record 1 has label 10, CIFAR-10 labels are 0..9");
}

TEST_CASE("image folders: sorted classes, nested files, image extensions only") {
  const test::TempDir dir("mn_data_folder");
  for (const char* d : {"train/zebra", "train/ant/sub", "train/.hidden", "val/ant", "val/zebra"})
    fs::create_directories(dir.file(d));
  const ImageU8 img = natural_image(20, 30, 3, 1);
  write_file(dir.file("train/zebra/b.png"), encode_png(img));
  write_file(dir.file("train/zebra/a.JPG"), encode_jpeg(img, 90, 2));
  write_file(dir.file("train/zebra/notes.txt"), {'x'});
  write_file(dir.file("train/ant/sub/c.jpeg"), encode_jpeg(img, 90, 2));
  write_file(dir.file("train/.hidden/d.png"), encode_png(img));
  write_file(dir.file("val/zebra/e.png"), encode_png(img));

  auto train = make_dataset({.format = Format::folder, .root = dir.path, .split = Split::train});
  CHECK(train->size() == 3);
  CHECK(train->num_classes() == 2);
  CHECK(train->image_size() == 0);
  CHECK(train->label(0) == 0);  // ant
  CHECK(train->label(1) == 1);
  CHECK(train->load(0).name == dir.file("train/ant/sub/c.jpeg"));
  CHECK(train->load(1).name == dir.file("train/zebra/a.JPG"));
  const RawSample png = train->load(2);
  CHECK(png.is_encoded());
  CHECK(png.encoded == encode_png(img));

  auto val = make_dataset({.format = Format::folder, .root = dir.path, .split = Split::test});
  CHECK(val->size() == 1);
  CHECK(val->label(0) == 1);

  CHECK(error_of([&] { load_folder(dir.path + "/none", Split::train, 3); })
            .find("folder dataset: " + dir.path + "/none/train not found. Expected the ImageNet layout") == 0);
  fs::remove_all(dir.file("val"));
  CHECK(error_of([&] { load_folder(dir.path, Split::test, 3); }).find("/val (or " + dir.path + "/test) not found") !=
        std::string::npos);
  CHECK(folder_classes(dir.path) == std::vector<std::string>{"ant", "zebra"});

  // mn predict's images: files as given, folders expanded (sorted, recursive, images only).
  const std::vector<std::string> files = image_files({dir.file("train/zebra/b.png"), dir.file("train/ant")});
  CHECK(files == std::vector<std::string>{dir.file("train/zebra/b.png"), dir.file("train/ant/sub/c.jpeg")});
  auto given = load_image_files(files, 1);
  CHECK(given->size() == 2);
  CHECK(given->load(1).name == dir.file("train/ant/sub/c.jpeg"));
  CHECK(error_of([&] { image_files({dir.file("missing.jpg")}); }) == dir.file("missing.jpg") + ": no such file or folder");
  fs::create_directories(dir.file("empty"));
  CHECK(error_of([&] { image_files({dir.file("empty")}); }) ==
        "no image files (jpg, png, bmp, ppm, pgm, tga, gif) in " + dir.file("empty"));
}

TEST_CASE("fingerprints: counts and contents of what a run trains on; a moved folder keeps its own") {
  const test::TempDir dir("mn_data_fingerprint");
  for (const char* d : {"a/train/ant", "a/train/bee"}) fs::create_directories(dir.file(d));
  const std::vector<uint8_t> png = encode_png(natural_image(8, 8, 3, 1));
  for (const char* f : {"a/train/ant/1.png", "a/train/ant/2.png", "a/train/bee/3.png"}) write_file(dir.file(f), png);
  auto folder = [&](const std::string& root, int64_t limit = 0) {
    return fingerprint(*make_dataset({.format = Format::folder, .root = dir.file(root), .limit = limit}));
  };
  const Fingerprint first = folder("a");
  CHECK(first.images == 3);
  CHECK(first.classes == 2);
  CHECK(fingerprint_change(first, folder("a")).empty());
  // data.root may move between a run and its resume: the names below it are what count.
  fs::rename(dir.file("a"), dir.file("b"));
  CHECK(fingerprint_change(first, folder("b")).empty());

  write_file(dir.file("b/train/bee/4.png"), png);
  CHECK(fingerprint_change(first, folder("b")) == "3 -> 4 images");
  // Only the images a limit keeps count.
  CHECK(fingerprint_change(folder("b", 2), folder("b", 2)).empty());
  fs::remove(dir.file("b/train/bee/4.png"));
  fs::create_directories(dir.file("b/train/cat"));
  fs::rename(dir.file("b/train/bee/3.png"), dir.file("b/train/cat/3.png"));
  CHECK(fingerprint_change(first, folder("b")) == "2 -> 3 classes");
  fs::remove_all(dir.file("b/train/cat"));
  write_file(dir.file("b/train/bee/5.png"), png);
  const Fingerprint renamed = folder("b");
  CHECK(renamed.images == 3);
  CHECK(fingerprint_change(first, renamed) == "as many images and classes, but other file names, pixels or labels "
                                              "(CRC-32 " + hex32(first.crc32) + " -> " + hex32(renamed.crc32) + ")");

  // In-memory datasets: one pixel or one label is enough.
  const test::TempDir idx("mn_data_fingerprint_idx");
  write_idx(idx, "train", false);
  const Fingerprint before = fingerprint(*load_idx(idx.path, Split::train));
  CHECK(before.images == 5);
  CHECK(before.classes == 6);
  std::vector<uint8_t> pixels(5 * 16);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i);
  pixels[77] ^= 1;
  write_file(idx.file("train-images-idx3-ubyte"), idx_file(0x803, {5, 4, 4}, pixels));
  CHECK(fingerprint(*load_idx(idx.path, Split::train)).crc32 != before.crc32);
  write_idx(idx, "train", false);
  write_file(idx.file("train-labels-idx1-ubyte"), idx_file(0x801, {5}, {3, 1, 5, 1, 4}));
  const Fingerprint relabelled = fingerprint(*load_idx(idx.path, Split::train));
  CHECK(relabelled.images == 5);
  CHECK(relabelled.crc32 != before.crc32);
}
