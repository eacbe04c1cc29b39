"""Name search, content search and the tree, on real trees, without the server."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from patchbay_common.errors import UserError
from patchbay_common.roots import Roots
from patchbay_filesystem import walking
from patchbay_filesystem.policy import Policy
from patchbay_filesystem.walking import Glob


@pytest.fixture
def roots(allowed: Path) -> Roots:
    return Roots([allowed])


@pytest.fixture
def policy(roots: Roots) -> Policy:
    return Policy(roots.directories)


class TestGlob:
    @pytest.mark.parametrize(
        ("pattern", "rel", "expected"),
        [
            ("*.py", "src/pkg/util.py", True),
            ("*.py", "src/pkg/util.pyc", False),
            ("src/*.py", "src/main.py", True),
            ("src/*.py", "src/pkg/util.py", False),
            ("src/**/*.py", "src/pkg/util.py", True),
            ("src/**/*.py", "src/main.py", True),
            ("**/*.py", "main.py", True),
            ("*.{md,txt}", "docs/guide.md", True),
            ("file?.txt", "file1.txt", True),
            ("[!a]*.txt", "a.txt", False),
            ("[!a]*.txt", "b.txt", True),
            (".env", "deep/.env", True),
            ("node_modules", "a/node_modules", True),
        ],
    )
    def test_matches(self, pattern: str, rel: str, expected: bool) -> None:
        assert Glob.compile(pattern).matches(rel, rel.rsplit("/", 1)[-1]) is expected

    def test_empty_pattern(self) -> None:
        with pytest.raises(UserError, match="empty"):
            Glob.compile("  ")


class TestSearchNames:
    def test_finds_by_name_at_any_depth(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        found = walking.search_names(roots, str(allowed), "*.py", policy=policy)
        assert found.paths == [str(allowed / "src" / "main.py"), str(allowed / "src" / "pkg" / "util.py")]

    def test_exclude_prunes_directories(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        found = walking.search_names(roots, str(allowed), "*.py", exclude=["pkg"], policy=policy)
        assert found.paths == [str(allowed / "src" / "main.py")]

    def test_offset_and_limit_continue(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        for i in range(5):
            (allowed / f"f{i}.log").write_text("")
        first = walking.search_names(roots, str(allowed), "*.log", policy=policy, limit=2)
        assert len(first.paths) == 2 and first.more
        rest = walking.search_names(roots, str(allowed), "*.log", policy=policy, offset=2, limit=10)
        assert len(rest.paths) == 3 and not rest.more
        assert not set(first.paths) & set(rest.paths)

    def test_links_out_are_not_followed(
        self, roots: Roots, base: Path, allowed: Path, policy: Policy
    ) -> None:
        (allowed / "out").symlink_to(base / "outside")
        found = walking.search_names(roots, str(allowed), "secret*", policy=policy)
        assert found.paths == []

    def test_deny_rules_hide_matches(self, roots: Roots, allowed: Path) -> None:
        policy = Policy(roots.directories, deny=["src/pkg/"])
        found = walking.search_names(roots, str(allowed), "*.py", policy=policy)
        assert found.paths == [str(allowed / "src" / "main.py")]


class TestGrep:
    def test_matches_with_line_numbers_and_context(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        regex = walking.compile_regex("todo", literal=False, case_sensitive=None)
        found = walking.grep(roots, str(allowed), regex, policy=policy, context=1)
        text = "\n".join(found.blocks)
        assert f"{allowed}/docs/guide.md\n  2- \n  3: TODO: write it" in text
        assert f"{allowed}/src/pkg/util.py\n  1- def helper():\n  2:     return 'TODO'" in text
        assert found.matches == 2 and not found.more

    def test_smart_case_and_literal(self) -> None:
        assert walking.compile_regex("todo", literal=False, case_sensitive=None).search("TODO")
        assert not walking.compile_regex("Todo", literal=False, case_sensitive=None).search("TODO")
        assert walking.compile_regex("a.b(", literal=True, case_sensitive=None).search("x a.b( y")
        with pytest.raises(UserError, match=r"not valid.*literal=true"):
            walking.compile_regex("a.b(", literal=False, case_sensitive=None)

    def test_gitignore_is_honoured_when_asked(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        (allowed / ".gitignore").write_text("build/\n*.log\n")
        (allowed / "build").mkdir()
        (allowed / "build" / "out.txt").write_text("needle\n")
        (allowed / "debug.log").write_text("needle\n")
        (allowed / "src" / ".gitignore").write_text("generated.py\n")
        (allowed / "src" / "generated.py").write_text("needle = 1\n")
        (allowed / "src" / "kept.py").write_text("needle = 2\n")
        (allowed / ".git").mkdir()
        (allowed / ".git" / "config").write_text("needle\n")
        regex = walking.compile_regex("needle", literal=True, case_sensitive=None)
        found = walking.grep(roots, str(allowed), regex, policy=policy)
        assert [b.splitlines()[0] for b in found.blocks] == [f"{allowed}/src/kept.py"]
        everything = walking.grep(roots, str(allowed), regex, policy=policy, respect_gitignore=False)
        assert len(everything.blocks) == 5

    def test_include_filters_files(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        regex = walking.compile_regex("TODO", literal=True, case_sensitive=None)
        found = walking.grep(roots, str(allowed), regex, policy=policy, include=["*.md"])
        assert len(found.blocks) == 1 and found.blocks[0].startswith(f"{allowed}/docs/guide.md")

    def test_offset_continues_where_the_cut_was(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        (allowed / "many.txt").write_text("".join(f"hit {i}\n" for i in range(10)))
        regex = walking.compile_regex("hit", literal=True, case_sensitive=None)
        first = walking.grep(roots, str(allowed), regex, policy=policy, limit=4)
        assert first.matches == 4 and first.more and first.next_offset == 4
        second = walking.grep(roots, str(allowed), regex, policy=policy, limit=100, offset=4)
        assert second.matches == 6 and not second.more
        assert "  5: hit 4" in second.blocks[0]

    def test_binary_and_large_files_are_skipped(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        (allowed / "blob.bin").write_bytes(b"needle\x00\x01")
        (allowed / "huge.txt").write_text("needle\n" * 400)
        regex = walking.compile_regex("needle", literal=True, case_sensitive=None)
        found = walking.grep(roots, str(allowed), regex, policy=policy, max_file_bytes=1024)
        assert found.blocks == []
        assert (found.skipped_binary, found.skipped_large) == (1, 1)

    @pytest.mark.parametrize("max_file_bytes", [100, 65_535, 65_536, 200_000])
    def test_every_size_around_one_read_and_the_limit(
        self, roots: Roots, allowed: Path, policy: Policy, max_file_bytes: int
    ) -> None:
        """A file is read whole whether it fits one read or not; one over the limit is skipped, never cut."""
        sizes = [6, 99, 100, 101, 65_535, 65_536, 65_537, 131_072, 199_999, 200_000, 200_001]
        for size in sizes:  # the needle is the last line, so a cut read would lose it
            (allowed / f"s{size:07}.txt").write_bytes(b"x" * (size - 6) + b"\nend!\n")
        regex = walking.compile_regex("end!", literal=True, case_sensitive=None)
        found = walking.grep(roots, str(allowed), regex, policy=policy, max_file_bytes=max_file_bytes)
        shown = {Path(block.split("\n")[0]).name for block in found.blocks}
        fits = {f"s{size:07}.txt" for size in sizes if size <= max_file_bytes}
        assert shown == fits
        assert found.skipped_large == len(sizes) - len(fits)

    def test_links_are_not_followed(self, roots: Roots, base: Path, allowed: Path, policy: Policy) -> None:
        (allowed / "leak.txt").symlink_to(base / "outside" / "secret.txt")
        (allowed / "out").symlink_to(base / "outside")
        regex = walking.compile_regex("secret", literal=True, case_sensitive=None)
        assert walking.grep(roots, str(allowed), regex, policy=policy).blocks == []


class TestTree:
    def test_nested_json(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        tree = walking.build_tree(roots, str(allowed / "src"), policy=policy)
        assert tree.nodes == [
            {"name": "main.py", "type": "file"},
            {"name": "pkg", "type": "directory", "children": [{"name": "util.py", "type": "file"}]},
        ]
        assert not tree.truncated

    def test_excludes_and_depth(self, roots: Roots, allowed: Path, policy: Policy) -> None:
        tree = walking.build_tree(roots, str(allowed), policy=policy, exclude=["src"], max_depth=1)
        assert tree.nodes == [
            {"name": "docs", "type": "directory"},
            {"name": "hello.txt", "type": "file"},
        ]

    def test_budget_fills_top_levels_first_and_marks_the_rest(
        self, roots: Roots, allowed: Path, policy: Policy
    ) -> None:
        for i in range(30):
            deep = allowed / f"d{i:02}" / "inner"
            deep.mkdir(parents=True)
            (deep / "file.txt").write_text("")
        tree = walking.build_tree(roots, str(allowed), policy=policy, max_chars=2500)
        assert tree.truncated
        names = [node["name"] for node in tree.nodes]
        assert "d29" in names and "hello.txt" in names  # the whole first level is there
        assert any(node.get("truncated") for node in tree.nodes)
        assert len(tree.to_json()) < 2500

    def test_symlink_is_a_leaf(self, roots: Roots, base: Path, allowed: Path, policy: Policy) -> None:
        (allowed / "docs" / "out").symlink_to(base / "outside")
        tree = walking.build_tree(roots, str(allowed / "docs"), policy=policy)
        assert {"name": "out", "type": "symlink"} in tree.nodes


class TestBatchedGrep:
    """Files are searched a batch at a time with one RE2 call: the answer must be the per-file one."""

    FILES: ClassVar[dict[str, bytes]] = {
        "a.txt": b"alpha\nbeta",  # no final newline
        "b.txt": b"",
        "c.txt": b"\nbeta\n\n",
        "d.txt": b"beta\r\ngamma\r\n",
        "e.bin": b"beta\x00beta",
        "f.txt": b"gamma",
        "g.txt": b"beta",
    }

    @pytest.mark.parametrize(
        ("pattern", "literal"),
        [
            ("beta", True),
            ("BETA", False),
            ("^$", False),
            ("$", False),
            ("^", False),
            (r"\Abeta", False),
            (r"a\z", False),
            (r"(?-m)^gamma$", False),
            (r"\bbeta\b", False),
            ("a\nb", True),
        ],
    )
    @pytest.mark.parametrize("batch_files", [1, 3, 512])
    def test_batches_match_per_file_search(
        self,
        allowed: Path,
        roots: Roots,
        policy: Policy,
        monkeypatch: pytest.MonkeyPatch,
        pattern: str,
        literal: bool,
        batch_files: int,
    ) -> None:
        where = allowed / "batched"
        where.mkdir()
        for name, data in self.FILES.items():
            (where / name).write_bytes(data)
        regex = walking.compile_regex(pattern, literal=literal, case_sensitive=not pattern.isupper())
        expected = []
        for name in sorted(self.FILES):
            data = self.FILES[name].replace(b"\r\n", b"\n")
            if b"\x00" in data:
                continue
            lines = data.split(b"\n")
            expected += [(name, lines[n]) for n, _, _ in regex.matching_lines(data)]
        monkeypatch.setattr(walking, "_BATCH_FILES", batch_files)
        found = walking.grep(roots, str(where), regex, policy=policy, limit=1000)
        got = []
        for block in found.blocks:
            head, *rows = block.split("\n")
            for row in rows:
                if row == "  --":
                    continue
                text = row.lstrip().partition(":")[2][1:]
                got.append((Path(head).name, text.encode()))
        assert got == expected
        assert found.files_searched == len(self.FILES)
        assert found.skipped_binary == 1
