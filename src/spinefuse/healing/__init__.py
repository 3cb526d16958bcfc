"""Healing: fusion-mass tissue evolution, cage subsidence, rod fatigue and non-union over months.

``heal(case, geometry, plan, seed=0)`` runs the healing ensemble for one patient and returns a
:class:`HealingCourse`; ``heal_batch(biology, response, seed=0)`` does the same for a cohort
table (rows built with ``biology.biology_row``). Both give a patient its own members from the run
seed and its case id, on the one fusion grid :data:`FUSION_GRID`, so the same patient gets the
same numbers from either.
"""

from spinefuse.healing.batch import RESULT_COLUMNS, heal_batch
from spinefuse.healing.biology import BIOLOGY_COLUMNS, osteogenic_multiplier
from spinefuse.healing.course import HealingCourse, SegmentCourse, TimeToFusion, heal
from spinefuse.healing.parameters import HealingParameters, load_parameters
from spinefuse.healing.response import FUSION_GRID, FusionResponseLike

__all__ = [
    "BIOLOGY_COLUMNS",
    "FUSION_GRID",
    "RESULT_COLUMNS",
    "FusionResponseLike",
    "HealingCourse",
    "HealingParameters",
    "SegmentCourse",
    "TimeToFusion",
    "heal",
    "heal_batch",
    "load_parameters",
    "osteogenic_multiplier",
]
