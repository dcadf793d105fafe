"""What a worker trains: the plan the driver fixes before training starts."""

from __future__ import annotations

from dataclasses import dataclass

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.sampling import DataSpec
from regional_lstm.locations import Location
from regional_lstm.models import ModelSpec


@dataclass(frozen=True)
class TrainingPlan:
    """Everything a worker needs, fixed by the driver before training starts (picklable)."""

    store: Location  # DATA_STORE with its storage options
    basins: list[str]
    data: DataSpec
    model: ModelSpec
    norm: Normalization
    counts: dict[str, int]  # valid training windows per basin
    target_std: dict[str, tuple[float, ...]]  # per basin, standardised targets' std (NSE*)
    train_period: Period
    early_stopping_period: Period
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int
    loss: str
    loss_weights: tuple[float, ...]
    gradient_clip: float
    samples_per_epoch: int | None
    seed: int
    selection_metric: str = "nse"  # which validation median picks the best epoch: nse or kge
    initial_weights: str | None = None  # a donor's weights (.pt) to fine-tune from
    frozen: tuple[str, ...] = ()  # model parts kept fixed, e.g. ("embedding", "lstm")
    validation_basins: tuple[str, ...] | None = None  # early-stopping sample (None: all basins)
    predict_last_n: int = 1  # days supervised at the end of every window (seq-to-seq when > 1)
    mixed_precision: str = "none"  # autocast dtype of forward and loss: none, bf16 or fp16
    lag_dropout: float = 0.0  # fraction of training windows whose lagged readings are hidden
    lr_schedule: str = "constant"  # learning rate over the epochs: constant or cosine
