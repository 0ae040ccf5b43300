"""Everything a page loads is served by us (no CDN): no template or static file points a src, href, action,
url() or @import at an http(s) URL, and no script fetches one. Comments are ignored."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED_SUFFIXES = {".html", ".txt", ".css", ".js", ".svg", ".json", ".webmanifest"}

COMMENT_PATTERNS = [
    re.compile(r"\{#.*?#\}", re.S),  # Django one-line comments
    re.compile(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.S),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"/\*.*?\*/", re.S),  # CSS and JS block comments
    re.compile(r"(?m)^\s*//.*$"),  # JS line comments on their own line
]
REFERENCE_PATTERNS = [
    re.compile(r"""\b(?:src|href|action|srcset|poster|data|formaction)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//""", re.I),
]
# In scripts any absolute URL in a string is a fetch/import waiting to happen.
SCRIPT_URL = re.compile(r"""["'`]https?://""")


def strip_comments(text: str) -> str:
    for pattern in COMMENT_PATTERNS:
        text = pattern.sub("", text)
    return text


def external_references(path: Path, root: Path = ROOT) -> list[str]:
    text = strip_comments(path.read_text(errors="replace"))
    patterns = REFERENCE_PATTERNS + ([SCRIPT_URL] if path.suffix == ".js" else [])
    hits = []
    for pattern in patterns:
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            hits.append(f"{path.relative_to(root)}:{line}: {text[match.start():match.start() + 80].splitlines()[0]}")
    return hits


def scanned_files() -> list[Path]:
    return sorted(
        path
        for folder in ("templates", "static")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in SCANNED_SUFFIXES
    )


def test_scanner_catches_cdn_references(tmp_path):
    sample = tmp_path / "page.html"
    sample.write_text(
        '<!-- <script src="https://cdn.example/x.js"></script> -->\n'
        '<link rel="stylesheet" href="https://cdn.example/site.css">\n'
        '<svg xmlns="http://www.w3.org/2000/svg"></svg>\n'
    )
    hits = external_references(sample, root=tmp_path)
    assert len(hits) == 1 and "page.html:2:" in hits[0]  # the comment and the SVG namespace are fine


def test_templates_and_static_files_reference_nothing_external():
    files = scanned_files()
    assert any(path.name == "base.html" for path in files)
    hits = [hit for path in files for hit in external_references(path)]
    assert not hits, "external URLs (serve these locally instead):\n" + "\n".join(hits)
