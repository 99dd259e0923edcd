"""Orders and their lines, order status pages, the owner's order views."""
