#!/usr/bin/env python3
"""Builds Sources/PelletRouter/Resources/catalogue.json from the provider offerings and the scores below.

    python3 tools/router-data/build_catalogue.py [--check]

Prices, cached-input prices, context windows and the `reasoning` flag come from
`offerings/offerings-2026.json` (a fact sheet compiled 2026-12-07 from stored public sources, every
figure with its source and date; `offerings/offerings-2026.md` is the readable copy). This script
only chooses which of its rows Pellet routes to (MODELS) and why the others are left out
(EXCLUDED): every row must be in one or the other, so a new fact sheet forces a decision on each
row instead of silently dropping or keeping it.

Quality scores are set here, per task type, by one fixed rule per benchmark (ANCHORS); see
CATALOGUE_SOURCES.md. Most models in the fact sheet were released after the author's knowledge
ends: their scores are ESTIMATES that take a known predecessor's published figures as a floor,
and say so in each score's source text.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OFFERINGS = HERE / "offerings" / "offerings-2026.json"
OUT = ROOT / "Sources/PelletRouter/Resources/catalogue.json"
# The fact sheet's compilation date: no figure in it is newer.
PRICES_READ = "2026-12-07"

# score = 0.4 + 0.6 * (value - low) / (high - low), clamped to [0.05, 1]: `low` is roughly where a
# weak open model lands (or chance), `high` the best published results, so the scale spreads the
# models Pellet routes between. One rule per benchmark.
ANCHORS = {
    "HumanEval": (30, 95),
    "LiveCodeBench": (20, 80),
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

CARD = {
    "llama31": ("Llama 3.1 model card", "https://github.com/meta-llama/llama-models/blob/main/models/llama3_1/MODEL_CARD.md"),
    "llama33": ("Llama 3.3 model card", "https://github.com/meta-llama/llama-models/blob/main/models/llama3_3/MODEL_CARD.md"),
    "qwen3": ("Qwen3 technical report", "https://arxiv.org/abs/2505.09388"),
    "dsv3": ("DeepSeek-V3 technical report", "https://arxiv.org/abs/2412.19437"),
    "dsr1": ("DeepSeek-R1 paper", "https://arxiv.org/abs/2501.12948"),
    "gptoss": ("gpt-oss-120b & gpt-oss-20b model card", "https://arxiv.org/abs/2508.10925"),
    "kimik2": ("Kimi K2 model card (Kimi-K2-Instruct)", "https://huggingface.co/moonshotai/Kimi-K2-Instruct"),
    "glm45": ("GLM-4.5 technical report", "https://arxiv.org/abs/2508.06471"),
    "minimaxm1": ("MiniMax-M1 technical report", "https://arxiv.org/abs/2506.13585"),
    "nemotronultra": ("Llama-3.1-Nemotron-Ultra-253B-v1 model card", "https://huggingface.co/nvidia/Llama-3_1-Nemotron-Ultra-253B-v1"),
    "arenahard": ("Arena-Hard-Auto leaderboard", "https://github.com/lmarena/arena-hard-auto"),
}


def published(benchmark, value, card):
    """A figure the model's own card/paper/leaderboard publishes on `benchmark`."""
    return {"benchmark": benchmark, "value": value, "card": card, "basis": "published"}


def estimate(score, benchmark, value, card, why):
    """No figure on the task's benchmark: a judgement from the nearest published one (`value` on `benchmark`)."""
    return {"benchmark": benchmark, "value": value, "card": card, "basis": "estimate", "score": score, "why": why}


