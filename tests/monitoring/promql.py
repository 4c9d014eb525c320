"""The metric names a PromQL expression reads (enough of PromQL for dashboards: no full parser).

Strings, label matchers `{...}`, ranges/subqueries `[...]` and grouping label lists (`by (...)`, `on (...)`,
...) are removed first; what is left that looks like an identifier, is not called like a function, is not a
keyword and does not start inside a number (`1e6`) is a metric name.
"""

from __future__ import annotations

import re

KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?")


def metric_names(expression: str) -> set[str]:
    text = _STRINGS.sub('""', expression)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    return {name for name, call in _IDENTIFIER.findall(text) if not call and name.lower() not in KEYWORDS}
