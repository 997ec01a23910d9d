"""Shared fixtures: PDFs built with known text on known pages, a fresh home per test, the real
bundled embedder (loaded once per session)."""

import os
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


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "home"
    monkeypatch.setenv("SCHOLAR_HOME", str(home))
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
