"""A circuit breaker for the upstream model API.

After ``threshold`` consecutive failures the breaker opens: requests are refused at once
(with how long to wait) instead of each one waiting for retries against a dead service.
After ``cooldown`` seconds one trial request is let through (half-open); its success
closes the breaker, its failure opens it again.

The invariant that keeps the breaker from sticking half-open: every request holds a
:class:`Permit`, and the trial's permit frees the trial slot on *every* outcome (success,
failure, cancellation, a client that left before anything was decided), so the next
request after an undecided trial becomes the new trial.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Permit:
    """One request's leave to go upstream; ``release`` it whatever happens (idempotent)."""

    def __init__(self, breaker: CircuitBreaker, trial: int | None) -> None:
        self._breaker = breaker
        #: The trial's serial number when this is the half-open trial request, else None.
        self.trial = trial

    def release(self) -> None:
        """Free the trial slot if this permit still holds it (no outcome was recorded)."""
        self._breaker._release(self.trial)
        self.trial = None


class CircuitBreaker:
    """Consecutive-failure breaker; not thread-safe (one per event loop)."""

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._trial_serial = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def retry_after(self) -> int:
        """Whole seconds until a trial request will be let through."""
        if self._opened_at is None:
            return 0
        return max(1, int(self.cooldown - (self._clock() - self._opened_at) + 0.999))

    def acquire(self) -> Permit | None:
        """A permit to go upstream now, or None (claims the half-open trial slot)."""
        state = self.state
        if state == "closed":
            return Permit(self, None)
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            self._trial_serial += 1
            return Permit(self, self._trial_serial)
        return None

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self._opened_at is not None or self._failures >= self.threshold:
            self._opened_at = self._clock()

    def _release(self, trial: int | None) -> None:
        if trial is not None and self._trial_running and trial == self._trial_serial:
            self._trial_running = False
