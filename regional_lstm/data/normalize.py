"""Standardisation statistics, fitted on the calibration period of the training basins only.

They travel with the model (in its JSON sidecar) so predictions for new basins or periods use
exactly the scaling the weights were trained with, and are never refitted on target basins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from regional_lstm.data.blockmap import moments
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import StoreError
from regional_lstm.logs import shortlist


@dataclass(frozen=True)
class Normalization:
    """Mean and standard deviation per input, attribute and target (by name).

    ``static_min`` / ``static_max`` record the training basins' attribute range, so a transfer
    can say which target basins lie outside what the model has seen (empty in older models).
    """

    dynamic_mean: dict[str, float]
    dynamic_std: dict[str, float]
    static_mean: dict[str, float]
    static_std: dict[str, float]
    target_mean: dict[str, float]
    target_std: dict[str, float]
    static_min: dict[str, float] = field(default_factory=dict)
    static_max: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, float]]) -> Normalization:
        return cls(**{k: {n: float(v) for n, v in d.items()} for k, d in data.items()})

    def scale_dynamic(self, x: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Standardise (..., variable) arrays of dynamic inputs, in place for float32."""
        return _scale(x, names, self.dynamic_mean, self.dynamic_std)

    def scale_static(self, x: np.ndarray, names: Sequence[str]) -> np.ndarray:
        return _scale(x, names, self.static_mean, self.static_std)

    def scale_target(self, y: np.ndarray, names: Sequence[str]) -> np.ndarray:
        return _scale(y, names, self.target_mean, self.target_std)

    def unscale_target(self, y: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Back to physical units (mm/day, mm)."""
        mean = np.array([self.target_mean[n] for n in names], dtype=y.dtype)
        std = np.array([self.target_std[n] for n in names], dtype=y.dtype)
        return y * std + mean


def _scale(x: np.ndarray, names: Sequence[str], means: dict, stds: dict) -> np.ndarray:
    mean = np.array([means[n] for n in names], dtype=x.dtype)
    std = np.array([stds[n] for n in names], dtype=x.dtype)
    x -= mean
    x /= std
    return x


def fit_normalization(
    reader: StoreReader,
    basins: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    dynamic: Sequence[str],
    static: Sequence[str],
    targets: Sequence[str],
    workers: int | None = None,
) -> Normalization:
    """Fit statistics in one streamed pass over blocks of basins (memory: one block per
    process; ``workers`` processes for many basins, see ``blockmap``)."""
    names = [*dynamic, *targets]
    sums = moments(reader, basins, start, end, names, workers)
    return normalization_from_moments(reader, basins, start, end, dynamic, static, targets, sums)


def normalization_from_moments(
    reader: StoreReader,
    basins: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    dynamic: Sequence[str],
    static: Sequence[str],
    targets: Sequence[str],
    sums: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Normalization:
    """The statistics from the sum, sum of squares and count of ``dynamic`` then ``targets``
    over [start, end], and the training basins' attributes."""
    names = [*dynamic, *targets]
    total, squares, count = sums
    for name, n in zip(names, count, strict=True):
        if n < 2:
            raise StoreError(
                f"{reader.path}: {name!r} has no values in {start.date()}..{end.date()}"
            )
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std = np.where(std > 1e-8, std, 1.0)  # a constant input carries no information: leave it at 0
    static_values = reader.read_static(basins, static)
    require_complete_attributes(reader, basins, static, static_values)
    static_mean = static_values.mean(axis=0) if len(static) else np.zeros(0)
    static_std = static_values.std(axis=0) if len(static) else np.zeros(0)
    static_std = np.where(static_std > 1e-8, static_std, 1.0)
    k = len(dynamic)
    return Normalization(
        dynamic_mean=dict(zip(dynamic, mean[:k].tolist(), strict=True)),
        dynamic_std=dict(zip(dynamic, std[:k].tolist(), strict=True)),
        static_mean=dict(zip(static, static_mean.tolist(), strict=True)),
        static_std=dict(zip(static, static_std.tolist(), strict=True)),
        target_mean=dict(zip(targets, mean[k:].tolist(), strict=True)),
        target_std=dict(zip(targets, std[k:].tolist(), strict=True)),
        static_min=dict(
            zip(static, static_values.min(axis=0, initial=np.inf).tolist(), strict=True)
        ),
        static_max=dict(
            zip(static, static_values.max(axis=0, initial=-np.inf).tolist(), strict=True)
        ),
    )


def require_complete_attributes(
    reader: StoreReader,
    basins: Sequence[str],
    names: Sequence[str],
    values: np.ndarray | None = None,
) -> None:
    """A missing attribute would poison every prediction of its basin: refuse the run, naming
    each attribute in ``names`` that some of ``basins`` lack and those basins (in one line).

    ``values``: the attributes already read, (basin, name); else they are read here.
    """
    if values is None:
        values = reader.read_static(basins, names)
    missing = np.isnan(values)
    if not missing.any():
        return
    lacking = []
    for a in np.flatnonzero(missing.any(axis=0)):
        absent = [basins[b] for b in np.flatnonzero(missing[:, a])]
        tables = reader.unusable_values(names[a])
        why = sorted(
            table for table, cells in tables.items() if not cells.keys().isdisjoint(absent)
        )
        reason = f" (not a finite number in {', '.join(why)})" if why else ""
        lacking.append(f"{names[a]!r} for basin(s) {shortlist(absent)}{reason}")
    raise StoreError(
        f"{reader.path}: attributes of STATIC_ATTRIBUTES missing for some basins: "
        f"{'; '.join(lacking)}; drop the attribute(s) from STATIC_ATTRIBUTES or those basins "
        "from the basin list"
    )
