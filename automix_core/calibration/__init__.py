"""Calibration and evaluation: records (:mod:`.records`), the paper's metrics (:mod:`.metrics`),
the cost-region protocol (:mod:`.evaluate`), live collection of records (:mod:`.collect`) and
plots (:mod:`.plot`, needs matplotlib; not imported here)."""

from .evaluate import evaluate, evaluate_cv
from .metrics import Point, auc_normalized, cost_to_recover, delta_ibc, ibc, region_dibc
from .records import Record, RecordArrays, read_records, to_arrays

__all__ = [
    "Point",
    "Record",
    "RecordArrays",
    "auc_normalized",
    "cost_to_recover",
    "delta_ibc",
    "evaluate",
    "evaluate_cv",
    "ibc",
    "read_records",
    "region_dibc",
    "to_arrays",
]
