"""The migration that gave the processor register its choices: what the old free text said is
carried over as the country's code and the transfer basis's choice, and an unknown basis is left
for the DPO to choose rather than guessed."""

import importlib

import pytest

migration = importlib.import_module(
    "privacy_requests.migrations.0004_processor_register_in_every_language"
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Norway", "NO"),
        ("Sweden", "SE"),
        ("Ireland (data may go to the USA)", "IE"),
        ("se", "SE"),
        ("Somewhere", ""),
    ],
)
def test_a_country_written_as_a_name_becomes_its_code(text, code):
    assert migration._country_code(text) == code


@pytest.mark.parametrize(
    ("text", "basis"),
    [
        ("Within the EU/EEA", "eea"),
        ("EU/EEA", "eea"),
        ("EU-U.S. Data Privacy Framework (Art. 45)", "dpf"),
        ("Adequacy decision (Art. 45)", "adequacy"),
        ("Standard contractual clauses", "scc"),
        ("Binding corporate rules", "bcr"),
        ("We asked them", ""),
    ],
)
def test_a_known_transfer_basis_becomes_its_choice_and_an_unknown_one_is_left_open(text, basis):
    assert migration._transfer_basis(text) == basis
