import numpy as np
import pytest

from rag.vector_index import IndexRegistry, VectorIndex


def unit_rows(count: int, dimension: int = 8, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_search_finds_each_vector_by_its_chunk_id(tmp_path) -> None:
    index = VectorIndex(tmp_path / "1")
    vectors = unit_rows(50)
    ids = np.arange(1000, 1050)
    index.add(ids, vectors)
    for row in (0, 17, 49):
        best_id, best_score = index.search(vectors[row], 3)[0]
        assert best_id == ids[row]
        assert best_score == pytest.approx(1.0, abs=1e-5)


def test_an_empty_or_missing_index_returns_nothing(tmp_path) -> None:
    index = VectorIndex(tmp_path / "none")
    assert len(index) == 0
    assert index.search(unit_rows(1)[0], 5) == []
    index.remove(np.array([1, 2]))  # nothing to remove: no error, no file
    assert not index.path.exists()


def test_remove_and_replace_all(tmp_path) -> None:
    index = VectorIndex(tmp_path / "1")
    vectors = unit_rows(10)
    index.add(np.arange(10), vectors)
    index.remove(np.array([3, 4]))
    assert sorted(index.ids()) == [0, 1, 2, 5, 6, 7, 8, 9]
    assert all(hit != 3 for hit, _ in index.search(vectors[3], 10))
    index.replace_all(np.array([42]), vectors[:1])
    assert index.ids().tolist() == [42]


def test_writes_are_atomic_and_seen_by_other_readers(tmp_path) -> None:
    writer = VectorIndex(tmp_path / "1")
    reader = VectorIndex(tmp_path / "1")
    vectors = unit_rows(4)
    writer.add(np.arange(2), vectors[:2])
    assert len(reader) == 2
    writer.add(np.arange(2, 4), vectors[2:])
    assert len(reader) == 4
    assert sorted(p.name for p in (tmp_path / "1").iterdir()) == [".lock", "dense.faiss"]


def test_vectors_of_another_dimension_are_refused(tmp_path) -> None:
    index = VectorIndex(tmp_path / "1")
    index.add(np.arange(2), unit_rows(2, dimension=8))
    with pytest.raises(ValueError, match="8-dimensional"):
        index.add(np.arange(2, 4), unit_rows(2, dimension=16))
    assert len(index) == 2


def test_registry_keeps_one_index_per_collection(tmp_path) -> None:
    registry = IndexRegistry(tmp_path)
    registry.for_collection(1).add(np.arange(3), unit_rows(3))
    assert registry.for_collection(1) is registry.for_collection(1)
    assert len(registry.for_collection(2)) == 0
    assert (tmp_path / "1" / "dense.faiss").exists()
