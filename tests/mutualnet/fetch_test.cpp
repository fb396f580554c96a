// mn fetch against a local HTTP server (a thread of this test on 127.0.0.1) serving small
// archives built here: a good fetch unpacks where the config looks; a checksum mismatch, a
// truncated body and a missing file are clear errors that leave nothing behind; the tar reader
// refuses entries that would land outside its destination. Built without libcurl (MN_FETCH=OFF),
// a fetch is a clear refusal instead.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "tests/common/test_util.h"
#include "io/http.h"
#include "io/md5.h"
#include "io/tar.h"
#include "mutualnet/config.h"
#include "mutualnet/fetch.h"

namespace mn {

namespace {

namespace fs = std::filesystem;

// HTTP/1.0 replies of fixed bodies by path; `promised` > body size plays a connection that
// closes before the promised Content-Length arrived.
class TestServer {
 public:
  struct Reply {
    std::string body;
    size_t promised = 0;  // 0: the body's size
  };

  explicit TestServer(std::map<std::string, Reply> replies) : replies_(std::move(replies)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    REQUIRE(listen(fd_, 4) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestServer() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
  }
  std::string url() const { return cat("http://127.0.0.1:", port_); }

 private:
  void serve() {
    for (int c; (c = accept(fd_, nullptr, nullptr)) >= 0; close(c)) {
      std::string request;
      char buf[1024];
      for (ssize_t n; request.find("\r\n\r\n") == std::string::npos && (n = read(c, buf, sizeof buf)) > 0;)
        request.append(buf, size_t(n));
      const size_t start = request.find(' ') + 1;
      const std::string path = request.substr(start, request.find(' ', start) - start);
      const auto it = replies_.find(path);
      const std::string body = it == replies_.end() ? "not found" : it->second.body;
      const size_t length = it == replies_.end() || it->second.promised == 0 ? body.size() : it->second.promised;
      const std::string reply = cat("HTTP/1.0 ", it == replies_.end() ? "404 Not Found" : "200 OK",
                                    "\r\nContent-Length: ", length, "\r\nConnection: close\r\n\r\n", body);
      [[maybe_unused]] ssize_t sent = write(c, reply.data(), reply.size());
    }
  }

  std::map<std::string, Reply> replies_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A .tar.gz of regular files (name -> contents), ustar headers with their checksums.
std::string tar_gz(const std::string& path, const std::map<std::string, std::string>& files) {
  std::string tar;
  for (const auto& [name, data] : files) {
    char h[512] = {};
    std::snprintf(h, 100, "%s", name.c_str());
    std::snprintf(h + 100, 8, "0000644");
    std::snprintf(h + 108, 8, "0000000");
    std::snprintf(h + 116, 8, "0000000");
    std::snprintf(h + 124, 12, "%011o", unsigned(data.size()));
    std::snprintf(h + 136, 12, "%011o", 0u);
    h[156] = '0';
    std::memcpy(h + 257, "ustar\0" "00", 8);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char ch : h) sum += ch;
    std::snprintf(h + 148, 8, "%06o", sum);
    tar.append(h, 512);
    tar += data;
    tar.append((512 - data.size() % 512) % 512, '\0');
  }
  tar.append(1024, '\0');
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, tar.data(), unsigned(tar.size()));
  gzclose(f);
  return read_file(path);
}

std::string md5_of(const std::string& s) {
  Md5 m;
  m.update(s.data(), s.size());
  return m.hex();
}

// Every path under dir, relative, sorted: what a fetch left there.
std::vector<std::string> tree(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("fetch: downloads, checks and unpacks; failures leave nothing behind") {
  test::TempDir dir("mn_fetch");
  const std::string archive = tar_gz(dir.file("a.tar.gz"), {{"cifar-10-batches-bin/test_batch.bin", std::string(3073, 'x')},
                                                             {"cifar-10-batches-bin/batches.meta.txt", "airplane\n"}});
  TestServer server({{"/good.tar.gz", {archive}},
                     {"/bad.tar.gz", {archive}},
                     {"/cut.tar.gz", {archive.substr(0, archive.size() / 2), archive.size()}}});
  auto source = [&](const std::string& file, const std::string& md5) {
    DatasetSource s = dataset_source("cifar10");
    s.files = {{file, md5, true}};
    return s;
  };
  const std::string root = dir.file("root");
  if (!http_built()) {
    // Built with MN_FETCH=OFF: a fetch says what to download by hand and touches nothing.
    const std::string e = test::error_of([&] { fetch_dataset(source("good.tar.gz", md5_of(archive)), root, server.url()); });
    CHECK(e == cat("this mn was built without libcurl (MN_FETCH=OFF): download good.tar.gz from ", server.url(),
                   "/ and unpack it into ", root, " yourself, or install libcurl4-openssl-dev and rebuild"));
    CHECK(tree(root).empty());
    MESSAGE("skipped the downloads: mn was built without libcurl (MN_FETCH=OFF)");
    return;
  }

  SUBCASE("a good archive") {
    CHECK(fetch_dataset(source("good.tar.gz", md5_of(archive)), root, server.url()));
    CHECK(tree(root) == std::vector<std::string>{"cifar-10-batches-bin", "cifar-10-batches-bin/batches.meta.txt",
                                                 "cifar-10-batches-bin/test_batch.bin"});
    CHECK(read_file(root + "/cifar-10-batches-bin/test_batch.bin") == std::string(3073, 'x'));
    CHECK_FALSE(fetch_dataset(source("good.tar.gz", md5_of(archive)), root, server.url()));  // already there
  }
  SUBCASE("a checksum mismatch") {
    const std::string e = test::error_of([&] { fetch_dataset(source("bad.tar.gz", std::string(32, '0')), root, server.url()); });
    CHECK(e == cat(server.url(), "/bad.tar.gz: checksum mismatch (MD5 ", md5_of(archive), ", published ", std::string(32, '0'),
                   "): a corrupt or changed download; nothing was kept"));
    CHECK(tree(root).empty());
  }
  SUBCASE("a truncated download") {
    const std::string e = test::error_of([&] { fetch_dataset(source("cut.tar.gz", md5_of(archive)), root, server.url()); });
    CHECK(e.starts_with(server.url() + "/cut.tar.gz: download failed ("));
    CHECK(tree(root).empty());
  }
  SUBCASE("a missing file") {
    const std::string e = test::error_of([&] { fetch_dataset(source("none.tar.gz", md5_of(archive)), root, server.url()); });
    CHECK(e.starts_with(server.url() + "/none.tar.gz: download failed ("));
    CHECK(e.find("404") != std::string::npos);
    CHECK(tree(root).empty());
  }
}

TEST_CASE("fetch: the tar reader refuses entries outside the destination") {
  test::TempDir dir("mn_fetch_tar");
  tar_gz(dir.file("evil.tar.gz"), {{"../evil.txt", "x"}});
  CHECK(test::error_of([&] { extract_tar_gz(dir.file("evil.tar.gz"), dir.file("out")); }) ==
        dir.file("evil.tar.gz") + ": entry '../evil.txt' would land outside the destination");
  CHECK_FALSE(fs::exists(dir.file("evil.txt")));
}

TEST_CASE("fetch: the default roots are the configs' data.root, and a missing dataset names mn fetch") {
  CHECK(dataset_source("cifar10").default_root == load_config(MN_SOURCE_DIR "/configs/cifar10_wrn.toml").data.root);
  CHECK(dataset_source("cifar100").default_root == load_config(MN_SOURCE_DIR "/configs/cifar100_wrn.toml").data.root);
  CHECK(dataset_source("fashion-mnist").default_root == load_config(MN_SOURCE_DIR "/configs/fashion_mnist.toml").data.root);
  CHECK(fetch_command(load_config(MN_SOURCE_DIR "/configs/cifar100_wrn.toml")) == "mn fetch cifar100");
  CHECK(fetch_command(load_config(MN_SOURCE_DIR "/configs/cifar10_wrn.toml", {"data.root=/x"})) == "mn fetch cifar10 --root /x");
  CHECK(fetch_command(load_config(MN_SOURCE_DIR "/configs/imagenet_resnet50.toml")).empty());
  CHECK(test::error_of([] { dataset_source("cifar"); }) == "unknown dataset 'cifar' (mn fetch knows fashion-mnist, cifar10, cifar100)");
}

}  // namespace mn
