"""Learners (the enrollment inline) and extensions: saves go through the services."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from cohorts import services
from cohorts.models import Enrollment, Extension


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    fields = ("email", "user", "timezone", "github_login", "group")
    raw_id_fields = ("user",)
    extra = 0


class ExtensionForm(forms.ModelForm):
    class Meta:
        model = Extension
        fields = services.EXTENSION_FIELDS

    def _post_clean(self) -> None:
        super()._post_clean()
        if not self.errors:
            # The service's rules (at least as lenient as the cohort's effective window) as form errors.
            try:
                services.extension_validate(self.instance)
            except ValidationError as exc:
                self._update_errors(exc)


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    list_display = ("cohort", "project", "enrollment", "group", "due_at", "cutoff_at", "granted_by")
    list_filter = ("cohort",)
    raw_id_fields = ("enrollment",)
    form = ExtensionForm

    def save_model(self, request: HttpRequest, obj: Extension, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in services.EXTENSION_FIELDS}
        if change:
            # Re-syncs the extension's cohort, and its former one when it moved to another cohort.
            services.extension_update(extension=obj, **data)
        else:
            obj.pk = services.extension_grant(**data, granted_by=request.user).pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Extension) -> None:
        services.extension_revoke(extension=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for extension in queryset:
            services.extension_revoke(extension=extension)
