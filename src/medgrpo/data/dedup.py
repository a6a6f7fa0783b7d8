"""De-duplication in bounded memory: external hash partitioning of two 8-byte keys per item.

Given the staged items in order (position 0, 1, …), each with a content key (``exact``) and an id
key, decide which items are kept, which are exact duplicates of an earlier item, and which reuse
an earlier kept item's id with different content. The earliest occurrence always wins.

Memory does not grow with the dataset: keys go to ``buckets`` files on disk partitioned by key
(duplicates always share a bucket), each bucket is resolved on its own with numpy (about
``24 bytes × n / buckets`` plus sort buffers), and the result is streamed back as a sorted
sequence of ``(position, code)`` for the items *not* kept, merged from per-bucket sorted files
and read in fixed-size chunks. With the default 64 buckets, 10 million items need about 4 MB per
bucket; disk use is about 40 bytes per item, in a temporary folder.
"""

from __future__ import annotations

import heapq
import json
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

KEEP, DUPLICATE, ID_CONFLICT, INVALID = 0, 1, 2, 3
_FLUSH = 3 * 8192  # array items (3 per entry) buffered per bucket before writing
_CHUNK = 65536  # positions read at a time when streaming the plan


class DedupPlan:
    """Collects ``(position, exact, id)`` of valid items and invalid positions; then :meth:`resolve`."""

    def __init__(self, workdir: str | Path, buckets: int = 64) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.buckets = buckets
        self._files: list[IO[bytes]] = [open(self._path("x", b), "wb") for b in range(buckets)]  # noqa: SIM115
        self._buffers = [array("Q") for _ in range(buckets)]
        self._invalid = open(self.dir / "invalid.jsonl", "w", encoding="utf-8")  # noqa: SIM115
        self.count = 0

    def _path(self, kind: str, bucket: int) -> Path:
        return self.dir / f"{kind}-{bucket:03d}.bin"

    def add(self, position: int, exact: int, id_key: int) -> None:
        """A valid item: its content key and id key (unsigned 64-bit)."""
        b = exact % self.buckets
        buf = self._buffers[b]
        buf.extend((exact, id_key, position))
        if len(buf) >= _FLUSH:
            buf.tofile(self._files[b])
            del buf[:]
        self.count += 1

    def add_invalid(self, position: int, reason: str) -> None:
        """An item that failed validation: it takes no part in de-duplication."""
        self._invalid.write(json.dumps([position, reason]) + "\n")
        self.count += 1

    def resolve(self) -> Iterator[tuple[int, int, str | None]]:
        """Sorted ``(position, code, reason)`` for every item not kept (reason only for INVALID)."""
        import numpy as np

        for b in range(self.buckets):
            self._buffers[b].tofile(self._files[b])
            self._files[b].close()
        self._invalid.close()
        entry = np.dtype([("exact", "<u8"), ("id", "<u8"), ("pos", "<u8")])
        pair = np.dtype([("id", "<u8"), ("pos", "<u8")])
        id_files = [open(self._path("i", b), "wb") for b in range(self.buckets)]  # noqa: SIM115
        try:
            for b in range(self.buckets):  # exact duplicates, bucket by bucket
                items = np.fromfile(self._path("x", b), dtype=entry)
                self._path("x", b).unlink()
                items = items[np.lexsort((items["pos"], items["exact"]))]
                first = np.ones(len(items), dtype=bool)
                first[1:] = items["exact"][1:] != items["exact"][:-1]
                np.sort(items["pos"][~first]).tofile(self._path("d", b))
                kept = items[first]
                target = kept["id"] % self.buckets
                for c in np.unique(target):
                    chosen = kept[target == c]
                    out = np.empty(len(chosen), dtype=pair)
                    out["id"], out["pos"] = chosen["id"], chosen["pos"]
                    out.tofile(id_files[int(c)])
        finally:
            for fh in id_files:
                fh.close()
        for b in range(self.buckets):  # id conflicts among kept items, bucket by bucket
            kept = np.fromfile(self._path("i", b), dtype=pair)
            self._path("i", b).unlink()
            kept = kept[np.lexsort((kept["pos"], kept["id"]))]
            first = np.ones(len(kept), dtype=bool)
            first[1:] = kept["id"][1:] != kept["id"][:-1]
            np.sort(kept["pos"][~first]).tofile(self._path("c", b))
        streams: list[Iterator[tuple[int, int, str | None]]] = [
            *(self._stream(self._path("d", b), DUPLICATE) for b in range(self.buckets)),
            *(self._stream(self._path("c", b), ID_CONFLICT) for b in range(self.buckets)),
            self._stream_invalid(),
        ]
        return heapq.merge(*streams)

    @staticmethod
    def _stream(path: Path, code: int) -> Iterator[tuple[int, int, str | None]]:
        import numpy as np

        with open(path, "rb") as fh:
            while True:
                chunk: Any = np.fromfile(fh, dtype="<u8", count=_CHUNK)
                if not len(chunk):
                    return
                for position in chunk.tolist():
                    yield position, code, None

    def _stream_invalid(self) -> Iterator[tuple[int, int, str | None]]:
        with open(self.dir / "invalid.jsonl", encoding="utf-8") as fh:
            for line in fh:
                position, reason = json.loads(line)
                yield int(position), INVALID, str(reason)


def statuses(plan: Iterator[tuple[int, int, str | None]]) -> Iterator[tuple[int, str | None]]:
    """Turn the sparse plan into one ``(code, reason)`` per position 0, 1, 2, … (endless: KEEP after)."""
    upcoming = next(plan, None)
    position = 0
    while True:
        if upcoming is not None and upcoming[0] == position:
            yield upcoming[1], upcoming[2]
            upcoming = next(plan, None)
        else:
            yield KEEP, None
        position += 1
