"""What each role sees of a customer in the admin, and what that writes to the audit log."""

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings
from django.urls import reverse

from concerthouse.models import AuditEntry
from customers.models import Customer
from customers.services import customer_restrict, customer_update
from tests.factories import FODSELSNUMMER, KONTONUMMER, CustomerFactory

IDENTIFIER_TRACES = (
    FODSELSNUMMER,
    "240589 36800",
    KONTONUMMER,
    "8601.11.17947",
    "••••••6800",
    "••••••7947",
)


def change_url(customer):
    return reverse("admin:customers_customer_change", args=[customer.pk])


@pytest.mark.django_db
def test_marketing_sees_no_identifier_anywhere(aase, marketing, client_for):
    client = client_for(marketing)
    pages = [
        client.get(change_url(aase)),
        client.get(reverse("admin:customers_customer_changelist")),
        client.get(reverse("admin:customers_customer_changelist"), {"q": "Ødegård"}),
        client.get(reverse("admin:customers_customer_history", args=[aase.pk])),
    ]
    for response in pages:
        assert response.status_code == 200
        html = response.content.decode()
        for trace in (*IDENTIFIER_TRACES, "National identity number", "Bank account"):
            assert trace not in html
    assert "ase.odegard@example.no" in pages[2].content.decode()  # the search found her


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["national_id", "bank_account"])
def test_marketing_cannot_reach_the_reveal_page(aase, marketing, client_for, field):
    client = client_for(marketing)
    url = reverse("admin:customers_customer_reveal", args=[aase.pk, field])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert not AuditEntry.objects.filter(action="customer.identifier_revealed").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["finance", "dpo"])
def test_finance_and_dpo_see_identifiers_masked_and_reveal_them_audited(
    aase, client_for, role, request
):
    user = request.getfixturevalue(role)
    client = client_for(user)
    html = client.get(change_url(aase)).content.decode()
    assert "••••••6800" in html and "••••••7947" in html
    assert FODSELSNUMMER not in html and KONTONUMMER not in html

    url = reverse("admin:customers_customer_reveal", args=[aase.pk, "national_id"])
    confirm = client.get(url)
    assert FODSELSNUMMER not in confirm.content.decode()
    assert not AuditEntry.objects.filter(action="customer.identifier_revealed").exists()

    revealed = client.post(url)
    assert "240589 36800" in revealed.content.decode()
    assert "no-store" in revealed["Cache-Control"]
    entry = AuditEntry.objects.get(action="customer.identifier_revealed")
    assert (entry.actor, entry.target_id, entry.detail) == (
        user,
        aase.public_id,
        {"field": "national_id"},
    )


@pytest.mark.django_db
def test_opening_a_customer_is_audited_with_the_roles_purpose(aase, marketing, client_for):
    client_for(marketing).get(change_url(aase))
    entry = AuditEntry.objects.get(action="customer.viewed")
    assert (entry.actor, entry.target_id) == (marketing, aase.public_id)
    assert entry.purpose == "Newsletters and marketing"