# Published figures of models the author knows, one per task type: the models Pellet still routes
# to (gpt-oss, Llama 3.3 70B) use them as their own scores; the newer models use their family
# predecessor's as a floor (`successor`). Figures are recalled from the named card, not copied
# from a live page; CATALOGUE_SOURCES.md says how to re-check them.
GPT_OSS_120B = {
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
}
GPT_OSS_20B = {
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
}
LLAMA_33_70B = {
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
}
LLAMA_31_8B = {
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
}
QWEN3_235B = {
    "code": estimate(0.97, "LiveCodeBench", 70.7, "qwen3", "no HumanEval; LiveCodeBench 70.7 (thinking)"),
    "math": estimate(0.98, "AIME 2024", 85.7, "qwen3", "no MATH for the final model; AIME 2024 85.7 (thinking)"),
    "reasoning": published("GPQA Diamond", 71.1, "qwen3"),
    "extraction": estimate(0.86, "IFEval", 83.4, "qwen3", "IFEval strict-prompt as recalled from the report; re-check"),
    "summarization": estimate(0.86, "IFEval", 83.4, "qwen3", "as extraction"),
    "translation": estimate(0.92, "MGSM", None, "qwen3", "multilingual results in another format; 119 languages claimed"),
    "classification": published("MMLU-Redux", 92.7, "qwen3"),
    "creative": published("Arena-Hard", 95.6, "qwen3"),
    "qa": estimate(0.88, "MMLU-Pro", None, "qwen3", "no MMLU-Pro for the post-trained model"),
    "chat": published("Arena-Hard", 95.6, "qwen3"),
}
QWEN3_32B = {
    "code": estimate(0.95, "LiveCodeBench", 65.7, "qwen3", "no HumanEval; LiveCodeBench 65.7 (thinking)"),
    "math": estimate(0.97, "AIME 2024", 81.4, "qwen3", "no MATH for the final model; AIME 2024 81.4 (thinking)"),
    "reasoning": published("GPQA Diamond", 68.4, "qwen3"),
    "extraction": estimate(0.84, "IFEval", 85.0, "qwen3", "IFEval strict-prompt as recalled from the report; re-check"),
    "summarization": estimate(0.84, "IFEval", 85.0, "qwen3", "as extraction"),
    "translation": estimate(0.88, "MGSM", None, "qwen3", "multilingual results in another format"),
    "classification": estimate(0.95, "MMLU-Redux", 90.9, "qwen3", "MMLU-Redux as recalled from the report; re-check"),
    "creative": published("Arena-Hard", 93.8, "qwen3"),
    "qa": estimate(0.84, "MMLU-Pro", None, "qwen3", "no MMLU-Pro for the post-trained model"),
    "chat": published("Arena-Hard", 93.8, "qwen3"),
}
DEEPSEEK_V3 = {
    "code": published("HumanEval", 82.6, "dsv3"),
    "math": published("MATH-500", 90.2, "dsv3"),
    "reasoning": published("GPQA Diamond", 59.1, "dsv3"),
    "extraction": published("IFEval", 86.1, "dsv3"),
    "summarization": published("IFEval", 86.1, "dsv3"),
    "translation": estimate(0.90, "MGSM", None, "dsv3", "no MGSM; strong Chinese/English results"),
    "classification": published("MMLU", 88.5, "dsv3"),
    "creative": published("Arena-Hard", 85.5, "dsv3"),
    "qa": published("MMLU-Pro", 75.9, "dsv3"),
    "chat": published("Arena-Hard", 85.5, "dsv3"),
}
DEEPSEEK_R1 = {
    "code": estimate(0.95, "LiveCodeBench", 65.9, "dsr1", "HumanEval not reported; LiveCodeBench 65.9"),
    "math": published("MATH-500", 97.3, "dsr1"),
    "reasoning": published("GPQA Diamond", 71.5, "dsr1"),
    "extraction": published("IFEval", 83.3, "dsr1"),
    "summarization": published("IFEval", 83.3, "dsr1"),
    "translation": estimate(0.90, "MGSM", None, "dsr1", "no MGSM; language mixing noted in the paper"),
    "classification": published("MMLU", 90.8, "dsr1"),
    "creative": published("Arena-Hard", 92.3, "dsr1"),
    "qa": published("MMLU-Pro", 84.0, "dsr1"),
    "chat": published("Arena-Hard", 92.3, "dsr1"),
}
# Recalled from the cards named in CARD; figures marked there as approximate are estimates here too.
KIMI_K2 = {
    "code": published("LiveCodeBench", 53.7, "kimik2"),
    "math": published("MATH-500", 97.4, "kimik2"),
    "reasoning": published("GPQA Diamond", 75.1, "kimik2"),
    "extraction": published("IFEval", 89.8, "kimik2"),
    "summarization": published("IFEval", 89.8, "kimik2"),
    "translation": estimate(0.90, "MGSM", None, "kimik2", "no MGSM in the card; strong Chinese/English results"),
    "classification": published("MMLU-Redux", 92.7, "kimik2"),
    "creative": estimate(0.92, "Arena-Hard", None, "kimik2", "Arena-Hard not in the card; creative-writing results near the top of open models"),
    "qa": published("MMLU-Pro", 81.1, "kimik2"),
    "chat": estimate(0.92, "Arena-Hard", None, "kimik2", "as creative"),
}
GLM_45 = {
    "code": published("LiveCodeBench", 72.9, "glm45"),
    "math": published("MATH-500", 98.2, "glm45"),
    "reasoning": published("GPQA", 79.1, "glm45"),
    "extraction": estimate(0.86, "IFEval", None, "glm45", "IFEval not in the report's headline table"),
    "summarization": estimate(0.86, "IFEval", None, "glm45", "as extraction"),
    "translation": estimate(0.88, "MGSM", None, "glm45", "no MGSM; Chinese/English model"),
    "classification": estimate(0.93, "MMLU-Pro", 84.6, "glm45", "MMLU not in the headline table; from MMLU-Pro 84.6"),
    "creative": estimate(0.88, "Arena-Hard", None, "glm45", "not in the report's headline table"),
    "qa": published("MMLU-Pro", 84.6, "glm45"),
    "chat": estimate(0.88, "Arena-Hard", None, "glm45", "as creative"),
}
GLM_45_AIR = {
    "code": published("LiveCodeBench", 70.7, "glm45"),
    "math": published("MATH-500", 98.1, "glm45"),
    "reasoning": published("GPQA", 75.0, "glm45"),
    "extraction": estimate(0.84, "IFEval", None, "glm45", "IFEval not in the report's headline table"),
    "summarization": estimate(0.84, "IFEval", None, "glm45", "as extraction"),
    "translation": estimate(0.85, "MGSM", None, "glm45", "no MGSM; Chinese/English model"),
    "classification": estimate(0.90, "MMLU-Pro", 81.4, "glm45", "MMLU not in the headline table; from MMLU-Pro 81.4"),
    "creative": estimate(0.84, "Arena-Hard", None, "glm45", "not in the report's headline table"),
    "qa": published("MMLU-Pro", 81.4, "glm45"),
    "chat": estimate(0.84, "Arena-Hard", None, "glm45", "as creative"),
}
MINIMAX_M1 = {
    "code": published("LiveCodeBench", 65.0, "minimaxm1"),
    "math": published("MATH-500", 96.8, "minimaxm1"),
    "reasoning": published("GPQA Diamond", 70.0, "minimaxm1"),
    "extraction": estimate(0.82, "IFEval", None, "minimaxm1", "no IFEval in the report"),
    "summarization": estimate(0.85, "IFEval", None, "minimaxm1", "long-context model (1M); no IFEval"),
    "translation": estimate(0.85, "MGSM", None, "minimaxm1", "no MGSM"),
    "classification": estimate(0.90, "MMLU-Pro", 81.1, "minimaxm1", "MMLU not reported; from MMLU-Pro 81.1"),
    "creative": estimate(0.85, "Arena-Hard", None, "minimaxm1", "not reported"),
    "qa": published("MMLU-Pro", 81.1, "minimaxm1"),
    "chat": estimate(0.85, "Arena-Hard", None, "minimaxm1", "not reported"),
}
NEMOTRON_ULTRA = {
    "code": published("LiveCodeBench", 66.3, "nemotronultra"),
    "math": published("MATH-500", 97.0, "nemotronultra"),
    "reasoning": published("GPQA Diamond", 76.0, "nemotronultra"),
    "extraction": published("IFEval", 89.5, "nemotronultra"),
    "summarization": published("IFEval", 89.5, "nemotronultra"),
    "translation": estimate(0.85, "MGSM", None, "nemotronultra", "no MGSM; English-first model"),
    "classification": estimate(0.90, "MMLU", None, "nemotronultra", "no MMLU in the card; placed with Llama 3.1 405B, its base"),
    "creative": estimate(0.85, "Arena-Hard", None, "nemotronultra", "not in the card"),
    "qa": estimate(0.88, "MMLU-Pro", None, "nemotronultra", "not in the card; placed with DeepSeek-R1"),
    "chat": estimate(0.85, "Arena-Hard", None, "nemotronultra", "not in the card"),
}


