"""The pipeline's stages in data-flow order. Each stage adapts one sub-package to the pipeline."""

from __future__ import annotations

from spinefuse.pipeline import Stage

STAGES: list[Stage] = []
