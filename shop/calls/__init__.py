"""The scoping call an order secures: the studio's hours, the free slots, the bookings."""
