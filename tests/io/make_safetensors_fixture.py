#!/usr/bin/env python3
"""Writes tests/io/fixtures/python_written.safetensors with the `safetensors` package
(pip install safetensors numpy), so checkpoint_test.cpp can check that mn reads what the
reference implementation writes. With --check FILE it instead loads a file mn wrote and prints
its tensors (the other direction, run by hand: tests never need Python).
"""
import sys, pathlib
import numpy as np
from safetensors.numpy import save_file, load_file
from safetensors import safe_open

if len(sys.argv) == 3 and sys.argv[1] == '--check':
    with safe_open(sys.argv[2], 'np') as f:
        print('metadata', f.metadata())
        for k in f.keys():
            t = f.get_tensor(k)
            print(k, t.dtype, t.shape, t.ravel()[:6].tolist())
    sys.exit(0)

out = pathlib.Path(__file__).parent / 'fixtures' / 'python_written.safetensors'
save_file({
    'a.weight': (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
    'b.count': np.array([1, -2, 3000000000], dtype=np.int64),
    'c.f64': np.array([np.pi, -np.e], dtype=np.float64),
    'd.u8': np.array([0, 1, 127, 255], dtype=np.uint8),
    'e.scalar': np.array(1.5, dtype=np.float32),
}, str(out), metadata={'format': 'pt', 'note': 'fixture'})
print('wrote', out)
