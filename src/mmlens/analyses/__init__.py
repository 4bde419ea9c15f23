"""Analyses that combine several evaluations into one finding (e.g. MMStar's multimodal gain)."""
