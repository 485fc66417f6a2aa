"""`deferred_interrupts`: Ctrl-C and SIGTERM wait until the block ends, then interrupt."""

from __future__ import annotations

import os
import signal

import pytest

from vlmcli.interrupts import deferred_interrupts


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_interrupts_after_it(number):
    before = signal.getsignal(number)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), number)
            finished.append(True)  # the block runs to its end
    assert finished == [True] and signal.getsignal(number) == before


def test_no_signal_no_interrupt_and_an_error_is_not_replaced():
    with deferred_interrupts():
        pass
    with pytest.raises(OSError, match="disk full"):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            raise OSError("disk full")
