"""Rasa tokenizer for Japanese built on SudachiPy (https://github.com/WorksApplications/sudachi.rs).

Use it in ``config.yml`` as::

    language: ja
    pipeline:
      - name: bot.components.sudachi_tokenizer.SudachiTokenizer
        split_mode: C            # A (short units) | B (middle) | C (long, default)
        dictionary: core         # small | core | full | absolute path to a system .dic
        user_dictionary: null    # path (or list of paths) to a user dictionary
        lemma: normalized        # normalized | dictionary | surface

Every token carries:

* ``text`` / ``start`` / ``end``: the substring of the ORIGINAL message text and
  its character (Unicode code point) offsets, so ``text[start:end] == token.text``.
* ``lemma``: Sudachi's normalized form by default (申込み, 申込 -> 申し込み;
  ｶﾀｶﾅ, カタカナ -> 片仮名; ＰＣ, ｐｃ -> PC), which is what
  ``CountVectorsFeaturizer`` (``use_lemma: true``) counts.
* ``data["pos"]``: the first level of Sudachi's part of speech (e.g. ``"名詞"``) and
  ``data["pos_detail"]``: all six levels joined by ``","``
  (e.g. ``"名詞,普通名詞,一般,*,*,*"``).

Morphemes made only of whitespace, control or format characters (spaces,
tabs, newlines, U+3000, zero-width spaces, NUL, ...) produce no token.

User dictionaries: ``user_dictionary`` takes a compiled Sudachi user
dictionary (``*.dic``, built with ``sudachipy ubuild``) or a user dictionary
source (``*.csv``, Sudachi's 18-column lexicon format: surface, left id, right
id, cost, surface, six POS fields, reading, normalized form, ...; the left/right
connection ids must be real ids such as 4786 for 名詞,固有名詞,一般 -- ``-1``
makes an entry unsearchable). A CSV is compiled once against the configured
system dictionary into ``$TMPDIR/rasa_sudachi_user_dic/<sha256>.dic`` and
reused while the CSV is unchanged. Relative paths are resolved against the
working directory; because this component is not trainable, the dictionary is
NOT copied into the Rasa model and must exist wherever the model runs.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import tempfile
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.training_data.message import Message

logger = logging.getLogger(__name__)

# Sudachi rejects input over 49,149 UTF-8 bytes, and separately rejects input
# whose *input-normalized* form (NFKC etc.; "㍻" -> "平成") exceeds 65,535 bytes.
# Chunks are kept well below both; a chunk Sudachi still rejects is halved.
MAX_CHUNK_BYTES = 16_384
SPLIT_MODES = ("A", "B", "C")
LEMMA_SOURCES = ("normalized", "dictionary", "surface")
PACKAGED_DICTIONARIES = ("small", "core", "full")
USER_DIC_CACHE_DIR_NAME = "rasa_sudachi_user_dic"

# Characters after which a chunk may end, best first.
_SENTENCE_ENDS = frozenset("\n。！？!?．｡")
_SOFT_BREAKS = frozenset(" \t\u3000、，,､")
# Unicode categories of characters that never make a token on their own:
# control (Cc), format (Cf: ZWSP, ZWJ, BOM, bidi marks), surrogate (Cs),
# line/paragraph/space separators (Zl, Zp, Zs).
_IGNORABLE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp", "Zs"))


def utf8_length(char: str) -> int:
    """Number of UTF-8 bytes (1-4) that one code point ``char`` encodes to.

    Lone surrogates count as 3 bytes (what ``surrogatepass`` would produce).
    """
    code = ord(char)
    if code < 0x80:
        return 1
    if code < 0x800:
        return 2
    if code < 0x10000:
        return 3
    return 4


def replace_surrogates(text: str) -> str:
    """Returns ``text`` with every lone surrogate (U+D800-U+DFFF) replaced by a space.

    Lone surrogates (e.g. from a JSON ``"\\ud800"`` escape) cannot be encoded
    as UTF-8 and make Sudachi raise. The result has the same length as
    ``text``, so character offsets are unchanged.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(" " if "\ud800" <= c <= "\udfff" else c for c in text)


def is_ignorable(text: str) -> bool:
    """True if ``text`` consists only of whitespace, control or format characters."""
    return all(
        c.isspace() or unicodedata.category(c) in _IGNORABLE_CATEGORIES for c in text
    )


def _is_hiragana(char: str) -> bool:
    """True for characters of the hiragana block (U+3041-U+309F)."""
    return "\u3041" <= char <= "\u309f"


