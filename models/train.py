#!/usr/bin/env python3
"""Train a fraudstream model bundle from a features CSV exported by the pipeline.

    python models/train.py --input features.csv --output-dir models/default \
        --name default --version default-2026-11-27.1

The input is the pipeline's point-in-time feature export (`fraudstream features`):
columns transaction_id, card_id, event_time (epoch ms), the 22 features of feature
set "fs1" in order (empty cell = NaN), is_fraud (0/1), label_time (epoch ms, may be
empty). Because the same Go code computes these features online and for the
export, training and serving see the same values (no training-serving skew).

What it does, in order:
  1. sorts rows by (event_time, transaction_id) and splits them by time into
     train / validation / test (60/20/20 by default) - never at random, since a
     random split leaks the future into training and flatters every metric;
  2. trains LightGBM (binary, deterministic, one thread) with early stopping on
     validation PR-AUC, a logistic-regression baseline (median imputation with
     missing indicators + scaling) and a rules baseline;
  3. picks each model's threshold on validation: the highest recall with
     precision >= --target-precision (over at least --min-flagged flagged rows),
     else the threshold that declines --decline-rate of transactions;
  4. measures all three on the test period and prints a table;
  5. writes the bundle: model.txt (LightGBM text model) and bundle.json (see
     models/doc.go for every field), including drift baselines and golden rows
     scored by LightGBM itself, which the Go loader re-scores to prove parity.

Reproducible: the same CSV and the pinned models/requirements.txt give a
byte-identical model.txt and a bundle.json that differs only in created_at (fix
that too with --created-at or SOURCE_DATE_EPOCH).
"""

import os

# One BLAS/OpenMP thread: reproducible floating-point sums, on any machine.
# Set before numpy/scikit-learn/LightGBM load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

BUNDLE_FORMAT = "fraudstream.model-bundle/1"

# Feature set "fs1": order is part of the contract with the Go pipeline
# (operators/features builds exactly this []float64). Never reorder; add a new
# feature set instead.
FEATURE_SETS = {
    "fs1": [
        "amount_mean_7d", "amount_std_7d", "amount_count_7d",
        "amount_mean_30d", "amount_std_30d", "amount_count_30d",
        "amount_mean_90d", "amount_std_90d", "amount_count_90d",
        "amount", "amount_count_1h", "amount_to_mean_30d",
        "amount_zscore_90d", "seconds_since_prev", "count_ratio_7d_90d",
        "merchant_new", "distance_from_prev_km", "speed_from_prev_kmh",
        "country_changed", "mcc", "channel_code", "hour_of_day",
    ],
}
ID_COLUMNS = ["transaction_id", "card_id", "event_time"]
LABEL_COLUMNS = ["is_fraud", "label_time"]

# LightGBM 3.3.5 is the newest release whose text model (version=v3) leaves can
# read; 4.x writes version=v4, which leaves refuses. See models/README.md.
SUPPORTED_LIGHTGBM = "3.3.5"

HIST_BINS = 10
METRIC_DIGITS = 6  # metrics are rounded so tiny BLAS differences never show


