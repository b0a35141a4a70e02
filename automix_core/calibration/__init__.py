"""Calibration and evaluation: records (:mod:`.records`), the paper's metrics (:mod:`.metrics`),
the cost-region protocol (:mod:`.evaluate`), live collection of records (:mod:`.collect`) and
plots (:mod:`.plot`, needs matplotlib; not imported here), agreement labels (:mod:`.agreement`), fitting from
recorded traffic (:mod:`.from_traffic`) and its report (:mod:`.report`, needs matplotlib; not imported here)."""

from .agreement import Judge, agree, label_by_agreement
from .evaluate import evaluate, evaluate_cv
from .from_traffic import TrafficFit, fit_from_traffic
from .metrics import Point, auc_normalized, cost_to_recover, delta_ibc, ibc, region_dibc
from .records import Record, RecordArrays, read_records, to_arrays

__all__ = [
    "Judge",
    "Point",
    "Record",
    "RecordArrays",
    "TrafficFit",
    "agree",
    "auc_normalized",
    "cost_to_recover",
    "delta_ibc",
    "evaluate",
    "evaluate_cv",
    "fit_from_traffic",
    "ibc",
    "label_by_agreement",
    "read_records",
    "region_dibc",
    "to_arrays",
]
