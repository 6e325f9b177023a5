"""The regex sampler: generated paths match the rule on its side, near misses do not,
and patterns outside the subset are refused with a reason instead of probed as text."""

from __future__ import annotations

import re

import pytest

from cutover.probe.regex_sample import RegexUnsupported, is_literal, regex_matches, sample_regex, sample_value

SUPPORTED = [
    "/api",
    "/api/.*",
    "/api/.+",
    "/v[0-9]+/models",
    r"/v\d+/models/[^/]+/infer",
    "/(grafana|prometheus)/d/[a-z0-9-]+",
    "/user/(?:profile|settings)/?",
    r"/user/(?P<id>\d{3,5})$",
    "^/static/.+\\.(js|css)$",
    "(?i)/api.*",
    "/files/[A-Fa-f0-9]{8}",
    r"/a\.b/[\w-]+",
    "/opt(ional)?/x",
    ".*\\.png",
    "/lazy/.*?/end",
]


@pytest.mark.parametrize("mode", ["gateway", "nginx"])
@pytest.mark.parametrize("pattern", SUPPORTED)
def test_every_sample_matches_and_every_near_miss_does_not(pattern: str, mode: str) -> None:
    samples = sample_regex(pattern, mode)
    assert samples.matches, pattern
    for path in samples.matches:
        assert path.startswith("/") and "//" not in path, path
        assert regex_matches(pattern, path, mode), f"{path!r} does not match {pattern!r} ({mode})"
        assert path != pattern or is_literal(pattern), "the regex text itself was used as a request"
    for path in samples.near_misses:
        assert path.startswith("/")
        assert not regex_matches(pattern, path, mode), f"near miss {path!r} matches {pattern!r} ({mode})"


def test_semantics_of_each_side() -> None:
    # Gateway API: the whole path, case-sensitive. nginx ~* "^path": a case-insensitive prefix.
    assert regex_matches("/api/v[0-9]+", "/api/v2", "gateway")
    assert not regex_matches("/api/v[0-9]+", "/api/v2/x", "gateway")
    assert not regex_matches("/api/v[0-9]+", "/API/v2", "gateway")
    assert regex_matches("/api/v[0-9]+", "/api/v2/x", "nginx")
    assert regex_matches("/api/v[0-9]+", "/API/V2", "nginx")
    assert not regex_matches("/api/v[0-9]+", "/x/api/v2", "nginx")


def test_alternation_gives_one_sample_per_branch() -> None:
    samples = sample_regex("/(grafana|prometheus|loki)/api", "gateway")
    assert set(samples.matches) >= {"/grafana/api", "/prometheus/api", "/loki/api"}


def test_repetition_bounds_are_respected() -> None:
    samples = sample_regex("/id/[0-9]{3,4}", "gateway")
    assert {len(path) - len("/id/") for path in samples.matches} <= {3, 4}
    assert "/id/000" in samples.matches


def test_gateway_near_misses_include_a_case_variant_and_a_truncation() -> None:
    samples = sample_regex("/v[0-9]+/models", "gateway")
    assert samples.matches[0] == "/v0/models"
    assert "/V0/MODELS" in samples.near_misses
    assert "/v0/model" in samples.near_misses


def test_nginx_near_misses_are_not_case_variants() -> None:
    # A case variant still matches ~* on nginx: it is not a near miss there.
    samples = sample_regex("/v[0-9]+/models", "nginx")
    assert all(path.lower() != samples.matches[0].lower() for path in samples.near_misses)


def test_plain_paths_are_literal() -> None:
    assert is_literal("/api/v1")
    assert not is_literal("/api/v[0-9]+")
    assert not is_literal("/api/.*")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("/a(?=b)", "look-around"),
        ("/a(?!b)", "look-around"),
        ("/(?<=a)b", "look-behind"),
        (r"/a\sb", r"escape '\s'"),
        (r"/a\bc", r"escape '\b'"),
        (r"/(a)/\1", r"escape '\1'"),
        ("/a/[[:alpha:]]+", "POSIX class"),
        ("/a b", "cannot be sent"),
        ("/a/[ ]", "no character that can be sent"),
        ("/api/(", "not a valid regular expression"),
        ("/a$/b", "'$' in the middle"),
    ],
)
def test_unsupported_patterns_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(RegexUnsupported, match=re.escape(reason)):
        sample_regex(pattern, "gateway")


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        sample_regex("/a", "apache")


def test_a_lone_dot_is_sampled_as_a_dot_and_dot_segments_are_avoided() -> None:
    assert sample_regex("/.well-known/(.+)", "gateway").matches[0] == "/.well-known/a"
    assert sample_regex("/v1.0/.*", "gateway").matches[0] == "/v1.0/"
    # '/api/./x' would be normalised to '/api/x' by nginx before matching: never sent.
    assert sample_regex("/api/./x", "gateway").matches == ("/api/b/x",)


def test_rewrite_target_patterns_as_ingress_nginx_users_write_them() -> None:
    samples = sample_regex("/something(/|$)(.*)", "nginx")
    assert samples.matches[:2] == ("/something/", "/something")
    assert all(regex_matches("/something(/|$)(.*)", path, "nginx") for path in samples.matches)


def test_header_values_are_sampled_whole() -> None:
    assert sample_value("v[0-9]+") == "v0"
    assert sample_value("fast|slow") == "fast"
    with pytest.raises(RegexUnsupported):
        sample_value("a(?=b)")
