"""Pictures kept by what they show, so that one drawn ahead is not drawn again.

A function decorated with :func:`remembered` draws as usual, except while :func:`remembering`
holds a store: then its picture is kept there under a digest of the function and its arguments
(pickled), and a call with the same arguments returns the kept picture. The pipeline draws the
pictures of a stage's record in a forked process as soon as that record exists
(:mod:`spinefuse.report.ahead`) and hands their store to the report stage; a record that changed
since gives another digest, so its picture is drawn afresh. The pictures are the same bytes
either way.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import numpy as np

P = ParamSpec("P")
R = TypeVar("R")

PictureStore = dict[bytes, Any]
"""Pictures (data URIs, or lists of captioned pictures) by the digest of their call."""

_STORE: ContextVar[PictureStore | None] = ContextVar("spinefuse_pictures", default=None)


def picture_key(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The digest of a call: the function's name and its pickled arguments (a large array,
    such as a CT's voxels, by the digest of its bytes, computed once per array)."""
    what = (fn.__module__, fn.__qualname__, args, sorted(kwargs.items()))
    buffer = io.BytesIO()
    _DigestingPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(what)
    return hashlib.blake2b(buffer.getbuffer()).digest()


_LARGE_BYTES = 1 << 20
_ARRAY_DIGESTS: dict[int, tuple[weakref.ref[np.ndarray], bytes]] = {}


def _array_digest(a: np.ndarray) -> bytes:
    """The digest of a large array's dtype, shape and bytes, kept while the array lives (a
    run's arrays are never changed in place)."""
    kept = _ARRAY_DIGESTS.get(id(a))
    if kept is not None and kept[0]() is a:
        return kept[1]
    h = hashlib.blake2b(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).data)
    digest = h.digest()
    key = id(a)
    _ARRAY_DIGESTS[key] = (weakref.ref(a, lambda _ref: _ARRAY_DIGESTS.pop(key, None)), digest)
    return digest


class _DigestingPickler(pickle.Pickler):
    """A pickler that writes a large array as its digest, not its bytes."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray) and obj.nbytes >= _LARGE_BYTES and obj.dtype != object:
            return bytes, (_array_digest(obj),)
        return NotImplemented


def remembered(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn``, a deterministic picture function, with its pictures kept in the store that
    :func:`remembering` holds (drawn as usual when none is held)."""

    @functools.wraps(fn)
    def kept(*args: P.args, **kwargs: P.kwargs) -> R:
        store = _STORE.get()
        if store is None:
            return fn(*args, **kwargs)
        key = picture_key(fn, args, kwargs)
        if key not in store:
            store[key] = fn(*args, **kwargs)
        return store[key]  # type: ignore[no-any-return]

    return kept


@contextmanager
def remembering(store: PictureStore) -> Iterator[PictureStore]:
    """Keep the pictures of :func:`remembered` functions in ``store`` (and take those already
    there) while the block runs."""
    token = _STORE.set(store)
    try:
        yield store
    finally:
        _STORE.reset(token)
