"""Built-in likelihoods plugins."""
