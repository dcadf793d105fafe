"""What is in a store: basins, period, variables with units and missing data, attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr

from regional_lstm.data.damage import read_error
from regional_lstm.data.store import dynamic_names, open_store, static_names, store_location
from regional_lstm.data.summary import open_summary


def summarize_store(path: str | Path) -> dict[str, Any]:
    """A JSON-ready description of a store; reads each dynamic variable once, chunk by chunk."""
    path = store_location(path)
    ds = open_store(path)
    group = zarr.open_group(path.zarr_store(), mode="r")
    time = ds["time"].to_index()
    dynamics = []
    for name in dynamic_names(ds):
        var = ds[name]
        try:
            missing_per_basin = var.isnull().mean("time").compute().to_numpy()
        except Exception as error:  # each codec raises its own: a damaged chunk
            raise read_error(path, group[name], error) from None
        dynamics.append(
            {
                "name": name,
                "units": var.attrs.get("units"),
                "long_name": var.attrs.get("long_name"),
                "missing_fraction": round(float(missing_per_basin.mean()), 6),
                "basins_all_missing": int((missing_per_basin == 1.0).sum()),
            }
        )
    basins = [str(b) for b in ds["basin"].values]
    attributes = []
    incomplete: dict[str, list[str]] = {}
    for name in static_names(ds):
        try:
            values = ds[name].to_numpy()
        except Exception as error:  # as above
            raise read_error(path, group[name], error) from None
        numeric = np.issubdtype(values.dtype, np.number)
        missing = np.isnan(values) if numeric else values == ""
        for row in np.flatnonzero(missing):
            incomplete.setdefault(basins[row], []).append(name)
        attributes.append(
            {
                "name": name,
                "units": ds[name].attrs.get("units"),
                "long_name": ds[name].attrs.get("long_name"),
                "kind": "numeric" if numeric else "category",
                "missing": int(missing.sum()),
                # Per source table, the cells that held no usable number ('Inf'), by basin.
                "unusable_values": dict(ds[name].attrs.get("unusable_values") or {}),
            }
        )
    return {
        "store": str(path),
        "basins": basins,
        "n_basins": int(ds.sizes["basin"]),
        "period": {
            "start": str(time[0].date()),
            "end": str(time[-1].date()),
            "days": int(ds.sizes["time"]),
        },
        # Whether planning can use the yearly summary instead of reading every value.
        "planning_summary": open_summary(path, time, int(ds.sizes["basin"]), dynamic_names(ds))
        is not None,
        "dynamic_variables": dynamics,
        "static_attributes": attributes,
        # Per basin the attributes it lacks (a table without its row): a run using one refuses.
        "basins_missing_attributes": incomplete,
        "provenance": {
            k: (v if isinstance(v, str | int | float) else str(v)) for k, v in ds.attrs.items()
        },
    }
