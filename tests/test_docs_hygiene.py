"""The docs speak about the project, to its users: no paths of the authors' own machines, no words about
how the work was organised (which issue asked for what, which session or lent GPU ran it).

A user reads "the issue asks for 10 epochs" or "/work/runs/hog-train" and cannot follow it: the page
must say what was run (the command, with relative paths or placeholders such as $DATA and OUT), on
which machine and when. Checked on README.md and every page under docs/, code blocks included.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# absolute paths into the authors' machines (a user's are ~/..., $DATA, OUT, or relative)
ABSOLUTE_PATH = re.compile(r"(?<![\w.~$-])/(?:work|root|home|Users|mnt/data)/[\w.-]+")
# how the work was organised, not what the project does
PROCESS_WORDING = {
    "an issue": re.compile(r"\bissues? ?\d+|\bissue's\b|\bthe issue\b", re.I),
    "a lent machine": re.compile(r"\blent\b", re.I),
    "a stop of the work": re.compile(r"\bthis stop\b|\bstop's\b", re.I),
    "a work session": re.compile(r"\bsessions?\b", re.I),
    "a helper": re.compile(r"\bhelpers?\b", re.I),
    "the workflow": re.compile(r"\bworktrees?\b|\bthe brief\b|\baudit\b", re.I),
}
# "session" in its own meaning: a debugger session (docs/reading-guide.md)
DEBUGGER_SESSION = re.compile(r"\b(?:debugger|recorded|real|pdb)[ -]session\b|\bsession below\b", re.I)


def _hits(pattern, text):
    for number, line in enumerate(text.splitlines(), 1):
        for m in pattern.finditer(DEBUGGER_SESSION.sub("", line)):
            yield f"line {number}: ...{line[max(0, m.start() - 40):m.end() + 40].strip()}..."


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_absolute_paths_of_the_authors_machines(page):
    hits = list(_hits(ABSOLUTE_PATH, page.read_text(encoding="utf-8")))
    assert not hits, (f"{page.relative_to(ROOT)} names paths of the machine it was written on; use relative "
                      "paths or placeholders ($DATA, OUT, ~/...):\n" + "\n".join(hits))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_words_about_how_the_work_was_organised(page):
    text = page.read_text(encoding="utf-8")
    hits = [f"{what}: {hit}" for what, pattern in PROCESS_WORDING.items() for hit in _hits(pattern, text)]
    assert not hits, (f"{page.relative_to(ROOT)} speaks of how the work was organised; say what the project "
                      "does, and for a measurement the machine, the date and the command:\n" + "\n".join(hits))


def test_the_checks_find_what_they_look_for():
    """A check that cannot fail is a defect: each pattern on a sentence it must catch, and one it must not."""
    assert list(_hits(ABSOLUTE_PATH, "python x.py --out /work/runs/a --data-dir /root/data"))
    assert not list(_hits(ABSOLUTE_PATH, "--data-dir ~/.cache/minigan or $DATA/cifar10 or runs/dcgan"))
    caught = ["The issue asks for 10 epochs", "Issue 15's targets", "on a lent H100", "before this stop",
              "the session's time ran out", "a helper installing the benchmark", "other sessions shared the CPU"]
    for sentence in caught:
        assert any(list(_hits(p, sentence)) for p in PROCESS_WORDING.values()), sentence
    for sentence in ["A guided debugger session", "This is a real session, recorded with pdb",
                     "the session below first imports it", "the frameworks trade the lead"]:
        assert not any(list(_hits(p, sentence)) for p in PROCESS_WORDING.values()), sentence
