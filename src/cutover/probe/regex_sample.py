"""Requests that match a path regex, and near misses that do not, for the paths check.

A regex path must be probed with requests it matches, never with the regex text itself.
This module parses the subset of regular expressions that appears in Ingress (`use-regex`)
and HTTPRoute (`RegularExpression`) paths: literals, `.`, character classes (ranges,
negation, `\\d`, `\\w`), groups (capturing, `(?:...)`, named), alternation, the quantifiers
`* + ? {m} {m,} {m,n}` (lazy or not), the anchors `^` and `$`, and a leading `(?i)`.
Anything else (back-references, look-arounds, `\\b`, `\\s`, Unicode classes) raises
RegexUnsupported, so the caller reports "cannot generate a request" instead of guessing.

Every sample is checked with Python's `re` under the side's own semantics:
- Gateway API `RegularExpression` (Envoy `safe_regex`): the WHOLE path must match, case-sensitive
  (envoy api/envoy/config/route/v3/route_components.proto, RouteMatch.safe_regex: "The entire path
  (without the query string) must match the regex"; header and query matchers match whole values too);
- nginx `use-regex` (`location ~* "^<path>"`): a case-insensitive match anchored at the start
  only (ref: ingress-nginx.md, "Paths -> nginx location blocks").
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

__all__ = ["RegexSamples", "RegexUnsupported", "is_literal", "regex_matches", "sample_regex", "sample_value"]

GATEWAY = "gateway"
NGINX = "nginx"
MAX_SAMPLES = 4
MAX_NEAR_MISSES = 2
# Repetitions beyond this are not generated ({1000} in a path regex is not worth a probe).
MAX_REPEAT = 64

_METACHARACTERS = set(".^$*+?()[]{}|\\")
# Characters a generated path may hold without escaping (RFC 3986 unreserved, '/', some sub-delims).
_PATH_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/!$&'()*+,;=:@")
# The order in which a character class is sampled: readable first, '/' and '.' last.
_POOL = "abx01z9-_~ABCDEFGHIJKLMNOPQRSTUVWXYZcdefghijklmnopqrstuvwy2345678.!$&'()*+,;=:@/"
_DIGITS = set("0123456789")
_WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class RegexUnsupported(ValueError):
    """The regex uses a construct the generator does not cover; the message names it."""


@dataclass(frozen=True)
class RegexSamples:
    pattern: str
    mode: str
    matches: tuple[str, ...]
    near_misses: tuple[str, ...]


# -- the parsed form ------------------------------------------------------------
@dataclass
class _Literal:
    char: str


@dataclass
class _Class:
    chars: frozenset[str]
    negated: bool
    # An unescaped '.': in `/.well-known` it is meant as a dot, so a lone one is sampled as '.'.
    dot: bool = False

    def allowed(self) -> list[str]:
        return [c for c in _POOL if (c in self.chars) != self.negated]


@dataclass
class _Alternation:
    branches: list[list[_Node]]


@dataclass
class _Repeat:
    node: _Node
    minimum: int
    maximum: int | None


_Node = _Literal | _Class | _Alternation | _Repeat


@dataclass
class _Choices:
    """How one sample is drawn: repetition counts, alternation branches, class characters."""

    more: bool = False
    branch: dict[int, int] = field(default_factory=dict)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.position = 0
        self.alternations: list[_Alternation] = []

    def fail(self, what: str) -> RegexUnsupported:
        return RegexUnsupported(f"{what} at position {self.position} of {self.pattern!r} is not supported")

    def peek(self) -> str | None:
        return self.pattern[self.position] if self.position < len(self.pattern) else None

    def take(self) -> str:
        char = self.pattern[self.position]
        self.position += 1
        return char

    def parse(self) -> _Alternation:
        if self.pattern.startswith("(?i)"):
            self.position = 4
        tree = self.alternation()
        if self.position != len(self.pattern):
            raise self.fail("an unbalanced ')'")
        return tree

    def alternation(self) -> _Alternation:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        node = _Alternation(branches)
        self.alternations.append(node)
        return node

    def sequence(self) -> list[_Node]:
        items: list[_Node] = []
        while (char := self.peek()) is not None and char not in "|)":
            if char == "^":
                if items or (self.position not in (0, 4) and self.pattern[self.position - 1] not in "(|:"):
                    raise self.fail("'^' in the middle")
                self.take()
                continue
            if char == "$":
                self.take()
                if self.peek() not in (None, "|", ")"):
                    raise self.fail("'$' in the middle")
                continue
            atom = self.atom()
            items.append(self.quantified(atom))
        return items

    def atom(self) -> _Node:
        char = self.take()
        if char == "(":
            if self.pattern.startswith("?:", self.position):
                self.position += 2
            elif self.pattern.startswith("?P<", self.position) or self.pattern.startswith("?<", self.position):
                if self.pattern.startswith("?<=", self.position) or self.pattern.startswith("?<!", self.position):
                    raise self.fail("a look-behind")
                end = self.pattern.find(">", self.position)
                if end < 0:
                    raise self.fail("an unterminated group name")
                self.position = end + 1
            elif self.peek() == "?":
                raise self.fail("a group flag or look-around")
            inner = self.alternation()
            if self.peek() != ")":
                raise self.fail("a missing ')'")
            self.take()
            return inner
        if char == "[":
            return self.character_class()
        if char == ".":
            return _Class(frozenset("\n"), negated=True, dot=True)
        if char == "\\":
            return self.escape(in_class=False)
        if char in "*+?{":
            raise self.fail(f"a quantifier {char!r} with nothing to repeat")
        return _Literal(char)

    def escape(self, in_class: bool) -> _Node:
        if self.peek() is None:
            raise self.fail("a trailing '\\'")
        char = self.take()
        if char == "d":
            return _Class(frozenset(_DIGITS), negated=False)
        if char == "D":
            return _Class(frozenset(_DIGITS), negated=True)
        if char == "w":
            return _Class(frozenset(_WORD), negated=False)
        if char == "W":
            return _Class(frozenset(_WORD), negated=True)
        if char.isalnum():
            raise self.fail(f"the escape '\\{char}'")
        return _Literal(char)

    def character_class(self) -> _Class:
        negated = self.peek() == "^"
        if negated:
            self.take()
        chars: set[str] = set()
        first = True
        while True:
            char = self.peek()
            if char is None:
                raise self.fail("an unterminated '['")
            if char == "]" and not first:
                self.take()
                break
            first = False
            self.take()
            if char == "[" and self.peek() == ":":
                raise self.fail("a POSIX class")
            if char == "\\":
                escaped = self.escape(in_class=True)
                if isinstance(escaped, _Class):
                    if escaped.negated:
                        raise self.fail("a negated escape inside a class")
                    chars |= escaped.chars
                    continue
                assert isinstance(escaped, _Literal)
                char = escaped.char
            if self.peek() == "-" and self.position + 1 < len(self.pattern) and self.pattern[self.position + 1] != "]":
                self.take()
                end = self.take()
                if end == "\\":
                    escaped_end = self.escape(in_class=True)
                    if not isinstance(escaped_end, _Literal):
                        raise self.fail("a range ending in a class")
                    end = escaped_end.char
                if ord(end) < ord(char):
                    raise self.fail(f"the reversed range {char}-{end}")
                chars |= {chr(code) for code in range(ord(char), ord(end) + 1)}
            else:
                chars.add(char)
        return _Class(frozenset(chars), negated)

    def quantified(self, atom: _Node) -> _Node:
        char = self.peek()
        if char is None or char not in "*+?{":
            return atom
        if char == "{":
            match = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.pattern, self.position)
            if match is None:
                return atom  # a literal '{', as Python and PCRE read it
            self.position = match.end()
            minimum = int(match.group(1))
            maximum: int | None = minimum
            if match.group(2):
                maximum = int(match.group(3)) if match.group(3) else None
        else:
            self.take()
            minimum, maximum = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        if self.peek() == "?":
            self.take()  # lazy: the same set of matches
        if self.peek() in ("*", "+", "?", "{"):
            raise self.fail("a repeated quantifier")
        if minimum > MAX_REPEAT:
            raise self.fail(f"a repetition of {minimum}")
        return _Repeat(atom, minimum, maximum)


# -- generation -------------------------------------------------------------------
def _generate(nodes: list[_Node], choices: _Choices, repeated: bool = False) -> str:
    return "".join(_generate_node(node, choices, repeated) for node in nodes)


def _generate_node(node: _Node, choices: _Choices, repeated: bool = False) -> str:
    if isinstance(node, _Literal):
        if node.char not in _PATH_SAFE:
            raise RegexUnsupported(f"the literal {node.char!r} cannot be sent in a request path")
        return node.char
    if isinstance(node, _Class):
        if node.dot and not repeated and not choices.more:
            return "."
        allowed = node.allowed()
        if not allowed:
            raise RegexUnsupported("a character class with no character that can be sent in a path")
        return allowed[1] if choices.more and len(allowed) > 1 else allowed[0]
    if isinstance(node, _Alternation):
        index = choices.branch.get(id(node), len(node.branches) - 1 if choices.more else 0)
        return _generate(node.branches[index], choices, repeated)
    count = node.minimum
    if choices.more:
        count = node.minimum + (2 if node.maximum is None else 1)
        if node.maximum is not None:
            count = min(count, node.maximum)
    return "".join(_generate_node(node.node, choices, repeated=True) for _ in range(count))


def is_literal(pattern: str) -> bool:
    """True when the pattern has no regex metacharacter: it matches its own text."""
    return not any(char in _METACHARACTERS for char in pattern)


def regex_matches(pattern: str, path: str, mode: str) -> bool:
    """Whether a request path matches the rule on its side (see the module docstring)."""
    if mode == NGINX:
        return re.match(pattern, path, re.IGNORECASE) is not None
    return re.fullmatch(pattern, path) is not None


def _usable(sample: str) -> bool:
    # Merged slashes and dot segments would be normalised by nginx before matching.
    segments = sample.split("/")[1:]
    return (
        sample.startswith("/")
        and "//" not in sample
        and not any(segment in (".", "..") for segment in segments)
        and all(c in _PATH_SAFE for c in sample)
    )


def _near_miss_candidates(sample: str) -> list[str]:
    candidates = []
    candidates.append(sample.swapcase())
    if len(sample) > 1:
        candidates.append(sample[:-1])
    digits = [i for i, c in enumerate(sample) if c.isdigit()]
    if digits:
        i = digits[0]
        candidates.append(sample[:i] + "x" + sample[i + 1 :])
    letters = [i for i, c in enumerate(sample) if c.isalpha()]
    if letters:
        i = letters[-1]
        candidates.append(sample[:i] + "0" + sample[i + 1 :])
    candidates += [sample + "x", sample + "/x", "/x" + sample, sample.rstrip("/") + "x"]
    return candidates


def sample_regex(pattern: str, mode: str = GATEWAY) -> RegexSamples:
    """Request paths that match pattern on its side, and near misses that do not.

    Raises RegexUnsupported (a one-line reason) when the pattern is outside the subset or no
    generated path matches it."""
    if mode not in (GATEWAY, NGINX):
        raise ValueError(f"mode must be {GATEWAY!r} or {NGINX!r}, got {mode!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # '[[' and the like: refused below anyway
            re.compile(pattern)
    except re.error as exc:
        raise RegexUnsupported(f"{pattern!r} is not a valid regular expression: {exc}") from None
    parser = _Parser(pattern)
    tree = parser.parse()
    variants = [_Choices(), _Choices(more=True)]
    for alternation in reversed(parser.alternations):
        for index in range(1, len(alternation.branches)):
            variants.append(_Choices(branch={id(alternation): index}))
    matches: list[str] = []
    for choices in variants:
        raw = _generate([tree], choices)
        for candidate in (raw, "/" + raw):
            if _usable(candidate) and candidate not in matches and regex_matches(pattern, candidate, mode):
                matches.append(candidate)
                break
        if len(matches) >= MAX_SAMPLES:
            break
    if not matches:
        raise RegexUnsupported(f"no generated path matches {pattern!r}")
    near: list[str] = []
    for candidate in _near_miss_candidates(matches[0]):
        if (
            _usable(candidate)
            and candidate not in near
            and candidate not in matches
            and not regex_matches(pattern, candidate, mode)
        ):
            near.append(candidate)
        if len(near) >= MAX_NEAR_MISSES:
            break
    return RegexSamples(pattern, mode, tuple(matches), tuple(near))


def sample_value(pattern: str) -> str:
    """A header or query value the regex matches as a whole (Envoy `safe_regex` string matches)."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise RegexUnsupported(f"{pattern!r} is not a valid regular expression: {exc}") from None
    tree = _Parser(pattern).parse()
    for choices in (_Choices(), _Choices(more=True)):
        value = _generate([tree], choices)
        if re.fullmatch(pattern, value):
            return value
    raise RegexUnsupported(f"no generated value matches {pattern!r}")
