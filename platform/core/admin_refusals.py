"""Admin pages answer a service's late refusal as a message on the page, never a 500."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect


def refusal_as_message(
    model_admin: ModelAdmin, request: HttpRequest, view: Callable[[], HttpResponse]
) -> HttpResponse:
    """The forms check before saving; should a service still refuse at save time (something changed
    meanwhile: a rehearsal's clock moved on, another staff member's edit), the admin's transaction is
    rolled back whole and the page says why, instead of a 500."""
    try:
        return view()
    except ValidationError as exc:
        model_admin.message_user(request, f"Nothing was saved: {' '.join(exc.messages)}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class RefusalsAsMessages:
    """Mixin for a ModelAdmin whose save_model / save_related / delete call services."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return refusal_as_message(
            self,
            request,
            lambda: super(RefusalsAsMessages, self).changeform_view(
                request, object_id, form_url, extra_context
            ),
        )

    def delete_view(self, request, object_id, extra_context=None):
        return refusal_as_message(
            self,
            request,
            lambda: super(RefusalsAsMessages, self).delete_view(request, object_id, extra_context),
        )
