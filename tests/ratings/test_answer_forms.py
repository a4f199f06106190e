"""The rater's answer forms share their fields per label list (ratings/forms.py, TaskAnswerForm): one
form's data, errors and fields never reach another's, and what an unbound page shows, made once, is
what a form of its own would show."""

from django import forms

from ratings.forms import hidden_inputs
from ratings.kinds.diversity import LABELS, DiversityJudgementForm
from ratings.kinds.quality import QualityRatingForm, _scale_fieldset, scale_fieldset
from ratings.models import Criterion


def test_forms_of_one_label_list_share_fields_but_not_data_errors_or_their_field_dicts():
    good = QualityRatingForm({"score_A_musicality": "4", "plays_A": "2"}, labels=["A", "B"])
    bad = QualityRatingForm({"score_A_musicality": "9", "plays_A": "-1"}, labels=["A", "B"])
    assert good.fields["score_A_musicality"] is bad.fields["score_A_musicality"]  # made once
    assert good.is_valid() and good.cleaned_data["score_A_musicality"] == 4
    assert not bad.is_valid() and set(bad.errors) == {"score_A_musicality", "plays_A"}
    again = QualityRatingForm({"score_A_musicality": "4", "plays_A": "2"}, labels=["A", "B"])
    assert again.is_valid() and not again.errors  # validating the bad one changed no shared field
    field = again.fields["score_A_musicality"]
    before = (dict(field.widget.attrs), field.required, list(field.choices), field.widget.is_required)
    str(again["score_A_musicality"])  # rendering, as Django's own widget template does
    assert (dict(field.widget.attrs), field.required, list(field.choices), field.widget.is_required) == before
    bad.fields["extra"] = forms.CharField()
    assert "extra" not in QualityRatingForm(labels=["A", "B"]).fields
    # another label list has its own fields; a label outside the task is refused
    other = QualityRatingForm({"score_C_musicality": "3"}, labels=["A", "B"])
    assert "score_C_musicality" not in other.fields and not other.is_valid()
    assert set(QualityRatingForm(labels=["A", "B", "C"]).fields) > set(good.fields)


def test_the_diversity_form_keeps_its_declared_choice_beside_the_shared_evidence():
    form = DiversityJudgementForm({"choice": "-2", "ended_A1": "True"}, labels=LABELS)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["choice"] == -2 and form.listening()["A1"].ended
    assert not DiversityJudgementForm({"choice": "7"}, labels=LABELS).is_valid()


def test_an_unbound_pages_scales_and_evidence_inputs_are_what_a_fresh_form_renders():
    for labels in (["A", "B", "C"], ["B"]):
        fresh = QualityRatingForm(labels=labels)
        for label in labels:
            for criterion in Criterion:
                assert scale_fieldset(fresh, label, criterion) == _scale_fieldset(fresh, label, criterion)
            inputs = [fresh[f"{name}_{label}"] for name in ("plays", "seconds", "ended", "events")]
            assert fresh.listening_inputs(label)["listening_inputs"] == hidden_inputs(inputs)
    bound = QualityRatingForm({"score_A_musicality": "4"}, labels=["A"])
    page = scale_fieldset(bound, "A", Criterion.MUSICALITY)
    assert 'value="4" id="id_score_A_musicality_1" checked' in page
    assert "checked" not in scale_fieldset(QualityRatingForm(labels=["A"]), "A", Criterion.MUSICALITY)


def test_validating_without_bound_fields_gives_djangos_cleaned_data_and_errors():
    """TaskAnswerForm._clean_fields leaves out Django's BoundField per field: for answers good, partial,
    out of range, tampered and foreign, the cleaned data and the errors are Django's own."""
    posts = [
        {"score_A_musicality": "4", "plays_A": "2", "seconds_A": "1.5", "ended_A": "True", "events_A": "[]"},
        {"score_A_musicality": "9", "plays_A": "-1", "seconds_A": "nan", "ended_A": "yes"},
        {"score_A_text_adherence": " 3", "plays_B": "2.0", "seconds_B": "1e400", "events_B": "x\x00y"},
        {"score_B_acoustic_quality": "", "plays_A": "99999999", "seconds_A": "-0.1"},
        {"score_C_musicality": "3"},
        {},
    ]
    for data in posts:
        ours = QualityRatingForm(data, labels=["A", "B"])
        django = QualityRatingForm(data, labels=["A", "B"])
        django._clean_fields = lambda form=django: forms.Form._clean_fields(form)
        assert ours.is_valid() == django.is_valid()
        assert ours.cleaned_data == django.cleaned_data
        assert ours.errors.get_json_data() == django.errors.get_json_data()
    choice = [{"choice": "-2"}, {"choice": "7"}, {"choice": ""}, {"choice": "1", "plays_A1": "z"}]
    for data in choice:
        ours, django = (
            DiversityJudgementForm(data, labels=LABELS),
            DiversityJudgementForm(data, labels=LABELS),
        )
        django._clean_fields = lambda form=django: forms.Form._clean_fields(form)
        assert (ours.is_valid(), ours.errors.get_json_data()) == (
            django.is_valid(),
            django.errors.get_json_data(),
        )
        assert ours.cleaned_data == django.cleaned_data

    class Checked(QualityRatingForm):  # a clean_<name> method: Django's own cleaning, which calls it
        def clean_plays_A(self):
            raise forms.ValidationError("checked")

    assert Checked({"plays_A": "1"}, labels=["A"]).errors["plays_A"] == ["checked"]
