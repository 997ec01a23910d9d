import numpy as np

from rag.embedder import Embedder


def test_texts_batched_by_length_come_back_in_the_order_given(embedder: Embedder) -> None:
    texts = [
        "A long sentence about how the lamp of the Zanzibar lighthouse burns paraffin oil "
        f"and turns once every {n} seconds, polished each evening before sunset."
        if n % 3 == 0
        else f"Short text {n}."
        for n in range(70)  # more than two batches, lengths interleaved
    ]
    reported: list[tuple[int, int]] = []
    vectors = embedder.embed(texts, progress=lambda done, total: reported.append((done, total)))
    alone = np.stack([embedder.embed([text])[0] for text in texts[:7]])
    assert vectors.shape == (70, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(vectors[:7], alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert reported == [(32, 70), (64, 70), (70, 70)]
    assert embedder.embed([]).shape == (0, embedder.dimension)
