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
        ' h1 "Harbour \\"mill\\" vote"',
        " By",
        ' link "Maria" [e39] -> /authors/maria',
        " , correspondent 14 March",
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
        *("e2", "e4", "e6", "e7", "e11", "e14", "e34", "e39", "e50", "e51", "e61", "e70", "e80", "f2e3")
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
