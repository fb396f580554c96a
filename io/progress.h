// Training progress on stdout: a single redrawn bar line on a terminal (epoch, step, loss, lr,
// images/s, ETA), plain periodic lines otherwise (CI, log files), so logs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace mn {

class Progress {
 public:
  // tty: draw a bar (default: whether stdout is a terminal). log_every: steps between plain lines.
  Progress(int64_t epochs, int64_t steps_per_epoch, int64_t log_every, bool tty);
  static bool stdout_is_tty();

  // After each step. step_in_epoch is 1-based; loss is the widest network's.
  void update(int64_t epoch, int64_t step_in_epoch, int64_t global_step, int64_t total_steps,
              double loss, double lr, double images_per_s);
  // A line of its own (validation results, warnings), printed above the bar.
  void message(const std::string& line);
  void finish();  // ends the bar line

  static std::string duration(double seconds);  // "1:02:03", "4:05"

 private:
  void clear_bar();

  int64_t epochs_, steps_per_epoch_, log_every_;
  bool tty_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int64_t start_step_ = -1;
};

}  // namespace mn
