"""TurnCache: fixed prompt turns converted once, rebuilt when changed in place, the case at hand always fresh."""

from __future__ import annotations

from dataclasses import dataclass

from automix_core.models import TurnCache


@dataclass
class Msg:
    role: str
    content: str


def _cache(built: list[tuple[str, str]], **kw: int) -> TurnCache[Msg]:
    def build(role: str, content: str) -> Msg:
        built.append((role, content))
        return Msg(role, content)

    return TurnCache(build, lambda m, role, content: m.role == role and m.content == content, **kw)


def test_fixed_turns_are_built_once_and_user_turns_every_time() -> None:
    built: list[tuple[str, str]] = []
    cache = _cache(built)
    first = cache.get("system", "rules")
    assert cache.get("system", "rules") is first and cache.get("assistant", "rules") is not first
    u1, u2 = cache.get("user", "q"), cache.get("user", "q")
    assert u1 == u2 and u1 is not u2
    assert built == [("system", "rules"), ("assistant", "rules"), ("user", "q"), ("user", "q")]


def test_a_turn_changed_in_place_is_rebuilt() -> None:
    built: list[tuple[str, str]] = []
    cache = _cache(built)
    first = cache.get("system", "rules")
    first.content = "tampered"
    again = cache.get("system", "rules")
    assert again is not first and again.content == "rules" and cache.get("system", "rules") is again


def test_long_texts_are_not_kept_and_the_cache_is_bounded() -> None:
    built: list[tuple[str, str]] = []
    cache = _cache(built, max_items=2, max_len=10)
    long = "x" * 11
    assert cache.get("system", long) is not cache.get("system", long)
    a = cache.get("system", "a")
    cache.get("system", "b")
    cache.get("system", "c")  # full: starts over
    assert cache.get("system", "a") is not a


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
