"""Vegetable names in English, French or Spanish, with typos, mapped to one canonical English name."""

import hashlib
import json
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from .records import ErrorCode

MIN_SIMILARITY = 0.75
"""Normalised OSA similarity: one edit in a 4-letter name, two in 8, three in 12 (a swap counts once)."""

_PLURAL_SUFFIXES = ("s", "es", "x")


class VocabularyError(ValueError):
    """The vocabulary file cannot be used as it is."""


@dataclass(frozen=True)
class UnknownVegetable:
    """A name that matches no vegetable, or two equally well."""

    raw: str
    suggestions: tuple[tuple[str, float], ...] = field(default=())
    ambiguous: bool = False

    @property
    def code(self) -> ErrorCode:
        return "ambiguous_vegetable" if self.ambiguous else "unknown_vegetable"

    @property
    def message(self) -> str:
        closest = ", ".join(f"{name} ({score:.0%})" for name, score in self.suggestions)
        if self.ambiguous:
            return f"{self.raw!r} matches several vegetables equally well: {closest}"
        hint = f"; closest: {closest}" if closest else ""
        return f"unknown vegetable {self.raw!r}{hint}"


def match_key(name: str) -> str:
    """The form names are compared in: no case, no accents, no spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char.isalnum())


class Vocabulary:
    """Canonical names and every spelling that maps to each; resolves raw names, cached."""

    def __init__(self, aliases: dict[str, list[str]]):
        self.canonical_names = frozenset(aliases)
        canonical_form = json.dumps({name: sorted(names) for name, names in sorted(aliases.items())})
        self.fingerprint = hashlib.sha256(canonical_form.encode()).hexdigest()[:16]
        """Changes whenever the vocabulary does (not with the order or layout of its file)."""
        self._exact = _spellings(aliases)
        self._keys = list(self._exact)
        self._longest = max(map(len, self._keys), default=0)
        # Raw names repeat endlessly in the source: resolve each distinct one only once.
        self.resolve = lru_cache(maxsize=65_536)(self._resolve)
        self.similarity = lru_cache(maxsize=65_536)(self._similarity)

    @classmethod
    def load(cls, path: Path | None = None) -> "Vocabulary":
        """The vocabulary in a TOML file (canonical name = [other names]); default: the bundled one."""
        source = path or resources.files("vegsales") / "vegetables.toml"
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise VocabularyError(f"cannot read vocabulary {source}: {error}") from None
        for canonical, names in data.items():
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise VocabularyError(f"{source}: {canonical!r} must be a list of names")
        return cls(data)

    def _resolve(self, raw: str) -> str | UnknownVegetable:
        key = match_key(raw)
        if not key:
            return UnknownVegetable(raw)
        if key in self._exact:
            return self._exact[key]
        closest = self._closest(raw, key)
        return closest if isinstance(closest, UnknownVegetable) else closest[0]

    def _similarity(self, raw: str) -> tuple[str, float] | None:
        """(vegetable, similarity) when `raw` is read as a vegetable by its likeness to a listed name
        (a typo, or a name the vocabulary lacks: `Kail` as garlic), None when it is listed (in any
        case, with or without accents, singular or plural) or unknown."""
        key = match_key(raw)
        if not key or key in self._exact:
            return None
        closest = self._closest(raw, key)
        return None if isinstance(closest, UnknownVegetable) else closest

    def _closest(self, raw: str, key: str) -> tuple[str, float] | UnknownVegetable:
        if len(key) > self._longest + 8:  # far longer than any name: no typo of one
            return UnknownVegetable(raw)
        best_by_vegetable: dict[str, float] = {}
        candidates = process.extract(key, self._keys, scorer=OSA.normalized_similarity, limit=20, score_cutoff=0.4)
        for spelling, score, _ in candidates:
            vegetable = self._exact[spelling]
            best_by_vegetable[vegetable] = max(score, best_by_vegetable.get(vegetable, 0.0))
        ranked = sorted(best_by_vegetable.items(), key=lambda item: -item[1])[:3]
        if not ranked or ranked[0][1] < MIN_SIMILARITY:
            return UnknownVegetable(raw, tuple(ranked))
        if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
            return UnknownVegetable(raw, tuple(ranked[:2]), ambiguous=True)
        return ranked[0]


def _spellings(aliases: dict[str, list[str]]) -> dict[str, str]:
    """Match key -> canonical name, for every listed name and its regular plurals."""
    listed: dict[str, str] = {}
    for canonical, names in aliases.items():
        for name in [canonical, *names]:
            key = match_key(name)
            if listed.get(key, canonical) != canonical:
                raise VocabularyError(f"{name!r} is listed under both {listed[key]!r} and {canonical!r}")
            listed[key] = canonical
    generated: dict[str, set[str]] = {}
    for canonical, names in aliases.items():
        for name in [canonical, *names]:
            for plural in _plurals(name):
                generated.setdefault(match_key(plural), set()).add(canonical)
    # A generated plural that two vegetables could claim is dropped; listed names always win.
    unique = {key: owners.pop() for key, owners in generated.items() if len(owners) == 1}
    return unique | listed


def _plurals(name: str) -> set[str]:
    words = unicodedata.normalize("NFKD", name.casefold()).replace("-", " ").split()
    forms = set()
    for suffix in _PLURAL_SUFFIXES:
        forms.add(" ".join([*words[:-1], words[-1] + suffix]))
        forms.add(" ".join([words[0] + suffix, *words[1:]]))
        forms.add(" ".join(word + suffix for word in words))
    return forms
