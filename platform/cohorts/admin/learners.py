"""Learners (the enrollment inline, the learner list, bulk enrol) and extensions: saves go through the
services, times are typed in the cohort's zone."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from cohorts import services
from cohorts.admin.fields import ZonedDateTimeField
from cohorts.models import Cohort, Enrollment, Extension
from core import clock
from core.admin_refusals import RefusalsAsMessages
from programs.models import Project
from tasks.calendar import reconcile
from tasks.enqueue import enqueue_or_leave_to_sweep

# --- learners -------------------------------------------------------------------------------------

LEARNER_FIELDS = services.ENROLLMENT_FIELDS  # email, zone, GitHub login, group, chat: no account id box
# The cohort page's learner rows leave the chat webhook (rare, long) to the learner's own page.
INLINE_FIELDS = tuple(name for name in LEARNER_FIELDS if name != "chat_webhook_url")


class WebhookURLField(forms.URLField):
    """A URL typed without a scheme is read as https (chat services only offer https webhooks)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("assume_scheme", "https")
        super().__init__(**kwargs)


class ChatWebhookURLCheck:
    """A form's new or changed chat webhook URL is checked as the services will (https in production,
    no private address after DNS resolution), and refused with the reason on the field. An unchanged one
    is not: a DNS lookup must not hold up (or refuse) every unrelated edit; sending checks it again."""

    def clean_chat_webhook_url(self) -> str:
        url = (self.cleaned_data.get("chat_webhook_url") or "").strip()
        if "chat_webhook_url" in self.changed_data:
            services.chat_webhook_url_check(url)
        return url


class EnrollmentForm(ChatWebhookURLCheck, forms.ModelForm):
    """The learner as staff know them: the account is found or created from the email on save."""

    class Meta:
        model = Enrollment
        fields = LEARNER_FIELDS
        field_classes = {"chat_webhook_url": WebhookURLField}

    def clean_email(self) -> str:
        return (self.cleaned_data.get("email") or "").strip().lower()


class EnrollmentFormSet(BaseInlineFormSet):
    """New rows go through enrollment_create (the account from the email), edits through
    enrollment_update; an address twice, or one already enrolled, is an error on its email."""

    def clean(self) -> None:
        super().clean()
        cohort = self.instance
        seen: set[str] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            email = form.cleaned_data.get("email")
            if not email:
                continue
            if email in seen:
                form.add_error("email", f"{email} is in the list twice.")
            seen.add(email)
            fresh = form.instance.pk is None or "email" in form.changed_data
            taken = cohort.pk and cohort.enrollments.filter(email=email).exclude(pk=form.instance.pk)
            if fresh and taken and taken.exists():
                form.add_error("email", f"{email} is already enrolled in {cohort}.")

    def save_new(self, form: EnrollmentForm, commit: bool = True) -> Enrollment:
        # The cohort's calendar is re-synced once by CohortAdmin.save_related.
        return services.enrollment_create(
            cohort=self.instance,
            **{name: form.cleaned_data[name] for name in LEARNER_FIELDS if name in form.cleaned_data},
            resync=False,
        )

    def save_existing(self, form: EnrollmentForm, obj: Enrollment, commit: bool = True) -> Enrollment:
        # form.instance already carries the typed values: the service compares with the stored row.
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in LEARNER_FIELDS}
        return services.enrollment_update(enrollment=obj, **changes)


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    form = EnrollmentForm
    formset = EnrollmentFormSet
    fields = INLINE_FIELDS
    extra = 0
    show_change_link = True


class EnrollmentAdminForm(EnrollmentForm):
    class Meta:
        model = Enrollment
        fields = ("cohort", *LEARNER_FIELDS)
        field_classes = {"chat_webhook_url": WebhookURLField}

    def clean(self) -> dict:
        data = super().clean()
        cohort, email = data.get("cohort") or getattr(self.instance, "cohort", None), data.get("email")
        if cohort and email and cohort.enrollments.filter(email=email).exclude(pk=self.instance.pk).exists():
            self.add_error("email", f"{email} is already enrolled in {cohort}.")
        return data


