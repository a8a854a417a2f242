"""`ica.components.memory`: what a loader checks its arrays against, and how it says sizes."""

from __future__ import annotations

from ica.components.memory import format_bytes, host_available


def test_sizes_are_written_in_powers_of_1000():
    assert format_bytes(12) == "12 bytes" and format_bytes(999) == "999 bytes"
    assert format_bytes(1500) == "1.5 kB" and format_bytes(1.5e9) == "1.5 GB"
    assert format_bytes(2e18) == "2,000.0 PB"


def test_the_memory_there_is_is_a_positive_count_or_unknown():
    free = host_available()
    assert free is None or (isinstance(free, int) and free > 0)
