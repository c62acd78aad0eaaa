"""The stand-alone accuracy predictor (yoso.predictor.accuracy): dense features of a genotype, a GP on accuracy."""

from __future__ import annotations

import numpy as np

from yoso.predictor.accuracy import AccuracyFeatures, AccuracyPredictor
from yoso.space.ops import OPS


def test_features_count_ops_and_scale_and_grow_with_the_network(space) -> None:
    genotypes = [g for g, _ in space.decode_many(space.sample(20, 0))]
    features = AccuracyFeatures(tuple(OPS))
    x = features(genotypes)
    assert x.shape == (20, len(features.names)) and np.isfinite(x).all()
    counts = x[:, : 2 * len(OPS)].reshape(20, 2, len(OPS)).sum(-1)
    assert (counts == [[len(g.edges("normal")), len(g.edges("reduce"))] for g in genotypes]).all()
    width, log_macs = x[:, features.names.index("width")], x[:, features.names.index("log_macs")]
    assert np.corrcoef(width, log_macs)[0, 1] > 0.5  # wider networks cost more multiply-accumulates


def test_gp_learns_a_smooth_accuracy_and_gives_intervals(space) -> None:
    """On a synthetic accuracy of width and depth (noise 0.2 pp), held-out predictions are within a point and the
    predictive std is positive."""
    genotypes = [g for g, _ in space.decode_many(space.sample(60, 1))]
    rng = np.random.default_rng(0)
    truth = np.array([0.80 + 0.04 * g.width - 0.03 * g.depth for g in genotypes]) + rng.normal(0, 0.002, 60)
    predictor = AccuracyPredictor(AccuracyFeatures(tuple(OPS))).fit(genotypes[:45], truth[:45])
    mean, std = predictor.predict(genotypes[45:])
    assert np.mean(np.abs(mean - truth[45:])) < 0.01 and (std > 0).all()
    assert np.mean(np.abs(mean - truth[45:]) <= 1.96 * std) >= 0.6