@admin.register(Enrollment)
class EnrollmentAdmin(RefusalsAsMessages, admin.ModelAdmin):
    """The learner list; also answers the email autocomplete of the extension page."""

    form = EnrollmentAdminForm
    list_display = ("email", "cohort", "group", "timezone", "github_login")
    list_filter = ("cohort", "group")
    search_fields = ("email",)
    ordering = ("cohort", "email")
    change_list_template = "admin/cohorts/enrollment_change_list.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Enrollment | None = None) -> tuple:
        return ("cohort",) if obj else ()

    def save_model(self, request: HttpRequest, obj: Enrollment, form, change: bool) -> None:
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in LEARNER_FIELDS}
            services.enrollment_update(enrollment=obj, **changes)
        else:
            data = {name: form.cleaned_data[name] for name in LEARNER_FIELDS}
            obj.pk = services.enrollment_create(cohort=form.cleaned_data["cohort"], **data).pk
        obj.refresh_from_db()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        cohort_id = request.GET.get("cohort__id__exact", "")
        url = reverse("admin:cohorts_enrollment_enrol")
        extra = {"enrol_url": f"{url}{cohort_id}/" if cohort_id.isdigit() else url}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.enrol_view)
        return [
            path("enrol/", view, name="cohorts_enrollment_enrol"),
            path("enrol/<int:cohort_id>/", view, name="cohorts_enrollment_enrol"),
            *super().get_urls(),
        ]

    def enrol_view(self, request: HttpRequest, cohort_id: int | None = None) -> HttpResponse:
        """Bulk enrol: paste CSV, preview each row with what is wrong with it, confirm the valid ones."""
        if not self.has_add_permission(request):
            return HttpResponse("You may not enrol learners.", status=403)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Enrol learners"}
        if cohort_id is None and request.GET.get("cohort", "").isdigit():
            return HttpResponseRedirect(
                reverse("admin:cohorts_enrollment_enrol", args=[request.GET["cohort"]])
            )
        cohort = Cohort.objects.filter(pk=cohort_id).first() if cohort_id is not None else None
        if cohort is None:
            context.update(cohorts=Cohort.objects.order_by("-start_date", "name"), unknown=cohort_id)
            return render(request, "admin/cohorts/enrollment_enrol_choose.html", context)
        context.update(cohort=cohort, title=f"Enrol learners in {cohort}", columns=services.IMPORT_COLUMNS)
        form = BulkEnrolForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            return render(request, "admin/cohorts/enrollment_enrol.html", {**context, "form": form})
        try:
            rows = services.enrollment_rows_parse(cohort=cohort, text=form.cleaned_data["csv"])
        except ValidationError as exc:
            form.add_error("csv", exc.message_dict.get("csv", exc.messages))
            return render(request, "admin/cohorts/enrollment_enrol.html", {**context, "form": form})
        valid = [row for row in rows if row.ok]
        if "confirm" not in request.POST or not valid:
            return render(
                request,
                "admin/cohorts/enrollment_enrol.html",
                {**context, "form": form, "rows": rows, "valid": len(valid), "preview": True},
            )
        result = services.enrollments_import(cohort=cohort, rows=valid)
        skipped = len(rows) - len(result.enrolled)
        self.message_user(
            request,
            f"Enrolled {len(result.enrolled)} learner(s) in {cohort}"
            + (f"; {skipped} row(s) left out (see the preview's errors)." if skipped else "."),
            messages.SUCCESS if not skipped else messages.WARNING,
        )
        changelist = reverse("admin:cohorts_enrollment_changelist")
        return HttpResponseRedirect(f"{changelist}?cohort__id__exact={cohort.pk}")


class BulkEnrolForm(forms.Form):
    csv = forms.CharField(
        label="Learners (CSV)",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 100, "spellcheck": "false"}),
        help_text="One learner a line: email, name, zone, GitHub login, group (header optional; only the "
        f"email is required). At most {services.IMPORT_MAX_ROWS} rows or "
        f"{services.IMPORT_MAX_BYTES // 1024} KiB at once.",
    )


# --- extensions -----------------------------------------------------------------------------------


def _cohort(value: object) -> Cohort | None:
    text = str(value or "")
    return Cohort.objects.select_related("program").filter(pk=text).first() if text.isdigit() else None


def _both(cohort: Cohort, at: datetime | None) -> str:
    if at is None:
        return "-"
    local = cohort.local(at).strftime("%a %Y-%m-%d %H:%M %Z")
    return f"{local} ({at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


