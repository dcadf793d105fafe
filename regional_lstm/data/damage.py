"""A damaged chunk said in one line: the store, the variable and the chunk, not a codec's error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zarr

from regional_lstm.errors import StoreError
from regional_lstm.locations import Location

RESTORE = "restore the store from a copy or ingest it again"


def read_error(path: Location | Path, array: zarr.Array, error: BaseException) -> StoreError:
    """The one line for an array whose chunks cannot be read (damaged bytes, wrong data type):
    the store, the variable and the first chunk that fails (looked for only now)."""
    reason = (str(error).splitlines() or [type(error).__name__])[0]
    name = array.path
    chunk = next(_failing_chunks(array), None)
    where = f"chunk {name}/c/{'/'.join(map(str, chunk))} is damaged" if chunk else "it is damaged"
    return StoreError(f"{path}: variable {name!r} cannot be read: {where} ({reason}); {RESTORE}")


def _failing_chunks(array: zarr.Array) -> Iterator[tuple[int, ...]]:
    """The grid positions of the chunks that cannot be decoded, in grid order."""
    for index in np.ndindex(*array.cdata_shape):
        try:
            array.get_block_selection(index)
        except Exception:  # whatever the codec raises, this chunk is one that fails
            yield index
