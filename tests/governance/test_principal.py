"""Principals: membership of domains through teamGroups and readerGroups; catalog discovery."""

from __future__ import annotations

from datamesh.governance import Principal, accessible_domains, domain_principal, member_domains, principal_for
from tests.governance.factories import domain, match, policy, rule

DOMAINS = [
    domain("sales", team=["sales-team"], readers=["analysts"]),
    domain("marketing", team=["marketing-team"], readers=["analysts"]),
    domain("hr", team=["hr-team"]),
]


def test_membership_through_team_and_reader_groups() -> None:
    assert member_domains(["sales-team"], DOMAINS) == {"sales"}
    assert member_domains(["analysts"], DOMAINS) == {"sales", "marketing"}
    assert member_domains(["analysts", "hr-team"], DOMAINS) == {"sales", "marketing", "hr"}
    assert member_domains(["nobody"], DOMAINS) == frozenset()
    assert member_domains([], DOMAINS) == frozenset()


def test_principal_for() -> None:
    assert principal_for("ann", ["sales-team", "x"], DOMAINS) == Principal(
        "ann", frozenset({"sales-team", "x"}), frozenset({"sales"})
    )


def test_domain_principal() -> None:
    assert domain_principal("sales", ["bot"]) == Principal(None, frozenset({"bot"}), frozenset({"sales"}))
    assert domain_principal("sales").attributes()["principal.user"] == frozenset()


def test_members_discover_their_domains_without_any_policy() -> None:
    assert accessible_domains([], principal_for("ann", ["analysts"], DOMAINS), DOMAINS) == {"sales", "marketing"}
    assert accessible_domains([], Principal(user="eve"), DOMAINS) == set()


def test_permit_rules_open_other_domains_and_deny_rules_close_them() -> None:
    open_marketing = rule("Permit", [match("resource.domain", includes="marketing")])
    hide_hr = rule("Deny", [match("resource.domain", includes="hr"), match("principal.group", excludes=["hr-admins"])])
    policies = [policy(access_rules=[open_marketing, hide_hr])]
    sales_person = principal_for("ann", ["sales-team"], DOMAINS)
    assert accessible_domains(policies, sales_person, DOMAINS) == {"sales", "marketing"}
    hr_member = principal_for("bo", ["hr-team"], DOMAINS)
    assert accessible_domains(policies, hr_member, DOMAINS) == {"marketing"}
    hr_admin = principal_for("cy", ["hr-team", "hr-admins"], DOMAINS)
    assert accessible_domains(policies, hr_admin, ["hr", "marketing", "sales"]) == {"hr", "marketing"}
