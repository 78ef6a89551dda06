"""Small, real models built from data sets that ship with scikit-learn.

Used by the demo seeder and by tests: nothing is downloaded, every split and
model is deterministic (fixed random state), and each function runs well under
a second. Heavy imports (scikit-learn, skl2onnx, skops) happen on first use.

Note: the *models* and data are deterministic; ``to_skops_bytes`` output is
not byte-for-byte stable between processes (skops names archive members after
object ids), so compare loaded models, not skops bytes.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

RANDOM_STATE = 42
VALID_FRACTION = 0.25


def _split(frame: pd.DataFrame, target: str, *, stratify: bool) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from sklearn.model_selection import train_test_split

    train_df, valid_df = train_test_split(
        frame,
        test_size=VALID_FRACTION,
        random_state=RANDOM_STATE,
        stratify=frame[target] if stratify else None,
    )
    return train_df.reset_index(drop=True), valid_df.reset_index(drop=True), target


def breast_cancer_frames() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train_df, valid_df, "target"): 30 float features, binary target (1 = benign)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return _split(frame, "target", stratify=True)


def diabetes_frames() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train_df, valid_df, "target"): 10 float features, continuous target."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    return _split(frame, "target", stratify=False)


def _features(train_df: pd.DataFrame, target: str, features: Sequence[str] | int | None) -> list[str]:
    all_features = [c for c in train_df.columns if c != target]
    if features is None:
        return all_features
    if isinstance(features, int):
        return all_features[:features]
    missing = [f for f in features if f not in train_df.columns or f == target]
    if missing:
        raise ValueError(f"unknown feature columns: {missing}")
    return list(features)


def train_classifier(
    train_df: pd.DataFrame, target: str, features: Sequence[str] | int | None = None
) -> Any:
    """StandardScaler + LogisticRegression, fitted on a DataFrame (so the
    pipeline has ``feature_names_in_``). ``features`` is a list of column names
    or an int (the first N feature columns); default all but the target."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    cols = _features(train_df, target, features)
    model = Pipeline(
        [("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))]
    )
    model.fit(train_df[cols], train_df[target])
    return model


def train_regressor(
    train_df: pd.DataFrame, target: str, features: Sequence[str] | int | None = None
) -> Any:
    """StandardScaler + Ridge, fitted on a DataFrame."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    cols = _features(train_df, target, features)
    model = Pipeline([("scale", StandardScaler()), ("reg", Ridge(alpha=1.0))])
    model.fit(train_df[cols], train_df[target])
    return model


def to_onnx_bytes(model: Any, n_features: int | None = None) -> bytes:
    """Convert with skl2onnx: one float32 input ``X`` of shape [None, n_features];
    classifiers get ``label`` and ``probabilities`` outputs (no ZipMap)."""
    from sklearn.base import is_classifier
    from skl2onnx import to_onnx

    if n_features is None:
        n_features = int(model.n_features_in_)
    sample = np.zeros((1, n_features), dtype=np.float32)
    options = {"zipmap": False} if is_classifier(model) else None
    onx = to_onnx(model, sample, options=options)
    return onx.SerializeToString()


def to_skops_bytes(model: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(model)


def dataframe_to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV without the index (floats written so they read back exactly)."""
    return df.to_csv(index=False).encode("utf-8")
