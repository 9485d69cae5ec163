"""Fixes to moto's X-Ray (numbered as in ``localcloud.motofixes``).

15. ``GetTraceSummaries`` answers any ``FilterExpression`` with ``InternalFailure``, so a
    trace cannot be found by its annotations — what `sdp trace --record` does on AWS
    (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html). The
    annotation part of the language is evaluated here: ``annotation.KEY`` or
    ``annotation[KEY]`` compared with ``=``, ``!=``, ``CONTAINS``, ``BEGINSWITH`` or
    ``ENDSWITH`` to a string, number or boolean, combined with ``AND``/``OR`` (``&&``,
    ``||``) and parentheses. As on X-Ray, a trace matches a comparison when one of its
    segments or subsegments has a matching annotation. Anything else in an expression is
    refused with ``InvalidRequestException`` naming what is not supported, instead of
    a failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<annotation>annotation(?:\.(?P<dotted>[A-Za-z0-9_]+)|\[(?P<bracket>[A-Za-z0-9_]+)\]))
      | (?P<op>!=|=|CONTAINS\b|BEGINSWITH\b|ENDSWITH\b)
      | (?P<bool>AND\b|OR\b|and\b|or\b|&&|\|\|)
      | (?P<paren>[()])
      | (?P<word>true\b|false\b)
    )""",
    re.VERBOSE | re.IGNORECASE,
)

Entity = dict[str, Any]
Matcher = Callable[[list[dict[str, Any]]], bool]


class FilterSyntaxError(ValueError):
    pass


def _tokens(expression: str) -> list[tuple[str, str, str | None]]:
    tokens: list[tuple[str, str, str | None]] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterSyntaxError(
                f"not supported by the local cloud's X-Ray: {text[position:][:40]!r} "
                "(annotation comparisons with AND/OR only)"
            )
        kind = match.lastgroup or ""
        if kind in ("dotted", "bracket"):
            kind = "annotation"
        key = match.group("dotted") or match.group("bracket")
        tokens.append((kind, match.group(kind) if kind != "annotation" else "", key))
        position = match.end()
    return tokens


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return json.loads(text)
    if kind == "number":
        return float(text)
    if kind == "word":
        return text.lower() == "true"
    raise FilterSyntaxError(f"expected a value, found {text!r}")


def _compare(op: str, actual: Any, expected: Any) -> bool:
    op = op.upper()
    if isinstance(expected, bool) or isinstance(actual, bool):
        equal = actual is expected or actual == expected
    elif isinstance(expected, float):
        equal = isinstance(actual, int | float) and float(actual) == expected
    else:
        equal = actual == expected
    if op == "=":
        return equal
    if op == "!=":
        return not equal
    if not isinstance(actual, str) or not isinstance(expected, str):
        return False
    if op == "CONTAINS":
        return expected in actual
    if op == "BEGINSWITH":
        return actual.startswith(expected)
    return actual.endswith(expected)  # ENDSWITH


class _Parser:
    def __init__(self, expression: str) -> None:
        self.tokens = _tokens(expression)
        self.position = 0

    def peek(self) -> tuple[str, str, str | None] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str, str | None]:
        if self.position >= len(self.tokens):
            raise FilterSyntaxError("the expression ends too early")
        self.position += 1
        return self.tokens[self.position - 1]

    def expression(self) -> Callable[[list[Entity]], bool]:
        left = self.term()
        while (token := self.peek()) is not None and token[0] == "bool":
            both = self.take()[1].upper() in ("AND", "&&")
            left = _combine(left, self.term(), both)
        return left

    def term(self) -> Callable[[list[Entity]], bool]:
        kind, text, key = self.take()
        if kind == "paren" and text == "(":
            inner = self.expression()
            if self.take()[1] != ")":
                raise FilterSyntaxError("a parenthesis is not closed")
            return inner
        if kind != "annotation" or key is None:
            raise FilterSyntaxError(f"expected an annotation comparison, found {text!r}")
        op_kind, op, _ = self.take()
        if op_kind != "op":
            raise FilterSyntaxError(f"expected an operator after annotation.{key}")
        value_kind, value_text, _ = self.take()
        expected = _literal(value_kind, value_text)

        def matches(entities: list[Entity]) -> bool:
            return any(
                key in (entity.get("annotations") or {})
                and _compare(op, entity["annotations"][key], expected)
                for entity in entities
            )

        return matches


def compile_filter(expression: str) -> Callable[[list[Entity]], bool]:
    """A predicate over a trace's entities (every segment and subsegment, flattened)."""
    parser = _Parser(expression)
    predicate = parser.expression()
    if parser.position != len(parser.tokens):
        raise FilterSyntaxError(f"unexpected {parser.tokens[parser.position][1]!r}")
    return predicate


def _combine(
    left: Callable[[list[Entity]], bool], right: Callable[[list[Entity]], bool], both: bool
) -> Callable[[list[Entity]], bool]:
    if both:
        return lambda entities: left(entities) and right(entities)
    return lambda entities: left(entities) or right(entities)


def _flatten(entity: Entity) -> Iterator[Entity]:
    yield entity
    for child in entity.get("subsegments") or ():
        yield from _flatten(child)


def trace_entities(segments: list[Any]) -> list[Entity]:
    """Every entity of a trace's stored documents (parsed once per document)."""
    entities: list[Entity] = []
    for segment in segments:
        parsed = getattr(segment, "_sdp_entities", None)
        if parsed is None:
            parsed = list(_flatten(json.loads(segment.raw)))
            segment._sdp_entities = parsed
        entities.extend(parsed)
    return entities


def apply() -> None:
    from moto.core.exceptions import AWSError
    from moto.xray.models import SegmentCollection

    original = SegmentCollection.summary

    def summary(
        self: Any, start_time: Any, end_time: Any, filter_expression: Any = None
    ) -> dict[str, Any]:
        if not filter_expression:
            return original(self, start_time, end_time, None)
        try:
            matches = compile_filter(str(filter_expression))
        except FilterSyntaxError as exc:
            raise AWSError(str(exc), exception_type="InvalidRequestException", status=400) from None
        result = original(self, start_time, end_time, None)
        result["TraceSummaries"] = [
            item
            for item in result["TraceSummaries"]
            if matches(trace_entities(self._traces[item["Id"]]["segments"]))
        ]
        result["TracesProcessedCount"] = len(result["TraceSummaries"])
        return result

    SegmentCollection.summary = summary  # type: ignore[method-assign]
