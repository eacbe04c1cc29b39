"""The snapshot parser and compact renderer on their own, on text shaped like Playwright's ai snapshots."""

from __future__ import annotations

from patchbay_browser import snapshot as snap

SAMPLE = """- generic [active] [ref=e1]:
  - dialog [ref=e2]:
    - paragraph [ref=e3]: We use cookies.
    - button "Accept all" [ref=e4]
  - link "Skip to main content" [ref=e6] [cursor=pointer]:
    - /url: "#main"
  - banner [ref=e7]:
    - navigation "Sections" [ref=e11]:
      - list [ref=e12]:
        - listitem [ref=e13]:
          - link "News: today" [ref=e14] [cursor=pointer]:
            - /url: /news
  - main [ref=e34]:
    - heading "Harbour \\"mill\\" vote" [level=1] [ref=e37]
    - paragraph [ref=e38]:
      - text: By
      - link "Maria" [ref=e39] [cursor=pointer]:
        - /url: /authors/maria
      - text: ", correspondent"
      - time [ref=e40]: 14 March
    - paragraph [ref=e41]:
      - text: The
      - emphasis [ref=e42]: zlib
      - text: format is small.
    - 'figure "Photo: the mill" [ref=e45]':
      - img "The mill" [ref=e46]
    - img [ref=e47]
    - checkbox "I agree" [checked] [ref=e50]
    - textbox "Name" [ref=e51]:
      - /placeholder: Your name
    - table [ref=e61]:
      - rowgroup [ref=e62]:
        - row "Option Votes" [ref=e63]:
          - columnheader "Option" [ref=e64]
          - columnheader "Votes" [ref=e65]
        - row "Restore 3,412" [ref=e66]:
          - cell "Restore" [ref=e67]
          - cell "3,412" [ref=e68]
    - generic [ref=e70] [cursor=pointer]: Clickable div
    - iframe [ref=e80]:
      - button "Inside" [ref=f2e3]
"""


def test_render_is_compact_and_keeps_every_actionable_ref() -> None:
    tree = snap.parse(SAMPLE)
    text = snap.render(tree)
    assert text.splitlines() == [
        "dialog [e2]",
        " We use cookies.",
        ' button "Accept all" [e4]',
        'link "Skip to main content" [e6] -> #main',
        "banner [e7]",
        ' navigation "Sections" [e11]',
        '  link "News: today" [e14] -> /news',
        "main [e34]",
        ' h1 "Harbour \\"mill\\" vote" [e37]',
        " By Maria[e39 -> /authors/maria], correspondent 14 March",
        " The zlib format is small.",
        ' figure "Photo: the mill"',
        '  img "The mill"',
        ' checkbox "I agree" [checked] [e50]',
        ' textbox "Name" [e51] (placeholder: Your name)',
        " table [e61]",
        "  row: Option | Votes",
        "  row: Restore | 3,412",
        " generic [e70]: Clickable div",
        " iframe [e80]",
        '  button "Inside" [f2e3]',
    ]
    assert snap.refs_in(tree) == [
        *("e2", "e4", "e6", "e7", "e11", "e14", "e34", "e37", "e39", "e50", "e51", "e61", "e70", "e80"),
        "f2e3",
    ]
    assert len(text) < len(SAMPLE) / 2


def test_find_ref_gives_a_subtree() -> None:
    tree = snap.parse(SAMPLE)
    node = snap.find_ref(tree, "e11")
    assert node is not None
    assert snap.render(node) == 'navigation "Sections" [e11]\n link "News: today" [e14] -> /news'
    assert snap.find_ref(tree, "e999") is None
    hidden = snap.find_ref(tree, "e38")  # a paragraph: not shown with a ref, still a subtree
    assert hidden is not None and "Maria" in snap.render(hidden)


def test_long_text_is_shortened_but_lines_with_refs_are_not() -> None:
    words = " ".join(["word"] * 100)
    text = f'- paragraph [ref=e1]: {words}\n- link "{words}" [ref=e2] [cursor=pointer]:\n  - /url: /x\n'
    rendered = snap.render(snap.parse(text), text_limit=60)
    first, second = rendered.splitlines()
    assert first.startswith("word word") and first.endswith("chars)") and len(first) < 80
    assert "...(+" in first
    assert second.startswith('link "word') and second.endswith("[e2] -> /x")
    assert snap.render(snap.parse(text)).splitlines()[0] == words


