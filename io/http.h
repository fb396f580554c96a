// Downloads over HTTP(S) with libcurl (mn fetch); an mn built without it (MN_FETCH=OFF, or AUTO
// where libcurl's headers are missing) has the same interface and refuses every download.
#pragma once
#include <string>

namespace mn {

// Downloads `url` to `path`: into `path.part`, renamed to `path` only when the transfer is
// complete, so an interrupted, truncated or failed download (HTTP error status, connection
// closed early) leaves nothing behind and throws, naming the URL and the cause. Prints a line per
// 10% of progress when the size is known and `progress` is set.
void http_download(const std::string& url, const std::string& path, bool progress = true);

// False when mn was built without libcurl: http_download then throws.
bool http_built();

}  // namespace mn
