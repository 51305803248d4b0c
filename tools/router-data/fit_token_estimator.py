#!/usr/bin/env python3
"""Fits the token estimator's coefficients against a real BPE tokenizer and reports its error.

    pip install bpe-openai numpy scipy     # bpe-openai ships cl100k_base and o200k_base offline
    python3 tools/router-data/fit_token_estimator.py [--write]

The target is cl100k_base: Llama 3's tokenizer is cl100k_base's 100k tokens plus 28k more, and
Qwen's and DeepSeek's BPEs count English and code similarly. o200k_base (gpt-oss's tokenizer) is
reported as a second reference. tiktoken itself cannot run here (it downloads its vocabulary on
first use and there is no internet); bpe-openai bundles the same vocabulary files and
`--cross-check-tiktoken` verifies the counts against tiktoken fed those files.

Fits on the train split of prompts.jsonl (each message separately), reports on the held-out
split and on the public MT-Bench/Vicuna prompts, and with --write prints the Swift constants for
Sources/PelletRouter/TokenEstimator.swift.

The features are what TokenEstimator.swift counts in one pass over the bytes.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_classifier import load_labeled, load_public  # noqa: E402

FIXTURE = ROOT / "Tests/PelletRouterTests/Resources/token-counts.json"
PER_MESSAGE = 4  # role and separators: <|start_header_id|>user<|end_header_id|>\n\n ... <|eot_id|>
PER_CONVERSATION = 3  # the assistant header that primes the reply

# For a feature the train split never exercises, NNLS would say 0; use a prior instead
# (an emoji or other 4-byte character is 1 to 3 tokens in cl100k_base).
PRIORS = {"utf8_4byte": 1.5}

NAMES = ["letter_runs", "long_letters", "digit_groups", "punctuation", "newlines", "space_runs",
         "utf8_2byte", "utf8_3byte", "utf8_4byte"]


def counts(text: str):
    """features, byte for byte as TokenEstimator.swift counts them."""
    data = text.encode("utf-8")
    letter_runs = long_letters = digit_groups = punctuation = newlines = space_runs = 0
    two = three = four = 0
    run_kind = None  # "letter", "digit", "space"
    run = 0

    def close():
        nonlocal letter_runs, long_letters, digit_groups, space_runs
        if run_kind == "letter":
            letter_runs += 1
            long_letters += max(0, run - 6)
        elif run_kind == "digit":
            digit_groups += (run + 2) // 3
        elif run_kind == "space" and run >= 2:
            space_runs += 1

    for b in data:
        if (65 <= b <= 90) or (97 <= b <= 122):
            kind = "letter"
        elif 48 <= b <= 57:
            kind = "digit"
        elif b == 32 or b == 9:
            kind = "space"
        else:
            kind = None
        if kind != run_kind:
            close()
            run_kind, run = kind, 0
        run += 1
        if kind is None:
            if b == 10:
                newlines += 1
            elif 33 <= b <= 126:
                punctuation += 1
            elif 0xC0 <= b <= 0xDF:
                two += 1
            elif 0xE0 <= b <= 0xEF:
                three += 1
            elif b >= 0xF0:
                four += 1
    close()
    return [letter_runs, long_letters, digit_groups, punctuation, newlines, space_runs, two, three, four]


def conversation_tokens(messages, encoding):
    return sum(len(encoding.encode(m["content"])) + PER_MESSAGE for m in messages) + PER_CONVERSATION


def estimate(messages, coefficients):
    total = PER_CONVERSATION
    for m in messages:
        total += math.ceil(float(np.dot(coefficients, counts(m["content"])))) + PER_MESSAGE
    return total


def bytes_over_four(messages):
    return sum(math.ceil(len(m["content"].encode("utf-8")) / 4) + PER_MESSAGE for m in messages) + PER_CONVERSATION


def error_report(name, rows, encoding, estimator):
    truth = np.array([conversation_tokens(r["messages"], encoding) for r in rows], dtype=float)
    guess = np.array([estimator(r["messages"]) for r in rows], dtype=float)
    rel = (guess - truth) / truth
    return (f"  {name:28s} n={len(rows):3d}  mean |err| {np.mean(np.abs(rel)) * 100:5.1f}%  "
            f"p90 |err| {np.percentile(np.abs(rel), 90) * 100:5.1f}%  max |err| {np.max(np.abs(rel)) * 100:5.1f}%  "
            f"bias {np.mean(rel) * 100:+5.1f}%  total {guess.sum() / truth.sum() * 100 - 100:+5.1f}%")


def cross_check_tiktoken(rows):
    """Counts with tiktoken itself, given bpe-openai's copy of the vocabulary files."""
    import gzip
    import base64
    import importlib.resources
    import tiktoken
    import bpe_openai
    data = importlib.resources.files("bpe_openai") / "data" / "cl100k_base.tiktoken.gz"
    ranks = {}
    for line in gzip.decompress(data.read_bytes()).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    reference = tiktoken.Encoding(
        name="cl100k_base_offline",
        pat_str=r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
        mergeable_ranks=ranks,
        special_tokens={},
    )
    ours = bpe_openai.get_encoding("cl100k_base")
    mismatches = 0
    for r in rows:
        for m in r["messages"]:
            if len(reference.encode(m["content"])) != len(ours.encode(m["content"])):
                mismatches += 1
    print(f"tiktoken vs bpe-openai on cl100k_base: {mismatches} message(s) counted differently")


