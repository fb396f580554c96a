// Loader: samples are handed to workers one at a time in epoch order, at most `prefetch` batches
// ahead of the consumer; each batch lives in a slot whose memory is reused once the consumer has
// dropped the previous batch. A sample's result depends only on (seed, epoch, index), so neither
// the thread count nor the scheduling changes a batch.
#include "data/loader.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <utility>
#include <cstring>

#include "tensor/random.h"

namespace mn::data {
namespace {

constexpr size_t kReportedFiles = 20;

}  // namespace

uint64_t epoch_seed(uint64_t seed, int64_t epoch) { return splitmix64(splitmix64(seed) + uint64_t(epoch)); }

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
  // A different stream from the shuffle's: mix in the index after a tag.
  return splitmix64(splitmix64(epoch_seed(seed, epoch) ^ 0x5A3D1E5EEDull) + uint64_t(index));
}

const Tensor& Batch::at_resolution(int r) const {
  for (size_t k = 0; k < resolutions.size(); ++k)
    if (resolutions[k] == r) return images[k];
  fail("batch: no images at resolution ", r, " (this batch holds ", images.size(), " resolution(s))");
}

EpochPlan::EpochPlan(const std::shared_ptr<const Dataset>& dataset_ptr, const Pipeline& pipeline,
                     const LoaderConfig& config)
    : config_(config) {
  MN_CHECK(dataset_ptr, "loader: no dataset");
  const Dataset& dataset = *dataset_ptr;
  dataset_size_ = dataset.size();
  MN_CHECK(config_.batch_size > 0, "loader: batch_size must be positive, got ", config_.batch_size);
  MN_CHECK(config_.shards >= 1 && config_.shard >= 0 && config_.shard < config_.shards, "loader: shard ",
           config_.shard, " of ", config_.shards, " does not exist");
  channels_ = dataset.channels();
  pipeline.check_channels(channels_);
  const std::optional<int> out = pipeline.output_size();
  size_ = out ? *out : dataset.image_size();
  MN_CHECK(size_ > 0, "loader: ", dataset.describe(), " has images of varying size; start the transforms "
           "with random_resized_crop, or resize + center_crop");
  std::vector<int> all = config_.resolutions.empty() ? std::vector<int>{size_} : config_.resolutions;
  MN_CHECK(all[0] == size_, "loader: the first resolution (", all[0], ") must be the size the transforms produce (",
           size_, ")");
  for (int r : all)
    MN_CHECK(r > 0 && r <= size_, "loader: resolution ", r, " must be in [1, ", size_, "] (largest first)");
  resolutions_ = config_.all_resolutions ? all : std::vector<int>{size_};
  MN_CHECK(batches_per_epoch() > 0, "loader: ", dataset.describe(), " has fewer images than one batch of ",
           config_.batch_size, " (drop_last)");
}

int64_t EpochPlan::batches_per_epoch() const {
  const int64_t n = dataset_size_, b = config_.batch_size;
  return config_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> EpochPlan::order(int64_t epoch, int64_t first_batch) const {
  MN_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(), "loader: cannot start epoch ", epoch,
           " at batch ", first_batch, ", an epoch has ", batches_per_epoch(), " batches");
  std::vector<int64_t> indices(static_cast<size_t>(dataset_size_));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = int64_t(i);
  if (!config_.shuffle) return indices;
  Generator rng(epoch_seed(config_.seed, epoch));
  for (int64_t i = int64_t(indices.size()) - 1; i > 0; --i)
    std::swap(indices[size_t(i)], indices[size_t(rng.randint(0, i))]);
  return indices;
}

int64_t EpochPlan::shard_bound(int64_t b, int64_t part) const {
  const int64_t end = std::min(batches_per_epoch() * config_.batch_size, dataset_size_);
  const int64_t begin = b * config_.batch_size, n = std::clamp<int64_t>(end - begin, 0, config_.batch_size);
  return begin + n * part / config_.shards;
}

std::string EpochPlan::describe(const Dataset& dataset, const Pipeline& pipeline, const std::string& how) const {
  std::string res;
  for (int r : resolutions_) res += cat(res.empty() ? "" : ",", r);
  const std::string shard = config_.shards > 1 ? cat(" (shard ", config_.shard, " of ", config_.shards, ")") : "";
  return cat(dataset.describe(), "; ", batches_per_epoch(), " batches of ", config_.batch_size, shard, ", ", how,
             ", resolutions ", res, config_.antialias ? " (antialiased)" : "", "; transforms: ", pipeline.describe());
}

