"""Talk: one discussion thread per candidate, Markdown-safe comments, #hashtags and links to candidates.

A comment's raw text is kept; its HTML is rendered once, when it is posted, and only that HTML is shown.
Rendering is Markdown with raw HTML switched off (so ``<script>`` shows as text), then nh3 with a strict
allowlist as a second, independent line of defence: a handful of text tags, links only to http(s), mailto and
Blink's own relative paths, no attributes but ``href`` and ``title``. ``#word`` becomes a link to the tag page;
``ZTF18abcdefg`` (an objectId) and ``candid:123`` become links to those candidates' threads.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree

import markdown
import nh3
from django.db import connection, transaction
from django.db.models import Count, Max
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString

from core.errors import ServiceError
from core.urls import talk_object_url, talk_tag_url, talk_thread_url
from labeling.campaigns.permissions import can_view
from labeling.models import Alert, Campaign, Comment, Hashtag

MAX_BODY_CHARS = 5000
MAX_HASHTAGS = 20
HASHTAG_MAX_CHARS = 64

ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer ugc"

# Not after a word character, '&' (entities), '/' or '#' (URL fragments such as example.org/#top).
HASHTAG_RE = rf"(?<![\w&/#])#([A-Za-z][A-Za-z0-9_-]{{0,{HASHTAG_MAX_CHARS - 1}}})"
OBJECT_ID_RE = r"\b(ZTF\d{2}[a-z]{7})\b"
CANDID_RE = r"\bcandid:(\d{1,20})\b"
# Lone UTF-16 surrogates (a JSON "\ud800") have no UTF-8 form: the database cannot store them.
UNSTORABLE = re.compile("[\ud800-\udfff]")
HASHTAG_NAME = re.compile(rf"^[a-z][a-z0-9_-]{{0,{HASHTAG_MAX_CHARS - 1}}}$")


class TalkRefused(ServiceError):
    """A comment that cannot be posted; ``field`` names the input at fault (the body, unless said)."""

    def __init__(self, message: str, *, field: str = "body", status: int | None = None):
        super().__init__(message, field=field, status=status)


class _Link(InlineProcessor):
    def __init__(self, pattern: str, md, *, href, text, found: list | None = None):
        super().__init__(pattern, md)
        self.href, self.text, self.found = href, text, found

    def handleMatch(self, m, data):  # noqa: N802 - python-markdown's name
        value = m.group(1)
        el = etree.Element("a")
        el.set("href", self.href(value))
        # Atomic: the link's own text is not searched again for tags or mentions.
        el.text = AtomicString(self.text(value))
        if self.found is not None:
            self.found.append(value)
        return el, m.start(0), m.end(0)


def _unwrap(parent, child) -> None:
    """Replace ``child`` (a link made of text only) by its text, keeping the text flow."""
    text = "".join(child.itertext()) + (child.tail or "")
    index = list(parent).index(child)
    if index == 0:
        parent.text = (parent.text or "") + text
    else:
        before = parent[index - 1]
        before.tail = (before.tail or "") + text
    parent.remove(child)


class _NoNestedLinks(Treeprocessor):
    """A #tag or candidate mention inside a link's text stays text: a link inside a link is invalid HTML."""

    def run(self, root):
        for outer in list(root.iter("a")):
            for el in list(outer.iter()):
                for child in list(el):
                    if child.tag == "a":
                        _unwrap(el, child)


