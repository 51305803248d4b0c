"""The task classifier's features, byte for byte as Sources/PelletRouter/TaskClassifier.swift computes them.

Any change here must be made in the Swift file too; `classifier-parity.json` (written by
train_classifier.py into the test resources) is the check that the two agree.

One pass over each message's UTF-8 bytes, ASCII-lowercased:
- a word is a maximal run of [a-z0-9] or bytes >= 0x80; digits hash as '0' so numbers share
  features by length; each word adds its unigram and (after the first word of the message) the
  bigram with the previous word;
- a byte from SYMBOLS adds a symbol feature;
- each feature carries its message's weight (the last user turn 1.0, a system prompt 0.6, earlier
  user turns 0.35, anything else 0.15) and lands in one of 2^bits buckets;
- the bucket vector is divided by sqrt(total weight), so long and short prompts score alike;
- a few dense features (code fences, symbol/digit/non-ASCII/newline ratios, a trailing '?',
  the last user turn's length, multi-turn, system prompt) are added, and per task type
  log(1 + weighted count of its cue words) (CUES; a two-word cue is matched on the bigram).
"""

import math

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
MASK = 0xFFFFFFFF

SYMBOLS = b"{}[]();=<>+*/^$#?!:\"'`|&%@\\_~-"
CODE_SYMBOLS = b"{}[]();=<>"

WEIGHT_LAST_USER = 1.0
WEIGHT_SYSTEM = 0.6
WEIGHT_EARLIER_USER = 0.35
WEIGHT_OTHER = 0.15

# Words that say what a prompt asks for, per task type: prior knowledge, not learned from the
# data. Each task's cue count is a dense feature, so the model needs only ten weights per task to
# use them, which generalises far better from a few hundred prompts than thousands of n-grams do.
# Two-word cues are matched as bigrams.
CUES = {
    "code": """code coding function functions python javascript typescript java rust kotlin swift golang
        sql query regex regexp bug bugs debug compile compiler exception implement implementation script
        bash shell api endpoint refactor unittest pytest dockerfile docker kubernetes git css html react
        program programming variable array loop runtime repository snippet stacktrace null pointer
        algorithm struct class method async await thread lint segfault""",
    "math": """solve equation equations integral derivative differentiate prove proof theorem probability
        calculate compute sum percent percentage fraction simplify matrix polynomial prime primes factor
        limit sqrt area volume triangle angle geometry algebra interest remainder divisible variance lcm
        gcd inequality logarithm eigenvalues integer integers digits arithmetic sequence series""",
    "reasoning": """puzzle riddle logic logical deduce deduction estimate estimation suppose hypothetically
        paradox argument lying liar truth scenario consequences plausible assumptions trick infer
        counterfactual imagine_if what_if would_happen step_by_step how_many""",
    "extraction": """extract extracted extraction pull parse identify fields entities mentioned structured
        json csv table find_all list_all return_json key_value occurrences named""",
    "summarization": """summarize summarise summary summaries summarizing condense condensed gist recap
        tl dr tldr shorten takeaways key_points abstract boil_down briefly brief synopsis overview""",
    "translation": """translate translation translated translating traduce traduis übersetze translator
        spanish french german italian japanese chinese korean portuguese russian arabic hindi dutch
        polish turkish greek swedish norwegian vietnamese indonesian thai hebrew ukrainian czech
        localize in_english into_english""",
    "classification": """classify classification classifier categorize categorise category categories
        label labels sentiment positive negative neutral spam tag tags intent genre topic sort_into
        one_of which_category assign""",
    "creative": """write story poem haiku sonnet limerick lyrics song fictional character roleplay pretend
        compose draft email letter blog post slogan toast tagline narrative scene fantasy novel verse
        poetry screenplay monologue fairy villanelle rhyme invent""",
    "qa": """what who when where which explain history caused causes difference define definition
        meaning science scientific significance describe why_is why_do how_does""",
    "chat": """hi hello hey thanks thank lol bored chat weekend friend friends feel feeling advice tips
        nervous motivated you_doing your_day how_are good_morning goodnight""",
}

DENSE_NAMES = [
    "code_fence", "code_symbol_ratio", "digit_ratio", "non_ascii_ratio", "newline_ratio",
    "ends_with_question", "last_user_length", "multi_turn", "has_system",
] + [f"cue_{task}" for task in CUES]



