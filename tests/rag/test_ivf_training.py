import numpy as np
import pytest

from rag import ivf_training
from rag.ivf_training import assign, calibrated_nprobe, nearest, spherical_kmeans


def unit_rows(count: int, dimension: int = 16, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ivf_training, "BLOCK_ROWS", 100)  # so results merge across blocks


def test_nearest_and_assign_agree_with_a_full_sort() -> None:
    vectors, queries = unit_rows(1050), unit_rows(20, seed=1)
    scores = queries @ vectors.T
    assert (nearest(queries, vectors, 7) == np.argsort(-scores, axis=1)[:, :7]).all()
    assert (assign(vectors, queries) == np.argmax(vectors @ queries.T, axis=1)).all()


def test_spherical_kmeans_improves_on_its_seeds_and_reseeds_empty_lists() -> None:
    rng = np.random.default_rng(0)
    rows = unit_rows(4, seed=2)[np.repeat(np.arange(4), 100)] + 0.05 * rng.normal(size=(400, 16))
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    def fit(centroids: np.ndarray) -> float:
        return float(np.mean(np.max(rows @ centroids.T, axis=1)))

    seeds = spherical_kmeans(rows, 8, 0, np.random.default_rng(3))
    centroids = spherical_kmeans(rows, 8, 10, np.random.default_rng(3))
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    assert fit(centroids) >= fit(seeds)
    few = np.repeat(rows[:3], 5, axis=0)  # 3 distinct points, 6 lists: some always empty
    assert np.isfinite(spherical_kmeans(few, 6, 5, rng)).all()


def test_calibration_asks_more_lists_for_more_recall() -> None:
    vectors = unit_rows(2000)
    centroids = spherical_kmeans(vectors[:640], 16, 5, np.random.default_rng(0))
    lists = assign(vectors, centroids)

    def nprobe(recall: float) -> int:
        return calibrated_nprobe(
            vectors, centroids, lists, np.random.default_rng(0), 64, 10, recall
        )

    assert 1 <= nprobe(0.5) <= nprobe(0.97) <= nprobe(1.0) <= 16
    assert (
        calibrated_nprobe(vectors[:1], centroids, lists[:1], np.random.default_rng(0), 64, 10, 1.0)
        == 1
    )
