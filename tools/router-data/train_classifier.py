#!/usr/bin/env python3
"""Trains the task classifier and the difficulty estimator; writes the Swift weights and a parity fixture.

    python3 tools/router-data/train_classifier.py [--check]

Needs numpy and scipy. Deterministic: the same prompts.jsonl gives the same weights.

- Trains only on the rows of prompts.jsonl whose split is "train". Hyper-parameters (bucket count,
  L2 strength) are chosen by 5-fold cross-validation inside the train split.
- Reports accuracy and per-class precision/recall on the held-out split and on the public
  MT-Bench/Vicuna set (Tests/PelletRouterTests/Resources/public-prompts), which is never used
  for training or tuning.
- Writes Sources/PelletRouter/ClassifierModel+Generated.swift (int8-quantised weights, base64) and
  Tests/PelletRouterTests/Resources/classifier-parity.json (expected scores for a few prompts, so the
  Swift test proves it computes the same features as features.py).
"""

import base64
import json
import os
import sys
from pathlib import Path

# One BLAS thread: the problem is small, and threads fighting over two busy cores made a fit
# take 15x longer.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np
from scipy.optimize import minimize
from scipy import sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import features  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tools/router-data/prompts.jsonl"
PUBLIC = ROOT / "Tests/PelletRouterTests/Resources/public-prompts"
SWIFT_OUT = ROOT / "Sources/PelletRouter/ClassifierModel+Generated.swift"
PARITY_OUT = ROOT / "Tests/PelletRouterTests/Resources/classifier-parity.json"

TASKS = ["code", "math", "reasoning", "extraction", "summarization", "translation",
         "classification", "creative", "qa", "chat"]
DIFFICULTIES = ["easy", "medium", "hard"]
# The public sets' categories onto Pellet's task types (their README's mapping).
PUBLIC_MAPPING = {
    "coding": "code", "math": "math", "reasoning": "reasoning", "fermi": "reasoning",
    "counterfactual": "reasoning", "common-sense": "reasoning", "extraction": "extraction",
    "writing": "creative", "roleplay": "creative", "stem": "qa", "humanities": "qa",
    "knowledge": "qa", "generic": "chat",
}
LANES = 16  # SIMD16<Float> in Swift: 10 task lanes, lane 10 difficulty, the rest zero
DIFFICULTY_LANE = 10
BIT_CHOICES = [12, 13, 14]
L2_CHOICES = [1e-4, 3e-4, 1e-3]
DIFFICULTY_RIDGE = 1.0


def load_labeled():
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return rows


def load_public():
    rows = []
    for name in ["mt_bench_questions.jsonl", "vicuna_bench_questions.jsonl"]:
        for line in (PUBLIC / name).read_text().splitlines():
            if not line.strip():
                continue
            q = json.loads(line)
            rows.append({
                "id": f"{name.removesuffix('.jsonl')}-{q['question_id']}",
                "task": PUBLIC_MAPPING[q["category"]],
                "messages": [{"role": "user", "content": q["turns"][0]}],
            })
    return rows


def design(rows, bits):
    """A sparse row per prompt: the hashed buckets, then the dense features."""
    n_dense = len(features.DENSE_NAMES)
    data, cols, indptr = [], [], [0]
    for r in rows:
        sparse, dense = features.extract(r["messages"], bits)
        for k in sorted(sparse):
            cols.append(k)
            data.append(sparse[k])
        for j, v in enumerate(dense):
            cols.append((1 << bits) + j)
            data.append(v)
        indptr.append(len(cols))
    return sp.csr_matrix((data, cols, indptr), shape=(len(rows), (1 << bits) + n_dense))


