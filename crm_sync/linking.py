"""Identity resolution, pure: from what an author shows to a customer, with confidence and why.

An exact platform identity (the customer record names this Reddit user) is certain. Otherwise
each clue in the profile or the posts points at the customer whose identity it matches, with the
confidence its kind deserves; clues for the same customer add up as independent evidence
(noisy-OR), and clues pointing at different customers are a conflict a person must settle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from crm_sync import identities
from crm_sync.identities import Identity

EXACT: Final = "exact"  # the author's platform identity is the customer's
VERIFIED_LINK: Final = "verified_link"  # a profile link the platform verified (rel=me)
PROFILE_EMAIL: Final = "profile_email"  # an email address in the profile text
PROFILE_WEBSITE: Final = "profile_website"  # a website in the profile, unverified
SELF_CLAIM: Final = "self_claim"  # the author wrote the email address in a post

# How far each kind of clue alone is trusted: anyone can write any address in a bio or a post.
CONFIDENCE: Final[Mapping[str, float]] = {
    EXACT: 1.0,
    VERIFIED_LINK: 0.9,
    PROFILE_EMAIL: 0.7,
    PROFILE_WEBSITE: 0.5,
    SELF_CLAIM: 0.5,
}


@dataclass(frozen=True, slots=True)
class Clue:
    """Something an author shows that names an identity, and where it was seen."""

    kind: str
    identity: Identity
    seen_in: str

    def as_evidence(self) -> dict[str, object]:
        """The JSON kept with a link or suggestion, to explain it."""
        return {
            "kind": self.kind,
            "identity": f"{self.identity[0]}:{self.identity[1]}",
            "seen_in": self.seen_in,
            "confidence": CONFIDENCE[self.kind],
        }


@dataclass(frozen=True, slots=True)
class Profile:
    """What linking reads about an author."""

    source: str
    handle: str
    key: str
    bio: str | None = None
    links: Sequence[tuple[str, bool]] = ()  # (url, verified)
    texts: Sequence[str] = ()  # the author's posts in this batch


@dataclass(frozen=True, slots=True)
class Candidate:
    """A customer the clues point at, how sure that is, and why."""

    customer_id: int
    confidence: float
    clues: tuple[Clue, ...]

    @property
    def method(self) -> str:
        """`exact` when a platform identity matched, else `evidence`."""
        return EXACT if any(c.kind == EXACT for c in self.clues) else "evidence"

    def evidence(self) -> list[dict[str, object]]:
        """Every clue as JSON."""
        return [clue.as_evidence() for clue in self.clues]


@dataclass(frozen=True, slots=True)
class Decision:
    """Link to `link` (if any); offer `suggest` to staff."""

    link: Candidate | None = None
    suggest: tuple[Candidate, ...] = field(default=())


def clues(profile: Profile) -> list[Clue]:
    """Every identity the author's profile and posts point at, strongest kind first."""
    found = [
        Clue(EXACT, i, "platform account")
        for i in identities.of_author(profile.source, profile.handle, profile.key)
    ]
    verified = [url for url, ok in profile.links if ok]
    unverified = [url for url, ok in profile.links if not ok]
    bio = profile.bio or ""
    found += [
        Clue(VERIFIED_LINK, (identities.WEBSITE, s), "verified profile link")
        for s in identities.sites_in(verified)
    ]
    found += [
        Clue(PROFILE_EMAIL, (identities.EMAIL, e), "profile")
        for e in identities.emails_in(" ".join([bio, *unverified]))
    ]
    found += [
        Clue(PROFILE_WEBSITE, (identities.WEBSITE, s), "profile")
        for s in identities.sites_in([*unverified, *identities.urls_in(bio)])
    ]
    found += [
        Clue(SELF_CLAIM, (identities.EMAIL, e), "a post by the author")
        for e in identities.emails_in(" ".join(profile.texts))
    ]
    return _strongest_per_identity(found)


def _strongest_per_identity(found: Iterable[Clue]) -> list[Clue]:
    best: dict[Identity, Clue] = {}
    for clue in found:
        if (
            clue.identity not in best
            or CONFIDENCE[clue.kind] > CONFIDENCE[best[clue.identity].kind]
        ):
            best[clue.identity] = clue
    return list(best.values())


def candidates(found: Sequence[Clue], owners: Mapping[Identity, int]) -> list[Candidate]:
    """Customers the clues point at (`owners`: identity -> customer id), most certain first."""
    by_customer: dict[int, list[Clue]] = {}
    for clue in found:
        owner = owners.get(clue.identity)
        if owner is not None:
            by_customer.setdefault(owner, []).append(clue)
    out = [
        Candidate(cid, combine(CONFIDENCE[c.kind] for c in cs), tuple(cs))
        for cid, cs in by_customer.items()
    ]
    return sorted(out, key=lambda c: (-c.confidence, c.customer_id))


def combine(confidences: Iterable[float]) -> float:
    """Independent clues together (noisy-OR): 1 - prod(1 - c)."""
    doubt = 1.0
    for confidence in confidences:
        doubt *= 1.0 - confidence
    return round(1.0 - doubt, 6)


def decide(
    found: Sequence[Candidate],
    link_threshold: float,
    suggest_threshold: float,
    rejected: Iterable[int] = (),
) -> Decision:
    """Link when one customer clears `link_threshold` and no other is in the running.

    Customers a person rejected for this author are never linked or suggested again.
    """
    refused = set(rejected)
    running = [
        c for c in found if c.customer_id not in refused and c.confidence >= suggest_threshold
    ]
    if not running:
        return Decision()
    best, rest = running[0], running[1:]
    exact = [c for c in running if c.method == EXACT]
    if len(exact) == 1:
        # a platform identity outranks any clue; clues for others are worth a look
        return Decision(exact[0], tuple(c for c in running if c is not exact[0]))
    if best.confidence >= link_threshold and not rest:
        return Decision(best)
    return Decision(None, tuple(running))
