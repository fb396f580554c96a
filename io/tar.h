// Unpacking .tar.gz archives (the CIFAR downloads): zlib for the gzip stream, and a small reader
// of the (ustar / old GNU) tar format: 512-byte headers, regular files and folders only.
#pragma once
#include <string>

namespace mn {

// Extracts `archive` into `dest` (created). Entry names that are absolute or climb out with ".."
// are refused; links and special files are skipped. A truncated or corrupt archive throws,
// naming it (what was extracted so far stays: extract into a staging folder).
void extract_tar_gz(const std::string& archive, const std::string& dest);

}  // namespace mn