def test_diff_lines_shows_only_what_changed() -> None:
    before = "a\nb\nc"
    after = "a\nB\nc\nd"
    assert snap.diff_lines(before, after) == "- b\n+ B\n+ d"
    assert snap.diff_lines(before, before) == ""


def test_the_page_frame_prefix_is_dropped_from_refs_and_put_back() -> None:
    text = (
        '- generic [ref=f3e1]:\n  - button "Go" [ref=f3e2]\n'
        '  - iframe [ref=f3e3]:\n    - link "In" [ref=f4e1]\n'
    )
    tree = snap.parse(text)
    prefix = snap.frame_prefix(tree)
    assert prefix == "f3"
    assert snap.render(tree, prefix=prefix).splitlines() == [
        'button "Go" [e2]',
        "iframe [e3]",
        ' link "In" [f4e1]',
    ]
    assert snap.full_ref("e2", prefix) == "f3e2" and snap.full_ref("f4e1", prefix) == "f4e1"
    assert snap.frame_prefix(snap.parse('- button "Go" [ref=e7]')) == ""


def test_yaml_quoting_forms_are_read() -> None:
    text = '- \'button "It\'\'s here" [ref=e1]\'\n- text: "quoted: text"\n- "plain scalar"\n'
    tree = snap.parse(text)
    assert snap.render(tree).splitlines() == ['button "It\'s here" [e1]', "quoted: text plain scalar"]


# Chromium's ai snapshot and innerText of a Sphinx signature (`<dt class="sig">` of spans, `em.sig-param`).
SIGNATURE = """- main [ref=e2]:
  - generic [ref=e3]:
    - term [ref=e4]:
      - generic [ref=e5]: sorted
      - text: (
      - emphasis [ref=e6]:
        - generic [ref=e7]: iterable
      - text: ","
      - emphasis [ref=e8]:
        - generic [ref=e9]: /
      - text: ","
      - emphasis [ref=e10]:
        - generic [ref=e11]: "*"
      - text: ","
      - emphasis [ref=e12]:
        - generic [ref=e13]: key
        - generic [ref=e14]: =
        - generic [ref=e15]: None
      - text: ","
      - emphasis [ref=e16]:
        - generic [ref=e17]: reverse
        - generic [ref=e18]: =
        - generic [ref=e19]: "False"
      - text: )
      - link "¶" [ref=e20] [cursor=pointer]:
        - /url: "#sorted"
    - definition [ref=e21]:
      - paragraph [ref=e22]:
        - text: Return a new sorted list from the items in
        - emphasis [ref=e23]: iterable
        - text: .
      - emphasis [ref=e25]
      - generic [ref=e26]
"""
SIGNATURE_TEXT = (
    "sorted(iterable, /, *, key=None, reverse=False)\u00b6\n\n"
    "Return a new sorted list from the items in iterable."
)


def test_a_signature_reads_as_the_page_shows_it() -> None:
    rendered = snap.render(snap.parse(SIGNATURE), page_text=SIGNATURE_TEXT)
    assert rendered.splitlines() == [
        "main [e2]",
        " term: sorted(iterable, /, *, key=None, reverse=False)¶[e20 -> #sorted]",
        " definition",
        "  Return a new sorted list from the items in iterable.",
    ]
    signature = snap.strip_annotations(rendered.splitlines()[1])
    assert signature.endswith("sorted(iterable, /, *, key=None, reverse=False)¶")


def test_without_the_page_text_no_punctuation_is_lost_and_no_empty_markup_is_printed() -> None:
    lines = snap.render(snap.parse(SIGNATURE)).splitlines()
    assert not any(line.strip() in ("emphasis", "generic") for line in lines)
    signature = " ".join(line.strip() for line in lines[1:3])
    for mark in ("(", "/", "*", "=", "None", "False", ")", ","):
        assert mark in signature, signature
    assert signature.replace(" ", "") == "term:sorted(iterable,/,*,key=None,reverse=False)¶[e20->#sorted]"


