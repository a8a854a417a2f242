"""Built-in data sets: the TCL generator of the paper (section 4.1) and the user's own .npz arrays."""
