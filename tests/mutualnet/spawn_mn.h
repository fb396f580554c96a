// Runs the real `mn` command line in a child process, for the tests that kill it, limit it or race
// it against another run.
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mn::test {

struct SpawnOptions {
  std::string stderr_path = "/dev/null";  // absolute; stdout is discarded
  // > 0: RLIMIT_FSIZE in bytes, with SIGXFSZ ignored, so that a write past it fails with EFBIG
  // as a write to a full disk fails with ENOSPC (a tmpfs of limited size would need root).
  uint64_t file_size_limit = 0;
};

// Starts `mn ARGS...` in `dir`; returns its pid.
inline pid_t spawn_mn(const std::string& dir, std::vector<std::string> args, const SpawnOptions& options = {}) {
  args.insert(args.begin(), MN_BINARY);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const rlimit limit{options.file_size_limit, options.file_size_limit};
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls between fork and exec
    if (chdir(dir.c_str()) != 0) _exit(127);
    const int null = open("/dev/null", O_WRONLY);
    const int err = open(options.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (null < 0 || err < 0) _exit(127);
    dup2(null, 1);
    dup2(err, 2);
    if (options.file_size_limit > 0 && (setrlimit(RLIMIT_FSIZE, &limit) != 0 || signal(SIGXFSZ, SIG_IGN) == SIG_ERR))
      _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for `mn` to end: its exit code, or -1 when a signal ended it.
inline int wait_mn(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace mn::test