class InputError(Exception):
    """A problem with the input CSV or the arguments, reported without a traceback."""


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Train a fraudstream model bundle (LightGBM + baselines) from a features CSV.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", required=True, help="features CSV exported by the pipeline (.csv or .csv.gz)")
    p.add_argument("--output-dir", required=True, help="bundle directory to write (created if absent)")
    p.add_argument("--name", default="default", help="bundle name")
    p.add_argument("--version", default=None,
                   help="bundle version string; default NAME-YYYY-MM-DD.1 from created_at")
    p.add_argument("--created-at", default=None,
                   help="RFC 3339 creation time; default $SOURCE_DATE_EPOCH if set, else now (UTC)")
    p.add_argument("--note", default="",
                   help="free text stored as training_data.note (e.g. where the export came from)")
    p.add_argument("--feature-set", default="fs1", choices=sorted(FEATURE_SETS))
    p.add_argument("--split", default="0.6,0.2,0.2",
                   help="train,validation,test shares of rows in event_time order")
    p.add_argument("--labels-as-of", default=None,
                   help="count a fraud label only if label_time <= this (epoch ms or RFC 3339): "
                        "train as if at that moment; rows with is_fraud=1 and no label_time count")
    # Defaults sized for the scoring budget: leaves spends ~10 ns per split
    # decision, so 50 trees of depth <= 4 cost <= 200 decisions (~1-2 µs) per
    # transaction. On the dev data, unconstrained trees (90 x 31 leaves, ~650
    # decisions, ~9 µs) gained 0.004 PR-AUC.
    p.add_argument("--num-trees", type=int, default=50, help="maximum boosting rounds")
    p.add_argument("--num-leaves", type=int, default=15)
    p.add_argument("--max-depth", type=int, default=4,
                   help="cap on tree depth (-1 = none); scoring cost grows with the decisions per row")
    p.add_argument("--learning-rate", type=float, default=0.2)
    p.add_argument("--min-data-in-leaf", type=int, default=100)
    p.add_argument("--max-delta-step", type=float, default=2.0,
                   help="cap on a leaf's raw output before shrinkage (0 = none): with rare frauds, "
                        "pure leaves have tiny hessians and otherwise get outputs of 50+, which "
                        "saturate scores at exactly 1.0 and destroy their ranking")
    p.add_argument("--min-sum-hessian-in-leaf", type=float, default=1e-3)
    p.add_argument("--early-stopping-rounds", type=int, default=20,
                   help="stop when validation PR-AUC has not improved for this many rounds (0 = off)")
    p.add_argument("--pos-weight", default="sqrt",
                   help="class-imbalance weight of fraud rows: 'balanced' (neg/pos), 'sqrt' "
                        "(sqrt(neg/pos)) or a number")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--target-precision", type=float, default=0.90)
    p.add_argument("--min-flagged", type=int, default=20,
                   help="a validation precision counts only over at least this many flagged rows")
    p.add_argument("--decline-rate", type=float, default=0.01,
                   help="fallback: share of validation transactions to flag")
    p.add_argument("--review-rate", type=float, default=0.02,
                   help="review band: share of validation transactions at or above its lower edge "
                        "(0 = no review band)")
    p.add_argument("--exploration-epsilon", type=float, default=0.05,
                   help="share of flagged transactions let through to learn their outcome")
    p.add_argument("--golden-rows", type=int, default=50)
    p.add_argument("--allow-unpinned", action="store_true",
                   help=f"train with a LightGBM other than {SUPPORTED_LIGHTGBM} (parity unverified)")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------
# Input


def created_at_from(args):
    if args.created_at:
        try:
            t = dt.datetime.fromisoformat(args.created_at.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"--created-at {args.created_at!r} is not RFC 3339 (e.g. 2026-11-27T00:00:00Z)")
        if t.tzinfo is None:
            raise InputError(f"--created-at {args.created_at!r} has no time zone; add Z or +01:00")
    elif os.environ.get("SOURCE_DATE_EPOCH"):
        t = dt.datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), dt.timezone.utc)
    else:
        t = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return t.astimezone(dt.timezone.utc)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t.microsecond == 0 else t.isoformat().replace("+00:00", "Z")


