"""Write torchHydroNodes' calibrated EXP-HYDRO parameters as a `regional-lstm simulate` file.

``bucket_exphydro.csv`` (../shared/data/camels_us_torchhydronodes, see its SOURCE.txt) holds one
row per basin in the order of ``569_basin_file.txt``, its ``basinID`` a float rounded to five
significant digits: rows are matched by that order, ids padded to CAMELS' eight digits. Its
column ``UNKNOWN`` is unused by EXP-HYDRO and left out.

    python datasets/exphydro_parameters.py ../shared/data/camels_us_torchhydronodes OUT.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

COLUMNS = ["S0", "S1", "f", "Smax", "Qmax", "Df", "Tmax", "Tmin"]


def exphydro_parameters(source: Path) -> pd.DataFrame:
    """The parameter table with a ``basin`` column, one row per basin of the 569."""
    ids = (source / "569_basin_file.txt").read_text().split()
    table = pd.read_csv(source / "bucket_exphydro.csv")
    if len(table) != len(ids):
        raise SystemExit(f"{source}: {len(table)} parameter rows for {len(ids)} basin ids")
    rounded = table["basinID"].to_numpy()
    for basin, value in zip(ids, rounded, strict=True):  # the order is the only key: check it
        if abs(int(basin) - value) > 5e-5 * int(basin):
            raise SystemExit(f"{source}: row of basin {basin} says basinID {value}")
    return pd.DataFrame({"basin": [basin.zfill(8) for basin in ids], **table[COLUMNS]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the camels_us_torchhydronodes folder")
    parser.add_argument("out", type=Path, help="CSV to write")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    exphydro_parameters(args.source).to_csv(args.out, index=False, float_format="%.17g")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