def train_softmax(x, y, l2, classes=len(TASKS)):
    n, d = x.shape
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0

    def loss(theta):
        w = theta[: d * classes].reshape(d, classes)
        b = theta[d * classes:]
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.sum(onehot * np.log(p + 1e-12)) / n + 0.5 * l2 * np.sum(w * w)
        g = (p - onehot) / n
        gw = x.T @ g + l2 * w
        gb = g.sum(axis=0)
        return value, np.concatenate([gw.ravel(), gb])

    theta0 = np.zeros(d * classes + classes)
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    theta = result.x
    return theta[: d * classes].reshape(d, classes), theta[d * classes:]


def train_difficulty(x, y):
    """Ridge regression of difficulty (0 easy, 1 medium, 2 hard), dual form since d >> n."""
    mean = y.mean()
    k = (x @ x.T).toarray()
    alpha = np.linalg.solve(k + DIFFICULTY_RIDGE * np.eye(len(y)), y - mean)
    return x.T @ alpha, mean


def folds(labels, k=5):
    """Stratified, deterministic: the i-th row of each class goes to fold i mod k."""
    seen = {}
    out = []
    for label in labels:
        c = seen.get(label, 0)
        out.append(c % k)
        seen[label] = c + 1
    return np.array(out)


def cross_validate(rows):
    y = np.array([TASKS.index(r["task"]) for r in rows])
    fold = folds(y)
    best = None
    for bits in BIT_CHOICES:
        x = design(rows, bits)
        for l2 in L2_CHOICES:
            correct = 0
            for f in range(5):
                tr, te = fold != f, fold == f
                w, b = train_softmax(x[tr], y[tr], l2)
                correct += int(np.sum(np.argmax(x[te] @ w + b, axis=1) == y[te]))
            accuracy = correct / len(rows)
            print(f"  cv bits={bits} l2={l2:g}: {accuracy:.3f}", flush=True)
            # Prefer fewer buckets (a smaller table) unless more buckets clearly help.
            if best is None or accuracy > best[0] + 0.005:
                best = (accuracy, bits, l2)
    return best


def quantize(matrix):
    """Per-lane int8 with scale max|w|/127; returns (int8 array, scales)."""
    scales = np.abs(matrix).max(axis=0) / 127.0
    scales[scales == 0] = 1.0
    q = np.clip(np.round(matrix / scales), -127, 127).astype(np.int8)
    return q, scales


def report(name, truth, predicted):
    lines = [f"{name}: accuracy {np.mean(truth == predicted):.3f} ({int(np.sum(truth == predicted))}/{len(truth)})"]
    lines.append(f"  {'class':15s} {'prec':>6s} {'recall':>6s} {'n':>4s}")
    for c, task in enumerate(TASKS):
        tp = np.sum((predicted == c) & (truth == c))
        pp = np.sum(predicted == c)
        n = np.sum(truth == c)
        if n == 0 and pp == 0:
            continue
        precision = tp / pp if pp else float("nan")
        recall = tp / n if n else float("nan")
        lines.append(f"  {task:15s} {precision:6.2f} {recall:6.2f} {n:4d}")
    return "\n".join(lines)


def swift_floats(values):
    return ", ".join(repr(float(np.float32(v))) for v in values)


def emit_swift(bits, table_q, scales, bias, dense, difficulty_mean):
    raw = table_q.astype(np.int8).tobytes()
    b64 = base64.b64encode(raw).decode("ascii")
    chunks = [b64[i:i + 100] for i in range(0, len(b64), 100)]
    lines = [
        "// Generated by tools/router-data/train_classifier.py from tools/router-data/prompts.jsonl (train split).",
        "// Do not edit: change the data or the script and run it again.",
        "",
        "extension ClassifierModel {",
        "    /// The trained task classifier and difficulty estimator.",
        "    static let generated = ClassifierModel(",
        f"        bucketBits: {bits},",
        f"        laneScales: [{swift_floats(scales)}],",
        f"        bias: [{swift_floats(bias)}],",
        "        dense: [",
    ]
    for row in dense:
        lines.append(f"            [{swift_floats(row)}],")
    lines += [
        "        ],",
        f"        difficultyOffset: {float(np.float32(difficulty_mean))!r},",
        "        cueHashes: [",
    ]
    cues = sorted(features.CUE_HASHES.items())
    for i in range(0, len(cues), 8):
        lines.append("            " + " ".join(f"0x{h:08X}," for h, _ in cues[i:i + 8]))
    lines += [
        "        ],",
        "        cueLanes: [",
    ]
    for i in range(0, len(cues), 24):
        lines.append("            " + " ".join(f"{lane}," for _, lane in cues[i:i + 24]))
    lines += [
        "        ],",
        "        quantizedTable: \"\"\"",
    ]
    lines += [f"            {c}" for c in chunks]
    lines += ["            \"\"\"", "    )", "}", ""]
    return "\n".join(lines)


