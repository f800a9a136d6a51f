"""Per-person ids that stay the same from frame to frame on the live stream.

The live path estimates one frame at a time (PHALP's tracker works on whole videos), so
people are followed by their boxes: each new box takes the id of the previous box it overlaps
most, else of the nearest one close enough; the rest get new ids. Cheap, and right for the
case the live view is for: people moving less than their own width between two estimates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

Box = Sequence[float]  # x1, y1, x2, y2 in pixels


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def centre_distance(a: Box, b: Box) -> float:
    """Distance of the centres in units of the larger box's diagonal."""
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    diag = max(((a[2] - a[0]) ** 2 + (a[3] - a[1]) ** 2) ** 0.5,
               ((b[2] - b[0]) ** 2 + (b[3] - b[1]) ** 2) ** 0.5, 1e-9)
    return (dx * dx + dy * dy) ** 0.5 / diag


@dataclass
class _Track:
    id: int
    box: Box
    missed: int = 0


class BoxTracker:
    def __init__(self, min_iou: float = 0.2, max_distance: float = 0.5, max_missed: int = 30) -> None:
        self.min_iou, self.max_distance, self.max_missed = min_iou, max_distance, max_missed
        self.tracks: list[_Track] = []
        self.next_id = 1

    def _pairs(self, boxes: Sequence[Box]) -> list[tuple[float, int, int]]:
        """(rank, box index, track index), best first: overlaps before near misses."""
        pairs = []
        for i, box in enumerate(boxes):
            for t, track in enumerate(self.tracks):
                overlap = iou(box, track.box)
                if overlap >= self.min_iou:
                    pairs.append((-overlap, i, t))
                else:
                    d = centre_distance(box, track.box)
                    if d <= self.max_distance:
                        pairs.append((d, i, t))  # always ranks after every overlap (>= 0 > -iou)
        return sorted(pairs)

    def assign(self, boxes: Sequence[Box]) -> list[int]:
        """The id of each box of one frame, in order. Call once per estimated frame, also
        with no boxes (that ages the tracks)."""
        ids: list = [None] * len(boxes)
        taken: set[int] = set()
        for _, i, t in self._pairs(boxes):
            if ids[i] is None and t not in taken:
                ids[i] = self.tracks[t].id
                taken.add(t)
                self.tracks[t].box, self.tracks[t].missed = boxes[i], 0
        for t, track in enumerate(self.tracks):
            if t not in taken:
                track.missed += 1
        self.tracks = [tr for tr in self.tracks if tr.missed <= self.max_missed]
        for i, box in enumerate(boxes):
            if ids[i] is None:
                ids[i] = self.next_id
                self.tracks.append(_Track(self.next_id, box))
                self.next_id += 1
        return ids
