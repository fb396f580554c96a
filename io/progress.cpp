// Progress bar / periodic lines for the training loop.
#include "io/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace mn {

Progress::Progress(int64_t epochs, int64_t steps_per_epoch, int64_t log_every, bool tty)
    : epochs_(epochs), steps_per_epoch_(steps_per_epoch), log_every_(log_every), tty_(tty) {}

bool Progress::stdout_is_tty() { return ::isatty(::fileno(stdout)) == 1; }

std::string Progress::duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

void Progress::update(int64_t epoch, int64_t step_in_epoch, int64_t global_step,
                      int64_t total_steps, double loss, double lr, double images_per_s) {
  const auto now = std::chrono::steady_clock::now();
  if (start_step_ < 0) {
    start_step_ = global_step - 1;
    start_ = now;
  }
  // ETA from the average pace of this session (the first step included, so it is conservative).
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double per_step = elapsed / std::max<int64_t>(1, global_step - start_step_);
  const double eta = per_step * static_cast<double>(total_steps - global_step);

  if (tty_) {
    if (step_in_epoch != steps_per_epoch_ && now - last_draw_ < std::chrono::milliseconds(100))
      return;
    last_draw_ = now;
    const int width = 24;
    const int filled = static_cast<int>(width * step_in_epoch / std::max<int64_t>(1, steps_per_epoch_));
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::printf("\r\033[2Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  lr %.4g  %.0f img/s  ETA %s",
                static_cast<long long>(epoch + 1), static_cast<long long>(epochs_), bar.c_str(),
                static_cast<long long>(step_in_epoch), static_cast<long long>(steps_per_epoch_),
                loss, lr, images_per_s, duration(eta).c_str());
    std::fflush(stdout);
    bar_drawn_ = true;
    return;
  }
  if (global_step % log_every_ != 0 && step_in_epoch != steps_per_epoch_) return;
  std::printf("epoch %lld/%lld step %lld/%lld (%lld/%lld) loss %.4f lr %.5g %.0f img/s eta %s\n",
              static_cast<long long>(epoch + 1), static_cast<long long>(epochs_),
              static_cast<long long>(step_in_epoch), static_cast<long long>(steps_per_epoch_),
              static_cast<long long>(global_step), static_cast<long long>(total_steps), loss, lr,
              images_per_s, duration(eta).c_str());
  std::fflush(stdout);
}

void Progress::clear_bar() {
  if (tty_ && bar_drawn_) {
    std::printf("\r\033[2K");
    bar_drawn_ = false;
  }
}

void Progress::message(const std::string& line) {
  clear_bar();
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  last_draw_ = {};  // redraw the bar at the next update
}

void Progress::finish() {
  if (tty_ && bar_drawn_) {
    std::printf("\n");
    bar_drawn_ = false;
  }
  std::fflush(stdout);
}

}  // namespace mn
