"""docs/security.md names real tests: every test it cites exists, and every covered row cites one."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
STATUSES = {"covered", "partial", "not applicable"}
_ROW = re.compile(r"^\|\s*(\d+\.\d+\.\d+)\s*\|([^|]*)\|\s*([a-z ]+?)\s*\|(.*)\|\s*$")
_REFERENCE = re.compile(r"(tests/[\w/]+\.py)::([\w:\[\]\-., ]+?)(?=`|$|\s|,)")


def _rows() -> list[tuple[str, str, list[str]]]:
    """(requirement, status, cited tests) of every requirement row."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            number, _, status, evidence = match.groups()
            rows.append((number, status, [f"{path}::{name}" for path, name in _REFERENCE.findall(evidence)]))
    return rows


@functools.cache
def _defined(path: str) -> dict[str, set[str]]:
    """Module-level names of a test file (functions, classes, assignments), and each class's methods."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names[""].add(node.name)
        elif isinstance(node, ast.ClassDef):
            names[""].add(node.name)
            names[node.name] = {item.name for item in node.body
                                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)}
        elif isinstance(node, ast.Assign):
            names[""].update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def _exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    parts = [re.sub(r"\[.*\]$", "", part) for part in name.split("::")]  # parametrize ids do not count
    if not (ROOT / path).is_file():
        return False
    defined = _defined(path)
    if len(parts) == 1:
        return parts[0] in defined[""]
    cls, method = parts
    return method in defined.get(cls, set())


def test_the_checklist_has_a_row_for_each_chapter_and_known_statuses_only() -> None:
    rows = _rows()

    assert {number.split(".")[0] for number, _, _ in rows} == {"2", "3", "4", "7", "13"}
    assert len({number for number, _, _ in rows}) == len(rows), "a requirement appears twice"
    assert {status for _, status, _ in rows} <= STATUSES


def test_every_covered_row_names_at_least_one_test() -> None:
    uncovered = [number for number, status, tests in _rows() if status == "covered" and not tests]

    assert uncovered == []


@pytest.mark.parametrize("reference", sorted({test for _, _, tests in _rows() for test in tests}))
def test_every_test_the_checklist_names_exists(reference: str) -> None:
    assert _exists(reference), f"docs/security.md names {reference}, which does not exist"


@pytest.mark.parametrize(("reference", "expected"), [
    ("tests/unit/test_security_doc.py::test_every_covered_row_names_at_least_one_test", True),
    ("tests/unit/test_security_doc.py::test_every_covered_row_names_at_least_one_test[sqlite]", True),
    ("tests/unit/test_security_doc.py::no_such_test", False),
    ("tests/unit/no_such_file.py::test_anything", False),
    ("tests/unit/test_security_doc.py::_Nothing::test_method", False),
])
def test_the_existence_check_itself(reference: str, expected: bool) -> None:
    assert _exists(reference) is expected
