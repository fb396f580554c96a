#!/usr/bin/python3
"""PyTorch's side of `mn bench ops`: the same table (GFLOP/s of sgemm and of conv2d forward,
backward-data and backward-weight on the conv layers of a WRN-16-2 at 28x28, batch 128), measured
through Debian's CPU PyTorch with 2 threads, so the two can be compared on one machine.

usage: /usr/bin/python3 tools/bench_ops_torch.py [--threads 2] [--batch 128] [--seconds 0.5]
"""
import argparse, time
import torch
import torch.nn.functional as F

# (name, C, O, k, stride, H): the distinct conv shapes of WRN-16-2 on 28x28 (1 input channel);
# padding is k // 2. Keep in step with tools/bench_ops.cpp.
WRN16_2 = [
    ("conv1 1->16 3x3", 1, 16, 3, 1, 28),
    ("s1 16->32 3x3", 16, 32, 3, 1, 28),
    ("s1 32->32 3x3", 32, 32, 3, 1, 28),
    ("s1 short 16->32 1x1", 16, 32, 1, 1, 28),
    ("s2 32->64 3x3 /2", 32, 64, 3, 2, 28),
    ("s2 64->64 3x3", 64, 64, 3, 1, 14),
    ("s2 short 32->64 1x1 /2", 32, 64, 1, 2, 28),
    ("s3 64->128 3x3 /2", 64, 128, 3, 2, 14),
    ("s3 128->128 3x3", 128, 128, 3, 1, 7),
    ("s3 short 64->128 1x1 /2", 64, 128, 1, 2, 14),
]
GEMM = [256, 512, 1024]


def timeit(fn, seconds):
    """Seconds per call: the fastest of 5 rounds of seconds / 5 each, after a warm-up."""
    fn()
    best = float("inf")
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 5:
                break
        best = min(best, elapsed / n)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=0.5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, float32")
    print(f"{'op':<28}{'fwd':>10}{'bwd-data':>10}{'bwd-wt':>10}{'ms total':>10}   (GFLOP/s)")
    for n in GEMM:
        A, B = torch.randn(n, n), torch.randn(n, n)
        t = timeit(lambda: torch.mm(A, B), a.seconds)
        print(f"{f'sgemm {n}x{n}x{n}':<28}{2 * n**3 / t / 1e9:>10.1f}{'':>10}{'':>10}{t * 1e3:>10.2f}")
    total = 0.0
    for name, C, O, k, s, H in WRN16_2:
        x = torch.randn(a.batch, C, H, H)
        w = torch.randn(O, C, k, k)
        y = F.conv2d(x, w, None, s, k // 2)
        dy = torch.randn_like(y)
        flops = 2.0 * y.numel() * C * k * k
        # The two backwards are timed separately through the kernel autograd calls.
        def bwd(mask):
            return torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [k // 2] * 2, [1, 1],
                                                       False, [0, 0], 1, mask)
        fwd = timeit(lambda: F.conv2d(x, w, None, s, k // 2), a.seconds)
        bwd_d = timeit(lambda: bwd([True, False, False]), a.seconds)
        bwd_w = timeit(lambda: bwd([False, True, False]), a.seconds)
        t = fwd + bwd_d + bwd_w
        total += t
        print(f"{name:<28}{flops / fwd / 1e9:>10.1f}{flops / bwd_d / 1e9:>10.1f}"
              f"{flops / bwd_w / 1e9:>10.1f}{t * 1e3:>10.2f}")
    print(f"{'all convs (fwd+bwd)':<28}{'':>30}{total * 1e3:>10.2f}")
    print(f"{'batch_norm (train)':<28}{'fwd':>10}{'bwd':>10}{'':>10}{'':>10}   (ms)")
    for C, H in ((32, 28), (64, 14), (128, 7)):
        x = torch.randn(a.batch, C, H, H)
        dy = torch.randn_like(x)
        gamma, beta = torch.ones(C), torch.zeros(C)
        rm, rv = torch.zeros(C), torch.ones(C)
        fwd = timeit(lambda: torch.native_batch_norm(x, gamma, beta, rm, rv, True, 0.1, 1e-5), a.seconds)
        _, mean, invstd = torch.native_batch_norm(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
        bwd = timeit(lambda: torch.ops.aten.native_batch_norm_backward(
            dy, x, gamma, rm, rv, mean, invstd, True, 1e-5, [True, True, True]), a.seconds)
        print(f"{f'bn {C}x{H}x{H}':<28}{fwd * 1e3:>10.3f}{bwd * 1e3:>10.3f}")


if __name__ == "__main__":
    main()
