# Top-1 of an exported model.onnx (mn export) on an IDX test set (Fashion-MNIST, MNIST), computed
# by onnxruntime with the preprocessing mn's evaluation uses: pixels / 255, (x - mean) / std from
# the model's metadata, then a bilinear downscale (align_corners=True) from 28x28 to the model's
# resolution. Compare with `mn eval EXPORT --width 1.0 --resolution R`.
#
#   python tools/onnx_eval_idx.py runs/fm-0.5-20 [--root /usr/share/datasets/fashion-mnist] [--limit N]
# Needs numpy and onnxruntime (pip install onnxruntime).
import argparse
import gzip

import numpy as np
import onnxruntime as ort


def downscale_align_corners(x, size):
    """Separable two-tap bilinear resize of (N, C, H, W) with align_corners=True."""
    def axis(n_in):
        src = np.arange(size) * ((n_in - 1) / (size - 1)) if size > 1 else np.zeros(1)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo).astype(np.float32)
    lo, hi, w = axis(x.shape[2])
    x = x[:, :, lo, :] * (1 - w)[:, None] + x[:, :, hi, :] * w[:, None]
    lo, hi, w = axis(x.shape[3])
    return (x[:, :, :, lo] * (1 - w) + x[:, :, :, hi] * w).astype(np.float32)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("export_dir")
    p.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--limit", type=int, default=0, help="the first N test images (0 = all)")
    a = p.parse_args()
    session = ort.InferenceSession(a.export_dir + "/model.onnx", providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    mean = np.array([float(v) for v in meta["mean"].split(",")], np.float32)
    std = np.array([float(v) for v in meta["std"].split(",")], np.float32)
    r = int(meta["resolution"])
    images = np.frombuffer(gzip.open(a.root + "/t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    labels = np.frombuffer(gzip.open(a.root + "/t10k-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    images = images.reshape(-1, 1, 28, 28)
    if a.limit:
        images, labels = images[: a.limit], labels[: a.limit]
    correct = 0
    for i in range(0, len(labels), 500):
        x = (images[i : i + 500].astype(np.float32) / 255 - mean[:, None, None]) / std[:, None, None]
        if r != 28:
            x = downscale_align_corners(x, r)
        (logits,) = session.run(["logits"], {"input": x})
        correct += int((logits.argmax(1) == labels[i : i + 500]).sum())
    print(f"{meta['model']} {meta['width']}-{r} (onnxruntime): top-1 {100 * correct / len(labels):.2f}% on {len(labels)} test images")


if __name__ == "__main__":
    main()
