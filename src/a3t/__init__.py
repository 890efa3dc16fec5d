"""a3t: A3T (ReAct meets ActRe) self-improvement loop as a Snakemake workflow."""

__version__ = "0.1.0"