def main():
    import bpe_openai
    cl100k = bpe_openai.get_encoding("cl100k_base")
    o200k = bpe_openai.get_encoding("o200k_base")
    rows = load_labeled()
    train = [r for r in rows if r["split"] == "train"]
    heldout = [r for r in rows if r["split"] == "heldout"]
    public = load_public()
    if "--cross-check-tiktoken" in sys.argv:
        cross_check_tiktoken(rows + public)

    x, y = [], []
    for r in train:
        for m in r["messages"]:
            x.append(counts(m["content"]))
            y.append(len(cl100k.encode(m["content"])))
    coefficients, _ = nnls(np.array(x, dtype=float), np.array(y, dtype=float))
    present = np.array(x, dtype=float).sum(axis=0) > 0
    for i, n in enumerate(NAMES):
        if not present[i] and n in PRIORS:
            coefficients[i] = PRIORS[n]
    coefficients = np.round(coefficients, 3)
    print("coefficients (fitted on train, cl100k_base):")
    for n, c in zip(NAMES, coefficients):
        print(f"  {n:14s} {c:.3f}")

    ours = lambda messages: estimate(messages, coefficients)  # noqa: E731
    for encoding_name, encoding in [("cl100k_base", cl100k), ("o200k_base", o200k)]:
        print(f"error against {encoding_name} (whole conversation, {PER_MESSAGE}/message + {PER_CONVERSATION}):")
        for set_name, subset in [("held-out", heldout), ("public", public), ("train", train)]:
            print(error_report(f"estimator, {set_name}", subset, encoding, ours))
            print(error_report(f"bytes/4, {set_name}", subset, encoding, bytes_over_four))
    if "--write" in sys.argv:
        fixture = {
            "note": "token counts of whole conversations (content + 4 per message + 3), from bpe-openai's cl100k_base and o200k_base",
            "cases": [
                {"id": r["id"], "cl100k_base": conversation_tokens(r["messages"], cl100k),
                 "o200k_base": conversation_tokens(r["messages"], o200k)}
                for r in heldout + public
            ],
        }
        FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"wrote {FIXTURE.relative_to(ROOT)}")
        print("\nSwift:")
        print("    static let coefficients: [Float] = [" + ", ".join(f"{c:g}" for c in coefficients) + "]")


if __name__ == "__main__":
    main()
