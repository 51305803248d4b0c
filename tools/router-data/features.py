"""The task classifier's features, byte for byte as Sources/PelletRouter/TaskClassifier.swift computes them.

Any change here must be made in the Swift file too; `classifier-parity.json` (written by
train_classifier.py into the test resources) is the check that the two agree.

Each message's UTF-8 bytes, ASCII-lowercased, read at its edges (its first and last 16 KiB when
it is longer than 32 KiB, as PromptEdges.swift does):
- a word is a maximal run of [a-z0-9] or bytes >= 0x80; digits count as '0' so numbers share
  features by length; each word adds its unigram and (after the first word of the message) the
  bigram with the previous word;
- with `char_ngrams`, each word also adds its byte trigrams, the word framed by 0x01 on both
  sides (a word of n bytes gives n trigrams): they carry spelling across languages and
  inflections ("función", "funktion", "übersetze", "übersetzen") that whole words miss;
- a byte from SYMBOLS adds a symbol feature;
- each feature carries its message's weight (the last user turn 1.0, a system prompt 0.6, earlier
  user turns 0.35, anything else 0.15) and lands in one of 2^bits buckets;
- the bucket vector is divided by sqrt(total weight), so long and short prompts score alike;
- a few dense features (code fences, symbol/digit/non-ASCII/newline ratios, a trailing '?',
  the last user turn's length, multi-turn, system prompt) are added, and per task type
  log(1 + weighted count of its cue words) (CUES; a two-word cue is matched on the bigram);
- with `edge_cues`, per task type log(1 + weighted count of its cue words in a message's first or
  last 96 bytes): ten more dense features, the instruction's cues apart from the passage's;
- with `edge_norm`, the edge words are divided by the square root of their own weight, not the
  whole prompt's, so a long passage does not drown the instruction around it.
- for the difficulty score only (`extract_all`'s third value, DIFFICULTY_NAMES): the weighted
  share of words of LONG_WORD_BYTES or more (x5), and log(1 + weighted count) of each
  DIFFICULTY_CUES family, matched in the same cue table as lanes 10 and 11.

The extraction here is written for speed over ~20,000 prompts (regular expressions, a cache of
per-word hashes); the Swift side is one pass over the bytes. The parity fixture keeps them equal.
"""

import math
import re

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
MASK = 0xFFFFFFFF
EDGE_BYTES = 16 << 10
TRIGRAM_FRAME = 0x01
TRIGRAM_SEED = 0xFE
EDGE_WORD_BYTES = 96
EDGE_SALT = 0x5BD1E995

SYMBOLS = b"{}[]();=<>+*/^$#?!:\"'`|&%@\\_~-"
CODE_SYMBOLS = b"{}[]();=<>"

WEIGHT_LAST_USER = 1.0
WEIGHT_SYSTEM = 0.6
WEIGHT_EARLIER_USER = 0.35
WEIGHT_OTHER = 0.15

# Words that say what a prompt asks for, per task type: prior knowledge, not learned from the
# data. Each task's cue count is a dense feature, so the model needs only ten weights per task to
# use them, which generalises far better to prompts unlike the training sets than thousands of
# n-grams do. Two-word cues are matched as bigrams. A few cues in other languages (the verbs
# that ask for a translation, a summary or code) keep the request's language from deciding.
CUES = {
    "code": """code coding function functions python javascript typescript java rust kotlin swift golang
        sql query regex regexp bug bugs debug compile compiler exception implement implementation script
        bash shell api endpoint refactor unittest pytest dockerfile docker kubernetes git css html react
        program programming variable array loop runtime repository snippet stacktrace null pointer
        algorithm struct class method async await thread lint segfault función funcion código codigo
        programa funktion methode klasse fonction programme codice funzione função""",
    "math": """solve equation equations integral derivative differentiate prove proof theorem probability
        calculate compute sum percent percentage fraction simplify matrix polynomial prime primes factor
        limit sqrt area volume triangle angle geometry algebra interest remainder divisible variance lcm
        gcd inequality logarithm eigenvalues integer integers digits arithmetic sequence series calcula
        berechne calcule calcola median deviation regression percentile statistics statistical correlation
        residual""",
    "reasoning": """puzzle riddle logic logical deduce deduction estimate estimation suppose hypothetically
        paradox argument lying liar truth scenario consequences plausible assumptions trick infer
        counterfactual imagine_if what_if would_happen step_by_step how_many had_never had_not
        your_reasoning explain_your might_someone fallacy fallacies premise premises conclusion conclude
        valid invalid syllogism implies contradiction what_happens more_likely less_likely more_or less_or
        increase_or decrease_or increases_or decreases_or faster_or slower_or higher_or lower_or greater_or
        smaller_or larger_or bigger_or warmer_or cooler_or hotter_or colder_or stronger_or weaker_or heavier_or
        lighter_or closer_or farther_or longer_or shorter_or thicker_or thinner_or older_or younger_or easier_or
        harder_or sooner_or later_or better_or worse_or fewer_or louder_or brighter_or darker_or deeper_or
        wider_or cheaper_or safer_or causation inference deductive inductive contrapositive antecedent
        consequent implausible flaw flawed assumption odd_one not_belong""",
    "extraction": """extract extracted extraction pull parse identify fields entities mentioned structured
        json csv table find_all list_all return_json key_value occurrences named extrae extrahiere
        keywords keyword""",
    "summarization": """summarize summarise summary summaries summarizing condense condensed gist recap
        tl dr tldr shorten takeaways key_points abstract boil_down briefly brief synopsis overview
        resumen zusammen zusammenfassung résume riassumi""",
    "translation": """translate translation translated translating traduce traduis übersetze translator
        spanish french german italian japanese chinese korean portuguese russian arabic hindi dutch
        polish turkish greek swedish norwegian vietnamese indonesian thai hebrew ukrainian czech
        localize in_english into_english übersetzen übersetzung traducir traduire traduza traduci
        traduzca inglés englische englisch anglais переведи переведите""",
    "classification": """classify classification classifier categorize categorise category categories
        label labels sentiment positive negative neutral spam tag tags intent genre topic sort_into
        one_of which_category assign klassifiziere which_language what_language""",
    "creative": """write story poem haiku sonnet limerick lyrics song fictional character roleplay pretend
        compose draft email letter blog post slogan toast tagline narrative scene fantasy novel verse
        poetry screenplay monologue fairy villanelle rhyme invent persuasive speech imagine_you you_are
        pretend_to escribe schreibe écris role persona embody act_as imagine_yourself picture_yourself
        you_were rewrite rephrase reword proofread yourself_as in_character as_a the_role your_role speak_like
        voice_of narrate narrator""",
    "qa": """what who when where which explain history caused causes difference define definition
        meaning science scientific significance describe why_is why_do how_does""",
    "chat": """hi hello hey thanks thank lol bored chat weekend friend friends feel feeling advice tips
        nervous motivated you_doing your_day how_are good_morning goodnight how_can_i can_i should_i
        how_do_i""",
}