def test_empty_link_targets_render_as_plain_text() -> None:
    text = (
        '- link "os — Miscellaneous" [ref=e18] [cursor=pointer]:\n    - /url: ""\n'
        "- paragraph [ref=e2]:\n  - text: See\n  - link [ref=e3] [cursor=pointer]:\n"
        '    - /url: ""\n    - text: here\n  - text: .\n'
    )
    rendered = snap.render(snap.parse(text))
    assert rendered.splitlines() == ['link "os — Miscellaneous" [e18]', "See here[e3]."]
    assert "->" not in rendered


LONG = "\n".join(
    [f'link "Item {i}" [e{i}] -> /items/{i}?q=' + "x" * (i % 40) for i in range(300)]
    + ["Running text with links " + " ".join(f"word{i}[e{1000 + i} -> /w/{i}]" for i in range(400))]
    + [f' h2 "Part {i}" [e{2000 + i}]' for i in range(50)]
    + ["x" * 3000 + " [e9999 -> /" + "y" * (snap.URL_CHARS - 1) + "]"]
)


def test_windows_end_at_line_ends_and_keep_every_ref_whole_in_one_window() -> None:
    every = snap.refs_in(LONG)
    assert len(every) == len(set(every)) == 300 + 400 + 50 + 1
    for budget in (1000, 1997, 4500, 9000):  # a window holds at least 1000 characters
        windows, start = [], 0
        while start < len(LONG):
            end = snap.cut_window(LONG, start, budget)
            assert start < end <= start + budget
            windows.append(LONG[start:end])
            start = end
        assert "".join(windows) == LONG
        seen = [ref for window in windows for ref in snap.refs_in(window)]
        assert sorted(seen) == sorted(every)  # each ref whole, in exactly one window
        for window in windows[:-1]:
            ends_line = window.endswith("\n")
            # a window ends mid-line only inside a line longer than the budget, and then after a space
            assert ends_line or window.endswith(" ") or len(window) == budget, repr(window[-80:])
        assert all(w.endswith("\n") for w in windows[:-1] if "Item" in w and "Running" not in w)


SECTIONS_SAMPLE = """- navigation [ref=e1]:
  - link "Home" [ref=e2] [cursor=pointer]:
    - /url: /
- main [ref=e3]:
  - heading "Guide" [level=1] [ref=e4]
  - paragraph [ref=e5]: Intro text.
  - generic [ref=e6]:
    - heading "Install" [level=2] [ref=e7]
    - paragraph [ref=e8]: Run the installer.
    - heading "From source" [level=3] [ref=e9]
    - paragraph [ref=e10]: Build it.
  - generic [ref=e11]:
    - heading "Use" [level=2] [ref=e12]
    - paragraph [ref=e13]: Call it.
  - heading "Flat" [level=2] [ref=e14]
  - paragraph [ref=e15]: After a flat heading.
"""


def test_an_outline_lists_headings_and_landmarks_with_the_size_of_each_section() -> None:
    found = snap.rendering(snap.parse(SECTIONS_SAMPLE))
    assert snap.outline(found).splitlines() == [
        f"navigation [e1] {len(found.section(found.entries[0]))} chars",
        f"main [e3] {len(found.section(found.entries[1]))} chars",
        f' h1 "Guide" [e4] {len(found.section(found.entries[2]))} chars',
        f'  h2 "Install" [e7] {len(found.section(found.entries[3]))} chars',
        f'   h3 "From source" [e9] {len(found.section(found.entries[4]))} chars',
        f'  h2 "Use" [e12] {len(found.section(found.entries[5]))} chars',
        f'  h2 "Flat" [e14] {len(found.section(found.entries[6]))} chars',
    ]
    install = next(e for e in found.entries if e.ref == "e7")
    assert found.section(install).splitlines() == [
        'h2 "Install" [e7]',
        "Run the installer.",
        'h3 "From source" [e9]',
        "Build it.",
    ]
    flat = next(e for e in found.entries if e.ref == "e14")
    assert found.section(flat).splitlines() == ['h2 "Flat" [e14]', "After a flat heading."]
