"""A chat model switched to AutoMix through configuration, per request.

The app's model is a ``configurable_alternatives`` runnable: ``"plain"`` (the small model alone,
the default) or ``"automix"`` (an ``AutoMixChatModel`` built by ``AutoMixChatModel.from_config``
from provider model names, here ``openai:<local model>`` served by llama.cpp). Each request picks
one with ``config={"configurable": {"llm": ...}}``; the AutoMix one can also change its number of
verification samples per request (``automix_k``).

Needs the local models::

    pip install 'automix[local,langchain]'
    automix models install smollm2-135m qwen2.5-coder-0.5b

Run: ``python examples/langchain_config.py`` (add ``--router router.json`` for a calibrated router).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def fail(message: str) -> None:
    print(f"langchain_config: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--small", default="smollm2-135m")
    parser.add_argument("--large", default="qwen2.5-coder-0.5b")
    parser.add_argument("--router", default=None, help="router JSON from `automix calibrate` (default: untrained)")
    args = parser.parse_args(argv)
    try:
        from langchain_core.runnables import ConfigurableField
        from langchain_openai import ChatOpenAI

        from automix_langchain import AutoMixChatModel
    except ImportError as exc:
        fail(f"{exc}\ninstall: pip install 'automix[local,langchain]'")
    from automix_core import LocalServer
    from automix_core.errors import LocalServerError
    from automix_core.local import MODELS, is_installed

    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        fail("xllamacpp is not installed; install: pip install 'automix[local]'")
    models = list(dict.fromkeys([args.small, args.large]))
    missing = [m for m in models if not is_installed(m)]
    if missing:
        fail(f"local model(s) not installed: {', '.join(missing)}\ninstall: automix models install {' '.join(missing)}")

    try:
        server = LocalServer(models, parallel=4, threads=2)
        server.start()
    except LocalServerError as exc:
        fail(f"could not start the local llama.cpp server: {exc}")
    try:
        def tier(name: str) -> dict[str, Any]:
            return {"model": f"openai:{name}", "base_url": server.url(name) + "/v1", "api_key": "local",
                    "temperature": 0, "extra_body": {"max_tokens": 64}, "max_retries": 0}

        config: dict[str, Any] = {
            "tiers": [tier(args.small), tier(args.large)],
            "router": args.router,
            "prices": {m: MODELS[m].price.model_dump() for m in models},
            "k": 4,
        }
        automix = AutoMixChatModel.from_config(config).configurable_fields(k=ConfigurableField(id="automix_k"))
        plain = ChatOpenAI(**{k: v for k, v in tier(args.small).items() if k != "model"}, model=args.small)
        llm = plain.configurable_alternatives(ConfigurableField(id="llm"), default_key="plain", automix=automix)

        question = "What is the capital of France? Answer in one word."
        for choice, extra in (("plain", {}), ("automix", {}), ("automix", {"automix_k": 2})):
            message = llm.invoke(question, config={"configurable": {"llm": choice, **extra}})
            route = message.response_metadata.get("automix")
            print(f"{choice} {extra or ''}: {str(message.content).strip()[:80]!r}")
            print(f"    model {message.response_metadata.get('model_name')}, usage {message.usage_metadata}")
            if route:
                print(f"    tiers {route['tiers_visited']}, confidences "
                      f"{[t['confidence'] for t in route['trace']]}, ${route['cost']:.8f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
