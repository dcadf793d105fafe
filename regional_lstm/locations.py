"""Where a store lives: a local folder or an object-storage URL, with its storage options.

A URL (``s3://bucket/camels.zarr``, ``gs://``, ``az://``) is read and written through fsspec;
credentials and endpoints come from the standard environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, profiles, ...) or from storage options (the config's
``STORAGE_OPTIONS``). Options whose key names a secret are never printed, logged or saved:
`redact` replaces them before a config reaches MLflow, a model card or the console.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")  # s3://, gs://, az://, file://, https://
# What a URL's "s3://" becomes when it passed through a Path: the double slash collapses.
COLLAPSED_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
# Object stores and the fsspec package each one needs.
SCHEMES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "memory": "fsspec",
}
SECRET = re.compile(r"key|secret|token|password|passwd|credential|sas|connection_string|session")
REDACTED = "<redacted>"
ROOT_METADATA = "zarr.json"


class LocationError(ValueError):
    """A store location that cannot be used (unsupported URL, missing fsspec package)."""


@dataclass(frozen=True)
class Location:
    """A store's address: ``url`` is an absolute local path or a URL; ``options_json`` its
    fsspec storage options as sorted JSON (so a location is hashable). ``str()`` and ``repr()``
    show the address only, never the options."""

    url: str
    options_json: str = "{}"

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Location({self.url!r})"

    @property
    def remote(self) -> bool:
        return URL.match(self.url) is not None

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json)

    @property
    def path(self) -> Path:
        """The local folder; only for a local location."""
        if self.remote:
            raise LocationError(f"{self.url}: an object-storage URL has no local path")
        return Path(self.url)

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def zarr_store(self, *, read_only: bool = True) -> Any:
        """A zarr store object for this location (a local folder or fsspec)."""
        from zarr.storage import FsspecStore, LocalStore

        if not self.remote:
            return LocalStore(self.url, read_only=read_only)
        return FsspecStore.from_url(self.url, storage_options=self.options, read_only=read_only)

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and this location's path inside it."""
        import fsspec

        return fsspec.core.url_to_fs(self.url, **self.options)

    def key(self, *parts: str) -> str:
        """The address of a file inside this location."""
        return "/".join([self.url.rstrip("/"), *parts])

    def read_bytes(self, *parts: str) -> bytes | None:
        """A file's bytes, or None when it does not exist."""
        if not self.remote:
            file = Path(self.url, *parts)
            return file.read_bytes() if file.is_file() else None
        fs, root = self.filesystem()
        try:
            return fs.cat_file("/".join([root.rstrip("/"), *parts]))
        except FileNotFoundError:
            return None

    def has_store(self) -> bool:
        """Whether a published store is here (its root metadata exists)."""
        if not self.remote:
            return (Path(self.url) / ROOT_METADATA).is_file()
        fs, root = self.filesystem()
        return bool(fs.exists(f"{root.rstrip('/')}/{ROOT_METADATA}"))

    def is_empty(self) -> bool:
        """Whether nothing at all is here (no store, no leftovers of a failed write)."""
        if not self.remote:
            return not Path(self.url).exists()
        fs, root = self.filesystem()
        fs.invalidate_cache()
        return not fs.exists(root) or not fs.find(root, maxdepth=None, withdirs=False)


def location(where: str | os.PathLike[str] | Location, options: dict | None = None) -> Location:
    """``where`` as a Location: URLs checked, ``file://`` and paths made absolute local paths.

    ``options`` (fsspec storage options) apply to URLs; a local path ignores them.
    """
    if isinstance(where, Location):
        if options is None:
            return where
        where = where.url
    text = os.fspath(where)
    match = URL.match(text)
    if match is None:
        parts = Path(text).parts
        if parts and COLLAPSED_URL.fullmatch(parts[0]):
            raise LocationError(
                f"{text}: looks like a URL whose '//' was lost; write it as {parts[0]}//..."
            )
        return Location(os.path.abspath(os.path.expanduser(text)))
    scheme = match.group(1).lower()
    if scheme == "file":
        return location(text[len("file://") :])
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in ("s3", "gs", "az", "file"))
        raise LocationError(f"{text}: {scheme}:// is not a store location (use a path or {known})")
    check_filesystem(text)
    return Location(text.rstrip("/"), json.dumps(options or {}, sort_keys=True))


def saved_location(config: Mapping[str, Any]) -> Location:
    """The store a saved config (a model card's) names, with its non-secret options."""
    options = without_redacted(dict(config.get("STORAGE_OPTIONS") or {}))
    return location(config["DATA_STORE"], options)


def check_filesystem(url: str) -> None:
    """Fail in one line when the fsspec package a URL's scheme needs is not installed."""
    import fsspec

    scheme = URL.match(url).group(1).lower()  # type: ignore[union-attr]
    try:
        fsspec.get_filesystem_class(scheme)
    except (ImportError, ValueError):
        raise LocationError(
            f"{url}: reading {scheme}:// needs the package {SCHEMES[scheme]} "
            f"(pip install {SCHEMES[scheme]})"
        ) from None


def is_url(text: str | os.PathLike[str]) -> bool:
    return URL.match(os.fspath(text)) is not None


# The password of a URL's user info: http://user:PASSWORD@host (an MLflow or Ray address).
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@", re.IGNORECASE)


def redact_passwords(text: str) -> str:
    """``text`` with the password of every URL in it replaced by a marker."""
    return URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


def redact(options: Any) -> Any:
    """Storage options with every value under a secret-looking key replaced by a marker."""
    if isinstance(options, dict):
        return {
            k: REDACTED if SECRET.search(str(k).lower()) else redact(v) for k, v in options.items()
        }
    if isinstance(options, list):
        return [redact(v) for v in options]
    return options


def without_redacted(options: Any) -> Any:
    """Options read back from a saved config: redacted entries dropped, so the environment's
    credentials apply instead of the marker."""
    if isinstance(options, dict):
        return {k: without_redacted(v) for k, v in options.items() if v != REDACTED}
    return options
