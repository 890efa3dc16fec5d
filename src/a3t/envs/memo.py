"""Memoized pure functions of TextWorld's PDDL engine: the same game text, the same work, done once per process.

- ``fast_downward.pddl2sas``: ``PddlEnv.reset()`` translates the game's PDDL problem to SAS twice (pure
  Python), three quarters of a reset. The result depends only on the domain and problem text and is only
  read afterwards, so a game is translated once and each later reset just reloads the SAS into the planner.
- ``textgen._parse_and_convert``: every step derives each admissible command's text, and each derivation
  first parses its template string with a TatSu grammar (half of a step). The parse depends only on the
  string; callers set the symbols' contexts afterwards, so each call gets a fresh deep copy.
- ``Rule.parse_conjunctive_query``: the grammar's conditional symbols parse their query text (another
  TatSu parse) at every derivation. The rule depends only on the text, and TextWorld's logic objects are
  immutable values, so one rule is shared.
"""

from __future__ import annotations

import copy
import functools

import fast_downward
from textworld.envs.pddl import textgen
from textworld.logic import Rule

_ORIGINAL = {
    "pddl2sas": fast_downward.pddl2sas,
    "parse": textgen._parse_and_convert,
    "query": Rule.__dict__["parse_conjunctive_query"],
}


@functools.lru_cache(maxsize=1024)
def pddl2sas(domain: str, problem: str, verbose: bool = False, optimize: bool = False):
    return _ORIGINAL["pddl2sas"](domain, problem, verbose=verbose, optimize=optimize)


@functools.lru_cache(maxsize=16384)
def _parsed(text: str, rule_name: str, trace: bool):
    return _ORIGINAL["parse"](text, rule_name=rule_name, trace=trace)


def parse_and_convert(text: str, rule_name: str = "symbols", trace: bool = False):
    return copy.deepcopy(_parsed(text, rule_name, trace))


@functools.lru_cache(maxsize=4096)
def _query(expr: str) -> Rule:
    return _ORIGINAL["query"].__func__(Rule, expr)


def parse_conjunctive_query(cls, expr: str) -> Rule:
    return _query(expr)


def install() -> None:
    """Route TextWorld's calls through the memoized versions (idempotent)."""
    fast_downward.pddl2sas = pddl2sas
    textgen._parse_and_convert = parse_and_convert
    Rule.parse_conjunctive_query = classmethod(parse_conjunctive_query)


def uninstall() -> None:
    """TextWorld's own functions again (tests compare both)."""
    fast_downward.pddl2sas = _ORIGINAL["pddl2sas"]
    textgen._parse_and_convert = _ORIGINAL["parse"]
    Rule.parse_conjunctive_query = _ORIGINAL["query"]
