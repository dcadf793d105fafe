"""Stores on object storage: written, read and planned from a real S3-compatible server (moto's
standalone server on 127.0.0.1), published metadata-last, and never confused with local paths."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import s3fs

from regional_lstm.data.reader import StoreReader
from regional_lstm.data.store import open_store, write_store
from regional_lstm.data.synth import SyntheticSource, synthesize
from regional_lstm.errors import ConfigError, StoreError
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.tracking.runs import config_params
from tests.conftest import assert_one_line_error, run_cli, tiny_config


def test_synth_and_inspect_work_on_an_s3_url_and_write_nothing_locally(s3, tmp_path):
    url = f"s3://{s3.new_bucket()}/syn.zarr"
    result = run_cli("synth", "--out", url, "--basins", "3", "--years", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"wrote {url}" in result.stderr
    shown = run_cli("inspect", url, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["store"] == url and summary["n_basins"] == 3
    assert summary["planning_summary"] is True
    assert list(tmp_path.iterdir()) == []  # no local "s3:" folder, no leftovers


def test_a_store_on_s3_plans_exactly_as_its_local_twin(s3, tmp_path):
    bucket = s3.new_bucket()
    local = synthesize(tmp_path / "store.zarr", basins=5, years=4, seed=4, gap_fraction=0.05)
    remote = synthesize(f"s3://{bucket}/store.zarr", basins=5, years=4, seed=4, gap_fraction=0.05)
    here, there = StoreReader(local), StoreReader(remote)
    assert here.basins == there.basins
    values = there.read_dynamic(there.basins[::-1], ["prcp", "streamflow"], slice(100, 500))
    assert np.array_equal(
        values,
        here.read_dynamic(here.basins[::-1], ["prcp", "streamflow"], slice(100, 500)),
        equal_nan=True,
    )
    project = tmp_path / "project"
    plans = [make_plan(tiny_config(store, project)) for store in (local, remote)]
    assert plans[0].norm == plans[1].norm
    assert plans[0].counts == plans[1].counts
    assert plans[1].store.url == str(remote)
    read = {key for method, key in s3.requests(bucket) if method == "GET"}
    assert "store.zarr/zarr.json" in read
    assert any(key.startswith("store.zarr/summary/") for key in read)  # planned from the summary


def test_run_builds_a_missing_store_from_data_source_at_its_url(s3, tmp_path):
    url = f"s3://{s3.new_bucket()}/built.zarr"
    source = {"kind": "synthetic", "basins": 2, "years": 2, "seed": 0}
    config = tiny_config(url, tmp_path / "project", DATA_SOURCE=source)
    assert ensure_store(config) is True
    assert StoreReader(config.store).basins == ["syn0001", "syn0002"]
    assert ensure_store(config) is False  # found there the second time


def test_explicit_storage_options_reach_the_server_without_the_environment(
    s3, tmp_path, monkeypatch
):
    remote = synthesize(f"s3://{s3.new_bucket()}/store.zarr", basins=2, years=2, seed=2)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    options = {"endpoint_url": s3.endpoint, "key": "testing", "secret": "testing-secret"}
    config = tiny_config(remote, tmp_path / "project", STORAGE_OPTIONS=options)
    assert StoreReader(config.store).basins == ["syn0001", "syn0002"]


def test_storage_secrets_are_never_shown_logged_or_saved(s3, tmp_path):
    options = {"endpoint_url": s3.endpoint, "key": "AKIA-REAL", "secret": "s3cr3t", "anon": False}
    config = tiny_config(
        f"s3://{s3.new_bucket()}/x.zarr", tmp_path / "project", STORAGE_OPTIONS=options
    )
    assert config.store.options == options  # what the readers get
    shown = config.to_yaml_dict()["STORAGE_OPTIONS"]
    assert shown == {
        "endpoint_url": s3.endpoint,
        "key": "<redacted>",
        "secret": "<redacted>",
        "anon": False,
    }
    params = json.dumps(config_params(config))
    assert "s3cr3t" not in params and "AKIA-REAL" not in params
    assert "s3cr3t" not in repr(config.store) + str(config.store)
    # A saved (redacted) config read back uses the environment's credentials, not the marker.
    reloaded = tiny_config(
        f"s3://{s3.new_bucket()}/x.zarr", tmp_path / "project", STORAGE_OPTIONS=shown
    )
    kept = reloaded.STORAGE_OPTIONS
    assert kept == {"endpoint_url": s3.endpoint, "anon": False}


class _FailsAtBasin(SyntheticSource):
    def read_basin(self, basin):
        if basin == self.basins[-1]:
            raise OSError("disk gone")
        return super().read_basin(basin)


def test_a_failed_ingest_leaves_nothing_at_the_url(s3):
    bucket = s3.new_bucket()
    with pytest.raises(OSError, match="disk gone"):
        write_store(_FailsAtBasin(3, 2, 0, "1990-01-01", 0.0), f"s3://{bucket}/x.zarr")
    assert not [key for method, key in s3.requests(bucket) if method == "PUT" and key]


def test_an_interrupted_upload_leaves_no_store_open_store_accepts(s3, monkeypatch):
    url = f"s3://{s3.new_bucket()}/x.zarr"

    upload = s3fs.S3FileSystem._put_file

    async def unplugged(self, lpath, rpath, **kwargs):
        if rpath.endswith("x.zarr/zarr.json"):  # the last step: the root metadata
            raise OSError("connection reset")
        return await upload(self, lpath, rpath, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(s3fs.S3FileSystem, "_put_file", unplugged)
        s3fs.S3FileSystem.clear_instance_cache()  # a cached client keeps the real method
        with pytest.raises(OSError, match="connection reset"):
            synthesize(url, basins=2, years=1)
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(StoreError, match="no Zarr store here"):
        open_store(url)
    with pytest.raises(StoreError, match="holds files but no store"):
        synthesize(url, basins=2, years=1)
    synthesize(url, basins=3, years=1, overwrite=True)
    assert open_store(url).sizes["basin"] == 3


def test_overwrite_replaces_a_store_on_s3_and_leaves_no_stale_keys(s3):
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/x.zarr"
    synthesize(url, basins=20, years=1)
    with pytest.raises(StoreError, match="already exists"):
        synthesize(url, basins=2, years=1)
    synthesize(url, basins=2, years=1, overwrite=True)
    assert open_store(url).sizes["basin"] == 2
    keys = s3fs.S3FileSystem().find(f"{bucket}/x.zarr")
    assert not [k for k in keys if "/c/1/" in k]  # chunks of the second basin block are gone


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        (["rechunk", "s3://bucket/syn.zarr"], "rechunk rewrites a store on a local disk"),
        (["inspect", "ftp://host/syn.zarr"], "ftp:// is not a store location"),
        (["inspect", "s3:/bucket/syn.zarr"], "looks like a URL whose '//' was lost"),
    ],
)
def test_urls_that_cannot_be_used_are_one_line_and_write_nothing(command, needle, tmp_path):
    result = run_cli(*command, cwd=tmp_path)
    assert_one_line_error(result, needle)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("gcsfs") is not None, reason="gcsfs is installed")
def test_a_url_whose_filesystem_is_not_installed_names_the_package(tmp_path):
    with pytest.raises(ConfigError, match=r"DATA_STORE: .*needs the package gcsfs"):
        tiny_config("gs://bucket/syn.zarr", tmp_path / "project")
