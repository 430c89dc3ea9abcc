"""Selection strategies: which pairs to compare, and how results become a ranking."""
