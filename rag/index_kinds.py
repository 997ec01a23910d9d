"""Which FAISS index a collection gets: exact below a size, approximate (IVF-Flat) above it.

Exact is `IndexIDMap2(IndexFlatIP)`. Approximate is `IndexIVFFlat` over spherical k-means lists,
trained from the collection's own vectors (rag/ivf_training): it keeps the full vectors (scores
stay exact inner products), stores chunk ids itself and removes them natively, and adds new
vectors without retraining. HNSW was measured too (bench/index.py): faster queries, but a slower
build on few cores and no removal by id. The number of lists a search visits (nprobe) is set when
the index is built, to the fewest that find CALIBRATION_RECALL of the exact top 10 for a sample of
the stored vectors; FAISS keeps it in the file.
"""

import math
from enum import StrEnum

import faiss
import numpy as np
from faiss.contrib.inspect_tools import get_invlist
from faiss.contrib.ivf_tools import add_preassigned

from rag.ivf_training import assign, calibrated_nprobe, spherical_kmeans

APPROXIMATE_FROM = 50_000  # a collection this large gets the approximate index
EXACT_BELOW = 25_000  # and goes back to exact only below this (hysteresis)
LISTS_PER_ROOT = 2  # about 2 * sqrt(n) inverted lists, rounded to a power of two
TRAINING_PER_LIST = 40  # k-means points per list (FAISS asks for at least 39)
KMEANS_ITERATIONS = 10
CALIBRATION_QUERIES = 256
CALIBRATION_K = 10
CALIBRATION_RECALL = 0.97  # a margin over the 0.95 promised: real queries are not stored vectors
SEED = 1234


class IndexKind(StrEnum):
    EXACT = "exact"
    APPROXIMATE = "approximate"


def kind_of(index: faiss.Index) -> IndexKind:
    return IndexKind.APPROXIMATE if isinstance(index, faiss.IndexIVF) else IndexKind.EXACT


def empty_exact(dimension: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def build(ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    """A new index of the kind the number of vectors calls for."""
    if len(ids) >= APPROXIMATE_FROM:
        return build_approximate(ids, vectors)
    return build_exact(ids, vectors)


def build_exact(ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    index = empty_exact(vectors.shape[1])
    index.add_with_ids(vectors, ids)
    return index


def build_approximate(ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    """IVF-Flat trained on a sample of the vectors, holding all of them, nprobe calibrated."""
    ids, vectors = np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(vectors, np.float32)
    count, dimension = vectors.shape
    lists = lists_for(count)
    rng = np.random.default_rng(SEED)
    sample = np.sort(rng.choice(count, min(count, lists * TRAINING_PER_LIST), replace=False))
    centroids = spherical_kmeans(vectors[sample], lists, KMEANS_ITERATIONS, rng)
    quantizer = faiss.IndexFlatIP(dimension)
    quantizer.add(centroids)
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    members = assign(vectors, centroids)
    add_preassigned(index, vectors, members, ids)
    index.nprobe = calibrated_nprobe(
        vectors,
        centroids,
        members,
        rng,
        CALIBRATION_QUERIES,
        CALIBRATION_K,
        CALIBRATION_RECALL,
    )
    return index


def lists_for(count: int) -> int:
    """Inverted lists for this many vectors: a power of two near LISTS_PER_ROOT * sqrt(count),
    with enough vectors per list to train on."""
    wanted = 2 ** round(math.log2(max(1.0, LISTS_PER_ROOT * math.sqrt(count))))
    trainable = 2 ** int(math.log2(max(1, count // TRAINING_PER_LIST)))
    return max(1, min(wanted, trainable))


def fitted(index: faiss.Index) -> faiss.Index:
    """The index, or a new one if it no longer suits its size: the other kind is due (past a
    threshold), or an approximate index has grown or shrunk so far that its number of lists is
    wrong (retrained from its own vectors). The old index (the caller's private copy) is emptied
    before the new one is built, to spare memory."""
    count = index.ntotal
    if kind_of(index) == IndexKind.EXACT:
        due = IndexKind.APPROXIMATE if count >= APPROXIMATE_FROM else None
    elif count < EXACT_BELOW:
        due = IndexKind.EXACT
    else:
        wanted = lists_for(count)
        refit = wanted >= 2 * index.nlist or 4 * wanted <= index.nlist
        due = IndexKind.APPROXIMATE if refit else None
    if due is None:
        return index
    ids, vectors = contents(index)
    index.reset()
    if due == IndexKind.APPROXIMATE:
        return build_approximate(ids, vectors)
    return build_exact(ids, vectors)


def ids_of(index: faiss.Index) -> np.ndarray:
    if kind_of(index) == IndexKind.EXACT:
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    parts = [get_invlist(index.invlists, number)[0] for number in range(index.nlist)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def contents(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """Every chunk id in the index and its vector, row for row."""
    if kind_of(index) == IndexKind.EXACT:
        return ids_of(index), index.index.reconstruct_n(0, index.ntotal)
    ids = np.empty(index.ntotal, dtype=np.int64)
    vectors = np.empty((index.ntotal, index.d), dtype=np.float32)
    filled = 0
    for number in range(index.nlist):
        list_ids, codes = get_invlist(index.invlists, number)
        ids[filled : filled + len(list_ids)] = list_ids
        vectors[filled : filled + len(list_ids)] = codes.view(np.float32)  # IVF-Flat: raw floats
        filled += len(list_ids)
    return ids, vectors