def ms_to_rfc3339(ms):
    """Epoch milliseconds as RFC 3339 UTC with millisecond precision (exact, no float)."""
    ms = int(ms)
    t = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def parse_time_ms(s, what):
    try:
        return int(s)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} {s!r} is neither epoch milliseconds nor RFC 3339")
    if t.tzinfo is None:
        raise InputError(f"{what} {s!r} has no time zone; add Z or +01:00")
    return int(t.timestamp() * 1000)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_features_csv(path, features):
    want = ID_COLUMNS + features + LABEL_COLUMNS
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: cannot read CSV header: {e}")
    if header != want:
        missing = [c for c in want if c not in header]
        extra = [c for c in header if c not in want]
        moved = [f"{c} (column {header.index(c) + 1}, expected {want.index(c) + 1})"
                 for c in want if c in header and header.index(c) != want.index(c)]
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(extra))
        if moved and not (missing or extra):
            parts.append("out of order " + ", ".join(moved))
        raise InputError(f"{path}: header does not match the feature export format: {'; '.join(parts)}. "
                         f"Export it again with the pipeline's features command for this feature set.")
    dtypes = {"transaction_id": str, "card_id": str}
    dtypes.update({c: "float64" for c in features + ["event_time", "label_time", "is_fraud"]})
    df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    if len(df) == 0:
        raise InputError(f"{path}: no rows")
    for c in ("transaction_id", "card_id", "event_time", "is_fraud"):
        bad = df[c].isna()
        if bad.any():
            raise InputError(f"{path}: column {c} is empty in {int(bad.sum())} rows "
                             f"(first: data row {int(np.flatnonzero(bad)[0]) + 1})")
    if not df.is_fraud.isin([0.0, 1.0]).all():
        bad = int(np.flatnonzero(~df.is_fraud.isin([0.0, 1.0]))[0])
        raise InputError(f"{path}: is_fraud must be 0 or 1; data row {bad + 1} has {df.is_fraud.iloc[bad]!r}")
    if df.transaction_id.duplicated().any():
        dup = df.transaction_id[df.transaction_id.duplicated()].iloc[0]
        raise InputError(f"{path}: transaction_id {dup!r} appears more than once; export each transaction once")
    df["event_time"] = df.event_time.astype("int64")
    df["is_fraud"] = df.is_fraud.astype("int64")
    return df


def time_split(df, shares):
    """Row-count shares in (event_time, transaction_id) order; all rows with the
    same event_time fall into the same split (cuts move forward past ties)."""
    n = len(df)
    t = df.event_time.to_numpy()
    cuts = []
    acc = 0.0
    for s in shares[:-1]:
        acc += s
        i = min(int(math.floor(acc * n)), n)
        while 0 < i < n and t[i] == t[i - 1]:
            i += 1
        cuts.append(i)
    bounds = [0] + cuts + [n]
    return [df.iloc[bounds[k]:bounds[k + 1]] for k in range(len(shares))]


# ----------------------------------------------------------------------------
# Models


def pos_weight(arg, y):
    pos = int(y.sum())
    neg = int(len(y) - pos)
    if arg == "balanced":
        return neg / pos
    if arg == "sqrt":
        return math.sqrt(neg / pos)
    try:
        return float(arg)
    except ValueError:
        raise InputError(f"--pos-weight {arg!r}: use balanced, sqrt or a number")


def lgb_params(args, spw):
    return {
        "objective": "binary",
        "metric": ["average_precision", "auc"],
        "first_metric_only": True,
        "boosting": "gbdt",
        "num_leaves": args.num_leaves,
        "max_depth": args.max_depth,
        "learning_rate": args.learning_rate,
        "min_data_in_leaf": args.min_data_in_leaf,
        "lambda_l2": 1.0,
        "max_delta_step": args.max_delta_step,
        "min_sum_hessian_in_leaf": args.min_sum_hessian_in_leaf,
        "feature_fraction": 0.9,
        "max_bin": 255,
        "scale_pos_weight": spw,
        # NaN is "missing" (not zero); LightGBM learns a default direction per split.
        "use_missing": True,
        "zero_as_missing": False,
        # Reproducibility: same data + same version => byte-identical model.txt.
        "seed": args.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }


def train_lightgbm(args, Xtr, ytr, Xva, yva, features, spw):
    params = lgb_params(args, spw)
    dtrain = lgb.Dataset(Xtr, label=ytr, feature_name=features, free_raw_data=False)
    dvalid = lgb.Dataset(Xva, label=yva, reference=dtrain, free_raw_data=False)
    # A callback list that is never empty also keeps LightGBM 3.3.5 from printing every round.
    curve = {}
    callbacks = [lgb.record_evaluation(curve)]
    if args.early_stopping_rounds > 0:
        callbacks.append(lgb.early_stopping(args.early_stopping_rounds, first_metric_only=True, verbose=False))
    booster = lgb.train(params, dtrain, num_boost_round=args.num_trees, valid_sets=[dvalid],
                        valid_names=["validation"], callbacks=callbacks)
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
    return booster, best, params


