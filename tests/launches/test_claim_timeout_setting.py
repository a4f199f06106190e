"""A recipe's settings.claim_timeout_minutes: checked, then given to the study its launch creates."""

import pytest

from launches.recipe import recipe_parse
from launches.services import study_apply_settings
from ratings.models import Study

from .test_recipe import RECIPES, faults_of, identity, recipe

pytestmark = pytest.mark.django_db


def test_the_recipe_sets_the_claim_timeout_of_its_study():
    parsed = recipe_parse(
        recipe(settings={"claim_timeout_minutes": 45}), base_dir=RECIPES, model_identity=identity
    )
    study = Study.objects.create(slug=parsed.study)
    assert study.claim_timeout_minutes == 30  # the default
    study_apply_settings(study=study, recipe=parsed)
    study.refresh_from_db()
    assert study.claim_timeout_minutes == 45


@pytest.mark.parametrize("value", [0, -5, "soon", 24 * 60 + 1])
def test_a_bad_claim_timeout_is_refused_naming_the_key(value):
    faults = faults_of(recipe(settings={"claim_timeout_minutes": value}))
    assert any(fault.startswith("settings.claim_timeout_minutes:") for fault in faults), faults
