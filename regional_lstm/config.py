"""One typed experiment config, read from YAML with SYMFLUENCE key names.

Every problem in a config becomes one `ConfigError` whose single line names the file and the key,
so the CLI can print it as is. After loading, every path is absolute (Ray workers run elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from regional_lstm.basin_ids import check_basin_id
from regional_lstm.config_periods import Period
from regional_lstm.config_types import (
    SEARCH,
    TUNABLE,
    VALUE,
    AbsolutePath,
    Names,
    NonEmptyNames,
    Number,
    PositiveInt,
    Seeds,
    StoreAddress,
    as_list,
    basin_ids_or_file,
    model_reference,
    tracking_uri,
    tunable,
    unique,
)
from regional_lstm.errors import ConfigError
from regional_lstm.locations import (
    Location,
    location,
    redact,
    redact_passwords,
    without_redacted,
)
from regional_lstm.registry import (
    CONCEPTUAL_MODELS,
    INGEST_ADAPTERS,
    LR_SCHEDULES,
    MODEL_KINDS,
    MODELS,
)
from regional_lstm.yaml_model import read_mapping, validate

__all__ = ["TUNABLE_KEYS", "Config", "Period", "load_config"]


class DataSource(BaseModel):
    """How `regional-lstm run` builds DATA_STORE when it does not exist yet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal[("synthetic", *INGEST_ADAPTERS)]
    path: AbsolutePath | None = None
    basins_file: AbsolutePath | None = None
    forcing: StrictStr | None = None
    mapping: AbsolutePath | None = None
    basins: PositiveInt = 20
    years: PositiveInt = 10
    seed: Annotated[StrictInt, Field(ge=0)] = 0
    gaps: Annotated[Number, Field(ge=0, lt=1)] = 0.0

    @model_validator(mode="after")
    def _path_for_real_data(self) -> DataSource:
        if self.kind != "synthetic" and self.path is None:
            raise ValueError(f"kind '{self.kind}' needs 'path', the dataset's folder")
        return self


