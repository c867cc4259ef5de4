"""Identity resolution, pure: identities, clues, confidences and decisions."""

from __future__ import annotations

import pytest

from crm_sync import identities, linking
from crm_sync.identities import IdentityError
from crm_sync.linking import Candidate, Clue, Profile


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        ("reddit", "/u/Ada_L", "ada_l"),
        ("mastodon", "@Ada@Mastodon.Social", "ada@mastodon.social"),
        ("bluesky", "@Ada.bsky.social", "ada.bsky.social"),
        ("bluesky", "did:plc:AbC", "did:plc:AbC"),
        ("email", " Ada@Example.ORG ", "ada@example.org"),
        ("email", "mailto:ada@example.org", "ada@example.org"),
        ("website", "https://www.Example.org/shop/?ref=1", "example.org/shop"),
        ("website", "example.org", "example.org"),
        ("crm", "C-001", "C-001"),
        ("hackernews", "PG", "PG"),
    ],
)
def test_identities_are_normalised_so_equal_means_same(kind: str, raw: str, stored: str) -> None:
    assert identities.normalise(kind, raw) == stored


@pytest.mark.parametrize(
    ("kind", "raw", "says"),
    [
        ("email", "ada(at)example.org", "not an email"),
        ("mastodon", "ada", "needs its instance"),
        ("website", "localhost", "not a website"),
        ("Not A Kind", "x", "lower-case name"),
        ("reddit", "  ", "empty"),
    ],
)
def test_malformed_identities_say_what_is_wrong(kind: str, raw: str, says: str) -> None:
    with pytest.raises(IdentityError, match=says):
        identities.normalise(kind, raw)


def test_clues_come_from_the_account_the_profile_and_the_posts() -> None:
    profile = Profile(
        "mastodon",
        "Ada@mastodon.social",
        "https://mastodon.social/users/ada",
        bio="Engineer. Mail ada@example.org, blog https://ada.dev/posts",
        links=[("https://www.ada-shop.com/", True), ("https://example.net", False)],
        texts=["my account email is billing@ada-corp.com, please check"],
    )
    found = {(c.kind, c.identity) for c in linking.clues(profile)}
    assert found == {
        ("exact", ("mastodon", "ada@mastodon.social")),
        ("verified_link", ("website", "ada-shop.com")),
        ("profile_email", ("email", "ada@example.org")),
        ("profile_website", ("website", "example.net")),
        ("profile_website", ("website", "ada.dev/posts")),
        ("self_claim", ("email", "billing@ada-corp.com")),
    }


def test_the_same_identity_seen_twice_counts_once_at_its_strongest() -> None:
    profile = Profile("reddit", "ada", "t2_ada", bio="ada@example.org", texts=["ada@example.org"])
    kinds = [c.kind for c in linking.clues(profile) if c.identity == ("email", "ada@example.org")]
    assert kinds == ["profile_email"]


def _clue(kind: str, value: str) -> Clue:
    return Clue(kind, ("email", value) if "@" in value else ("website", value), "profile")


def test_clues_for_one_customer_add_up_as_independent_evidence() -> None:
    clues = [_clue("profile_email", "a@x.org"), _clue("profile_website", "x.org")]
    [candidate] = linking.candidates(clues, {("email", "a@x.org"): 7, ("website", "x.org"): 7})
    # 1 - (1 - 0.7) * (1 - 0.5)
    assert candidate.confidence == pytest.approx(0.85)
    assert candidate.customer_id == 7
    assert candidate.method == "evidence"
    assert [e["kind"] for e in candidate.evidence()] == ["profile_email", "profile_website"]


def test_clues_nobody_holds_give_no_candidate() -> None:
    assert linking.candidates([_clue("profile_email", "a@x.org")], {}) == []


def _candidate(customer: int, confidence: float, kind: str = "profile_email") -> Candidate:
    return Candidate(customer, confidence, (Clue(kind, ("email", f"{customer}@x.org"), "bio"),))


def test_decisions_link_suggest_or_leave_alone() -> None:
    strong, weak = _candidate(1, 0.9), _candidate(2, 0.5)
    assert linking.decide([strong], 0.85, 0.4).link == strong
    assert linking.decide([weak], 0.85, 0.4) == linking.Decision(None, (weak,))
    assert linking.decide([_candidate(3, 0.3)], 0.85, 0.4) == linking.Decision()
    # two customers in the running: a person decides, even when one clears the threshold
    assert linking.decide([strong, weak], 0.85, 0.4) == linking.Decision(None, (strong, weak))


def test_an_exact_identity_wins_and_the_other_clues_become_suggestions() -> None:
    exact, other = _candidate(1, 1.0, "exact"), _candidate(2, 0.7)
    assert linking.decide([exact, other], 0.85, 0.4) == linking.Decision(exact, (other,))


def test_two_exact_identities_of_different_customers_are_a_conflict() -> None:
    one, two = _candidate(1, 1.0, "exact"), _candidate(2, 1.0, "exact")
    decision = linking.decide([one, two], 0.85, 0.4)
    assert decision.link is None
    assert decision.suggest == (one, two)


def test_a_rejected_customer_is_never_linked_or_suggested_again() -> None:
    assert linking.decide([_candidate(1, 1.0, "exact")], 0.85, 0.4, rejected=[1]) == (
        linking.Decision()
    )
