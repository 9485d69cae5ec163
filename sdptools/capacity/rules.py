"""AWS's scaling rules and quotas as data: ``aws-rules.json``, each figure with its source.

``Rules.load()`` reads the file; ``with_overrides({"key": value})`` replaces figures (a
raised quota, a different assumption) without touching the file. Code asks for a figure
by key, so every number the simulator applies is one a reader can look up with its URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RULES_FILE = Path(__file__).with_name("aws-rules.json")


class RulesError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    key: str
    value: Any
    unit: str
    source: str
    note: str = ""
    assumed: bool = False


@dataclass(frozen=True)
class Rules:
    rules: dict[str, Rule]

    @classmethod
    def load(cls, path: Path = RULES_FILE) -> Rules:
        data = json.loads(path.read_text())
        rules = {}
        for key, entry in data.items():
            if key.startswith("_"):
                continue
            if not str(entry.get("source", "")).startswith("https://"):
                raise RulesError(f"{path.name}: rule {key} has no source URL")
            rules[key] = Rule(
                key=key,
                value=entry["value"],
                unit=str(entry.get("unit", "")),
                source=str(entry["source"]),
                note=str(entry.get("note", "")),
                assumed=bool(entry.get("assumed", False)),
            )
        return cls(rules)

    def value(self, key: str) -> float:
        try:
            return float(self.rules[key].value)
        except KeyError:
            raise RulesError(f"no rule {key!r} in {RULES_FILE.name}") from None

    def with_overrides(self, overrides: Mapping[str, float]) -> Rules:
        rules = dict(self.rules)
        for key, value in overrides.items():
            if key not in rules:
                known = ", ".join(sorted(rules))
                raise RulesError(f"unknown rule {key!r}; known: {known}")
            old = rules[key]
            rules[key] = Rule(key, value, old.unit, old.source, old.note + " (overridden)", True)
        return Rules(rules)

    def cited(self) -> list[dict[str, Any]]:
        return [
            {
                "key": r.key,
                "value": r.value,
                "unit": r.unit,
                "source": r.source,
                "assumed": r.assumed,
                "note": r.note,
            }
            for r in self.rules.values()
        ]
