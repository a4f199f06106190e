from rest_framework import serializers

from launches.models import LaunchStatus, StepStatus


class LaunchCreateSerializer(serializers.Serializer):
    recipe = serializers.CharField(required=False, max_length=200_000, help_text="The recipe as YAML text.")
    recipe_file = serializers.FileField(required=False, help_text="Or the recipe as an uploaded YAML file.")
    start = serializers.BooleanField(default=False, help_text="Launch at once instead of only planning.")

    def validate(self, data):
        if ("recipe" in data) == ("recipe_file" in data):
            raise serializers.ValidationError("give the recipe as text (recipe) or as a file (recipe_file)")
        if "recipe_file" in data:
            try:
                data["recipe"] = data.pop("recipe_file").read(200_001).decode()
            except UnicodeDecodeError:
                raise serializers.ValidationError({"recipe_file": "must be UTF-8 text"}) from None
        return data


class StepSerializer(serializers.Serializer):
    key = serializers.CharField()
    kind = serializers.CharField()
    name = serializers.CharField()
    queue = serializers.CharField()
    status = serializers.ChoiceField(choices=StepStatus.choices)
    progress = serializers.FloatField()
    note = serializers.CharField()
    error = serializers.CharField(help_text="The first line of the step's error, empty if none.")
    attempts = serializers.IntegerField()


class LaunchSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    study = serializers.CharField()
    status = serializers.ChoiceField(choices=LaunchStatus.choices)
    error = serializers.CharField()
    cost = serializers.DictField(help_text="gpu_minutes, default_minutes (estimates) and clips.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    steps_done = serializers.IntegerField()
    steps_total = serializers.IntegerField()
    steps = StepSerializer(many=True)


class RefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    faults = serializers.ListField(
        child=serializers.CharField(),
        required=False,  # a body that is not JSON at all is refused with the detail alone
        help_text="One line per fault, naming its key.",
    )
