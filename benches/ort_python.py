"""Python onnxruntime side of benches/inference.rs: the same model, the same inputs, the same
session options (1 intra-op thread). Prints one JSON object.

    .venv/bin/python benches/ort_python.py MODEL_DIR ITERS BATCH[,BATCH...]
"""

import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort

d, iters, batches = Path(sys.argv[1]), int(sys.argv[2]), [int(b) for b in sys.argv[3].split(",")]
m = tomllib.loads((d / "manifest.toml").read_text())
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
sess = ort.InferenceSession(str(d / m["file"]), sess_options=so, providers=["CPUExecutionProvider"])
n = m["input"]["shape"][1]
inp, out = m["input"]["name"], m["output"]["name"]
row = np.array([(f["valid_min"] + f["valid_max"]) / 2 for f in m["features"]], dtype=np.float32)
res = {}
for b in batches:
    x = np.ascontiguousarray(np.tile(row, (b, 1)))
    k = max(10, iters // b)
    for _ in range(min(k, 200)):
        sess.run([out], {inp: x})
    lat = np.empty(k)
    for i in range(k):
        t = time.perf_counter_ns()
        sess.run([out], {inp: x})
        lat[i] = time.perf_counter_ns() - t
    res[str(b)] = {"runs": k, "mean_us": lat.mean() / 1e3, "p50_us": float(np.percentile(lat, 50)) / 1e3,
                   "p99_us": float(np.percentile(lat, 99)) / 1e3, "rows_per_s": b * k / (lat.sum() / 1e9)}
print(json.dumps(res))
