"""Talk stores hostile comment bodies and shows them inert (no stored XSS), or refuses them."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from labeling.backups import table_fingerprints
from labeling.models import Alert

pytestmark = pytest.mark.django_db


XSS_BODIES = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg/onload=alert(1)>",
    "<iframe src=//evil.example></iframe>",
    "<style>body{display:none}</style>",
    '"><script>alert(1)</script>',
    "#<script>alert(1)</script>",
    "<details open ontoggle=alert(1)>",
    "`<script>alert(1)</script>`",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "[x](vbscript:msgbox(1))",
    "<object data=x.swf></object><embed src=x>",
    "<form action=//evil><input name=password></form>",
    "<meta http-equiv=refresh content='0;url=//evil'>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<a href='//evil.example' onclick='steal()'>bait</a>",
]
_FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "svg",
    "style",
    "object",
    "embed",
    "form",
    "meta",
    "math",
    "input",
    "link",
    "base",
    "frame",
    "frameset",
    "details",
    "textarea",
    "button",
    "select",
}


class _ActiveMarkup(HTMLParser):
    """Collects what a browser would act on: elements, event-handler attributes, script-capable URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= attribute on <{tag}>")
            if name in ("href", "src", "action", "formaction", "xlink:href", "style"):
                text = re.sub(r"[\x00-\x20]", "", (value or "")).lower()
                if name == "style" or text.startswith(("javascript:", "vbscript:", "data:")):
                    self.problems.append(f"{name}={value!r} on <{tag}>")


def _assert_inert(html: str, body: str) -> None:
    parser = _ActiveMarkup()
    parser.feed(html)
    parser.close()
    assert parser.problems == [], f"{body!r} rendered as {html!r}"


def _comment_bodies(page: str) -> list[str]:
    return re.findall(r'<div class="comment-body">(.*?)</div>\s*</article>', page, re.DOTALL)


def test_the_inertness_check_catches_active_markup():
    for html in (
        '<img src=x onerror="a()">',
        '<a href="java\tscript:x">',
        "<script>x</script>",
        '<a href="data:text/html,x">',
        "<svg></svg>",
    ):
        with pytest.raises(AssertionError):
            _assert_inert(html, "probe")
    _assert_inert('<p>&lt;script&gt;alert(1)&lt;/script&gt; onerror=x</p><a href="https://ztf.caltech.edu">z</a>', "ok")


def test_talk_comments_are_stored_and_shown_inert(stored, volunteer, client_for):
    from labeling.talk import comment_post

    alert = Alert.objects.first()
    c = client_for(volunteer)
    n = len(XSS_BODIES)
    for body in XSS_BODIES:
        comment = comment_post(alert=alert, author=volunteer, body=body)
        _assert_inert(comment.body_html, body)
    api = c.get(f"/api/talk/alerts/{alert.candid}/comments/")
    if api.status_code != 404:
        assert api.status_code == 200
        shown = api.json()["comments"]
        assert len(shown) == n
        for item in shown:
            _assert_inert(item["body_html"], item["body"])
    page = c.get(f"/talk/alert/{alert.candid}/")
    if page.status_code != 404:
        assert page.status_code == 200
        bodies = _comment_bodies(page.content.decode())
        assert len(bodies) == n, "the thread page should show every comment"
        for html, body in zip(bodies, XSS_BODIES, strict=True):
            _assert_inert(html, body)


@pytest.mark.parametrize("body", [None, 5, ["x"], {"$where": "1"}, "", "   ", "x" * 200_000])
def test_talk_refuses_hostile_comment_bodies(stored, volunteer, body):
    from labeling.models import Comment
    from labeling.talk import TalkRefused, comment_post

    before = table_fingerprints()
    with pytest.raises(TalkRefused):
        comment_post(alert=Alert.objects.first(), author=volunteer, body=body)
    assert Comment.objects.count() == 0
    assert table_fingerprints() == before
