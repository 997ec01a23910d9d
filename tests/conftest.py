"""Shared fixtures: PDFs built with known text on known pages, a fresh home per test, the real
bundled embedder (loaded once per session)."""

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fpdf import FPDF

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from app.service import Scholar
from app.settings import Settings
from rag.embedder import Embedder, bundled_embedder_path, load_embedder

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PAPERS = SHARED_DATA / "pdfs" / "papers"
TRICKY = SHARED_DATA / "pdfs" / "tricky"

PdfMaker = Callable[..., Path]

# A PostgreSQL server for the store's tests (.ci/run starts one); they run on SQLite only without.
PG_URL_VARIABLE = "SCHOLAR_TEST_PG_URL"
# The generator's CPU plan as SCHOLAR_CPU_PLAN names it (`make test` runs the model and answer
# tests a second time under `avx2`); the tests that load the default model directly use it too.
CPU_PLAN = Settings.from_env().cpu_plan


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (run from a checkout beside shared/)")
    return path


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(bundled_embedder_path())


def write_pdf(
    path: Path,
    pages: list[list[str]],
    header: str | None = None,
    footer: str | None = None,
) -> Path:
    """A PDF whose page i holds the paragraphs pages[i]; optional running header and footer
    ("{page}" in them becomes the page number)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    for number, paragraphs in enumerate(pages, start=1):
        pdf.add_page()
        pdf.set_font("Helvetica", size=10)
        if header:
            pdf.set_xy(15, 8)
            pdf.cell(0, 5, header.format(page=number))
        pdf.set_xy(15, 20)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 5, paragraph)
            pdf.ln(4)
        if footer:
            pdf.set_xy(15, 285)
            pdf.cell(0, 5, footer.format(page=number))
    pdf.output(str(path))
    return path


@pytest.fixture
def make_pdf(tmp_path: Path) -> PdfMaker:
    def make(name: str, pages: list[list[str]], **running: str) -> Path:
        return write_pdf(tmp_path / name, pages, **running)

    return make


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One converted-model cache for the whole session: the first test that needs the default
    generator converts it, the rest reuse it."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_models_dir: Path) -> Settings:
    home = tmp_path / "home"
    monkeypatch.setenv("SCHOLAR_HOME", str(home))
    monkeypatch.setenv("SCHOLAR_MODELS_DIR", str(shared_models_dir))
    for name in ("SCHOLAR_DB_URL", "SCHOLAR_CHUNK_TOKENS", "SCHOLAR_CHUNK_OVERLAP"):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env()


@pytest.fixture
def scholar(settings: Settings) -> Iterator[Scholar]:
    service = Scholar(settings)
    yield service
    service.store.dispose()


# Four pages on four unrelated subjects, each about one chunk long at the default chunk size.
TOPIC_PAGES = [
    [
        "Photosynthesis lets green plants capture the energy of sunlight. Chlorophyll in the "
        "chloroplasts of leaf cells absorbs red and blue light and reflects green, which is why "
        "leaves look green to us.",
        "In the light reactions, water molecules are split, oxygen is released into the air and "
        "the energy carriers ATP and NADPH are made. In the Calvin cycle the enzyme RuBisCO fixes "
        "carbon dioxide from the air, and the plant builds glucose and other sugars from it.",
        "Plants store the sugar as starch in roots, seeds and tubers, and burn part of it for "
        "their own growth. Almost every food chain on land starts with this process.",
    ],
    [
        "Volcanic eruptions happen when magma rises through cracks in the crust of the earth. "
        "Gas dissolved in the molten rock expands as the pressure drops, and the magma is "
        "driven up the conduit towards the vent.",
        "Explosive eruptions throw ash, pumice and hot gases high into the sky, while effusive "
        "eruptions pour out rivers of lava. Pyroclastic flows of ash and gas race down the "
        "slopes of the mountain at hundreds of kilometres per hour.",
        "Volcanologists watch for earthquakes, ground swelling and sulfur dioxide emissions to "
        "warn the people who live near an active volcano before it erupts.",
    ],
    [
        "Gothic cathedrals were built in Europe from the twelfth to the sixteenth century. Their "
        "builders used pointed arches, ribbed vaults and flying buttresses to carry the weight "
        "of the stone roof outwards and down to the ground.",
        "Because the walls no longer had to bear the whole load, masons could open them up with "
        "large stained glass windows and rose windows that fill the nave with coloured light.",
        "Famous examples include Chartres, Notre-Dame de Paris, Reims and Cologne, whose towers "
        "and spires rise far above the medieval towns around them.",
    ],
    [
        "The offside rule is one of the laws of association football. A player is in an offside "
        "position when nearer to the opponents' goal line than both the ball and the "
        "second-last defender, in the opponents' half of the pitch.",
        "Being in that position is not an offence in itself. The assistant referee raises the "
        "flag only when the attacker becomes involved in active play, for example by receiving "
        "a pass from a team-mate or by blocking the goalkeeper's view.",
        "Video assistant referees now check tight offside decisions before a goal is awarded.",
    ],
]


def _postgres_admin_url() -> str | None:
    url = os.environ.get(PG_URL_VARIABLE) or os.environ.get("SCHOLAR_DB_URL", "")
    return url if url.startswith("postgresql") else None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in the test's folder, or a new PostgreSQL database on the
    server that SCHOLAR_TEST_PG_URL names (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scholar.db'}"
        return
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip(f"no PostgreSQL server: set {PG_URL_VARIABLE} (.ci/run starts one)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver (psycopg[binary]) is missing")
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = f"scholar_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def any_scholar(settings: Settings, db_url: str) -> Iterator[Scholar]:
    """A Scholar on each database the suite can reach (see `db_url`)."""
    service = Scholar(dataclasses.replace(settings, db_url=db_url))
    yield service
    service.store.dispose()
