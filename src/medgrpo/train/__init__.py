"""medgrpo.train."""
