"""EXP-HYDRO with torchHydroNodes' calibrated parameters: the toolkit against the published
simulation ``q_bucket`` and against a converged solution of the same equations, 30 basins.

    python benchmarks/exphydro_reference.py [--converged 01022500 ...] [--tolerance 1e-6]

Runs `simulate_with_parameters` (what `regional-lstm simulate` runs) on the 30 CAMELS-US basins
of ../shared/data from 1980-10-01 (where the calibrated S0, S1 apply) to 2010-09-30, and per
basin prints NSE of the toolkit against q_bucket and the observed-flow NSE of toolkit and
q_bucket on 2000-10..2010-09. For the ``--converged`` basins (default: none; scipy takes from
seconds to many minutes a basin) it also solves the same equations with scipy's DOP853 at
``--tolerance`` (forcing interpolated linearly as in the toolkit) and prints that solution's NSE
against q_bucket and against the toolkit.
q_bucket was solved with RK23 at rtol = atol = 1e-3 (SOURCE.txt): how far its own water balance
misses on dry days (no rain or snow the day before and after) is printed too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SOURCE = ROOT.parent / "shared" / "data" / "camels_us_torchhydronodes"

from datasets.exphydro_parameters import exphydro_parameters  # noqa: E402
from regional_lstm.config import Config  # noqa: E402
from regional_lstm.config_periods import Period  # noqa: E402
from regional_lstm.data.ingest import ingest  # noqa: E402
from regional_lstm.data.reader import StoreReader  # noqa: E402
from regional_lstm.evaluation.metrics import nse  # noqa: E402
from regional_lstm.pipeline.conceptual import simulate_with_parameters  # noqa: E402
from regional_lstm.registry import CONCEPTUAL_MODELS  # noqa: E402


def step(x):
    return (np.tanh(5 * x) + 1) / 2


def runoff(s1, row):
    below = step(row.Smax - s1) * row.Qmax * np.exp(np.minimum(-row.f * (row.Smax - s1), 50))
    return step(s1) * (step(s1 - row.Smax) * (row.Qmax + s1 - row.Smax) + below)


def converged(frame: pd.DataFrame, row: pd.Series, tolerance: float) -> np.ndarray:
    """The ODEs solved by DOP853, forcing (each day's Hamon PET among it) linear in time."""
    t = np.arange(len(frame), dtype=float)
    precipitation = frame["prcp(mm/day)"].to_numpy()
    temperature = frame["tmean(c)"].to_numpy()
    hours = frame["dayl(s)"].to_numpy()
    saturation = 0.611 * np.exp(17.3 * temperature / (temperature + 237.3))
    daily_pet = 29.8 * hours * saturation / (temperature + 273.2)

    def rates(time_, stores):
        s0, s1 = stores
        p, temp, pet = (np.interp(time_, t, v) for v in (precipitation, temperature, daily_pet))
        melt = step(temp - row.Tmax) * step(s0) * min(s0, row.Df * (temp - row.Tmax))
        et = step(s1) * (step(s1 - row.Smax) + step(row.Smax - s1) * s1 / row.Smax) * pet
        rain = step(temp - row.Tmin) * p
        return [step(row.Tmin - temp) * p - melt, rain + melt - et - runoff(s1, row)]

    solution = solve_ivp(
        rates,
        (0, t[-1]),
        [row.S0, row.S1],
        t_eval=t,
        method="DOP853",
        rtol=tolerance,
        atol=tolerance,
    )
    return runoff(solution.y[1], row)


def reference_run(basin: str) -> pd.DataFrame:
    return pd.concat(
        pd.read_csv(SOURCE / f"model_results/{basin}_results_{part}.csv")
        for part in ("train", "valid")
    ).reset_index(drop=True)


def balance_miss(frame: pd.DataFrame) -> float:
    """Median |1 - storage loss / (Q + ET)| of q_bucket's own states over dry day pairs."""
    s1, s0, rain = frame["s_water"].to_numpy(), frame["s_snow"].to_numpy(), frame["prcp(mm/day)"]
    dry = (rain.to_numpy()[:-1] == 0) & (rain.to_numpy()[1:] == 0) & (np.abs(s0[:-1]) < 1e-3)
    dry &= np.abs(s0[1:]) < 1e-3
    loss = 0.5 * (frame["q_bucket"] + frame["et_bucket"]).rolling(2).sum().to_numpy()[1:]
    ratio = -np.diff(s1)[dry] / loss[dry]
    return float(np.median(np.abs(1 - ratio)))


def one_basin(args: tuple[str, pd.Series, float]) -> dict:
    basin, row, tolerance = args
    started = time.perf_counter()
    exact = converged(reference_run(basin), row, tolerance)
    return {"basin": basin, "exact": exact, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--converged", nargs="*", default=[], help="basins to solve with scipy")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    basins = (SOURCE / "selected_basins.txt").read_text().split()
    parameters = exphydro_parameters(SOURCE).set_index("basin")
    with tempfile.TemporaryDirectory() as work:
        ids = Path(work, "basins.txt")
        ids.write_text("\n".join(basins) + "\n")
        mapping = ROOT / "datasets/camels_us_torchhydronodes.yaml"
        store = ingest("csv", SOURCE, Path(work, "store.zarr"), basins_file=ids, mapping=mapping)
        config = Config.from_mapping(
            {
                "DOMAIN_NAME": "exphydro_reference",
                "HYDROLOGICAL_MODEL": "EXPHYDRO",
                "DATA_STORE": str(store),
                "PROJECT_DIR": work,
                "DYNAMIC_INPUTS": ["prcp", "tmin", "tmax", "dayl"],
                "CALIBRATION_PERIOD": ["1980-10-01", "2000-09-30"],
                "VALIDATION_PERIOD": ["2000-10-01", "2010-09-30"],
            }
        )
        started = time.perf_counter()
        whole = Period(pd.Timestamp("1980-10-01"), pd.Timestamp("2010-09-30"))
        frames = simulate_with_parameters(
            CONCEPTUAL_MODELS["EXPHYDRO"], config, StoreReader(store), parameters.loc[basins], whole
        )
        toolkit_seconds = time.perf_counter() - started
    rows = []
    valid = slice(7305, None)
    for basin in basins:
        reference = reference_run(basin)
        q_bucket = reference["q_bucket"].to_numpy()
        observed = reference["obs_runoff(mm/day)"].to_numpy()
        toolkit = frames[basin]["streamflow_sim"].to_numpy(np.float64)
        rows.append(
            {
                "basin": basin,
                "toolkit_vs_q_bucket": nse(q_bucket, toolkit),
                "q_bucket_balance_miss": balance_miss(reference),
                "obs_nse_toolkit": nse(observed[valid], toolkit[valid]),
                "obs_nse_q_bucket": nse(observed[valid], q_bucket[valid]),
            }
        )
    table = pd.DataFrame(rows).set_index("basin")
    pd.set_option("display.width", 200)
    print(table.round(4).to_string())
    print()
    for column in table.columns:
        values = table[column]
        worst = values.idxmax() if column == "q_bucket_balance_miss" else values.idxmin()
        print(f"{column:>24}: median {values.median():.4f}, worst {values[worst]:.4f} ({worst})")
    print(f"toolkit_vs_q_bucket >= 0.99 in {(table['toolkit_vs_q_bucket'] >= 0.99).sum()} basins")
    print(f"toolkit: 30 basins x 10,957 days in {toolkit_seconds:.1f} s", flush=True)
    work = [(b, parameters.loc[b], args.tolerance) for b in args.converged]
    with ProcessPoolExecutor(args.workers) as pool:
        for solved in pool.map(one_basin, work):
            basin = solved["basin"]
            q_bucket = reference_run(basin)["q_bucket"].to_numpy()
            toolkit = frames[basin]["streamflow_sim"].to_numpy(np.float64)
            print(
                f"{basin} converged (DOP853 {args.tolerance:g}, {solved['seconds']:.0f} s): "
                f"NSE against q_bucket {nse(q_bucket, solved['exact']):.4f}, against the "
                f"toolkit {nse(solved['exact'], toolkit):.5f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
