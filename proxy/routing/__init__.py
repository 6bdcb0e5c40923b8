"""Route stage: route config and matching, weighted version splits, destinations."""
