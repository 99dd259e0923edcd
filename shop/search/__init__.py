"""Full-text search of the offers: the search service, its two backends, its pages."""
