"""The privacy notice, terms of sale, refunds and cancellation, and contact pages."""
