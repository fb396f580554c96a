// `mn bench data`: images/s of the data layer per worker-thread count, for
//  (a) the CIFAR pipeline: pad 4 reflect + crop 32 + flip + normalize + 4 scales (32, 28, 24, 20),
//      from a generated CIFAR-10 binary file;
//  (b) an ImageNet-style folder of real-sized JPEGs (generated: 500x375, photo-like content,
//      quality 90, 4:2:0): RandomResizedCrop 224 (scale 0.25..1) + flip + normalize + 4 scales
//      (224, 192, 160, 128), and the same producing only the 224 batch.
// Columns: images/s of elapsed time, and images per CPU-second of the process (per-core
// throughput; unlike elapsed time it does not drop when other programs share the cores).
// `--pillow` then runs tools/bench_data_pillow.py on the same JPEGs (run from the repository root).
//
//   mn bench data [--threads 1,2] [--seconds 3] [--images 200] [--size 500x375] [--dir DIR] [--only a|b]
//                 [--pillow]
#include <turbojpeg.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "data/loader.h"
#include "tensor/error.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kBenchDataSpec{
    "bench data",
    "Images/s of the data layer per worker-thread count: (a) the CIFAR pipeline, (b) JPEGs.",
    {option("--threads", "LIST", "worker-thread counts, e.g. 1,2 (default: 1, 2, 4, ... up to the core count)"),
     option("--seconds", "S", "time per measurement", "3"),
     option("--images", "N", "JPEGs to generate", "200"),
     option("--size", "WxH", "size of the generated JPEGs", "500x375"),
     option("--dir", "DIR", "where the JPEGs are, or are generated when DIR/train is missing (default: a temporary folder)"),
     option("--only", "a|b", "runs one pipeline only"),
     flag("--pillow", "then runs tools/bench_data_pillow.py on the same JPEGs (from the repository root)")}};

namespace {
namespace fs = std::filesystem;
using namespace mn::data;

struct Options {
  std::vector<int> threads;
  double seconds;
  int images;
  int width, height;
  std::string dir;
  std::string only;  // "a" or "b": run one pipeline
  bool pillow;
};

Options parse(int argc, char** argv) {
  const Args args(kBenchDataSpec, argc, argv);
  Options o;
  const std::string threads = args.get("--threads");
  for (size_t p = 0; p < threads.size();) {
    const size_t q = threads.find(',', p);
    o.threads.push_back(std::stoi(threads.substr(p, q - p)));
    p = q == std::string::npos ? threads.size() : q + 1;
  }
  o.seconds = args.number("--seconds");
  o.images = static_cast<int>(args.integer("--images"));
  const std::string size = args.get("--size");
  if (std::sscanf(size.c_str(), "%dx%d", &o.width, &o.height) != 2) args.fail("--size: WxH, got '" + size + "'");
  o.dir = args.get("--dir");
  o.only = args.get("--only");
  if (!o.only.empty() && o.only != "a" && o.only != "b") args.fail("--only: a or b, got '" + o.only + "'");
  o.pillow = args.has("--pillow");
  if (o.threads.empty())
    for (int t = 1; t <= int(std::max(1u, std::thread::hardware_concurrency())); t *= 2) o.threads.push_back(t);
  return o;
}

// Photo-like content: smooth color gradients, soft-edged discs and rectangles, and sensor noise,
// so the JPEGs have the entropy (and decode cost) of real photographs, not of flat color.
std::vector<uint8_t> photo_like(int h, int w, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 6);
  std::vector<uint8_t> px(size_t(h) * w * 3);
  double base[3][3];
  for (auto& b : base)
    for (double& v : b) v = u(rng);
  struct Shape {
    double x, y, r, color[3];
    bool disc;
  };
  std::vector<Shape> shapes(12);
  for (Shape& s : shapes) s = {u(rng) * w, u(rng) * h, (0.03 + 0.2 * u(rng)) * w, {u(rng), u(rng), u(rng)}, u(rng) < 0.6};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double fx = double(x) / w, fy = double(y) / h;
      for (int c = 0; c < 3; ++c) {
        double v = 255 * (base[c][0] * (1 - fx) * (1 - fy) + base[c][1] * fx + base[c][2] * fy * (1 - fx)) / 1.5;
        v += 20 * std::sin(0.05 * x + 0.07 * y + c) * std::sin(0.011 * x * (1 + c));
        for (const Shape& s : shapes) {
          const double d = s.disc ? std::hypot(x - s.x, y - s.y) : std::max(std::abs(x - s.x), std::abs(y - s.y));
          const double a = std::clamp((s.r - d) / 3.0, 0.0, 1.0);  // soft edge
          v = (1 - a) * v + a * 255 * s.color[c];
        }
        px[(size_t(y) * w + x) * 3 + c] = uint8_t(std::clamp(std::lround(v + noise(rng)), 0l, 255l));
      }
    }
  return px;
}

