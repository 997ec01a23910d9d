"""The LLaMA generator: network, KV cache, weight loading, tokenizer and sampling.

Knows nothing of documents; `rag/` imports it to generate.
"""
