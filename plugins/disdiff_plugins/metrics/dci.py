"""Disentanglement, Completeness and Informativeness (Eastwood & Williams, ICLR 2018), as
disentanglement_lib computes them (``evaluation/metrics/dci.py``).

One gradient-boosted classifier per factor predicts the factor from all codes; its feature
importances fill column k of the importance matrix R (num_codes, num_factors). A code is
disentangled when its importance goes to one factor (entropy of its row, log base K); a factor
is completely captured when one code holds its importance (entropy of its column, log base
num_codes). Informativeness is the classifiers' accuracy.

Two modes:

* ``exact`` (default): sklearn ``GradientBoostingClassifier()`` with dlib's (default) settings,
  so the numbers equal dlib's for the same codes. One detail differs on purpose: the boosting
  visits features in a random order and keeps the first of equally good splits; dlib leaves
  that unseeded (numpy's global generator), so its DCI can change from run to run when two
  codes split a node equally well (frequent when few distinct images are sampled). Here the
  metric's RandomState seeds it (after all sampling), so one seed gives one answer.
  The per-factor fits are independent but for that RandomState, which they draw from one after
  another; they run in parallel processes (``n_jobs``), each from the generator state the
  serial order would hand it (see :func:`fit_exact_boosters`), so the numbers are those of one
  process. The fits are nearly all of the exact mode's time (sampling the points and the
  predictions: under 2 % in a profile, ``bench/RESULTS.md``), and a fit's cost grows with the
  factor's number of classes (one tree per class and round), which bounds the gain: on dSprites
  (3, 6, 40, 32, 32 classes) two processes at best take 64/113 of the serial time.
* ``fast``: NOT dlib's numbers. sklearn ``HistGradientBoostingClassifier`` set up like the exact
  mode's booster (100 rounds, learning rate 0.1, depth 3, one sample per leaf allowed, no L2
  penalty, no early stopping) but on features binned into 255 quantiles, with importances
  defined like the exact mode's impurity importances: each feature's total split gain over all
  trees, normalised to sum to one. It runs on one OpenMP thread: with a handful of codes the
  per-node parallelism gains little, and on a busy 2-core machine two threads were 15-30x
  slower than one in our measurements. ``bench/bench_metrics.py`` measured, at study settings on
  a Shapes3D-sized grid, 9-11 s against 85-177 s for the exact mode (9-20x), with scores within
  0.015 of the exact ones on two synthetic representations and within 0.041 on a third that
  duplicates a factor. Results carry ``mode: "fast"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.stats
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from disdiff_core.data.ground_truth import GroundTruth
from disdiff_core.interfaces.metric import RepresentationFunction
from disdiff_plugins.metrics.utils import factor_metric_factory, generate_batch_factor_code

Mode = Literal["exact", "fast"]
#: ``numpy.random.RandomState.get_state()``.
RandomStateTuple = tuple[Any, ...]
#: Upper bound of sklearn's per-tree seed draw (``sklearn.tree._utils.RAND_R_MAX``).
_RAND_R_MAX = 2**31 - 1


def dci(
    ground_truth: GroundTruth,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    *,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    mode: Mode = "exact",
    n_jobs: int | None = None,
) -> dict[str, float]:
    """DCI with dlib's unsupervised-study settings as defaults; ``n_jobs`` processes fit the
    exact mode's boosters (None: one per core; the numbers do not depend on it).

    Returns:
        ``disentanglement``, ``completeness``, ``informativeness_train`` and
        ``informativeness_test`` (mean accuracies over factors).
    """
    codes_train, factors_train = generate_batch_factor_code(
        ground_truth, representation_function, num_train, random_state, batch_size
    )
    codes_test, factors_test = generate_batch_factor_code(
        ground_truth, representation_function, num_test, random_state, batch_size
    )
    importance, train_accuracy, test_accuracy = compute_importance(
        codes_train, factors_train, codes_test, factors_test, random_state, mode, n_jobs
    )
    return {
        "informativeness_train": train_accuracy,
        "informativeness_test": test_accuracy,
        "disentanglement": disentanglement(importance),
        "completeness": completeness(importance),
    }


def compute_importance(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: np.random.RandomState,
    mode: Mode = "exact",
    n_jobs: int | None = None,
) -> tuple[np.ndarray, float, float]:
    """Fit one classifier per factor.

    Args:
        codes_*: (num_codes, num_points); factors_*: (num_factors, num_points).
        random_state: seeds the boosting's tie-breaking between equally good splits.
        n_jobs: processes for the exact mode's fits (:func:`fit_exact_boosters`).

    Returns:
        importance matrix (num_codes, num_factors), mean train accuracy, mean test accuracy.
    """
    num_codes, num_factors = codes_train.shape[0], factors_train.shape[0]
    if mode == "exact":
        fits = fit_exact_boosters(codes_train.T, factors_train, codes_test.T, factors_test,
                                  random_state, n_jobs)
        importance = np.stack([fit.importances for fit in fits], axis=1)
        train_accuracy = [fit.train_accuracy for fit in fits]
        test_accuracy = [fit.test_accuracy for fit in fits]
        return importance, float(np.mean(train_accuracy)), float(np.mean(test_accuracy))
    importance = np.zeros((num_codes, num_factors), dtype=np.float64)
    train_accuracy, test_accuracy = [], []
    # One OpenMP thread for the histogram booster's fit and predict (see the module docstring).
    with threadpool_limits(limits=1, user_api="openmp"):
        for k in range(num_factors):
            model = fast_booster(random_state).fit(codes_train.T, factors_train[k])
            importance[:, k] = split_gain_importances(model, num_codes)
            train_accuracy.append(np.mean(model.predict(codes_train.T) == factors_train[k]))
            test_accuracy.append(np.mean(model.predict(codes_test.T) == factors_test[k]))
    return importance, float(np.mean(train_accuracy)), float(np.mean(test_accuracy))


@dataclass(frozen=True)
class ExactFit:
    """One factor's exact booster: its importances, accuracies and the generator state it left."""

    importances: np.ndarray
    train_accuracy: float
    test_accuracy: float
    end_state: RandomStateTuple


