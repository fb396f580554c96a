#!/usr/bin/env python3
"""Projected data-parallel scaling of one `mn bench train` run: step time, images/s and scaling
efficiency on p = 1, 2, 4, 8 GPUs of one NVLink machine, from the measured one-GPU step and a ring
all-reduce model. A projection, not a measurement: nothing here runs on several GPUs.

  ./build/mn bench train configs/imagenet_mobilenet_v2.toml --device cuda \\
      --set train.batch_size=128 | tail -1 | python3 tools/scaling_projection.py

Input: the bench's JSON line (stdin, or a file argument) of a one-process run. Its batch is the
per-GPU batch: p GPUs train p times as many images per step (the ImageNet recipes' 1024 are
8 x 128), each GPU the same step as the measured one, plus what the ranks must exchange:

- Gradients: `params` float32 values, all-reduced in buckets of `grad_bucket_bytes` (the last
  bucket may be smaller). A ring all-reduce of S bytes over p GPUs moves 2 (p-1)/p S bytes through
  each GPU's link in 2 (p-1) steps: t(S) = 2 (p-1)/p S / B + 2 (p-1) a, per bucket.
- Overlap: mn starts each bucket's all-reduce as soon as the last sub-network's backward has
  finished its gradients, so the all-reduces hide behind that backward up to its duration, except
  the last bucket (the first layers' gradients, final only when the backward ends):
  exposed = max(t(last bucket), sum of t(bucket) - t_backward_last). The last backward's time is
  estimated from the measured step: backward ~ 2/3 of a sub-network's forward + backward FLOPs,
  and each sub-network's share of the step ~ its share of `subnet_macs` (per image, same batch).
- Synchronized batch norm (`sync_bn`, the default): two small all-reduces per BN layer and
  sub-network (the forward's statistics, the backward's two sums), on the critical path, each
  costing about the latency term 2 (p-1) a.

Not modelled: stragglers (every step waits for the slowest GPU and its input pipeline), the host
synchronisation in each synchronized BN layer's forward, the copies into and out of the buckets,
and the per-epoch validation and BN recalibration (sharded the same way).
"""
import argparse
import json
import sys

# B: NCCL's ring all-reduce bus bandwidth on NVLink 4 (H100/H200 SXM, one 8-GPU HGX board). The
# links carry 450 GB/s per direction per GPU (line rate, NVIDIA's H100/H200 datasheets: 900 GB/s
# bidirectional); NCCL's maintainer puts the effective ring bandwidth after protocol overhead at
# about 370 GB/s (NVIDIA/nccl-tests issue 212, 2024). NVLink SHARP (NVLS) all-reduce reaches
# ~480 GB/s bus bandwidth on 8 GPUs but only on messages far larger than mn's buckets, so the
# ring figure is the one to use here.
BUS_GBPS = 370.0
# a: the latency of one of the ring's 2 (p-1) steps. A 1 KB ring all-reduce on 4 NVLink H800s
# takes 3.5 us without CUDA graphs (NVIDIA/nccl issue 1984, 2026), 0.6 us per step; 1 us leaves
# room for the launch and the event waits around each collective.
LATENCY_US = 1.0


def ring_ms(nbytes, p, bus_gbps, latency_us):
    if p == 1:
        return 0.0
    return 2 * (p - 1) / p * nbytes / (bus_gbps * 1e9) * 1e3 + 2 * (p - 1) * latency_us * 1e-3


def project(bench, ranks, bus_gbps, latency_us):
    if bench.get('ranks', 1) != 1:
        sys.exit(f"scaling_projection: the bench ran on {bench['ranks']} ranks; give it a one-process run")
    step_ms, batch = bench['ms_per_step'], bench['batch']
    grad_bytes = 4 * bench['params']
    bucket = bench['grad_bucket_bytes']
    buckets = [bucket] * (grad_bytes // bucket) + ([grad_bytes % bucket] if grad_bytes % bucket else [])
    macs = bench['subnet_macs']
    last_backward_ms = step_ms * macs[-1] / sum(macs) * 2 / 3
    bn_collectives = 2 * bench['bn_layers'] * len(macs) if bench.get('sync_bn') else 0
    rows = []
    for p in ranks:
        each = [ring_ms(b, p, bus_gbps, latency_us) for b in buckets]
        reduce_ms = sum(each)
        exposed_ms = max(each[-1], reduce_ms - last_backward_ms) if p > 1 else 0.0
        sync_bn_ms = bn_collectives * ring_ms(0, p, bus_gbps, latency_us)
        t = step_ms + exposed_ms + sync_bn_ms
        rows.append(dict(p=p, reduce_ms=reduce_ms, exposed_ms=exposed_ms, sync_bn_ms=sync_bn_ms, step_ms=t,
                         images_per_s=p * batch / t * 1e3, efficiency=step_ms / t))
    info = dict(grad_mb=grad_bytes / 1e6, buckets=len(buckets), last_backward_ms=last_backward_ms,
                bn_collectives=bn_collectives)
    return rows, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('bench', nargs='?', help="a file holding `mn bench train`'s JSON line (default: stdin)")
    ap.add_argument('--ranks', default='1,2,4,8', help='GPU counts to project (default 1,2,4,8)')
    ap.add_argument('--bus-gbps', type=float, default=BUS_GBPS, help=f'ring bus bandwidth B (default {BUS_GBPS})')
    ap.add_argument('--latency-us', type=float, default=LATENCY_US, help=f'latency a per ring step (default {LATENCY_US})')
    args = ap.parse_args()
    lines = [l for l in (open(args.bench) if args.bench else sys.stdin) if l.startswith('{')]
    if not lines:
        sys.exit('scaling_projection: no JSON line from `mn bench train` in the input')
    bench = json.loads(lines[-1])
    rows, info = project(bench, [int(p) for p in args.ranks.split(',')], args.bus_gbps, args.latency_us)
    print(f"Projected scaling of {bench['model']} ({bench['precision']}, {bench['batch']} images per GPU, "
          f"sub-networks {', '.join(bench['subnets'])}) from one {bench['device']}: "
          f"{bench['ms_per_step']:.1f} ms per step measured, last backward ~{info['last_backward_ms']:.1f} ms; "
          f"{info['grad_mb']:.1f} MB of gradients in {info['buckets']} buckets, "
          f"{info['bn_collectives']} synchronized-BN all-reduces per step; ring all-reduce at "
          f"B = {args.bus_gbps:g} GB/s, a = {args.latency_us:g} us per step (tools/scaling_projection.py).")
    print()
    print('| GPUs | gradient all-reduce (ms) | not hidden by the last backward (ms) | sync BN (ms) '
          '| step (ms) | images/s | scaling efficiency |')
    print('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for r in rows:
        print(f"| {r['p']} | {r['reduce_ms']:.3f} | {r['exposed_ms']:.3f} | {r['sync_bn_ms']:.3f} | {r['step_ms']:.1f} "
              f"| {r['images_per_s']:.0f} | {100 * r['efficiency']:.1f}% |")


if __name__ == '__main__':
    main()