std::vector<PlaneResizer> EpochPlan::resizers() const {
  std::vector<PlaneResizer> out;
  for (size_t k = 1; k < resolutions_.size(); ++k)
    out.emplace_back(size_, size_, resolutions_[k], resolutions_[k], true, config_.antialias);
  return out;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderConfig config)
    : dataset_(std::move(dataset)),
      pipeline_(std::move(pipeline)),
      config_(std::move(config)),
      plan_(dataset_, pipeline_, config_),
      resizers_(plan_.resizers()) {
  MN_CHECK(config_.prefetch >= 1, "loader: prefetch must be at least 1, got ", config_.prefetch);
  MN_CHECK(config_.workers >= 0, "loader: workers must be >= 0 (0 = one per core), got ", config_.workers);
  slots_.resize(size_t(config_.prefetch));
  const int workers = config_.workers > 0 ? config_.workers : int(std::max(1u, std::thread::hardware_concurrency()));
  try {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker(); });
  } catch (const std::system_error& e) {
    stop_workers();
    fail("loader: cannot start ", workers, " worker threads (", e.what(), ")");
  }
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

int64_t Loader::shard_pos(int64_t pos) const {
  for (int64_t b = pos / config_.batch_size; pos < end_pos_; pos = batch_begin(++b)) {
    pos = std::max(pos, batch_begin(b));
    if (pos < batch_end(b)) return pos;
  }
  return end_pos_;
}

std::string Loader::describe() const {
  return plan_.describe(*dataset_, pipeline_, cat(threads_.size(), " workers"));
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  std::vector<int64_t> order = plan_.order(epoch, first_batch);
  std::unique_lock lock(mutex_);
  next_pos_ = end_pos_;  // hand out nothing more of the previous epoch
  ready_cv_.wait(lock, [&] { return in_flight_ == 0; });
  order_ = std::move(order);
  epoch_ = epoch;
  end_batch_ = batches_per_epoch();
  end_pos_ = std::min(end_batch_ * config_.batch_size, dataset_->size());
  consumer_batch_ = first_batch;
  next_pos_ = shard_pos(first_batch * config_.batch_size);
  for (Slot& s : slots_) s.batch = -1, s.ready = false;
  report_ = EpochReport{};
  report_.epoch = epoch;
  fatal_ = nullptr;
  started_ = true;
  work_cv_.notify_all();
}

bool Loader::Buffers::free() const {
  // Only the pool holds the storage (the consumer has dropped every batch that used it), and no
  // asynchronous copy to a device is still reading it (UploadLoader).
  auto unused = [](const Tensor& t) { return t.storage().use_count() == 1 && !t.storage()->copy_in_flight(); };
  bool all = unused(labels);
  for (const Tensor& t : images) all = all && unused(t);
  return all;
}

void Loader::open_slot(Slot& slot, int64_t batch) {
  const int64_t n = batch_end(batch) - batch_begin(batch);
  // Take a free buffer set (pinned allocations are expensive and fresh pages fault on first
  // touch); allocate one when the consumer still holds them all. The batch just returned is
  // usually still held while the next one opens, so the pool settles at prefetch + 1 sets.
  slot.images.clear();
  slot.labels = Tensor();
  for (const Buffers& b : pool_)
    if (b.labels.size(0) >= n && b.free()) {
      // The consumer's last reads of this memory happen before its reference count drop.
      std::atomic_thread_fence(std::memory_order_acquire);
      for (const Tensor& t : b.images) slot.images.push_back(t.slice(0, 0, n));
      slot.labels = b.labels.slice(0, 0, n);
      break;
    }
  if (!slot.labels.defined()) {
    Buffers b;
    for (int r : plan_.resolutions()) b.images.push_back(Tensor::empty_pinned({n, plan_.channels(), r, r}, DType::f32));
    b.labels = Tensor::empty_pinned({n}, DType::i64);
    slot.images = b.images;
    slot.labels = b.labels;
    // Keep at most prefetch + 2 sets; sets dropped here live on in the consumer's batches.
    if (pool_.size() >= size_t(config_.prefetch) + 2) pool_.erase(pool_.begin());
    pool_.push_back(std::move(b));
  }
  slot.batch = batch;
  slot.remaining = int(n);
  slot.ready = false;
  slot.indices.assign(size_t(n), -1);
  slot.bad.assign(size_t(n), std::string());
  slot.errors.assign(size_t(n), nullptr);
}

void Loader::worker() {
  const int64_t b = config_.batch_size;
  for (;;) {
    std::unique_lock lock(mutex_);
    work_cv_.wait(lock, [&] {
      return stop_ || (next_pos_ < end_pos_ && next_pos_ / b < consumer_batch_ + config_.prefetch);
    });
    if (stop_) return;
    const int64_t pos = next_pos_;
    next_pos_ = shard_pos(pos + 1);
    const int64_t batch = pos / b;
    Slot& slot = slots_[size_t(batch % config_.prefetch)];
    if (pos == batch_begin(batch)) {
      try {
        open_slot(slot, batch);
      } catch (...) {  // out of (pinned) memory: the consumer rethrows it, the epoch ends
        fatal_ = std::current_exception();
        next_pos_ = end_pos_;
        lock.unlock();
        ready_cv_.notify_all();
        continue;
      }
    }
    const int64_t row = pos - batch_begin(batch), index = order_[size_t(pos)], epoch = epoch_;
    ++in_flight_;
    lock.unlock();

    build_sample(slot, row, index, epoch);

    lock.lock();
    // Wake the consumer only when it has something to do: a finished batch, or (start_epoch)
    // no sample in flight.
    --in_flight_;
    if (--slot.remaining == 0) slot.ready = true;
    const bool notify = slot.ready || in_flight_ == 0;
    lock.unlock();
    if (notify) ready_cv_.notify_all();
  }
}