def fit_exact_booster(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                      y_test: np.ndarray, start_state: RandomStateTuple) -> ExactFit:
    """dlib's ``GradientBoostingClassifier()`` for one factor, drawing its tie-breaking from a
    RandomState set to ``start_state``."""
    rng = np.random.RandomState()
    rng.set_state(start_state)
    model = GradientBoostingClassifier(random_state=rng).fit(x_train, y_train)
    return ExactFit(
        importances=np.abs(model.feature_importances_),
        train_accuracy=float(np.mean(model.predict(x_train) == y_train)),
        test_accuracy=float(np.mean(model.predict(x_test) == y_test)),
        end_state=rng.get_state(),
    )


def draws_per_fit(labels: np.ndarray) -> int:
    """Draws a default ``GradientBoostingClassifier`` fit takes from its RandomState: sklearn's
    tree splitter draws one seed per tree, and a boosting round grows one tree per class (one
    in all for two classes)."""
    classes = len(np.unique(labels))
    return GradientBoostingClassifier().n_estimators * (classes if classes > 2 else 1)


def advanced(state: RandomStateTuple, draws: int) -> RandomStateTuple:
    """The state after ``draws`` of the splitter's ``randint(0, RAND_R_MAX)`` from ``state``."""
    rng = np.random.RandomState()
    rng.set_state(state)
    rng.randint(0, _RAND_R_MAX, size=draws)
    return rng.get_state()


def same_state(a: RandomStateTuple, b: RandomStateTuple) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def fit_exact_boosters(
    x_train: np.ndarray,
    factors_train: np.ndarray,
    x_test: np.ndarray,
    factors_test: np.ndarray,
    random_state: np.random.RandomState,
    n_jobs: int | None = None,
) -> list[ExactFit]:
    """The per-factor exact boosters, fitted in ``n_jobs`` processes (None: every core), with
    the numbers of fitting them one after another from ``random_state``.

    Fit k starts from the state fits 0..k−1 leave, predicted by advancing a copy of the
    generator by their draws (:func:`draws_per_fit`); the fits go to the workers most classes
    first, so the longest start first. Each fit reports the state it really left; a fit whose
    predicted start differs from its predecessor's real end (a sklearn that draws differently)
    is fitted again from the real one, so the result never depends on the prediction.
    ``random_state`` ends where the serial fits would leave it."""
    num_factors = factors_train.shape[0]
    n_jobs = min(n_jobs or os.cpu_count() or 1, num_factors)
    starts = [random_state.get_state()]
    for k in range(num_factors - 1):
        starts.append(advanced(starts[-1], draws_per_fit(factors_train[k])))
    arguments = [(x_train, factors_train[k], x_test, factors_test[k]) for k in range(num_factors)]
    order = sorted(range(num_factors), key=lambda k: -len(np.unique(factors_train[k])))
    fitted = Parallel(n_jobs=n_jobs)(
        delayed(fit_exact_booster)(*arguments[k], starts[k]) for k in order
    )
    by_factor = dict(zip(order, fitted, strict=True))
    fits = [by_factor[k] for k in range(num_factors)]
    for k in range(1, num_factors):
        if not same_state(starts[k], fits[k - 1].end_state):
            fits[k] = fit_exact_booster(*arguments[k], fits[k - 1].end_state)
    random_state.set_state(fits[-1].end_state)
    return fits


def fast_booster(random_state: np.random.RandomState) -> HistGradientBoostingClassifier:
    """A histogram booster with ``GradientBoostingClassifier()``'s defaults where they exist."""
    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=100,
        max_depth=3,
        min_samples_leaf=1,
        l2_regularization=0.0,
        early_stopping=False,
        random_state=random_state,
    )


def split_gain_importances(model: HistGradientBoostingClassifier, num_features: int) -> np.ndarray:
    """Total split gain of each feature over every tree of a fitted histogram booster,
    normalised to sum to one: the analogue of ``GradientBoostingClassifier.feature_importances_``
    (which sums impurity decreases), since sklearn gives the histogram booster no importances.
    Reads the fitted trees' node tables (``_predictors[i][k].nodes``)."""
    gains = np.zeros(num_features, dtype=np.float64)
    for iteration in model._predictors:
        for tree in iteration:
            splits = tree.nodes[~tree.nodes["is_leaf"].astype(bool)]
            np.add.at(gains, splits["feature_idx"], splits["gain"])
    total = gains.sum()
    return gains / total if total > 0 else gains


def disentanglement_per_code(importance: np.ndarray) -> np.ndarray:
    """1 - entropy (log base num_factors) of each code's importance distribution over factors."""
    return 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])


def disentanglement(importance: np.ndarray) -> float:
    """Per-code disentanglement weighted by each code's share of the total importance."""
    per_code = disentanglement_per_code(importance)
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    code_importance = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * code_importance))


def completeness_per_factor(importance: np.ndarray) -> np.ndarray:
    """1 - entropy (log base num_codes) of each factor's importance distribution over codes."""
    return 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])


def completeness(importance: np.ndarray) -> float:
    """Per-factor completeness weighted by each factor's share of the total importance."""
    per_factor = completeness_per_factor(importance)
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    factor_importance = importance.sum(axis=0) / importance.sum()
    return float(np.sum(per_factor * factor_importance))


build = factor_metric_factory(dci)
