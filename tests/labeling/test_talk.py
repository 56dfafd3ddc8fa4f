"""Talk: comments are rendered safely (no stored XSS), hashtags and candidate mentions become links."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from labeling.models import Comment, Hashtag
from labeling.talk import MAX_BODY_CHARS, TalkRefused, comment_post, render_comment
from tests.labeling.classify_helpers import make_alerts

pytestmark = pytest.mark.django_db

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "![x](https://evil.example/x.png)",
    '<p onmouseover="alert(1)">hover</p>',
    "<<script>script>alert(1)<</script>/script>",
    '"><script>alert(1)</script>',
    "<!-- <script>alert(1)</script> -->",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '[a](https://x.example "title" onmouseover=alert(1))',
    "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>",
    "#tag<script>alert(1)</script>",
    '<form action="https://evil.example"><input name=x></form>',
    "<object data=x></object><embed src=x>",
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
]

ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr"}
ALLOWED_ATTRIBUTES = {"href", "title", "rel"}


class Elements(HTMLParser):
    """The elements a browser would build from the HTML, with their attributes (text stays text)."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


@pytest.fixture
def alert():
    return make_alerts(1, stamps=True)[0]


class TestHostileInput:
    @pytest.mark.parametrize("body", HOSTILE)
    def test_hostile_markup_is_neutralised(self, body):
        html, _ = render_comment(body)
        for tag, attrs in Elements(html).found:
            assert tag in ALLOWED_TAGS, html
            assert set(attrs) <= ALLOWED_ATTRIBUTES, html
            if "href" in attrs:
                assert re.match(r"^(https?:|mailto:|/)", attrs["href"]), html
        assert "<script" not in html.lower()

    def test_raw_html_is_shown_as_text_not_dropped(self):
        html, _ = render_comment("a <b>bold</b> claim <script>x()</script>")
        assert "&lt;b&gt;bold&lt;/b&gt;" in html
        assert "&lt;script&gt;x()&lt;/script&gt;" in html

    def test_stored_comments_render_escaped_on_the_thread_page(self, client_for, volunteer, alert):
        comment_post(alert=alert, author=volunteer, body='<img src=x onerror="alert(1)"> **look** #dipole')
        page = client_for(volunteer).get(f"/talk/alert/{alert.candid}/").content.decode()
        assert "<img src=x onerror" not in page
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page or "&lt;img src=x onerror" in page
        assert "<strong>look</strong>" in page
        assert 'href="/talk/tags/dipole/"' in page

    def test_the_api_returns_the_sanitised_html(self, api_for, volunteer, alert):
        client = api_for(volunteer)
        r = client.post(
            f"/api/talk/alerts/{alert.candid}/comments/",
            data=json.dumps({"body": "[x](javascript:alert(1)) <script>alert(2)</script>"}),
            content_type="application/json",
        )
        assert r.status_code == 201
        assert "javascript" not in r.json()["body_html"]
        assert "<script" not in r.json()["body_html"]
        listed = client.get(f"/api/talk/alerts/{alert.candid}/comments/").json()["comments"]
        assert listed[0]["body_html"] == r.json()["body_html"]


class TestLinks:
    def test_hashtags_become_links_and_are_recorded(self, volunteer, alert):
        comment = comment_post(alert=alert, author=volunteer, body="#Dipole at the edge, maybe #ghost? #dipole again")
        assert sorted(comment.hashtags.values_list("name", flat=True)) == ["dipole", "ghost"]
        assert 'href="/talk/tags/dipole/"' in comment.body_html
        assert ">#Dipole</a>" in comment.body_html

    def test_hashtags_in_code_and_url_fragments_are_not_tags(self):
        html, tags = render_comment("`#notatag` and https://example.org/#frag and a#b")
        assert tags == []
        assert "/talk/tags/" not in html

    def test_candidates_are_linked_to_their_threads(self):
        html, _ = render_comment("Same as ZTF18abcdefg, see candid:1234567890123")
        assert '<a href="/talk/object/ZTF18abcdefg/"' in html
        assert '<a href="/talk/alert/1234567890123/"' in html

    def test_a_hashtag_inside_a_link_does_not_nest_links(self):
        html, _ = render_comment("[#foo ZTF18abcdefg](https://example.org)")
        assert html.count("<a ") == 1

    def test_external_links_get_nofollow(self):
        html, _ = render_comment("[paper](https://arxiv.org/abs/1907.11259)")
        assert 'rel="nofollow noopener noreferrer ugc"' in html


class TestLimits:
    def test_an_empty_comment_is_refused(self, volunteer, alert):
        with pytest.raises(TalkRefused, match="empty"):
            comment_post(alert=alert, author=volunteer, body="   \n ")
        assert Comment.objects.count() == 0

    def test_a_too_long_comment_is_refused(self, volunteer, alert):
        with pytest.raises(TalkRefused, match=str(MAX_BODY_CHARS)):
            comment_post(alert=alert, author=volunteer, body="x" * (MAX_BODY_CHARS + 1))
        assert Comment.objects.count() == 0

    def test_the_api_names_the_field(self, api_for, volunteer, alert):
        url = f"/api/talk/alerts/{alert.candid}/comments/"
        client = api_for(volunteer)
        for payload, field in (
            ({"body": ""}, "body"),
            ({"body": 5}, "body"),
            ({}, "body"),
            ({"body": "x", "y": 1}, "y"),
        ):
            r = client.post(url, data=json.dumps(payload), content_type="application/json")
            assert r.status_code == 400, payload
            assert r.json()["field"] == field
        assert client.post("/api/talk/alerts/1/comments/", data={"body": "x"}, format="json").status_code == 404
        assert Comment.objects.count() == 0

    def test_anonymous_users_cannot_post(self, client, alert):
        r = client.post(
            f"/api/talk/alerts/{alert.candid}/comments/",
            data=json.dumps({"body": "hi"}),
            content_type="application/json",
        )
        assert r.status_code in (401, 403)
        assert client.get("/talk/").status_code == 302


class TestPages:
    def test_posting_through_the_form_shows_the_comment(self, client_for, volunteer, alert):
        c = client_for(volunteer)
        r = c.post(f"/talk/alert/{alert.candid}/", {"body": "Looks like a #cosmic_ray to me"})
        assert r.status_code == 302
        page = c.get(r["Location"]).content.decode()
        assert "Looks like a" in page
        assert Hashtag.objects.get().name == "cosmic_ray"

    def test_an_empty_form_post_says_why(self, client_for, volunteer, alert):
        r = client_for(volunteer).post(f"/talk/alert/{alert.candid}/", {"body": ""})
        assert r.status_code == 400
        assert "the comment is empty" in r.content.decode()

    def test_the_talk_page_lists_recent_discussions_and_popular_tags(self, client_for, volunteer, alert):
        comment_post(alert=alert, author=volunteer, body="#yinyang here")
        page = client_for(volunteer).get("/talk/").content.decode()
        assert alert.object_id in page
        assert "#yinyang" in page
        tag_page = client_for(volunteer).get("/talk/tags/yinyang/").content.decode()
        assert str(alert.candid) in tag_page

    def test_an_object_mention_leads_to_its_latest_alert(self, client_for, volunteer, alert):
        r = client_for(volunteer).get(f"/talk/object/{alert.object_id}/")
        assert r.status_code == 302
        assert r["Location"] == f"/talk/alert/{alert.candid}/"
        assert client_for(volunteer).get("/talk/object/ZTF99zzzzzzz/").status_code == 404
