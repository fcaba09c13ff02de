"""Python reference for `edgecite model eval`: same CSV, same features (features.py), same
domain checks, scores by onnxruntime. tests/model_eval.rs compares the two.

    python models/train/eval_reference.py --model models/pump_anomaly --csv FILE.csv

Prints JSON: {"rows": [{"line", "timestamp", "score", "alert", "abstain"}]} where abstain is
null, "too_short:<role>", "missing:<role>", "out_of_domain:<role>" or "untrained:<role>".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
import features  # noqa: E402

TIME_COLUMNS = ("timestamp", "ts", "time", "datetime", "date")


def read_csv(path: Path, roles: list[str]):
    lines = [(i + 1, l) for i, l in enumerate(path.read_text().splitlines()) if l.strip()]
    header = lines[0][1]
    sep = "," if ("," in header or ";" not in header) else ";"
    names = [c.strip().strip('"') for c in header.split(sep)]
    tcol = next(i for i, n in enumerate(names) if n.lower() in TIME_COLUMNS)
    idx = [names.index(r) for r in roles]
    out_lines, ts, cols = [], [], {r: [] for r in roles}
    for ln, line in lines[1:]:
        cells = [c.strip().strip('"') for c in line.split(sep)]
        out_lines.append(ln)
        ts.append(cells[tcol])
        for r, c in zip(roles, idx):
            cell = cells[c]
            v = None if cell == "" or cell.lower() == "nan" else float(cell)
            cols[r].append(v if v is not None and math.isfinite(v) else None)
    return out_lines, ts, cols


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path, help="model directory")
    ap.add_argument("--csv", required=True, type=Path)
    args = ap.parse_args(argv)
    m = tomllib.loads((args.model / "manifest.toml").read_text())
    feats = m["features"]
    roles = list(dict.fromkeys(f["role"] for f in feats))
    lines, ts, cols = read_csv(args.csv, roles)
    n = len(lines)
    vectors, reasons = [], []
    for row in range(n):
        vec, why = [], None
        for f in feats:
            w = f["window"]
            if row + 1 < w:
                why = f"too_short:{f['role']}"
                break
            xs = cols[f["role"]][row + 1 - w : row + 1]
            if any(x is None for x in xs):
                why = f"missing:{f['role']}"
                break
            band = None
            if f["statistic"] == "band_energy":
                band = (f["band_hz"][0], f["band_hz"][1], f["sample_rate_hz"])
            v = features.compute(f["statistic"], xs, band, f.get("recent"))
            where = features.place(f, v)
            if where is not None:
                why = f"{where}:{f['role']}"
                break
            vec.append(np.float32(v))
        vectors.append(vec if why is None else None)
        reasons.append(why)
    sess = ort.InferenceSession(str(args.model / m["file"]), providers=["CPUExecutionProvider"])
    ok = [i for i in range(n) if vectors[i] is not None]
    scores = [None] * n
    if ok:
        x = np.array([vectors[i] for i in ok], dtype=np.float32)
        out = sess.run([m["output"]["name"]], {m["input"]["name"]: x})[0].reshape(-1)
        for i, s in zip(ok, out):
            scores[i] = float(s)
    thr = m["output"]["threshold"]
    rows = []
    for i in range(n):
        s = scores[i]
        if s is not None and not math.isfinite(s):
            reasons[i], s = "non_finite", None
        rows.append(
            {
                "line": lines[i],
                "timestamp": ts[i],
                "score": s,
                "alert": None if s is None else bool(s >= thr),
                "abstain": reasons[i],
            }
        )
    json.dump({"model": m["name"], "threshold": thr, "rows": rows}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
