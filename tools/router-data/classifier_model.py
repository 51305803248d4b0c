"""The task classifier's model: design matrices, the softmax fit, int8 quantisation, metrics.

Shared by train_classifier.py (which fits and writes the Swift weights) and evaluate (which
reports them). Deterministic: L-BFGS from zeros on a fixed row order, one BLAS thread.
"""

import os

# One BLAS thread: the problem is small, and threads fighting over two busy cores made a fit
# take 15x longer. Deterministic sums, too.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
from scipy import sparse as sp  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

import features  # noqa: E402
from datasets import TASKS  # noqa: E402


class Config:
    """One candidate model: its features and its regularisation."""

    def __init__(self, name, bits, char_ngrams, l2, natural_boost, edge_words=False, dense_l2=None, pellet_boost=1.0,
                 edge_cues=False, edge_norm=False):
        self.name = name
        self.edge_cues = edge_cues
        self.edge_norm = edge_norm
        # The L2 strength on the dense (shape and cue) features' weights; a weaker one than on
        # the hashed n-grams lets the model lean on the cue words, which carry across data sets.
        self.dense_l2 = l2 if dense_l2 is None else dense_l2
        # With weighting by family: how much more the Pellet-written family weighs than another.
        self.pellet_boost = pellet_boost
        self.edge_words = edge_words
        self.bits = bits
        self.char_ngrams = char_ngrams
        self.l2 = l2
        # How much more a prompt written as users write (Pellet's own) weighs than a templated
        # benchmark prompt of the same class.
        self.natural_boost = natural_boost

    def extractor(self):
        return features.Extractor(self.bits, self.char_ngrams, self.edge_words, self.edge_cues, self.edge_norm)

    def __repr__(self):
        return (f"{self.name} (bits={self.bits}, trigrams={'on' if self.char_ngrams else 'off'}, "
                f"edge words={'on' if self.edge_words else 'off'}, edge cues={'on' if self.edge_cues else 'off'}, "
                f"edge words normalised apart={'on' if self.edge_norm else 'off'}, l2={self.l2:g}, dense l2={self.dense_l2:g}, "
                f"weighting {self.weighting})")

    @property
    def weighting(self):
        if self.natural_boost == "family":
            return "by family" + (f", Pellet's x{self.pellet_boost:g}" if self.pellet_boost != 1 else "")
        return f"natural x{self.natural_boost:g}"


def design(rows, extractor):
    """A sparse row per prompt: the hashed buckets, then the dense features."""
    n_dense = extractor.n_dense
    n_buckets = 1 << extractor.bits
    data, cols, indptr = [], [], [0]
    for r in rows:
        sparse, dense = extractor.extract(r["messages"])
        for k in sorted(sparse):
            cols.append(k)
            data.append(sparse[k])
        for j, v in enumerate(dense):
            cols.append(n_buckets + j)
            data.append(v)
        indptr.append(len(cols))
    return sp.csr_matrix((np.array(data), np.array(cols), np.array(indptr)), shape=(len(rows), n_buckets + n_dense))


def labels(rows):
    return np.array([TASKS.index(r["task"]) for r in rows])


def sample_weights(rows, natural_boost, pellet_boost=1.0):
    """Every class weighs the same in total; within a class a Pellet-written prompt weighs
    `natural_boost` times a benchmark one."""
    y = labels(rows)
    if natural_boost == "family":
        # Every source family of a class weighs the same: no one data set's style dominates it.
        raw = np.zeros(len(rows))
        for c in range(len(TASKS)):
            fams = {}
            for i in np.flatnonzero(y == c):
                fams.setdefault(rows[i]["family"], []).append(i)
            for name, members in fams.items():
                raw[members] = (pellet_boost if name == "pellet" else 1.0) / len(members)
    else:
        raw = np.array([natural_boost if r["family"] == "pellet" else 1.0 for r in rows])
    weights = np.zeros(len(rows))
    for c in range(len(TASKS)):
        mask = y == c
        if mask.any():
            weights[mask] = raw[mask] / raw[mask].sum()
    return weights * len(rows) / len(TASKS)


def train_softmax(x, y, weights, l2, classes=len(TASKS)):
    """`l2`: one strength, or one per feature (column of x)."""
    n, d = x.shape
    l2 = np.broadcast_to(np.asarray(l2, dtype=float), (d,))[:, None]
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0
    total = weights.sum()
    xt = x.T.tocsr()

    def loss(theta):
        w = theta[: d * classes].reshape(d, classes)
        b = theta[d * classes:]
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.sum(weights * np.log(np.sum(onehot * p, axis=1) + 1e-12)) / total + 0.5 * np.sum(l2 * w * w)
        g = (p - onehot) * (weights / total)[:, None]
        gw = xt @ g + l2 * w
        gb = g.sum(axis=0)
        return value, np.concatenate([gw.ravel(), gb])

    theta0 = np.zeros(d * classes + classes)
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 400})
    theta = result.x
    return theta[: d * classes].reshape(d, classes), theta[d * classes:]


def quantize(matrix):
    """Per-lane int8 with scale max|w|/127; returns (int8 array, scales)."""
    scales = np.abs(matrix).max(axis=0) / 127.0
    scales[scales == 0] = 1.0
    q = np.clip(np.round(matrix / scales), -127, 127).astype(np.int8)
    return q, scales