# Cue families for the difficulty score only (lanes 10 and 11 of the cue count, after the ten
# task types; the classifier does not read them): prior knowledge of what makes a prompt harder
# for a small model. "parts": a question that asks to judge several statements or scenarios
# together ("Statement 1 | … Statement 2 | …", "I, II and III", "neither of"); "constraints":
# an answer held to stated limits ("exactly", "at most", "without", "in 100 words").
DIFFICULTY_CUES = {
    "parts": """statement statements scenarios ii iii iv both_of neither_of respectively""",
    "constraints": """must exactly only at_least at_most without no_more include ensure words sentences
        paragraph""",
}
# A word of at least this many bytes is long: the share of long words is a difficulty feature.
LONG_WORD_BYTES = 9
# The difficulty score's own features, after features.py's dense ones: the share of long words
# (x5) and log(1 + count) of each DIFFICULTY_CUES family.
DIFFICULTY_NAMES = ["long_word_ratio"] + [f"cue_{name}" for name in DIFFICULTY_CUES]

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


def trigram_hash(a: int, b: int, c: int) -> int:
    return fnv1a(bytes([TRIGRAM_SEED, a, b, c]))


def bucket(h: int, bits: int) -> int:
    return ((h * 2654435761) & MASK) >> (32 - bits)


SYMBOL_HASHES = {c: fnv1a(bytes([0xFF, c])) for c in SYMBOLS}
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_WORD = re.compile(rb"[a-z0-9\x80-\xff]+")
_FENCE = re.compile(rb"`{3,}")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_DIGIT = re.compile(rb"[0-9]")


def word_hash(word: str) -> int:
    return fnv1a(word.lower().encode("utf-8").translate(_DIGITS_TO_ZERO))


def cue_hashes():
    """{hash of a cue word, or bigram hash of a two-word cue: task index}.

    A cue of three words ("how_can_i") is matched on its last bigram ("can i") only: the Swift
    side keeps one previous word, so that is all it can see."""
    table = {}
    for index, words in enumerate(list(CUES.values()) + list(DIFFICULTY_CUES.values())):
        for cue in words.split():
            parts = cue.split("_")
            if len(parts) == 1:
                h = word_hash(parts[0])
            else:
                h = bigram_hash(word_hash(parts[-2]), word_hash(parts[-1]))
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


