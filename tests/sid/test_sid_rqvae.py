"""RQ-VAE fitting through ``fit_codes``: switches, determinism, uniqueness, save/load, report."""

from __future__ import annotations

import numpy as np
import pytest

from gr2_verl.sid import SidQuantizer, fit_codes
from gr2_verl.sid.rqvae import RQVAEConfig
from gr2_verl.sid.synthetic import clustered_embeddings

SMALL = {"levels": 3, "codebook_size": 64, "hidden": [64], "latent_dim": 16, "steps": 200, "batch_size": 256,
         "warmup_steps": 60, "kmeans_sample": 2000}


@pytest.fixture(scope="module")
def catalogue() -> np.ndarray:
    return clustered_embeddings(3000, 64, topics=10, subtopics=8, seed=1)


@pytest.fixture(scope="module")
def default_fit(catalogue):
    return fit_codes(catalogue, seed=0, **SMALL)


def test_default_fit_is_unique_and_reports(default_fit):
    r = default_fit.report
    assert default_fit.codes.shape == (3000, 3)
    assert r["uniqueness"] >= 0.999
    assert r["collisions"]["colliding_items"] <= 3
    assert len(r["per_level"]) == 3 and all(1 <= lv["perplexity"] <= 64 for lv in r["per_level"])
    assert r["reconstruction_mse"] < 1.0  # unit-norm inputs: predicting the mean scores about 1
    assert r["fit_seconds"] > 0 and r["config"]["ema"] and r["config"]["random_last_level"]


def test_same_seed_same_codes_other_seed_differs(catalogue, default_fit):
    again = fit_codes(catalogue, seed=0, **SMALL)
    assert np.array_equal(again.codes, default_fit.codes)
    other = fit_codes(catalogue, seed=1, **SMALL)
    assert not np.array_equal(other.codes, default_fit.codes)


def test_random_last_level_beats_nearest(catalogue):
    nearest = fit_codes(catalogue, seed=0, **{**SMALL, "random_last_level": False})
    unique = fit_codes(catalogue, seed=0, **SMALL)
    assert unique.report["uniqueness"] > nearest.report["uniqueness"]
    assert np.array_equal(unique.codes[:, :2], nearest.codes[:, :2])  # only the last level moves


@pytest.mark.parametrize(
    "switches",
    [
        {"ema": False, "kmeans_init": False},  # plain: gradient codebooks from a uniform init
        {"ema": True, "kmeans_init": False},
        {"diversity_weight": 0.1},
        {"dead_code_reset": True, "reset_every": 20},
    ],
)
def test_each_switch_fits(catalogue, switches):
    fit = fit_codes(catalogue, seed=0, **{**SMALL, "steps": 100, **switches})
    assert fit.codes.shape == (3000, 3) and fit.report["config"] | switches == fit.report["config"]


def test_dead_code_reset_revives_codes(catalogue):
    fit = fit_codes(catalogue, seed=0, **{**SMALL, "kmeans_init": False, "dead_code_reset": True, "reset_every": 20})
    assert fit.report["training"]["dead_codes_reset"] > 0


def test_ema_codebooks_take_no_gradient(catalogue):
    fit = fit_codes(catalogue, seed=0, **{**SMALL, "steps": 80})
    assert not fit.quantizer.model.codebooks.requires_grad


def test_quantizer_round_trip(tmp_path, catalogue, default_fit):
    path = tmp_path / "q.pt"
    default_fit.quantizer.save(path)
    loaded = SidQuantizer.load(path)
    assert np.array_equal(loaded.assign(catalogue, seed=0), default_fit.codes)
    assert loaded.reconstruction_error(catalogue, default_fit.codes) == pytest.approx(
        default_fit.report["reconstruction_mse"], rel=1e-5)


def test_rqkmeans_baseline(catalogue):
    fit = fit_codes(catalogue, method="rqkmeans", seed=0, levels=3, codebook_size=64, iters=5)
    assert fit.quantizer.model is None and fit.report["uniqueness"] >= 0.999


@pytest.mark.parametrize(
    "method, options, message",
    [
        ("rqvae", {"stpes": 10}, "unknown RQ-VAE option"),  # typo must not silently fall back
        ("rqkmeans", {"ema": True}, "unknown RQ-KMeans option"),
        ("vqgan", {}, "unknown SID method"),
        ("rqvae", {"steps": 50, "warmup_steps": 50}, "warmup_steps"),  # codebooks would never be fitted
    ],
)
def test_bad_options_are_named(catalogue, method, options, message):
    with pytest.raises(ValueError, match=message):
        fit_codes(catalogue[:10], method=method, **options)


def test_non_finite_embeddings_rejected():
    with pytest.raises(ValueError, match="finite"):
        fit_codes(np.full((4, 8), np.nan, dtype=np.float32))


def test_config_from_options_turns_lists_into_tuples():
    assert RQVAEConfig.from_options(hidden=[32, 16]).hidden == (32, 16)
