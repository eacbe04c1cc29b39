"""The GraphQL stand-in runs GitHub's published schema: real queries page, wrong ones fail as on GitHub."""

from __future__ import annotations

from graphql_standin import Discussions, execute

DATA = Discussions(
    discussions={
        "o/r": [
            {
                "number": n,
                "title": f"Discussion {n}",
                "body": "hello\u200b",
                "category": {"id": "DIC_1", "name": "Q&A"},
                "_comments": [{"body": f"c{n}.{i}", "isAnswer": i == 0} for i in range(3)],
            }
            for n in range(1, 6)
        ]
    },
    categories={"o/r": [{"id": "DIC_1", "name": "Q&A", "slug": "q-a", "emoji": ":pray:"}]},
)

LIST = """
query($owner: String!, $repo: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $repo) {
    discussions(first: $first, after: $after) {
      nodes { number title category { name } }
      pageInfo { hasNextPage endCursor }
      totalCount
    }
  }
  rateLimit { cost remaining resetAt }
}
"""


def test_discussions_page_with_end_cursors_and_rate_limit() -> None:
    first = execute(LIST, {"owner": "o", "repo": "r", "first": 2}, DATA)
    page = first["data"]["repository"]["discussions"]
    assert [d["number"] for d in page["nodes"]] == [1, 2] and page["totalCount"] == 5
    assert page["pageInfo"]["hasNextPage"] and first["data"]["rateLimit"]["cost"] == 1
    second = execute(
        LIST, {"owner": "o", "repo": "r", "first": 2, "after": page["pageInfo"]["endCursor"]}, DATA
    )
    assert [d["number"] for d in second["data"]["repository"]["discussions"]["nodes"]] == [3, 4]


def test_a_discussion_with_comments_and_categories() -> None:
    query = """query { repository(owner: "o", name: "r") {
      discussion(number: 3) { title body comments(first: 2) { nodes { body isAnswer } totalCount } }
      discussionCategories(first: 10) { nodes { id name slug emoji } }
    } }"""
    data = execute(query, None, DATA)["data"]["repository"]
    assert data["discussion"]["comments"]["nodes"][0] == {"body": "c3.0", "isAnswer": True}
    assert data["discussionCategories"]["nodes"][0]["slug"] == "q-a"


def test_malformed_queries_fail_as_github_answers_them() -> None:
    unknown_field = execute(
        'query { repository(owner: "o", name: "r") { discusions(first: 1) { totalCount } } }', None, DATA
    )
    assert (
        "data" not in unknown_field
        and "Cannot query field 'discusions'" in unknown_field["errors"][0]["message"]
    )
    unknown_arg = execute('query { repository(owner: "o", name: "r", private: true) { id } }', None, DATA)
    assert "Unknown argument 'private'" in unknown_arg["errors"][0]["message"]
    no_first = execute(
        'query { repository(owner: "o", name: "r") { discussions { totalCount } } }', None, DATA
    )
    assert "provide a `first` or `last`" in no_first["errors"][0]["message"]
    too_many = execute(LIST, {"owner": "o", "repo": "r", "first": 101}, DATA)
    assert "exceeds the `first` limit of 100" in too_many["errors"][0]["message"]
    missing = execute(LIST, {"owner": "o", "repo": "nope", "first": 1}, DATA)
    assert "Could not resolve to a Repository" in missing["errors"][0]["message"]
    bad_cursor = execute(LIST, {"owner": "o", "repo": "r", "first": 1, "after": "bm90IGEgY3Vyc29y"}, DATA)
    assert "valid cursor" in bad_cursor["errors"][0]["message"]