def score_of(entry):
    if entry["basis"] == "estimate":
        return entry["score"]
    low, high = ANCHORS[entry["benchmark"]]
    return round(min(1.0, max(0.05, 0.4 + 0.6 * (entry["value"] - low) / (high - low))), 3)


def successor(model, predecessor_name, predecessor, why=""):
    """Scores for `model`, released after the author's knowledge ends: no figure of its own is
    known here, so each task takes `predecessor`'s score as a floor (a successor in the same family,
    sold at the same or a higher price tier, is assumed to be at least as good). Every entry is an
    estimate and says whose figure it is."""
    scores = {}
    for task, entry in predecessor.items():
        figure = f"{entry['benchmark']} {entry['value']}" if entry["value"] is not None else f"its {entry['benchmark']} placement"
        scores[task] = estimate(
            score_of(entry), entry["benchmark"], entry["value"], entry["card"],
            f"no published figure for {model} known to the author; {predecessor_name}'s {figure} "
            f"({entry['basis']}) taken as a floor{why}",
        )
    return scores


# Typical time to first token (ms) and output speed (tokens/s) of a short prompt: ESTIMATES by
# provider and model size, replaced at run time by live provider health.
SPEED = {
    ("groq", "small"): (150, 1000), ("groq", "medium"): (200, 500),
    ("together", "small"): (300, 180), ("together", "medium"): (400, 120), ("together", "large"): (700, 50),
    ("fireworks", "small"): (250, 200), ("fireworks", "medium"): (350, 150), ("fireworks", "large"): (600, 60),
}

