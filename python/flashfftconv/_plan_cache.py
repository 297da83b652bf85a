"""A process-wide LRU cache of native plans, keyed by (fft_size, backend, device, num_threads).

Plans are immutable and thread-safe, so one plan serves every caller with the same key. A CUDA plan
owns small device tables (the twiddles of its N); a CPU plan owns a thread pool. The key space is
small in practice (one entry per FFT size and device), so the default capacity (64, or the
environment variable FLASHFFTCONV_PLAN_CACHE_SIZE) is never reached by ordinary use. An evicted
plan is destroyed once the last reference to it goes.

A CUDA graph that captured a call keeps pointers into its plan's device tables and may replay at
any time, for as long as the process lives; so a plan fetched while a stream capture is under way
(`get(..., pin=True)`) is pinned: it stays alive for the life of the process whatever the
capacity (pinned plans do not count against it, and `clear()` keeps them). Pinned plans are few
(one per FFT size and device captured) and small (the twiddle tables of their N).
"""

import collections
import os
import threading

from . import _native

_DEFAULT_CAPACITY = 64


class PlanCache:
    def __init__(self, capacity=None):
        if capacity is None:
            capacity = int(os.environ.get("FLASHFFTCONV_PLAN_CACHE_SIZE", _DEFAULT_CAPACITY))
        if capacity < 1:
            raise ValueError(f"plan cache capacity {capacity} (rule: >= 1)")
        self.capacity = capacity
        self._plans = collections.OrderedDict()
        self._pinned = {}  # key -> plan, never evicted (used by a captured CUDA graph)
        self._lock = threading.Lock()

    def get(self, fft_size, backend, device=-1, num_threads=0, pin=False):
        """The plan for the key, created on first use. pin=True keeps it for the process's life."""
        key = (int(fft_size), int(backend), int(device), int(num_threads))
        with self._lock:
            plan = self._pinned.get(key) or self._plans.get(key)
            if plan is not None:
                if key in self._plans:
                    self._plans.move_to_end(key)
                if pin:
                    self._pinned[key] = plan
                return plan
        # Created outside the lock (a CPU plan starts threads, a CUDA plan uploads tables); when two
        # threads race, the first one stored wins.
        plan = _native.Plan(fft_size, backend=backend, device=device, num_threads=num_threads)
        with self._lock:
            existing = self._pinned.get(key) or self._plans.get(key)
            if existing is not None:
                plan = existing
            self._plans[key] = plan
            self._plans.move_to_end(key)
            if pin:
                self._pinned[key] = plan
            while len(self._plans) > self.capacity:
                self._plans.popitem(last=False)
        return plan

    def clear(self):
        """Drops the unpinned plans (pinned ones may be replayed by a captured CUDA graph)."""
        with self._lock:
            self._plans.clear()

    def pinned_keys(self):
        with self._lock:
            return list(self._pinned)

    def __len__(self):
        with self._lock:
            return len(self._plans)

    def keys(self):
        with self._lock:
            return list(self._plans)


cache = PlanCache()


def get_plan(fft_size, backend, device=-1, num_threads=0, pin=False):
    return cache.get(fft_size, backend, device, num_threads, pin)
