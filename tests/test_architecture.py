"""The house rules (docs/architecture.md): the floors import only downwards, functions fit on
a screen, and every relative link of the Markdown pages resolves."""

import ast
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Each floor and the packages it must never import (library -> models -> drivers -> benchmarks).
FORBIDDEN_IMPORTS = {
    "initializers": ("models", "reproductions", "benchmarks"),
    "models": ("reproductions", "benchmarks"),
    "reproductions": ("benchmarks",),
}
MAX_FUNCTION_LINES = 60  # lines of code, docstring aside


def _python_files(package):
    return sorted((ROOT / package).rglob("*.py"))


def _imported_modules(tree):
    """Every module an `import`, `from ... import` or `importlib.import_module("literal")` names,
    at any depth (imports inside functions count too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.args[0].value


def _upward_imports(package, forbidden):
    found = []
    for path in _python_files(package):
        for module in _imported_modules(ast.parse(path.read_text())):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_floors_import_only_downwards(package):
    assert _upward_imports(package, FORBIDDEN_IMPORTS[package]) == []


def test_the_import_rule_catches_an_upward_import(tmp_path, monkeypatch):
    # The rule must be able to fail: a library module importing a driver, even inside a
    # function, or by importlib with a literal name, is found.
    package = tmp_path / "initializers"
    package.mkdir()
    (package / "bad.py").write_text("import importlib\n\ndef f():\n    from reproductions import data\n"
                                    "    return importlib.import_module('reproductions.runs')\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert _upward_imports("initializers", ("reproductions",)) == [
        "initializers/bad.py imports reproductions", "initializers/bad.py imports reproductions.runs"]


def _code_lines(function):
    lines = function.end_lineno - function.lineno + 1
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        lines -= body[0].end_lineno - body[0].lineno + 1
    return lines


def test_functions_fit_on_a_screen():
    too_long = []
    for package in ("initializers", "models", "reproductions"):
        for path in _python_files(package):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({_code_lines(node)} lines)")
    assert too_long == []


def _markdown_files():
    """The repository's Markdown pages: tracked, or new and not ignored (not run outputs)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                            cwd=ROOT, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    return sorted(ROOT / name for name in listed.stdout.split())


def github_anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path):
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", path.read_text(), flags=re.MULTILINE)
    return {github_anchor(heading) for heading in headings}


# [text](target) and ![alt](target), not inside code spans; absolute URLs are not checked.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _broken_links(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    return broken


def test_every_relative_markdown_link_resolves():
    pages = _markdown_files()
    assert ROOT / "README.md" in pages and len(pages) > 5
    assert [link for page in pages for link in _broken_links(page)] == []


def test_the_link_check_catches_a_broken_link(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# A guide\n\n## Use it\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/guide.md#use-it) [gone](docs/missing.md) [bad anchor](docs/guide.md#nope) "
                    "`[code](not/checked.md)` [web](https://example.org)\n")
    assert _broken_links(page) == ["README.md: docs/missing.md (no such file)",
                                   "README.md: docs/guide.md#nope (no such heading)"]


def test_readme_is_a_landing_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    commands = re.findall(r"^pip install -r requirements.txt && (.+)$", readme, flags=re.MULTILINE)
    assert commands[:2] == ["bash scripts/reproduce_he2015.sh", "python -m pytest -q"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m pytest -q" in ci  # CI runs the README's test command