def train_logistic(args, Xtr, ytr):
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=2000, solver="lbfgs", random_state=args.seed),
    )
    model.fit(finite_or_nan(Xtr), ytr)
    return model


def finite_or_nan(X):
    """Logistic regression cannot take ±Inf (e.g. a ratio over a zero mean): treat it as missing."""
    X = np.array(X, dtype=np.float64, copy=True)
    X[~np.isfinite(X)] = np.nan
    return X


def rules_score(X, features):
    """The rules baseline: flag if amount > 3 × amount_mean_30d or amount_count_1h >= 5.
    Comparisons with NaN are false, so a card with no history is flagged only by velocity."""
    amount = X[:, features.index("amount")]
    mean30 = X[:, features.index("amount_mean_30d")]
    count1h = X[:, features.index("amount_count_1h")]
    with np.errstate(invalid="ignore"):
        return ((amount > 3.0 * mean30) | (count1h >= 5)).astype(np.float64)


# ----------------------------------------------------------------------------
# Thresholds and metrics


def choose_threshold(scores, y, target_precision, min_flagged, decline_rate):
    """Threshold t (score >= t => flagged) chosen on validation.

    Rule 1: the highest recall whose precision is >= target_precision, over at
    least min_flagged flagged rows; among equal recalls the highest threshold.
    Rule 2 (when no threshold meets rule 1): flag the top decline_rate share.
    """
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    yy = y[order]
    tp = np.cumsum(yy)
    n_flag = np.arange(1, len(s) + 1)
    # Only cut between distinct scores: every row with score >= t is flagged.
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    total_pos = max(int(y.sum()), 1)
    ok = last_of_tie & (n_flag >= min_flagged) & (tp / n_flag >= target_precision)
    if ok.any():
        idx = np.flatnonzero(ok)
        best = idx[np.argmax(tp[idx])]  # first (highest threshold) among max recall
        thr = float(s[best])
        rule = (f"highest validation recall with precision >= {target_precision:g} "
                f"(over >= {min_flagged} flagged rows): recall {tp[best] / total_pos:.4f}, "
                f"precision {tp[best] / n_flag[best]:.4f}, {int(n_flag[best])} of {len(s)} flagged")
        return thr, "precision_target", rule
    k = max(int(math.floor(decline_rate * len(s))), 1)
    thr = float(s[k - 1])
    flagged = int((scores >= thr).sum())
    rule = (f"no threshold reached precision >= {target_precision:g} on validation "
            f"(over >= {min_flagged} flagged rows); fallback: decline rate {decline_rate:g} of "
            f"validation transactions ({flagged} of {len(s)} flagged, "
            f"recall {tp[flagged - 1] / total_pos:.4f}, precision {tp[flagged - 1] / flagged:.4f})")
    return thr, "decline_rate", rule


def review_band(scores, threshold, review_rate):
    if review_rate <= 0:
        return None, "no review band"
    s = np.sort(scores)[::-1]
    k = max(int(math.floor(review_rate * len(s))), 1)
    lo = float(s[k - 1])
    if lo >= threshold:
        return None, (f"no review band: the top {review_rate:g} of validation scores are all "
                      f">= the threshold")
    return [lo, threshold], (f"[lo, threshold): lo puts the top {review_rate:g} of validation "
                             f"transactions at or above it; scores in the band go to manual review")


def rnd(x):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), METRIC_DIGITS)


def evaluate(name, scores, y, threshold, threshold_rule_kind):
    """Metrics of one model on one split. recall_at_1pct_fpr is the best recall
    among thresholds whose false-positive rate is <= 1% (no interpolation)."""
    flagged = scores >= threshold
    pos = int(y.sum())
    tp = int((flagged & (y == 1)).sum())
    n_flag = int(flagged.sum())
    m = {"model": name, "rows": int(len(y)), "frauds": pos, "threshold": float(threshold),
         "threshold_rule": threshold_rule_kind}
    if pos == 0 or pos == len(y):
        m.update(roc_auc=None, pr_auc=None, recall_at_1pct_fpr=None)
    else:
        fpr, tpr, _ = roc_curve(y, scores)
        m.update(roc_auc=rnd(roc_auc_score(y, scores)),
                 pr_auc=rnd(average_precision_score(y, scores)),
                 recall_at_1pct_fpr=rnd(tpr[fpr <= 0.01].max()))
    m.update(recall_at_threshold=rnd(tp / pos) if pos else None,
             precision_at_threshold=rnd(tp / n_flag) if n_flag else None,
             decline_rate=rnd(n_flag / len(y)))
    return m


