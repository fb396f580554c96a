// The dataset sources and the staged fetch.
#include "mutualnet/fetch.h"

#include <cstdio>
#include <filesystem>

#include "io/files.h"
#include "io/http.h"
#include "io/md5.h"
#include "io/tar.h"

namespace mn {

namespace fs = std::filesystem;

const std::vector<DatasetSource>& dataset_sources() {
  // Checksums as published: the Fashion-MNIST README and https://www.cs.toronto.edu/~kriz/cifar.html.
  static const std::vector<DatasetSource> sources = {
      {"fashion-mnist",
       "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
       {{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
        {"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
        {"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
        {"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"}},
       "/usr/share/datasets/fashion-mnist",
       "t10k-labels-idx1-ubyte.gz"},
      {"cifar10",
       "https://www.cs.toronto.edu/~kriz/",
       {{"cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", true}},
       "data/cifar-10-binary",
       "cifar-10-batches-bin/test_batch.bin"},
      {"cifar100",
       "https://www.cs.toronto.edu/~kriz/",
       {{"cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", true}},
       "data/cifar-100-binary",
       "cifar-100-binary/test.bin"},
  };
  return sources;
}

const DatasetSource& dataset_source(const std::string& name) {
  std::string names;
  for (const DatasetSource& s : dataset_sources()) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  fail("unknown dataset '", name, "' (mn fetch knows ", names, ")");
}

std::string fetch_command(const Config& c) {
  const char* name = c.data.dataset == DatasetKind::fashion_mnist ? "fashion-mnist"
                     : c.data.dataset == DatasetKind::cifar10     ? "cifar10"
                     : c.data.dataset == DatasetKind::cifar100    ? "cifar100"
                                                                  : nullptr;
  if (!name) return "";
  const std::string root = c.data.root == dataset_source(name).default_root ? "" : " --root " + c.data.root;
  return cat("mn fetch ", name, root);
}

bool fetch_dataset(const DatasetSource& source, const std::string& root, const std::string& mirror) {
  if (path_exists(root + "/" + source.present)) return false;
  const std::string base = mirror.empty() ? source.base_url : (mirror.ends_with('/') ? mirror : mirror + "/");
  if (!http_built()) {
    std::string names;
    bool archive = false;
    for (const RemoteFile& f : source.files) {
      names += (names.empty() ? "" : ", ") + f.name;
      archive |= f.unpack;
    }
    fail("this mn was built without libcurl (MN_FETCH=OFF): download ", names, " from ", base,
         archive ? " and unpack it into " : " into ", root,
         " yourself, or install libcurl4-openssl-dev and rebuild");
  }
  const fs::path staging = fs::path(root) / ".mn-fetch";
  try {
    fs::remove_all(staging);  // what an earlier, killed fetch left
    fs::create_directories(staging);
    // Every file downloaded and checked before anything moves into the root.
    for (const RemoteFile& f : source.files) {
      const std::string path = (staging / f.name).string(), url = base + f.name;
      std::printf("downloading %s\n", url.c_str());
      std::fflush(stdout);
      http_download(url, path);
      const std::string md5 = md5_file(path);
      MN_CHECK(md5 == f.md5, url, ": checksum mismatch (MD5 ", md5, ", published ", f.md5,
               "): a corrupt or changed download; nothing was kept");
    }
    for (const RemoteFile& f : source.files) {
      if (!f.unpack) {
        fs::rename(staging / f.name, fs::path(root) / f.name);
        continue;
      }
      const fs::path unpacked = staging / "unpacked";
      std::printf("unpacking %s\n", f.name.c_str());
      extract_tar_gz((staging / f.name).string(), unpacked.string());
      for (const auto& entry : fs::directory_iterator(unpacked)) {
        const fs::path target = fs::path(root) / entry.path().filename();
        fs::remove_all(target);  // an incomplete copy: `present` was missing
        fs::rename(entry.path(), target);
      }
    }
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  fs::remove_all(staging);
  return true;
}

}  // namespace mn
