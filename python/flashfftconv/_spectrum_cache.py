"""Reuse of filter spectra across calls that pass the same, unchanged filter tensor (inference).

``fftconv(u, k, N)`` with a time-domain k transforms k on every call. When no gradient is to flow
to k (grad mode off, or k not requiring grad), the spectrum of k is kept here and the next call
with the same k tensor, unchanged, uses it instead (one launch fewer, and no transform). Unchanged
means: the same Python tensor object (held by a weak reference, so a freed tensor's address cannot
be mistaken for it), the same version counter (every in-place write through k or a view of it
bumps it), data pointer, shape, strides, dtype and device, and the same N.

Not cached: inference tensors (they have no version counter), calls made while a CUDA graph is
being captured or while torch.compile traces, and spectra larger than the byte budget. Writes that
bypass the version counter (through ``k.data``, or from outside torch, e.g. DLPack or a custom
kernel) are not seen: after such a write, call :func:`clear` (or disable the cache).

Bounded: at most ``FLASHFFTCONV_SPECTRUM_CACHE_MB`` MiB of spectra (default 512; 0 disables the
cache), least recently used evicted first; the cache holds device memory up to that bound.
:func:`configure` changes the bound at run time; :func:`clear` drops every entry.
"""

import collections
import os
import threading
import weakref

import torch

_DEFAULT_MB = 512


def _budget_from_env():
    raw = os.environ.get("FLASHFFTCONV_SPECTRUM_CACHE_MB", str(_DEFAULT_MB))
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"FLASHFFTCONV_SPECTRUM_CACHE_MB={raw!r} (rule: a number of MiB >= 0; 0 "
                         "disables the spectrum cache)") from None
    if mb < 0:
        raise ValueError(f"FLASHFFTCONV_SPECTRUM_CACHE_MB={raw!r} (rule: >= 0)")
    return int(mb * (1 << 20))


class SpectrumCache:
    def __init__(self, budget_bytes=None):
        self.budget_bytes = _budget_from_env() if budget_bytes is None else int(budget_bytes)
        self._entries = collections.OrderedDict()  # key -> (weakref to k, version, spectrum)
        self._bytes = 0
        self._lock = threading.Lock()
        self._dead = []  # (key, weak reference) of freed filters, dropped under the lock
        self.hits = 0
        self.misses = 0

    @staticmethod
    def usable(k):
        """Whether a call with filter k may use the cache (no gradient to k, k's writes tracked, no
        graph capture or compile tracing under way)."""
        if k.requires_grad and torch.is_grad_enabled():
            return False
        if k.is_inference():
            return False
        if torch.compiler.is_compiling():
            return False
        if k.is_cuda and torch.cuda.is_current_stream_capturing():
            return False
        return True

    @staticmethod
    def _key(k, fft_size):
        return (id(k), k.data_ptr(), tuple(k.shape), k.stride(), k.dtype, k.device, int(fft_size))

    def get(self, k, fft_size, transform):
        """The spectrum of k for N = fft_size: cached, or made by transform(k, fft_size) and kept."""
        if self.budget_bytes <= 0:
            return transform(k, fft_size)
        key = self._key(k, fft_size)
        version = k._version
        with self._lock:
            self._purge()
            entry = self._entries.get(key)
            if entry is not None:
                ref, cached_version, spectrum = entry
                if ref() is k and cached_version == version:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return spectrum
                self._drop(key)
            self.misses += 1
        spectrum = transform(k, fft_size)
        nbytes = spectrum.numel() * spectrum.element_size()
        if nbytes > self.budget_bytes:
            return spectrum
        with self._lock:
            self._purge()
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (weakref.ref(k, self._forget(key)), version, spectrum)
            self._bytes += nbytes
            while self._bytes > self.budget_bytes:
                self._drop(next(iter(self._entries)))
        return spectrum

    def _forget(self, key):
        # Runs when k is freed (its id and address may then be reused by another tensor). It may run
        # inside any allocation, even one made while the lock is held, so it only records the key;
        # the next operation under the lock drops the entry if it still belongs to this reference.
        dead = self._dead

        def callback(ref):
            dead.append((key, ref))
        return callback

    def _purge(self):
        while self._dead:
            key, ref = self._dead.pop()
            entry = self._entries.get(key)
            if entry is not None and entry[0] is ref:
                self._drop(key)

    def _drop(self, key):
        _, _, spectrum = self._entries.pop(key)
        self._bytes -= spectrum.numel() * spectrum.element_size()

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._dead.clear()
            self._bytes = 0

    def configure(self, budget_mb):
        """Sets the byte budget (MiB; 0 disables the cache and drops every entry)."""
        if budget_mb < 0:
            raise ValueError(f"budget_mb: {budget_mb} (rule: >= 0; 0 disables the spectrum cache)")
        with self._lock:
            self.budget_bytes = int(budget_mb * (1 << 20))
            while self._entries and self._bytes > self.budget_bytes:
                self._drop(next(iter(self._entries)))

    def __len__(self):
        with self._lock:
            self._purge()
            return len(self._entries)

    @property
    def nbytes(self):
        with self._lock:
            self._purge()
            return self._bytes


cache = SpectrumCache()


def clear():
    """Drops every cached spectrum (e.g. after writing a filter through ``k.data``)."""
    cache.clear()


def configure(budget_mb):
    """Sets the cache's byte budget in MiB (0 disables it)."""
    cache.configure(budget_mb)