// Writes one sample into row `row` of the slot (rows are disjoint, so no lock is needed).
void Loader::build_sample(Slot& slot, int64_t row, int64_t index, int64_t epoch) {
  slot.indices[size_t(row)] = index;
  try {
    Generator rng(sample_seed(config_.seed, epoch, index));
    RawSample raw = dataset_->load(index);
    const int channels = plan_.channels(), size = plan_.size();
    const size_t n0 = size_t(channels) * size * size;
    float* top = slot.images[0].data<float>() + row * int64_t(n0);
    pipeline_.run(raw, channels, rng, std::span<float>(top, n0), size);
    for (size_t k = 1; k < plan_.resolutions().size(); ++k) {
      const int r = plan_.resolutions()[k];
      const size_t nk = size_t(channels) * r * r;
      resizers_[k - 1].run(top, slot.images[k].data<float>() + row * int64_t(nk), channels);
    }
    slot.labels.data<int64_t>()[row] = dataset_->label(index);
  } catch (const ImageError& e) {
    if (config_.on_bad_image == OnBadImage::skip)
      slot.bad[size_t(row)] = e.what();
    else
      slot.errors[size_t(row)] = std::make_exception_ptr(Error(cat(e.what(), " (on_bad_image = \"skip\" would skip it)")));
  } catch (...) {
    slot.errors[size_t(row)] = std::current_exception();
  }
}

// Turns a finished slot into a Batch, moving rows of skipped images out.
Batch Loader::take(Slot& slot) {
  Batch batch;
  batch.epoch = epoch_;
  batch.index = slot.batch;
  batch.resolutions = plan_.resolutions();
  const int64_t n = int64_t(slot.indices.size());
  int64_t kept = 0;
  for (int64_t row = 0; row < n; ++row) {
    if (!slot.bad[size_t(row)].empty()) {
      ++batch.skipped;
      if (report_.skipped_files.size() < kReportedFiles) report_.skipped_files.push_back(slot.bad[size_t(row)]);
      continue;
    }
    if (kept != row) {
      for (const Tensor& t : slot.images) {
        const int64_t len = t.numel() / n;
        float* p = t.data<float>();
        std::memmove(p + kept * len, p + row * len, size_t(len) * sizeof(float));
      }
      slot.labels.data<int64_t>()[kept] = slot.labels.data<int64_t>()[row];
    }
    batch.indices.push_back(slot.indices[size_t(row)]);
    ++kept;
  }
  for (const Tensor& t : slot.images) batch.images.push_back(kept == n ? t : t.slice(0, 0, kept));
  batch.labels = kept == n ? slot.labels : slot.labels.slice(0, 0, kept);
  report_.skipped += batch.skipped;
  report_.images += kept;
  if (kept > 0) ++report_.batches;
  return batch;
}

std::optional<Batch> Loader::next() {
  std::unique_lock lock(mutex_);
  MN_CHECK(started_, "loader: call start_epoch before next");
  for (;;) {
    // A shard is empty from here on when the last, short batch (or every batch) has fewer images
    // than there are shards.
    if (consumer_batch_ >= end_batch_ || batch_begin(consumer_batch_) == batch_end(consumer_batch_))
      return std::nullopt;
    Slot& slot = slots_[size_t(consumer_batch_ % config_.prefetch)];
    ready_cv_.wait(lock, [&] { return (slot.batch == consumer_batch_ && slot.ready) || fatal_; });
    if (fatal_) {
      end_batch_ = consumer_batch_;
      std::rethrow_exception(std::exchange(fatal_, nullptr));
    }
    for (const std::exception_ptr& e : slot.errors) {
      if (!e) continue;
      // The epoch ends here: no more work is handed out, next() returns nullopt.
      next_pos_ = end_pos_;
      end_batch_ = consumer_batch_;
      std::rethrow_exception(e);
    }
    Batch batch = take(slot);
    ++consumer_batch_;
    slot.ready = false;
    slot.images.clear();  // the batch holds the buffers now; the pool sees them free once it is gone
    slot.labels = Tensor();
    lock.unlock();
    work_cv_.notify_all();
    if (batch.size() > 0) return batch;
    lock.lock();  // every image of this batch was bad: go on with the next one
  }
}

EpochReport Loader::report() const {
  std::lock_guard lock(mutex_);
  return report_;
}

}  // namespace mn::data
