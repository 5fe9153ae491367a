"""Finished experiments, kept runnable for their reports (docs/search.md says
what each found). Nothing in the product imports them."""