void write_jpegs(const std::string& dir, const Options& o) {
  tjhandle tj = tjInitCompress();
  MN_CHECK(tj, "bench data: cannot create a TurboJPEG compressor");
  for (int i = 0; i < o.images; ++i) {
    const std::string class_dir = cat(dir, "/train/class", i % 4);
    fs::create_directories(class_dir);
    const std::vector<uint8_t> px = photo_like(o.height, o.width, uint32_t(i));
    unsigned char* jpeg = nullptr;
    unsigned long size = 0;
    MN_CHECK(tjCompress2(tj, px.data(), o.width, 0, o.height, TJPF_RGB, &jpeg, &size, TJSAMP_420, 90, 0) == 0,
             "bench data: tjCompress2: ", tjGetErrorStr2(tj));
    std::ofstream(cat(class_dir, "/img", i, ".jpg"), std::ios::binary).write(reinterpret_cast<char*>(jpeg), std::streamsize(size));
    tjFree(jpeg);
  }
  tjDestroy(tj);
}

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Rate {
  double wall;  // images per second of elapsed time
  double cpu;   // images per CPU-second of the whole process: throughput per core, insensitive to
                // other programs sharing the machine
};

// Runs whole epochs (the first batch is warm-up) until `seconds` have passed.
Rate measure(std::shared_ptr<const Dataset> ds, const Pipeline& p, LoaderConfig cfg, double seconds) {
  Loader loader(std::move(ds), p, cfg);
  using clock = std::chrono::steady_clock;
  int64_t images = 0;
  clock::time_point start;
  double cpu_start = 0;
  bool timing = false;
  for (int64_t epoch = 0;; ++epoch) {
    loader.start_epoch(epoch);
    while (auto b = loader.next()) {
      if (!timing) {
        timing = true;
        start = clock::now();
        cpu_start = cpu_seconds();
        continue;
      }
      images += b->size();
      const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
      if (elapsed >= seconds) return {images / elapsed, images / (cpu_seconds() - cpu_start)};
    }
  }
}

void row(const char* what, int threads, Rate r) {
  std::printf("| %-48s | %7d | %10.0f | %16.0f |\n", what, threads, r.wall, r.cpu);
  std::fflush(stdout);
}

}  // namespace

int bench_data(int argc, char** argv) {
  const Options o = parse(argc, argv);
  char tmp_pattern[] = "/tmp/mn_bench_data_XXXXXX";
  MN_CHECK(mkdtemp(tmp_pattern), "bench data: cannot create a temporary directory");
  const std::string tmp = tmp_pattern;
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{tmp};

  // (a) A CIFAR-10 test batch of random pixels (the pipeline's cost does not depend on content).
  {
    std::mt19937 rng(1);
    std::vector<uint8_t> records(10000 * 3073);
    for (size_t i = 0; i < records.size(); ++i) records[i] = uint8_t(i % 3073 == 0 ? rng() % 10 : rng());
    std::ofstream(tmp + "/test_batch.bin", std::ios::binary)
        .write(reinterpret_cast<char*>(records.data()), std::streamsize(records.size()));
  }
  const std::string jpeg_dir = o.dir.empty() ? tmp + "/jpeg" : o.dir;
  if (!fs::is_directory(jpeg_dir + "/train")) {
    std::printf("writing %d JPEGs of %dx%d to %s\n", o.images, o.width, o.height, jpeg_dir.c_str());
    write_jpegs(jpeg_dir, o);
  }

  std::printf("\n| %-48s | %7s | %10s | %16s |\n", "pipeline", "threads", "images/s", "images/CPU-second");
  std::printf("|%s|%s|%s|%s|\n", std::string(50, '-').c_str(), std::string(9, '-').c_str(),
              std::string(12, '-').c_str(), std::string(18, '-').c_str());
  auto cifar = make_dataset({.format = Format::cifar10, .root = tmp, .split = Split::test});
  const Pipeline cifar_pipeline({PadRandomCrop{32, 4, PadMode::reflect}, HorizontalFlip{},
                                 Normalize{{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}}});
  for (int t : o.only == "b" ? std::vector<int>{} : o.threads)
    row("(a) CIFAR pad+crop+flip+normalize, 4 scales", t,
        measure(cifar, cifar_pipeline,
                          {.batch_size = 128, .workers = t, .seed = 1, .resolutions = {32, 28, 24, 20}}, o.seconds));

  auto folder = make_dataset({.format = Format::folder, .root = jpeg_dir, .split = Split::train});
  const Pipeline imagenet({RandomResizedCrop{224, 0.25, 1.0}, HorizontalFlip{},
                           Normalize{{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}});
  for (bool scales : {true, false})
    for (int t : o.only == "a" ? std::vector<int>{} : o.threads)
      row(scales ? "(b) JPEG RRC224+flip+normalize, 4 scales" : "(b) JPEG RRC224+flip+normalize, 224 only", t,
          measure(folder, imagenet,
                            {.batch_size = 32, .workers = t, .seed = 1, .resolutions = {224, 192, 160, 128},
                             .all_resolutions = scales},
                            o.seconds));

  if (o.pillow) {
    const std::string script = "tools/bench_data_pillow.py";
    MN_CHECK(fs::is_regular_file(script), "bench data: --pillow runs ", script, " from the repository root; not found here");
    std::fflush(stdout);
    const std::string cmd = cat("/usr/bin/python3 ", script, " '", jpeg_dir, "' --seconds ", o.seconds);
    MN_CHECK(std::system(cmd.c_str()) == 0, "bench data: ", cmd, " failed");
  }
  return 0;
}

}  // namespace mn::cli
