"""Worker URL normalisation and model-name lists."""

from __future__ import annotations

import pytest

from sgorch.router._urls import normalize_worker_url, parse_model_names


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("HTTP://Node-7.Cluster:30000/", "http://node-7.cluster:30000"),
        ("https://[::1]:443", "https://[::1]:443"),
        ("  http://a:1  ", "http://a:1"),
    ],
)
def test_valid_worker_urls_are_normalised(raw: str, normalised: str) -> None:
    assert normalize_worker_url(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("grpc://a:1", "scheme"),
        ("a:1", "scheme"),
        ("http://a", "port"),
        ("http://a:99999", "invalid worker URL"),
        ("http://:1", "host"),
        ("http://a:1/prefix", "only scheme://host:port"),
        ("http://a:1?x=1", "only scheme://host:port"),
        ("http://user:pw@a:1", "credentials"),
    ],
)
def test_invalid_worker_urls_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_worker_url(raw)


def test_model_lists_split_on_commas_with_the_primary_name_first() -> None:
    assert parse_model_names(None) == ()
    assert parse_model_names("  ") == ()
    assert parse_model_names("llama-3, chat ,meta/llama") == ("llama-3", "chat", "meta/llama")


@pytest.mark.parametrize("raw", ["a,,b", "a,", "a,a"])
def test_bad_model_lists_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match="invalid model list"):
        parse_model_names(raw)
