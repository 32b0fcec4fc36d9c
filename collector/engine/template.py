"""Safe text templates: "{name}" and "{name:.1f}", nothing else.

str.format would also allow "{x.__class__}" and "{x[0]}"; a rule file is
operator input, so attribute and index access are refused when the rule loads.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    pass


def fields_of(template: str) -> list[str]:
    """The field names a template uses; TemplateError if it is not a plain template."""
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(f"bad template {template!r}: {exc}") from None
    for _, name, _, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or conversion:
            raise TemplateError(
                f"template field {{{name}}} is not allowed: use a plain name such as {{mount}}"
            )
        names.append(name)
    return names


def check(template: str, available: Iterable[str], where: str) -> None:
    known = set(available)
    for name in fields_of(template):
        if name not in known:
            raise TemplateError(
                f"{where}: unknown field {{{name}}}; available: {', '.join(sorted(known))}"
            )


_PARSED: dict[str, list[tuple[str, str | None, str]]] = {}


def render(template: str, facts: Mapping[str, Any]) -> str:
    """The template with its fields filled in; parsed once per template text (components and
    summaries are rendered for every record a rule sees)."""
    parts = _PARSED.get(template)
    if parts is None:
        parts = [(lit, name, spec or "") for lit, name, spec, _ in _FORMATTER.parse(template)]
        if len(_PARSED) < 10_000:  # rule texts only; bounded all the same
            _PARSED[template] = parts
    out = []
    for literal, name, spec in parts:
        out.append(literal)
        if name is not None:
            out.append(format(facts[name], spec))
    return "".join(out)
