"""Parity proofs between the Go pipeline and the Python reference stack.

1. Windows vs the seed: the pipeline's exported amount_{mean,std,count}_{7d,30d,90d}
   equal the seed's build_temporal_features (pandas rolling, run exactly as the
   seed writes it) within 1e-9 relative; counts exactly.
2. Scores vs LightGBM: the exported score (leaves, in Go) equals LightGBM's own
   predict on the same rows within 1e-12.

Usage (make parity runs it):
    python models/parity.py --events testdata/parity/events.csv \
        --features data/parity/features.csv --model models/default
Exit status 1 with a report of the first mismatches on failure.
"""
import argparse
import sys

import numpy as np
import pandas as pd


# --- the seed, as written (seed/000_ff83f58ef00b0b7a.txt, "Temporal Features") ---
def build_temporal_features(df, entity_col, time_col, value_col):
    features = {}
    for window in ['7d', '30d', '90d']:
        rolled = df.set_index(time_col).groupby(entity_col)[value_col].rolling(window)
        features[f'{value_col}_mean_{window}'] = rolled.mean()
        features[f'{value_col}_std_{window}'] = rolled.std()
        features[f'{value_col}_count_{window}'] = rolled.count()
    return pd.DataFrame(features)
# ---------------------------------------------------------------------------------


def windows_parity(events_path, features_path, rel_tol):
    ev = pd.read_csv(events_path, dtype={"transaction_id": str, "card_id": str})
    ev["event_time"] = pd.to_datetime(ev["event_time"], unit="ms")
    ref = build_temporal_features(ev, "card_id", "event_time", "amount")
    # The result is ordered by card, then by the original row order within
    # the card (groupby keeps it); recover the transaction ids in that order.
    order = ev.reset_index().sort_values(["card_id", "index"], kind="stable")
    ref = ref.reset_index(drop=True)
    ref["transaction_id"] = order["transaction_id"].to_numpy()
    got = pd.read_csv(features_path, dtype={"transaction_id": str, "card_id": str})
    m = got.merge(ref, on="transaction_id", suffixes=("", "_seed"), validate="one_to_one")
    if len(m) != len(ev) or len(got) != len(ev):
        return [f"row count: events {len(ev)}, exported {len(got)}, matched {len(m)}"]
    errors, worst = [], 0.0
    for w in ("7d", "30d", "90d"):
        c = f"amount_count_{w}"
        bad = m[m[c] != m[c + "_seed"]]
        for _, r in bad.head(5).iterrows():
            errors.append(f"{r.transaction_id} {c}: go {r[c]} seed {r[c + '_seed']}")
        for stat in ("mean", "std"):
            c = f"amount_{stat}_{w}"
            a, b = m[c].to_numpy(), m[c + "_seed"].to_numpy()
            nan_mismatch = np.isnan(a) != np.isnan(b)
            both = ~np.isnan(a) & ~np.isnan(b)
            denom = np.maximum(np.abs(a), np.abs(b))
            rel = np.zeros_like(a)
            rel[both] = np.where(denom[both] > 0, np.abs(a[both] - b[both]) / np.where(denom[both] > 0, denom[both], 1), 0)
            worst = max(worst, float(rel.max(initial=0)))
            for i in np.flatnonzero(nan_mismatch | (rel > rel_tol))[:5]:
                errors.append(f"{m.transaction_id.iloc[i]} {c}: go {a[i]!r} seed {b[i]!r} (rel {rel[i]:.3g})")
    print(f"windows vs seed: {len(m)} rows, {m.card_id.nunique()} cards, "
          f"max relative difference {worst:.3g} (tolerance {rel_tol:g}), {len(errors)} mismatches")
    return errors


def score_parity(features_path, model_dir, abs_tol):
    import json
    import lightgbm as lgb
    bundle = json.load(open(f"{model_dir}/bundle.json"))
    names = [f["name"] for f in bundle["features"]]
    got = pd.read_csv(features_path, dtype={"transaction_id": str, "card_id": str})
    if "score" not in got:
        return ["features CSV has no score column: export with --model"]
    booster = lgb.Booster(model_file=f"{model_dir}/model.txt")
    X = got[names].to_numpy(dtype=np.float64)
    pred = booster.predict(X)
    diff = np.abs(pred - got["score"].to_numpy())
    print(f"scores vs LightGBM {lgb.__version__}: {len(got)} rows, max |leaves − LightGBM| = {diff.max():.3g} (tolerance {abs_tol:g})")
    return [f"{got.transaction_id.iloc[i]}: leaves {got.score.iloc[i]!r} lightgbm {pred[i]!r}"
            for i in np.flatnonzero(diff > abs_tol)[:5]]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", required=True)
    p.add_argument("--features", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--rel-tol", type=float, default=1e-9)
    p.add_argument("--score-tol", type=float, default=1e-12)
    a = p.parse_args()
    print(f"pandas {pd.__version__}, numpy {np.__version__}")
    errors = windows_parity(a.events, a.features, a.rel_tol) + score_parity(a.features, a.model, a.score_tol)
    for e in errors:
        print("MISMATCH", e)
    if errors:
        sys.exit(1)
    print("parity: OK")


if __name__ == "__main__":
    main()
