"""The arithmetic of building an approximate index: spherical k-means, list assignment, exact
nearest neighbours and the calibration of how many lists a search visits.

It is done in blockwise numpy matrix products rather than inside FAISS: the OpenBLAS bundled with
the faiss-cpu wheel falls back to its generic kernel on CPUs newer than it knows (measured on this
project's machine: ten times slower than numpy's on the same products), and these products are
nearly all of a build's time.
"""

import math

import numpy as np

BLOCK_ROWS = 16_384  # rows per matrix product, so scores held at once stay small


def assign(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each vector's list: the centroid with the largest inner product."""
    lists = np.empty(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), BLOCK_ROWS):
        block = vectors[start : start + BLOCK_ROWS]
        lists[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return lists


def spherical_kmeans(
    sample: np.ndarray, lists: int, iterations: int, rng: np.random.Generator
) -> np.ndarray:
    """Unit centroids: k-means under cosine similarity, seeded from sample points; a list left
    empty is reseeded with a random point. Members are summed list by list (sorted, reduceat)."""
    centroids = sample[rng.choice(len(sample), lists, replace=False)]
    for _ in range(iterations):
        members = assign(sample, centroids)
        order = np.argsort(members, kind="stable")
        counts = np.bincount(members, minlength=lists)
        filled = counts > 0
        starts = np.cumsum(counts) - counts
        sums = sample[rng.choice(len(sample), lists, replace=False)]
        sums[filled] = np.add.reduceat(sample[order], starts[filled])
        centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return centroids


def nearest(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Row numbers of each query's k largest inner products among the vectors, best first."""
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), BLOCK_ROWS):
        block = vectors[start : start + BLOCK_ROWS]
        scores = np.concatenate([best_scores, queries @ block.T], axis=1)
        numbers = np.broadcast_to(np.arange(start, start + len(block)), (len(queries), len(block)))
        rows = np.concatenate([best_rows, numbers], axis=1)
        if scores.shape[1] > k:
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            scores, rows = np.take_along_axis(scores, top, 1), np.take_along_axis(rows, top, 1)
        best_scores, best_rows = scores, rows
    return np.take_along_axis(best_rows, np.argsort(-best_scores, axis=1), 1)


def calibrated_nprobe(
    vectors: np.ndarray,
    centroids: np.ndarray,
    lists: np.ndarray,
    rng: np.random.Generator,
    queries: int,
    k: int,
    recall: float,
) -> int:
    """The fewest lists a search must visit to find `recall` of the exact k nearest neighbours of
    sample stored vectors (each query's own vector not counted). An IVF-Flat search finds a true
    neighbour exactly when it visits that neighbour's list, so this is a quantile of each
    neighbour's list's rank among the centroids by similarity to the query."""
    rows = rng.choice(len(vectors), min(len(vectors), queries), replace=False)
    sample = vectors[rows]
    near = nearest(sample, vectors, min(k + 1, len(vectors)))
    order = np.argsort(-(sample @ centroids.T), axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(len(centroids))[None, :], axis=1)
    needed = [
        rank[query, lists[neighbours[neighbours != own][:k]]] + 1
        for query, (neighbours, own) in enumerate(zip(near, rows, strict=True))
    ]
    ranks = np.sort(np.concatenate(needed))
    if len(ranks) == 0:
        return 1
    return int(ranks[math.ceil(recall * len(ranks)) - 1])
