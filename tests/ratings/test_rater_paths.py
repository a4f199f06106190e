"""rater_path (ratings/http.py) gives what reverse() gives for the rater's URLs, reversing each URL
name once and filling in the tokens."""

import secrets

import pytest
from django.urls import NoReverseMatch, reverse, set_script_prefix
from django.urls.base import get_script_prefix

from ratings.http import rater_path

NAMES = {  # URL name → its arguments
    "ratings:rater_home": 1,
    "ratings:rater_next": 1,
    "ratings:rater_done": 1,
    "ratings:rater_consent": 1,
    "ratings:rater_headphones": 1,
    "ratings:task": 3,
    "ratings:task_audio": 3,
}


@pytest.fixture
def script_prefix():
    before = get_script_prefix()
    yield set_script_prefix
    set_script_prefix(before)


@pytest.mark.parametrize("prefix", ["/", "/study-site/"])
def test_a_rater_path_is_the_path_reverse_gives(script_prefix, prefix):
    script_prefix(prefix)
    for _ in range(20):
        for name, arity in NAMES.items():
            args = [secrets.token_urlsafe(24) for _ in range(arity)]
            if name == "ratings:task":
                args[1] = secrets.choice(["quality", "diversity"])
            if name == "ratings:task_audio":
                args[2] = secrets.choice(["A", "C", "A1", "B2"])
            assert rater_path(name, *args) == reverse(name, args=args)
            assert rater_path(name, *args).startswith(prefix)


def test_an_argument_that_looks_like_a_stand_in_or_a_url_with_a_number_is_still_what_reverse_gives():
    token = secrets.token_urlsafe(24)
    for args in (("zSLOT1z", "quality", token), (token, "zSLOT2z", "zSLOT0z")):
        assert rater_path("ratings:task", *args) == reverse("ratings:task", args=args)
    assert rater_path("ratings:headphone_audio", token, "3") == reverse(
        "ratings:headphone_audio", args=[token, 3]
    )


def test_an_argument_the_token_converter_refuses_is_refused_as_reverse_refuses_it():
    for bad in ("a b", "é", "x" * 65, "zSLOT0z/.."):
        with pytest.raises(NoReverseMatch):
            rater_path("ratings:rater_next", bad)


def test_another_urlconf_gets_its_own_paths(settings):
    token = secrets.token_urlsafe(24)
    assert rater_path("ratings:rater_next", token) == f"/r/{token}/next/"
    settings.ROOT_URLCONF = "tests.ratings.urls_mounted"
    assert rater_path("ratings:rater_next", token) == f"/mounted/r/{token}/next/"
