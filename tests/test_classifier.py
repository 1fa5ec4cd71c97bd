"""The MNIST classifier: it learns, its cache round-trips, and its class histogram is honest.

The full classifier (3 epochs on 50,000 images, >= 99 % test accuracy) takes CPU minutes, so these
tests train one on 2,000 images for one epoch in a temporary cache.
"""

from __future__ import annotations

import json

import pytest
import torch

from vaelib.eval import classifier as vclf
from vaelib import data as vdata
from vaelib.eval.anomaly import flipped_digits
from vaelib.eval.classifier import (
    MNISTClassifier,
    accuracy,
    class_histogram,
    classifier_folder,
    classifier_metrics,
    load_or_train_classifier,
)
from vaelib.eval.frechet import frechet_distance_of

SMALL = dict(epochs=1, subset=2000, batch_size=32)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("classifier-cache")


@pytest.fixture(scope="module")
def small(cache):
    """(classifier trained on 2,000 images for one epoch, the RNG state before and after)."""
    before = torch.get_rng_state()
    model = load_or_train_classifier(cache, device="cpu", progress=False, **SMALL)
    return model, before, torch.get_rng_state()


@pytest.fixture(scope="module")
def test_split():
    return vdata.load_mnist(subset=1000).test


def test_features_are_the_penultimate_layer():
    torch.manual_seed(0)
    model = MNISTClassifier().eval()
    x = torch.rand(5, 1, 28, 28)
    f = model.features(x)
    assert f.shape == (5, 128) and model.feature_dim == 128 and (f >= 0).all()  # after a ReLU
    assert model(x).shape == (5, 10)
    assert torch.allclose(model.head(f), model(x))


def test_a_small_classifier_beats_chance_clearly(small, test_split):
    model, _, _ = small
    assert not model.training
    assert accuracy(model, test_split) > 0.8  # chance: 0.1


def test_training_leaves_the_callers_random_stream_alone(small):
    _, before, after = small
    assert torch.equal(before, after)


def test_the_cache_loads_instead_of_training_and_gives_identical_outputs(small, cache, test_split, monkeypatch):
    model, _, _ = small
    folder = classifier_folder(cache, **SMALL)
    assert folder.parent == cache and folder.name.startswith("classifier-")
    assert (folder / vclf.WEIGHTS).is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier was trained again")

    monkeypatch.setattr(vclf, "_train", no_training)
    again = load_or_train_classifier(cache, device="cpu", progress=False, **SMALL)
    x = vdata.to_unit(test_split.images[:200])
    with torch.no_grad():
        assert torch.equal(again(x), model(x)) and torch.equal(again.features(x), model.features(x))
    info = classifier_metrics(cache, **SMALL)
    assert info == json.loads((folder / vclf.METRICS).read_text())
    assert info["config"]["subset"] == 2000 and info["train_images"] == 2000 and info["test_images"] == 2000
    assert info["test_accuracy"] == pytest.approx(accuracy(again, vdata.load_mnist(subset=2000).test), abs=1e-6)
    # other settings, another folder: this one would have to be trained
    assert classifier_folder(cache, **{**SMALL, "seed": 1}) != folder
    with pytest.raises(AssertionError, match="trained again"):
        load_or_train_classifier(cache, device="cpu", progress=False, **{**SMALL, "seed": 1})
    # the classifier's code changed (its stamp, vaelib.cache.fingerprint): trained again too
    real = vclf.fingerprint
    monkeypatch.setattr(vclf, "fingerprint", lambda f: "changed" if f == "eval/classifier.py" else real(f))
    with pytest.raises(AssertionError, match="trained again"):
        load_or_train_classifier(cache, device="cpu", progress=False, **SMALL)


def test_class_histogram_counts_predictions():
    class ByBrightness(torch.nn.Module):
        """Predicts digit round(10 · mean pixel value), so the histogram is known in advance."""

        def __init__(self) -> None:
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return -(10 * x.mean(dim=(1, 2, 3)).unsqueeze(1) - torch.arange(10.0)) ** 2 + self.dummy

    levels = torch.tensor([0.0] * 5 + [0.3] * 3 + [0.9] * 2)
    x = levels.view(-1, 1, 1, 1).expand(-1, 1, 28, 28)
    expected = torch.zeros(10)
    expected[0], expected[3], expected[9] = 0.5, 0.3, 0.2
    assert torch.allclose(class_histogram(x, ByBrightness(), batch_size=3), expected)
    u8 = (levels * 255).round().to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)
    assert torch.allclose(class_histogram(u8, ByBrightness()), expected)  # uint8 is read as x / 255


def test_class_histogram_of_real_digits_is_their_label_histogram_up_to_the_error_rate(small, test_split):
    # Each misclassified image moves 1/N of mass from one bin to another, so the L1 distance
    # between the predicted and the true histogram is at most 2 · (error rate).
    model, _, _ = small
    hist = class_histogram(test_split.images, model)
    labels = torch.bincount(test_split.labels, minlength=10).float() / len(test_split)
    err = 1 - accuracy(model, test_split)
    assert hist.shape == (10,) and hist.sum().item() == pytest.approx(1.0)
    assert (hist - labels).abs().sum().item() <= 2 * err + 1e-6
    # and it is not vacuous: a constant prediction would be far off
    assert (hist - labels).abs().sum().item() < 0.3


def test_frechet_distance_on_classifier_features_ranks_digits_above_corrupted_digits(small, test_split):
    model, _, _ = small
    x = vdata.to_unit(test_split.images)
    a, b = x[:500], x[500:]
    same = frechet_distance_of(a, b, extractor=model.features, batch_size=128)
    flipped = frechet_distance_of(a, flipped_digits(b), extractor=model.features)
    noise = frechet_distance_of(a, torch.rand_like(b), extractor=model.features)
    assert 0 < same < flipped < noise
