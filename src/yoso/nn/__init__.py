"""Neural-network building blocks: the op registry, cells, HyperNet and stand-alone networks."""
