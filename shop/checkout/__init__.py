"""The checkout: the buyer's context form, its saved draft, order placement."""
