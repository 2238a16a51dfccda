"""The admin mixin reads the personal-data map: a health field (as the seating needs of the
subscriptions app will be) is seen by box office and the DPO only."""

import pytest
from django.contrib import admin
from django.db import models
from django.test import RequestFactory
from django.test.utils import isolate_apps

from concerthouse.personal_data_admin import PersonalDataAdminMixin
from concerthouse.privacy import map as personal_data_map
from concerthouse.privacy.map import Category


@pytest.fixture
def seating_admin():
    with isolate_apps("customers"):

        class SeatingNote(models.Model):
            seat = models.CharField(max_length=10)
            wheelchair_place = models.BooleanField(default=False)

            class Meta:
                app_label = "customers"

    personal_data_map.register(
        personal_data_map.Declaration(
            model=SeatingNote,
            fields={"wheelchair_place": Category.HEALTH, "seat": Category.BEHAVIOURAL},
            purpose="seating",
            legal_basis=personal_data_map.LegalBasis.EXPLICIT_CONSENT,
            owned_by=lambda people: models.Q(pk__in=[]),
            erasure=personal_data_map.Erasure.DELETE,
            retention=personal_data_map.Retention("season"),
        )
    )

    class SeatingNoteAdmin(PersonalDataAdminMixin, admin.ModelAdmin):
        fieldsets = [(None, {"fields": ("seat", "wheelchair_place")})]
        list_display = ("seat", "wheelchair_place")
        list_filter = ("wheelchair_place",)
        search_fields = ("seat",)

    yield SeatingNoteAdmin(SeatingNote, admin.AdminSite())
    personal_data_map._declarations.pop("customers.seatingnote")


def request_by(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "sees"),
    [("marketing", False), ("finance", False), ("box_office", True), ("dpo", True)],
)
def test_health_fields_reach_only_box_office_and_the_dpo(seating_admin, request, role, sees):
    req = request_by(request.getfixturevalue(role))
    fields = seating_admin.get_fieldsets(req)[0][1]["fields"]
    assert ("wheelchair_place" in fields) is sees
    assert ("wheelchair_place" in seating_admin.get_list_display(req)) is sees
    assert ("wheelchair_place" in seating_admin.get_list_filter(req)) is sees
    assert "seat" in fields
    form = seating_admin.get_form(req)
    assert ("wheelchair_place" in form.base_fields) is sees
