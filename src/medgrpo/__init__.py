"""medgrpo: GRPO medical reasoning MLOps platform."""

__version__ = "0.1.0"
