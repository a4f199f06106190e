from django import forms


class RecipeForm(forms.Form):
    recipe = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
        required=False,
        max_length=200_000,
        help_text="Paste a recipe (recipes/demo.yaml shows every key), or upload a file below.",
    )
    recipe_file = forms.FileField(required=False, help_text="A recipe file (YAML).")

    def clean(self):
        data = super().clean()
        upload = data.get("recipe_file")
        if upload is not None:
            try:
                data["recipe"] = upload.read(200_001).decode()
            except UnicodeDecodeError:
                raise forms.ValidationError("the recipe file must be UTF-8 text") from None
        if not data.get("recipe", "").strip():
            raise forms.ValidationError("paste a recipe or upload a recipe file")
        return data