# ----------------------------------------------------------------------------
# Drift baselines and golden rows


def histogram(values):
    """Baseline for PSI/KS drift checks, in the format models.Histogram reads:
    edges are [min, inner..., max] of the finite values, inner edges the deduplicated
    deciles (an inner edge equal to the max is dropped). Bin i holds x with
    edges[i] < x <= edges[i+1] for inner edges; x <= edges[1] is bin 0 and
    x > edges[-2] the last bin, so ±Inf and values outside [min, max] fall in the end
    bins. fractions are over all rows, so sum(fractions) + null_fraction == 1."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    null = np.isnan(v)
    present = v[~null]
    finite = present[np.isfinite(present)]
    out = {"rows": int(n), "null_fraction": round(float(null.sum()) / n, 8) if n else 0.0}
    if len(present) == 0:
        out.update(edges=[], fractions=[])
        return out
    if len(finite) == 0:
        finite = np.array([0.0])
    lo, hi = float(finite.min()), float(finite.max())
    qs = np.quantile(finite, np.arange(1, HIST_BINS) / HIST_BINS)
    inner = [float(q) for q in np.unique(qs) if q < hi]
    counts = np.bincount(np.searchsorted(np.array(inner), present, side="left"), minlength=len(inner) + 1)
    out.update(edges=[lo] + inner + [hi], fractions=[round(float(c) / n, 8) for c in counts])
    return out


def mean_decisions(booster, X):
    """Mean number of split decisions per row (summed over trees): what scoring
    one transaction costs in leaves, roughly 10 ns each."""
    if len(X) == 0:
        return 0.0
    depth = []  # per tree: leaf index -> depth
    for tree in booster.dump_model()["tree_info"]:
        d = {}
        stack = [(tree["tree_structure"], 0)]
        while stack:
            node, k = stack.pop()
            if "leaf_index" in node:
                d[node["leaf_index"]] = k
            elif "left_child" in node:
                stack += [(node["left_child"], k + 1), (node["right_child"], k + 1)]
        depth.append(d)
    leaves = booster.predict(X, pred_leaf=True, num_threads=1).reshape(len(X), -1).astype(np.int64)
    total = np.zeros(len(X))
    for t, d in enumerate(depth):
        lookup = np.zeros(max(d, default=0) + 1)
        for leaf, k in d.items():
            lookup[leaf] = k
        total += lookup[leaves[:, t]]
    return float(total.mean())


def json_features(row):
    return [None if math.isnan(x) else float(x) for x in row]


def golden_rows(test, X, scores, k):
    """~k rows of the test period, chosen deterministically: the highest scores, the
    rows with the most missing values, and evenly spaced rows in time order; rows
    with ±Inf are skipped (JSON has no Inf). Two synthetic rows (all NaN, all zero)
    cover the missing-value and zero branches of every split."""
    finite_ok = ~np.isinf(X).any(axis=1)
    idx = np.flatnonzero(finite_ok)
    chosen = []

    def take(cands, m):
        for i in cands:
            if m <= 0:
                break
            if i not in chosen:
                chosen.append(int(i))
                m -= 1

    n_top = k // 5
    n_nan = k // 5
    take(idx[np.argsort(-scores[idx], kind="stable")], n_top)
    nan_count = np.isnan(X[idx]).sum(axis=1)
    take(idx[np.argsort(-nan_count, kind="stable")], n_nan)
    rest = k - 2 - len(chosen)
    if rest > 0 and len(idx):
        take(idx[np.linspace(0, len(idx) - 1, num=min(rest * 2, len(idx))).astype(int)], rest)
    chosen.sort()
    rows = [{"transaction_id": str(test.transaction_id.iloc[i]), "features": json_features(X[i]),
             "score": float(scores[i])} for i in chosen]
    return rows


# ----------------------------------------------------------------------------


def main(argv):
    args = parse_args(argv)
    if lgb.__version__ != SUPPORTED_LIGHTGBM and not args.allow_unpinned:
        raise InputError(f"LightGBM {lgb.__version__} is installed, but bundles must be trained with "
                         f"{SUPPORTED_LIGHTGBM} (the newest version whose model.txt leaves reads "
                         f"correctly). Install models/requirements.txt into a venv.")
    features = FEATURE_SETS[args.feature_set]
    created_at = created_at_from(args)
    version = args.version or f"{args.name}-{created_at:%Y-%m-%d}.1"
    try:
        shares = [float(x) for x in args.split.split(",")]
    except ValueError:
        raise InputError(f"--split {args.split!r}: want three shares such as 0.6,0.2,0.2")
    if len(shares) != 3 or min(shares) <= 0 or abs(sum(shares) - 1) > 1e-9:
        raise InputError(f"--split {args.split!r}: want three positive shares that add up to 1")
    if not 0 <= args.exploration_epsilon < 1:
        raise InputError(f"--exploration-epsilon {args.exploration_epsilon}: must be in [0, 1)")

    df = read_features_csv(args.input, features)
    df = df.sort_values(["event_time", "transaction_id"], kind="stable").reset_index(drop=True)
    label_note = "is_fraud as exported"
    if args.labels_as_of:
        as_of = parse_time_ms(args.labels_as_of, "--labels-as-of")
        late = (df.is_fraud == 1) & df.label_time.notna() & (df.label_time > as_of)
        df.loc[late, "is_fraud"] = 0
        label_note = (f"fraud labels known by {ms_to_rfc3339(as_of)} ({int(late.sum())} later labels "
                      f"ignored)")

    train, valid, test = time_split(df, shares)
    for name, part in (("train", train), ("validation", valid), ("test", test)):
        if len(part) == 0 or part.is_fraud.sum() == 0:
            raise InputError(f"{args.input}: the {name} period has {len(part)} rows and "
                             f"{int(part.is_fraud.sum()) if len(part) else 0} frauds; "
                             f"every period needs frauds - export a longer time range")

    def xy(part):
        return part[features].to_numpy(dtype=np.float64), part.is_fraud.to_numpy(dtype=np.int64)

    Xtr, ytr = xy(train)
    Xva, yva = xy(valid)
    Xte, yte = xy(test)

    spw = pos_weight(args.pos_weight, ytr)
    booster, best_iter, params = train_lightgbm(args, Xtr, ytr, Xva, yva, features, spw)

    os.makedirs(args.output_dir, exist_ok=True)
    model_path = os.path.join(args.output_dir, "model.txt")
    booster.save_model(model_path, num_iteration=best_iter)
    # Score with the model as written, which is what leaves will load.
    saved = lgb.Booster(model_file=model_path)

    def lgb_score(X):
        return saved.predict(X, raw_score=False, num_threads=1)

    logreg = train_logistic(args, Xtr, ytr)

    def lr_score(X):
        return logreg.predict_proba(finite_or_nan(X))[:, 1]

    scorers = [("lightgbm", lgb_score),
               ("logistic_regression", lr_score),
               ("rules", lambda X: rules_score(X, features))]
    valid_metrics, test_metrics = [], []
    chosen = {}
    for name, fn in scorers:
        sv, st = fn(Xva), fn(Xte)
        if name == "rules":
            thr, kind, rule = 1.0, "fixed", "rules fire (score 1) => flagged"
        else:
            thr, kind, rule = choose_threshold(sv, yva, args.target_precision, args.min_flagged,
                                               args.decline_rate)
        chosen[name] = (thr, kind, rule, sv, st)
        valid_metrics.append(evaluate(name, sv, yva, thr, kind))
        test_metrics.append(evaluate(name, st, yte, thr, kind))

    threshold, thr_kind, thr_rule, s_valid, s_test = chosen["lightgbm"]
    band, band_rule = review_band(s_valid, threshold, args.review_rate)

    def period(part):
        return {"from": ms_to_rfc3339(part.event_time.iloc[0]), "to": ms_to_rfc3339(part.event_time.iloc[-1]),
                "rows": int(len(part)), "frauds": int(part.is_fraud.sum())}

    bundle = {
        "format": BUNDLE_FORMAT,
        "name": args.name,
        "version": version,
        "created_at": rfc3339(created_at),
        "feature_set": args.feature_set,
        "features": [{"name": f, "type": "float"} for f in features],
        "objective": "binary",
        "score": "sigmoid of the summed tree outputs (LightGBM binary); not calibrated "
                 f"when scale_pos_weight != 1 (here {spw:.6g})",
        "threshold": threshold,
        "threshold_rule": thr_rule,
        "threshold_rule_kind": thr_kind,
        "review_band": band,
        "review_band_rule": band_rule,
        "exploration_epsilon": args.exploration_epsilon,
        "model": {
            "file": "model.txt",
            "sha256": sha256_file(model_path),
            "library": "lightgbm",
            "trees": int(saved.num_trees()),
            "mean_decisions_per_row": round(mean_decisions(saved, Xte), 2),
            "best_iteration": int(best_iter),
            "params": params,
        },
        "training_data": {
            "input": os.path.basename(args.input),
            "input_sha256": sha256_file(args.input),
            "rows": int(len(df)),
            "note": args.note,
            "labels": label_note,
            "split": "by event_time: " + args.split,
            "train": period(train),
            "validation": period(valid),
            "test": period(test),
        },
        "metrics": {"test": test_metrics, "validation": valid_metrics},
        "baseline": {
            "bins": HIST_BINS,
            "bin_rule": "edges = [min, deduplicated inner deciles..., max] of finite values; "
                        "bin = number of inner edges < x (bin 0: x <= edges[1]); NaN counts "
                        "in null_fraction; fractions + null_fraction = 1",
            "features_source": "train",
            "features": [dict(name=f, **histogram(Xtr[:, j])) for j, f in enumerate(features)],
            "score_source": "test (out-of-sample, the period nearest to serving; train scores are "
                            "optimistic)",
            "score": histogram(s_test),
        },
        "environment": {
            "python": ".".join(platform.python_version_tuple()[:2]),
            "lightgbm": lgb.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "golden": None,
    }
    golden = golden_rows(test, Xte, s_test, args.golden_rows)
    edge = np.array([[np.nan] * len(features), [0.0] * len(features)])
    for row, score in zip(edge, lgb_score(edge)):
        golden.append({"transaction_id": "", "features": json_features(row), "score": float(score)})
    bundle["golden"] = golden

    with open(os.path.join(args.output_dir, "bundle.json"), "w") as f:
        json.dump(bundle, f, indent=2, allow_nan=False)
        f.write("\n")

    print_table(args, bundle, test_metrics)
    return 0


def print_table(args, bundle, rows):
    td = bundle["training_data"]
    print(f"bundle {args.output_dir}: {bundle['name']} {bundle['version']}, "
          f"{bundle['model']['trees']} trees, threshold {bundle['threshold']:.6g}")
    print(f"  threshold rule: {bundle['threshold_rule']}")
    print(f"  train {td['train']['from']} .. {td['train']['to']} ({td['train']['rows']} rows, "
          f"{td['train']['frauds']} frauds)")
    print(f"  test  {td['test']['from']} .. {td['test']['to']} ({td['test']['rows']} rows, "
          f"{td['test']['frauds']} frauds)")
    cols = ["roc_auc", "pr_auc", "recall_at_threshold", "precision_at_threshold", "decline_rate",
            "recall_at_1pct_fpr"]
    heads = ["ROC-AUC", "PR-AUC", "recall@thr", "precision@thr", "decline", "recall@1%FPR"]
    print(f"  {'test metrics':<20}" + "".join(f"{h:>14}" for h in heads))
    for r in rows:
        print(f"  {r['model']:<20}" + "".join(
            f"{'-' if r[c] is None else format(r[c], '.4f'):>14}" for c in cols))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        print(f"train.py: {e}", file=sys.stderr)
        sys.exit(2)
