"""Build the English letter-trigram profile of the injection defence (``automix_core/verify/defence/english.py``).

    python scripts/english_trigrams.py /path/to/contractnli_dev.json [--size 1500]

The profile is the ``--size`` most frequent letter trigrams of words (padded with ``_`` at both ends) in
the English documents of a ContractNLI file (``{"documents": [{"text": ...}]}``). It is a statistic of
the text, written into the module as a sorted, space-separated string; the defence reads it to tell a
sentence in another Latin-script language from an English one without a vocabulary.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core.verify.defence.english import _trigrams


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path)
    ap.add_argument("--size", type=int, default=1500)
    args = ap.parse_args()
    docs = json.loads(args.source.read_text(encoding="utf-8"))["documents"]
    words = re.findall(r"[a-z]{2,}", " ".join(d["text"] for d in docs).lower())
    counts = collections.Counter(t for w in words for t in _trigrams(w))
    profile = sorted(t for t, _ in counts.most_common(args.size))
    print(f"{len(words)} words, {len(counts)} trigrams; profile of {len(profile)}", file=sys.stderr)
    for i in range(0, len(profile), 24):
        print('    "' + " ".join(profile[i : i + 24]) + ' "')
    return 0


if __name__ == "__main__":
    sys.exit(main())
