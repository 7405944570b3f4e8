#!/usr/bin/env python3
"""Generate testdata/pandas_parity.csv.gz: pandas' rolling aggregates of a
random in-order stream, which TestPandasParity compares bit for bit.

    python3 -m pip install 'pandas==3.1.1'
    python3 operators/windows/testdata/gen_pandas_parity.py

Each card draws its amounts from one regime (cents, heavy 999,999.90..., a few
repeated values, refunds with negative amounts, a wide 0.01..1e9 log-uniform
range that triggers roll_var's numerically_unstable recompute, tiny
amounts). Event times increase per card (exponential gaps, some gaps of 0 so
that several events share a millisecond, some long pauses that empty the
windows); cards are interleaved in arrival order. The aggregates are exactly
the seed's formula:

    df.set_index("event_time").groupby("card_id")["amount"].rolling(w)

Output columns: card, t_ms, amount, then per window count, mean, std. Floats
are written with repr() (shortest round-trip), "nan" for NaN.
"""
import gzip
import os
import sys

import numpy as np
import pandas as pd

WINDOWS = ["1h", "1D", "7D", "30D"]  # must match parityWindows in parity_test.go
SEED = 20260101
CARDS_PER_REGIME = 2
EVENTS_PER_CARD = 150


def amounts(rng, regime, n):
    if regime == "cents":
        return np.round(rng.lognormal(3.5, 1.2, n), 2)
    if regime == "heavy":
        return 999999.90 + rng.integers(0, 11, n) * 0.01
    if regime == "repeat":
        # runs of one value, so windows of identical amounts occur (also
        # after the other values left): calc_mean then returns prev_value,
        # not sum/n (3 × 0.1 sums to 0.30000000000000004)
        out, v = np.empty(n), 0.1
        for i in range(n):
            if rng.random() < 0.15:
                v = float(rng.choice([0.1, 33.33, 10.0, 0.7, 1234.56]))
            out[i] = v
        return out
    if regime == "refund":
        a = np.round(rng.lognormal(3.0, 1.0, n), 2)
        sign = np.where(rng.random(n) < 0.4, -1.0, 1.0)
        # runs of only negative amounts exercise calc_mean's neg_ct rule
        sign[n // 3 : n // 3 + 15] = -1.0
        return a * sign
    if regime == "wide":
        return np.round(10 ** rng.uniform(-2, 9, n), 2)
    if regime == "tiny":
        return rng.uniform(0, 1e-3, n)
    raise ValueError(regime)


def main():
    rng = np.random.default_rng(SEED)
    rows = []  # (arrival_key, card, t_ms, amount)
    regimes = ["cents", "heavy", "repeat", "refund", "wide", "tiny"]
    t0 = 1767225600000  # 2026-01-01T00:00:00Z
    for r, regime in enumerate(regimes):
        for c in range(CARDS_PER_REGIME):
            card = f"{regime}{c}"
            mean_gap = [20 * 60e3, 3 * 3600e3][c % 2]  # dense and sparse cards
            gaps = rng.exponential(mean_gap, EVENTS_PER_CARD)
            gaps[rng.random(EVENTS_PER_CARD) < 0.12] = 0  # same millisecond
            gaps[rng.random(EVENTS_PER_CARD) < 0.03] = 40 * 86400e3  # windows empty
            t = t0 + np.cumsum(np.floor(gaps)).astype(np.int64)
            a = amounts(rng, regime, EVENTS_PER_CARD)
            # arrival keys: time plus jitter that never reorders a card's own events
            keys = t * 10 + rng.integers(0, 10, EVENTS_PER_CARD)
            keys = np.maximum.accumulate(keys)
            for k in range(EVENTS_PER_CARD):
                rows.append((int(keys[k]), r * 100 + c, card, int(t[k]), float(a[k])))
    rows.sort(key=lambda x: (x[0], x[1]))  # stable per card: keys non-decreasing
    df = pd.DataFrame(
        {
            "card_id": [x[2] for x in rows],
            "t_ms": np.array([x[3] for x in rows], dtype=np.int64),
            "amount": np.array([x[4] for x in rows], dtype=np.float64),
        }
    )
    df["event_time"] = pd.to_datetime(df["t_ms"], unit="ms")
    # groupby-rolling returns rows grouped by card (sorted), in arrival order
    # within a card; compute on that order, then map back.
    order = df.sort_values("card_id", kind="stable").index.to_numpy()
    g = df.set_index("event_time").groupby("card_id")["amount"]
    cols = {}
    for w in WINDOWS:
        roll = g.rolling(w)
        for name, res in (("count", roll.count()), ("mean", roll.mean()), ("std", roll.std())):
            out = np.empty(len(df))
            out[order] = res.to_numpy()
            cols[(w, name)] = out

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pandas_parity.csv.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        header = ["card", "t_ms", "amount"] + [f"{n}_{w}" for w in WINDOWS for n in ("count", "mean", "std")]
        lines = [f"# pandas {pd.__version__} numpy {np.__version__}; gen_pandas_parity.py seed {SEED}", ",".join(header)]
        for i in range(len(df)):
            vals = [df.card_id[i], str(df.t_ms[i]), repr(float(df.amount[i]))]
            for w in WINDOWS:
                vals.append(str(int(cols[(w, "count")][i])))
                vals.append(repr(float(cols[(w, "mean")][i])))
                vals.append(repr(float(cols[(w, "std")][i])))
            lines.append(",".join(vals))
        f.write(("\n".join(lines) + "\n").encode())
    print(f"wrote {len(df)} rows to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
