"""The server's routes, one FastAPI router per concern: ``chat`` (``/v1/chat/completions``), ``models``
(``/v1/models``), ``health`` (``/health``, ``/ready``, ``/metrics``) and ``admin`` (``/automix/ledger``).
Authentication and admission are dependencies (:mod:`automix_server.deps`)."""

from __future__ import annotations

from . import admin, chat, health, models

ROUTERS = (chat.router, models.router, health.router, admin.router)
"""Every router, in the order the app includes them."""

__all__ = ["ROUTERS"]
