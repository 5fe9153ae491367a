"""Text pipeline, embedders and search indexes. Knows nothing of HTTP or training."""
