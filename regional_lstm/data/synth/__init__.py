"""Synthetic basins from a small conceptual model, written by the same store writer as ingests.

`weather` makes each basin's daily forcings, `hydrology` turns them into streamflow and SWE with
parameters that are functions of the basin's attributes, and `source` offers the basins to the
store writer (`synthesize`). The equations and the variables are described in
``datasets/synthetic.md``.
"""

from __future__ import annotations

from regional_lstm.data.synth.constants import CONSTANTS, GeneratorConstants
from regional_lstm.data.synth.source import SyntheticSource, synthesize

__all__ = ["CONSTANTS", "GeneratorConstants", "SyntheticSource", "synthesize"]
