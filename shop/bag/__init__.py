"""Bag and wishlist: tables of their own per owner, atomic updates, header counters."""