class _BlinkTalk(Extension):
    def __init__(self, found_tags: list[str]):
        super().__init__()
        self.found_tags = found_tags

    def extendMarkdown(self, md):  # noqa: N802 - python-markdown's name
        # Raw HTML is shown as text; images and headings are not part of a comment's vocabulary ("#tag" at the
        # start of a line is a hashtag, not a heading).
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        for name in ("image_link", "image_reference", "short_image_ref"):
            md.inlinePatterns.deregister(name)
        for name in ("hashheader", "setextheader"):
            md.parser.blockprocessors.deregister(name)
        # After links and entities (which must win), before emphasis (so #dipole_star stays one tag).
        md.inlinePatterns.register(
            _Link(
                HASHTAG_RE, md, href=lambda v: talk_tag_url(v.lower()), text=lambda v: f"#{v}", found=self.found_tags
            ),
            "blink_hashtag",
            75,
        )
        md.inlinePatterns.register(_Link(OBJECT_ID_RE, md, href=talk_object_url, text=lambda v: v), "blink_object", 74)
        md.inlinePatterns.register(
            _Link(CANDID_RE, md, href=talk_thread_url, text=lambda v: f"candid:{v}"), "blink_candid", 73
        )
        # After the inline patterns have built the tree (the "inline" treeprocessor runs at 20).
        md.treeprocessors.register(_NoNestedLinks(md), "blink_no_nested_links", 15)


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_comment(body: str) -> tuple[str, list[str]]:
    """Safe HTML for a comment and the hashtags it uses (lower-case, in order of first use)."""
    found: list[str] = []
    html = markdown.markdown(body, extensions=[_BlinkTalk(found), "sane_lists", "nl2br"], output_format="html")
    tags: list[str] = []
    for tag in (t.lower() for t in found):
        if tag not in tags and HASHTAG_NAME.match(tag):
            tags.append(tag)
    return sanitise(html), tags[:MAX_HASHTAGS]


@transaction.atomic
def comment_post(*, alert: Alert, author, body, campaign: Campaign | None = None) -> Comment:
    """Post a comment on an alert's thread, with its hashtags."""
    if not isinstance(body, str):
        raise TalkRefused("body must be text")
    body = body.replace("\r\n", "\n").replace("\x00", "").strip()
    if UNSTORABLE.search(body):
        raise TalkRefused("the comment holds a lone surrogate (a broken character); remove it and post again")
    if campaign is not None and not can_view(author, campaign):
        # Said as for a campaign that does not exist: a private campaign's name must not leak from here.
        raise TalkRefused("no such campaign", field="campaign")
    if not body:
        raise TalkRefused("write something first: the comment is empty")
    if len(body) > MAX_BODY_CHARS:
        raise TalkRefused(f"a comment is at most {MAX_BODY_CHARS} characters; this one has {len(body)}")
    html, tags = render_comment(body)
    comment = Comment.objects.create(alert=alert, author=author, body=body, body_html=html, campaign=campaign)
    if tags:
        Hashtag.objects.bulk_create([Hashtag(name=t) for t in tags], ignore_conflicts=True)
        comment.hashtags.add(*Hashtag.objects.filter(name__in=tags))
    return comment


# Selectors ------------------------------------------------------------------------------------------------


def thread(*, alert: Alert):
    return Comment.objects.filter(alert=alert).select_related("author").order_by("created_at", "id")


def recent_discussions(*, limit: int = 30) -> list[dict]:
    """The alerts discussed most recently, each with its comment count and latest comment."""
    rows = list(
        Comment.objects.values("alert_id").annotate(last=Max("created_at"), n=Count("id")).order_by("-last")[:limit]
    )
    alerts = Alert.objects.only("id", "candid", "object_id").in_bulk([r["alert_id"] for r in rows])
    comments = Comment.objects.filter(alert_id__in=alerts.keys()).select_related("author")
    if connection.features.can_distinct_on_fields:
        newest_first = comments.order_by("alert_id", "-created_at", "-id").distinct("alert_id")
        latest = {c.alert_id: c for c in newest_first}
    else:
        latest = {c.alert_id: c for c in comments.order_by("created_at", "id")}  # the last one wins
    return [
        {"alert": alerts[r["alert_id"]], "n": r["n"], "last": r["last"], "latest": latest.get(r["alert_id"])}
        for r in rows
        if r["alert_id"] in alerts
    ]


def popular_hashtags(*, limit: int = 20) -> list[Hashtag]:
    return list(Hashtag.objects.annotate(n=Count("comments")).filter(n__gt=0).order_by("-n", "name")[:limit])


def tagged_comments(*, name: str, limit: int = 100):
    return (
        Comment.objects.filter(hashtags__name=name.lower())
        .select_related("author", "alert")
        .defer("alert__candidate")
        .order_by("-created_at", "-id")[:limit]
    )
