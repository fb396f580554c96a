// `mn fetch`: downloads the datasets the configs train on from their official sites (libcurl),
// checks the MD5 sums their publishers give, and unpacks them where the configs look. Everything
// is staged in <root>/.mn-fetch/ and moved into place only when every file arrived whole with the
// right checksum, so a failed fetch leaves nothing half-written.
#pragma once
#include <string>
#include <vector>

#include "mutualnet/config.h"

namespace mn {

struct RemoteFile {
  std::string name;  // under the source's base URL
  std::string md5;   // published checksum of the file
  bool unpack = false;  // a .tar.gz to extract into the root (else kept as is)
};

struct DatasetSource {
  std::string name;          // as mn fetch takes it: "cifar10"
  std::string base_url;      // the official site, ending in '/'
  std::vector<RemoteFile> files;
  std::string default_root;  // the data.root of configs/*.toml
  std::string present;       // a file under the root that exists once fetched
};

// fashion-mnist, cifar10, cifar100.
const std::vector<DatasetSource>& dataset_sources();
const DatasetSource& dataset_source(const std::string& name);  // throws, suggesting the nearest name

// The `mn fetch ...` command that gets a config's dataset ("" when mn cannot fetch it).
std::string fetch_command(const Config& c);

// Fetches `source` into `root` from `mirror` (a base URL replacing the official one) when not
// empty. Returns false, doing nothing, when the dataset is already there.
bool fetch_dataset(const DatasetSource& source, const std::string& root, const std::string& mirror);

}  // namespace mn
