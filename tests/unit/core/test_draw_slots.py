"""Drawing k samples from a server with fewer slots than k: the refused ``n`` is split into requests of the
server's own limit (read from its HTTP 400), and a fallback to single requests is logged as a warning."""

from __future__ import annotations

import logging

import pytest

from automix_core.verify.draw import _WARNED, draw, largest_n


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    _WARNED.clear()


class Rejected(Exception):
    status_code = 400


def _server(slots: int, message: str | None = None) -> tuple[list[int], object]:
    sent: list[int] = []

    def request(n: int) -> list[str]:
        sent.append(n)
        if n > slots:
            raise Rejected(message or f"Error code: 400 - Value must be between 1 <= value <= {slots}")
        return ["YES"] * n

    return sent, request


def test_llamacpp_limit_is_read_from_the_rejection() -> None:
    assert largest_n(Rejected("Value must be between 1 <= value <= 4")) == 4
    assert largest_n(Rejected("n must be at most 2")) == 2
    assert largest_n(Rejected("bad request")) is None


def test_n_above_the_slots_is_split_into_requests_of_the_slots(caplog: pytest.LogCaptureFixture) -> None:
    sent, request = _server(4)
    with caplog.at_level(logging.WARNING, logger="automix"):
        replies = draw(request, len, 8, True)  # type: ignore[arg-type]
    assert sum(len(r) for r in replies) == 8
    assert sent == [8, 4, 4]  # not eight single requests
    assert any("n=4" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_a_limit_that_does_not_divide_k_tops_up_with_single_requests() -> None:
    sent, request = _server(3)
    replies = draw(request, len, 8, True)  # type: ignore[arg-type]
    assert sum(len(r) for r in replies) == 8 and sent == [8, 3, 3, 1, 1]


def test_fallback_to_single_requests_warns(caplog: pytest.LogCaptureFixture) -> None:
    sent, request = _server(1, message="n is not supported")
    with caplog.at_level(logging.WARNING, logger="automix"):
        replies = draw(request, len, 4, True)  # type: ignore[arg-type]
    assert sum(len(r) for r in replies) == 4 and sent == [4, 1, 1, 1, 1]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("single requests" in m for m in warned), warned
    with caplog.at_level(logging.WARNING, logger="automix"):
        draw(request, len, 4, True)  # type: ignore[arg-type]
    assert len([r for r in caplog.records if "single requests" in r.getMessage()]) == 1  # once, not per answer


def test_a_multi_model_local_server_has_no_single_base_url() -> None:
    from automix_core import LocalServer
    from automix_core.errors import LocalServerError

    pair = LocalServer(["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])  # not started: the names are enough
    with pytest.raises(LocalServerError, match=r"server\.url\(name\).*server\.api_base\(name\)"):
        _ = pair.base_url
    assert LocalServer("qwen2.5-coder-0.5b").base_url == ""  # one model: its URL ("" until started)
    assert LocalServer("qwen2.5-coder-0.5b").parallel == 8  # slots sized to the default k: n=k is one request
