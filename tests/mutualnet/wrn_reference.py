#!/usr/bin/env python3
"""Reference values for tests/mutualnet/models_test.cpp: the PyTorch reference WRN
(shared/reference/ref_mutualnet.py) with deterministic weights, so the C++ model can be compared
without a weight file. Tensor t of the state dict (in order, num_batches_tracked skipped),
element i (row-major):
  weights with >= 2 dims: sin(0.7 i + 1.3 t) / sqrt(numel / size(0))
  BN weight: 1 + 0.1 sin(0.7 i + 1.3 t); BN and linear bias: 0.1 sin(0.7 i + 1.3 t)
  running mean 0, running var 1
Input x (2, 1, 12, 12): sin(0.3 i); labels (3, 7); divisor 4; train mode (batch statistics).
Prints the logits at widths 1.0 and 0.5, the cross-entropy at width 1.0 and, after its backward,
the sums of squares of three gradients.
usage: /usr/bin/python3 tests/mutualnet/wrn_reference.py"""
import importlib.util, math, torch, torch.nn.functional as F

spec = importlib.util.spec_from_file_location('ref', '/work/shared/reference/ref_mutualnet.py')
ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
torch.set_default_dtype(torch.float64)
m = ref.WRN(10, 2, 1, 10).double().train()
ref.Ctx.divisor = 4
t = 0
for name, v in m.state_dict().items():
    if 'tracked' in name: continue
    i = torch.arange(v.numel(), dtype=torch.float64)
    s = torch.sin(0.7 * i + 1.3 * t).reshape(v.shape)
    if 'running_mean' in name: v.zero_()
    elif 'running_var' in name: v.fill_(1)
    elif v.dim() >= 2: v.copy_(s / math.sqrt(v.numel() / v.shape[0]))
    elif name.startswith('fc') or name.endswith('bias'): v.copy_(0.1 * s)
    else: v.copy_(1 + 0.1 * s)
    t += 1
x = torch.sin(0.3 * torch.arange(2 * 144, dtype=torch.float64)).reshape(2, 1, 12, 12)
y = torch.tensor([3, 7])
for w in (0.5, 1.0):
    ref.Ctx.width = w
    out = m(x)
    print(f'width {w} logits', [f'{v:.10g}' for v in out.flatten().tolist()])
loss = F.cross_entropy(out, y); loss.backward()
print('loss', f'{loss.item():.10g}')
for name in ('conv1.weight', 'blocks.1.conv2.weight', 'blocks.2.short.weight', 'fc.weight'):
    g = dict(m.named_parameters())[name].grad
    print(name, f'{(g * g).sum().item():.10g}')
