r"""Java regular expressions (as Spark's RLIKE runs them) translated to RE2, for pyarrow, only where exact.

Spark computes a `format` check as `count_if(v IS NOT NULL AND NOT v RLIKE p)`, and RLIKE is
`java.util.regex.Pattern.compile(p).matcher(v).find(0)`: a search with default flags. `to_re2` translates the
pattern into RE2 syntax for `pyarrow.compute.match_substring_regex` (also a search) when, and only when,
both engines find a match in exactly the same strings; otherwise it returns None and the caller keeps Spark.
`count_mismatches` then counts over a pyarrow string column.

Supported subset (everything else is rejected):

- literal characters, escaped ASCII punctuation (`\.`, `\-`, `\@`, `\\`), `\t \n \r \f`, `\xhh`, `\uhhhh`;
- `\d \D \w \W \s \S`, `.`, character classes `[...]` and `[^...]` with single characters, ranges and those
  escapes;
- groups `( )` and `(?: )`, alternation `|` (empty alternatives included), greedy and lazy quantifiers
  `* + ? {n} {n,} {n,m}`, anchors `^` and `$`.

Java-vs-RE2 differences handled:

- Every literal, inside and outside classes, is emitted as `\x{HEX}`, so RE2's escaping rules never matter,
  and every class is emitted as explicit code-point ranges computed here. Java's `\s` (without
  UNICODE_CHARACTER_CLASS) includes \x0B, which RE2's `\s` does not; `\d` and `\w` are ASCII in both but are
  spelled out all the same. Java's `.` excludes the five line terminators \n \r \u0085 \u2028 \u2029, RE2's
  only \n. `\S \D \W` inside a class (`[\S@]`) become plain sets, so the class is exact whatever it mixes.
- Java's `^` without MULTILINE is the start of input, as RE2's `^` without (?m).
- Java's `$` without MULTILINE also matches before a final line terminator (\n, \r, \u0085, \u2028,
  \u2029, or a final \r\n). It becomes RE2 `\z` (end of text) and `Re2Pattern.dollar` is set:
  `count_mismatches` gives up (None) on a column where some value ends with a line terminator, which is the
  only case where the two differ.
- Java works on UTF-16: unless the pattern can match a supplementary character it tries start positions
  unit by unit (so on the low half of a surrogate pair too) and tests BMP-only classes against single units;
  RE2 works on code points. Java 9+ switches to code points itself whenever a class could match a surrogate,
  but rather than depend on that internal detail, a class must contain no surrogate code point at all, or
  all of them together with every supplementary code point (negated classes, `.`, `\S`): then a Java match
  starting on a low surrogate implies one starting on its pair, and unit-wise tests see no difference. So
  e.g. `[\u0100-\uffff]` and `[^😀]` are rejected. Surrogate literals and escapes are rejected too.
- Strings that are not valid UTF-8 are decoded with replacement characters by Spark and seen as bytes by
  RE2: `count_mismatches` returns None for such a column (a full UTF-8 validation, linear and cheap).

Rejected, because RE2 lacks them, their Java meaning differs or depends on flags, or Java's parsing of them
is irregular enough that a mistake here would go unnoticed: inline flags and special groups (`(?i)`, `(?=`,
`(?!`, `(?<`, `(?>`, named groups), backreferences, possessive quantifiers, quantified anchors, a quantifier
following a quantifier or lacking an operand, `{` that is not a well-formed quantifier (Java rejects it), counts
above 1000 (RE2's limit), `\b \B \A \z \Z \G \Q \E \p \P \h \H \v \V \R \X \N \e \a \c \0` and any
other letter or digit escape, `\x{...}`, escapes of non-ASCII or whitespace characters, class intersections and
any `&` or unescaped `[` in a class, `]` first in a class, `-` in a class other than first or last, ranges
reversed or ending in a class escape, literal NUL characters (`\x00` is fine), classes that match nothing,
unbalanced parentheses, nesting deeper than 50 groups, and whatever RE2 itself refuses (checked by compiling
once with pyarrow).

Not modelled: Java can fail where RE2 cannot (StackOverflowError on alternations inside loops over very long
strings, or catastrophic backtracking), so on such data Spark errors or hangs where this counts.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Re2Pattern", "count_mismatches", "to_re2"]

_Ranges = tuple[tuple[int, int], ...]

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES: _Ranges = ((0xD800, 0xDFFF),)
_SUPPLEMENTARY: _Ranges = ((0x10000, _MAX_CODE_POINT),)
_MAX_REPEAT = 1000  # RE2 refuses larger counts
_MAX_DEPTH = 50  # keeps the recursive descent far from Python's recursion limit

_DIGIT: _Ranges = ((0x30, 0x39),)
_WORD: _Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SPACE: _Ranges = ((0x09, 0x0D), (0x20, 0x20))  # \t \n \x0B \f \r and space
_LINE_TERMINATORS: _Ranges = ((0x0A, 0x0A), (0x0D, 0x0D), (0x85, 0x85), (0x2028, 0x2029))
_CONTROL_ESCAPES = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C}
_QUANTIFIER_START = "*+?{"


@dataclass(frozen=True)
class Re2Pattern:
    pattern: str
    """RE2 syntax, for `pyarrow.compute.match_substring_regex`."""
    dollar: bool
    """The Java pattern uses `$`; see `count_mismatches`."""


class _Unsupported(Exception):
    """The pattern is outside the subset that translates exactly."""


def _normalize(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _complement(ranges: _Ranges) -> _Ranges:
    out: list[tuple[int, int]] = []
    start = 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _MAX_CODE_POINT:
        out.append((start, _MAX_CODE_POINT))
    return tuple(out)


def _intersect(a: _Ranges, b: _Ranges) -> _Ranges:
    return _complement(_normalize(_complement(a) + _complement(b)))


_DOT = _complement(_LINE_TERMINATORS)
_CLASS_ESCAPES: dict[str, _Ranges] = {
    "d": _DIGIT,
    "D": _complement(_DIGIT),
    "w": _WORD,
    "W": _complement(_WORD),
    "s": _SPACE,
    "S": _complement(_SPACE),
}


def _check_surrogates(ranges: _Ranges) -> None:
    """Reject a class that Java could match against half of a surrogate pair (see the module docstring)."""
    if not _intersect(ranges, _SURROGATES):
        return
    if _intersect(ranges, _SURROGATES + _SUPPLEMENTARY) != _SURROGATES + _SUPPLEMENTARY:
        raise _Unsupported


def _literal(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _class_body(ranges: _Ranges) -> str:
    return "".join(_literal(lo) if lo == hi else f"{_literal(lo)}-{_literal(hi)}" for lo, hi in ranges)


def _emit_set(ranges: _Ranges) -> str:
    """An RE2 class matching exactly these code points (surrogates never occur in valid UTF-8)."""
    _check_surrogates(ranges)
    wanted = _intersect(ranges, _complement(_SURROGATES))
    if not wanted:
        raise _Unsupported  # Java accepts a class that matches nothing; not worth a special case
    unwanted = _intersect(_complement(ranges), _complement(_SURROGATES))
    if wanted[-1][1] == _MAX_CODE_POINT and unwanted:
        return f"[^{_class_body(unwanted)}]"  # shorter, and readable for the usual [^@\s]
    return f"[{_class_body(wanted)}]"


def _check_literal(char: str) -> int:
    code = ord(char)
    if code == 0 or 0xD800 <= code <= 0xDFFF:
        raise _Unsupported  # NUL ends Java's parse buffer in places; surrogates: see the module docstring
    return code


class _Parser:
    """Recursive descent over the Java pattern, emitting RE2 as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.depth = 0
        self.dollar = False

    def peek(self, ahead: int = 0) -> str | None:
        index = self.pos + ahead
        return self.source[index] if index < len(self.source) else None

    def take(self) -> str:
        char = self.peek()
        if char is None:
            raise _Unsupported
        self.pos += 1
        return char

    def parse(self) -> str:
        re2 = self.alternation()
        if self.pos != len(self.source):
            raise _Unsupported  # an unmatched `)`: Java refuses the pattern
        return re2

    def alternation(self) -> str:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.sequence())
        return "|".join(branches)

    def sequence(self) -> str:
        parts: list[str] = []
        while (char := self.peek()) is not None and char not in "|)":
            atom, quantifiable = self.atom()
            quantifier = self.quantifier()
            if quantifier and not quantifiable:
                raise _Unsupported
            parts.append(atom + quantifier)
        return "".join(parts)

    def atom(self) -> tuple[str, bool]:
        char = self.take()
        if char == "(":
            return self.group(), True
        if char == "[":
            return _emit_set(self.char_class()), True
        if char == ".":
            return _emit_set(_DOT), True
        if char == "^":
            return "^", False
        if char == "$":
            self.dollar = True
            return "\\z", False
        if char == "\\":
            value = self.escape()
            return (_emit_set(value) if isinstance(value, tuple) else _literal(value)), True
        if char in _QUANTIFIER_START:
            raise _Unsupported  # a quantifier without operand, or a `{` Java reads as an illegal repetition
        return _literal(_check_literal(char)), True

    def group(self) -> str:
        if self.peek() == "?":
            if self.peek(1) != ":":
                raise _Unsupported  # flags, lookaround, atomic and named groups
            self.pos += 2
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Unsupported
        inner = self.alternation()
        self.depth -= 1
        if self.take() != ")":
            raise _Unsupported
        return f"(?:{inner})"

    def quantifier(self) -> str:
        char = self.peek()
        if char is None or char not in _QUANTIFIER_START:
            return ""
        self.pos += 1
        quantifier = self.counted() if char == "{" else char
        if self.peek() == "?":
            self.pos += 1  # lazy: changes which match is found, not whether one is
        nxt = self.peek()
        if nxt is not None and nxt in _QUANTIFIER_START + "+":
            raise _Unsupported  # possessive, or a quantifier on a quantifier
        return quantifier

    def counted(self) -> str:
        low = self.digits()
        if self.peek() == "}":
            self.pos += 1
            return f"{{{low}}}"
        if self.take() != ",":
            raise _Unsupported
        if self.peek() == "}":
            self.pos += 1
            return f"{{{low},}}"
        high = self.digits()
        if self.take() != "}" or high < low:
            raise _Unsupported
        return f"{{{low},{high}}}"

    def digits(self) -> int:
        start = self.pos
        while (char := self.peek()) is not None and char in string.digits:
            self.pos += 1
        if self.pos == start or self.pos - start > 4:
            raise _Unsupported
        value = int(self.source[start : self.pos])
        if value > _MAX_REPEAT:
            raise _Unsupported
        return value

    def escape(self) -> int | _Ranges:
        """After a backslash: a code point, or a set for \\d \\D \\w \\W \\s \\S (same meaning in classes)."""
        char = self.take()
        if char in _CLASS_ESCAPES:
            return _CLASS_ESCAPES[char]
        if char in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[char]
        if char == "x":
            return self.hex_code(2)
        if char == "u":
            return self.hex_code(4)
        if char in string.punctuation:
            return ord(char)
        raise _Unsupported

    def hex_code(self, count: int) -> int:
        text = self.source[self.pos : self.pos + count]
        if len(text) != count or any(c not in string.hexdigits for c in text):
            raise _Unsupported  # also `\x{...}`
        self.pos += count
        code = int(text, 16)
        if 0xD800 <= code <= 0xDFFF:
            raise _Unsupported  # Java pairs `\uD83D\uDE00` into one code point; not worth following
        return code

    def char_class(self) -> _Ranges:
        """After `[`: the class as a set of code points, negation applied."""
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        if self.peek() == "]":
            raise _Unsupported  # Java reads a leading `]` as a literal; too easy to get wrong
        items: list[tuple[int, int]] = []
        first = True
        while (char := self.take()) != "]":
            items.extend(self.class_item(char, first))
            first = False
        ranges = _normalize(items)
        return _complement(ranges) if negated else ranges

    def class_item(self, char: str, first: bool) -> _Ranges:
        if char in "[&":
            raise _Unsupported  # nested classes and intersections
        if char == "-":
            if (first and self.peek() != "-") or self.peek() == "]":
                return ((0x2D, 0x2D),)
            raise _Unsupported  # Java reads e.g. [\w-.] as a literal `-`, RE2 refuses it
        low = self.escape() if char == "\\" else _check_literal(char)
        if isinstance(low, tuple):
            return low
        if self.peek() != "-" or self.peek(1) in ("]", "[", None):
            return ((low, low),)
        self.pos += 1
        end = self.take()
        if end in "[]&-":
            raise _Unsupported
        high = self.escape() if end == "\\" else _check_literal(end)
        if isinstance(high, tuple) or high < low:
            raise _Unsupported  # Java: "Illegal character range"
        return ((low, high),)


