"""A process-wide LRU cache of native plans, keyed by (fft_size, backend, device, num_threads).

Plans are immutable and thread-safe, so one plan serves every caller with the same key. A CUDA plan
owns small device tables (the twiddles of its N); a CPU plan owns a thread pool. The key space is
small in practice (one entry per FFT size and device), so the default capacity (64, or the
environment variable FLASHFFTCONV_PLAN_CACHE_SIZE) is never reached by ordinary use. An evicted
plan is destroyed once the last reference to it goes: a CUDA graph that captured a call keeps
pointers into its plan's tables, so keep the capacity above the number of (N, device) pairs in use
when replaying graphs.
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
        self._lock = threading.Lock()

    def get(self, fft_size, backend, device=-1, num_threads=0):
        key = (int(fft_size), int(backend), int(device), int(num_threads))
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        # Created outside the lock (a CPU plan starts threads, a CUDA plan uploads tables); when two
        # threads race, the first one stored wins.
        plan = _native.Plan(fft_size, backend=backend, device=device, num_threads=num_threads)
        with self._lock:
            existing = self._plans.get(key)
            if existing is not None:
                self._plans.move_to_end(key)
                return existing
            self._plans[key] = plan
            while len(self._plans) > self.capacity:
                self._plans.popitem(last=False)
        return plan

    def clear(self):
        with self._lock:
            self._plans.clear()

    def __len__(self):
        with self._lock:
            return len(self._plans)

    def keys(self):
        with self._lock:
            return list(self._plans)


cache = PlanCache()


def get_plan(fft_size, backend, device=-1, num_threads=0):
    return cache.get(fft_size, backend, device, num_threads)