def main():
    check = "--check" in sys.argv
    rows = load_labeled()
    train = [r for r in rows if r["split"] == "train"]
    heldout = [r for r in rows if r["split"] == "heldout"]
    public = load_public()
    print(f"train {len(train)}, held-out {len(heldout)}, public {len(public)}")

    accuracy, bits, l2 = cross_validate(train)
    print(f"chosen: bits={bits} l2={l2:g} (cv accuracy {accuracy:.3f})")

    x_train = design(train, bits)
    y_train = np.array([TASKS.index(r["task"]) for r in train])
    w, b = train_softmax(x_train, y_train, l2)
    d_train = np.array([DIFFICULTIES.index(r["difficulty"]) for r in train], dtype=np.float64)
    dw, dmean = train_difficulty(x_train, d_train)

    n_buckets = 1 << bits
    lanes = np.zeros((x_train.shape[1], DIFFICULTY_LANE + 1))
    lanes[:, :len(TASKS)] = w
    lanes[:, DIFFICULTY_LANE] = dw
    table_q, scales = quantize(lanes[:n_buckets])
    table = table_q.astype(np.float64) * scales  # what Swift uses
    dense = lanes[n_buckets:]
    bias = np.zeros(DIFFICULTY_LANE + 1)
    bias[:len(TASKS)] = b

    def scores(rs):
        x = design(rs, bits)
        return x[:, :n_buckets] @ table + x[:, n_buckets:] @ dense + bias

    out = []
    for name, rs in [("train", train), ("held-out", heldout), ("public", public)]:
        s = scores(rs)
        truth = np.array([TASKS.index(r["task"]) for r in rs])
        out.append(report(name, truth, np.argmax(s[:, :len(TASKS)], axis=1)))
        if name != "public":
            dt = np.array([DIFFICULTIES.index(r["difficulty"]) for r in rs])
            dp = np.clip(np.floor(s[:, DIFFICULTY_LANE] + dmean + 0.5), 0, 2).astype(int)
            out.append(f"  difficulty accuracy {np.mean(dt == dp):.3f}, within one step {np.mean(np.abs(dt - dp) <= 1):.3f}")
    print("\n".join(out))

    swift = emit_swift(bits, table_q, scales, bias, dense, dmean)
    parity_rows = heldout[::8] + public[::20]
    parity_scores = scores(parity_rows)
    parity = [{"id": r["id"], "messages": r["messages"],
               "scores": [round(float(v), 6) for v in parity_scores[i]]} for i, r in enumerate(parity_rows)]
    parity_text = json.dumps({"bucket_bits": bits, "cases": parity}, ensure_ascii=False, indent=1) + "\n"
    if check:
        stale = SWIFT_OUT.read_text() != swift or PARITY_OUT.read_text() != parity_text
        print("generated files are " + ("STALE" if stale else "up to date"))
        sys.exit(1 if stale else 0)
    SWIFT_OUT.write_text(swift)
    PARITY_OUT.write_text(parity_text)
    print(f"wrote {SWIFT_OUT.relative_to(ROOT)} ({len(swift)} bytes) and {PARITY_OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
