"""A call made in a forked child process while this one goes on with other work.

The child is a fork of this process, so it shares the arrays it reads (a CT volume is not
copied or pickled); only its result comes back, pickled through a pipe. Where the platform does
not fork (Windows, macOS' default) or this process may not have children (a daemonic worker),
the call is made here when its result is asked for, so the answer never depends on where it ran.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def can_fork() -> bool:
    """Whether a call can be made in a forked child here."""
    return "fork" in mp.get_all_start_methods() and not mp.current_process().daemon


def _child(send: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        outcome: tuple[bool, Any] = (True, fn(*args))
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent
        outcome = (False, err)
    try:
        send.send(outcome)
    except Exception:  # noqa: BLE001 - an unpicklable result or error: the parent reruns it
        send.send((None, None))
    finally:
        send.close()


class Forked(Generic[T]):
    """``fn(*args)`` started in a forked child; :meth:`result` waits for it and returns it (or
    raises what it raised). Should the child die or its answer not come back, :meth:`result`
    makes the call here instead: ``fn`` must be deterministic and write nothing."""

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._fn, self._args = fn, args
        self._proc: Any = None
        self._recv: Connection | None = None
        self._done: tuple[bool, Any] | None = None
        if not can_fork():
            return
        ctx = mp.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(send, fn, args), daemon=True)
        self._proc.start()
        send.close()

    def result(self) -> T:
        """The call's result (waiting for the child), or the exception it raised."""
        if self._done is None:
            self._done = self._collect()
        ok, value = self._done
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def _collect(self) -> tuple[bool, Any]:
        outcome: tuple[bool | None, Any] = (None, None)
        if self._recv is not None:
            try:
                outcome = self._recv.recv()
            except (EOFError, OSError):  # the child died (killed, out of memory)
                pass
            finally:
                self._recv.close()
                self._proc.join()
        if outcome[0] is None:
            try:
                return True, self._fn(*self._args)
            except Exception as err:  # noqa: BLE001 - raised again by result()
                return False, err
        return outcome[0], outcome[1]

    def cancel(self) -> None:
        """Stop the child if it still runs (its result is no longer wanted)."""
        if self._proc is not None and self._done is None:
            self._proc.kill()
            self._proc.join()
            assert self._recv is not None
            self._recv.close()
            self._done = (False, RuntimeError("cancelled"))
