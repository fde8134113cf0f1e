"""VRR uptake pipeline: the Dagster code location."""

__version__ = "0.1.0"