# Pellet's model id -> its display name, size class (for SPEED), the fact sheet rows that serve it
# (provider, provider model id), and its quality scores. A model offered by two or more providers
# lists them all: each is the others' fallback.
MODELS = [
    ("gpt-oss-120b", "gpt-oss-120b", "medium",
     [("together", "openai/gpt-oss-120b"), ("fireworks", "accounts/fireworks/models/gpt-oss-120b"),
      ("groq", "openai/gpt-oss-120b")], GPT_OSS_120B),
    # Together's row is "uncertain" (a retirement was announced for 2026-09-15, then the model came
    # back to the list): kept, because discovery drops the pair at start-up if it is not listed.
    ("gpt-oss-20b", "gpt-oss-20b", "small",
     [("together", "openai/gpt-oss-20b"), ("groq", "openai/gpt-oss-20b")], GPT_OSS_20B),
    ("llama-3.3-70b", "Llama 3.3 70B Instruct Turbo", "medium",
     [("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo")], LLAMA_33_70B),
    ("kimi-k3", "Kimi K3", "large",
     [("together", "moonshotai/Kimi-K3"), ("fireworks", "accounts/fireworks/models/kimi-k3")],
     successor("Kimi K3", "Kimi K2", KIMI_K2)),
    ("kimi-k2.7-code", "Kimi K2.7 Code", "large",
     [("together", "moonshotai/Kimi-K2.7-Code")],
     successor("Kimi K2.7 Code", "Kimi K2", KIMI_K2, "; a code-tuned variant, so only code is at least the floor")),
    ("glm-5.3", "GLM-5.3", "large",
     [("together", "zai-org/GLM-5.3"), ("fireworks", "accounts/fireworks/models/glm-5p3")],
     successor("GLM-5.3", "GLM-4.5", GLM_45)),
    ("glm-5.3-flash", "GLM-5.3 Flash", "medium",
     [("together", "zai-org/GLM-5.3-Flash"), ("fireworks", "accounts/fireworks/models/glm-5p3-flash")],
     successor("GLM-5.3 Flash", "GLM-4.5-Air", GLM_45_AIR)),
    ("deepseek-v4-pro", "DeepSeek V4 Pro", "large",
     [("together", "deepseek-ai/DeepSeek-V4-Pro")],
     successor("DeepSeek V4 Pro", "DeepSeek-R1", DEEPSEEK_R1)),
    ("deepseek-v4.1-flash", "DeepSeek V4.1 Flash", "medium",
     [("together", "deepseek-ai/DeepSeek-V4.1-Flash"), ("fireworks", "accounts/fireworks/models/deepseek-v4p1-flash")],
     successor("DeepSeek V4.1 Flash", "DeepSeek-V3", DEEPSEEK_V3)),
    ("minimax-m3", "MiniMax M3", "large",
     [("together", "MiniMaxAI/MiniMax-M3"), ("fireworks", "accounts/fireworks/models/minimax-m3")],
     successor("MiniMax M3", "MiniMax-M1", MINIMAX_M1)),
    ("qwen3.8-max", "Qwen3.8 Max (2.4T-A95B)", "large",
     [("together", "Qwen/Qwen3.8-2.4T-A95B"), ("fireworks", "accounts/fireworks/models/qwen3p8-2p4t-a95b")],
     successor("Qwen3.8 Max", "Qwen3-235B-A22B", QWEN3_235B)),
    ("qwen3.7-max", "Qwen3.7 Max", "large",
     [("together", "Qwen/Qwen3.7-Max")],
     successor("Qwen3.7 Max", "Qwen3-235B-A22B", QWEN3_235B, "; its thinking-mode figures, though this model does not think")),
    ("qwen3.8-27b", "Qwen3.8 27B", "medium",
     [("groq", "qwen/qwen3.8-27b")],
     successor("Qwen3.8 27B", "Qwen3-32B", QWEN3_32B)),
    ("nemotron-3-ultra", "Nemotron 3 Ultra 550B-A55B", "large",
     [("together", "nvidia/nemotron-3-ultra-550b-a55b"), ("fireworks", "accounts/fireworks/models/nemotron-3-ultra-nvfp4")],
     successor("Nemotron 3 Ultra", "Llama-3.1-Nemotron-Ultra-253B", NEMOTRON_ULTRA)),
    ("qwen3.5-9b", "Qwen3.5 9B", "small",
     [("together", "Qwen/Qwen3.5-9B")],
     successor("Qwen3.5 9B", "Llama 3.1 8B", LLAMA_31_8B, "; the nearest-sized model with published figures")),
    ("nemotron-3.5-lightning", "Nemotron 3.5 Lightning 30B-A3B", "small",
     [("fireworks", "accounts/fireworks/models/nemotron-lightning-3p5-30b-a3b")],
     successor("Nemotron 3.5 Lightning", "Llama 3.1 8B", LLAMA_31_8B, "; 3B active parameters, so the nearest-sized model with published figures")),
    ("gemma-3n-e4b", "Gemma 3n E4B", "small",
     [("together", "google/gemma-3n-E4B-it")],
     successor("Gemma 3n E4B", "Llama 3.1 8B", LLAMA_31_8B, "; an on-device model, placed no higher than an 8B")),
]

