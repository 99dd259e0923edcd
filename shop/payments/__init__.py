"""Stripe Checkout: create a session, fulfil it, the webhook; invoice mode without Stripe."""
