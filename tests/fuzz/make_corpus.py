#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/: small valid inputs
(a few KB per target) for libFuzzer to mutate. Standard library only; JPEGs come from the system's
TurboJPEG through ctypes. Rerun after changing an input format: python3 tests/fuzz/make_corpus.py"""
import ctypes
import gzip
import json
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
ROOT = HERE.parent.parent


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def gz(data):
    # mtime 0 keeps the gzip seeds byte-identical across reruns
    return gzip.compress(data, mtime=0)


def pixels(w, h, c):
    """A smooth gradient with a diagonal stripe: compresses well, still exercises every channel."""
    return bytes((x * 4 + y * (2 + k) + (64 if (x + y) % 16 < 3 else 0)) & 255
                 for y in range(h) for x in range(w) for k in range(c))


def jpeg(w, h, c, pixel_format, subsamp, quality, flags=0):
    tj = ctypes.CDLL("libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    handle = ctypes.c_void_p(tj.tjInitCompress())
    out, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong(0)
    src = pixels(w, h, c)
    if tj.tjCompress2(handle, src, w, 0, h, pixel_format, ctypes.byref(out), ctypes.byref(size),
                      subsamp, quality, flags):
        raise RuntimeError("tjCompress2 failed")
    data = ctypes.string_at(out, size.value)
    tj.tjFree(out)
    tj.tjDestroy(handle)
    return data


def png(w, h, color_type, c):
    raw = b"".join(b"\0" + pixels(w, h, c)[y * w * c:(y + 1) * w * c] for y in range(h))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def bmp(w, h):
    row = (3 * w + 3) // 4 * 4
    body = b"".join(pixels(w, h, 3)[y * 3 * w:(y + 1) * 3 * w].ljust(row, b"\0") for y in range(h))
    return (b"BM" + struct.pack("<IHHI", 54 + len(body), 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(body), 2835, 2835, 0, 0) + body)


def tga(w, h):
    return struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, w, h, 24, 0) + pixels(w, h, 3)


def images():
    RGB, GRAY, CMYK = 0, 6, 11  # TJPF_*
    S444, S420, SGRAY = 0, 2, 3  # TJSAMP_*
    # 64 pixels and up: the DCT-scaled decode applies (data/decode.cpp jpeg_decode_scale)
    write("image", "rgb_420.jpg", jpeg(64, 64, 3, RGB, S420, 30))
    write("image", "gray_progressive.jpg", jpeg(64, 64, 1, GRAY, SGRAY, 30, flags=16384))
    write("image", "ycck.jpg", jpeg(16, 16, 4, CMYK, S444, 50))
    write("image", "rgb.png", png(8, 8, 2, 3))
    write("image", "gray_alpha.png", png(8, 8, 4, 2))
    write("image", "rgba.png", png(8, 8, 6, 4))
    write("image", "rgb.bmp", bmp(4, 4))
    write("image", "rgb.tga", tga(4, 4))
    write("image", "gray.pgm", b"P5 4 4 255\n" + pixels(4, 4, 1))
    write("image", "rgb.ppm", b"P6 4 4 255\n" + pixels(4, 4, 3))
    write("image", "pixel.gif", bytes.fromhex(
        "474946383961010001008000 00ffffff000000 21f90401000000002c00000000010001000002024401003b"
        .replace(" ", "")))


def idx():
    # input: labels-file length (1 byte), labels file, images file (idx_fuzz.cpp)
    labels = struct.pack(">II", 0x801, 3) + bytes([3, 7, 0])
    images = struct.pack(">IIII", 0x803, 3, 4, 4) + pixels(4, 4, 3)
    write("idx", "plain", bytes([len(labels)]) + labels + images)
    zipped = gz(labels)
    write("idx", "gzip", bytes([len(zipped)]) + zipped + gz(images))


def cifar():
    plane = pixels(32, 32, 3)
    write("cifar", "cifar10_record", bytes([3]) + plane)
    write("cifar", "cifar100_records.gz", gz((bytes([1, 42]) + plane) * 2))


def config():
    toml = (ROOT / "configs" / "cifar10_wrn.toml").read_bytes()
    write("config", "cifar10_wrn_with_sets", toml + b"\0train.epochs=2\0mutualnet.width_min=0.5"
          b"\0data.resolutions=[32, 24]\0data.root=\"/tmp/x\"")
    write("config", "fashion_mnist", (ROOT / "configs" / "fashion_mnist.toml").read_bytes())


def safetensors():
    write("safetensors", "python_written.safetensors",
          (ROOT / "tests" / "io" / "fixtures" / "python_written.safetensors").read_bytes())
    header = {"__metadata__": {"format": "pt"},
              "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
              "n": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
              "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
              "e": {"dtype": "U8", "shape": [0], "data_offsets": [28, 28]}}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    data = struct.pack("<4fq", 1, -2, 0.5, 3, 7) + b"\x80\x3f\x00\x40"
    write("safetensors", "mixed_dtypes.safetensors", struct.pack("<Q", len(text)) + text + data)


def trainer_json():
    state = {"step": 1200, "epoch": 3, "batch": 17, "sampler_rng": "12 34 56",
             "dropout_rng": {"block1.dropout": "1 2 3"}, "config_hash": "9f86d081884c7d65",
             "model": "wrn-10-2", "best_top1": 91.25, "best_epoch": 2, "train_seconds": 3.5e2}
    write("trainer_json", "trainer.json", (json.dumps(state, indent=2) + "\n").encode())
    del state["dropout_rng"]  # checkpoints from before dropout_rng existed
    write("trainer_json", "old_trainer.json", json.dumps(state).encode())


if __name__ == "__main__":
    images()
    idx()
    cifar()
    config()
    safetensors()
    trainer_json()
