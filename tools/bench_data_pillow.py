#!/usr/bin/python3
"""Pillow baseline for `mn bench data` (b): the same JPEG folder through the ImageNet training
transform as torchvision applies it to PIL images, one process, one core:

  decode (Image.open + convert('RGB'), torchvision's pil_loader)
  -> RandomResizedCrop(224, scale=(0.25, 1)) (get_params, then crop + resize BILINEAR)
  -> RandomHorizontalFlip -> ToTensor -> Normalize

torchvision itself is not installed, so its two PIL code paths are written out here. Rows:
  pil:             decode + crop + resize + flip (PIL images only)
  pil+tensor:      the same + ToTensor + Normalize (what a torchvision DataLoader worker does)
  pil+draft+tensor: as above, but with JPEG draft mode (Pillow's DCT-scaled decode, which
                   torchvision does not use) set so the crop box keeps >= 224 pixels per side.

  /usr/bin/python3 tools/bench_data_pillow.py DIR [--seconds 3]
"""
import argparse
import math
import os
import random
import time

import numpy as np
import torch
from PIL import Image

torch.set_num_threads(1)
SIZE, SCALE, RATIO = 224, (0.25, 1.0), (3 / 4, 4 / 3)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def crop_params(width, height):
    """torchvision RandomResizedCrop.get_params (Python's random instead of torch's)."""
    area = width * height
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target_area = area * random.uniform(*SCALE)
        aspect = math.exp(random.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return random.randint(0, height - h), random.randint(0, width - w), h, w
    w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def sample(path, to_tensor, draft):
    with open(path, 'rb') as f:
        img = Image.open(f)
        width, height = img.size
        i, j, h, w = crop_params(width, height)
        if draft:
            # Smallest DCT scale that keeps the box >= SIZE: request that fraction of the image.
            s = max(SIZE / w, SIZE / h)
            img.draft('RGB', (math.ceil(width * s), math.ceil(height * s)))
            fx, fy = img.size[0] / width, img.size[1] / height
            i, j, h, w = i * fy, j * fx, h * fy, w * fx
        img = img.convert('RGB')
    if isinstance(i, float):
        img = img.resize((SIZE, SIZE), Image.BILINEAR, box=(j, i, j + w, i + h))
    else:
        img = img.crop((j, i, j + w, i + h)).resize((SIZE, SIZE), Image.BILINEAR)
    if random.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    if not to_tensor:
        return img
    t = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()
    return (t.float().div(255) - MEAN) / STD


def rate(files, seconds, to_tensor, draft):
    """(images per second, images per CPU-second of this process)."""
    n, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        for p in files:
            sample(p, to_tensor, draft)
            n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed, n / (time.process_time() - cpu_start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--seconds', type=float, default=3)
    a = ap.parse_args()
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(a.dir) for f in fs if f.lower().endswith('.jpg'))
    assert files, f'no .jpg files under {a.dir}'
    random.seed(1)
    # A DataLoader worker regularly frees batch-sized blocks, after which glibc serves large
    # allocations (every decoded image) from its heap instead of mapping and unmapping them: free
    # one 16 MiB block to start in that state (otherwise PIL decoding measures ~30% slower).
    block = bytearray(16 << 20)
    del block
    warm = time.perf_counter()
    while time.perf_counter() - warm < 1.0:
        for p in files:
            sample(p, True, False)
    import PIL
    for name, to_tensor, draft in [('pil', False, False), ('pil+tensor', True, False), ('pil+draft+tensor', True, True)]:
        wall, cpu = rate(files, a.seconds, to_tensor, draft)
        label = f'(b) Pillow {PIL.__version__} {name}'
        print(f'| {label:<48} | {1:>7} | {wall:>10.0f} | {cpu:>16.0f} |', flush=True)


if __name__ == '__main__':
    main()