def _cut_position(text: str, start: int, hard_end: int) -> int:
    """Where to end a chunk that starts at ``start`` and may not pass ``hard_end``.

    Prefers the position right after a sentence end or newline, then after a
    space or comma, then after a hiragana run followed by a non-hiragana
    character (typically a particle before the next word), searched in the
    second half of the window; otherwise cuts at ``hard_end`` but not in front
    of a combining mark, ZWJ or variation selector. Always returns a value in
    ``(start, hard_end]``.
    """
    lower = start + (hard_end - start) // 2
    for breaks in (_SENTENCE_ENDS, _SOFT_BREAKS):
        for i in range(hard_end - 1, lower - 1, -1):
            if text[i] in breaks:
                return i + 1
    for i in range(hard_end - 1, max(lower, start + 1) - 1, -1):
        if _is_hiragana(text[i - 1]) and not _is_hiragana(text[i]):
            return i
    cut = hard_end
    while (
        cut > start + 1
        and cut < len(text)
        and hard_end - cut < 32
        and (
            unicodedata.category(text[cut]) in ("Mn", "Me", "Cf")  # combining, ZWJ, VS
            or text[cut - 1] == "\u200d"  # inside a ZWJ emoji sequence
        )
    ):
        cut -= 1
    return cut


def split_into_chunks(text: str, max_bytes: int = MAX_CHUNK_BYTES) -> list[tuple[int, str]]:
    """Splits ``text`` into consecutive chunks of at most ``max_bytes`` UTF-8 bytes.

    Args:
        text: any string (may be empty).
        max_bytes: upper bound on the UTF-8 size of each chunk, in bytes; a single
            character larger than that still forms a chunk of its own.

    Returns:
        ``[(offset, chunk), ...]`` where ``offset`` is the character offset of
        ``chunk`` in ``text``; the chunks concatenate back to ``text`` exactly.
        Empty text gives ``[]``.
    """
    if not text:
        return []
    if len(text) * 4 <= max_bytes or len(text.encode("utf-8", "surrogatepass")) <= max_bytes:
        return [(0, text)]

    chunks: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        size = 0
        end = start
        while end < len(text):
            size += utf8_length(text[end])
            if size > max_bytes:
                break
            end += 1
        if end == start:  # one character larger than max_bytes
            end = start + 1
        elif end < len(text):
            end = _cut_position(text, start, end)
        chunks.append((start, text[start:end]))
        start = end
    return chunks


def _resolve_packaged_system_dic(name: str) -> Path:
    """Path of ``system.dic`` inside the installed ``sudachidict_<name>`` package."""
    module = importlib.import_module(f"sudachidict_{name}")
    return Path(module.__file__).parent / "resources" / "system.dic"


