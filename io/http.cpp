// libcurl's easy interface, one transfer at a time; without libcurl (MN_HAVE_CURL unset), a refusal.
#include "io/http.h"

#include "tensor/error.h"

#ifdef MN_HAVE_CURL  // CMakeLists.txt: MN_FETCH
#include <curl/curl.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#endif

namespace mn {

#ifndef MN_HAVE_CURL

bool http_built() { return false; }

void http_download(const std::string& url, const std::string&, bool) {
  fail(url, ": this mn was built without libcurl (MN_FETCH=OFF); install libcurl4-openssl-dev and rebuild");
}

#else

bool http_built() { return true; }

namespace {

struct Transfer {
  std::FILE* out = nullptr;
  bool progress = false;
  int shown = -1;  // tenths printed
};

size_t write_body(char* data, size_t size, size_t n, void* user) {
  return std::fwrite(data, size, n, static_cast<Transfer*>(user)->out) * size;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->progress || total <= 0) return 0;
  const int tenths = int(now * 10 / total);
  if (tenths > t->shown) {
    t->shown = tenths;
    std::printf("  %3d%% of %.1f MB\n", tenths * 10, double(total) / 1e6);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

void http_download(const std::string& url, const std::string& path, bool progress) {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  MN_CHECK(init == CURLE_OK, "libcurl: initialisation failed (", curl_easy_strerror(init), ")");
  const std::string part = path + ".part";
  Transfer t{std::fopen(part.c_str(), "wb"), progress};
  MN_CHECK(t.out, part, ": cannot write");
  std::unique_ptr<CURL, void (*)(CURL*)> h(curl_easy_init(), curl_easy_cleanup);
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h.get(), CURLOPT_FAILONERROR, 1L);  // HTTP >= 400 is an error, not a body
  curl_easy_setopt(h.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h.get(), CURLOPT_XFERINFODATA, &t);
  const CURLcode rc = curl_easy_perform(h.get());
  const bool closed = std::fclose(t.out) == 0;
  if (rc != CURLE_OK || !closed) {
    std::filesystem::remove(part);
    fail(url, ": download failed (", rc != CURLE_OK ? (error[0] ? error : curl_easy_strerror(rc)) : "write error", ")");
  }
  std::filesystem::rename(part, path);
}

#endif  // MN_HAVE_CURL

}  // namespace mn
