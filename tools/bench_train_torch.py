#!/usr/bin/env python3
"""PyTorch eager baseline for `mn bench train`: one MutualNet training step of a slimmable
WRN-28-10 on CIFAR-100 shapes (batch 128, 3x32x32, 100 classes) on the GPU, timed.

The step is the sandwich rule with fixed sub-networks, so that mn and PyTorch do identical work:
  1. width 1.0 at 32x32, cross-entropy with the labels, backward; its logits (detached) teach
  2. widths 29/30, 28/30 and 0.9 (two "random" widths fixed at 2/3 and 1/3 of the public recipe's
     range [0.9, 1.0], then its minimum, largest first) at 28, 24 and 20 pixels (bilinear
     downscales of the batch, align_corners=True), each KL(softmax(teacher) || softmax(student))
     'batchmean', backward
  3. one SGD step (Nesterov momentum 0.9, weight decay 5e-4, lr 0.1)
Channel counts follow the public code's make_divisible(c * w, 8). float32 with PyTorch's defaults
(cuDNN may use TF32, cuBLAS does not), torch.backends.cudnn.benchmark = True. Data is a fixed
random batch already on the GPU: this times the step, not the loader.

--amp runs the forward passes and losses under torch.autocast(dtype=torch.bfloat16) (convs and
matmuls in bf16, batch norm, softmax and the losses in float32, float32 master weights), the
counterpart of mn's precision = "bf16". --channels-last keeps the model and the batch in NHWC
(torch.channels_last), the layout cuDNN's tensor-core kernels prefer.

usage: python3 tools/bench_train_torch.py [--steps 20] [--warmup 5] [--batch 128] [--amp]
                                          [--channels-last] [--depth 28] [--widen 10]
                                          [--classes 100] [--device cuda]
Prints a table and one JSON line (images/s, ms per step, peak GPU memory allocated and reserved).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTHS = (1.0, 29 / 30, 28 / 30, 0.9)
RESOLUTIONS = (32, 28, 24, 20)


def make_divisible(v, divisor=8):
    n = max(1, int(v + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * v else n


class Width:
    """The active width multiplier, read by every slimmable layer."""
    value = 1.0


def active(channels, slim=True):
    return make_divisible(channels * Width.value) if slim else channels


class SlimConv(nn.Conv2d):
    def __init__(self, cin, cout, k, stride=1, pad=0, slim_in=True, slim_out=True):
        super().__init__(cin, cout, k, stride, pad, bias=False)
        self.slim_in, self.slim_out = slim_in, slim_out

    def forward(self, x):
        o = active(self.out_channels, self.slim_out)
        i = active(self.in_channels, self.slim_in)
        return F.conv2d(x, self.weight[:o, :i], None, self.stride, self.padding)


class SlimBN(nn.BatchNorm2d):
    def forward(self, x):
        c = active(self.num_features)
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c],
                            self.bias[:c], self.training, self.momentum, self.eps)


class SlimLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight[:, :active(self.in_features)], self.bias)


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = SlimBN(cin), SlimConv(cin, cout, 3, stride, 1)
        self.bn2, self.conv2 = SlimBN(cout), SlimConv(cout, cout, 3, 1, 1)
        self.shortcut = None if cin == cout else SlimConv(cin, cout, 1, stride, 0)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return out + (x if self.shortcut is None else self.shortcut(a))


class WideResNet(nn.Module):
    def __init__(self, depth, widen, classes):
        super().__init__()
        n = (depth - 4) // 6
        c = [16, 16 * widen, 32 * widen, 64 * widen]
        self.stem = SlimConv(3, c[0], 3, 1, 1, slim_in=False)
        blocks = []
        for g, stride in enumerate((1, 2, 2)):
            for b in range(n):
                blocks.append(PreActBlock(c[g] if b == 0 else c[g + 1], c[g + 1], stride if b == 0 else 1))
        self.blocks = nn.Sequential(*blocks)
        self.bn = SlimBN(c[3])
        self.fc = SlimLinear(c[3], classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--depth', type=int, default=28)
    ap.add_argument('--widen', type=int, default=10)
    ap.add_argument('--classes', type=int, default=100)
    ap.add_argument('--device', default='cuda', help='cpu only to smoke-test this script')
    ap.add_argument('--amp', action='store_true', help='bfloat16 autocast (mn: precision = "bf16")')
    ap.add_argument('--channels-last', action='store_true', help='NHWC model and batch')
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == 'cuda'
    if cuda and not torch.cuda.is_available():
        raise SystemExit('bench_train_torch: no CUDA device')
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1995)
    model = WideResNet(a.depth, a.widen, a.classes).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, RESOLUTIONS[0], RESOLUTIONS[0], device=dev)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    # Autocast covers the forward passes and the losses; backward and the optimizer run outside it.
    autocast = lambda: torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.amp)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        scaled = {r: x if r == RESOLUTIONS[0] else
                  F.interpolate(x, size=(r, r), mode='bilinear', align_corners=True) for r in RESOLUTIONS}
        Width.value = WIDTHS[0]
        with autocast():
            logits = model(scaled[RESOLUTIONS[0]])
            loss = F.cross_entropy(logits, y)
        loss.backward()
        teacher = F.softmax(logits.detach().float(), dim=1)
        for w, r in zip(WIDTHS[1:], RESOLUTIONS[1:]):
            Width.value = w
            with autocast():
                student = model(scaled[r])
                loss = F.kl_div(F.log_softmax(student.float(), dim=1), teacher, reduction='batchmean')
            loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    seconds = time.perf_counter() - t0
    result = {
        'impl': 'pytorch-eager' + ('+amp' if a.amp else '') + ('+cl' if a.channels_last else ''),
        'amp_bf16': a.amp,
        'channels_last': a.channels_last,
        'torch': torch.__version__,
        'device': torch.cuda.get_device_name() if cuda else 'cpu',
        'model': f'WRN-{a.depth}-{a.widen}',
        'batch': a.batch,
        'subnets': [f'{w:.4f}@{r}' for w, r in zip(WIDTHS, RESOLUTIONS)],
        'steps': a.steps,
        'ms_per_step': 1000 * seconds / a.steps,
        'images_per_s': a.steps * a.batch / seconds,
        'peak_mem_mib': torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0,
        'peak_reserved_mib': torch.cuda.max_memory_reserved() / 2**20 if cuda else 0.0,
    }
    print(f"{'impl':<24}{'device':<28}{'ms/step':>10}{'images/s':>12}{'peak MiB':>11}{'reserved MiB':>14}")
    print(f"{result['impl']:<24}{result['device'][:27]:<28}{result['ms_per_step']:>10.1f}"
          f"{result['images_per_s']:>12.1f}{result['peak_mem_mib']:>11.0f}{result['peak_reserved_mib']:>14.0f}")
    print(json.dumps(result))


if __name__ == '__main__':
    main()
