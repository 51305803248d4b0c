#!/usr/bin/env python3
"""Builds Sources/PelletRouter/Resources/catalogue.json from the figures below.

    python3 tools/router-data/build_catalogue.py [--check]

The raw figures (prices, benchmark results) live here, each with the page it was transcribed
from; the script turns benchmark results into 0...1 quality scores by one fixed rule per
benchmark (ANCHORS) so that every score can be traced and recomputed. See CATALOGUE_SOURCES.md:
all figures were transcribed WITHOUT live access to the pages, from the author's knowledge of
them, on 2026-11-28, and must be re-checked before the catalogue is relied on for billing.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Sources/PelletRouter/Resources/catalogue.json"
PRICES_READ = "2026-11-28"

PRICE_PAGES = {
    "together": "https://www.together.ai/pricing",
    "fireworks": "https://fireworks.ai/pricing",
    "groq": "https://groq.com/pricing",
}

# score = 0.4 + 0.6 * (value - low) / (high - low), clamped to [0.05, 1]: `low` is roughly where a
# weak open model lands (or chance), `high` the best published results, so the scale spreads the
# models Pellet routes between. One rule per benchmark; tasks without a benchmark of their own use
# a proxy (CATALOGUE_SOURCES.md says which and why).
ANCHORS = {
    "HumanEval": (30, 95),
    "MATH": (20, 100),
    "MATH-500": (20, 100),
    "GPQA": (25, 85),
    "GPQA Diamond": (25, 85),
    "MMLU-Pro": (30, 90),
    "MMLU": (40, 95),
    "MMLU-Redux": (40, 95),
    "IFEval": (60, 95),
    "MGSM": (40, 100),
    "MMMLU": (40, 95),
    "Arena-Hard": (10, 95),
}

# The proxy each task type is scored on (first choice; a model without it gets an estimate).
TASK_BENCHMARK = {
    "code": "HumanEval",
    "math": "MATH",
    "reasoning": "GPQA",
    "extraction": "IFEval",
    "summarization": "IFEval",
    "translation": "MGSM",
    "classification": "MMLU",
    "creative": "Arena-Hard",
    "qa": "MMLU-Pro",
    "chat": "Arena-Hard",
}

CARD = {
    "llama31": ("Llama 3.1 model card", "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md"),
    "llama33": ("Llama 3.3 model card", "https://github.com/meta-llama/llama-models/blob/main/models/llama3_3/MODEL_CARD.md"),
    "llama4": ("Llama 4 model card", "https://github.com/meta-llama/llama-models/blob/main/models/llama4/MODEL_CARD.md"),
    "qwen25": ("Qwen2.5 release blog (instruct results)", "https://qwenlm.github.io/blog/qwen2.5-llm/"),
    "qwen25coder": ("Qwen2.5-Coder technical report", "https://arxiv.org/abs/2409.12186"),
    "qwen3": ("Qwen3 technical report", "https://arxiv.org/abs/2505.09388"),
    "dsv3": ("DeepSeek-V3 technical report", "https://arxiv.org/abs/2412.19437"),
    "dsr1": ("DeepSeek-R1 paper", "https://arxiv.org/abs/2501.12948"),
    "gptoss": ("gpt-oss-120b & gpt-oss-20b model card", "https://arxiv.org/abs/2508.10925"),
    "mixtral": ("Mixtral of Experts paper", "https://arxiv.org/abs/2401.04088"),
    "arenahard": ("Arena-Hard-Auto leaderboard", "https://github.com/lmarena/arena-hard-auto"),
    "mmlupro": ("MMLU-Pro leaderboard", "https://huggingface.co/spaces/TIGER-Lab/MMLU-Pro"),
}


def published(benchmark, value, card):
    """A figure the model's own card/paper/leaderboard publishes on `benchmark`."""
    return {"benchmark": benchmark, "value": value, "card": card, "basis": "published"}


def estimate(score, benchmark, value, card, why):
    """No figure on the task's benchmark: a judgement from the nearest published one (`value` on `benchmark`)."""
    return {"benchmark": benchmark, "value": value, "card": card, "basis": "estimate", "score": score, "why": why}


def offer(provider, model, input_usd, output_usd, ttft_ms, tps):
    return {
        "provider": provider,
        "model": model,
        "input_micro_usd_per_mtok": round(input_usd * 1_000_000),
        "output_micro_usd_per_mtok": round(output_usd * 1_000_000),
        "ttft_ms": ttft_ms,
        "output_tokens_per_s": tps,
        "price_source": PRICE_PAGES[provider],
    }


