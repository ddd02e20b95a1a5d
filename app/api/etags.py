"""If-None-Match, as RFC 9110 (13.1.2) defines it: the one matcher of every conditional GET the service answers.

`*` matches any current representation; otherwise the header is a list of entity tags compared weakly, so
`W/"x"` and `"x"` match each other. An entity tag may hold a comma (`"a,b"`), so the list is read tag by tag,
not split on commas. A header that is not such a list matches nothing: the client gets the full answer.
"""

from __future__ import annotations

import re

# One list element: an entity tag (weak or strong) or nothing (RFC 9110 5.6.1 allows empty elements), then a
# comma or the end.
_ELEMENT = re.compile(r'[ \t]*(?:(?:W/)?("[^"]*")[ \t]*)?(?:,|$)')


def _opaque_tags(header: str) -> list[str] | None:
    """The opaque tags (quotes included, `W/` dropped) of a list of entity tags; None if `header` is not one."""
    tags: list[str] = []
    position = 0
    while position < len(header):
        element = _ELEMENT.match(header, position)
        if element is None or element.end() == position:
            return None
        if element.group(1) is not None:
            tags.append(element.group(1))
        position = element.end()
    return tags


def etag_matches(header: str | bytes | None, etag: str | bytes) -> bool:
    """Whether an If-None-Match header matches the current `etag` (weak comparison)."""
    if header is None:
        return False
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    if isinstance(etag, bytes):
        etag = etag.decode("latin-1")
    if header.strip() == "*":
        return True
    tags = _opaque_tags(header)
    return tags is not None and etag.removeprefix("W/") in tags
