"""TurnCache: fixed prompt turns converted once, rebuilt when changed in place, the case at hand always fresh."""

from __future__ import annotations

from dataclasses import dataclass

from automix_core.integration import TurnCache


@dataclass
class Msg:
    role: str
    content: str


def _cache(built: list[tuple[str, str]], **kw: int) -> TurnCache[Msg]:
    def build(role: str, content: str) -> Msg:
        built.append((role, content))
        return Msg(role, content)

    return TurnCache(build, lambda m, role, content: m.role == role and m.content == content, **kw)


def _turn(cache: TurnCache[Msg], role: str, content: str) -> Msg:
    """``role``/``content`` as an earlier turn of a prompt (the kind convert may reuse)."""
    prompt = [{"role": role, "content": content}, {"role": "user", "content": "case"}]
    return cache.convert(prompt)[0]  # type: ignore[arg-type]


def test_earlier_turns_are_built_once_per_role_and_text() -> None:
    built: list[tuple[str, str]] = []
    cache = _cache(built)
    first = _turn(cache, "system", "rules")
    assert _turn(cache, "system", "rules") is first and _turn(cache, "assistant", "rules") is not first
    u1, u2 = _turn(cache, "user", "q"), _turn(cache, "user", "q")
    assert u1 is u2
    assert [b for b in built if b != ("user", "case")] == [("system", "rules"), ("assistant", "rules"), ("user", "q")]


def test_a_turn_changed_in_place_is_rebuilt() -> None:
    built: list[tuple[str, str]] = []
    cache = _cache(built)
    first = _turn(cache, "system", "rules")
    first.content = "tampered"
    again = _turn(cache, "system", "rules")
    assert again is not first and again.content == "rules" and _turn(cache, "system", "rules") is again


def test_long_texts_are_not_kept_and_the_cache_is_bounded() -> None:
    built: list[tuple[str, str]] = []
    cache = _cache(built, max_items=2, max_len=10)
    long = "x" * 11
    assert _turn(cache, "system", long) is not _turn(cache, "system", long)
    a = _turn(cache, "system", "a")
    _turn(cache, "system", "b")
    _turn(cache, "system", "c")  # full: starts over
    assert _turn(cache, "system", "a") is not a


def test_convert_reuses_every_turn_but_the_last() -> None:
    built: list[tuple[str, str]] = []
    cache = _cache(built)
    prompt = [{"role": "system", "content": "rules"}, {"role": "user", "content": "example"},
              {"role": "assistant", "content": "verdict"}, {"role": "user", "content": "the case"}]
    first = cache.convert(prompt)  # type: ignore[arg-type]
    again = cache.convert(prompt)  # type: ignore[arg-type]
    assert [m.content for m in again] == ["rules", "example", "verdict", "the case"]
    assert all(a is b for a, b in zip(first[:3], again[:3])) and again[3] is not first[3]
    assert built.count(("user", "example")) == 1 and built.count(("user", "the case")) == 2
    assert cache.convert([]) == []
