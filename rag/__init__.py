"""The store, the embedder, the vector index and retrieval: everything between files and answers."""
