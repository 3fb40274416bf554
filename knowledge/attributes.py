"""The table of what a question can ask for (``knowledge/attributes.yml``).

``attributes()`` -> the :class:`Attributes` table, loaded once: per fact
attribute its Japanese ``label``, its cue words and the attributes that
satisfy a cue; per NLU intent its primary and secondary attributes; per fact
status its label, note and markers.  Raises ``ValueError`` naming the entry
when the file breaks its schema (see the file's header).
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .entities import fold

PATH = Path(__file__).with_name("attributes.yml")


@dataclass(frozen=True)
class Status:
    """A fact status: ``label`` (staff page), ``note`` said after a fact of
    this status ("" for plain facts), ``markers`` (words in a fact's text that
    already say it)."""

    label: str
    note: str
    markers: tuple[str, ...]


# an interrogative followed by one of these is indefinite (どこか, 何か, 誰も, いつも): it asks nothing
INDEFINITE_PARTICLES = ("か", "も")
# after a when-word, these make it indefinite (いつも, 何日か, いつでも) or a duration (何年間)
_NOT_WHEN_AFTER = (*INDEFINITE_PARTICLES, "でも", "間")
ORDINAL_SUFFIX = "目"  # 何回目, 何人目: which one, not how many
_KANA = re.compile(r"[\u3041-\u309f\u30fc]+")
WHOLE_TOKEN_KANA = 2  # kana words this short match only whole tokens (いま is not in います)


def occurrences(word: str, folded: str, boundaries: Collection[int] | None = None) -> Iterator[int]:
    """Start offsets of ``word`` in ``folded`` (both folded, see
    ``entities.fold``).  A word written in kana alone also occurs inside
    other words (ただ in いただけます, さいと in くださいと, いま in います):
    with ``boundaries`` (the token boundaries of ``folded``, see
    ``understand.token_boundaries``) it counts only where a token starts,
    and a word of ``WHOLE_TOKEN_KANA`` characters or fewer only where one
    also ends (はずれた still counts in はずれたら).  Without
    ``boundaries`` every occurrence counts."""
    check = boundaries is not None and _KANA.fullmatch(word) is not None
    at = folded.find(word)
    while at >= 0:
        end = at + len(word)
        if not check or (at in boundaries and (len(word) > WHOLE_TOKEN_KANA or end in boundaries)):
            yield at
        at = folded.find(word, at + 1)


def _ordinal(word: str, folded: str, end: int) -> bool:
    """Whether quantity word ``word`` (何回, 何人), ending at ``end`` in
    ``folded``, is followed by the ordinal suffix 目: 「何回目」 asks which
    one, not how many."""
    return word.startswith(("何", "なん")) and folded.startswith(ORDINAL_SUFFIX, end)


def holds(word: str, folded: str, boundaries: Collection[int] | None = None) -> bool:
    """Whether ``word`` occurs in ``folded`` (see ``occurrences``)."""
    return next(occurrences(word, folded, boundaries), None) is not None


@dataclass(frozen=True)
class Attributes:
    """``labels``: attribute -> Japanese label; ``cues``: (folded cue word,
    attribute) pairs, longest word first; ``satisfied_by``: attribute ->
    the attributes whose facts answer it (itself first); ``intents``: intent
    -> ``(primary, secondary)`` attribute tuples; ``statuses``: status name
    -> :class:`Status`; ``asking_words``: folded terms that say what is asked
    rather than what it is about; ``question_words``: kind (future, present,
    compare) -> folded words; ``hints``: folded asking word -> the intent it
    hints at; ``quantities``: folded quantity word (何人) -> the folded units
    a number answering it carries (empty: any number)."""

    labels: dict[str, str]
    cues: tuple[tuple[str, str], ...]
    satisfied_by: dict[str, tuple[str, ...]]
    intents: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    statuses: dict[str, Status]
    asking_words: frozenset[str]
    question_words: dict[str, tuple[str, ...]]
    hints: dict[str, str]
    quantities: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def hinted_intents(self, folded_terms: set[str]) -> set[str]:
        """Intents that the asking words among ``folded_terms`` hint at."""
        return {self.hints[t] for t in folded_terms if t in self.hints}

    def has(self, kind: str, folded_question: str, boundaries: Collection[int] | None = None) -> bool:
        """Whether ``folded_question`` holds one of the ``question_words`` of
        ``kind`` (``boundaries``: see ``occurrences``)."""
        return any(holds(word, folded_question, boundaries) for word in self.question_words.get(kind, ()))

    def asks_when(self, folded_question: str, boundaries: Collection[int] | None = None) -> bool:
        """Whether ``folded_question`` asks when: it holds a ``when`` question
        word (いつ, 何月, 何時 …) that is neither indefinite (いつも, 何日も,
        いつでも) nor a duration (何年間, 何時間) (``boundaries``: see ``occurrences``)."""
        return any(not folded_question.startswith(_NOT_WHEN_AFTER, at + len(word))
                   for word in self.question_words.get("when", ())
                   for at in occurrences(word, folded_question, boundaries))

    def units(self, folded_question: str, boundaries: Collection[int] | None = None) -> tuple[str, ...] | None:
        """The units a number answering ``folded_question`` carries (folded,
        see ``entities.fold``): None when it asks for no quantity, ``()`` when
        any number answers (いくつ), else the units of every quantity word it
        holds (何人 -> 人, 名) (``boundaries``: see ``occurrences``)."""
        found = [units for word, units in self.quantities.items()
                 if any(not _ordinal(word, folded_question, at + len(word))
                        for at in occurrences(word, folded_question, boundaries))]
        if not found:
            return None
        return tuple(dict.fromkeys(u for units in found for u in units)) if all(found) else ()

    def kind(self, attribute: str) -> str:
        """The kind of question a fact of ``attribute`` answers: the first
        intent (in the table's order) that lists it as primary, else
        ``"other"`` (handled_by -> ask_counter, history -> ask_history)."""
        for intent, (primary, _) in self.intents.items():
            if attribute in primary:
                return intent
        return "other"

    def kinds(self) -> tuple[str, ...]:
        """Every value ``kind`` can return: the intents, then ``"other"``."""
        return (*self.intents, "other")

    def label(self, attribute: str) -> str:
        """The Japanese label of ``attribute`` (the attribute itself when it has none)."""
        return self.labels.get(attribute, attribute)

    def cue_matches(self, folded_question: str, names: list[tuple[int, int]] = (),
                    boundaries: Collection[int] | None = None) -> list[tuple[int, int, str]]:
        """``(start, end, attribute)`` of every cue word in ``folded_question``
        (see ``entities.fold``), leaving out those inside the character spans
        ``names`` (住所 in 住所変更の届出 is part of a name, not a cue);
        ``boundaries``: see ``occurrences``."""
        out = []
        for word, attribute in self.cues:
            for at in occurrences(word, folded_question, boundaries):
                end = at + len(word)
                if not any(start <= at and end <= stop for start, stop in names) \
                        and not _ordinal(word, folded_question, end):
                    out.append((at, end, attribute))
        return sorted(out)

    def cue_attributes(self, folded_question: str, names: list[tuple[int, int]] = (),
                       boundaries: Collection[int] | None = None) -> tuple[str, ...]:
        """Attributes named by cue words in ``folded_question`` outside the
        spans ``names``, in order of first appearance, without repeats; a
        general one is left out when a more specific one it covers is named
        too (参加費はいくら: fee, not amount); ``boundaries``: see ``occurrences``."""
        found = list(dict.fromkeys(attribute for _, _, attribute in
                                   self.cue_matches(folded_question, names, boundaries)))
        return tuple(a for a in found if not any(o != a and o in self.satisfied_by[a] for o in found))


def load(path: Path | str = PATH) -> Attributes:
    """Read and check the attribute table at ``path``.

    Raises:
        ValueError: an attribute without a label, a ``satisfied_by`` or
            intent naming an unknown attribute, an empty cue, a status
            without a label, a quantity word without a list of units, or an
            asking word listed under two intents (it hints at one).
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    table = data["attributes"]
    labels, cues, satisfied = {}, [], {}
    for name, spec in table.items():
        if not isinstance(spec, dict) or not spec.get("label"):
            raise ValueError(f"{path}: attribute {name!r} needs a label")
        labels[name] = spec["label"]
        for word in spec.get("cues") or []:
            if not str(word).strip():
                raise ValueError(f"{path}: attribute {name!r} has an empty cue")
            cues.append((fold(str(word)), name))
        others = tuple(spec.get("satisfied_by") or ())
        unknown = [a for a in others if a not in table]
        if unknown:
            raise ValueError(f"{path}: {name}.satisfied_by names unknown attributes {unknown}")
        satisfied[name] = (name, *others)
    intents = {}
    for intent, spec in data["intents"].items():
        primary, secondary = tuple(spec.get("primary") or ()), tuple(spec.get("secondary") or ())
        unknown = [a for a in primary + secondary if a not in table]
        if unknown:
            raise ValueError(f"{path}: intent {intent!r} names unknown attributes {unknown}")
        intents[intent] = (primary, secondary)
    statuses = {}
    for name, spec in data["statuses"].items():
        if not spec.get("label"):
            raise ValueError(f"{path}: status {name!r} needs a label")
        statuses[name] = Status(spec["label"], spec.get("note") or "", tuple(spec.get("markers") or ()))
    cues.sort(key=lambda c: -len(c[0]))
    asking = frozenset(fold(str(w)) for words in (data.get("asking_words") or {}).values() for w in words)
    hints: dict[str, str] = {}
    for group, words in (data.get("asking_words") or {}).items():
        if group not in intents:  # `general` hints at no intent
            continue
        for word in map(fold, map(str, words)):
            if hints.setdefault(word, group) != group:
                raise ValueError(f"{path}: asking word {word!r} is listed under {hints[word]} and {group}")
    question_words = {kind: tuple(fold(str(w)) for w in words)
                      for kind, words in (data.get("question_words") or {}).items()}
    quantities = {}
    for word, units in (data.get("quantities") or {}).items():
        if not isinstance(units, list):
            raise ValueError(f"{path}: quantity word {word!r} needs a list of units")
        quantities[fold(str(word))] = tuple(fold(str(u)) for u in units)
    return Attributes(labels, tuple(cues), satisfied, intents, statuses, asking, question_words, hints, quantities)


@lru_cache(maxsize=1)
def attributes() -> Attributes:
    """The table of ``knowledge/attributes.yml``, loaded once."""
    return load(PATH)