# Context windows are the smallest any listed provider serves (a request that fits it fits them all).
MODELS = [
    {
        "id": "llama-3.1-8b-instruct", "name": "Llama 3.1 8B Instruct", "context_window": 131072,
        "providers": [
            offer("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", 0.18, 0.18, 300, 150),
            offer("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct", 0.20, 0.20, 250, 180),
            offer("groq", "llama-3.1-8b-instant", 0.05, 0.08, 150, 750),
        ],
        "quality": {
            "code": published("HumanEval", 72.6, "llama31"),
            "math": published("MATH", 51.9, "llama31"),
            "reasoning": published("GPQA", 30.4, "llama31"),
            "extraction": published("IFEval", 80.4, "llama31"),
            "summarization": published("IFEval", 80.4, "llama31"),
            "translation": published("MGSM", 68.9, "llama31"),
            "classification": published("MMLU", 73.0, "llama31"),
            "creative": published("Arena-Hard", 21.3, "arenahard"),
            "qa": published("MMLU-Pro", 48.3, "llama31"),
            "chat": published("Arena-Hard", 21.3, "arenahard"),
        },
    },
    {
        "id": "llama-3.1-70b-instruct", "name": "Llama 3.1 70B Instruct", "context_window": 131072,
        "providers": [
            offer("together", "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", 0.88, 0.88, 450, 80),
            offer("fireworks", "accounts/fireworks/models/llama-v3p1-70b-instruct", 0.90, 0.90, 350, 100),
        ],
        "quality": {
            "code": published("HumanEval", 80.5, "llama31"),
            "math": published("MATH", 68.0, "llama31"),
            "reasoning": published("GPQA", 41.7, "llama31"),
            "extraction": published("IFEval", 87.5, "llama31"),
            "summarization": published("IFEval", 87.5, "llama31"),
            "translation": published("MGSM", 86.9, "llama31"),
            "classification": published("MMLU", 86.0, "llama31"),
            "creative": published("Arena-Hard", 55.7, "arenahard"),
            "qa": published("MMLU-Pro", 66.4, "llama31"),
            "chat": published("Arena-Hard", 55.7, "arenahard"),
        },
    },
    {
        "id": "llama-3.1-405b-instruct", "name": "Llama 3.1 405B Instruct", "context_window": 131072,
        "providers": [
            offer("together", "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo", 3.50, 3.50, 700, 35),
            offer("fireworks", "accounts/fireworks/models/llama-v3p1-405b-instruct", 3.00, 3.00, 600, 50),
        ],
        "quality": {
            "code": published("HumanEval", 89.0, "llama31"),
            "math": published("MATH", 73.8, "llama31"),
            "reasoning": published("GPQA", 50.7, "llama31"),
            "extraction": published("IFEval", 88.6, "llama31"),
            "summarization": published("IFEval", 88.6, "llama31"),
            "translation": published("MGSM", 91.6, "llama31"),
            "classification": published("MMLU", 88.6, "llama31"),
            "creative": published("Arena-Hard", 69.3, "arenahard"),
            "qa": published("MMLU-Pro", 73.3, "llama31"),
            "chat": published("Arena-Hard", 69.3, "arenahard"),
        },
    },
    {
        "id": "llama-3.3-70b-instruct", "name": "Llama 3.3 70B Instruct", "context_window": 131072,
        "providers": [
            offer("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.88, 0.88, 450, 90),
            offer("fireworks", "accounts/fireworks/models/llama-v3p3-70b-instruct", 0.90, 0.90, 350, 110),
            offer("groq", "llama-3.3-70b-versatile", 0.59, 0.79, 200, 275),
        ],
        "quality": {
            "code": published("HumanEval", 88.4, "llama33"),
            "math": published("MATH", 77.0, "llama33"),
            "reasoning": published("GPQA Diamond", 50.5, "llama33"),
            "extraction": published("IFEval", 92.1, "llama33"),
            "summarization": published("IFEval", 92.1, "llama33"),
            "translation": published("MGSM", 91.1, "llama33"),
            "classification": published("MMLU", 86.0, "llama33"),
            "creative": estimate(0.80, "Arena-Hard", None, "arenahard", "between Llama 3.1 405B (69.3) and Qwen2.5-72B (81.2); not on the leaderboard"),
            "qa": published("MMLU-Pro", 68.9, "llama33"),
            "chat": estimate(0.80, "Arena-Hard", None, "arenahard", "as creative"),
        },
    },
    {
        "id": "llama-4-scout-17b-16e", "name": "Llama 4 Scout 17B-16E Instruct", "context_window": 131072,
        "providers": [
            offer("together", "meta-llama/Llama-4-Scout-17B-16E-Instruct", 0.18, 0.59, 400, 100),
            offer("fireworks", "accounts/fireworks/models/llama4-scout-instruct-basic", 0.15, 0.60, 350, 120),
            offer("groq", "meta-llama/llama-4-scout-17b-16e-instruct", 0.11, 0.34, 200, 460),
        ],
        "quality": {
            "code": estimate(0.90, "LiveCodeBench", 32.8, "llama4", "no HumanEval; LiveCodeBench 32.8 is level with Llama 3.3 70B's 33.3 in the same card"),
            "math": estimate(0.80, "MATH (pre-trained)", 50.3, "llama4", "only the pre-trained model's MATH is published"),
            "reasoning": published("GPQA Diamond", 57.2, "llama4"),
            "extraction": estimate(0.85, "IFEval", None, "llama4", "no IFEval published; placed near Llama 3.1 70B"),
            "summarization": estimate(0.85, "IFEval", None, "llama4", "as extraction"),
            "translation": published("MGSM", 90.6, "llama4"),
            "classification": estimate(0.88, "MMLU-Pro", 74.3, "llama4", "MMLU not published for the instruct model; from MMLU-Pro"),
            "creative": estimate(0.78, "Arena-Hard", None, "arenahard", "not on the leaderboard; placed below Llama 3.3 70B"),
            "qa": published("MMLU-Pro", 74.3, "llama4"),
            "chat": estimate(0.78, "Arena-Hard", None, "arenahard", "as creative"),
        },
    },
    {
        "id": "llama-4-maverick-17b-128e", "name": "Llama 4 Maverick 17B-128E Instruct", "context_window": 131072,
        "providers": [
            offer("together", "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", 0.27, 0.85, 450, 90),
            offer("fireworks", "accounts/fireworks/models/llama4-maverick-instruct-basic", 0.22, 0.88, 400, 110),
            offer("groq", "meta-llama/llama-4-maverick-17b-128e-instruct", 0.20, 0.60, 250, 400),
        ],
        "quality": {
            "code": estimate(0.93, "LiveCodeBench", 43.4, "llama4", "no HumanEval; LiveCodeBench 43.4, above Llama 3.3 70B's 33.3 in the same card"),
            "math": estimate(0.85, "MATH (pre-trained)", 61.2, "llama4", "only the pre-trained model's MATH is published"),
            "reasoning": published("GPQA Diamond", 69.8, "llama4"),
            "extraction": estimate(0.88, "IFEval", None, "llama4", "no IFEval published; placed near Llama 3.1 405B"),
            "summarization": estimate(0.88, "IFEval", None, "llama4", "as extraction"),
            "translation": published("MGSM", 92.3, "llama4"),
            "classification": estimate(0.92, "MMLU-Pro", 80.5, "llama4", "MMLU not published for the instruct model; from MMLU-Pro"),
            "creative": estimate(0.85, "Arena-Hard", None, "arenahard", "not on the leaderboard; placed between Llama 3.1 405B and Qwen2.5-72B"),
            "qa": published("MMLU-Pro", 80.5, "llama4"),
            "chat": estimate(0.85, "Arena-Hard", None, "arenahard", "as creative"),
        },
    },
    {
        "id": "qwen2.5-72b-instruct", "name": "Qwen2.5 72B Instruct", "context_window": 32768,
        "providers": [
            offer("together", "Qwen/Qwen2.5-72B-Instruct-Turbo", 1.20, 1.20, 500, 60),
            offer("fireworks", "accounts/fireworks/models/qwen2p5-72b-instruct", 0.90, 0.90, 400, 70),
        ],
        "quality": {
            "code": published("HumanEval", 86.6, "qwen25"),
            "math": published("MATH", 83.1, "qwen25"),
            "reasoning": published("GPQA", 49.0, "qwen25"),
            "extraction": published("IFEval", 84.1, "qwen25"),
            "summarization": published("IFEval", 84.1, "qwen25"),
            "translation": estimate(0.88, "MGSM", None, "qwen25", "multilingual results published in another format; placed near Llama 3.1 70B"),
            "classification": published("MMLU-Redux", 86.8, "qwen25"),
            "creative": published("Arena-Hard", 81.2, "qwen25"),
            "qa": published("MMLU-Pro", 71.1, "qwen25"),
            "chat": published("Arena-Hard", 81.2, "qwen25"),
        },
    },
    {
        "id": "qwen2.5-coder-32b-instruct", "name": "Qwen2.5-Coder 32B Instruct", "context_window": 32768,
        "providers": [
            offer("together", "Qwen/Qwen2.5-Coder-32B-Instruct", 0.80, 0.80, 450, 70),
            offer("fireworks", "accounts/fireworks/models/qwen2p5-coder-32b-instruct", 0.90, 0.90, 350, 90),
        ],
        "quality": {
            "code": published("HumanEval", 92.7, "qwen25coder"),
            "math": published("MATH", 57.2, "qwen25coder"),
            "reasoning": estimate(0.50, "GPQA", None, "qwen25coder", "code-specialised; no GPQA published"),
            "extraction": estimate(0.75, "IFEval", None, "qwen25coder", "no IFEval published; placed with Llama 3.1 8B"),
            "summarization": estimate(0.72, "IFEval", None, "qwen25coder", "code-specialised; no figure"),
            "translation": estimate(0.70, "MGSM", None, "qwen25coder", "code-specialised; no figure"),
            "classification": estimate(0.78, "MMLU", None, "qwen25coder", "no MMLU for the instruct model"),
            "creative": estimate(0.65, "Arena-Hard", None, "qwen25coder", "code-specialised; not a writing model"),
            "qa": estimate(0.62, "MMLU-Pro", None, "qwen25coder", "no MMLU-Pro published"),
            "chat": estimate(0.68, "Arena-Hard", None, "qwen25coder", "code-specialised"),
        },
    },
    {
        "id": "qwen3-32b", "name": "Qwen3 32B", "context_window": 131072,
        "providers": [
            offer("groq", "qwen/qwen3-32b", 0.29, 0.59, 200, 400),
        ],
        "quality": {
            "code": estimate(0.95, "LiveCodeBench", 65.7, "qwen3", "no HumanEval; LiveCodeBench 65.7 (thinking) is level with DeepSeek-R1's 65.9"),
            "math": estimate(0.97, "AIME 2024", 81.4, "qwen3", "no MATH published for the final model; AIME 2024 81.4 (thinking)"),
            "reasoning": published("GPQA Diamond", 68.4, "qwen3"),
            "extraction": estimate(0.84, "IFEval", 85.0, "qwen3", "IFEval strict-prompt as recalled from the report; re-check"),
            "summarization": estimate(0.84, "IFEval", 85.0, "qwen3", "as extraction"),
            "translation": estimate(0.88, "MGSM", None, "qwen3", "multilingual results in another format; 119 languages claimed"),
            "classification": estimate(0.95, "MMLU-Redux", 90.9, "qwen3", "MMLU-Redux as recalled from the report; re-check"),
            "creative": published("Arena-Hard", 93.8, "qwen3"),
            "qa": estimate(0.84, "MMLU-Pro", None, "qwen3", "no MMLU-Pro for the post-trained model; placed below Qwen3-235B"),
            "chat": published("Arena-Hard", 93.8, "qwen3"),
        },
    },
    {
        "id": "qwen3-235b-a22b", "name": "Qwen3 235B-A22B", "context_window": 40960,
        "providers": [
            offer("together", "Qwen/Qwen3-235B-A22B-fp8-tput", 0.20, 0.60, 800, 40),
            offer("fireworks", "accounts/fireworks/models/qwen3-235b-a22b", 0.22, 0.88, 500, 70),
        ],
        "quality": {
            "code": estimate(0.97, "LiveCodeBench", 70.7, "qwen3", "no HumanEval; LiveCodeBench 70.7 (thinking), the best here"),
            "math": estimate(0.98, "AIME 2024", 85.7, "qwen3", "no MATH published for the final model; AIME 2024 85.7 (thinking)"),
            "reasoning": published("GPQA Diamond", 71.1, "qwen3"),
            "extraction": estimate(0.86, "IFEval", 83.4, "qwen3", "IFEval strict-prompt as recalled from the report; re-check"),
            "summarization": estimate(0.86, "IFEval", 83.4, "qwen3", "as extraction"),
            "translation": estimate(0.92, "MGSM", None, "qwen3", "multilingual results in another format; 119 languages claimed"),
            "classification": published("MMLU-Redux", 92.7, "qwen3"),
            "creative": published("Arena-Hard", 95.6, "qwen3"),
            "qa": estimate(0.88, "MMLU-Pro", None, "qwen3", "no MMLU-Pro for the post-trained model; placed between DeepSeek-V3 and R1"),
            "chat": published("Arena-Hard", 95.6, "qwen3"),
        },
    },
    {
        "id": "deepseek-v3", "name": "DeepSeek-V3", "context_window": 131072,
        "providers": [
            offer("together", "deepseek-ai/DeepSeek-V3", 1.25, 1.25, 800, 40),
            offer("fireworks", "accounts/fireworks/models/deepseek-v3", 0.90, 0.90, 600, 50),
        ],
        "quality": {
            "code": published("HumanEval", 82.6, "dsv3"),
            "math": published("MATH-500", 90.2, "dsv3"),
            "reasoning": published("GPQA Diamond", 59.1, "dsv3"),
            "extraction": published("IFEval", 86.1, "dsv3"),
            "summarization": published("IFEval", 86.1, "dsv3"),
            "translation": estimate(0.90, "MGSM", None, "dsv3", "no MGSM; strong Chinese/English results, placed near Llama 3.1 405B"),
            "classification": published("MMLU", 88.5, "dsv3"),
            "creative": published("Arena-Hard", 85.5, "dsv3"),
            "qa": published("MMLU-Pro", 75.9, "dsv3"),
            "chat": published("Arena-Hard", 85.5, "dsv3"),
        },
    },
    {
        "id": "deepseek-r1", "name": "DeepSeek-R1", "context_window": 131072,
        "providers": [
            offer("together", "deepseek-ai/DeepSeek-R1", 3.00, 7.00, 1500, 40),
            offer("fireworks", "accounts/fireworks/models/deepseek-r1", 3.00, 8.00, 1200, 60),
        ],
        "quality": {
            "code": estimate(0.95, "LiveCodeBench", 65.9, "dsr1", "HumanEval not reported; LiveCodeBench 65.9 vs DeepSeek-V3's 37.6 in the same paper"),
            "math": published("MATH-500", 97.3, "dsr1"),
            "reasoning": published("GPQA Diamond", 71.5, "dsr1"),
            "extraction": published("IFEval", 83.3, "dsr1"),
            "summarization": published("IFEval", 83.3, "dsr1"),
            "translation": estimate(0.90, "MGSM", None, "dsr1", "no MGSM; language mixing noted in the paper"),
            "classification": published("MMLU", 90.8, "dsr1"),
            "creative": published("Arena-Hard", 92.3, "dsr1"),
            "qa": published("MMLU-Pro", 84.0, "dsr1"),
            "chat": published("Arena-Hard", 92.3, "dsr1"),
        },
    },
    {
        "id": "gpt-oss-20b", "name": "gpt-oss-20b", "context_window": 131072,
        "providers": [
            offer("together", "openai/gpt-oss-20b", 0.05, 0.20, 300, 180),
            offer("fireworks", "accounts/fireworks/models/gpt-oss-20b", 0.07, 0.30, 250, 200),
            offer("groq", "openai/gpt-oss-20b", 0.10, 0.50, 150, 1000),
        ],
        "quality": {
            "code": estimate(0.90, "SWE-bench Verified", 60.7, "gptoss", "no HumanEval; SWE-bench Verified 60.7 and Codeforces Elo 2516 (with tools)"),
            "math": estimate(0.96, "AIME 2024", 96.0, "gptoss", "no MATH; AIME 2024 96.0 (with tools, high reasoning)"),
            "reasoning": published("GPQA Diamond", 71.5, "gptoss"),
            "extraction": estimate(0.80, "IFEval", None, "gptoss", "no IFEval in the card"),
            "summarization": estimate(0.80, "IFEval", None, "gptoss", "no IFEval in the card"),
            "translation": published("MMMLU", 75.7, "gptoss"),
            "classification": published("MMLU", 85.3, "gptoss"),
            "creative": estimate(0.80, "Arena-Hard", None, "gptoss", "not published; small model tuned for reasoning"),
            "qa": estimate(0.82, "MMLU-Pro", 85.3, "gptoss", "no MMLU-Pro; from MMLU 85.3"),
            "chat": estimate(0.80, "Arena-Hard", None, "gptoss", "not published"),
        },
    },
    {
        "id": "gpt-oss-120b", "name": "gpt-oss-120b", "context_window": 131072,
        "providers": [
            offer("together", "openai/gpt-oss-120b", 0.15, 0.60, 400, 120),
            offer("fireworks", "accounts/fireworks/models/gpt-oss-120b", 0.15, 0.60, 350, 150),
            offer("groq", "openai/gpt-oss-120b", 0.15, 0.75, 200, 500),
        ],
        "quality": {
            "code": estimate(0.95, "SWE-bench Verified", 62.4, "gptoss", "no HumanEval; SWE-bench Verified 62.4 and Codeforces Elo 2622 (with tools)"),
            "math": estimate(0.98, "AIME 2024", 96.6, "gptoss", "no MATH; AIME 2024 96.6 (with tools, high reasoning)"),
            "reasoning": published("GPQA Diamond", 80.1, "gptoss"),
            "extraction": estimate(0.86, "IFEval", None, "gptoss", "no IFEval in the card"),
            "summarization": estimate(0.86, "IFEval", None, "gptoss", "no IFEval in the card"),
            "translation": published("MMMLU", 81.3, "gptoss"),
            "classification": published("MMLU", 90.0, "gptoss"),
            "creative": estimate(0.88, "Arena-Hard", None, "gptoss", "not published"),
            "qa": estimate(0.90, "MMLU-Pro", 90.0, "gptoss", "no MMLU-Pro; from MMLU 90.0"),
            "chat": estimate(0.88, "Arena-Hard", None, "gptoss", "not published"),
        },
    },
    {
        "id": "mixtral-8x7b-instruct", "name": "Mixtral 8x7B Instruct v0.1", "context_window": 32768,
        "providers": [
            offer("together", "mistralai/Mixtral-8x7B-Instruct-v0.1", 0.60, 0.60, 400, 90),
        ],
        "quality": {
            "code": published("HumanEval", 40.2, "mixtral"),
            "math": published("MATH", 28.4, "mixtral"),
            "reasoning": estimate(0.45, "GPQA", None, "mixtral", "no GPQA published; placed with Llama 3.1 8B"),
            "extraction": estimate(0.65, "IFEval", None, "mixtral", "no IFEval published"),
            "summarization": estimate(0.68, "IFEval", None, "mixtral", "no IFEval published"),
            "translation": estimate(0.72, "MGSM", None, "mixtral", "strong in French/German/Spanish/Italian per the paper; no MGSM"),
            "classification": published("MMLU", 70.6, "mixtral"),
            "creative": published("Arena-Hard", 23.4, "arenahard"),
            "qa": published("MMLU-Pro", 43.3, "mmlupro"),
            "chat": published("Arena-Hard", 23.4, "arenahard"),
        },
    },
]


def score_of(entry):
    if entry["basis"] == "estimate":
        return entry["score"]
    low, high = ANCHORS[entry["benchmark"]]
    return round(min(1.0, max(0.05, 0.4 + 0.6 * (entry["value"] - low) / (high - low))), 3)


def build():
    models = []
    for m in MODELS:
        quality = {}
        for task, entry in m["quality"].items():
            source, url = CARD[entry["card"]]
            quality[task] = {
                "score": score_of(entry),
                "benchmark": entry["benchmark"],
                "value": entry["value"],
                "source": source if entry["basis"] == "published" else f"{source}; estimate: {entry['why']}",
                "url": url,
                "basis": entry["basis"],
            }
        models.append({
            "id": m["id"], "name": m["name"], "context_window": m["context_window"],
            "providers": m["providers"], "quality": quality,
        })
    return {
        "schema_version": 1,
        "prices_read": PRICES_READ,
        "price_sources": [PRICE_PAGES[p] for p in ["together", "fireworks", "groq"]],
        "notes": (
            "Prices, model names, speeds and benchmark figures were transcribed on 2026-11-28 WITHOUT live "
            "access to the pricing pages, model cards or leaderboards, from the author's knowledge of them; "
            "they are a starting point, not a quote, and must be re-checked against the pages in price_sources "
            "and each score's url before billing relies on them. Providers retire and re-price models often. "
            "Quality scores map a published figure onto 0..1 by a fixed rule per benchmark, or are marked "
            "basis=estimate; see tools/router-data/CATALOGUE_SOURCES.md. ttft_ms and output_tokens_per_s are "
            "typical figures, replaced at run time by live provider health."
        ),
        "models": models,
    }


def main():
    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        stale = OUT.read_text() != text
        print("catalogue.json is " + ("STALE" if stale else "up to date"))
        sys.exit(1 if stale else 0)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(MODELS)} models, "
          f"{sum(len(m['providers']) for m in MODELS)} (model, provider) pairs")


if __name__ == "__main__":
    main()
