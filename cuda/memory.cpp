// CudaBackend memory: device memory from the stream-ordered pool, pinned memory from its cache, synchronous
// copies on the compute stream, and asynchronous copies through the copy stream (to_device_async,
// which the device loader's per-batch parameters and labels take; the CPU loader's batches go
// through the synchronous copy).
#include <cstring>
#include <mutex>

#include "cuda/common.h"

namespace mn {

using cuda::context;

namespace {

void check_index(Device d) {
  MN_CHECK(d.is_cpu() || d.index == 0, "cuda: mn drives one GPU, cuda:0 (select the card with ",
           "CUDA_VISIBLE_DEVICES); got ", d.str());
}

// Two device staging buffers for asynchronous batch copies. The copy stream fills one from pinned
// memory without waiting for the compute stream (so it overlaps with queued kernels); the compute
// stream then waits for that copy and moves the bytes into the destination tensor, whose memory it
// may still be using for earlier work. Two slots let the next batch land while this one is moved.
struct Staging {
  struct Slot {
    cuda::Buffer buffer;
    cudaEvent_t drained = nullptr;  // compute stream done reading the slot
  };
  std::mutex mu;
  Slot slots[2];
  int next = 0;
  cudaEvent_t compute_mark = nullptr, copied = nullptr;
};

Staging& staging() {
  static Staging* s = [] {
    auto* st = new Staging;
    MN_CUDA_CHECK(cudaEventCreateWithFlags(&st->compute_mark, cudaEventDisableTiming));
    MN_CUDA_CHECK(cudaEventCreateWithFlags(&st->copied, cudaEventDisableTiming));
    for (auto& slot : st->slots)
      MN_CUDA_CHECK(cudaEventCreateWithFlags(&slot.drained, cudaEventDisableTiming));
    return st;
  }();
  return *s;
}

}  // namespace

void* CudaBackend::allocate(size_t nbytes) { return context().allocator->allocate(nbytes); }

void CudaBackend::deallocate(void* ptr, size_t nbytes) { context().allocator->deallocate(ptr, nbytes); }

void* CudaBackend::allocate_pinned(size_t nbytes) { return context().pinned.allocate(nbytes); }

void CudaBackend::deallocate_pinned(void* ptr) { context().pinned.deallocate(ptr); }

bool CudaBackend::copy_in_flight(const void* pinned) { return context().pinned.copy_in_flight(pinned); }

void CudaBackend::copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                             size_t nbytes) {
  check_index(dst_device);
  check_index(src_device);
  if (nbytes == 0) return;
  cuda::Context& c = context();
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, nbytes);
  } else if (dst_device.is_cuda() && src_device.is_cuda()) {
    MN_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, c.compute));
  } else if (dst_device.is_cpu()) {
    MN_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, c.compute));
    MN_CUDA_CHECK(cudaStreamSynchronize(c.compute));
  } else {
    // A pageable source is staged by the driver before this returns; a pinned one is read by the
    // DMA engine later, so wait for it: this is the synchronous path.
    MN_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, c.compute));
    if (c.pinned.find_block(src, nbytes)) MN_CUDA_CHECK(cudaStreamSynchronize(c.compute));
  }
}

void CudaBackend::copy_bytes_async(void* dst, Device dst_device, const void* src,
                                   Device src_device, size_t nbytes) {
  cuda::Context& c = context();
  void* block = dst_device.is_cuda() && src_device.is_cpu() ? c.pinned.find_block(src, nbytes) : nullptr;
  if (!block || nbytes == 0) {
    copy_bytes(dst, dst_device, src, src_device, nbytes);
    return;
  }
  check_index(dst_device);
  Staging& st = staging();
  std::lock_guard<std::mutex> lock(st.mu);
  Staging::Slot& slot = st.slots[st.next];
  st.next ^= 1;
  if (slot.buffer.size() < nbytes) {
    // A fresh block comes from the pool, where the compute stream may still be using it.
    slot.buffer = cuda::Buffer(nbytes);
    MN_CUDA_CHECK(cudaEventRecord(st.compute_mark, c.compute));
    MN_CUDA_CHECK(cudaStreamWaitEvent(c.copy, st.compute_mark, 0));
  } else {
    MN_CUDA_CHECK(cudaStreamWaitEvent(c.copy, slot.drained, 0));
  }
  MN_CUDA_CHECK(cudaMemcpyAsync(slot.buffer.get(), src, nbytes, cudaMemcpyHostToDevice, c.copy));
  c.pinned.record_use(block, c.copy);
  MN_CUDA_CHECK(cudaEventRecord(st.copied, c.copy));
  MN_CUDA_CHECK(cudaStreamWaitEvent(c.compute, st.copied, 0));
  MN_CUDA_CHECK(cudaMemcpyAsync(dst, slot.buffer.get(), nbytes, cudaMemcpyDeviceToDevice, c.compute));
  MN_CUDA_CHECK(cudaEventRecord(slot.drained, c.compute));
}

void CudaBackend::synchronize() {
  MN_CUDA_CHECK(cudaStreamSynchronize(context().copy));
  MN_CUDA_CHECK(cudaStreamSynchronize(context().compute));
}

MemoryStats CudaBackend::memory_stats() { return context().allocator->stats(); }

void CudaBackend::reset_peak_memory() { context().allocator->reset_peak(); }

void CudaBackend::empty_cache() {
  synchronize();
  context().allocator->empty_cache();
  context().pinned.empty_cache();
}

std::string CudaBackend::device_name() { return context().props.name; }

// bf16: activations in bfloat16 and float32 convs (if any are left) on TF32, like PyTorch's autocast
// with its allow_tf32 default.
void CudaBackend::set_precision(Precision p) {
  cuda::Context& c = context();
  MN_CHECK(p != Precision::bf16 || cuda_bf16_supported(), "precision = \"bf16\" needs a GPU of compute "
           "capability 8.0 or newer (", c.props.name, " is ", c.props.major, ".", c.props.minor,
           "); use \"tf32\" or \"fp32\"");
  c.allow_tf32 = p != Precision::fp32;
  c.activations = p == Precision::bf16 ? DType::bf16 : DType::f32;
}

DType CudaBackend::activation_dtype() { return context().activations; }

void CudaBackend::set_memory_format(MemoryFormat f) { context().memory_format = f; }
MemoryFormat CudaBackend::memory_format() { return context().memory_format; }

}  // namespace mn
