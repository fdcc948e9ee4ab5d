"""Deterministic, stateless randomness: every number the sandbox serves is a pure function of its inputs.

Python's ``hash()`` is salted per process, so nothing here uses it: values come from a SplitMix64-style
mixer over integers (strings are first folded with CRC32), which gives the same bytes across restarts,
machines and request orders.
"""

from __future__ import annotations

import math
import zlib

MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_TWO_PI = 2.0 * math.pi
_INV_2_53 = 1.0 / (1 << 53)


def h64(*parts: int) -> int:
    """A 64-bit hash of integers (order matters): a multiply-add chain, then two SplitMix64 finalisers."""
    z = 0x243F6A8885A308D3
    for p in parts:
        z = ((z ^ (p & MASK)) * _GOLDEN + 0x632BE59BD9B4E019) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def text_id(text: str) -> int:
    """A stable integer for a string (CRC32 of its UTF-8 bytes)."""
    return zlib.crc32(text.encode())


def uniform(*parts: int) -> float:
    """A uniform number in [0, 1) from integers."""
    return (h64(*parts) >> 11) * _INV_2_53


def gauss(*parts: int) -> float:
    """A standard normal number from integers (Box-Muller on the two halves of one hash)."""
    z = h64(*parts)
    u1 = ((z >> 32) + 1) / 4294967297.0
    u2 = (z & 0xFFFFFFFF) / 4294967296.0
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


def pick(seq: list | tuple, *parts: int):
    """One element of ``seq`` chosen by the hash of ``parts``."""
    return seq[h64(*parts) % len(seq)]


def hex_string(n: int, *parts: int) -> str:
    """``n`` lowercase hex digits from the hash of ``parts`` (addresses, hashes)."""
    out = []
    i = 0
    while len(out) * 16 < n:
        out.append(f"{h64(*parts, i):016x}")
        i += 1
    return "".join(out)[:n]


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58_string(n: int, *parts: int) -> str:
    """``n`` base58 characters (Solana-style addresses)."""
    return "".join(_B58[h64(*parts, i) % 58] for i in range(n))
