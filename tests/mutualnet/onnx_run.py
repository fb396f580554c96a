# Runs an ONNX model with onnxruntime for tests/mutualnet/export_test.cpp:
#   onnx_run.py MODEL INPUT OUTPUT N C H W
# INPUT is raw float32 NCHW; the logits go to OUTPUT as raw float32, the model's metadata to
# OUTPUT.meta as key=value lines.
import sys

import numpy as np
import onnxruntime as ort

model, inp, out = sys.argv[1:4]
x = np.fromfile(inp, dtype=np.float32).reshape([int(v) for v in sys.argv[4:8]])
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
(logits,) = session.run(["logits"], {"input": x})
logits.astype(np.float32).tofile(out)
with open(out + ".meta", "w") as f:
    for k, v in sorted(session.get_modelmeta().custom_metadata_map.items()):
        f.write(f"{k}={v}\n")