# Fact-sheet rows Pellet does not route to, and why. Every row is in MODELS or here.
NO_PRICE = "no price found: Pellet cannot bill it"
EXCLUDED = {
    ("together", "Qwen/Qwen3.6-Plus"): "status uncertain: reported 400 model_not_available on serverless (models.dev #3324)",
    ("together", "Qwen/Qwen3.7-Plus"): NO_PRICE,
    ("together", "Qwen/Qwen3.8-Flash"): NO_PRICE,
    ("together", "deepseek-ai/DeepSeek-V4-Pro-0813"): "context window not found; DeepSeek V4 Pro is routed instead",
    ("together", "deepseek-ai/DeepSeek-V4-Flash-0731"): "price from an undated page only; Fireworks retired the same model; V4.1 Flash replaces it",
    ("together", "zai-org/GLM-5.2"): "superseded by GLM-5.3 at the same price; Fireworks retired it",
    ("together", "google/gemma-4-31B-it"): "no predecessor figures known to the author to score it by; left out until scored",
    ("together", "pearl-ai/gemma-4-31b-it"): "a third-party copy of Gemma 4 31B with a 32k window; left out with it",
    ("together", "deepcogito/cogito-v2-1-671b"): "last confirmed 2026-08; no figures to score it by",
    ("together", "LiquidAI/LFM2.5-8B-A1B"): NO_PRICE,
    ("together", "thinkingmachines/Inkling"): NO_PRICE,
    ("together", "thinkingmachines/Inkling-Small"): NO_PRICE,
    ("together", "meta-models/Muse-Glimmer-30B"): NO_PRICE,
    ("together", "Prism-ML/Ternary-Bonsai-27B"): NO_PRICE,
    ("together", "arize-ai/qwen-2-1.5b-instruct"): NO_PRICE,
    ("fireworks", "accounts/fireworks/routers/kimi-k3-fast"): "a 1.5x-priced serving path of kimi-k3, not another model",
    ("fireworks", "accounts/fireworks/routers/kimi-k3-us"): "US-only router on another base URL (us.api.fireworks.ai)",
    ("fireworks", "accounts/fireworks/routers/glm-5p3-fast"): "a 1.5x-priced serving path of glm-5.3, not on the public pricing page",
    ("fireworks", "accounts/fireworks/models/inkling"): "reasoning unknown and no figures to score it by",
    ("fireworks", "accounts/fireworks/models/ember-1"): "single source, released 2026-09-22; a Kimi K3 derivative",
    ("groq", "openai/gpt-oss-safeguard-20b"): "a safety-policy classifier, not a general chat model",
    ("groq", "qwen/qwen3.6-27b"): "status uncertain (preview; possibly retired); Qwen3.8 27B replaces it",
}


def micro(usd):
    return round(usd * 1_000_000)