class ExtensionForm(forms.ModelForm):
    """Learner (email autocomplete) or group (the cohort's groups); due and cut-off typed in the
    cohort's zone; a time already past needs "carry it out now"."""

    due_at = ZonedDateTimeField(label="Extended due")
    cutoff_at = ZonedDateTimeField(label="Extended cut-off")
    group = forms.ChoiceField(required=False, help_text="Or a whole group of the cohort.")
    carry_out_now = forms.BooleanField(
        required=False,
        label="Carry it out now",
        help_text="A time already past is refused unless ticked; ticked, what is due is carried out at once.",
    )
    cohort_chosen: Cohort | None = None  # the add page's ?cohort=, set by ExtensionAdmin.get_form

    class Meta:
        model = Extension
        fields = services.EXTENSION_FIELDS

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        editing = self.instance.pk is not None
        target = _cohort(self.data.get("cohort")) if self.is_bound else None
        target = target or (self.instance.cohort if editing else self.cohort_chosen)
        # Times are read in the zone their labels showed: the extension's cohort, or the one chosen.
        self.zone_cohort = self.instance.cohort if editing else (self.cohort_chosen or target)
        if self.cohort_chosen and "cohort" in self.fields:
            self.fields["cohort"].queryset = Cohort.objects.filter(pk=self.cohort_chosen.pk)
            self.fields["cohort"].initial = self.cohort_chosen.pk
        if target is not None and "project" in self.fields:
            self.fields["project"].queryset = Project.objects.filter(program_id=target.program_id)
        groups = (
            sorted(set(target.enrollments.exclude(group="").values_list("group", flat=True)))
            if target
            else []
        )
        if self.instance.group and self.instance.group not in groups:
            groups.append(self.instance.group)
        self.fields["group"].choices = [("", "- one learner, not a group -")] + [(g, g) for g in groups]
        if self.zone_cohort is not None:
            for name in ("due_at", "cutoff_at"):
                field = self.fields[name]
                field.use_zone(self.zone_cohort.zone)
                field.label = f"{field.label} ({self.zone_cohort.timezone})"
                stored = getattr(self.instance, name) if editing else None
                if stored is not None:
                    field.help_text += f" Stored: {stored.astimezone(UTC):%Y-%m-%d %H:%M} UTC."

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        # The service's rules as form errors naming the field, before anything is written.
        carry = self.cleaned_data.get("carry_out_now", False)
        try:
            if self.instance.pk is None:
                self.existing = services.extension_grant_check(self.instance, carry_out_now=carry)
            else:
                services.extension_validate(self.instance)
                if not carry and {"due_at", "cutoff_at"} & set(self.changed_data):
                    services.extension_check_not_past(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(Extension)
class ExtensionAdmin(RefusalsAsMessages, admin.ModelAdmin):
    list_display = ("cohort", "project", "who", "due", "cutoff", "granted_by")
    list_filter = ("cohort",)
    list_select_related = ("cohort", "project", "enrollment", "granted_by")
    search_fields = ("enrollment__email", "group")
    autocomplete_fields = ("enrollment",)
    form = ExtensionForm
    fields = ("cohort", "project", "enrollment", "group", "due_at", "cutoff_at", "carry_out_now", "reason")

    @admin.display(description="learner or group")
    def who(self, obj: Extension) -> str:
        return obj.enrollment.email if obj.enrollment_id else f"group {obj.group}"

    @admin.display(description="due (cohort's zone, UTC)", ordering="due_at")
    def due(self, obj: Extension) -> str:
        return _both(obj.cohort, obj.due_at)

    @admin.display(description="cut-off (cohort's zone, UTC)", ordering="cutoff_at")
    def cutoff(self, obj: Extension) -> str:
        return _both(obj.cohort, obj.cutoff_at)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        # Two steps: the cohort first, so the times are typed (and labelled) in its zone. A POST that
        # names its cohort (a script, an old bookmark) is read in that cohort's zone.
        chosen = request.GET.get("cohort")
        if request.method == "GET" and _cohort(chosen) is None:
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Grant an extension: choose the cohort",
                "cohorts": Cohort.objects.order_by("-start_date", "name"),
                "unknown": chosen,
            }
            return render(request, "admin/cohorts/extension_choose_cohort.html", context)
        return super().add_view(request, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Extension | None = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        chosen = None if obj else _cohort(request.GET.get("cohort"))
        return type(form.__name__, (form,), {"cohort_chosen": chosen})

    def save_model(self, request: HttpRequest, obj: Extension, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in services.EXTENSION_FIELDS}
        carry = form.cleaned_data.get("carry_out_now", False)
        if change:
            # Re-syncs the extension's cohort, and its former one when it moved to another cohort.
            services.extension_update(extension=obj, **data)
        else:
            obj.pk = services.extension_grant(**data, granted_by=request.user, carry_out_now=carry).pk
            request._extension_edited = getattr(form, "existing", None) is not None
        obj.refresh_from_db()
        # What is already due is carried out now, in due order; with the broker down, by the reconciler's
        # next periodic run (NEXUS_RECONCILE_EVERY) once it is back.
        if carry and obj.due_at <= obj.cohort.calendar_now(clock.now()):
            enqueue_or_leave_to_sweep(
                reconcile,
                on_refused=lambda: self.message_user(
                    request,
                    "The broker is unreachable right now: what is already due is carried out by the "
                    f"reconciler's next run (every {settings.NEXUS_RECONCILE_EVERY} s) once it is back.",
                    messages.WARNING,
                ),
            )

    def response_add(self, request: HttpRequest, obj: Extension, post_url_continue: str | None = None):
        if not getattr(request, "_extension_edited", False):
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            format_html(
                "{} already had an extension for {}: it was edited (due {}, cut-off {}) instead of adding a "
                "second one.",
                self.who(obj),
                obj.project.key,
                _both(obj.cohort, obj.due_at),
                _both(obj.cohort, obj.cutoff_at),
            ),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:cohorts_extension_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj: Extension) -> None:
        services.extension_revoke(extension=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for extension in queryset:
            services.extension_revoke(extension=extension)
