"""Traffic capture, shadow evaluation and live proof of value (see ``docs/serving-traffic.md``).

``AutoMix(..., traffic=TrafficConfig(dir=..., shadow_rate=...))`` (or the adapters' ``traffic`` setting,
or ``automix serve --traffic DIR``) writes one record per request and shadows a uniform share of them
after the answer is returned; :class:`TrafficStats` turns the records into the live figures.
"""

from ..settings import TrafficConfig
from .record import ShadowOutput, agreement_rule, build_record
from .shadow import ShadowLedger, Traffic
from .stats import DriftCheck, RecordFigures, Snapshot, TrafficStats, record_figures, weighted_mean, wilson
from .writer import Sink, TrafficWriter, read_traffic, scrub_record, secret_scrubber, traffic_files

__all__ = [
    "DriftCheck",
    "RecordFigures",
    "ShadowLedger",
    "ShadowOutput",
    "Sink",
    "Snapshot",
    "Traffic",
    "TrafficConfig",
    "TrafficStats",
    "TrafficWriter",
    "agreement_rule",
    "build_record",
    "read_traffic",
    "record_figures",
    "scrub_record",
    "secret_scrubber",
    "traffic_files",
    "weighted_mean",
    "wilson",
]