def offer(row, size):
    ttft, tps = SPEED[(row["provider"], size)]
    entry = {
        "provider": row["provider"],
        "model": row["model_id"],
        "input_micro_usd_per_mtok": micro(row["input_usd_per_mtok"]),
        "output_micro_usd_per_mtok": micro(row["output_usd_per_mtok"]),
    }
    if row["cached_input_usd_per_mtok"] is not None:
        entry["cached_input_micro_usd_per_mtok"] = micro(row["cached_input_usd_per_mtok"])
    entry.update({
        "context_window": row["context_window"],
        "ttft_ms": ttft,
        "output_tokens_per_s": tps,
        "price_source": row["figure_sources"]["price"],
    })
    if row["status"] != "offered":
        entry["notes"] = f"status in the fact sheet: {row['status']}; {row['status_source']}"
    return entry


def build():
    rows = {(r["provider"], r["model_id"]): r for r in json.loads(OFFERINGS.read_text())}
    chosen = {pair for _, _, _, pairs, _ in MODELS for pair in pairs}
    unaccounted = set(rows) - chosen - set(EXCLUDED)
    unknown = (chosen | set(EXCLUDED)) - set(rows)
    if unaccounted or unknown or chosen & set(EXCLUDED):
        sys.exit(f"fact sheet and selection disagree: not decided {sorted(unaccounted)}, "
                 f"not in the fact sheet {sorted(unknown)}, both {sorted(chosen & set(EXCLUDED))}")
    models = []
    for model_id, name, size, pairs, quality in MODELS:
        served = [rows[pair] for pair in pairs]
        offers = [offer(row, size) for row in served]
        # The smallest window any provider serves (a request that fits it fits them all); a
        # provider whose window was not found does not lower it.
        windows = [row["context_window"] for row in served if row["context_window"]]
        for entry in offers:
            if entry["context_window"] is None:
                del entry["context_window"]
        flags = {row["reasoning"] for row in served} - {None}
        if len(flags) != 1:
            sys.exit(f"{model_id}: the fact sheet's reasoning flags disagree or are all unknown: {flags}")
        scores = {}
        for task, entry in quality.items():
            source, url = CARD[entry["card"]]
            scores[task] = {
                "score": score_of(entry),
                "benchmark": entry["benchmark"],
                "value": entry["value"],
                "source": source if entry["basis"] == "published" else f"{source}; estimate: {entry['why']}",
                "url": url,
                "basis": entry["basis"],
            }
        models.append({
            "id": model_id, "name": name, "context_window": min(windows), "reasoning": flags.pop(),
            "providers": offers, "quality": scores,
        })
    return {
        "schema_version": 2,
        "prices_read": PRICES_READ,
        "price_sources": [
            "tools/router-data/offerings/offerings-2026.md (every figure's source and date)",
            "https://www.together.ai/pricing",
            "https://fireworks.ai/pricing",
            "https://groq.com/pricing",
        ],
        "notes": (
            "Prices, cached-input prices, context windows, provider model ids and reasoning flags come from "
            "tools/router-data/offerings/offerings-2026.json, compiled 2026-12-07 from stored public sources dated up "
            "to 2026-09 (none checked against a live API); each offer's price_source names its source and date. "
            "Providers retire models often: pelletd's model discovery takes a pair out of routing while its provider "
            "does not list it. Quality scores map a published figure onto 0..1 by a fixed rule per benchmark, or are "
            "basis=estimate: most models here post-date the author's knowledge and take a named predecessor's "
            "published figures as a floor; see tools/router-data/CATALOGUE_SOURCES.md. ttft_ms and "
            "output_tokens_per_s are typical figures by provider and size, replaced at run time by live provider "
            "health. Reasoning models emit reasoning tokens billed as output: the router counts them in its cost "
            "and latency estimates."
        ),
        "models": models,
    }


def main():
    catalogue = build()
    text = json.dumps(catalogue, indent=2, ensure_ascii=False) + "\n"
    if "--check" in sys.argv:
        stale = OUT.read_text() != text
        print("catalogue.json is " + ("STALE" if stale else "up to date"))
        sys.exit(1 if stale else 0)
    OUT.write_text(text)
    models = catalogue["models"]
    estimates = sum(q["basis"] == "estimate" for m in models for q in m["quality"].values())
    print(f"wrote {OUT.relative_to(ROOT)}: {len(models)} models, "
          f"{sum(len(m['providers']) for m in models)} (model, provider) pairs, "
          f"{sum(len(m['providers']) >= 2 for m in models)} models with a fallback provider, "
          f"{estimates} of {10 * len(models)} scores estimates")


if __name__ == "__main__":
    main()
