"""The owner's dashboard: what sells, where buyers drop out, what waits (shop/dashboard/)."""
