"""Reading files and writing their documents, chunks and vectors through `rag/`."""
