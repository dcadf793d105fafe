"""The synthetic generator's fixed constants, recorded in every store it writes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorConstants:
    """Fixed constants of the generator, recorded in the store attrs for reproducibility."""

    lapse_rate_k_per_km: float = 6.5
    temperature_ar1: float = 0.75
    temperature_anomaly_sd_degc: float = 2.5
    wet_day_gamma_shape: float = 0.75
    snow_threshold_degc: float = 0.5
    melt_threshold_degc: float = 0.0
    et_limit_fraction: float = 0.7
    streamflow_noise_sd: float = 0.05
    median_gap_days: float = 12.0
    swe_record_start_fraction: float = 1 / 3


CONSTANTS = GeneratorConstants()
