"""Format strings: which FORMAT specifiers and FORMAT_*/PARSE_* elements DuckDB reads alike.

Pure string analysis used by the fix-ups; the sets below were checked against the examples of
BigQuery's format elements page (see the FORMAT_TIMESTAMP entry of the function corpus).
"""

from __future__ import annotations

import re

_PRINTF = re.compile(
    r"%(?P<flags>[-+ #0']*)(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?(?P<conv>.?)"
)

_PRINTF_KINDS = {"d": "int", "i": "int", "s": "string"} | dict.fromkeys("fFeEgG", "float")

_PRINTF_FLAGS = {"int": "-+ 0", "string": "-", "float": "-+ 0"}

PRINTF_HELP = (
    "use %d, %i, %s, %f, %F, %e, %E, %g, %G or %% with the flags - + space 0, a width and, "
    "for %f %e %g, a precision; format other types with CAST(x AS STRING) and %s"
)


def printf_specifiers(fmt: str) -> list[str]:
    """The kind of value each specifier of a BigQuery ``FORMAT`` string takes.

    Only specifiers that DuckDB's ``printf`` renders exactly like BigQuery are accepted:
    ``%d``/``%i`` and ``%s`` (flags ``-``, and for numbers ``+``, space, ``0``; a width),
    ``%f %F %e %E %g %G`` (the same flags, a width and a precision) and ``%%``.

    Returns:
        ``"int"``, ``"string"`` or ``"float"`` per value-taking specifier, in order.

    Raises:
        ValueError: naming the first specifier that is refused and why.
    """
    kinds = []
    for match in _PRINTF.finditer(fmt):
        spec, conv = match.group(0), match["conv"]
        if spec == "%%":
            continue
        kind = _PRINTF_KINDS.get(conv)
        if kind is None:
            raise ValueError(f"specifier {spec!r} is rendered differently")
        if "*" in spec:
            raise ValueError(f"specifier {spec!r}: write the width and precision as digits")
        if set(match["flags"]) - set(_PRINTF_FLAGS[kind]):
            raise ValueError(f"specifier {spec!r}: flag {match['flags']!r} is not supported")
        if match["precision"] is not None and kind != "float":
            raise ValueError(f"specifier {spec!r}: a precision applies to %f, %e and %g only")
        kinds.append(kind)
    return kinds


_DATE_ELEMENTS = frozenset("AaBbdGhjmUuVWwYy%")

_TIME_ELEMENTS = frozenset("HIMpSX")

_PARSE_ELEMENTS = frozenset("YmdHMSybBjpI%")

_ELEMENT = re.compile(r"%(?:E\d*[A-Za-z]|E\*S|:z|-?[A-Za-z%])")

_SHOWN_AS = {"%-d": "%e (or %c, which contains it)", "%e": "%e (or %c, which contains it)"}


def _elements(fmt: str) -> list[str]:
    found: list[str] = _ELEMENT.findall(fmt)
    stray = fmt.count("%") > sum(e.count("%") for e in found)
    return [*found, "%"] if stray else found


def unsupported_time_elements(fmt: str, *, date_only: bool, parsing: bool) -> list[str]:
    """Format elements of a FORMAT_*/PARSE_* string that DuckDB would read differently.

    Args:
        fmt: the format string as sqlglot normalised it (``%F`` → ``%Y-%m-%d`` …).
        date_only: the value is a DATE (FORMAT_DATE/PARSE_DATE): no time elements.
        parsing: PARSE_* (a smaller set is verified for parsing).

    Returns:
        The refused elements, as BigQuery spells them, without duplicates.
    """
    allowed = _PARSE_ELEMENTS if parsing else _DATE_ELEMENTS | _TIME_ELEMENTS
    if date_only:
        allowed = allowed - _TIME_ELEMENTS
    if not parsing and not date_only and "%S.%f" in fmt:
        fmt = fmt.replace("%S.%f", "%S")
    bad = [_SHOWN_AS.get(e, e) for e in _elements(fmt) if len(e) != 2 or e[1] not in allowed]
    return list(dict.fromkeys(bad))


def time_elements_help(*, date_only: bool, parsing: bool) -> str:
    """The format elements accepted for a function kind, for error messages and docs."""
    allowed = _PARSE_ELEMENTS if parsing else _DATE_ELEMENTS | _TIME_ELEMENTS
    if date_only:
        allowed = allowed - _TIME_ELEMENTS
    composite = "%F %D %x" if date_only else "%F %D %x %T" + ("" if parsing else " %E6S")
    return " ".join(f"%{c}" for c in sorted(allowed)) + f" and {composite}"
