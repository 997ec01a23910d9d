"""One FAISS index per collection, keyed by chunk id, written atomically.

Writers take an exclusive file lock around read-modify-write, so two processes ingesting into
one collection never lose each other's vectors; readers reload only when the file changed.
Indexes are read and written only in FAISS's own format (never pickled). The index kind follows
the collection's size (rag/index_kinds): a write that takes it across a threshold rebuilds it as
the other kind in the same atomic write.
"""

import fcntl
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO

import faiss
import numpy as np

from rag.index_kinds import IndexKind, build, empty_exact, fitted, ids_of, kind_of

INDEX_FILE = "dense.faiss"
TEMPORARY_SUFFIX = ".tmp"  # `.dense.faiss.<pid>.tmp` while a write is under way
WRITER_LOCK = ".writer.lock"
_HEADER = struct.Struct("<4siq")  # fourcc, dimension, vector count: the same for both kinds
_FOURCCS = (b"IxM2", b"IwFl")  # IndexIDMap2, IndexIVFFlat


class FileLock:
    """An exclusive lock shared by processes (flock) and threads; re-entrant within a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._handle: IO[str] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "a")  # noqa: SIM115 (kept open while held)
                fcntl.flock(self._handle, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._handle is not None:
                    fcntl.flock(self._handle, fcntl.LOCK_UN)
                    self._handle.close()
                    self._handle = None


class VectorIndex:
    """Inner-product search over unit vectors (cosine similarity): exact, or approximate for
    large collections."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / INDEX_FILE
        self._cached: faiss.Index | None = None
        self._cached_stamp: tuple[int, int] | None = None
        self._lock = FileLock(folder / ".lock")

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        with self._locked():
            vectors = _as_vectors(vectors)
            index = self._read() if self.path.exists() else empty_exact(vectors.shape[1])
            if index.d != vectors.shape[1]:
                raise ValueError(
                    f"{self.path} holds {index.d}-dimensional vectors, not {vectors.shape[1]}: "
                    "was the embedder changed? Rebuild the index from the store"
                )
            index.add_with_ids(vectors, _as_ids(ids))
            self._write(fitted(index))

    def remove(self, ids: np.ndarray) -> None:
        with self._locked():
            if not self.path.exists():
                return
            index = self._read()
            index.remove_ids(_as_ids(ids))
            self._write(fitted(index))

    def replace_all(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Rebuild from scratch (for example from the store's embeddings), as the kind its size
        calls for."""
        vectors = _as_vectors(vectors)
        with self._locked():
            self._write(build(_as_ids(ids), vectors))

    def clear(self) -> None:
        """Remove the index file (a collection with no passages has none)."""
        with self._locked():
            self.path.unlink(missing_ok=True)
            self._cached, self._cached_stamp = None, None

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
        return ids_of(index)

    def kind(self) -> IndexKind | None:
        """Exact or approximate; None while there is no index."""
        index = self._current()
        return None if index is None else kind_of(index)

    def __len__(self) -> int:
        index = self._current()
        return 0 if index is None else index.ntotal

    def stored_count(self) -> int | None:
        """How many vectors the file on disk holds, from its header alone (cheap for any size);
        None when there is no file, ValueError when it is not an index of ours."""
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(_HEADER.size)
        except FileNotFoundError:
            return None
        if len(header) < _HEADER.size or header[:4] not in _FOURCCS:
            raise ValueError(f"{self.path} is not a FAISS IndexIDMap2 or IndexIVFFlat file")
        return _HEADER.unpack(header)[2]

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
        temporary = self.path.with_name(f".{INDEX_FILE}.{os.getpid()}{TEMPORARY_SUFFIX}")
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

    def _locked(self) -> AbstractContextManager[None]:
        return self._lock.held()


class IndexRegistry:
    """The indexes of all collections under one folder: `<root>/<collection id>/dense.faiss`,
    and the writer lock that every change to store and indexes together is made under."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._indexes: dict[int, VectorIndex] = {}
        self._writer = FileLock(root / WRITER_LOCK)

    def writing(self) -> AbstractContextManager[None]:
        """Held while documents move between states (rows, vectors and originals together), so
        no other process sees or repairs a change half made; re-entrant within a thread."""
        return self._writer.held()

    def for_collection(self, collection_id: int) -> VectorIndex:
        if collection_id not in self._indexes:
            self._indexes[collection_id] = VectorIndex(self.root / str(collection_id))
        return self._indexes[collection_id]


def _as_vectors(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected a matrix of vectors, got shape {vectors.shape}")
    return vectors


def _as_ids(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)