@pytest.mark.django_db
def test_a_change_in_the_admin_is_audited_with_field_names_only(aase, box_office, client_for):
    client = client_for(box_office)
    response = client.post(
        change_url(aase),
        {
            "email": "ASE.Odegard@example.no",
            "first_name": "Åse",
            "last_name": "Ødegård",
            "phone": "912 34 567",
            "preferred_language": "nb",
            "street_address": "Fjellveien 1",
            "postal_code": "5019",
            "city": "Bergen",
            "country": "NO",
            "kind": "customer",
            "source": "box_office",
            "source_detail": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    aase.refresh_from_db()
    assert (aase.email, aase.phone, aase.city) == (
        "ase.odegard@example.no",
        "+4791234567",
        "Bergen",
    )
    entry = AuditEntry.objects.get(action="customer.changed")
    assert entry.detail["fields"] == [
        "city",
        "kind",
        "phone",
        "postal_code",
        "preferred_language",
        "source",
        "street_address",
    ]
    assert "Bergen" not in str(entry.detail) and "+47" not in str(entry.detail)
    # The admin's own LogEntry (which keeps the person's name) is not written.
    from django.contrib.admin.models import LogEntry

    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_email_in_the_admin_is_a_form_error_and_changes_nothing(box_office, client_for):
    CustomerFactory(email="marta@example.se")
    response = client_for(box_office).post(
        reverse("admin:customers_customer_add"),
        {
            "email": "Marta@Example.SE",
            "first_name": "Märta",
            "last_name": "Ångström",
            "phone": "",
            "preferred_language": "sv",
            "country": "SE",
            "kind": "lead",
            "source": "box_office",
        },
    )
    assert response.status_code == 200
    assert "A person with this email address is already registered." in response.content.decode()
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_nobody_can_delete_a_customer_in_the_admin(aase, dpo, client_for):
    response = client_for(dpo).post(
        reverse("admin:customers_customer_delete", args=[aase.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Customer.objects.filter(pk=aase.pk).exists()


@pytest.mark.django_db
def test_a_restricted_person_is_read_only_for_everyone_but_the_dpo(
    aase, dpo, box_office, client_for
):
    customer_restrict(customer=aase, actor=dpo, ground=Customer.RestrictionGround.LEGAL_CLAIMS)
    client = client_for(box_office)
    html = client.get(change_url(aase)).content.decode()
    assert "restricted" in html and 'name="email"' not in html
    response = client.post(change_url(aase), {"email": "new@example.no", "country": "NO"})
    assert response.status_code == 403
    aase.refresh_from_db()
    assert aase.email == "ase.odegard@example.no"


@pytest.mark.django_db
def test_the_history_page_comes_from_the_audit_log(aase, finance, client_for):
    client = client_for(finance)
    client.post(reverse("admin:customers_customer_reveal", args=[aase.pk, "bank_account"]))
    html = client.get(reverse("admin:customers_customer_history", args=[aase.pk])).content.decode()
    assert "customer.identifier_revealed" in html and "customer.identifiers_changed" in html
    assert KONTONUMMER not in html


@pytest.mark.django_db
def test_the_audit_log_is_read_only_even_for_the_dpo(aase, dpo, client_for):
    client = client_for(dpo)
    entry = AuditEntry.objects.first()
    assert client.get(reverse("admin:concerthouse_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:concerthouse_auditentry_add")).status_code == 403
    delete = reverse("admin:concerthouse_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    change = client.post(
        reverse("admin:concerthouse_auditentry_change", args=[entry.pk]), {"action": "x"}
    )
    assert change.status_code == 403
    entry.refresh_from_db()
    assert entry.action != "x"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["marketing", "box_office", "finance"])
def test_only_the_dpo_sees_the_audit_log(role, request, client_for):
    client = client_for(request.getfixturevalue(role))
    assert client.get(reverse("admin:concerthouse_auditentry_changelist")).status_code == 403


@pytest.mark.django_db
def test_marketing_history_leaves_out_what_was_done_to_hidden_fields(
    aase, finance, dpo, marketing, client_for
):
    client_for(finance).post(
        reverse("admin:customers_customer_reveal", args=[aase.pk, "national_id"])
    )
    customer_update(customer=aase, actor=dpo, city="Bergen")
    response = client_for(marketing).get(
        reverse("admin:customers_customer_history", args=[aase.pk])
    )
    html = response.content.decode()
    assert "customer.created" in html and "customer.changed" in html
    assert "<td>city</td>" in html  # field names are shown where the role may see the field
    for trace in ("identifier_revealed", "identifiers_changed", "national_id", "bank_account"):
        assert trace not in html
    # The DPO, who may see identifiers, sees the whole history.
    html = client_for(dpo).get(reverse("admin:customers_customer_history", args=[aase.pk]))
    assert "customer.identifier_revealed" in html.content.decode()


@pytest.mark.django_db
def test_finance_sets_a_bank_account_through_the_audited_form(finance, client_for):
    customer = CustomerFactory(country="NO")
    url = reverse("admin:customers_customer_identifiers", args=[customer.pk])
    client = client_for(finance)
    refused = client.post(url, {"bank_account": "8601 11 17948", "purpose": "refunds"})
    assert (
        "Enter a valid Norwegian account number (11 digits) or an IBAN." in refused.content.decode()
    )
    customer.refresh_from_db()
    assert customer.bank_account == ""
    response = client.post(url, {"bank_account": "8601 11 17947", "purpose": "refunds"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.bank_account, customer.identifiers_purpose) == ("86011117947", "refunds")
    assert AuditEntry.objects.filter(action="customer.identifiers_changed").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["marketing", "box_office"])
def test_only_finance_and_dpo_reach_the_identifiers_form(role, request, client_for):
    customer = CustomerFactory(country="NO")
    client = client_for(request.getfixturevalue(role))
    url = reverse("admin:customers_customer_identifiers", args=[customer.pk])
    assert (
        client.post(url, {"bank_account": "86011117947", "purpose": "refunds"}).status_code == 403
    )
    customer.refresh_from_db()
    assert customer.bank_account == ""


@pytest.mark.django_db
def test_the_dpo_restricts_and_records_an_objection_in_the_admin(dpo, box_office, client_for):
    customer = CustomerFactory()
    url = reverse("admin:customers_customer_rights", args=[customer.pk])
    assert (
        client_for(box_office).post(url, {"restrict": "1", "ground": "legal_claims"}).status_code
        == 403
    )
    client = client_for(dpo)
    assert client.post(url, {"restrict": "1", "ground": "legal_claims"}).status_code == 302
    assert client.post(url, {"object": "1", "channel": "counter_or_phone"}).status_code == 302
    customer.refresh_from_db()
    assert customer.restriction_ground == "legal_claims" and customer.restricted_by == dpo
    assert customer.marketing_objection_channel == "counter_or_phone"
    assert customer.marketing_objection_recorded_by == dpo
    assert customer not in Customer.objects.processable()


@pytest.mark.django_db
def test_the_changelist_and_history_do_not_grow_queries_with_rows(
    dpo, client_for, django_assert_max_num_queries
):
    people = [CustomerFactory() for _ in range(60)]
    client = client_for(dpo)
    for person in people[:30]:
        customer_update(customer=people[0], actor=dpo, city=f"Stad {person.pk}")
    # Of these, every staff request makes three whatever the page: the session, its renewal (idle
    # timeout) and the second factor's device.
    with django_assert_max_num_queries(10):
        assert client.get(reverse("admin:customers_customer_changelist")).status_code == 200
    with django_assert_max_num_queries(10):
        history = client.get(reverse("admin:customers_customer_history", args=[people[0].pk]))
    assert history.content.decode().count("customer.changed") == 30


@pytest.mark.django_db
def test_pages_that_do_not_show_identifiers_do_not_decrypt_them(aase, marketing, client_for):
    client = client_for(marketing)
    # Under a key that cannot decrypt them, any decryption would raise.
    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        assert client.get(reverse("admin:customers_customer_changelist")).status_code == 200
        assert client.get(change_url(aase)).status_code == 200
