"""Who reads a product or a source across domains, and what they see of PII columns."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamesh.governance import (
    Principal,
    decide_input_access,
    decide_product_read,
    decide_source_access,
    domain_principal,
    pii_mode_for,
)
from tests.governance.factories import domain, match, policy, product, rule

SCHEMA = [
    {"name": "customer_id", "type": "string"},
    {"name": "email", "type": "string", "pii": True, "classification": "PERSONAL.EMAIL"},
]


def customers(access_policy: str = "domain-internal", grants: list[dict[str, Any]] | None = None) -> Any:
    governance = {"accessPolicy": access_policy, "grants": grants or []}
    return product("customers", "sales", schema=SCHEMA, governance=governance)


# Products read as inputs


def test_same_domain_reads_in_clear() -> None:
    access = decide_input_access([], customers(), consumer_domain="sales")
    assert (access.allowed, access.pii) == (True, "clear")
    assert "owning domain 'sales'" in access.reason


def test_domain_internal_without_grant_is_denied() -> None:
    access = decide_input_access([], customers(), consumer_domain="marketing")
    assert (access.allowed, access.pii, access.rule) == (False, "exclude", None)
    assert "domain-internal to domain 'sales'" in access.reason
    assert "(marketing)" in access.reason


@pytest.mark.parametrize("mode", ["exclude", "mask", "clear"])
def test_grant_to_the_consumer_domain_sets_the_pii_mode(mode: str) -> None:
    access = decide_input_access(
        [], customers(grants=[{"domains": ["marketing"], "pii": mode}]), consumer_domain="marketing"
    )
    assert (access.allowed, access.pii) == (True, mode)
    assert "granted to marketing" in access.reason


def test_grant_pii_defaults_to_mask() -> None:
    access = decide_input_access([], customers(grants=[{"domains": ["marketing"]}]), consumer_domain="marketing")
    assert access.pii == "mask"


def test_grant_to_a_group() -> None:
    granted = customers(grants=[{"groups": ["campaign-bots"], "pii": "exclude"}])
    assert not decide_input_access([], granted, consumer_domain="marketing").allowed
    access = decide_input_access([], granted, consumer_domain="marketing", consumer_groups=["campaign-bots"])
    assert (access.allowed, access.pii) == (True, "exclude")


def test_several_matching_grants_give_the_most_open_mode() -> None:
    grants = [
        {"domains": ["marketing"], "pii": "exclude"},
        {"groups": ["analysts"], "pii": "clear"},
        {"domains": ["hr"], "pii": "mask"},
    ]
    access = decide_input_access(
        [], customers(grants=grants), consumer_domain="marketing", consumer_groups=["analysts"]
    )
    assert access.pii == "clear"


@pytest.mark.parametrize("access_policy", ["organization", "public"])
def test_open_access_policies_mask_pii_for_other_domains(access_policy: str) -> None:
    access = decide_input_access([], customers(access_policy), consumer_domain="marketing")
    assert (access.allowed, access.pii) == (True, "mask")
    assert access_policy in access.reason


def test_grant_beats_the_default_mode_of_an_open_policy() -> None:
    open_and_granted = customers("organization", grants=[{"domains": ["marketing"], "pii": "clear"}])
    assert decide_input_access([], open_and_granted, consumer_domain="marketing").pii == "clear"


def test_policy_deny_overrides_the_contract() -> None:
    no_personal_outside = policy(
        "privacy",
        access_rules=[
            rule(
                "Deny",
                [
                    match("resource.classification", included_in=["PERSONAL.*"]),
                    match("resource.domain", excludes=["${principal.domain}"]),
                ],
                name="no-personal-outside",
            )
        ],
    )
    granted = customers("public", grants=[{"domains": ["marketing"], "pii": "clear"}])
    access = decide_input_access([no_personal_outside], granted, consumer_domain="marketing")
    assert (access.allowed, access.pii) == (False, "exclude")
    assert str(access.rule) == "privacy/no-personal-outside"
    assert decide_input_access([no_personal_outside], granted, consumer_domain="sales").allowed


def test_policy_permit_does_not_widen_the_contract() -> None:
    permit_all = policy(access_rules=[rule("Permit", [match("resource.domain", includes="*")])])
    assert not decide_input_access([permit_all], customers(), consumer_domain="marketing").allowed


# Products read by people (catalog, REST)


def test_organization_needs_membership_of_some_domain() -> None:
    nobody = Principal(user="eve")
    assert not decide_product_read([], nobody, customers("organization")).allowed
    assert decide_product_read([], nobody, customers("public")).allowed


def test_pii_mode_for_people() -> None:
    granted = customers(grants=[{"groups": ["support"], "pii": "exclude"}])
    assert pii_mode_for(Principal(domains=frozenset({"sales"})), granted) == "clear"
    assert pii_mode_for(Principal(groups=frozenset({"support"})), granted) == "exclude"
    assert pii_mode_for(Principal(user="eve"), granted) == "mask"


def test_members_of_the_owning_domain_see_clear_even_with_a_grant() -> None:
    granted = customers(grants=[{"domains": ["sales"], "pii": "exclude"}])
    assert pii_mode_for(Principal(domains=frozenset({"sales"})), granted) == "clear"


# Source tables


SALES = domain(
    "sales",
    sources=[
        {
            "name": "bronze.crm.customers",
            "location": "/lake/crm",
            "columns": [{"name": "email", "pii": True, "classification": "PERSONAL.EMAIL"}],
        },
        {"name": "bronze.crm.regions", "location": "/lake/regions"},
    ],
)
CRM_CUSTOMERS = SALES.spec.sources[0]
CRM_REGIONS = SALES.spec.sources[1]
NON_PERSONAL = policy(
    "baseline",
    access_rules=[rule("Permit", [match("resource.classification", excludes=["PERSONAL.*"])], name="non-personal")],
)


def test_sources_are_clear_for_their_own_domain() -> None:
    access = decide_source_access([], SALES, CRM_CUSTOMERS, consumer_domain="sales")
    assert (access.allowed, access.pii) == (True, "clear")


def test_sources_are_readable_by_other_domains_with_pii_masked() -> None:
    access = decide_source_access([NON_PERSONAL], SALES, CRM_CUSTOMERS, consumer_domain="marketing")
    assert (access.allowed, access.pii, access.rule) == (True, "mask", None)


def test_a_permit_clears_a_source_for_other_domains() -> None:
    access = decide_source_access([NON_PERSONAL], SALES, CRM_REGIONS, consumer_domain="marketing")
    assert (access.allowed, access.pii) == (True, "clear")
    assert str(access.rule) == "baseline/non-personal"


def test_a_deny_closes_a_source() -> None:
    closed = policy(
        "closed",
        access_rules=[
            rule("Deny", [match("resource.domain", includes="sales"), match("principal.domain", excludes=["sales"])])
        ],
    )
    access = decide_source_access([closed], SALES, CRM_CUSTOMERS, consumer_domain="marketing")
    assert (access.allowed, access.pii) == (False, "exclude")
    assert str(access.rule) == "closed/accessRules[0]"
    assert decide_source_access([closed], SALES, CRM_CUSTOMERS, consumer_domain="sales").allowed


# Properties

GRANTS = st.lists(
    st.fixed_dictionaries(
        {"pii": st.sampled_from(["exclude", "mask", "clear"])},
        optional={
            "domains": st.lists(st.sampled_from(["sales", "marketing", "hr"]), min_size=1, max_size=2),
            "groups": st.lists(st.sampled_from(["analysts", "bots"]), min_size=1, max_size=2),
        },
    ).filter(lambda grant: "domains" in grant or "groups" in grant),
    max_size=3,
)
READERS = st.sampled_from(["sales", "marketing", "hr"])
GROUPS = st.lists(st.sampled_from(["analysts", "bots", "other"]), max_size=2)
ACCESS_POLICIES = st.sampled_from(["domain-internal", "organization", "public"])


@given(ACCESS_POLICIES, GRANTS, READERS, GROUPS, st.sampled_from(["sales", "marketing", "PERSONAL.*", "internal"]))
def test_a_deny_policy_never_allows_a_denied_read(
    access_policy: str, grants: list[dict[str, Any]], reader: str, groups: list[str], value: str
) -> None:
    contract = customers(access_policy, grants)
    deny = policy(access_rules=[rule("Deny", [match("resource.classification", includes=value)])])
    before = decide_input_access([], contract, consumer_domain=reader, consumer_groups=groups)
    after = decide_input_access([deny], contract, consumer_domain=reader, consumer_groups=groups)
    assert after.allowed <= before.allowed
    if after.allowed:
        assert after == before


@given(ACCESS_POLICIES, GRANTS, READERS, GROUPS)
def test_allowed_reads_use_the_contract_pii_mode(
    access_policy: str, grants: list[dict[str, Any]], reader: str, groups: list[str]
) -> None:
    contract = customers(access_policy, grants)
    access = decide_input_access([], contract, consumer_domain=reader, consumer_groups=groups)
    if access.allowed:
        assert access.pii == pii_mode_for(domain_principal(reader, groups), contract)
    else:
        assert access.pii == "exclude"
        assert access_policy == "domain-internal"
        assert reader != "sales"
