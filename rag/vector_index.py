"""One FAISS index per collection, keyed by chunk id, written atomically.

Writers take an exclusive file lock around read-modify-write, so two processes ingesting into
one collection never lose each other's vectors; readers reload only when the file changed.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

INDEX_FILE = "dense.faiss"


class VectorIndex:
    """Exact inner-product search over unit vectors (cosine similarity)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / INDEX_FILE
        self._cached: faiss.Index | None = None
        self._cached_stamp: tuple[int, int] | None = None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with self._locked():
            vectors = _as_vectors(vectors)
            index = self._read() if self.path.exists() else _empty(vectors.shape[1])
            if index.d != vectors.shape[1]:
                raise ValueError(
                    f"{self.path} holds {index.d}-dimensional vectors, not {vectors.shape[1]}: "
                    "was the embedder changed? Rebuild the index from the store"
                )
            index.add_with_ids(vectors, _as_ids(ids))
            self._write(index)

    def remove(self, ids: np.ndarray) -> None:
        with self._locked():
            if not self.path.exists():
                return
            index = self._read()
            index.remove_ids(_as_ids(ids))
            self._write(index)

    def replace_all(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Rebuild from scratch (for example from the store's embeddings)."""
        vectors = _as_vectors(vectors)
        with self._locked():
            index = _empty(vectors.shape[1])
            index.add_with_ids(vectors, _as_ids(ids))
            self._write(index)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest chunk ids to one query vector, best first, with their scores."""
        index = self._current()
        if index is None or index.ntotal == 0 or k <= 0:
            return []
        scores, ids = index.search(_as_vectors(query.reshape(1, -1)), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def ids(self) -> np.ndarray:
        index = self._current()
        if index is None:
            return np.zeros(0, dtype=np.int64)
        return faiss.vector_to_array(index.id_map).astype(np.int64)

    def __len__(self) -> int:
        index = self._current()
        return 0 if index is None else index.ntotal

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _current(self) -> faiss.Index | None:
        """The index as on disk now (None before the first write), reloaded only on change."""
        stamp = self._stamp()
        if stamp is None:
            return None
        if self._cached is None or stamp != self._cached_stamp:
            self._cached, self._cached_stamp = self._read(), stamp
        return self._cached

    def _read(self) -> faiss.Index:
        return faiss.read_index(str(self.path))

    def _write(self, index: faiss.Index) -> None:
        temporary = self.path.with_name(f".{INDEX_FILE}.{os.getpid()}.tmp")
        faiss.write_index(index, str(temporary))
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._cached, self._cached_stamp = index, self._stamp()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class IndexRegistry:
    """The indexes of all collections under one folder: `<root>/<collection id>/dense.faiss`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._indexes: dict[int, VectorIndex] = {}

    def for_collection(self, collection_id: int) -> VectorIndex:
        if collection_id not in self._indexes:
            self._indexes[collection_id] = VectorIndex(self.root / str(collection_id))
        return self._indexes[collection_id]


def _empty(dimension: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def _as_vectors(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected a matrix of vectors, got shape {vectors.shape}")
    return vectors


def _as_ids(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)
