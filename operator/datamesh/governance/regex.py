"""Linear-time matching of the patterns policy authors write: `namePattern` regexes and attribute globs.

Python's `re` backtracks, so `^([a-z]+-?)+$` against a 40-character name, or the glob `*a*a*a*a*a*b` against a long
value, can run for hours inside the operator and the admission webhook, whose requests then time out and are let
through. RE2 runs in time linear in the text whatever the pattern, and its `max_mem` bounds the compiled program, so
a huge pattern is refused instead of eating memory. What RE2 cannot compile (backreferences, look-arounds) is
refused at admission by `check_policy` and fails closed at reconcile time.

Compiled patterns are cached: the same few patterns are evaluated for every product on every reconcile.
"""

from __future__ import annotations

from functools import lru_cache

import re2

#: Upper bound of the memory one compiled pattern may use (program and matching caches). A 253-character pattern
#: needs far less unless it is built to blow up, e.g. nested counted repetitions.
MAX_PROGRAM_MEMORY = 1 << 20


class PatternError(ValueError):
    """A pattern the linear-time engine (RE2) refuses, with its reason."""


def _options(*, latin1: bool = False) -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_MEMORY
    options.log_errors = False  # the reason is reported to the author, not to the operator's stderr
    options.never_capture = True  # only whether it matches is asked, which lets RE2 use its DFA
    if latin1:
        options.encoding = re2.Options.Encoding.LATIN1  # type: ignore[attr-defined]  # missing from google-re2-stubs
        options.dot_nl = True
    return options


def _reason(error: BaseException) -> str:
    detail = error.args[0] if error.args else error
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


def _encoded(text: str) -> bytes:
    # surrogatepass: a str from JSON may hold a lone surrogate, which UTF-8 proper cannot encode.
    return text.encode("utf-8", "surrogatepass")


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> re2._Regexp[str]:
    """The pattern compiled by RE2 (cached); PatternError when RE2 refuses it."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        raise PatternError(
            f"{pattern!r} is not supported by the linear-time regex engine (RE2): {_reason(error)}"
        ) from None
    except UnicodeEncodeError:
        raise PatternError(f"{pattern!r} is not valid UTF-8") from None


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be used as a regular expression, or None when it can."""
    try:
        compile_regex(pattern)
    except PatternError as error:
        return str(error)
    return None


def regex_fullmatches(pattern: str, text: str) -> bool:
    """Whether the regular expression matches `text` as a whole; PatternError when RE2 refuses the pattern."""
    compiled = compile_regex(pattern)
    try:
        return compiled.fullmatch(text) is not None
    except UnicodeEncodeError:
        return compiled.fullmatch(_encoded(text)) is not None


# A glob is matched byte-wise (RE2's Latin-1 mode) against the text's UTF-8 encoding: every character of any str,
# lone surrogates included, has an encoding, so the glob means for every value exactly what it says. `?` is one
# encoded character: a lead byte and its continuation bytes.
_ONE_CHARACTER = rb"(?:[\x00-\x7f]|[\xc0-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf7][\x80-\xbf]{3})"
_ANY_RUN = rb".*"


def _glob_program(glob: str) -> bytes:
    parts: list[bytes] = []
    for index, char in enumerate(glob):
        if char == "*":
            if not glob.startswith("*", index + 1):  # `**` is `*`: keep one
                parts.append(_ANY_RUN)
        elif char == "?":
            parts.append(_ONE_CHARACTER)
        else:
            parts.append(b"".join(b"\\x%02x" % byte for byte in _encoded(char)))
    return b"".join(parts)


@lru_cache(maxsize=4096)
def compile_glob(glob: str) -> re2._Regexp[bytes]:
    """The glob (`*` any run of characters, `?` one character, everything else literal) compiled by RE2 (cached).

    PatternError only for a glob thousands of characters long: the schema keeps policy globs to 253."""
    try:
        return re2.compile(_glob_program(glob), _options(latin1=True))
    except re2.error as error:
        raise PatternError(f"glob {glob!r} is too large for the linear-time matcher: {_reason(error)}") from None


def glob_fullmatches(glob: str, text: str) -> bool:
    """Whether `text` matches the glob as a whole, case-sensitively; PatternError for a glob too large to compile."""
    return compile_glob(glob).fullmatch(_encoded(text)) is not None
