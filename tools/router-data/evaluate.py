"""Prints the router's quality in the open: see `tools/router-data/evaluate`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classifier_model as cm  # noqa: E402  (sets the BLAS thread count before numpy loads)
import datasets as ds  # noqa: E402
import difficulty  # noqa: E402
import numpy as np  # noqa: E402
import train_classifier as tc  # noqa: E402

SHARES = [0.1, 0.2, 0.3, 0.5, 0.8]


def performance_at(scores, weak, strong, share):
    """Mean performance when the top `share` of prompts by score go to the strong model."""
    order = np.argsort(-scores, kind="stable")
    k = int(round(share * len(scores)))
    to_strong = np.zeros(len(scores), dtype=bool)
    to_strong[order[:k]] = True
    return float(np.where(to_strong, strong, weak).mean())


def routing_table(name, scores, weak, strong):
    weak = np.asarray(weak, dtype=float)
    strong = np.asarray(strong, dtype=float)
    lines = [f"{name}: {len(scores)} prompts; weak {weak.mean():.3f}, strong {strong.mean():.3f}",
             f"  {'router':22s} {'APGR':>6s} {'CPT(50%)':>9s} {'CPT(80%)':>9s}"]
    random = np.random.default_rng(0)
    randoms = [random.random(len(scores)) for _ in range(20)]
    random_apgr = np.mean([difficulty.apgr(r, weak, strong) for r in randoms])
    random_cpt50 = np.mean([difficulty.cpt(r, weak, strong, 0.5) for r in randoms])
    random_cpt80 = np.mean([difficulty.cpt(r, weak, strong, 0.8) for r in randoms])
    lines.append(f"  {'difficulty score':22s} {difficulty.apgr(scores, weak, strong):6.3f} "
                 f"{difficulty.cpt(scores, weak, strong, 0.5):9.1%} {difficulty.cpt(scores, weak, strong, 0.8):9.1%}")
    lines.append(f"  {'random (mean of 20)':22s} {random_apgr:6.3f} {random_cpt50:9.1%} {random_cpt80:9.1%}")
    lines.append("  strong calls -> performance (difficulty score | random)")
    for share in SHARES:
        ours = performance_at(scores, weak, strong, share)
        rand = np.mean([performance_at(r, weak, strong, share) for r in randoms])
        lines.append(f"    {share:4.0%}: {ours:.3f} | {rand:.3f}")
    return "\n".join(lines)


def main():
    train = tc.training_rows()
    model = cm.Model.fit(tc.CHOSEN, train)
    print(f"model: {tc.CHOSEN}, trained on {len(train)} prompts\n")
    for name, rows in [("routing/test", ds.load_routing("test")), ("MT-Bench + Vicuna (first turns)", ds.load_public())]:
        text, _ = cm.format_report(name, cm.labels(rows), model.predict(rows))
        print(text + "\n")

    mmlu = ds.load_mmlu()
    x = difficulty.design(model, [r["prompt"] for r in mmlu])
    weak = [r["weak"] for r in mmlu]
    strong = [r["strong"] for r in mmlu]
    held_out = difficulty.held_out_scores(x, weak, strong, [r["subject"] for r in mmlu])
    print(routing_table(f"MMLU, held-out subjects ({difficulty.SUBJECT_FOLDS} folds of whole subjects)",
                        held_out, weak, strong) + "\n")
    w, b = difficulty.fit(x, weak, strong)
    mt = ds.load_mt_bench_judged()
    scores = difficulty.predict(w, b, difficulty.design(model, [q["prompt"] for q in mt]))
    print(routing_table("MT-Bench (RouteLLM judgements, mean of both turns, routed on the first)",
                        scores, [q["weak"] for q in mt], [q["strong"] for q in mt]))


if __name__ == "__main__":
    main()
