"""The Jinja2 environment of the rater's pages (ratings/jinja2/), named in settings.TEMPLATES.

The rater's pages are the site's hot path: every item a rater answers costs a task page, and issue 17
asks each rater request to cost at most 5x a trivial Django request. Rendering the quality task page
(ratings/task.html, same context and request, median of 300) took 0.52-0.58 ms in Django's template
language and 0.24-0.33 ms in Jinja2, and the whole GET through the test client 2.4-2.5 ms against
1.7-1.8 ms (the shared 2-core development machine, when the pages moved); so the rater's pages are Jinja2
templates rendered through Django's own backend, its engine first in settings.TEMPLATES. The staff
pages (dashboards, reports, launches, jobs, the admin) are seen by a few people now and then: they keep
Django's template language, its context processors and its admin, under the apps' templates/ folders.

Django's backend puts ``request``, ``csrf_input`` and ``csrf_token`` in every context and turns
autoescaping on; no context processor is configured, so the pages ask for the messages themselves
(``get_messages(request)``). The pages' HTML is the template language's but for whitespace and two
entities: Jinja2 (MarkupSafe) escapes ' and " as &#39; and &#34;, Django as &#x27; and &quot;.
"""

from typing import Any

from django.contrib.messages import get_messages
from django.template.defaultfilters import linebreaksbr, pluralize
from django.templatetags.static import static
from django.urls import reverse
from jinja2 import Environment


def url(viewname: str, *args: Any) -> str:
    """``{% url viewname arg … %}``: the path of a named URL with positional arguments."""
    return reverse(viewname, args=args)


def environment(**options: Any) -> Environment:
    env = Environment(**options)
    env.globals.update({"static": static, "url": url, "get_messages": get_messages})
    # Django's own filters, so the texts come out as the template language wrote them.
    env.filters.update({"linebreaksbr": linebreaksbr, "pluralize": pluralize})
    return env
