"""The morphological layer: SudachiPy (sudachidict-core) for readings and word boundaries.

What it does for the parser, before any pattern is matched:
- **Kana spellings of cue words**: a report typed or dictated in kana (ていでん, つうこうどめ,
  かんすい, みずかさ) is matched against the *readings* of the lexicon's cue words, which Sudachi
  gives for each kanji spelling (停電 → テイデン), and rewritten to the kanji spelling so the rest
  of the parser sees one form.
- **Homophone typos**: a word whose Sudachi reading equals a cue's reading but whose spelling
  differs (非難者 for 避難者, 推移 for 水位, 沈下 for 鎮火, 停伝 for 停電) is rewritten when it
  is a known slip (``lexicon.HOMOPHONE_SLIPS``), when it looks like a one-kanji typo of the
  cue (no word of its own, or most of the cue's kanji), or when the message has another cue
  of the same category.
- **Readings of place names** (gazetteer.py asks ``reading``).

Deterministic and offline: the dictionary ships inside the sudachidict-core wheel; nothing is
downloaded at run time. Sudachi's tokenizer objects are not shared between threads.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from sudachipy import Dictionary, SplitMode

from . import gazetteer, lexicon

_local = threading.local()


@lru_cache(maxsize=1)
def _dictionary() -> Dictionary:
    return Dictionary(dict="core")


def tokenizer():  # noqa: ANN201 - sudachipy.Tokenizer
    tok = getattr(_local, "tokenizer", None)
    if tok is None:
        tok = _dictionary().tokenizer(mode=SplitMode.C)
        _local.tokenizer = tok
    return tok


_HIRA_TO_KATA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}


def to_katakana(text: str) -> str:
    return text.translate(_HIRA_TO_KATA)


@lru_cache(maxsize=4096)
def reading(word: str) -> str:
    """The katakana reading of ``word`` (its kana as they are, kanji read by Sudachi)."""
    out = []
    for m in tokenizer().tokenize(word):
        surface = m.surface()
        if _KANA_ONLY_RE.fullmatch(surface):
            out.append(to_katakana(surface))
        else:
            out.append(m.reading_form())
    return "".join(out)


_KANA_ONLY_RE = re.compile("[\u3041-\u309f\u30a1-\u30fa\u30fc]+")
_KANJI_RE = re.compile("[\u3005\u3400-\u4dbf\u4e00-\u9fff]")
_KANA_RUN_RE = re.compile("[\u3041-\u309f\u30a1-\u30fa\u30fc]{3,}")
# Function-word phrases that would otherwise read as cues (でしょうか ⊃ しょうか 消火).
_FUNCTION_RE = re.compile(
    "でしょうか|でしょう|ください|ございます|いたします|しております|しています|ています"
    "|おります|ありません|ません|ました|でした|します|です|ます"
)
_PARTICLES = frozenset("はがをにでもとへのや")
_HONORIFIC_RE = re.compile("さん|さま|様|くん|君|ちゃん|氏|先生")
_MIN_READING = 3


@dataclass(frozen=True, slots=True)
class _Cue:
    surface: str
    category: str
    weight: float


def _best(cues: list[_Cue]) -> _Cue:
    return max(cues, key=lambda c: (c.weight, len(c.surface)))


@lru_cache(maxsize=1)
def cue_readings() -> dict[str, _Cue]:
    """Reading (katakana) → the cue word spelled in kanji it stands for."""
    by_reading: dict[str, list[_Cue]] = {}
    for word, pairs in lexicon.CUES.items():
        if not _KANJI_RE.search(word):
            continue
        category, weight = max(pairs, key=lambda p: p[1])
        if weight < 3:  # 不通 (ふつう), 電力: too weak to stand for a word typed in kana
            continue
        r = reading(word)
        if len(r) >= _MIN_READING:
            by_reading.setdefault(r, []).append(_Cue(word, category, weight))
    for word, category in lexicon.KANA_WORDS.items():
        r = reading(word)
        by_reading.setdefault(r, []).append(_Cue(word, category, 5.0))
    for r, word in lexicon.KANA_READINGS.items():
        by_reading.setdefault(r, []).append(_Cue(word, "", 5.0))
    for r, name in gazetteer.place_readings().items():
        by_reading.setdefault(r, [_Cue(name, "place", 0.0)])
    for river in lexicon.RIVERS:
        # おだがわ, たかはしがわ: a river typed in kana, …カワ read with and without rendaku
        r = reading(river)
        for variant in {r, r[:-2] + "ガワ" if r.endswith("カワ") else r}:
            if len(variant) >= 4:
                by_reading.setdefault(variant, [_Cue(river, "place", 0.0)])
    return {r: _best(cues) for r, cues in by_reading.items()}


@lru_cache(maxsize=1)
def _max_reading() -> int:
    return max(len(r) for r in cue_readings())


def _kana_spans(text: str) -> list[tuple[int, int, str]]:
    """Kana spellings of cue words: (start, end, kanji spelling)."""
    readings = cue_readings()
    longest = _max_reading()
    out: list[tuple[int, int, str]] = []
    for run in _KANA_RUN_RE.finditer(text):
        s = run.group()
        blocked = [False] * len(s)
        for f in _FUNCTION_RE.finditer(s):
            for i in range(f.start(), f.end()):
                blocked[i] = True
        kata = to_katakana(s)
        i = 0
        while i < len(s):
            # a cue starts where the run starts or after a particle (小田川のすいい)
            starts_word = i == 0 or s[i - 1] in _PARTICLES or blocked[i - 1]
            match = None
            if starts_word and not blocked[i]:
                for j in range(min(len(s), i + longest), i + _MIN_READING - 1, -1):
                    if any(blocked[i:j]):
                        continue
                    cue = readings.get(kata[i:j])
                    if cue is not None and cue.surface != s[i:j]:
                        match = (run.start() + i, run.start() + j, cue.surface)
                        break
            if match and _HONORIFIC_RE.match(text, match[1]):
                match = None  # かさいさん: a person's name, not 火災
            if match:
                out.append(match)
                i = match[1] - run.start()
            else:
                i += 1
    return out


@lru_cache(maxsize=1)
def _reading_prefixes() -> frozenset[str]:
    return frozenset(r[:k] for r in cue_readings() for k in range(1, len(r) + 1))


# A kanji word with the kana after it (受入かのう is 受入可能 misconverted): what is read.
_KANJI_WORD_RE = re.compile(
    "[\u3005\u3400-\u4dbf\u4e00-\u9fff][\u3005\u3400-\u4dbf\u4e00-\u9fff\u3041-\u309f]+"
)


def _homophone_spans(text: str) -> list[tuple[int, int, str]]:
    """Kanji words read like a cue but spelled otherwise (非難者 → 避難者).

    Only runs that start with a kanji are read (a homophone of a cue is a kanji word, maybe
    with kana after it), each run on its own: less text for the analyser than the whole
    message.
    """
    readings = cue_readings()
    prefixes = _reading_prefixes()
    tok = tokenizer()
    out: list[tuple[int, int, str]] = []
    for run in _KANJI_WORD_RE.finditer(text):
        base = run.start()
        morphemes = [
            (m.begin(), m.end(), m.surface(), m.reading_form()) for m in tok.tokenize(run.group())
        ]
        n = len(morphemes)
        i = 0
        while i < n:
            found = None
            reading_so_far = ""
            surface = ""
            for j in range(i, min(n, i + 3)):
                reading_so_far += morphemes[j][3]
                if reading_so_far not in prefixes:
                    break
                surface += morphemes[j][2]
                cue = readings.get(reading_so_far)
                if cue is None or surface == cue.surface or surface in lexicon.CUES:
                    continue
                if not _KANJI_RE.search(cue.surface):
                    continue
                if (
                    surface.startswith(lexicon.HOMOPHONE_SLIPS)
                    or (cue.weight >= 4 and _has_other_cue(text, cue))
                    or (cue.weight >= 4 and _looks_like_typo(morphemes[i : j + 1], cue.surface))
                ):
                    found = (base + morphemes[i][0], base + morphemes[j][1], cue.surface, j + 1)
            if found:
                out.append(found[:3])
                i = found[3]
            else:
                i += 1
    return out


def _looks_like_typo(morphemes: list[tuple[int, int, str, str]], cue: str) -> bool:
    """A wrong kanji in a cue, read the same (停伝, 満症, 通交止め, 批難者), not a real word.

    Either the analyser had to split it into single kanji that make no word (停|伝), or it
    keeps more than half of the cue's kanji (通交止め). 出荷 (a word, half of 出火) and 家事
    (half of 火事) stay as written.
    """
    surface = "".join(m[2] for m in morphemes)
    cue_kanji = [c for c in cue if _KANJI_RE.match(c)]
    shared = sum(1 for c in cue_kanji if c in surface)
    if not shared:
        return False
    kanji_morphemes = [m[2] for m in morphemes if _KANJI_RE.search(m[2])]
    split = len(kanji_morphemes) >= 2 and all(len(k) == 1 for k in kanji_morphemes)
    return split or shared * 2 > len(cue_kanji)


@lru_cache(maxsize=1)
def _strong_cues() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for word, pairs in lexicon.CUES.items():
        for category, weight in pairs:
            if weight >= 4:
                out.setdefault(category, []).append(word)
    return {category: tuple(words) for category, words in out.items()}


def _has_other_cue(text: str, cue: _Cue) -> bool:
    """Another strong cue of the same category: the homophone is then that cue's slip."""
    return any(word in text for word in _strong_cues().get(cue.category, ()))


def repair(text: str) -> str:
    """``text`` with kana spellings and homophone slips of cue words in their kanji form."""
    if not text:
        return text
    spans = _kana_spans(text) if _KANA_RUN_RE.search(text) else []
    spans += _homophone_spans(text)
    if not spans:
        return text
    spans.sort()
    out = []
    pos = 0
    for start, end, surface in spans:
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(surface)
        pos = end
    out.append(text[pos:])
    return "".join(out)
