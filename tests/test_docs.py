"""The documentation points only at things that exist: links, anchors and repository paths."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300

# `[text](target)` and `![alt](target)`; a target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTERNAL = ("http://", "https://", "mailto:")
FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

# A repository path in backticks: a word with a "/" whose first component is a top-level folder
# of the repository, ending in a known extension (a file) or in "/" (a folder). Run directories
# (outputs/, multirun/), data folders and paths outside the repository start elsewhere.
REPO_FOLDERS = (
    "app",
    "benchmarks",
    "child",
    "conf",
    "controller",
    "core",
    "docs",
    "scripts",
    "tests",
)
EXTENSIONS = (".py", ".yaml", ".yml", ".md", ".csv", ".png", ".sh", ".json", ".txt", ".toml")
# The worked examples of docs/extending.md name the files a reader creates (a space, a
# controller).
EXAMPLE_NAMES = ("mlp", "greedy")


def config_groups() -> set[str]:
    """The Hydra config groups: every folder of conf/ that holds options (`hydra/launcher` too)."""
    conf = ROOT / "conf"
    return {str(p.parent.relative_to(conf)) for p in conf.rglob("*.yaml") if p.parent != conf}


def slug(heading: str) -> str:
    """GitHub's anchor: lowercase, spaces to '-', punctuation but '-' and '_' dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a Markdown page, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(page, keep_code=False):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def prose_lines(page: Path, keep_code: bool) -> list[str]:
    """The page's lines, without fenced code blocks unless `keep_code`."""
    lines, in_fence = [], False
    for line in page.read_text().splitlines():
        if FENCE.match(line.strip()):
            in_fence = not in_fence
            continue
        if keep_code or not in_fence:
            lines.append(line)
    return lines


def links(page: Path) -> list[str]:
    """The Markdown link targets of a page, outside code."""
    targets = []
    for line in prose_lines(page, keep_code=False):
        targets += LINK.findall(INLINE_CODE.sub("", line))
    return targets


def code_texts(page: Path) -> list[str]:
    """What a page puts in code: inline code spans and the lines of fenced blocks."""
    texts, in_fence = [], False
    for line in page.read_text().splitlines():
        if FENCE.match(line.strip()):
            in_fence = not in_fence
        elif in_fence:
            texts.append(line)
        else:
            texts += [span for _, span in INLINE_CODE.findall(line)]
    return texts


def is_transcript(block: list[str]) -> bool:
    """A fenced block with a `$ ` prompt records what a command printed when it was run."""
    return any(line.startswith("$ ") for line in block)


def option_texts(page: Path) -> list[str]:
    """Code that names config options as they are typed today: inline spans, fenced commands."""
    texts, block, in_fence = [], [], False
    for line in page.read_text().splitlines():
        if FENCE.match(line.strip()):
            if in_fence and not is_transcript(block):
                texts += block
            block, in_fence = [], not in_fence
        elif in_fence:
            block.append(line)
        else:
            texts += [span for _, span in INLINE_CODE.findall(line)]
    return texts


def group_options(word: str, groups: set[str]) -> list[tuple[str, str]]:
    """The (group, option) pairs a command-line word selects: `controller=lstm,random` gives two."""
    pairs, group = [], None
    for token in word.split(","):
        if "=" in token:
            key, value = token.split("=", 1)
            found = re.search(r"[\w/]+$", key)
            group = found.group(0) if found and found.group(0) in groups else None
        else:
            value = token
        value = value.strip("\"'()`.;:")
        if group and re.fullmatch(r"\w+", value) and value not in EXAMPLE_NAMES:
            pairs.append((group, value))
    return pairs


def repo_path(word: str) -> str | None:
    """The repository path a word of code names, or None when it names none."""
    word = word.split("=")[-1].strip("\"'(),:;.")
    if "/" not in word or "..." in word or "…" in word:
        return None
    if word.split("/")[0] not in REPO_FOLDERS:
        return None
    if not (word.endswith("/") or word.endswith(EXTENSIONS)):
        return None
    if any(re.search(rf"(^|/){name}(/|\.|$)", word) for name in EXAMPLE_NAMES):
        return None
    return word


def expand(path: str) -> list[str]:
    """Glob patterns for a path: `<name>` and `*` match any name, `{a,b}` gives both."""
    braces = re.search(r"\{([^{}]*)\}", path)
    if braces:
        head, tail = path[: braces.start()], path[braces.end() :]
        return [p for option in braces.group(1).split(",") for p in expand(head + option + tail)]
    return [re.sub(r"<[^<>/]*>", "*", path)]


def exists(pattern: str) -> bool:
    """Whether a path (or glob pattern) relative to the repository root names something."""
    return bool(glob.glob(str(ROOT / pattern)))


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_and_anchor_exists(page):
    missing = []
    for target in links(page):
        if target.startswith(EXTERNAL):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            missing.append(f"{target}: no {path}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            missing.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not missing, f"{page_id(page)} links to what does not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_repository_path_in_code_exists(page):
    paths = {
        path
        for text in code_texts(page)
        for word in text.split()
        if (path := repo_path(word)) is not None
    }
    missing = sorted(p for p in paths if not any(exists(g) for g in expand(p)))
    assert not missing, f"{page_id(page)} names paths that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", [p for p in PAGES if p.name != "BENCHMARKS.md"], ids=page_id)
def test_every_config_option_named_exists(page):
    # BENCHMARKS.md records the commands as they were run; the other pages say how to run today.
    groups = config_groups()
    named = {
        pair
        for text in option_texts(page)
        for word in text.split()
        for pair in group_options(word, groups)
    }
    missing = sorted(
        f"{group}={option}"
        for group, option in named
        if not (ROOT / "conf" / group / f"{option}.yaml").exists()
    )
    assert not missing, f"{page_id(page)} names options that do not exist:\n" + "\n".join(missing)


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_rules_find_what_they_should():
    assert slug("8. NAS-Bench-201 under the paper's protocol") == (
        "8-nas-bench-201-under-the-papers-protocol"
    )
    assert slug("What `make search` does") == "what-make-search-does"
    assert repo_path("child/spaces/macro/space.py") == "child/spaces/macro/space.py"
    assert repo_path("run=outputs/2026-11-28/01-04-19") is None
    assert repo_path("evaluator.path=child/spaces/nb201/tables/nb201.csv,") == (
        "child/spaces/nb201/tables/nb201.csv"
    )
    assert repo_path("conf/experiment/") == "conf/experiment/"
    assert repo_path("cifar-10-batches-py/") is None
    assert repo_path("../shared/data/README.md") is None
    assert repo_path("tests/helpers.run_search") is None
    assert repo_path("child/spaces/mlp/space.py") is None
    assert expand("benchmarks/results/default_search_seed{1,2}.json") == [
        "benchmarks/results/default_search_seed1.json",
        "benchmarks/results/default_search_seed2.json",
    ]
    assert expand("child/spaces/<name>/space.py") == ["child/spaces/*/space.py"]
    groups = {"controller", "hydra/launcher"}
    assert group_options("3-controller=lstm,seed=1", groups) == [("controller", "lstm")]
    assert group_options("controller=lstm,random", groups) == [
        ("controller", "lstm"),
        ("controller", "random"),
    ]
    assert group_options("hydra/launcher=slurm", groups) == [("hydra/launcher", "slurm")]
    assert group_options("controller.lr=1e-3", groups) == []
    assert group_options("run=<dir>", groups) == []
