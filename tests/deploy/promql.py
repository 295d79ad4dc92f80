"""The PromQL of the deploy files: where it lives, and which series and labels it selects.

Parsing with a real PromQL parser (promql-parser) rather than regexes means a rule or panel that Prometheus
would refuse fails here first, and metric names are told apart from functions and label names reliably.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

# Grafana's variables, replaced by values of the same PromQL type before parsing.
_GRAFANA_SUBSTITUTES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_GRAFANA_VARIABLE = re.compile(r"\$(\w+)")


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it came from (for failure messages)."""

    origin: str
    expr: str


@dataclass(frozen=True)
class Selector:
    """One vector selector: ``name{label op value, ...}``."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value); op is one of = != =~ !~


def alert_queries(rules_file: Path) -> list[Query]:
    """Every ``expr`` of a Prometheus rules file."""
    document = yaml.safe_load(rules_file.read_text())
    return [
        Query(f"{rules_file.name}:{rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in document["groups"]
        for rule in group["rules"]
    ]


def dashboard_queries(dashboard_file: Path) -> list[Query]:
    """Every panel target of a Grafana dashboard, with Grafana's variables made concrete."""
    dashboard = json.loads(dashboard_file.read_text())
    queries = []
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            queries.append(Query(f"{dashboard_file.name}:{panel['title']}:{target['refId']}", _concrete(target["expr"])))
    return queries


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _concrete(expr: str) -> str:
    for variable, value in _GRAFANA_SUBSTITUTES.items():
        expr = expr.replace(variable, value)
    # Multi-value variables are used inside regex matchers (`label=~"$var"`): any regex will do.
    return _GRAFANA_VARIABLE.sub(".*", expr)


def selectors(expr: str) -> list[Selector]:
    """Parse ``expr`` (raising on invalid PromQL) and return its vector selectors."""
    import promql_parser

    found: list[Selector] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(
                Selector(node.name, tuple((m.name, _OPS[str(m.op)], m.value) for m in node.matchers.matchers))
            )

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def literal_alternatives(op: str, value: str) -> list[str]:
    """The label values a positive matcher names: ``a|b`` -> [a, b]; nothing for negative or wildcard ones."""
    if op not in ("=", "=~") or value in ("", ".*", ".+"):
        return []
    if op == "=":
        return [value]
    if re.fullmatch(r"[\w|-]+", value):
        return value.split("|")
    return []
