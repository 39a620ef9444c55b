"""Reference agreement statistics for keylabel's tests, from the libraries keylabel must
agree with: scikit-learn (cohen_kappa_score), statsmodels (fleiss_kappa) and krippendorff
(alpha, nominal).

Reads {"cases": [{"name", "raters", "categories", "rows"}]} on stdin, where each row is one
item with one entry per rater (a category index, or null when the rater did not rate it).
Writes {"versions": {...}, "cases": [...]} on stdout; an undefined statistic (NaN, or the
library refusing the data) is null.
"""

import importlib.metadata
import itertools
import json
import math
import sys
import warnings

import krippendorff
import numpy as np
import sklearn
import statsmodels
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa


def finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def percent_agreement(rows):
    fractions = []
    for row in rows:
        vals = [v for v in row if v is not None]
        if len(vals) < 2:
            continue
        pairs = list(itertools.combinations(vals, 2))
        fractions.append(sum(a == b for a, b in pairs) / len(pairs))
    return {"value": (sum(fractions) / len(fractions)) if fractions else None,
            "items": len(fractions)}


def cohen(rows, raters):
    out = []
    for a, b in itertools.combinations(range(raters), 2):
        x = [r[a] for r in rows if r[a] is not None and r[b] is not None]
        y = [r[b] for r in rows if r[a] is not None and r[b] is not None]
        kappa = None
        if x:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kappa = finite(cohen_kappa_score(x, y))
        out.append({"a": a, "b": b, "items": len(x), "kappa": kappa})
    return out


def fleiss(rows, categories):
    counts = {}
    for row in rows:
        m = sum(v is not None for v in row)
        if m >= 2:
            counts[m] = counts.get(m, 0) + 1
    if not counts:
        return {"value": None, "items": 0, "raters": 0}
    # The most common number of ratings; a tie goes to the larger number.
    m = max(counts, key=lambda k: (counts[k], k))
    table = []
    for row in rows:
        vals = [v for v in row if v is not None]
        if len(vals) == m:
            table.append([vals.count(c) for c in range(categories)])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        value = finite(fleiss_kappa(np.array(table)))
    return {"value": value, "items": len(table), "raters": m}


def alpha(rows, raters):
    items = sum(1 for row in rows if sum(v is not None for v in row) >= 2)
    data = np.array([[np.nan if row[r] is None else float(row[r]) for row in rows]
                     for r in range(raters)], dtype=float)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = finite(krippendorff.alpha(reliability_data=data,
                                              level_of_measurement="nominal"))
    except ValueError:
        value = None
    return {"value": value, "items": items}


def main():
    cases = json.load(sys.stdin)["cases"]
    out = []
    for case in cases:
        rows, raters, k = case["rows"], case["raters"], case["categories"]
        out.append({
            "name": case["name"],
            "percent_agreement": percent_agreement(rows),
            "cohen_kappa": cohen(rows, raters),
            "fleiss_kappa": fleiss(rows, k),
            "krippendorff_alpha": alpha(rows, raters),
        })
    versions = {"scikit-learn": sklearn.__version__, "statsmodels": statsmodels.__version__,
                "krippendorff": importlib.metadata.version("krippendorff"),
                "numpy": np.__version__}
    json.dump({"versions": versions, "cases": out}, sys.stdout)


if __name__ == "__main__":
    main()