class Config(BaseModel):
    """An experiment: data, periods, model, tuning and tracking settings, keyed as in the YAML.

    A tunable key given as a list is a search space; `validate_for_training` refuses those.
    Equality also compares the file the config came from.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    DOMAIN_NAME: StrictStr
    # LSTM, or a conceptual model (EXPHYDRO) run with given parameters by `regional-lstm simulate`
    HYDROLOGICAL_MODEL: Literal[MODEL_KINDS] = "LSTM"
    # Store variables of a conceptual model's physical inputs, by role (precipitation,
    # temperature, pet, day_length); a list is averaged (e.g. [tmin, tmax]). Unnamed roles are
    # looked up by their usual names (regional_lstm.data.physical).
    PHYSICAL_INPUTS: dict[StrictStr, StrictStr | NonEmptyNames] = {}
    # A conceptual model's parameters come from a network of LSTM_HIDDEN_SIZE on the attributes,
    # in this many parallel sets whose streamflow is averaged (delta-HBV uses 16); the
    # parameters named in CONCEPTUAL_DYNAMIC_PARAMETERS vary by day, from an LSTM.
    CONCEPTUAL_PARAMETER_SETS: PositiveInt = 16
    CONCEPTUAL_DYNAMIC_PARAMETERS: Names = []

    LSTM_HIDDEN_SIZE: tunable(PositiveInt) = 128
    LSTM_NUM_LAYERS: tunable(PositiveInt) = 3
    LSTM_LOOKBACK: tunable(PositiveInt) = 700
    LSTM_DROPOUT: tunable(Annotated[Number, Field(ge=0, lt=1)]) = 0.2
    LSTM_EPOCHS: tunable(PositiveInt) = 300
    LSTM_BATCH_SIZE: tunable(PositiveInt) = 64  # per worker: a DDP step sees x RAY_NUM_WORKERS
    LSTM_LEARNING_RATE: tunable(Annotated[Number, Field(gt=0)]) = 0.001
    # constant, or cosine: annealed over LSTM_EPOCHS to 1 % of LSTM_LEARNING_RATE
    LSTM_LEARNING_RATE_SCHEDULE: tunable(Literal[tuple(LR_SCHEDULES)]) = "constant"
    LSTM_LEARNING_PATIENCE: tunable(PositiveInt) = 30
    LSTM_L2_REGULARIZATION: tunable(Annotated[Number, Field(ge=0)]) = 1e-6
    LSTM_USE_ATTENTION: tunable(StrictBool) = True
    LSTM_USE_SNOW: tunable(StrictBool) = False
    LSTM_STATIC_CONDITIONING: tunable(Literal[tuple(MODELS)]) = "concat"
    LSTM_STATIC_EMBEDDING: PositiveInt | None = None
    LSTM_LOSS: Literal["nse", "mse"] = "nse"
    LSTM_GRADIENT_CLIP: Annotated[Number, Field(gt=0)] = 1.0
    LSTM_MIXED_PRECISION: Literal["bf16", "fp16", "none"] = "none"  # autocast dtype; fp16: GPU
    LSTM_SAMPLES_PER_EPOCH: PositiveInt | None = None
    LSTM_PREDICT_LAST_N: PositiveInt = 1  # days supervised at the end of each training window
    # Past streamflow readings as inputs (Nearing et al. 2022): lags in days, e.g. [1]; each adds
    # the reading and a missing flag. Training hides them in this fraction of its windows.
    LSTM_LAGGED_STREAMFLOW: Annotated[
        list[Annotated[StrictInt, Field(ge=1)]], AfterValidator(unique)
    ] = []
    LSTM_LAGGED_STREAMFLOW_DROPOUT: Annotated[Number, Field(ge=0, lt=1)] = 0.5
    # Early stopping scores a seeded sample of this many training basins (default: all of them).
    LSTM_VALIDATION_BASINS: PositiveInt | None = None

    LSTM_LOAD: StrictBool = False
    LSTM_PRETRAINED_MODEL: Annotated[StrictStr | None, BeforeValidator(model_reference)] = None
    LSTM_FINETUNE: StrictBool = False
    LSTM_FREEZE: Names = []
    LSTM_ENSEMBLE_SIZE: PositiveInt = 1
    LSTM_ENSEMBLE_SEEDS: Seeds | None = None
    LSTM_ENSEMBLE_STATISTIC: Literal["mean", "median"] = "mean"
    LSTM_MC_DROPOUT_PASSES: Annotated[StrictInt, Field(ge=0)] = 0
    EVALUATION_MODE: Literal["exact", "stateful"] = "exact"
    PUB_FOLDS: Annotated[StrictInt, Field(ge=2)] = 5
    PUB_STRATIFY: StrictStr | None = None
    LSTM_SAVE_MODEL: StrictBool = False
    LSTM_SPATIAL_MODE: Literal["lumped", "semi_distributed", "distributed"] = "lumped"
    LSTM_TRAIN_THROUGH_ROUTING: StrictBool = False

    CALIBRATION_PERIOD: Period
    VALIDATION_PERIOD: Period
    EARLY_STOPPING_PERIOD: Period | None = None

    OPTIMIZATION_ALGORITHM: Literal["RandomSearch", "GridSearch"] = "RandomSearch"
    OPTIMIZATION_METRIC: Literal["KGE", "NSE"] = "KGE"
    OPTIMIZATION_MAX_ITERATIONS: PositiveInt = 20
    OPTIMIZATION_EARLY_STOPPING: StrictBool | None = None

    DATA_STORE: StoreAddress
    # fsspec storage options for a DATA_STORE URL (endpoint_url, profile, key/secret, ...);
    # secret-looking keys are redacted wherever the config is shown, logged or saved.
    STORAGE_OPTIONS: Annotated[dict[StrictStr, JsonValue], BeforeValidator(without_redacted)] = {}
    DATA_SOURCE: DataSource | None = None
    # Unquoted ids such as 01022500 are read by YAML as (octal) numbers: quote them.
    BASINS: Annotated[list[str] | Path | None, BeforeValidator(basin_ids_or_file)] = None
    DYNAMIC_INPUTS: NonEmptyNames
    STATIC_ATTRIBUTES: Names = []
    TARGETS: NonEmptyNames = ["streamflow"]
    SWE_LOSS_WEIGHT: Annotated[Number, Field(ge=0)] = 1.0
    PROJECT_DIR: AbsolutePath
    RAY_ADDRESS: StrictStr | None = None
    RAY_NUM_WORKERS: PositiveInt = 2
    RAY_USE_GPU: StrictBool = False
    # Restarts of the worker group from its last checkpoint after a worker or node dies; None:
    # 2 on a cluster (RAY_ADDRESS), 0 on the embedded local Ray, where a dead worker is a bug
    # or a full machine that a retry would hide.
    RAY_MAX_FAILURES: Annotated[StrictInt, Field(ge=0)] | None = None
    MLFLOW_TRACKING_URI: Annotated[StrictStr | None, BeforeValidator(tracking_uri)] = None
    MLFLOW_EXPERIMENT_NAME: StrictStr | None = None
    MLFLOW_REGISTERED_MODEL: StrictStr | None = None
    SEED: Annotated[StrictInt, Field(ge=0)] = 42

    _source: str = PrivateAttr(default="config")

    @model_validator(mode="after")
    def _check_periods_and_lookback(self) -> Config:
        """Leaks between periods and impossible lookbacks are only visible across keys."""
        pairs = [("CALIBRATION_PERIOD", "VALIDATION_PERIOD")]
        if self.EARLY_STOPPING_PERIOD is not None:
            pairs += [
                ("EARLY_STOPPING_PERIOD", "VALIDATION_PERIOD"),
                ("EARLY_STOPPING_PERIOD", "CALIBRATION_PERIOD"),
            ]
        for first, second in pairs:
            if getattr(self, first).overlaps(getattr(self, second)):
                raise ValueError(
                    f"{first} {getattr(self, first)} overlaps {second} {getattr(self, second)}"
                )
        if self.EARLY_STOPPING_PERIOD is None and self.CALIBRATION_PERIOD.days < 4:
            raise ValueError(
                f"CALIBRATION_PERIOD {self.CALIBRATION_PERIOD} is too short to hold out its last "
                "quarter for early stopping (give EARLY_STOPPING_PERIOD)"
            )
        lookback = max(as_list(self.LSTM_LOOKBACK))
        if lookback > self.CALIBRATION_PERIOD.days:
            raise ValueError(
                f"LSTM_LOOKBACK {lookback} days is longer than CALIBRATION_PERIOD "
                f"{self.CALIBRATION_PERIOD} ({self.CALIBRATION_PERIOD.days} days)"
            )
        if self.LSTM_LAGGED_STREAMFLOW and "streamflow" not in self.TARGETS:
            raise ValueError(
                "LSTM_LAGGED_STREAMFLOW feeds past streamflow readings: TARGETS must include "
                f"streamflow (got {self.TARGETS})"
            )
        if min(as_list(self.LSTM_LOOKBACK)) < self.LSTM_PREDICT_LAST_N:
            raise ValueError(
                f"LSTM_PREDICT_LAST_N {self.LSTM_PREDICT_LAST_N} is longer than the window "
                f"(LSTM_LOOKBACK {min(as_list(self.LSTM_LOOKBACK))})"
            )
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "config") -> Config:
        """Validate `data`, turning pydantic's report into one `ConfigError` that names `source`."""
        config = validate(cls, data, source, ConfigError, tags=(VALUE, SEARCH))
        config._source = source
        return config

    @property
    def train_period(self) -> Period:
        """The days the weights are fitted on: CALIBRATION_PERIOD less any default hold-out."""
        return self._train_and_early_stopping()[0]

    @property
    def early_stopping_period(self) -> Period:
        """EARLY_STOPPING_PERIOD, or else the last quarter of CALIBRATION_PERIOD."""
        return self._train_and_early_stopping()[1]

    def _train_and_early_stopping(self) -> tuple[Period, Period]:
        """Without EARLY_STOPPING_PERIOD, train keeps floor(75 %) of the calibration days."""
        if self.EARLY_STOPPING_PERIOD is not None:
            return self.CALIBRATION_PERIOD, self.EARLY_STOPPING_PERIOD
        return self.CALIBRATION_PERIOD.split(self.CALIBRATION_PERIOD.days * 3 // 4)

    def search_space(self) -> dict[str, list[Any]]:
        """The tunable keys given as lists, in TUNABLE_KEYS order."""
        values = {key: getattr(self, key) for key in TUNABLE_KEYS}
        return {key: list(value) for key, value in values.items() if isinstance(value, list)}

    def is_search(self) -> bool:
        """Whether this config describes a search (any tunable key is a list) rather than a run."""
        return bool(self.search_space())

    def validate_for_training(self) -> None:
        """Refuse what one training run cannot do: search spaces and the unimplemented modes."""
        space = self.search_space()
        if space:
            spaces = ", ".join(f"{key} is a search space {values}" for key, values in space.items())
            them = "it" if len(space) == 1 else "them"
            raise ConfigError(
                f"{self._source}: {spaces}; a training run needs one value "
                f"(use 'regional-lstm tune' to search {them})"
            )
        if self.HYDROLOGICAL_MODEL in CONCEPTUAL_MODELS:
            self._check_conceptual()
        if self.LSTM_SPATIAL_MODE != "lumped":
            raise ConfigError(
                f"{self._source}: LSTM_SPATIAL_MODE '{self.LSTM_SPATIAL_MODE}' is not supported "
                "yet; only 'lumped' is"
            )
        if self.LSTM_TRAIN_THROUGH_ROUTING:
            raise ConfigError(
                f"{self._source}: LSTM_TRAIN_THROUGH_ROUTING: true is not supported yet; "
                "only lumped training without routing is"
            )

    def _check_conceptual(self) -> None:
        """What a conceptual model cannot do: refused by name before any training."""
        kind = CONCEPTUAL_MODELS[self.HYDROLOGICAL_MODEL]
        unknown = sorted(set(self.CONCEPTUAL_DYNAMIC_PARAMETERS) - set(kind.parameter_names))
        if unknown:
            raise ConfigError(
                f"{self._source}: CONCEPTUAL_DYNAMIC_PARAMETERS: {unknown[0]!r} is not a "
                f"{kind.name} parameter ({', '.join(kind.parameter_names)})"
            )
        unsupported = {
            "TARGETS other than [streamflow]": self.TARGETS != ["streamflow"],
            "LSTM_USE_SNOW": self.LSTM_USE_SNOW,
            "LSTM_USE_ATTENTION": self.LSTM_USE_ATTENTION,
            "LSTM_LAGGED_STREAMFLOW": bool(self.LSTM_LAGGED_STREAMFLOW),
        }
        for what, used in unsupported.items():
            if used:
                raise ConfigError(
                    f"{self._source}: {what} is not available with HYDROLOGICAL_MODEL {kind.name}"
                )

    def ensemble_seeds(self) -> list[int]:
        """LSTM_ENSEMBLE_SEEDS, or else LSTM_ENSEMBLE_SIZE seeds counted up from SEED."""
        if self.LSTM_ENSEMBLE_SEEDS is not None:
            return list(self.LSTM_ENSEMBLE_SEEDS)
        return [self.SEED + member for member in range(self.LSTM_ENSEMBLE_SIZE)]

    def basin_ids(self) -> list[str] | None:
        """The BASINS ids, read from the file when BASINS is a path; None means every basin."""
        if not isinstance(self.BASINS, Path):
            return self.BASINS
        try:
            lines = self.BASINS.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            message = f"{self._source}: BASINS: cannot read {self.BASINS} ({reason})"
            raise ConfigError(message) from None
        where = f"{self._source}: BASINS: {self.BASINS}, line"
        basins = [(number, line.split("#")[0].strip()) for number, line in enumerate(lines, 1)]
        return [check_basin_id(b, f"{where} {n}", ConfigError) for n, b in basins if b]

    def to_yaml_dict(self, *, redacted: bool = True) -> dict[str, Any]:
        """Every key as plain YAML/JSON values (paths as str, periods as two ISO dates), with
        the secrets among STORAGE_OPTIONS and URL passwords (an MLflow server's) replaced by a
        marker unless ``redacted`` is False
        (only for a config handed on to run, never for one shown, logged or saved)."""
        data = self.model_dump(mode="json")
        if redacted:
            data["STORAGE_OPTIONS"] = redact(data["STORAGE_OPTIONS"])
            data = {k: redact_passwords(v) if isinstance(v, str) else v for k, v in data.items()}
        return data

    @property
    def store(self) -> Location:
        """DATA_STORE with its storage options."""
        return location(self.DATA_STORE, self.STORAGE_OPTIONS)

    def with_overrides(self, **overrides: Any) -> Config:
        """A validated copy with some keys replaced, e.g. one point of a search space."""
        return Config.from_mapping(dict(self) | overrides, source=self._source)


TUNABLE_KEYS = tuple(key for key, field in Config.model_fields.items() if TUNABLE in field.metadata)


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a YAML config; `overrides` replace keys before validation."""
    data = read_mapping(Path(path), "config", ConfigError)
    return Config.from_mapping(data | dict(overrides or {}), source=str(path))