class Extractor:
    """Features for one configuration (bucket bits, trigrams on or off), with a per-word cache."""

    def __init__(self, bits, char_ngrams, edge_words=False, edge_cues=False, edge_norm=False):
        self.bits = bits
        self.char_ngrams = char_ngrams
        self.edge_words = edge_words
        # Per task, log(1 + weighted count of its cue words in a message's edges) as ten more
        # dense features: the instruction's own cues, apart from the passage's.
        self.edge_cues = edge_cues
        # Edge words normalised by their own count, not the whole prompt's: a long passage does
        # not drown the instruction around it.
        self.edge_norm = edge_norm
        self.n_dense = len(DENSE_NAMES) + (len(CUES) if edge_cues else 0)
        self._words = {}
        self._symbol_buckets = {c: bucket(h, bits) for c, h in SYMBOL_HASHES.items()}

    def _word(self, raw):
        """(hash, unigram bucket, trigram buckets) of a lowercased word's bytes."""
        cached = self._words.get(raw)
        if cached is None:
            mapped = raw.translate(_DIGITS_TO_ZERO)
            h = fnv1a(mapped)
            trigrams = ()
            if self.char_ngrams:
                framed = bytes([TRIGRAM_FRAME]) + mapped + bytes([TRIGRAM_FRAME])
                trigrams = tuple(bucket(trigram_hash(framed[i], framed[i + 1], framed[i + 2]), self.bits)
                                 for i in range(len(mapped)))
            cached = (h, bucket(h, self.bits), trigrams, bucket(h ^ EDGE_SALT, self.bits))
            self._words[raw] = cached
        return cached

    def extract(self, messages):
        """Returns (sparse {bucket: value}, dense list) exactly as the Swift classifier sees them."""
        sparse, dense, _ = self.extract_all(messages)
        return sparse, dense

    def extract_all(self, messages):
        """extract(), and the difficulty score's own features (DIFFICULTY_NAMES)."""
        bits = self.bits
        weights, last_user = message_weights(messages)
        sparse = {}
        edge_sparse = {}
        total_weight = 0.0
        edge_weight = 0.0
        total_bytes = digit_bytes = non_ascii = newlines = code_symbols = fences = 0.0
        last_user_bytes = 0
        ends_with_question = 0.0
        has_system = 0.0
        cues = [0.0] * (len(CUES) + len(DIFFICULTY_CUES))
        edge_cues = [0.0] * (len(CUES) + len(DIFFICULTY_CUES))
        words = long_words = 0.0

        for i, m in enumerate(messages):
            w = weights[i]
            data = m["content"].encode("utf-8")
            if m["role"] == "system":
                has_system = 1.0
            parts = [data] if len(data) <= 2 * EDGE_BYTES else [data[:EDGE_BYTES], data[-EDGE_BYTES:]]
            if i == last_user:
                last_user_bytes = sum(len(p) for p in parts)
                stripped = parts[-1].rstrip(b" \t\r\n")
                ends_with_question = 1.0 if stripped.endswith(b"?") else 0.0
            for part in parts:
                lowered = part.lower()
                total_bytes += w * len(part)
                fences += w * len(_FENCE.findall(part))
                newlines += w * part.count(b"\n")
                digit_bytes += w * len(_DIGIT.findall(part))
                non_ascii += w * len(_NON_ASCII.findall(part))
                count = 0
                for c in CODE_SYMBOLS:
                    count += part.count(bytes([c]))
                code_symbols += w * count
                for c, b in self._symbol_buckets.items():
                    n = part.count(bytes([c]))
                    if n:
                        sparse[b] = sparse.get(b, 0.0) + w * n
                        total_weight += w * n
                previous = None
                edge_end = len(part) - EDGE_WORD_BYTES
                for match in _WORD.finditer(lowered):
                    h, unigram, trigrams, edge = self._word(match.group())
                    sparse[unigram] = sparse.get(unigram, 0.0) + w
                    total_weight += w
                    words += w
                    if match.end() - match.start() >= LONG_WORD_BYTES:
                        long_words += w
                    at_edge = match.start() < EDGE_WORD_BYTES or match.end() > edge_end
                    if self.edge_words and at_edge:
                        if self.edge_norm:
                            edge_sparse[edge] = edge_sparse.get(edge, 0.0) + w
                            edge_weight += w
                        else:
                            sparse[edge] = sparse.get(edge, 0.0) + w
                            total_weight += w
                    lane = CUE_HASHES.get(h)
                    if lane is not None:
                        cues[lane] += w
                        if at_edge:
                            edge_cues[lane] += w
                    for t in trigrams:
                        sparse[t] = sparse.get(t, 0.0) + w
                    total_weight += w * len(trigrams)
                    if previous is not None:
                        pair = bigram_hash(previous, h)
                        pb = bucket(pair, bits)
                        sparse[pb] = sparse.get(pb, 0.0) + w
                        total_weight += w
                        lane = CUE_HASHES.get(pair)
                        if lane is not None:
                            cues[lane] += w
                            if at_edge:
                                edge_cues[lane] += w
                    previous = h

        scale = 1.0 / math.sqrt(max(total_weight, 1.0))
        sparse = {k: v * scale for k, v in sparse.items()}
        if edge_sparse:
            edge_scale = 1.0 / math.sqrt(max(edge_weight, 1.0))
            for k, v in edge_sparse.items():
                sparse[k] = sparse.get(k, 0.0) + v * edge_scale
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
        ] + [math.log1p(c) for c in cues[:len(CUES)]]
        if self.edge_cues:
            dense += [math.log1p(c) for c in edge_cues[:len(CUES)]]
        difficulty = [long_words / max(words, 1.0) * 5.0] + [math.log1p(c) for c in cues[len(CUES):]]
        return sparse, dense, difficulty
