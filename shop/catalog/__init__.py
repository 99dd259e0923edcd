"""The catalogue: offers, the catalogue file and its loader, the home and offer pages."""