class Model:
    """A fitted classifier as Swift runs it: the bucket table int8-quantised per lane."""

    def __init__(self, config, w, b):
        self.config = config
        n_buckets = 1 << config.bits
        self.table_q, self.scales = quantize(w[:n_buckets])
        self.dense = w[n_buckets:]
        self.bias = b
        self.extractor = config.extractor()

    @classmethod
    def fit(cls, config, rows):
        extractor = config.extractor()
        x = design(rows, extractor)
        n_buckets = 1 << config.bits
        l2 = np.full(x.shape[1], config.l2)
        l2[n_buckets:] = config.dense_l2
        weights = sample_weights(rows, config.natural_boost, config.pellet_boost)
        w, b = train_softmax(x, labels(rows), weights, l2)
        return cls(config, w, b)

    def scores_of_design(self, x):
        n_buckets = 1 << self.config.bits
        table = self.table_q.astype(np.float64) * self.scales
        return x[:, :n_buckets] @ table + x[:, n_buckets:] @ self.dense + self.bias

    def scores(self, rows):
        return self.scores_of_design(design(rows, self.extractor))

    def predict(self, rows):
        return np.argmax(self.scores(rows), axis=1)


def confusion(truth, predicted, classes=len(TASKS)):
    m = np.zeros((classes, classes), dtype=int)
    for t, p in zip(truth, predicted):
        m[t, p] += 1
    return m


def metrics(truth, predicted):
    """accuracy, macro-F1 over the classes present, per-class (precision, recall, f1, n), and the
    lowest recall of a class present."""
    m = confusion(truth, predicted)
    per_class = []
    f1s = []
    recalls = []
    for c in range(len(TASKS)):
        tp = m[c, c]
        predicted_c = m[:, c].sum()
        n = m[c].sum()
        precision = tp / predicted_c if predicted_c else float("nan")
        recall = tp / n if n else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if n and predicted_c and (precision + recall) else 0.0
        per_class.append((precision, recall, f1 if n else float("nan"), int(n)))
        if n:
            f1s.append(f1)
            recalls.append(recall)
    accuracy = float(np.trace(m)) / max(1, m.sum())
    return {"accuracy": accuracy, "macro_f1": float(np.mean(f1s)), "per_class": per_class,
            "min_recall": float(min(recalls)), "confusion": m}


def format_report(name, truth, predicted):
    r = metrics(truth, predicted)
    lines = [f"{name}: {len(truth)} prompts; accuracy {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f}, "
             f"lowest recall {r['min_recall']:.2f}",
             f"  {'task':15s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'n':>5s}"]
    for c, task in enumerate(TASKS):
        precision, recall, f1, n = r["per_class"][c]
        if n == 0 and np.isnan(precision):
            continue
        fmt = lambda v: "     -" if np.isnan(v) else f"{v:6.2f}"  # noqa: E731
        lines.append(f"  {task:15s} {fmt(precision)} {fmt(recall)} {fmt(f1)} {n:5d}")
    short = [t[:5] for t in TASKS]
    lines.append("  confusion (rows: truth, columns: predicted)")
    lines.append("  " + " " * 15 + " ".join(f"{s:>5s}" for s in short))
    for c, task in enumerate(TASKS):
        if r["confusion"][c].sum() == 0:
            continue
        lines.append(f"  {task:15s}" + " ".join(f"{v:5d}" for v in r["confusion"][c]))
    return "\n".join(lines), r


def fit_two_layer(x, y, weights, hidden, l2, seed=0, maxiter=300):
    """A small two-layer network (ReLU hidden layer, softmax out) over the same design matrix:
    the stronger candidate `train_classifier.py --compare` measures against the linear model.
    Returns a function from a design matrix to predicted classes. Not ported to Swift (README
    "Routing quality": it did not pay for itself)."""
    n, d = x.shape
    classes = len(TASKS)
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0
    w = weights / weights.sum()
    xt = x.T.tocsr()
    shapes = [(d, hidden), (hidden,), (hidden, classes), (classes,)]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(theta):
        out, i = [], 0
        for shape, size in zip(shapes, sizes):
            out.append(theta[i:i + size].reshape(shape))
            i += size
        return out

    def loss(theta):
        w1, b1, w2, b2 = unpack(theta)
        z1 = x @ w1 + b1
        a = np.maximum(z1, 0)
        z = a @ w2 + b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.sum(w * np.log(np.sum(onehot * p, axis=1) + 1e-12)) + 0.5 * l2 * (np.sum(w1 * w1) + np.sum(w2 * w2))
        g = (p - onehot) * w[:, None]
        ga = g @ w2.T
        ga[z1 <= 0] = 0
        grads = [xt @ ga + l2 * w1, ga.sum(axis=0), a.T @ g + l2 * w2, g.sum(axis=0)]
        return value, np.concatenate([v.ravel() for v in grads])

    rng = np.random.default_rng(seed)
    theta0 = np.concatenate([rng.normal(0, 0.1, d * hidden), np.zeros(hidden),
                             rng.normal(0, 0.3, hidden * classes), np.zeros(classes)])
    w1, b1, w2, b2 = unpack(minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter}).x)
    return lambda design_matrix: np.argmax(np.maximum(design_matrix @ w1 + b1, 0) @ w2 + b2, axis=1)