def compile_user_dictionary(
    csv_path: Path, system_dic: Path, cache_dir: Path | None = None
) -> Path:
    """Compiles a Sudachi user dictionary source CSV, caching the result.

    Equivalent of ``sudachipy ubuild -s <system_dic> -o <out> <csv_path>``.

    Args:
        csv_path: user dictionary source in Sudachi's CSV lexicon format.
        system_dic: the compiled system dictionary the user dictionary refers to.
        cache_dir: where compiled dictionaries are kept; defaults to
            ``$TMPDIR/rasa_sudachi_user_dic``.

    Returns:
        Path of the compiled ``.dic`` (named by a SHA-256 of the CSV bytes and the
        system dictionary path, so it is rebuilt only when either changes).

    Raises:
        InvalidConfigException: if Sudachi cannot compile the CSV.
    """
    import sudachipy
    from sudachipy import sudachipy as sudachi_native

    cache_dir = cache_dir or Path(tempfile.gettempdir()) / USER_DIC_CACHE_DIR_NAME
    digest = hashlib.sha256()
    digest.update(csv_path.read_bytes())
    digest.update(str(system_dic.resolve()).encode("utf-8"))
    digest.update(getattr(sudachipy, "__version__", "").encode("utf-8"))
    output = cache_dir / f"{digest.hexdigest()[:32]}.dic"
    if output.exists():
        return output

    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f".{output.stem}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        sudachi_native.build_user_dic(
            system=system_dic, lex=[csv_path], output=partial, description=csv_path.name[:200]
        )
        os.replace(partial, output)
    except BaseException as e:  # Sudachi's Rust panics derive from BaseException
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise InvalidConfigException(
            f"SudachiTokenizer could not compile the user dictionary '{csv_path}': {e}. "
            f"Check the CSV format (18 columns; left/right ids must be valid, not -1)."
        ) from e
    finally:
        if partial.exists():
            partial.unlink()
    logger.info(f"Compiled Sudachi user dictionary '{csv_path}' to '{output}'.")
    return output


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class SudachiTokenizer(Tokenizer):
    """Japanese tokenizer wrapping SudachiPy; lemmas are Sudachi normalized forms."""

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Supported languages (see parent class for full docstring)."""
        return ["ja"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config (see parent class for docstring)."""
        return {
            # Flag to check whether to split intents
            "intent_tokenization_flag": False,
            # Symbol on which intent should be split
            "intent_split_symbol": "_",
            # Regular expression to detect tokens
            "token_pattern": None,
            # Symbol on which prefix should be split
            "prefix_separator_symbol": None,
            # Sudachi split mode: "A" (short units), "B" (middle), "C" (long units)
            "split_mode": "C",
            # "small" | "core" | "full" (sudachidict_* package) or absolute .dic path
            "dictionary": "core",
            # None, or path / list of paths to user dictionaries (.dic or .csv)
            "user_dictionary": None,
            # token lemma: "normalized" (normalized_form), "dictionary"
            # (dictionary_form) or "surface" (the text itself)
            "lemma": "normalized",
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Any extra python dependencies required for this component to run."""
        return ["sudachipy", "sudachidict_core"]

    def __init__(self, config: dict[str, Any]) -> None:
        """Validates ``config``; Sudachi itself is loaded lazily on first use.

        Raises:
            InvalidConfigException: for an unknown split mode, lemma source, or a
                user dictionary that does not exist.
        """
        super().__init__(config)
        self.split_mode = str(config.get("split_mode") or "C").upper()
        if self.split_mode not in SPLIT_MODES:
            raise InvalidConfigException(
                f"SudachiTokenizer: split_mode must be one of {SPLIT_MODES}, "
                f"got {config.get('split_mode')!r}."
            )
        self.lemma_source = str(config.get("lemma") or "normalized").lower()
        if self.lemma_source not in LEMMA_SOURCES:
            raise InvalidConfigException(
                f"SudachiTokenizer: lemma must be one of {LEMMA_SOURCES}, "
                f"got {config.get('lemma')!r}."
            )
        self.dictionary_name = str(config.get("dictionary") or "core")
        if self.dictionary_name in PACKAGED_DICTIONARIES:
            if importlib.util.find_spec(f"sudachidict_{self.dictionary_name}") is None:
                raise InvalidConfigException(
                    f"SudachiTokenizer: dictionary '{self.dictionary_name}' needs the "
                    f"package sudachidict_{self.dictionary_name} (pip install "
                    f"sudachidict_{self.dictionary_name})."
                )
        elif not Path(self.dictionary_name).expanduser().is_file():
            raise InvalidConfigException(
                f"SudachiTokenizer: dictionary must be one of {PACKAGED_DICTIONARIES} "
                f"or the path of a compiled system .dic, got {self.dictionary_name!r}."
            )
        self.user_dictionaries = self._user_dictionary_paths(config.get("user_dictionary"))

        self._dictionary: Any = None  # sudachipy.Dictionary, created lazily
        self._dictionary_lock = threading.Lock()
        # Sudachi tokenizers refuse concurrent use, so there is one per thread.
        self._local = threading.local()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SudachiTokenizer:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    @staticmethod
    def _user_dictionary_paths(value: Any) -> list[Path]:
        """Normalizes the ``user_dictionary`` option to a list of existing paths."""
        if value is None or value == "" or value == []:
            return []
        values: Sequence[Any] = value if isinstance(value, (list, tuple)) else [value]
        paths = []
        for item in values:
            path = Path(str(item)).expanduser().resolve()
            if not path.is_file():
                raise InvalidConfigException(
                    f"SudachiTokenizer: user_dictionary '{item}' does not exist "
                    f"(relative paths are resolved against '{os.getcwd()}')."
                )
            if path.suffix.lower() not in (".csv", ".dic"):
                raise InvalidConfigException(
                    f"SudachiTokenizer: user_dictionary '{item}' must be a .csv "
                    f"source or a compiled .dic file."
                )
            paths.append(path)
        return paths

    def __getstate__(self) -> dict[str, Any]:
        """Pickles the configuration only; Sudachi objects are rebuilt lazily."""
        state = self.__dict__.copy()
        for key in ("_dictionary", "_dictionary_lock", "_local"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restores a pickled component (see ``__getstate__``)."""
        self.__dict__.update(state)
        self._dictionary = None
        self._dictionary_lock = threading.Lock()
        self._local = threading.local()

    def _system_dic_path(self) -> Path:
        """Path of the compiled system dictionary selected by ``dictionary``."""
        if self.dictionary_name in PACKAGED_DICTIONARIES:
            return _resolve_packaged_system_dic(self.dictionary_name)
        return Path(self.dictionary_name).expanduser().resolve()

    def _load_dictionary(self) -> Any:
        """Loads the Sudachi dictionary (system + user dictionaries) once.

        Raises:
            InvalidConfigException: if a dictionary cannot be compiled or loaded.
        """
        from sudachipy import Config, Dictionary

        dictionary = (
            self.dictionary_name
            if self.dictionary_name in PACKAGED_DICTIONARIES
            else str(self._system_dic_path())
        )
        user_dics: list[str] = []
        try:
            user_dics = [
                str(
                    compile_user_dictionary(path, self._system_dic_path())
                    if path.suffix.lower() == ".csv"
                    else path
                )
                for path in self.user_dictionaries
            ]
            if user_dics:
                return Dictionary(config=Config(user=user_dics), dict=dictionary)
            return Dictionary(dict=dictionary)
        except BaseException as e:  # Sudachi's Rust panics derive from BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit, InvalidConfigException)):
                raise
            raise InvalidConfigException(
                f"SudachiTokenizer could not load dictionary {dictionary!r} with user "
                f"dictionaries {user_dics}: {e}"
            ) from e

    def _sudachi(self) -> Any:
        """This thread's ``sudachipy.Tokenizer``, created on first use."""
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            with self._dictionary_lock:
                if self._dictionary is None:
                    self._dictionary = self._load_dictionary()
            tokenizer = self._dictionary.tokenizer(self.split_mode)
            self._local.tokenizer = tokenizer
        return tokenizer

    def _lemma(self, morpheme: Any, surface: str) -> str:
        """The configured lemma of a Sudachi morpheme (falls back to ``surface``)."""
        if self.lemma_source == "normalized":
            lemma = morpheme.normalized_form()
        elif self.lemma_source == "dictionary":
            lemma = morpheme.dictionary_form()
        else:
            lemma = surface
        return lemma if lemma and not lemma.isspace() else surface

    def _tokenize_chunk(self, sudachi: Any, text: str, chunk: str, offset: int) -> list[Token]:
        """Tokens of ``chunk``, which starts at character ``offset`` of ``text``.

        ``sudachi`` is this thread's ``sudachipy.Tokenizer``. ``chunk`` must be
        free of lone surrogates. If Sudachi fails on it (e.g. its normalized form
        is too long), it is halved and retried; a single character Sudachi cannot
        analyse becomes a token by itself.
        """
        try:
            morphemes = sudachi.tokenize(chunk)
        except BaseException as e:  # Sudachi's Rust panics derive from BaseException
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            if len(chunk) == 1:
                logger.debug(f"Sudachi failed on {chunk!r}: {e}")
                return [] if is_ignorable(chunk) else [Token(text[offset : offset + 1], offset)]
            mid = _cut_position(chunk, 0, len(chunk) // 2)  # 0 < mid < len(chunk)
            return self._tokenize_chunk(sudachi, text, chunk[:mid], offset) + (
                self._tokenize_chunk(sudachi, text, chunk[mid:], offset + mid)
            )

        tokens = []
        for morpheme in morphemes:
            begin, end = morpheme.begin(), morpheme.end()
            if not 0 <= begin < end <= len(chunk):
                continue
            start, stop = offset + begin, offset + end
            surface = text[start:stop]
            if is_ignorable(surface):
                continue
            pos = morpheme.part_of_speech()
            tokens.append(
                Token(
                    surface,
                    start,
                    end=stop,
                    data={"pos": pos[0], "pos_detail": ",".join(pos)},
                    lemma=self._lemma(morpheme, surface),
                )
            )
        return tokens

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Tokenizes the text of the provided attribute of the incoming message.

        Args:
            message: the message; ``message.get(attribute)`` may be any string
                (or ``None``, which gives no tokens).
            attribute: the message attribute to tokenize, e.g. ``"text"``.

        Returns:
            Tokens in text order with character offsets into the original text.

        Raises:
            InvalidConfigException: only if the configured dictionaries cannot be
                loaded (on first use); never because of the message text.
        """
        text = message.get(attribute)
        if not isinstance(text, str) or not text or text.isspace():
            return []
        sudachi = self._sudachi()
        sanitized = replace_surrogates(text)
        tokens = [
            token
            for offset, chunk in split_into_chunks(sanitized)
            for token in self._tokenize_chunk(sudachi, text, chunk, offset)
        ]
        return self._apply_token_pattern(tokens)
