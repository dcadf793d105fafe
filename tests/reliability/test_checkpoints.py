"""Which checkpoint a relaunch resumes from: the newest that reads back whole."""

from __future__ import annotations

import torch

from regional_lstm.training.checkpoint import newest_complete, write_checkpoint


def _checkpoint(folder, epoch: int):
    weights = {"w": torch.full((4, 4), float(epoch))}
    early = {"best": 0.5, "best_epoch": epoch - 1, "bad_epochs": 0}
    state = {"epoch": epoch, "history": [], "stopped_early": False, "early_stopping": early}
    return write_checkpoint(folder, weights, weights, {"state": {}, "param_groups": []}, state)


def test_the_newest_epoch_is_chosen_whatever_the_folder_names(tmp_path):
    folders = [
        _checkpoint(tmp_path / name, epoch) for name, epoch in (("b", 1), ("a", 3), ("c", 2))
    ]
    assert newest_complete(folders) == (tmp_path / "a", 3)


def test_a_checkpoint_cut_short_while_saving_gives_way_to_the_one_before(tmp_path):
    older, newer = _checkpoint(tmp_path / "1", 1), _checkpoint(tmp_path / "2", 2)
    model = newer / "model.pt"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    assert newest_complete([older, newer]) == (older, 1)


def test_a_folder_without_its_state_or_with_a_damaged_one_is_no_checkpoint(tmp_path):
    older, newer, broken = (_checkpoint(tmp_path / str(e), e) for e in (1, 2, 3))
    (newer / "state.json").unlink()
    (broken / "state.json").write_text('{"epoch": ')
    assert newest_complete([older, newer, broken]) == (older, 1)
    assert newest_complete([newer, broken]) is None