def fnv1a(data: bytes, h: int = FNV_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


def bigram_hash(previous: int, current: int) -> int:
    return (((previous * 31) + current) & MASK) ^ 0x9E3779B9


def bucket(h: int, bits: int) -> int:
    return ((h * 2654435761) & MASK) >> (32 - bits)


SYMBOL_HASHES = {c: fnv1a(bytes([0xFF, c])) for c in SYMBOLS}


def word_hash(word: str) -> int:
    return fnv1a(bytes(48 if 48 <= b <= 57 else b for b in word.lower().encode("utf-8")))


def cue_hashes():
    """{hash of a cue word, or bigram hash of a two-word cue: task index}."""
    table = {}
    for index, words in enumerate(CUES.values()):
        for cue in words.split():
            parts = cue.split("_")
            h = word_hash(parts[0]) if len(parts) == 1 else bigram_hash(word_hash(parts[0]), word_hash(parts[1]))
            if h in table and table[h] != index:
                raise ValueError(f"cue {cue!r} is listed for two task types")
            table[h] = index
    return table


CUE_HASHES = cue_hashes()


def message_weights(messages):
    """Weights per message: the last user turn counts most, then a system prompt."""
    last_user = -1
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            last_user = i
            break
    if last_user < 0:
        last_user = len(messages) - 1
    weights = []
    for i, m in enumerate(messages):
        if i == last_user:
            weights.append(WEIGHT_LAST_USER)
        elif m["role"] == "system":
            weights.append(WEIGHT_SYSTEM)
        elif m["role"] == "user":
            weights.append(WEIGHT_EARLIER_USER)
        else:
            weights.append(WEIGHT_OTHER)
    return weights, last_user


def extract(messages, bits):
    """Returns (sparse {bucket: value}, dense list) exactly as the Swift classifier sees them."""
    weights, last_user = message_weights(messages)
    sparse = {}
    total_weight = 0.0
    total_bytes = digit_bytes = non_ascii = newlines = code_symbols = fences = 0.0
    last_user_bytes = 0
    ends_with_question = 0.0
    has_system = 0.0
    cues = [0.0] * len(CUES)

    def add(index, w):
        sparse[index] = sparse.get(index, 0.0) + w

    def emit(h, previous, w):
        """One word's features; returns the weight it added."""
        added = w
        add(bucket(h, bits), w)
        if h in CUE_HASHES:
            cues[CUE_HASHES[h]] += w
        if previous is not None:
            pair = bigram_hash(previous, h)
            add(bucket(pair, bits), w)
            added += w
            if pair in CUE_HASHES:
                cues[CUE_HASHES[pair]] += w
        return added

    for i, m in enumerate(messages):
        w = weights[i]
        data = m["content"].encode("utf-8")
        if m["role"] == "system":
            has_system = 1.0
        if i == last_user:
            last_user_bytes = len(data)
            stripped = data.rstrip(b" \t\r\n")
            ends_with_question = 1.0 if stripped.endswith(b"?") else 0.0
        h = FNV_OFFSET
        in_word = False
        previous = None
        backticks = 0
        for b in data:
            if 65 <= b <= 90:
                b += 32
            total_bytes += w
            if b == 0x60:
                backticks += 1
                if backticks == 3:
                    fences += w
            else:
                backticks = 0
            if (97 <= b <= 122) or (48 <= b <= 57) or b >= 0x80:
                if 48 <= b <= 57:
                    digit_bytes += w
                    b = 48
                elif b >= 0x80:
                    non_ascii += w
                h = ((h ^ b) * FNV_PRIME) & MASK
                in_word = True
                continue
            if in_word:
                total_weight += emit(h, previous, w)
                previous = h
                h = FNV_OFFSET
                in_word = False
            if b == 10:
                newlines += w
            if b in CODE_SYMBOLS:
                code_symbols += w
            if b in SYMBOL_HASHES:
                add(bucket(SYMBOL_HASHES[b], bits), w)
                total_weight += w
        if in_word:
            total_weight += emit(h, previous, w)

    scale = 1.0 / math.sqrt(max(total_weight, 1.0))
    sparse = {k: v * scale for k, v in sparse.items()}
    tb = max(total_bytes, 1.0)
    dense = [
        min(fences, 1.0),
        code_symbols / tb * 10.0,
        digit_bytes / tb * 10.0,
        non_ascii / tb,
        newlines / tb * 20.0,
        ends_with_question,
        math.log1p(last_user_bytes) / 8.0,
        1.0 if len(messages) > 2 else 0.0,
        has_system,
    ] + [math.log1p(c) for c in cues]
    return sparse, dense
