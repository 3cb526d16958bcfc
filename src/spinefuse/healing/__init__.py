"""Healing: fusion-mass tissue evolution, cage subsidence, rod fatigue and non-union over months."""
