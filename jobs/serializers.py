from rest_framework import serializers

from ratings.models import Study

from .models import GenerationJob


class JobSerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "kind",
            "study",
            "variant_name",
            "parameters",
            "status",
            "progress",
            "progress_note",
            "result",
            "error",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=GenerationJob.Kind.choices)
    study = serializers.SlugRelatedField(slug_field="slug", queryset=Study.objects.all(), required=False)
    variant_name = serializers.CharField(max_length=100, required=False, default="")
    parameters = serializers.DictField(required=False, default=dict)
