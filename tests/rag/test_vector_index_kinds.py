"""The index kind follows the collection's size: exact while small, approximate (IVF) when large,
with thresholds lowered here so that a few thousand vectors cross them."""

import faiss
import numpy as np
import pytest

from app.doctor import Doctor
from app.service import Scholar
from rag import index_kinds
from rag.index_kinds import IndexKind
from rag.vector_index import VectorIndex
from tests.conftest import TOPIC_PAGES, PdfMaker

DIMENSION = 32


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_kinds, "APPROXIMATE_FROM", 2000)
    monkeypatch.setattr(index_kinds, "EXACT_BELOW", 1000)


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 random centres, so neighbourhoods mean something (as with text)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIMENSION))
    rows = centres[rng.integers(0, 40, count)] + 0.6 * rng.normal(size=(count, DIMENSION))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def grown(index: VectorIndex, vectors: np.ndarray, batch: int = 500) -> list[IndexKind | None]:
    """Add the vectors in batches (ids 0..n-1), as ingests would; the kind after each."""
    kinds = []
    for start in range(0, len(vectors), batch):
        index.add(np.arange(start, start + batch), vectors[start : start + batch])
        kinds.append(index.kind())
    return kinds


def recall_at_10(index: VectorIndex, stored: np.ndarray, queries: np.ndarray) -> float:
    _, exact = faiss.knn(queries, stored, 10, faiss.METRIC_INNER_PRODUCT)
    found = [{chunk_id for chunk_id, _ in index.search(query, 10)} for query in queries]
    return np.mean([len(set(e.tolist()) & f) / 10 for e, f in zip(exact, found, strict=True)])


@pytest.mark.usefixtures("small_thresholds")
def test_an_index_grown_past_the_threshold_becomes_approximate_and_finds_neighbours(
    tmp_path,
) -> None:
    vectors = clustered(4200)
    stored, queries = vectors[:4000], vectors[4000:]
    index = VectorIndex(tmp_path / "1")
    assert grown(index, stored) == [IndexKind.EXACT] * 3 + [IndexKind.APPROXIMATE] * 5
    native = index._current()
    assert 1 < native.nprobe < native.nlist  # calibrated: searches some lists, not all
    assert sorted(index.ids()) == list(range(4000))
    assert index.stored_count() == len(index) == 4000
    assert recall_at_10(index, stored, queries) >= 0.95
    best_id, best_score = index.search(stored[1234], 1)[0]
    assert best_id == 1234 and best_score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.usefixtures("small_thresholds")
def test_a_growing_approximate_index_is_retrained_with_more_lists(tmp_path) -> None:
    index = VectorIndex(tmp_path / "1")
    vectors = clustered(8000)
    index.add(np.arange(2000), vectors[:2000])
    first = index._current().nlist
    index.add(np.arange(2000, 8000), vectors[2000:])
    assert index._current().nlist == index_kinds.lists_for(8000) >= 2 * first
    assert sorted(index.ids()) == list(range(8000))


@pytest.mark.usefixtures("small_thresholds")
@pytest.mark.parametrize(
    ("count", "kind"), [(1500, IndexKind.EXACT), (3000, IndexKind.APPROXIMATE)]
)
def test_removal_by_id_works_on_both_kinds(tmp_path, count: int, kind: IndexKind) -> None:
    index = VectorIndex(tmp_path / "1")
    vectors = clustered(count)
    index.add(np.arange(count), vectors)
    assert index.kind() == kind
    gone = np.arange(100, 400)
    index.remove(gone)
    assert index.kind() == kind
    assert sorted(index.ids()) == [i for i in range(count) if not 100 <= i < 400]
    assert index.stored_count() == count - 300
    for row in (100, 250, 399):
        assert all(hit not in set(gone) for hit, _ in index.search(vectors[row], 20))
    assert index.search(vectors[500], 1)[0][0] == 500


@pytest.mark.usefixtures("small_thresholds")
def test_shrinking_switches_back_to_exact_only_below_the_lower_threshold(tmp_path) -> None:
    index = VectorIndex(tmp_path / "1")
    index.add(np.arange(3000), clustered(3000))
    index.remove(np.arange(1800))  # 1,200 left: under APPROXIMATE_FROM, over EXACT_BELOW
    assert index.kind() == IndexKind.APPROXIMATE
    index.remove(np.arange(1800, 2100))  # 900 left
    assert index.kind() == IndexKind.EXACT
    assert sorted(index.ids()) == list(range(2100, 3000))


@pytest.mark.usefixtures("small_thresholds")
def test_reloading_from_disk_keeps_the_kind_and_its_search_parameters(tmp_path) -> None:
    writer = VectorIndex(tmp_path / "1")
    vectors = clustered(3000)
    writer.add(np.arange(3000), vectors)
    reader = VectorIndex(tmp_path / "1")
    assert reader.kind() == IndexKind.APPROXIMATE
    assert reader._current().nprobe == writer._current().nprobe
    assert reader.search(vectors[7], 3) == writer.search(vectors[7], 3)
    reader.replace_all(np.arange(500), vectors[:500])  # rebuilt as the kind its size calls for
    assert writer.kind() == IndexKind.EXACT
    assert sorted(p.name for p in (tmp_path / "1").iterdir()) == [".lock", "dense.faiss"]


def test_the_default_thresholds_leave_room_for_hysteresis() -> None:
    assert 0 < index_kinds.EXACT_BELOW < index_kinds.APPROXIMATE_FROM
    assert index_kinds.lists_for(index_kinds.APPROXIMATE_FROM) >= 64


def test_ingest_delete_and_repair_through_an_approximate_index(
    scholar: Scholar, make_pdf: PdfMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_kinds, "APPROXIMATE_FROM", 6)
    monkeypatch.setattr(index_kinds, "EXACT_BELOW", 5)
    [first] = scholar.ingest([make_pdf("topics.pdf", TOPIC_PAGES)])  # 4 chunks: exact
    index = scholar.indexes.for_collection(scholar.collection_id("default"))
    assert index.kind() == IndexKind.EXACT
    [second] = scholar.ingest([make_pdf("again.pdf", TOPIC_PAGES[::-1])])  # 8 chunks
    assert index.kind() == IndexKind.APPROXIMATE
    assert scholar.search("gothic cathedral flying buttresses", k=1)[0].document_id in {
        first.document_id,
        second.document_id,
    }
    doctor = Doctor(scholar.store, scholar.indexes, scholar.settings.files_dir)
    assert doctor.check(thorough=True).healthy and doctor.check(thorough=False).healthy

    index.path.unlink()
    assert doctor.check(repair=True).repaired
    assert index.kind() == IndexKind.APPROXIMATE and doctor.check().healthy

    scholar.delete_document(second.document_id)
    assert index.kind() == IndexKind.EXACT
    assert doctor.check().healthy
    assert scholar.search("volcano magma eruption", k=1)[0].document_id == first.document_id
