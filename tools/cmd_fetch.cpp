// `mn fetch fashion-mnist|cifar10|cifar100 [--root DIR] [--mirror URL]`: downloads a dataset from
// its official site, checks its published MD5 sums and unpacks it where the configs look
// (mutualnet/fetch.h).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mutualnet/fetch.h"
#include "tools/commands.h"

namespace mn::cli {

const Spec kFetchSpec{
    "fetch",
    "Downloads a dataset (fashion-mnist, cifar10, cifar100), checks its published checksums, unpacks it for the configs.",
    {positional("DATASET", "fashion-mnist, cifar10 or cifar100"),
     option("--root", "DIR", "where to put it (default: the data.root of its config in configs/)"),
     option("--mirror", "URL", "a base URL serving the same files instead of the official site (default: $MN_FETCH_MIRROR)")}};

int cmd_fetch(int argc, char** argv) {
  const Args args(kFetchSpec, argc, argv);
  const DatasetSource& source = dataset_source(args.get("DATASET"));
  const std::string root = args.has("--root") ? args.get("--root") : source.default_root;
  const char* env = std::getenv("MN_FETCH_MIRROR");
  const std::string mirror = args.has("--mirror") ? args.get("--mirror") : env ? env : "";
  if (!fetch_dataset(source, root, mirror)) {
    std::printf("%s is already in %s (%s exists)\n", source.name.c_str(), root.c_str(), source.present.c_str());
    return 0;
  }
  std::printf("%s: checksums match; unpacked into %s\n", source.name.c_str(), root.c_str());
  return 0;
}

}  // namespace mn::cli
