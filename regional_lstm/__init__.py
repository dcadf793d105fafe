"""regional-lstm: regional, attribute-conditioned LSTMs for streamflow over many basins."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("regional-lstm")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
