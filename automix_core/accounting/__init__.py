"""The accounting: prices (:mod:`.prices`), token counts (:mod:`.tokens`) and the ledger of every
call with its budgets (:mod:`.ledger`)."""

from .ledger import Budget, Ledger, Totals, Usage, usage_from_generation
from .prices import Price, PriceTable, local_price

__all__ = ["Budget", "Ledger", "Price", "PriceTable", "Totals", "Usage", "local_price", "usage_from_generation"]