def _compiles(pattern: str) -> bool:
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except pa.ArrowException:
        return False
    return True


def to_re2(java_pattern: str) -> Re2Pattern | None:
    """RE2 pattern with exactly Java's find() matches, or None when the pattern is outside the supported subset."""
    parser = _Parser(java_pattern)
    try:
        re2 = parser.parse()
    except _Unsupported:
        return None
    if not _compiles(re2):
        return None
    return Re2Pattern(re2, parser.dollar)


#: Java's line terminators as strings; `ends_with` per terminator is about half a regular-expression search.
_TERMINATORS = ("\n", "\r", "\u0085", "\u2028", "\u2029")


def _as_utf8(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """The column as a string type RE2 can search, or None when it is no string column of valid UTF-8."""
    value_type = values.type
    if pa.types.is_dictionary(value_type):
        value_type = value_type.value_type
    if pa.types.is_string_view(value_type):
        value_type = pa.large_string()
    if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        return None  # Spark would cast to string first, with its own formatting
    try:
        if value_type != values.type:
            values = values.cast(value_type)
        values.validate(full=True)
    except pa.ArrowInvalid:
        return None  # Spark decodes invalid UTF-8 with replacement characters, RE2 sees raw bytes
    return values


def count_mismatches(values: pa.Array | pa.ChunkedArray, pattern: Re2Pattern) -> int | None:
    """Non-null values that do not match (Spark: count_if(v IS NOT NULL AND NOT v RLIKE p)); None when this
    column cannot be evaluated exactly (pattern.dollar and some value ends with a line terminator), or is no
    column of valid UTF-8 strings (string, large_string, string_view or a dictionary of those)."""
    strings = _as_utf8(values)
    if strings is None:
        return None
    if pattern.dollar and any(pc.any(pc.ends_with(strings, end)).as_py() for end in _TERMINATORS):
        return None
    matched = pc.sum(pc.match_substring_regex(strings, pattern.pattern)).as_py() or 0
    return int(len(strings) - strings.null_count - matched)
